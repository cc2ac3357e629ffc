/* The join state machine (joins.c). */
#ifndef MJ_JOINS_H
#define MJ_JOINS_H

#include "store.h"

int mj_joins_outgoing(mj_session *s, const mj_stanza *st, mj_outcome *out);
/* 1 if st, sent by a session with no state at all, could start tracking a
 * room (a join); 0 if it cannot change anything for such a session. */
int mj_joins_may_start(const mj_tracker *tr, const mj_stanza *st);
int mj_joins_incoming(mj_session *s, const mj_stanza *st, mj_outcome *out);
/* What a session the tracker does not hold (its prepared JID pjid)
 * receives (mj_tracker_incoming): changes nothing; a self-presence is
 * counted as forged, but for an unavailable one owed to a session closed
 * under that JID (a settled record is then answered). */
int mj_joins_incoming_unknown(mj_tracker *tr, const char *pjid, size_t pjlen,
                              const mj_stanza *st, mj_outcome *out);
void mj_joins_timeout(mj_entry *e);

#endif

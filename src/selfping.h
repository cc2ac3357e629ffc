/* Self-ping (selfping.c): when to ping, what the answer means. */
#ifndef MJ_SELFPING_H
#define MJ_SELFPING_H

#include "store.h"

/* Membership of e is unclear: schedule a ping and send it if allowed. */
void mj_ping_request(mj_entry *e);
/* Forget e's ping work (rejoin, entry freed). */
void mj_ping_drop(mj_entry *e);
/* mj_ping_drop() but the entry's mj_aux record stays, even when nothing
 * else uses it (the caller trims it: mj_session_restore(), which
 * allocated it before and must not allocate it again). */
void mj_ping_forget(mj_entry *e);
/* A join that changes no state for good (JOINED to another nick, CHANGING,
 * EXPECTING): the answer to the ping out, if any, is stale; the check goes
 * on with a new ping (the join may never be answered). */
void mj_ping_restale(mj_entry *e);
/* Due link checks, ping timeouts and scheduled pings: the work is what
 * is due (a heap and per-domain queues), not what is tracked. */
void mj_pings_tick(struct mj_tracker *tr, double now);
void mj_pings_send_ready(struct mj_tracker *tr, double now);
void mj_pings_free(struct mj_tracker *tr);
/* The entry's state changed: a parked ping goes back to the heap. */
void mj_ping_state_changed(mj_entry *e);
/* An error answering e's leave (LEAVING) came from the path to the room
 * (our own server, a closing link: the classification of a self-ping's
 * answer, docs/semantics.md §5), not from the room: the leave never
 * reached it (joins.c owes it, leaves.h). */
int mj_leave_bounced(const mj_entry *e, const mj_stanza *st);
/* The same for a leave of session s to room (prepared bare JID) without
 * an entry (one leaves.c sent again); lost: the room's domain lost its
 * link since that leave went. */
int mj_leave_path_bounced(const mj_session *s, mj_str room, int lost,
                          const mj_stanza *st);
/* The configuration changed (budget): queues that may now send are made
 * ready. */
void mj_pings_configured(struct mj_tracker *tr);

#endif

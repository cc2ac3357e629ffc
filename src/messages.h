/* What a received message is to the session (messages.c). */
#ifndef MJ_MESSAGES_H
#define MJ_MESSAGES_H

#include "store.h"

/* What a received message is to the session (fires MENTION
 * when fire is non-zero). */
int mj_messages_classify(mj_session *s, const mj_stanza *st, int fire,
                         mj_msg_class *out);
/* A received groupchat message that changes the subject (a <subject/>,
 * no <body/> nor <thread/>): the join's history, if any, is over for the
 * room it comes from. Any other message changes nothing. MJ_OK or
 * MJ_ENOMEM. */
int mj_messages_subject(mj_session *s, const mj_stanza *st);
/* Give back the reference and delay marker caches' buffers (tr->refs,
 * tr->delays). */
void mj_ref_cache_free(mj_tracker *tr);

#endif

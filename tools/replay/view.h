/*
 * view.h - the stanza view: a stored stanza (trace.h's node tree) seen as
 * the library's mj_stanza, through its extraction functions
 * (mj_stanza_set_kind/_type, mj_stanza_add_status, mj_stanza_add_delay,
 * mj_stanza_content_ns),
 * and the one-line description of a view the replay prints.
 */
#ifndef REPLAY_VIEW_H
#define REPLAY_VIEW_H

#include "mucjoins.h"
#include "trace.h"

/* Fill st from the stored element n. Strings point into n. */
void view_fill(const struct node *n, mj_stanza *st);

/* "presence type=unavailable from=room/nick x=muc#user status=110,307" */
void view_describe(struct buf *b, const struct node *n, const mj_stanza *st,
                   int outgoing);

/* Does a disco#info result list the self-ping optimisation feature? */
int view_lists_self_ping_opt(const struct node *n);

/* " key=value" when the string is present (value escaped as needed). */
void buf_kv(struct buf *b, const char *key, mj_str v);

#endif

/* What decisions share (target.c): the JID a stanza names, nick
 * comparison. On store.h. */
#ifndef MJ_TARGET_H
#define MJ_TARGET_H

#include <stddef.h>
#include <string.h>

#include "store.h"

/* A JID a stanza names, prepared and raw. */
typedef struct mj_target {
    const char *bare; /* the prepared bare JID, blen bytes: the room's
                         interned JID (valid while the room is) or buf */
    size_t blen;
    char buf[2 * 1023 + 2];
    char res[1023 + 1]; /* the resource prepared, when it is not
                           printable ASCII (res_prepped) */
    int has_res;
    mj_str raw_res;  /* the resource as written in the stanza */
    int res_plain;   /* raw_res is printable ASCII (mj_res_plain()) */
    int res_prepped; /* res holds raw_res prepared (not printable ASCII) */
    size_t res_len;  /* its length */
    mj_istr *room;   /* the interned room JID bare names, or NULL */
    mj_entry *entry; /* the session's entry for room, or NULL */
    uint64_t hash;   /* of bare */
} mj_target;

/* Prepare and split jid. MJ_OK; or the error, with *bad set to the
 * outcome to report (bad-jid / limit; counted and logged once); bad NULL:
 * neither counted nor logged (a stanza that could change nothing). */
int mj_parse_target(mj_session *s, mj_str jid, mj_target *t, mj_outcome *bad);
/* The session's entry for the room whose JID is the bare part of jid as
 * written (a room JID that prepares to itself, as Prosody's router and
 * MUC write it: no preparing, nothing counted or logged), or NULL: the
 * bytes may still name one of its rooms once prepared. *slash: jid's
 * first '/' (NULL: none, or nothing looked at). */
static inline mj_entry *mj_target_written(const mj_session *s, mj_str jid,
                                          const char **slash)
{
    size_t bare_len = jid.len;
    *slash = NULL;
    if (jid.ptr == NULL || s->rooms.count == 0)
        return NULL;
    *slash = memchr(jid.ptr, '/', jid.len);
    if (*slash != NULL)
        bare_len = (size_t)(*slash - jid.ptr);
    /* "" and "b/" do not split: the slow way reports them */
    if (bare_len == 0 || bare_len + 1 == jid.len)
        return NULL;
    return mj_entry_find_written(s, jid.ptr, bare_len,
                                 mj_qhash(&s->tr->key, jid.ptr, bare_len));
}

/* mj_nick_equal() for two nicks whose bytes differ: 1 when they are equal
 * once prepared (Resourceprep); 0 when either does not prepare (so
 * unpreparable nicks compare bytewise). b is a nick the tracker holds:
 * its prepared form is kept (nickcache.h), a's is made here. */
int mj_nick_equal_prepared(struct mj_tracker *tr, const char *a, size_t alen,
                           const char *b, size_t blen);
/* The same with a already prepared (pa, la). */
int mj_nick_equal_to_prepared(struct mj_tracker *tr, const char *pa, size_t la,
                              const char *b, size_t blen);
/* Whether a (from a stanza) names the nick b (one the tracker holds). */
static inline int mj_nick_equal(struct mj_tracker *tr, const char *a,
                                size_t alen, const char *b, size_t blen)
{
    /* the same bytes (the common case): equal without preparing */
    if (alen == blen && memcmp(a, b, alen) == 0)
        return 1;
    return mj_nick_equal_prepared(tr, a, alen, b, blen);
}

/* The same for the resource of t (mj_parse_target()): its plainness is
 * known, so printable ASCII nicks that differ as written are told apart
 * with one look at b. */
static inline int mj_nick_equal_res(struct mj_tracker *tr, const mj_target *t,
                                    const char *b, size_t blen)
{
    if (t->raw_res.len == blen && memcmp(t->raw_res.ptr, b, blen) == 0)
        return 1;
    if (t->res_plain && mj_res_plain(b, blen))
        return 0;
    if (t->res_prepped) /* prepared once, by mj_parse_target() */
        return mj_nick_equal_to_prepared(tr, t->res, t->res_len, b, blen);
    return mj_nick_equal_prepared(tr, t->raw_res.ptr, t->raw_res.len, b, blen);
}

#endif

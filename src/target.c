/* What decisions share: the JID a stanza names, prepared and looked up
 * (mj_parse_target), and nick comparison (mj_nick_equal). Used by
 * joins.c, messages.c and selfping.c; calls storage and jid.c only. */
#include <string.h>

#include "env.h"
#include "hash.h"
#include "jid.h"
#include "store.h"
#include "target.h"

/* MJ_OK, or the outcome to report when the JID is unusable.
 *
 * One split. The bare JID is the key: when its bytes as written are an
 * interned room JID that prepares to itself (Prosody's router and MUC
 * send prepared JIDs, so this is the common case), preparing it again
 * would give the same bytes and is skipped. Otherwise it is prepared and
 * looked up. The resource is only checked: decisions compare nicks as
 * written, with mj_nick_equal. */
int mj_parse_target(mj_session *s, mj_str jid, mj_target *t, mj_outcome *bad)
{
    mj_str node, host;
    size_t rlen;
    int rc_res = MJ_OK;
    /* What does not need the session comes first: with many sessions,
     * the session's memory is still on its way (see MJ_PREFETCH). */
    int rc = mj_jid_split(jid.ptr, jid.len, &node, &host, &t->raw_res);
    t->room = NULL;
    t->entry = NULL;
    if (rc == MJ_OK && t->raw_res.ptr != NULL)
        rc_res = mj_prep_part(MJ_PROFILE_RESOURCE, t->raw_res.ptr,
                              t->raw_res.len, t->res, sizeof t->res, &rlen);
    if (rc == MJ_OK) {
        mj_tracker *tr = s->tr;
        const char *raw = node.ptr ? node.ptr : host.ptr;
        size_t rawlen = (size_t)(host.ptr + host.len - raw);
        mj_istr *r = NULL;
        if (rawlen <= sizeof t->bare) {
            t->hash = mj_siphash(&tr->key, raw, rawlen);
            /* the session's slot for this room, read soon after */
            if (s->rooms.cap)
                MJ_PREFETCH(&s->rooms.slots[t->hash & (s->rooms.cap - 1)]);
            r = mj_room_find_hashed(tr, raw, rawlen, t->hash);
            if (r != NULL && r->fixed) {
                memcpy(t->bare, raw, rawlen);
                t->blen = rawlen;
                t->room = r;
            }
        }
        if (t->room == NULL) {
            rc = mj_jid_prep_bare(node, host, t->bare, sizeof t->bare,
                                  &t->blen);
            /* A domain ending in ".." keeps one dot after util.jid.prep
             * strips the root label, and that form prepares to yet
             * another JID ("r.." -> "r." -> "r"): no room can answer
             * from it, and a key that does not find itself would break
             * the queries. Refused as a bad JID. */
            if (rc == MJ_OK && t->blen > 0 && t->bare[t->blen - 1] == '.')
                rc = MJ_EJID;
            if (rc == MJ_OK &&
                (t->blen != rawlen || memcmp(t->bare, raw, rawlen) != 0))
                t->room = mj_room_find(tr, t->bare, t->blen, &t->hash);
            else if (rc == MJ_OK)
                t->room = r; /* prepared as written: hash and lookup done */
        }
        if (rc == MJ_OK && t->room != NULL)
            t->entry = mj_entry_find(s, t->room);
    }
    if (rc == MJ_OK)
        rc = rc_res; /* a bad bare JID is reported first, as before */
    if (rc == MJ_OK) {
        t->has_res = t->raw_res.ptr != NULL;
        return MJ_OK;
    }
    t->room = NULL;
    t->entry = NULL;
    if (rc == MJ_ENOMEM)
        return rc;
    if (rc == MJ_ETOOLONG) {
        *bad = MJ_O_LIMIT;
        s->tr->st.limits++;
    } else {
        *bad = MJ_O_BAD_JID;
        s->tr->st.bad_jids++;
    }
    if (!(s->warned_limit & 4)) {
        s->warned_limit |= 4;
        mj_log(s->tr, MJ_LOG_DEBUG,
               "%.*s: ignoring a stanza with an unusable JID (%s)",
               (int)s->jid_len, s->jid, mj_strerror(rc));
    }
    return rc;
}

int mj_nick_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    char pa[MJ_PART_MAX + 1], pb[MJ_PART_MAX + 1];
    size_t la, lb;
    if (alen == blen && memcmp(a, b, alen) == 0)
        return 1;
    if (mj_prep_part(MJ_PROFILE_RESOURCE, a, alen, pa, sizeof pa, &la) !=
            MJ_OK ||
        mj_prep_part(MJ_PROFILE_RESOURCE, b, blen, pb, sizeof pb, &lb) !=
            MJ_OK)
        return 0;
    return la == lb && memcmp(pa, pb, la) == 0;
}

/* What decisions share: the JID a stanza names, prepared and looked up
 * (mj_parse_target), and nick comparison (mj_nick_equal). Used by
 * joins.c, messages.c and selfping.c; calls storage and jid.c only. */
#include <stdint.h>
#include <string.h>

#include "env.h"
#include "hash.h"
#include "jid.h"
#include "nickcache.h"
#include "store.h"
#include "target.h"

/* The bare JID of a split JID the slow way: prepared, then looked up.
 * When its bytes as written are an interned room JID that prepares to
 * itself, preparing it again would give the same bytes and is skipped. */
static int bare_slow(mj_session *s, mj_str node, mj_str host, mj_target *t)
{
    mj_tracker *tr = s->tr;
    const char *raw = node.ptr ? node.ptr : host.ptr;
    size_t rawlen = (size_t)(host.ptr + host.len - raw);
    mj_istr *r = NULL;
    int rc;
    if (rawlen <= sizeof t->buf) {
        t->hash = mj_siphash(&tr->key, raw, rawlen);
        r = mj_room_find_hashed(tr, raw, rawlen, t->hash);
        if (r != NULL && r->fixed) {
            t->bare = r->s;
            t->blen = rawlen;
            t->room = r;
            t->entry = mj_entry_find(s, r);
            return MJ_OK;
        }
    }
    t->bare = t->buf;
    rc = mj_jid_prep_bare(node, host, t->buf, sizeof t->buf, &t->blen);
    /* A domain ending in ".." keeps one dot after util.jid.prep strips
     * the root label, and that form prepares to yet another JID ("r.."
     * -> "r." -> "r"); a domain with U+FF0F or U+FF20 prepares to one
     * with '/' or '@' in it ("room@conf/x"), a part of only a soft
     * hyphen to "" ("@conf"): no room can answer from such a JID
     * (Prosody's router splits it again), and a key that does not find
     * itself would break the queries (mj_jid_bare_is_key()). Refused as
     * a bad JID. */
    if (rc == MJ_OK && !mj_jid_bare_is_key(t->buf, t->blen, node.ptr != NULL))
        rc = MJ_EJID;
    if (rc != MJ_OK)
        return rc;
    if (t->blen != rawlen || memcmp(t->buf, raw, rawlen) != 0)
        t->room = mj_room_find(tr, t->buf, t->blen, &t->hash);
    else
        t->room = r; /* prepared as written: hash and lookup done */
    if (t->room != NULL)
        t->entry = mj_entry_find(s, t->room);
    return MJ_OK;
}

/* Resourceprep of a stanza's resource (not printable ASCII) into out
 * (MJ_PART_MAX + 1 bytes), through the tracker's one-entry cache: the
 * same stanza reaches every session in the room, and each would prepare
 * the same bytes again (a 1 KB nick of U+FDFA cost ~26 us a session for
 * an occupant's presence that changes nothing, ~190 times an ASCII one). */
static int prep_res(mj_tracker *tr, const char *p, size_t len, char *out,
                    size_t *out_len)
{
    mj_res_cache *c = &tr->res;
    if (len != 0 && c->raw_len == len && memcmp(c->raw, p, len) == 0) {
        if (c->rc == MJ_OK) {
            memcpy(out, c->prep, c->prep_len);
            *out_len = c->prep_len;
        }
        return c->rc;
    }
    c->preps++;
    int rc = mj_prep_part(MJ_PROFILE_RESOURCE, p, len, out, MJ_PART_MAX + 1,
                          out_len);
    if (rc == MJ_ENOMEM || len == 0 || len > MJ_PART_MAX)
        return rc; /* not kept: a failure to allocate is no answer */
    c->raw_len = len;
    memcpy(c->raw, p, len);
    c->rc = rc;
    if (rc == MJ_OK) {
        memcpy(c->prep, out, *out_len);
        c->prep_len = *out_len;
    }
    return rc;
}

/* MJ_OK, or the outcome to report when the JID is unusable.
 *
 * The bare JID is the key. The common case first: its bytes as written
 * (up to the first '/') are the interned JID, prepared to itself, of a
 * room the session has an entry for (Prosody's router and MUC send
 * prepared JIDs). That entry is found in the session's own table by a
 * cheap hash of the bytes, and nothing is split, prepared or hashed
 * again. It is what the slow way finds: such a JID splits as written
 * (one '@' at most, non-empty parts, no '/'), interned JIDs are unique,
 * and one that prepares to itself is what preparing these bytes gives.
 * Otherwise the JID is split, the bare JID prepared and looked up
 * (bare_slow). The resource is only checked (printable ASCII needs no
 * preparation: mj_res_plain): decisions compare nicks as written, with
 * mj_nick_equal. A bad bare JID is reported before a bad resource. */
MJ_HOT int mj_parse_target(mj_session *s, mj_str jid, mj_target *t,
                           mj_outcome *bad)
{
    mj_str node, host;
    size_t rlen;
    int rc = MJ_OK;
    const char *slash;
    mj_entry *e = mj_target_written(s, jid, &slash);
    size_t bare_len = slash != NULL ? (size_t)(slash - jid.ptr) : jid.len;
    if (e != NULL) {
        mj_istr *r = mj_entry_room(e);
        t->bare = r->s;
        t->blen = r->len;
        t->room = r;
        t->entry = e;
        t->hash = r->hash;
        t->raw_res.ptr = slash ? slash + 1 : NULL;
        t->raw_res.len = slash ? jid.len - bare_len - 1 : 0;
    } else {
        t->room = NULL;
        t->entry = NULL;
        rc = mj_jid_split(jid.ptr, jid.len, &node, &host, &t->raw_res);
        if (rc == MJ_OK)
            rc = bare_slow(s, node, host, t);
    }
    /* a bad bare JID is reported before a bad resource */
    t->res_plain = 0;
    t->res_prepped = 0;
    if (rc == MJ_OK && t->raw_res.ptr != NULL) {
        t->res_plain = mj_res_plain(t->raw_res.ptr, t->raw_res.len);
        if (!t->res_plain) {
            rc =
                prep_res(s->tr, t->raw_res.ptr, t->raw_res.len, t->res, &rlen);
            t->res_prepped = rc == MJ_OK;
            t->res_len = rc == MJ_OK ? rlen : 0;
        }
    }
    if (rc == MJ_OK) {
        t->has_res = t->raw_res.ptr != NULL;
        return MJ_OK;
    }
    t->room = NULL;
    t->entry = NULL;
    if (rc == MJ_ENOMEM || bad == NULL)
        return rc;
    if (rc == MJ_ETOOLONG) {
        *bad = MJ_O_LIMIT;
        s->tr->st.limits++;
    } else {
        *bad = MJ_O_BAD_JID;
        s->tr->st.bad_jids++;
    }
    if (!(s->warned_limit & MJ_WARNED_BAD_JID)) {
        s->warned_limit |= MJ_WARNED_BAD_JID;
        mj_log(s->tr, MJ_LOG_DEBUG,
               "%.*s: ignoring a stanza with an unusable JID (%s)",
               (int)s->jid_len, s->jid, mj_strerror(rc));
    }
    return rc;
}

/* b's prepared form is kept while b is held (nickcache.h): the work is
 * the held nick's, done once, not once per stanza. */
MJ_HOT int mj_nick_equal_to_prepared(struct mj_tracker *tr, const char *pa,
                                     size_t la, const char *b, size_t blen)
{
    char pbuf[MJ_PART_MAX + 1];
    const char *qb;
    size_t lb;
    if (mj_nick_prep(&tr->nicks, b, blen, pbuf, &qb, &lb) != MJ_OK)
        return 0;
    return la == lb && memcmp(pa, qb, la) == 0;
}

MJ_HOT int mj_nick_equal_prepared(struct mj_tracker *tr, const char *a,
                                  size_t alen, const char *b, size_t blen)
{
    char pa[MJ_PART_MAX + 1];
    size_t la;
    /* printable ASCII prepares to itself: two such nicks that differ as
     * written differ prepared, and a needs no preparing */
    if (mj_res_plain(a, alen))
        return !mj_res_plain(b, blen) &&
               mj_nick_equal_to_prepared(tr, a, alen, b, blen);
    if (mj_prep_part(MJ_PROFILE_RESOURCE, a, alen, pa, sizeof pa, &la) !=
        MJ_OK)
        return 0;
    return mj_nick_equal_to_prepared(tr, pa, la, b, blen);
}

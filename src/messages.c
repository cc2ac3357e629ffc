/* What a received groupchat message is to the session: a mention, chatter,
 * its own message reflected, room history (docs/semantics.md §6), and from
 * that whether it should wake the device (§7, CSI and push). The matching
 * itself is mentions.c. */
#include <string.h>

#include "env.h"
#include "jid.h"
#include "mentions.h"
#include "mentions_impl.h"
#include "messages.h"
#include "nickcache.h"
#include "store.h"
#include "target.h"

/* A cache slot's buffer of at least need bytes (its contents dropped when
 * it grows); NULL when it cannot be had (the slot is then empty). */
static char *slot_reserve(mj_tracker *tr, char **buf, size_t *cap, size_t need)
{
    if (*buf != NULL && *cap < need) {
        mj_free(tr, *buf, *cap);
        *buf = NULL;
    }
    if (*buf == NULL) {
        *buf = mj_alloc(tr, need);
        *cap = *buf != NULL ? need : 0;
    }
    return *buf;
}

/* Whether marker i's from (f) prepares to the bare JID (bare, blen):
 * prepared once per from, kept in the tracker's slot i (when its buffer
 * cannot be had, prepared here alone). A from as long as a full JID can
 * be ~3 KB that ICU expands under NFKC: prepared for each recipient, four
 * such markers cost ~650 times the rest of a message's decision. */
static int delay_names(mj_tracker *tr, size_t i, mj_str f, const char *bare,
                       size_t blen)
{
    char buf[3 * MJ_PART_MAX + 3];
    size_t len;
    mj_delay_slot *c = &tr->delays.slot[i];
    if (c->buf != NULL && c->len == f.len && memcmp(c->buf, f.ptr, f.len) == 0)
        return c->rc == MJ_OK && c->plen == blen &&
               memcmp(c->buf + c->len, bare, blen) == 0;
    tr->delays.preps++;
    int rc = mj_jid_prep(f.ptr, f.len, buf, sizeof buf, &len);
    if (rc == MJ_ENOMEM)
        return 0; /* no answer to keep */
    size_t plen = rc == MJ_OK ? len : 0;
    size_t need = (f.len + plen) != 0 ? f.len + plen : 1;
    if (slot_reserve(tr, &c->buf, &c->cap, need) != NULL) {
        memcpy(c->buf, f.ptr, f.len);
        memcpy(c->buf + f.len, buf, plen);
        c->len = f.len;
        c->plen = plen;
        c->rc = rc;
    }
    return rc == MJ_OK && len == blen && memcmp(buf, bare, len) == 0;
}

/* A <delay/> whose from is the room's bare JID marks history; smacks and
 * CSI add delays from other JIDs. An occupant can add such a delay to its
 * own message too, so it counts only until the room's subject: a room
 * sends its history between the join's self-presence and the subject,
 * which comes last in the join sequence (XEP-0045 7.2.15); after that a
 * delay from the room is an occupant's forgery, and the message is
 * classified as live (entry->live). */
static int is_history(mj_tracker *tr, const mj_stanza *st, const mj_target *t)
{
    size_t n = st->ndelay < MJ_MAX_DELAY ? st->ndelay : MJ_MAX_DELAY;
    for (size_t i = 0; i < n; i++) {
        mj_str f = st->delay_from[i];
        if (f.ptr == NULL)
            continue;
        /* the room's JID as the room writes it: when it prepares to
         * itself (t->room->fixed), the same bytes need no preparing */
        if (t->room != NULL && t->room->fixed && f.len == t->blen &&
            memcmp(f.ptr, t->bare, f.len) == 0)
            return 1;
        if (delay_names(tr, i, f, t->bare, t->blen))
            return 1;
    }
    return 0;
}

/* The JID that reference i's uri path (path_len bytes) names, from the
 * cache when the slot holds that path, else prepared and kept there (when
 * the slot's buffer cannot be had, the answer is the caller's buffers
 * alone). Sets *bare, *res (pointing into the slot or into the caller's
 * bare_buf/res_buf), *bl, *rl and *names. */
static int ref_jid(mj_tracker *tr, size_t i, const char *path, size_t path_len,
                   char *bare_buf, char *res_buf, const char **bare,
                   size_t *bl, const char **res, size_t *rl, int *names)
{
    mj_ref_slot *c = &tr->refs.slot[i];
    if (c->buf != NULL && c->len == path_len &&
        memcmp(c->buf, path, path_len) == 0) {
        *names = c->names;
        *bare = c->buf + c->len;
        *bl = c->bl;
        *res = *bare + c->bl;
        *rl = c->rl;
        return MJ_OK;
    }
    tr->refs.preps++;
    int rc =
        mj_mention_uri_jid(path, path_len, bare_buf, bl, res_buf, rl, names);
    if (rc != MJ_OK)
        return rc;
    *bare = bare_buf;
    *res = res_buf;
    size_t need = path_len + (*names ? *bl : 0) +
                  (*names && *rl != (size_t)-1 ? *rl : 0);
    if (need == 0)
        need = 1;
    if (slot_reserve(tr, &c->buf, &c->cap, need) == NULL)
        return MJ_OK; /* not kept: the answer is in the caller's buffers */
    c->len = path_len;
    c->names = *names;
    c->bl = *names ? *bl : 0;
    c->rl = *names ? *rl : (size_t)-1;
    memcpy(c->buf, path, path_len);
    if (c->bl)
        memcpy(c->buf + path_len, bare_buf, c->bl);
    if (c->rl != (size_t)-1 && c->rl != 0)
        memcpy(c->buf + path_len + c->bl, res_buf, c->rl);
    return MJ_OK;
}

void mj_ref_cache_free(mj_tracker *tr)
{
    for (size_t i = 0; i < MJ_MAX_DELAY; i++) {
        mj_delay_slot *d = &tr->delays.slot[i];
        if (d->buf != NULL)
            mj_free(tr, d->buf, d->cap);
        d->buf = NULL;
        d->cap = 0;
    }
    for (size_t i = 0; i < MJ_MAX_REFS; i++) {
        mj_ref_slot *c = &tr->refs.slot[i];
        if (c->buf != NULL)
            mj_free(tr, c->buf, c->cap);
        c->buf = NULL;
        c->cap = 0;
    }
}

/* Whether a reference or the body mentions the entry's nick (or a
 * reference the user's bare JID). The references' JIDs are the same for
 * every recipient of the message: prepared once (ref_jid()), only the
 * comparison is each recipient's. */
MJ_HOT static int mentions(mj_session *s, const mj_stanza *st,
                           const mj_entry *e, mj_str nick, int *match)
{
    size_t n = st->nmentions < MJ_MAX_REFS ? st->nmentions : MJ_MAX_REFS;
    char bare_buf[MJ_URI_BARE_MAX], res_buf[MJ_PART_MAX];
    /* the user's bare JID: the session's prepared JID up to its '/'
     * (found for the first reference that names a JID) */
    size_t bare_len = (size_t)-1;
    /* the held nick prepared once (nickcache.h), if a reference names a
     * resource; the room and the user's JID are held prepared */
    const char *pnick = NULL;
    size_t pnick_len = 0;
    int prepped = 0;
    char nbuf[MJ_PART_MAX + 1];
    int rc;
    *match = 0;
    for (size_t i = 0; i < n && !*match; i++) {
        mj_str u = st->mention_uri[i];
        const char *bare, *res;
        size_t path_len, bl, rl;
        int names;
        if (u.ptr == NULL || !mj_mention_uri_path(u.ptr, u.len, &path_len) ||
            path_len > MJ_URI_PATH_MAX) /* decodes to more than a JID */
            continue;
        rc = ref_jid(s->tr, i, u.ptr, path_len, bare_buf, res_buf, &bare, &bl,
                     &res, &rl, &names);
        if (rc != MJ_OK)
            return rc;
        if (!names)
            continue;
        if (rl != (size_t)-1 && !prepped) {
            prepped = 1;
            if (nick.ptr != NULL && nick.len != 0) {
                rc = mj_nick_prep(&s->tr->nicks, nick.ptr, nick.len, nbuf,
                                  &pnick, &pnick_len);
                if (rc == MJ_ENOMEM)
                    return rc;
                if (rc != MJ_OK)
                    pnick = NULL; /* names no resource */
            }
        }
        if (bare_len == (size_t)-1)
            bare_len = mj_session_bare_len(s);
        *match = mj_mention_jid_is(bare, bl, res, rl, mj_entry_room(e)->s,
                                   mj_entry_room(e)->len, pnick, pnick_len,
                                   mj_session_pjid(s), bare_len);
    }
    if (*match)
        return MJ_OK;
    return mj_mention_text_cached(s->tr, &s->tr->body, &s->tr->nicks,
                                  st->body.ptr, st->body.len, nick.ptr,
                                  nick.len, match);
}

MJ_HOT int mj_messages_classify(mj_session *s, const mj_stanza *st, int fire,
                                mj_msg_class *out)
{
    mj_target t;
    mj_outcome bad;
    *out = MJ_M_OTHER;
    if (st->kind != MJ_KIND_MESSAGE || st->type != MJ_T_GROUPCHAT ||
        st->body.ptr == NULL || st->body.len == 0 || st->from.ptr == NULL)
        return MJ_OK;
    int rc = mj_parse_target(s, st->from, &t, &bad);
    if (rc != MJ_OK)
        return rc == MJ_ENOMEM ? rc : MJ_OK;
    mj_entry *e = t.entry;
    if (e == NULL || !e->has_nick)
        return MJ_OK; /* not in the room (PENDING shows no nick) */
    /* leaving it: the user asked to leave, and what the room sends before
     * it sees the leave is nothing to wake the user for: chatter, never a
     * mention (held where chatter is held; "no opinion" would let
     * mod_csi_simple deliver it at once) */
    if (e->state == MJ_S_LEAVING) {
        *out = MJ_M_CHATTER;
        return MJ_OK;
    }
    if (!e->live && is_history(s->tr, st, &t)) {
        *out = MJ_M_HISTORY;
        return MJ_OK;
    }
    if (!t.has_res) {
        /* the room itself speaking (an announcement, a gateway's notice):
         * a message with a body from a room the session is in, so
         * chatter; only an occupant (room/x) can mention the user */
        *out = MJ_M_CHATTER;
        return MJ_OK;
    }
    /* mj_nick_equal: printable ASCII nicks (the common case) are
     * compared without Resourceprep */
    mj_str asked = mj_entry_pnick(e);
    if (mj_nick_equal_res(e->sess->tr, &t, mj_entry_nick_ptr(e),
                          mj_entry_nick_len(e)) ||
        (e->state == MJ_S_EXPECTING && asked.ptr != NULL &&
         mj_nick_equal_res(e->sess->tr, &t, asked.ptr, asked.len))) {
        *out = MJ_M_OWN;
        return MJ_OK;
    }
    int match = 0;
    rc = mentions(s, st, e, mj_entry_nick(e), &match);
    /* EXPECTING(o, m): the room announced m (303) and its occupants
     * address the user as m before m's self-presence comes */
    if (rc == MJ_OK && !match && e->state == MJ_S_EXPECTING &&
        asked.ptr != NULL)
        rc = mentions(s, st, e, asked, &match);
    if (rc != MJ_OK)
        return rc;
    *out = match ? MJ_M_MENTION : MJ_M_CHATTER;
    if (match && fire)
        mj_emit_mention(e, t.raw_res);
    return MJ_OK;
}

int mj_messages_subject(mj_session *s, const mj_stanza *st)
{
    mj_target t;
    mj_outcome bad;
    /* XEP-0045 8.1: a message with a <subject/> and a <body/> or a
     * <thread/> is not a subject change; Prosody's MUC broadcasts such a
     * message from any occupant (subject.lib.lua) */
    if (!st->has_subject || st->body.ptr != NULL || st->has_thread ||
        st->from.ptr == NULL)
        return MJ_OK;
    /* Nor one that another room's history kept for a hint or a marker:
     * a room's own subject carries neither, and an occupant's <subject
     * xmlns='jabber:server'/>, chatter to that room (Prosody's MUC reads
     * a subject in the stanza's own namespace), needs one to enter its
     * history, then reaches us over s2s as a plain <subject/> (the
     * stream's namespace is dropped): it must not end the history of a
     * join. */
    if (st->has_history_hint)
        return MJ_OK;
    int rc = mj_parse_target(s, st->from, &t, &bad);
    if (rc != MJ_OK)
        return rc == MJ_ENOMEM ? rc : MJ_OK;
    /* from the room or one of its occupants (a subject is set by one);
     * PENDING has no history yet: only a shown entry */
    if (t.entry != NULL && t.entry->has_nick)
        t.entry->live = 1;
    return MJ_OK;
}

int mj_session_message(mj_session *s, const mj_stanza *st, mj_msg_class *out)
{
    mj_msg_class c = MJ_M_OTHER;
    if (out)
        *out = MJ_M_OTHER;
    if (s == NULL || st == NULL)
        return MJ_EINVAL;
    if (MJ_IN_HOOK(s->tr))
        return MJ_EBUSY;
    int rc = mj_messages_classify(s, st, 0, &c);
    if (out)
        *out = c;
    return rc;
}

int mj_session_importance(mj_session *s, const mj_stanza *st, int hold_chatter)
{
    mj_msg_class c = MJ_M_OTHER;
    /* s NULL: a session the tracker holds nothing for, in no room */
    if (st == NULL ||
        (s != NULL &&
         (MJ_IN_HOOK(s->tr) || mj_messages_classify(s, st, 0, &c) != MJ_OK)))
        return -1;
    switch (c) {
    case MJ_M_MENTION:
        return 1;
    case MJ_M_CHATTER:
        /* what the body does not show may mention the user; a call or an
         * invitation wakes whatever the body says */
        if (st->has_wake_hint)
            return -1;
        return hold_chatter ? 0 : -1;
    case MJ_M_OWN:
    case MJ_M_HISTORY:
        return hold_chatter ? 0 : -1;
    case MJ_M_OTHER:
        break;
    }
    /* pushes of mentions only: no other groupchat message either (what
     * carries a wake payload aside) */
    if (hold_chatter == MJ_HOLD_GROUPCHAT && st->kind == MJ_KIND_MESSAGE &&
        st->type == MJ_T_GROUPCHAT && !st->has_wake_hint)
        return 0;
    return -1;
}

int mj_tracker_importance(mj_tracker *tr, const char *jid, size_t len,
                          const mj_stanza *st, int hold_chatter)
{
    char buf[MJ_FULL_JID_CAP];
    size_t plen;
    uint64_t h;
    mj_session *s;
    if (tr == NULL || st == NULL || MJ_IN_HOOK(tr) ||
        mj_session_lookup(tr, jid, len, buf, &plen, &h, &s) != MJ_OK)
        return -1;
    /* prepared, a JID has a '/' only before its resource */
    if (s == NULL && memchr(buf, '/', plen) == NULL)
        return -1; /* a bare JID */
    return mj_session_importance(s, st, hold_chatter);
}

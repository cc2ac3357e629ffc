/* Ghost joins: when to self-ping (XEP-0410) and what the answer means
 * (SPEC 5). The caller sends the iq when MJ_EV_PING_NEEDED fires and hands
 * the answer back; this file decides everything else: debouncing link
 * losses, one outstanding ping per (session, room), a budget per remote
 * domain, timeouts, bounded retries with exponential backoff, stale
 * answers, and the verdict. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "jid.h"

const char *mj_ping_verdict_name(mj_ping_verdict v)
{
    static const char *const names[] = {"stale", "joined", "not-joined",
                                        "unknown"};
    if ((unsigned)v < sizeof names / sizeof names[0])
        return names[v];
    return "unknown";
}

/* The domain part of a prepared bare JID. */
static mj_str domain_of(const char *bare, size_t len)
{
    const char *at = memchr(bare, '@', len);
    if (at == NULL)
        return mj_str_of(bare, len);
    return mj_str_of(at + 1, len - (size_t)(at + 1 - bare));
}

static int str_eq(mj_str a, mj_str b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* ---- the ping list ------------------------------------------------------ */

static void ping_unlink(mj_tracker *tr, mj_ping *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        tr->phead = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

void mj_ping_drop(mj_entry *e)
{
    mj_ping *p = mj_entry_ping(e);
    if (p == NULL)
        return;
    mj_tracker *tr = e->sess->tr;
    ping_unlink(tr, p);
    e->aux->ping = NULL;
    mj_free(tr, p, sizeof *p);
    mj_entry_aux_trim(e);
}

static size_t outstanding_for(mj_tracker *tr, mj_str domain)
{
    size_t n = 0;
    for (const mj_ping *p = tr->phead; p != NULL; p = p->next)
        if (p->id != 0 &&
            str_eq(domain_of(p->e->room->s, p->e->room->len), domain))
            n++;
    return n;
}

/* Send now if the state and the domain's budget allow; else it waits. */
static void try_send(mj_ping *p, double now)
{
    mj_entry *e = p->e;
    mj_tracker *tr = e->sess->tr;
    switch ((mj_state)e->state) {
    case MJ_S_JOINED:
    case MJ_S_EXPECTING:
        break;
    case MJ_S_PENDING:
    case MJ_S_CHANGING:
        return; /* no ping while the room is answering us anyway */
    case MJ_S_LEAVING:
    case MJ_S_NONE:
        mj_ping_drop(e);
        return;
    }
    if (outstanding_for(tr, domain_of(e->room->s, e->room->len)) >=
        tr->cfg.ping_budget)
        return;
    if (++tr->last_ping_id == 0)
        tr->last_ping_id = 1;
    p->id = tr->last_ping_id;
    p->deadline = now + tr->cfg.ping_timeout;
    tr->st.pings_sent++;
    mj_emit(e, MJ_EV_PING_NEEDED, MJ_R_NONE, mj_str_none(), mj_str_none(),
            mj_str_none(), mj_str_none());
}

/* Schedule a ping of e at time due (keeping an earlier schedule). A link
 * loss (from_link) does not wake an entry resting after a give-up. */
static void schedule(mj_entry *e, double due, int from_link)
{
    mj_tracker *tr = e->sess->tr;
    mj_ping *p = mj_entry_ping(e);
    if (p != NULL) {
        if (p->id != 0)
            return; /* at most one outstanding ping per (session, room) */
        if (p->due == INFINITY) { /* resting after a give-up */
            if (from_link && due < p->rest_until)
                return;
            p->tries = 0; /* a new round */
            p->due = due;
            return;
        }
        if (!from_link && due < p->due)
            p->due = due; /* waiting to retry: a direct sign pulls it in */
        return;
    }
    p = mj_entry_aux(e) == MJ_OK ? mj_alloc(tr, sizeof *p) : NULL;
    if (p == NULL) {
        mj_entry_aux_trim(e);
        mj_log(tr, MJ_LOG_WARN, "out of memory: self-ping of %s skipped",
               e->room->s);
        return;
    }
    memset(p, 0, sizeof *p);
    p->e = e;
    p->due = due;
    p->rest_until = -INFINITY;
    p->next = tr->phead;
    if (tr->phead)
        tr->phead->prev = p;
    tr->phead = p;
    e->aux->ping = p;
}

void mj_ping_request(mj_entry *e)
{
    mj_tracker *tr = e->sess->tr;
    if (!tr->cfg.self_ping)
        return;
    double now = mj_now(tr);
    schedule(e, now, 0);
    mj_ping *p = mj_entry_ping(e);
    if (p != NULL && p->id == 0)
        try_send(p, now);
}

/* The room said nothing about membership: retry later, boundedly. */
static void unknown(mj_ping *p, double now)
{
    mj_entry *e = p->e;
    mj_tracker *tr = e->sess->tr;
    tr->st.pings_unknown++;
    p->id = 0;
    double delay = tr->cfg.ping_backoff;
    for (uint32_t i = 1; i < p->tries + 1 && delay < 86400; i++)
        delay *= 2;
    if (++p->tries > tr->cfg.ping_retries) {
        tr->st.pings_given_up++;
        mj_log(tr, MJ_LOG_DEBUG,
               "%.*s: self-ping of %s unanswered %u times; keeping the "
               "entry",
               (int)e->sess->jid_len, e->sess->jid, e->room->s, p->tries);
        /* rest as long as the next retry would have waited: further link
         * losses in that time do not start another round */
        p->due = INFINITY;
        p->rest_until = now + delay;
        return;
    }
    p->due = now + delay;
}

/* ---- link losses -------------------------------------------------------- */

int mj_tracker_link_lost(mj_tracker *tr, const char *domain, size_t len)
{
    char buf[MJ_PART_MAX + 1];
    size_t plen;
    if (tr == NULL || domain == NULL)
        return MJ_EINVAL;
    if (len > 0 && domain[len - 1] == '.')
        len--;
    int rc =
        mj_prep_part(MJ_PROFILE_NAME, domain, len, buf, sizeof buf, &plen);
    if (rc != MJ_OK)
        return rc;
    for (const mj_linkcheck *c = tr->checks; c != NULL; c = c->next)
        if (c->len == plen && memcmp(c->domain, buf, plen) == 0)
            return MJ_OK; /* debounced */
    mj_linkcheck *c = mj_alloc(tr, sizeof *c + plen + 1);
    if (c == NULL)
        return MJ_ENOMEM;
    c->len = plen;
    memcpy(c->domain, buf, plen);
    c->domain[plen] = '\0';
    c->due = mj_now(tr) + tr->cfg.ping_start_delay;
    c->next = tr->checks;
    tr->checks = c;
    return MJ_OK;
}

/* Schedule a ping of every shown room on the domain, every session. */
static void check_domain(mj_tracker *tr, mj_str domain, double now)
{
    size_t cursor = 0;
    mj_session *s;
    while ((s = mj_tracker_next_session(tr, &cursor)) != NULL) {
        for (size_t i = 0; i < s->rooms.cap; i++) {
            mj_entry *e = s->rooms.slots[i];
            if (e == NULL || !e->has_nick || e->state == MJ_S_LEAVING ||
                !str_eq(domain_of(e->room->s, e->room->len), domain))
                continue;
            schedule(e, now, 1);
        }
    }
}

void mj_pings_tick(mj_tracker *tr, double now)
{
    mj_linkcheck **cp = &tr->checks;
    while (*cp != NULL) {
        mj_linkcheck *c = *cp;
        if (c->due > now) {
            cp = &c->next;
            continue;
        }
        *cp = c->next;
        if (tr->cfg.self_ping)
            check_domain(tr, mj_str_of(c->domain, c->len), now);
        mj_free(tr, c, sizeof *c + c->len + 1);
    }
    mj_ping *next;
    for (mj_ping *p = tr->phead; p != NULL; p = next) {
        next = p->next;
        if (p->id != 0 && p->deadline <= now)
            unknown(p, now); /* our own timeout */
    }
    for (mj_ping *p = tr->phead; p != NULL; p = next) {
        next = p->next;
        if (p->id == 0 && p->due <= now)
            try_send(p, now);
        else if (p->id == 0 && p->due == INFINITY && p->rest_until <= now)
            mj_ping_drop(p->e); /* rested: forget it */
    }
}

void mj_pings_free(mj_tracker *tr)
{
    while (tr->checks != NULL) {
        mj_linkcheck *c = tr->checks;
        tr->checks = c->next;
        mj_free(tr, c, sizeof *c + c->len + 1);
    }
    /* pings belong to entries, freed with them */
}

/* ---- answers ------------------------------------------------------------ */

static int is(mj_str s, const char *lit)
{
    return s.ptr != NULL && s.len == strlen(lit) &&
           memcmp(s.ptr, lit, s.len) == 0;
}

/* Is the JID in s (prepared) equal to want? */
static int jid_is(mj_str s, mj_str want)
{
    char buf[3 * MJ_PART_MAX + 3];
    size_t len;
    if (s.ptr == NULL ||
        mj_jid_prep(s.ptr, s.len, buf, sizeof buf, &len) != MJ_OK)
        return 0;
    return len == want.len && memcmp(buf, want.ptr, len) == 0;
}

/* What the room's disco#info, asked from the session's JID, said. */
enum room_info {
    INFO_NONE = -1,     /* not asked, no answer, or an answer of the path */
    INFO_PLAIN = 0,     /* a result without self-ping optimisation */
    INFO_OPTIMIZED = 1, /* a result listing muc#self-ping-optimization */
    INFO_ABSENT = 2     /* an error from the room: it does not exist */
};

/* Did the path to the room (our server, the link), not the room, answer
 * with this error? */
static int path_error(const mj_session *s, const mj_stanza *a)
{
    const char *slash = memchr(s->pjid, '/', s->pjid_len);
    mj_str user_bare =
        mj_str_of(s->pjid, slash ? (size_t)(slash - s->pjid) : s->pjid_len);
    mj_str cond = a->error_condition;
    return is(a->error_type, "wait") ||
           jid_is(a->error_by, domain_of(user_bare.ptr, user_bare.len)) ||
           is(cond, "remote-server-not-found") ||
           is(cond, "remote-server-timeout");
}

/* SPEC 5's table; info: an enum room_info. */
static mj_ping_verdict verdict(const mj_session *s, const mj_entry *e,
                               const mj_stanza *a, int info)
{
    mj_str room = mj_str_of(e->room->s, e->room->len);
    mj_str cond = a->error_condition;

    if (a->type == MJ_T_RESULT)
        return MJ_PING_JOINED;
    if (a->type != MJ_T_ERROR)
        return MJ_PING_STALE; /* not an answer */
    if (path_error(s, a))
        return MJ_PING_UNKNOWN; /* the path, not the room, answered */
    if (is(cond, "not-acceptable") || is(cond, "gone"))
        return MJ_PING_NOT_JOINED;
    if (is(cond, "item-not-found")) {
        if (jid_is(a->error_by, room))
            return MJ_PING_JOINED; /* our nick is stale, we are in */
        if (jid_is(a->error_by, domain_of(room.ptr, room.len)))
            return MJ_PING_NOT_JOINED; /* no such room (lost in a crash) */
        /* says not who (ejabberd: no by at all): a stale nick in a room
         * that exists, or a room that does not; its disco#info says */
        if (info == INFO_ABSENT)
            return MJ_PING_NOT_JOINED;
        return info == INFO_NONE ? MJ_PING_UNKNOWN : MJ_PING_JOINED;
    }
    if (is(cond, "service-unavailable") || is(cond, "feature-not-implemented"))
        return info == INFO_PLAIN    ? MJ_PING_JOINED
               : info == INFO_ABSENT ? MJ_PING_NOT_JOINED
                                     : MJ_PING_UNKNOWN;
    return MJ_PING_NOT_JOINED;
}

/* Classify the room's disco#info reply (NULL: none came). Only a reply
 * from the room's bare JID counts; an error of the path says nothing. */
static int room_info(mj_session *s, const mj_entry *e, const mj_stanza *info,
                     int optimized)
{
    mj_target t;
    mj_outcome bad;
    if (info == NULL || info->kind != MJ_KIND_IQ || info->from.ptr == NULL ||
        mj_parse_target(s, info->from, &t, &bad) != MJ_OK ||
        t.room != e->room || t.has_res)
        return INFO_NONE;
    if (info->type == MJ_T_RESULT)
        return optimized ? INFO_OPTIMIZED : INFO_PLAIN;
    if (info->type != MJ_T_ERROR || path_error(s, info))
        return INFO_NONE;
    if (is(info->error_type, "cancel") ||
        is(info->error_condition, "item-not-found") ||
        is(info->error_condition, "gone"))
        return INFO_ABSENT;
    return INFO_NONE; /* auth, modify: the room is there but says nothing */
}

static mj_entry *entry_by_ping(const mj_session *s, uint32_t id)
{
    for (size_t i = 0; i < s->rooms.cap; i++) {
        mj_entry *e = s->rooms.slots[i];
        if (e != NULL && mj_entry_ping(e) != NULL &&
            mj_entry_ping(e)->id == id)
            return e;
    }
    return NULL;
}

/* info: an enum room_info, or INFO_ASK to classify info_reply. */
#define INFO_ASK 3

static int settle(mj_session *s, uint32_t ping_id, const mj_stanza *answer,
                  int info, const mj_stanza *info_reply, int optimized,
                  mj_ping_verdict *out)
{
    mj_ping_verdict v = MJ_PING_STALE;
    if (out)
        *out = v;
    if (s == NULL || answer == NULL)
        return MJ_EINVAL;
    mj_entry *e = ping_id ? entry_by_ping(s, ping_id) : NULL;
    if (e == NULL)
        return MJ_OK; /* older than the latest join or ping: ignored */
    mj_target t;
    mj_outcome bad;
    if (answer->from.ptr == NULL ||
        mj_parse_target(s, answer->from, &t, &bad) != MJ_OK ||
        t.room != e->room) /* room JIDs are interned: one pointer each */
        return MJ_OK;      /* not from the pinged room */
    mj_tracker *tr = s->tr;
    if (info == INFO_ASK)
        info = room_info(s, e, info_reply, optimized);
    v = verdict(s, e, answer, info);
    switch (v) {
    case MJ_PING_JOINED:
        tr->st.pings_joined++;
        mj_ping_drop(e);
        break;
    case MJ_PING_NOT_JOINED:
        tr->st.pings_not_joined++;
        mj_ping_drop(e);
        mj_emit(e, MJ_EV_LEFT, MJ_R_GHOST, mj_str_none(),
                answer->error_condition, mj_str_none(), mj_str_none());
        mj_entry_destroy(e);
        break;
    case MJ_PING_UNKNOWN:
        unknown(mj_entry_ping(e), mj_now(tr));
        break;
    case MJ_PING_STALE:
        break;
    }
    if (out)
        *out = v;
    return MJ_OK;
}

int mj_session_ping_answer(mj_session *s, uint32_t ping_id,
                           const mj_stanza *answer, int room_optimized,
                           mj_ping_verdict *out)
{
    int info = room_optimized < 0 ? INFO_NONE
               : room_optimized   ? INFO_OPTIMIZED
                                  : INFO_PLAIN;
    return settle(s, ping_id, answer, info, NULL, 0, out);
}

int mj_session_ping_answer_info(mj_session *s, uint32_t ping_id,
                                const mj_stanza *answer, const mj_stanza *info,
                                int info_optimized, mj_ping_verdict *out)
{
    return settle(s, ping_id, answer, INFO_ASK, info, info_optimized, out);
}

int mj_session_ping_needs_features(mj_session *s, uint32_t ping_id,
                                   const mj_stanza *answer)
{
    if (s == NULL || answer == NULL || ping_id == 0)
        return 0;
    mj_entry *e = entry_by_ping(s, ping_id);
    mj_target t;
    mj_outcome bad;
    if (e == NULL || answer->from.ptr == NULL ||
        mj_parse_target(s, answer->from, &t, &bad) != MJ_OK ||
        t.room != e->room)
        return 0; /* not from the pinged room: mj_session_ping_answer*()
                     ignore it */
    mj_ping_verdict v = verdict(s, e, answer, INFO_NONE);
    return v != verdict(s, e, answer, INFO_PLAIN) ||
           v != verdict(s, e, answer, INFO_OPTIMIZED) ||
           v != verdict(s, e, answer, INFO_ABSENT);
}

int mj_session_is_forwarded_ping(mj_session *s, const mj_stanza *st)
{
    mj_target t;
    mj_outcome bad;
    if (s == NULL || st == NULL || st->kind != MJ_KIND_IQ ||
        st->type != MJ_T_GET || !st->has_ping || st->from.ptr == NULL)
        return 0;
    if (mj_parse_target(s, st->from, &t, &bad) != MJ_OK || !t.has_res)
        return 0;
    mj_entry *e = t.entry;
    if (e == NULL || !e->has_nick)
        return 0;
    return mj_nick_equal(t.raw_res.ptr, t.raw_res.len, e->nick, e->nick_len);
}

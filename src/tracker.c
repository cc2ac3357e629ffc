/* The public front: names, configuration, the tracker's life, feeding
 * (which dispatches to joins.c), the tick (timeouts, self-ping) and the
 * queries. It sits on every other layer and nothing calls into it
 * (docs/design.md, "Layers"). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "env.h"
#include "hash.h"
#include "jid.h"
#include "joins.h"
#include "leaves.h"
#include "messages.h"
#include "mentions_impl.h"
#include "owed.h"
#include "selfping.h"
#include "store.h"

#define OPT(field, type, def, doc, positive, max)                             \
    {                                                                         \
#field, type, def, offsetof(mj_config, field), doc, positive, max     \
    }

/* The one list of options: mj_config_init() takes its defaults from here,
 * the Lua binding and module, and the replay tool, their names, defaults
 * and help. */
static const mj_option options[] = {
    OPT(max_rooms, MJ_OPT_SIZE, 1000, "joined rooms per session", 1, 0),
    OPT(max_pending, MJ_OPT_SIZE, 1000, "pending joins per session", 1, 0),
    OPT(pending_timeout, MJ_OPT_SECONDS, 120,
        "seconds before a pending join, nick change or leave expires", 1, 0),
    OPT(legacy_joins, MJ_OPT_BOOL, 0, "track joins sent without the MUC <x/>",
        0, 0),
    OPT(self_ping, MJ_OPT_BOOL, 1,
        "ask for self-pings (XEP-0410) when membership is unclear", 0, 0),
    OPT(ping_start_delay, MJ_OPT_SECONDS, 10,
        "seconds after a link loss before its rooms are pinged", 0, 0),
    OPT(ping_timeout, MJ_OPT_SECONDS, 60, "seconds a ping's answer is awaited",
        1, 0),
    OPT(ping_backoff, MJ_OPT_SECONDS, 30,
        "seconds before the first retry after an unknown answer; doubles "
        "each retry",
        0, 0),
    /* a retry count, not a bound: past 1000 the backoff is a day anyway */
    OPT(ping_retries, MJ_OPT_UINT, 3, "unknown answers retried", 0, 1000),
    OPT(ping_budget, MJ_OPT_SIZE, 20, "pings outstanding per remote domain", 1,
        0),
};

const mj_option *mj_config_options(size_t *n)
{
    if (n != NULL)
        *n = sizeof options / sizeof options[0];
    return options;
}

void mj_config_init(mj_config *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    for (i = 0; i < sizeof options / sizeof options[0]; i++) {
        const mj_option *o = &options[i];
        void *f = (char *)cfg + o->offset;

        switch (o->type) {
        case MJ_OPT_SIZE:
            *(size_t *)f = (size_t)o->def;
            break;
        case MJ_OPT_UINT:
            *(unsigned *)f = (unsigned)o->def;
            break;
        case MJ_OPT_SECONDS:
            *(double *)f = o->def;
            break;
        case MJ_OPT_BOOL:
            *(int *)f = o->def != 0;
            break;
        }
    }
}

/* The length of a prefix (mj_config.option_prefix; NULL: 0), or
 * MJ_OPTION_PREFIX_MAX + 1 for a longer one (read no further). */
static size_t prefix_len(const char *p)
{
    size_t n = 0;
    while (p != NULL && p[n] != '\0' && n <= MJ_OPTION_PREFIX_MAX)
        n++;
    return n;
}

static int config_apply(mj_tracker *tr, const mj_config *cfg)
{
    size_t plen = prefix_len(cfg->option_prefix);
    if (!(cfg->pending_timeout >= 0) || !(cfg->ping_start_delay >= 0) ||
        !(cfg->ping_timeout >= 0) || !(cfg->ping_backoff >= 0) ||
        plen > MJ_OPTION_PREFIX_MAX)
        return MJ_EINVAL;
    /* copied first: cfg may be a copy of tr->cfg pointing at the copy */
    memmove(tr->option_prefix, plen > 0 ? cfg->option_prefix : "", plen);
    tr->option_prefix[plen] = '\0';
    mj_alloc_fn old_alloc = tr->cfg.alloc;
    void *old_ud = tr->cfg.alloc_ud;
    tr->cfg = *cfg;
    if (old_alloc != NULL) { /* the allocator of a live tracker stays */
        tr->cfg.alloc = old_alloc;
        tr->cfg.alloc_ud = old_ud;
    } else if (tr->cfg.alloc == NULL) {
        tr->cfg.alloc = mj_default_alloc;
    }
    if (tr->cfg.clock == NULL)
        tr->cfg.clock = mj_default_clock;
    tr->cfg.option_prefix = plen > 0 ? tr->option_prefix : NULL;
    return MJ_OK;
}

int mj_tracker_new(const mj_config *cfg, mj_tracker **out)
{
    mj_config def;
    if (out == NULL)
        return MJ_EINVAL;
    *out = NULL;
    if (cfg == NULL) {
        mj_config_init(&def);
        cfg = &def;
    }
    mj_alloc_fn af = cfg->alloc ? cfg->alloc : mj_default_alloc;
    mj_tracker *tr = af(cfg->alloc_ud, NULL, 0, sizeof *tr);
    if (tr == NULL)
        return MJ_ENOMEM;
    memset(tr, 0, sizeof *tr);
    tr->cfg.alloc = af;
    tr->cfg.alloc_ud = cfg->alloc_ud;
    int rc = config_apply(tr, cfg);
    if (rc != MJ_OK) {
        af(cfg->alloc_ud, tr, sizeof *tr, 0);
        return rc;
    }
    tr->bytes = sizeof *tr;
    tr->epoch = mj_now(tr);
    tr->hooks.ping_state = mj_ping_state_changed;
    tr->hooks.ping_drop = mj_ping_drop;
    if (mj_hkey_random(&tr->key) == MJ_HKEY_WEAK)
        mj_log(tr, MJ_LOG_WARN,
               "no random source (getrandom, /dev/urandom): the hash key "
               "is guessable, and so are colliding room JIDs");
    tr->nicks.key = tr->key;
    *out = tr;
    return MJ_OK;
}

int mj_tracker_configure(mj_tracker *tr, const mj_config *cfg)
{
    if (tr == NULL || cfg == NULL)
        return MJ_EINVAL;
    if (MJ_IN_HOOK(tr))
        return MJ_EBUSY;
    double old_timeout = tr->cfg.pending_timeout;
    mj_clock_fn old_clock = tr->cfg.clock;
    void *old_clock_ud = tr->cfg.clock_ud;
    double old_now = mj_now(tr);
    size_t old_max_rooms = tr->cfg.max_rooms;
    int rc = config_apply(tr, cfg);
    if (rc != MJ_OK)
        return rc;
    if (tr->cfg.max_rooms < old_max_rooms && tr->leaves.count != 0)
        mj_leaves_bound(tr); /* the leaves owed, to the new bound */
    if (tr->cfg.clock != old_clock || tr->cfg.clock_ud != old_clock_ud)
        mj_store_rebase(tr, old_now, mj_now(tr));
    /* Every open state's deadline is its start + pending_timeout: a new
     * timeout moves them all by the same amount, which keeps the timer
     * list in deadline order (appending later ones stays right). From or
     * to an infinite timeout the starts are not known: every wait starts
     * again now (the same deadline for all keeps the order too). */
    double delta = tr->cfg.pending_timeout - old_timeout;
    if (delta != 0 && isfinite(delta)) {
        for (mj_aux *a = tr->thead; a != NULL; a = a->tnext)
            a->deadline += delta;
    } else if (delta != 0) { /* also NaN: infinite both times */
        double d = mj_now(tr) + tr->cfg.pending_timeout;
        for (mj_aux *a = tr->thead; a != NULL; a = a->tnext)
            a->deadline = d;
    }
    if (delta != 0) { /* what rooms owe closed sessions lasts as long, */
        mj_owed_retime(&tr->owed, delta, mj_now(tr) + tr->cfg.pending_timeout);
        /* and what was learnt of gone domains */
        mj_learned_retime(tr, delta, mj_now(tr) + tr->cfg.pending_timeout);
    }
    mj_pings_configured(tr);
    return MJ_OK;
}

void mj_tracker_free(mj_tracker *tr)
{
    if (tr == NULL || MJ_IN_HOOK(tr))
        return;
    for (size_t i = 0; i < tr->sessions.cap; i++)
        if (tr->sessions.slots[i] != NULL)
            mj_session_free(tr->sessions.slots[i]);
    mj_table_free(tr, &tr->sessions);
    mj_owed_free(tr, &tr->owed);
    mj_leaves_free(tr); /* the sessions' records went with them */
    mj_table_free(tr, &tr->rooms);
    mj_pings_free(tr);
    mj_aux_ids_free(tr);
    mj_body_cache_free(tr, &tr->body);
    mj_nick_cache_free(tr, &tr->nicks);
    mj_ref_cache_free(tr);
    tr->cfg.alloc(tr->cfg.alloc_ud, tr, sizeof *tr, 0);
}

void mj_tracker_stats(const mj_tracker *tr, mj_stats *out)
{
    if (out == NULL)
        return;
    if (tr == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = tr->st;
    out->sessions = tr->sessions.count;
    out->distinct_rooms = tr->rooms.count;
    out->bytes = tr->bytes;
    out->pings_outstanding = tr->outstanding;
    out->leaves_owed = tr->leaves.count - tr->leaves.sent - tr->leaves.done;
    out->leaves_waiting = tr->leaves.sent + tr->leaves.done;
    out->leaves_answerable = tr->leaves.tried;
}

/* ---- feeding --------------------------------------------------------- */

/* Every field but the three lists, which are read only below their
 * counts (zeroed here): 256 of the view's bytes a builder clears for
 * nothing on every stanza (the binding builds a view per stanza it
 * reads). */
void mj_stanza_init(mj_stanza *st)
{
    if (st == NULL)
        return;
    memset(st, 0, offsetof(mj_stanza, status));
    memset(&st->nstatus, 0,
           offsetof(mj_stanza, delay_from) - offsetof(mj_stanza, nstatus));
    memset(&st->ndelay, 0,
           offsetof(mj_stanza, mention_uri) - offsetof(mj_stanza, ndelay));
    memset(&st->nmentions, 0, sizeof *st - offsetof(mj_stanza, nmentions));
}

/* Check the arguments; the decision writes the outcome first thing
 * (mj_joins_outgoing, mj_joins_incoming), so it writes to the caller's
 * directly. */
static int feed_ok(const mj_session *s, const mj_stanza *st, mj_outcome *out)
{
    if (s != NULL && st != NULL && st->nstatus <= MJ_MAX_STATUS)
        return 1;
    if (out)
        *out = MJ_O_UNCHANGED;
    return 0;
}

/* feed_ok()'s answer as an error code: MJ_OK, MJ_EINVAL or MJ_EBUSY. */
static int feed_check(const mj_session *s, const mj_stanza *st,
                      mj_outcome *out)
{
    if (!feed_ok(s, st, out))
        return MJ_EINVAL;
    if (MJ_IN_HOOK(s->tr)) {
        if (out)
            *out = MJ_O_UNCHANGED;
        return MJ_EBUSY;
    }
    return MJ_OK;
}

MJ_HOT int mj_session_outgoing(mj_session *s, const mj_stanza *st,
                               mj_outcome *out)
{
    mj_outcome o;
    int rc = feed_check(s, st, out);
    if (rc != MJ_OK)
        return rc;
    MJ_PREFETCH(s);
    return mj_joins_outgoing(s, st, out ? out : &o);
}

MJ_HOT int mj_session_incoming(mj_session *s, const mj_stanza *st,
                               mj_outcome *out)
{
    mj_outcome o;
    int rc = feed_check(s, st, out);
    if (rc != MJ_OK)
        return rc;
    MJ_PREFETCH(s);
    return mj_joins_incoming(s, st, out ? out : &o);
}

MJ_HOT int mj_tracker_incoming(mj_tracker *tr, const char *full_jid,
                               size_t len, const mj_stanza *st,
                               mj_session **session, mj_outcome *out)
{
    char buf[MJ_FULL_JID_CAP];
    size_t plen;
    uint64_t h;
    mj_session *s = NULL;
    mj_outcome o = MJ_O_UNCHANGED;
    if (session)
        *session = NULL;
    if (out)
        *out = MJ_O_UNCHANGED;
    if (tr == NULL || st == NULL || st->nstatus > MJ_MAX_STATUS)
        return MJ_EINVAL;
    if (MJ_IN_HOOK(tr))
        return MJ_EBUSY;
    int rc = mj_session_lookup(tr, full_jid, len, buf, &plen, &h, &s);
    if (rc != MJ_OK)
        return rc;
    if (s != NULL) {
        if (session)
            *session = s;
        return mj_session_incoming(s, st, out);
    }
    rc = mj_joins_incoming_unknown(tr, buf, plen, st, &o);
    if (out)
        *out = o;
    return rc;
}

/* A session is created for a stanza only when it can start tracking a
 * room, and kept only when it did: a session the tracker does not hold
 * (never joined anything, or already closed) must not come back to life
 * from what it sends after its close. Prosody sends a closed session's
 * unavailable presence after resource-unbind: creating a session for it
 * would leave one behind for every disconnect, which nothing would ever
 * close. */
MJ_HOT int mj_tracker_outgoing(mj_tracker *tr, const char *full_jid,
                               size_t len, const mj_stanza *st,
                               mj_session **session, mj_outcome *out)
{
    char buf[MJ_FULL_JID_CAP];
    size_t plen;
    uint64_t h;
    mj_session *s = NULL;
    if (session)
        *session = NULL;
    if (out)
        *out = MJ_O_UNCHANGED;
    if (tr == NULL || st == NULL || st->nstatus > MJ_MAX_STATUS)
        return MJ_EINVAL;
    if (MJ_IN_HOOK(tr))
        return MJ_EBUSY;
    int rc = mj_session_lookup(tr, full_jid, len, buf, &plen, &h, &s);
    if (rc != MJ_OK)
        return rc;
    if (s != NULL) {
        if (session)
            *session = s;
        return mj_session_outgoing(s, st, out);
    }
    if (!mj_joins_may_start(tr, st)) {
        if (out)
            *out = MJ_O_IGNORED;
        return MJ_OK;
    }
    rc = mj_session_create(tr, full_jid, len, buf, plen, h, &s);
    if (rc != MJ_OK)
        return rc;
    rc = mj_session_outgoing(s, st, out);
    if (s->rooms.count == 0) {
        /* the join was refused (bound, JID) or failed for memory: no
         * entry, so no event either */
        mj_session_close(s);
        s = NULL;
    }
    if (session)
        *session = s;
    return rc;
}

void mj_tracker_tick(mj_tracker *tr)
{
    if (tr == NULL || MJ_IN_HOOK(tr))
        return;
    double now = mj_now(tr);
    while (tr->thead != NULL && tr->thead->deadline <= now)
        mj_joins_timeout(tr->thead->e);
    mj_owed_expire(tr, &tr->owed, now);
    mj_leaves_expire(tr, now);
    mj_pings_tick(tr, now);
}

void mj_tracker_send_ready(mj_tracker *tr)
{
    if (tr == NULL || MJ_IN_HOOK(tr))
        return;
    mj_pings_send_ready(tr, mj_now(tr));
}

/* ---- queries --------------------------------------------------------- */

static void fill_info(const mj_entry *e, mj_room_info *info)
{
    info->room = mj_str_of(mj_entry_room(e)->s, mj_entry_room(e)->len);
    info->state = (mj_state)e->state;
    info->nick = mj_entry_nick(e);
    /* LEAVING keeps a 303's announced nick for itself (joins.c), not to
     * show: pending_nick is PENDING/CHANGING's asked, EXPECTING's
     * announced nick */
    info->pending_nick =
        e->state == MJ_S_LEAVING ? mj_str_none() : mj_entry_pnick(e);
    info->since = mj_entry_since(e);
}

static const mj_entry *lookup(const mj_session *s, const char *room,
                              size_t len, int *rc)
{
    char bare[2 * MJ_PART_MAX + 2], res[MJ_PART_MAX + 1];
    size_t blen, rlen;
    *rc = MJ_EINVAL;
    if (s == NULL || room == NULL)
        return NULL;
    *rc = mj_jid_prep_split(room, len, bare, sizeof bare, &blen, res,
                            sizeof res, &rlen);
    if (*rc != MJ_OK)
        return NULL;
    *rc = MJ_ENOTFOUND;
    mj_istr *r = mj_room_find(s->tr, bare, blen, NULL);
    if (r == NULL)
        return NULL;
    const mj_entry *e = mj_entry_find(s, r);
    if (e == NULL || e->state == MJ_S_NONE)
        return NULL;
    *rc = MJ_OK;
    return e;
}

int mj_session_nick(const mj_session *s, const char *room, size_t len,
                    mj_str *nick)
{
    int rc;
    const mj_entry *e = lookup(s, room, len, &rc);
    if (nick)
        *nick = mj_str_none();
    if (e == NULL)
        return rc;
    if (!e->has_nick)
        return MJ_ENOTFOUND;
    if (nick)
        *nick = mj_entry_nick(e);
    return MJ_OK;
}

int mj_session_room(const mj_session *s, const char *room, size_t len,
                    mj_room_info *info)
{
    int rc;
    const mj_entry *e = lookup(s, room, len, &rc);
    if (e == NULL)
        return rc;
    if (info)
        fill_info(e, info);
    return MJ_OK;
}

int mj_session_next_room(const mj_session *s, size_t *cursor,
                         mj_room_info *info)
{
    if (s == NULL || cursor == NULL)
        return 0;
    while (*cursor < s->rooms.cap) {
        const mj_entry *e = mj_session_slot(s, (*cursor)++);
        if (e != NULL && e->state != MJ_S_NONE) {
            if (info)
                fill_info(e, info);
            return 1;
        }
    }
    return 0;
}

mj_session *mj_tracker_next_session(const mj_tracker *tr, size_t *cursor)
{
    if (tr == NULL || cursor == NULL)
        return NULL;
    while (*cursor < tr->sessions.cap) {
        mj_session *s = tr->sessions.slots[(*cursor)++];
        if (s != NULL)
            return s;
    }
    return NULL;
}

size_t mj_session_count(const mj_session *s, mj_state state)
{
    if (s == NULL)
        return 0;
    switch (state) {
    case MJ_S_PENDING:
        return s->n_pending;
    case MJ_S_JOINED:
        return s->n_shown - s->n_changing - s->n_leaving;
    case MJ_S_CHANGING:
    case MJ_S_EXPECTING:
        return s->n_changing;
    case MJ_S_LEAVING:
        return s->n_leaving;
    case MJ_S_NONE:
        return s->n_shown; /* everything shown */
    }
    return 0;
}

/* A nick a room's presence could show or a join ask: a resource that
 * prepares (mj_parse_target refuses the others), so not empty, UTF-8,
 * without NUL or any code point Resourceprep prohibits. */
static int restorable_nick(mj_str n)
{
    char out[MJ_PART_MAX + 1];
    size_t len;
    if (n.len == 0)
        return 0;
    return mj_res_plain(n.ptr, n.len) ||
           mj_prep_part(MJ_PROFILE_RESOURCE, n.ptr, n.len, out, sizeof out,
                        &len) == MJ_OK;
}

int mj_session_restore(mj_session *s, const char *room, size_t len,
                       mj_state state, mj_str nick, mj_str pending_nick,
                       double since)
{
    char bare[2 * MJ_PART_MAX + 2], res[MJ_PART_MAX + 1];
    size_t blen, rlen;
    uint64_t h;
    if (s == NULL || room == NULL || state <= MJ_S_NONE ||
        state > MJ_S_LEAVING)
        return MJ_EINVAL;
    if (MJ_IN_HOOK(s->tr))
        return MJ_EBUSY;
    int shown = state != MJ_S_PENDING;
    int has_pending = state == MJ_S_PENDING || state == MJ_S_CHANGING ||
                      state == MJ_S_EXPECTING;
    if ((shown && nick.ptr == NULL) || (has_pending && !pending_nick.ptr))
        return MJ_EINVAL;
    if ((shown && nick.len > MJ_PART_MAX) ||
        (has_pending && pending_nick.len > MJ_PART_MAX))
        return MJ_ETOOLONG;
    if ((shown && !restorable_nick(nick)) ||
        (has_pending && !restorable_nick(pending_nick)))
        return MJ_EJID;
    int rc = mj_jid_prep_split(room, len, bare, sizeof bare, &blen, res,
                               sizeof res, &rlen);
    if (rc != MJ_OK)
        return rc;
    /* as mj_parse_target: a key that would not find itself again (a
     * domain ending in "..", one with U+FF0F, a part of a soft hyphen).
     * Whether it has a node is the JID's as given (mj_jid_prep_split
     * split it already): a host-only "conf\uFF20x" prepares to "conf@x",
     * which has an '@' but is no node@host room (mj_parse_target refuses
     * it). */
    mj_str gn, gh, gr;
    if (mj_jid_split(room, len, &gn, &gh, &gr) != MJ_OK ||
        !mj_jid_bare_is_key(bare, blen, gn.ptr != NULL))
        return MJ_EJID;
    mj_istr *r = mj_room_find(s->tr, bare, blen, &h);
    mj_entry *e = r ? mj_entry_find(s, r) : NULL;
    int fresh = e == NULL;
    if (fresh && (e = mj_entry_create(s, r, bare, blen, h)) == NULL)
        return MJ_ENOMEM;
    /* Everything that allocates first, so that MJ_ENOMEM leaves a room
     * the session was in as it was, its self-ping too: room
     * for the shown nick, the mj_aux record (for the asked nick or a
     * timed state; trimmed below when neither needs it), the asked
     * nick. */
    mj_entry *moved = shown ? mj_entry_fit_nick(e, nick.ptr, nick.len) : e;
    if (moved != NULL)
        e = moved;
    if (moved == NULL || mj_entry_aux(e) != MJ_OK ||
        (has_pending &&
         mj_entry_set_pnick(e, pending_nick.ptr, pending_nick.len) != MJ_OK)) {
        if (fresh) {
            mj_entry_destroy(e);
        } else {
            mj_entry_unfit_nick(e); /* a record no nick shows */
            mj_entry_aux_trim(e);
        }
        return MJ_ENOMEM;
    }
    /* the restored state replaces whatever the pings were about: a late
     * answer must not end a room restored as PENDING (fuzz_tracker,
     * regress-restore-keeps-ping); the record stays for the state
     * (before the fix, dropping trimmed it, and the state's allocation then
     * failed unchecked) */
    mj_ping_forget(e);
    e = mj_entry_set_nick(e, shown ? nick.ptr : NULL, nick.len); /* fits */
    if (mj_entry_set_state(e, state) != MJ_OK) /* never: its record is */
        return MJ_ENOMEM;                      /* there */
    if (!has_pending) /* after the state: trims the record if unused */
        (void)mj_entry_set_pnick(e, NULL, 0);
    /* a restored join's id is not known: any answer is its answer, and
     * it is no rejoin's window */
    if (state == MJ_S_LEAVING) { /* the leave's id is not known either, */
        mj_entry_aux_of(e)->join_id = MJ_JOIN_ID_UNKNOWN;
        mj_entry_aux_of(e)->prev_join_id = 0; /* nor a join sent again */
        mj_entry_aux_of(e)->prev_more = 0;
    }
    if (state == MJ_S_CHANGING) /* a plain nick change: no join known */
        mj_entry_aux_of(e)->join_id = 0;
    if (state == MJ_S_PENDING) {
        mj_entry_aux_of(e)->join_id = MJ_JOIN_ID_UNKNOWN;
        mj_entry_aux_of(e)->prev_join_id = 0;
        mj_entry_aux_of(e)->prev_more = 0;
        mj_entry_aux_of(e)->retried = 0;
        mj_entry_aux_of(e)->retry_more = 0;
        e->owed = 0;
        e->held_back = 0;
        e->close_owed = 0;
        mj_entry_set_cancelled(e, 0);
    }
    /* a restored shown room is long past its join's history */
    e->live = shown;
    /* a time that is not a number (a corrupt save) is taken as now */
    mj_entry_set_since(e, isfinite(since) ? since : mj_now(s->tr));
    /* the session has state with the room again: a leave sent at the
     * next link up would take it out (leaves.h) */
    if (s->tr->leaves.count != 0)
        mj_leaves_clear(s->tr, s, bare, blen, 0, 0);
    return MJ_OK;
}

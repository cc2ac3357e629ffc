/* The tracker's storage: sessions, interned room JIDs, entries, the timer
 * list, events, queries. No protocol decision lives here (see joins.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "jid.h"

/* ---- allocator, log, clock ------------------------------------------- */

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static double default_clock(void *ud)
{
    struct timespec ts;
    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void *mj_alloc(struct mj_tracker *tr, size_t size)
{
    void *p = tr->cfg.alloc(tr->cfg.alloc_ud, NULL, 0, size);
    if (p != NULL)
        tr->bytes += size;
    return p;
}

void mj_free(struct mj_tracker *tr, void *p, size_t size)
{
    if (p == NULL)
        return;
    tr->cfg.alloc(tr->cfg.alloc_ud, p, size, 0);
    tr->bytes -= size;
}

char *mj_strdup(struct mj_tracker *tr, const char *p, size_t len)
{
    char *s = mj_alloc(tr, len + 1);
    if (s == NULL)
        return NULL;
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

double mj_now(struct mj_tracker *tr)
{
    return tr->cfg.clock(tr->cfg.clock_ud);
}

void mj_log(struct mj_tracker *tr, mj_log_level level, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    if (tr->cfg.log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tr->cfg.log(tr->cfg.log_ud, level, buf);
}

/* ---- names ------------------------------------------------------------- */

const char *mj_strerror(int err)
{
    switch (err) {
    case MJ_OK:
        return "success";
    case MJ_ENOMEM:
        return "out of memory";
    case MJ_EINVAL:
        return "invalid argument";
    case MJ_EJID:
        return "malformed JID";
    case MJ_ETOOLONG:
        return "JID part longer than 1023 bytes";
    case MJ_ENOTFOUND:
        return "not found";
    }
    return "unknown error";
}

const char *mj_error_name(int err)
{
    switch (err) {
    case MJ_OK:
        return "MJ_OK";
    case MJ_ENOMEM:
        return "MJ_ENOMEM";
    case MJ_EINVAL:
        return "MJ_EINVAL";
    case MJ_EJID:
        return "MJ_EJID";
    case MJ_ETOOLONG:
        return "MJ_ETOOLONG";
    case MJ_ENOTFOUND:
        return "MJ_ENOTFOUND";
    }
    return "MJ_EUNKNOWN";
}

const char *mj_reason_name(mj_reason r)
{
    static const char *const names[] = {
        "none",      "technical",   "shutdown",       "banned",
        "kicked",    "affiliation", "members-only",   "destroyed",
        "voluntary", "removed",     "session-closed", "left-unconfirmed",
        "ghost",     "error",       "timeout"};
    if ((unsigned)r < sizeof names / sizeof names[0])
        return names[r];
    return "unknown";
}

const char *mj_event_name(mj_event_type t)
{
    static const char *const names[] = {
        "none",           "joined",      "left",        "nick-changed",
        "nick-rewritten", "join-failed", "ping-needed", "mention"};
    if ((unsigned)t < sizeof names / sizeof names[0])
        return names[t];
    return "unknown";
}

const char *mj_outcome_name(mj_outcome o)
{
    static const char *const names[] = {"ignored",  "unchanged", "changed",
                                        "forged",   "bad-jid",   "limit",
                                        "ambiguous"};
    if ((unsigned)o < sizeof names / sizeof names[0])
        return names[o];
    return "unknown";
}

const char *mj_state_name(mj_state s)
{
    static const char *const names[] = {"none",     "pending",   "joined",
                                        "changing", "expecting", "leaving"};
    if ((unsigned)s < sizeof names / sizeof names[0])
        return names[s];
    return "unknown";
}

/* ---- tracker ------------------------------------------------------------ */

void mj_config_init(mj_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->max_rooms = 1000;
    cfg->max_pending = 64;
    cfg->pending_timeout = 120.0;
    cfg->self_ping = 1;
    cfg->ping_start_delay = 10.0;
    cfg->ping_timeout = 60.0;
    cfg->ping_backoff = 30.0;
    cfg->ping_retries = 3;
    cfg->ping_budget = 20;
}

static int config_apply(mj_tracker *tr, const mj_config *cfg)
{
    if (!(cfg->pending_timeout >= 0) || !(cfg->ping_start_delay >= 0) ||
        !(cfg->ping_timeout >= 0) || !(cfg->ping_backoff >= 0))
        return MJ_EINVAL;
    mj_alloc_fn old_alloc = tr->cfg.alloc;
    void *old_ud = tr->cfg.alloc_ud;
    tr->cfg = *cfg;
    if (old_alloc != NULL) { /* the allocator of a live tracker stays */
        tr->cfg.alloc = old_alloc;
        tr->cfg.alloc_ud = old_ud;
    } else if (tr->cfg.alloc == NULL) {
        tr->cfg.alloc = default_alloc;
    }
    if (tr->cfg.clock == NULL)
        tr->cfg.clock = default_clock;
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
    mj_alloc_fn af = cfg->alloc ? cfg->alloc : default_alloc;
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
    if (mj_hkey_random(&tr->key) == MJ_HKEY_WEAK)
        mj_log(tr, MJ_LOG_WARN,
               "no random source (getrandom, /dev/urandom): the hash key "
               "is guessable, and so are colliding room JIDs");
    *out = tr;
    return MJ_OK;
}

int mj_tracker_configure(mj_tracker *tr, const mj_config *cfg)
{
    if (tr == NULL || cfg == NULL)
        return MJ_EINVAL;
    double old_timeout = tr->cfg.pending_timeout;
    int rc = config_apply(tr, cfg);
    if (rc != MJ_OK)
        return rc;
    /* Every open state's deadline is its start + pending_timeout: a new
     * timeout moves them all by the same amount, which keeps the timer
     * list in deadline order (appending later ones stays right). */
    double delta = tr->cfg.pending_timeout - old_timeout;
    if (delta != 0)
        for (mj_aux *a = tr->thead; a != NULL; a = a->tnext)
            a->deadline += delta;
    mj_pings_configured(tr);
    return MJ_OK;
}

static void session_free(mj_session *s);

void mj_tracker_free(mj_tracker *tr)
{
    if (tr == NULL)
        return;
    for (size_t i = 0; i < tr->sessions.cap; i++)
        if (tr->sessions.slots[i] != NULL)
            session_free(tr->sessions.slots[i]);
    mj_table_free(tr, &tr->sessions);
    mj_table_free(tr, &tr->rooms);
    mj_pings_free(tr);
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
}

/* ---- interned rooms -------------------------------------------------- */

/* What a table lookup compares: the hash first, then the bytes. */
struct strkey {
    const char *p;
    size_t len;
    uint64_t hash;
};

/* A table slot holding exactly this item (to remove it). */
static int same_item(const void *item, const void *key)
{
    return item == key;
}

static uint64_t istr_hash(const void *item)
{
    return ((const mj_istr *)item)->hash;
}

static int istr_match(const void *item, const void *key)
{
    const mj_istr *r = item;
    const struct strkey *k = key;
    return r->hash == k->hash && r->len == k->len &&
           memcmp(r->s, k->p, k->len) == 0;
}

mj_istr *mj_room_find_hashed(struct mj_tracker *tr, const char *p, size_t len,
                             uint64_t hash)
{
    struct strkey k = {p, len, hash};
    size_t i = mj_table_find(&tr->rooms, hash, istr_match, &k);
    return i == (size_t)-1 ? NULL : tr->rooms.slots[i];
}

mj_istr *mj_room_find(struct mj_tracker *tr, const char *p, size_t len,
                      uint64_t *hash_out)
{
    uint64_t h = mj_siphash(&tr->key, p, len);
    if (hash_out)
        *hash_out = h;
    return mj_room_find_hashed(tr, p, len, h);
}

static void istr_release(mj_tracker *tr, mj_istr *r)
{
    if (--r->refs > 0)
        return;
    size_t i = mj_table_find(&tr->rooms, r->hash, same_item, r);
    if (i != (size_t)-1)
        mj_table_remove_at(&tr->rooms, i, istr_hash);
    r->dom->rooms--;
    mj_domain_release(tr, r->dom);
    mj_free(tr, r, sizeof *r + r->len + 1);
}

/* Does a prepared bare JID prepare to itself? (Nearly always; a JID
 * whose form is not a fixed point is still tracked, but always found
 * through preparation.) */
static int prepares_to_itself(const char *s, size_t len)
{
    char buf[2 * MJ_PART_MAX + 2];
    mj_str node, host, res;
    size_t n;
    return mj_jid_split(s, len, &node, &host, &res) == MJ_OK &&
           res.ptr == NULL &&
           mj_jid_prep_bare(node, host, buf, sizeof buf, &n) == MJ_OK &&
           n == len && memcmp(buf, s, len) == 0;
}

/* ---- entries ------------------------------------------------------------ */

static int entry_match(const void *item, const void *key)
{
    return ((const mj_entry *)item)->room == key;
}

static uint64_t entry_hash(const void *item)
{
    return ((const mj_entry *)item)->room->hash;
}

mj_entry *mj_entry_find(const mj_session *s, const mj_istr *room)
{
    size_t i = mj_table_find(&s->rooms, room->hash, entry_match, room);
    return i == (size_t)-1 ? NULL : s->rooms.slots[i];
}

/* Bytes of an entry with cap bytes for its nick: the whole rounded to 8
 * (malloc's granularity is 16: a nick of up to 9 bytes and its NUL fit in
 * a 48-byte entry, up to 17 bytes in 56). */
static size_t entry_size(size_t cap)
{
    return (offsetof(mj_entry, nick) + cap + 7) & ~(size_t)7;
}

static size_t cap_for(size_t nick_len)
{
    return entry_size(nick_len + 1) - offsetof(mj_entry, nick);
}

mj_entry *mj_entry_create(mj_session *s, mj_istr *r, const char *key,
                          size_t len, uint64_t hash, size_t nick_hint)
{
    size_t cap = cap_for(nick_hint <= MJ_PART_MAX ? nick_hint : 0);
    mj_tracker *tr = s->tr;
    if (mj_table_reserve(tr, &s->rooms, entry_hash) != MJ_OK)
        return NULL;
    mj_entry *e = mj_alloc(tr, entry_size(cap));
    if (e == NULL)
        return NULL;
    if (r == NULL) {
        if (mj_table_reserve(tr, &tr->rooms, istr_hash) != MJ_OK) {
            mj_free(tr, e, entry_size(cap));
            return NULL;
        }
        mj_domain *d = mj_domain_get(tr, key, len);
        r = d != NULL ? mj_alloc(tr, sizeof *r + len + 1) : NULL;
        if (r == NULL) {
            if (d != NULL)
                mj_domain_release(tr, d);
            mj_free(tr, e, entry_size(cap));
            return NULL;
        }
        d->rooms++;
        r->dom = d;
        r->hash = hash;
        r->refs = 0;
        r->len = (uint32_t)len & 0x7fffffff;
        memcpy(r->s, key, len);
        r->s[len] = '\0';
        r->fixed = prepares_to_itself(r->s, len);
        mj_table_insert(&tr->rooms, hash, r);
    }
    r->refs++;
    memset(e, 0, offsetof(mj_entry, nick));
    e->nick_cap = (uint16_t)cap;
    e->room = r;
    e->sess = s;
    e->state = MJ_S_NONE;
    e->since = mj_now(tr);
    mj_table_insert(&s->rooms, r->hash, e);
    return e;
}

static void timer_unlink(mj_tracker *tr, mj_aux *a)
{
    if (a->tprev)
        a->tprev->tnext = a->tnext;
    else if (tr->thead == a)
        tr->thead = a->tnext;
    if (a->tnext)
        a->tnext->tprev = a->tprev;
    else if (tr->ttail == a)
        tr->ttail = a->tprev;
    a->tprev = a->tnext = NULL;
}

static void timer_append(mj_tracker *tr, mj_aux *a)
{
    a->tprev = tr->ttail;
    a->tnext = NULL;
    if (tr->ttail)
        tr->ttail->tnext = a;
    else
        tr->thead = a;
    tr->ttail = a;
}

static void count_state(mj_session *s, mj_state st, int delta)
{
    mj_tracker *tr = s->tr;
    switch (st) {
    case MJ_S_PENDING:
        s->n_pending += (size_t)delta;
        tr->st.pending += (size_t)delta;
        break;
    case MJ_S_JOINED:
        s->n_shown += (size_t)delta;
        tr->st.rooms_shown += (size_t)delta;
        break;
    case MJ_S_CHANGING:
    case MJ_S_EXPECTING:
        s->n_shown += (size_t)delta;
        tr->st.rooms_shown += (size_t)delta;
        s->n_changing += (size_t)delta;
        tr->st.changing += (size_t)delta;
        break;
    case MJ_S_LEAVING:
        s->n_shown += (size_t)delta;
        tr->st.rooms_shown += (size_t)delta;
        s->n_leaving += (size_t)delta;
        tr->st.leaving += (size_t)delta;
        break;
    case MJ_S_NONE:
        break;
    }
}

static int timed(mj_state st)
{
    return st == MJ_S_PENDING || st == MJ_S_CHANGING || st == MJ_S_EXPECTING ||
           st == MJ_S_LEAVING;
}

int mj_entry_aux(mj_entry *e)
{
    if (e->aux != NULL)
        return MJ_OK;
    mj_aux *a = mj_alloc(e->sess->tr, sizeof *a);
    if (a == NULL)
        return MJ_ENOMEM;
    memset(a, 0, sizeof *a);
    a->e = e;
    e->aux = a;
    return MJ_OK;
}

void mj_entry_aux_trim(mj_entry *e)
{
    mj_aux *a = e->aux;
    if (a == NULL || timed((mj_state)e->state) || a->ping != NULL ||
        a->pnick != NULL)
        return;
    e->aux = NULL;
    mj_free(e->sess->tr, a, sizeof *a);
}

int mj_entry_set_state(mj_entry *e, mj_state state)
{
    mj_tracker *tr = e->sess->tr;
    if (timed(state) && mj_entry_aux(e) != MJ_OK)
        return MJ_ENOMEM;
    count_state(e->sess, (mj_state)e->state, -1);
    count_state(e->sess, state, +1);
    if (timed((mj_state)e->state))
        timer_unlink(tr, e->aux);
    e->state = (uint8_t)state;
    e->since = mj_now(tr);
    if (timed(state)) {
        e->aux->deadline = e->since + tr->cfg.pending_timeout;
        timer_append(tr, e->aux);
    } else {
        mj_entry_aux_trim(e);
    }
    mj_ping_state_changed(e);
    return MJ_OK;
}

/* The asked nick lives in e->aux (made on demand; freed when the entry
 * no longer needs it). */
int mj_entry_set_pnick(mj_entry *e, const char *p, size_t len)
{
    mj_tracker *tr = e->sess->tr;
    char *copy = NULL;
    if (p == NULL && e->aux == NULL)
        return MJ_OK;
    if (mj_entry_aux(e) != MJ_OK)
        return MJ_ENOMEM;
    if (p != NULL && (copy = mj_strdup(tr, p, len)) == NULL) {
        mj_entry_aux_trim(e);
        return MJ_ENOMEM;
    }
    mj_aux *a = e->aux;
    if (a->pnick)
        mj_free(tr, a->pnick, (size_t)a->pnick_len + 1);
    a->pnick = copy;
    a->pnick_len = copy ? (uint32_t)len : 0;
    if (copy == NULL)
        mj_entry_aux_trim(e);
    return MJ_OK;
}

/* Move e to a new allocation with cap bytes for its nick; every pointer
 * the tracker keeps to it follows. NULL on ENOMEM (e unchanged). */
static mj_entry *entry_move(mj_entry *e, size_t cap)
{
    mj_session *s = e->sess;
    mj_tracker *tr = s->tr;
    size_t i = mj_table_find(&s->rooms, e->room->hash, same_item, e);
    mj_entry *n = mj_alloc(tr, entry_size(cap));
    if (n == NULL)
        return NULL;
    memcpy(n, e, offsetof(mj_entry, nick));
    n->nick_cap = (uint16_t)cap;
    if (i != (size_t)-1)
        s->rooms.slots[i] = n;
    if (n->aux != NULL) {
        n->aux->e = n;
        if (n->aux->ping != NULL)
            n->aux->ping->e = n;
    }
    mj_free(tr, e, entry_size(e->nick_cap));
    return n;
}

mj_entry *mj_entry_set_nick(mj_entry *e, const char *p, size_t len)
{
    if (p == NULL) {
        e->has_nick = 0;
        e->nick_len = 0;
        return e;
    }
    if (len > MJ_PART_MAX)
        return NULL; /* never: nicks are checked before */
    if (len + 1 > e->nick_cap && (e = entry_move(e, cap_for(len))) == NULL)
        return NULL;
    memmove(e->nick, p, len);
    e->nick[len] = '\0';
    e->nick_len = (uint16_t)len;
    e->has_nick = 1;
    return e;
}

mj_entry *mj_entry_promote_nick(mj_entry *e)
{
    mj_str asked = mj_entry_pnick(e);
    if (asked.ptr == NULL)
        return e;
    mj_entry *n = mj_entry_set_nick(e, asked.ptr, asked.len);
    if (n != NULL)
        mj_entry_set_pnick(n, NULL, 0);
    return n;
}

static void entry_free(mj_entry *e)
{
    mj_tracker *tr = e->sess->tr;
    count_state(e->sess, (mj_state)e->state, -1);
    if (timed((mj_state)e->state))
        timer_unlink(tr, e->aux);
    e->state = MJ_S_NONE;
    mj_ping_drop(e);
    mj_entry_set_pnick(e, NULL, 0);
    mj_entry_aux_trim(e);
    istr_release(tr, e->room);
    mj_free(tr, e, entry_size(e->nick_cap));
}

void mj_entry_destroy(mj_entry *e)
{
    mj_session *s = e->sess;
    size_t i = mj_table_find(&s->rooms, e->room->hash, same_item, e);
    if (i != (size_t)-1)
        mj_table_remove_at(&s->rooms, i, entry_hash);
    entry_free(e);
}

void mj_emit(mj_entry *e, mj_event_type type, mj_reason reason,
             mj_str old_nick, mj_str condition, mj_str text, mj_str alt_venue)
{
    mj_tracker *tr = e->sess->tr;
    switch (type) {
    case MJ_EV_JOINED:
        tr->st.joins++;
        break;
    case MJ_EV_LEFT:
        tr->st.leaves++;
        break;
    case MJ_EV_JOIN_FAILED:
        tr->st.join_failures++;
        break;
    default:
        break;
    }
    if (tr->cfg.on_event == NULL)
        return;
    mj_event ev;
    ev.type = type;
    ev.session = e->sess;
    ev.session_jid = mj_str_of(e->sess->jid, e->sess->jid_len);
    ev.room = mj_str_of(e->room->s, e->room->len);
    ev.nick = e->has_nick ? mj_entry_nick(e) : mj_entry_pnick(e);
    ev.old_nick = old_nick;
    ev.reason = reason;
    ev.condition = condition;
    ev.text = text;
    ev.alt_venue = alt_venue;
    ev.from_nick = mj_str_none();
    ev.ping_id = mj_entry_ping(e) ? mj_entry_ping(e)->id : 0;
    tr->cfg.on_event(tr->cfg.event_ud, &ev);
}

void mj_emit_mention(mj_entry *e, mj_str from_nick)
{
    mj_tracker *tr = e->sess->tr;
    mj_event ev;
    tr->st.mentions++;
    if (tr->cfg.on_event == NULL)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = MJ_EV_MENTION;
    ev.session = e->sess;
    ev.session_jid = mj_str_of(e->sess->jid, e->sess->jid_len);
    ev.room = mj_str_of(e->room->s, e->room->len);
    ev.nick = mj_entry_nick(e);
    ev.from_nick = from_nick;
    tr->cfg.on_event(tr->cfg.event_ud, &ev);
}

/* ---- sessions --------------------------------------------------------- */

static int session_match(const void *item, const void *key)
{
    const mj_session *s = item;
    const struct strkey *k = key;
    return s->hash == k->hash && s->pjid_len == k->len &&
           memcmp(s->pjid, k->p, k->len) == 0;
}

static uint64_t session_hash(const void *item)
{
    return ((const mj_session *)item)->hash;
}

static int prep_full(const char *jid, size_t len, char *out, size_t cap,
                     size_t *out_len)
{
    if (jid == NULL)
        return MJ_EINVAL;
    return mj_jid_prep(jid, len, out, cap, out_len);
}

#define FULL_JID_CAP (3 * MJ_PART_MAX + 3)

/* Prepare jid into buf (FULL_JID_CAP bytes) and look it up: MJ_OK with
 * *found set (NULL if absent), or the preparation's error. */
static int session_lookup(mj_tracker *tr, const char *jid, size_t len,
                          char *buf, size_t *plen, uint64_t *h,
                          mj_session **found)
{
    *found = NULL;
    int rc = prep_full(jid, len, buf, FULL_JID_CAP, plen);
    if (rc != MJ_OK)
        return rc;
    struct strkey k = {buf, *plen, mj_siphash(&tr->key, buf, *plen)};
    *h = k.hash;
    size_t i = mj_table_find(&tr->sessions, *h, session_match, &k);
    if (i != (size_t)-1)
        *found = tr->sessions.slots[i];
    return MJ_OK;
}

int mj_session_find(mj_tracker *tr, const char *full_jid, size_t len,
                    mj_session **out)
{
    char buf[FULL_JID_CAP];
    size_t plen;
    uint64_t h;
    if (out == NULL || tr == NULL)
        return MJ_EINVAL;
    int rc = session_lookup(tr, full_jid, len, buf, &plen, &h, out);
    if (rc != MJ_OK)
        return rc;
    return *out ? MJ_OK : MJ_ENOTFOUND;
}

/* Create the session looked up by session_lookup() (prepared JID in
 * buf, plen bytes, hash h). */
static int session_create(mj_tracker *tr, const char *full_jid, size_t len,
                          const char *buf, size_t plen, uint64_t h,
                          mj_session **out)
{
    if (mj_table_reserve(tr, &tr->sessions, session_hash) != MJ_OK)
        return MJ_ENOMEM;
    mj_session *s = mj_alloc(tr, sizeof *s);
    if (s == NULL)
        return MJ_ENOMEM;
    memset(s, 0, sizeof *s);
    s->tr = tr;
    s->jid = mj_strdup(tr, full_jid, len);
    s->pjid = mj_strdup(tr, buf, plen);
    if (s->jid == NULL || s->pjid == NULL) {
        mj_free(tr, s->jid, s->jid ? len + 1 : 0);
        mj_free(tr, s->pjid, s->pjid ? plen + 1 : 0);
        mj_free(tr, s, sizeof *s);
        return MJ_ENOMEM;
    }
    s->jid_len = len;
    s->pjid_len = plen;
    s->hash = h;
    mj_table_insert(&tr->sessions, h, s);
    *out = s;
    return MJ_OK;
}

int mj_session_open(mj_tracker *tr, const char *full_jid, size_t len,
                    mj_session **out)
{
    char buf[FULL_JID_CAP];
    size_t plen;
    uint64_t h;
    if (out == NULL || tr == NULL)
        return MJ_EINVAL;
    int rc = session_lookup(tr, full_jid, len, buf, &plen, &h, out);
    if (rc != MJ_OK || *out != NULL)
        return rc;
    return session_create(tr, full_jid, len, buf, plen, h, out);
}

static void session_free(mj_session *s)
{
    mj_tracker *tr = s->tr;
    for (size_t i = 0; i < s->rooms.cap; i++)
        if (s->rooms.slots[i] != NULL)
            entry_free(s->rooms.slots[i]);
    mj_table_free(tr, &s->rooms);
    mj_free(tr, s->jid, s->jid_len + 1);
    mj_free(tr, s->pjid, s->pjid_len + 1);
    mj_free(tr, s, sizeof *s);
}

void mj_session_close(mj_session *s)
{
    if (s == NULL)
        return;
    mj_tracker *tr = s->tr;
    for (size_t i = 0; i < s->rooms.cap; i++) {
        mj_entry *e = s->rooms.slots[i];
        if (e != NULL && e->state != MJ_S_PENDING && e->state != MJ_S_NONE)
            mj_emit(e, MJ_EV_LEFT, MJ_R_SESSION_CLOSED, mj_str_none(),
                    mj_str_none(), mj_str_none(), mj_str_none());
    }
    size_t i = mj_table_find(&tr->sessions, s->hash, same_item, s);
    if (i != (size_t)-1)
        mj_table_remove_at(&tr->sessions, i, session_hash);
    session_free(s);
}

mj_str mj_session_jid(const mj_session *s)
{
    if (s == NULL)
        return mj_str_none();
    return mj_str_of(s->jid, s->jid_len);
}

/* ---- feeding --------------------------------------------------------- */

void mj_stanza_init(mj_stanza *st)
{
    if (st != NULL)
        memset(st, 0, sizeof *st);
}

/* Check the arguments, feed one direction, report the outcome. */
static int feed(mj_session *s, const mj_stanza *st, mj_outcome *out,
                int (*decide)(mj_session *, const mj_stanza *, mj_outcome *))
{
    mj_outcome o = MJ_O_UNCHANGED;
    if (out)
        *out = MJ_O_UNCHANGED;
    if (s == NULL || st == NULL || st->nstatus > MJ_MAX_STATUS)
        return MJ_EINVAL;
    MJ_PREFETCH(s);
    int rc = decide(s, st, &o);
    if (out)
        *out = o;
    return rc;
}

int mj_session_outgoing(mj_session *s, const mj_stanza *st, mj_outcome *out)
{
    return feed(s, st, out, mj_joins_outgoing);
}

int mj_session_incoming(mj_session *s, const mj_stanza *st, mj_outcome *out)
{
    return feed(s, st, out, mj_joins_incoming);
}

int mj_tracker_incoming(mj_tracker *tr, const char *full_jid, size_t len,
                        const mj_stanza *st, mj_session **session,
                        mj_outcome *out)
{
    char buf[FULL_JID_CAP];
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
    int rc = session_lookup(tr, full_jid, len, buf, &plen, &h, &s);
    if (rc != MJ_OK)
        return rc;
    if (s != NULL) {
        if (session)
            *session = s;
        return mj_session_incoming(s, st, out);
    }
    rc = mj_joins_incoming_unknown(tr, st, &o);
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
int mj_tracker_outgoing(mj_tracker *tr, const char *full_jid, size_t len,
                        const mj_stanza *st, mj_session **session,
                        mj_outcome *out)
{
    char buf[FULL_JID_CAP];
    size_t plen;
    uint64_t h;
    mj_session *s = NULL;
    if (session)
        *session = NULL;
    if (out)
        *out = MJ_O_UNCHANGED;
    if (tr == NULL || st == NULL || st->nstatus > MJ_MAX_STATUS)
        return MJ_EINVAL;
    int rc = session_lookup(tr, full_jid, len, buf, &plen, &h, &s);
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
    rc = session_create(tr, full_jid, len, buf, plen, h, &s);
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
    if (tr == NULL)
        return;
    double now = mj_now(tr);
    while (tr->thead != NULL && tr->thead->deadline <= now)
        mj_joins_timeout(tr->thead->e);
    mj_pings_tick(tr, now);
}

/* ---- queries --------------------------------------------------------- */

static void fill_info(const mj_entry *e, mj_room_info *info)
{
    info->room = mj_str_of(e->room->s, e->room->len);
    info->state = (mj_state)e->state;
    info->nick = mj_entry_nick(e);
    info->pending_nick = mj_entry_pnick(e);
    info->since = e->since;
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
        const mj_entry *e = s->rooms.slots[(*cursor)++];
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
    int shown = state != MJ_S_PENDING;
    int has_pending = state == MJ_S_PENDING || state == MJ_S_CHANGING ||
                      state == MJ_S_EXPECTING;
    if ((shown && nick.ptr == NULL) || (has_pending && !pending_nick.ptr))
        return MJ_EINVAL;
    if ((shown && nick.len > MJ_PART_MAX) ||
        (has_pending && pending_nick.len > MJ_PART_MAX))
        return MJ_ETOOLONG;
    int rc = mj_jid_prep_split(room, len, bare, sizeof bare, &blen, res,
                               sizeof res, &rlen);
    if (rc != MJ_OK)
        return rc;
    /* as mj_parse_target: a domain ending in ".." keeps a dot after
     * preparation, and that key would not find itself again */
    if (blen > 0 && bare[blen - 1] == '.')
        return MJ_EJID;
    mj_istr *r = mj_room_find(s->tr, bare, blen, &h);
    mj_entry *e = r ? mj_entry_find(s, r) : NULL;
    int fresh = e == NULL;
    if (fresh && (e = mj_entry_create(s, r, bare, blen, h,
                                      shown ? nick.len : 0)) == NULL)
        return MJ_ENOMEM;
    /* the restored state replaces whatever the pings were about: a late
     * answer must not end a room restored as PENDING (fuzz_tracker,
     * regress-restore-keeps-ping) */
    mj_ping_drop(e);
    mj_entry *moved = mj_entry_set_nick(e, shown ? nick.ptr : NULL, nick.len);
    if (moved != NULL)
        e = moved;
    if (moved == NULL ||
        mj_entry_set_pnick(e, has_pending ? pending_nick.ptr : NULL,
                           pending_nick.len) != MJ_OK) {
        if (fresh)
            mj_entry_destroy(e);
        return MJ_ENOMEM;
    }
    if (mj_entry_set_state(e, state) != MJ_OK) {
        if (fresh)
            mj_entry_destroy(e);
        return MJ_ENOMEM;
    }
    /* a restored shown room is long past its join's history */
    e->live = shown;
    e->since = since;
    return MJ_OK;
}

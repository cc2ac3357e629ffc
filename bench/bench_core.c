/*
 * bench_core - presence decisions per second and bytes per join of the
 * mucjoins core, on one core, through the public API only.
 *
 * The stream: N sessions, each joining R rooms picked from a pool of P
 * rooms (so room JIDs are shared between sessions). For every (session,
 * room) twelve presences, in three phases that each sweep all sessions
 * room by room (the way a busy server interleaves sessions):
 *
 *   join:     out join room/nick (MUC <x/>); in two other occupants'
 *             presences; in the self-presence (110)
 *   activity: in another occupant's update; out nick change room/nick2;
 *             in unavailable 303+110 (item nick=nick2); in available 110
 *             from room/nick2; in a forged 110 from a room never joined;
 *             in another occupant's unavailable
 *   leave:    out unavailable room/nick2; in unavailable 110
 *
 * Every presence is one decision (mj_session_outgoing/incoming). Each run
 * is timed three ways, side by side: the stream with session handles held
 * (what a C caller does), the same with mj_session_find() by full JID
 * before every stanza (what the Lua binding does), and a "null" pass that
 * builds the same stanza views but calls an empty function (the cost of
 * the bench loop itself, subtracted to give the net figures). Memory is
 * counted in the untimed warm-up pass only: after the activity phase
 * (every session in every room under its second nick) the allocator hook
 * gives the bytes held; the same tracker with sessions opened and no join
 * gives the per-session part. Timed passes use the hook as a plain
 * realloc/free.
 *
 * The bench checks its own stream: every join, nick change, forged
 * presence and leave must be counted by mj_tracker_stats() and the
 * consumer, and no room may be held after the leaves.
 *
 * usage: bench_core [--sessions N] [--rooms R] [--pool P] [--runs K]
 *                   [--only handles|lookup|null]
 * By default the stream runs at 1k, 10k and 100k sessions (time per
 * presence must stay flat) and the memory is reported for the largest;
 * --sessions N runs one size; --only runs a single pass (for callgrind).
 * Output: human-readable lines, and "key=value" lines starting with "@"
 * that scripts/bench.sh collects.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mucjoins.h"

#define MUC_DOMAIN    "conference.example.org"
#define FORGED_DOMAIN "evil.example"
#define MAX_ROOMS_PER 64
#define NPRES_PER     12 /* presences per (session, room) */

/* ---- allocator hook: bytes requested, live and peak, and what malloc
 * really holds (usable size + its 8-byte header) --------------------- */

#define HIST_MAX 4096

struct count {
    size_t live, peak, heap_live, heap_peak, allocs;
    size_t nlive;          /* allocations live */
    size_t hist[HIST_MAX]; /* live allocations by requested size */
    size_t hist_big;       /* bytes of live allocations >= HIST_MAX */
};

static void hist_add(struct count *c, size_t size, int delta)
{
    if (size < HIST_MAX)
        c->hist[size] += (size_t)delta;
    else
        c->hist_big += (size_t)delta * size;
}

/* Timed passes do not count (the bookkeeping below would be timed as the
 * tracker's cost): the hook is then a plain realloc/free, like the
 * tracker's default allocator. The memory figures come from a counting
 * pass of the same stream. */
static int counting;

static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct count *c = ud;
    if (!counting) {
        if (nsize == 0) {
            free(ptr);
            return NULL;
        }
        return realloc(ptr, nsize);
    }
    if (ptr != NULL) {
        c->live -= osize;
        c->heap_live -= malloc_usable_size(ptr) + 8;
        c->nlive--;
        hist_add(c, osize, -1);
    }
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        if (ptr != NULL) { /* ptr is intact: count it back */
            c->live += osize;
            c->heap_live += malloc_usable_size(ptr) + 8;
            c->nlive++;
            hist_add(c, osize, +1);
        }
        return NULL;
    }
    c->allocs++;
    c->nlive++;
    hist_add(c, nsize, +1);
    c->live += nsize;
    c->heap_live += malloc_usable_size(p) + 8;
    if (c->live > c->peak)
        c->peak = c->live;
    if (c->heap_live > c->heap_peak)
        c->heap_peak = c->heap_live;
    return p;
}

/* ---- the consumer: counts events like a module applying them ------- */

struct evcount {
    size_t joined, left, nick_changed, other;
};

static void on_event(void *ud, const mj_event *ev)
{
    struct evcount *e = ud;
    switch (ev->type) {
    case MJ_EV_JOINED:
        e->joined++;
        break;
    case MJ_EV_LEFT:
        e->left++;
        break;
    case MJ_EV_NICK_CHANGED:
        e->nick_changed++;
        break;
    default:
        e->other++;
        break;
    }
}

/* ---- the stream ------------------------------------------------------- */

struct world {
    size_t nsess, per, pool;
    char **rooms; /* pool bare room JIDs */
    size_t *room_len;
    char **sjids; /* session full JIDs */
    size_t *sjid_len;
    mj_session **sess;
};

static char *xstrdup(const char *s, size_t *len)
{
    *len = strlen(s);
    char *p = malloc(*len + 1);
    if (p == NULL) {
        fputs("bench_core: out of memory\n", stderr);
        exit(1);
    }
    memcpy(p, s, *len + 1);
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fputs("bench_core: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static void world_init(struct world *w, size_t nsess, size_t per, size_t pool)
{
    char buf[128];
    w->nsess = nsess;
    w->per = per;
    w->pool = pool;
    w->rooms = xcalloc(pool, sizeof *w->rooms);
    w->room_len = xcalloc(pool, sizeof *w->room_len);
    for (size_t i = 0; i < pool; i++) {
        snprintf(buf, sizeof buf, "room%zu@" MUC_DOMAIN, i);
        w->rooms[i] = xstrdup(buf, &w->room_len[i]);
    }
    w->sjids = xcalloc(nsess, sizeof *w->sjids);
    w->sjid_len = xcalloc(nsess, sizeof *w->sjid_len);
    w->sess = xcalloc(nsess, sizeof *w->sess);
    for (size_t i = 0; i < nsess; i++) {
        snprintf(buf, sizeof buf, "user%zu@example.org/phone-%zu", i, i % 7);
        w->sjids[i] = xstrdup(buf, &w->sjid_len[i]);
    }
}

static void world_free(struct world *w)
{
    for (size_t i = 0; i < w->pool; i++)
        free(w->rooms[i]);
    for (size_t i = 0; i < w->nsess; i++)
        free(w->sjids[i]);
    free(w->rooms);
    free(w->room_len);
    free(w->sjids);
    free(w->sjid_len);
    free(w->sess);
}

/* The j-th room of session s: distinct for j < R because the pool is
 * larger than R and smaller than the prime 104729. */
static size_t room_of(const struct world *w, size_t s, size_t j)
{
    return (s * 7919u + j * 104729u) % w->pool;
}

/* A JID room/nick written into buf. */
static mj_str occupant(char *buf, const char *room, size_t rlen,
                       const char *nick, size_t nlen)
{
    memcpy(buf, room, rlen);
    buf[rlen] = '/';
    memcpy(buf + rlen + 1, nick, nlen);
    mj_str r = {buf, rlen + 1 + nlen};
    return r;
}

static size_t nick_of(char *buf, size_t s, int second)
{
    /* decimal digits by hand: snprintf would dominate the loop */
    char tmp[24];
    size_t n = 0, o = 0;
    do {
        tmp[n++] = (char)('0' + s % 10);
        s /= 10;
    } while (s);
    memcpy(buf, second ? "Nick" : "nick", 4);
    o = 4;
    while (n)
        buf[o++] = tmp[--n];
    if (second) {
        memcpy(buf + o, "-2", 2);
        o += 2;
    }
    return o;
}

/* How a pass feeds the tracker. */
enum mode { M_HANDLES, M_LOOKUP, M_NULL };

struct feeder {
    enum mode mode;
    mj_tracker *tr;
    struct world *w;
    uint64_t decisions;
    uint64_t errors;
};

/* The null pass calls this through a volatile pointer, so the views are
 * built exactly as in the real passes. */
static int null_feed(mj_session *s, const mj_stanza *st, mj_outcome *o)
{
    (void)s;
    *o = (mj_outcome)(st->type + (st->to.len & 1));
    return MJ_OK;
}
static int (*volatile null_fn)(mj_session *, const mj_stanza *,
                               mj_outcome *) = null_feed;

static void feed(struct feeder *f, size_t si, int outgoing,
                 const mj_stanza *st)
{
    mj_outcome o;
    mj_session *s = f->w->sess[si];
    int rc;
    f->decisions++;
    switch (f->mode) {
    case M_NULL:
        rc = null_fn(s, st, &o);
        break;
    case M_LOOKUP:
        rc = mj_session_find(f->tr, f->w->sjids[si], f->w->sjid_len[si], &s);
        if (rc != MJ_OK)
            break;
        /* fall through */
    default:
        rc = outgoing ? mj_session_outgoing(s, st, &o)
                      : mj_session_incoming(s, st, &o);
        break;
    }
    if (rc != MJ_OK)
        f->errors++;
}

/* The views of the stream, built once: a caller reuses its view and sets
 * only what changes from stanza to stanza (from, to, item nick). */
enum {
    V_JOIN,
    V_OTHER,     /* another occupant's available presence */
    V_SELF,      /* available 110 */
    V_NICK,      /* nick change sent */
    V_303,       /* unavailable 303 + 110, item nick */
    V_OTHER_OFF, /* another occupant's unavailable */
    V_LEAVE,     /* unavailable sent */
    V_SELF_OFF,  /* unavailable 110 */
    NVIEWS
};

static mj_stanza views[NVIEWS];

static void views_init(void)
{
    for (int i = 0; i < NVIEWS; i++) {
        mj_stanza_init(&views[i]);
        views[i].kind = MJ_KIND_PRESENCE;
    }
    views[V_JOIN].has_muc_x = 1;
    views[V_OTHER].has_muc_user = 1;
    views[V_SELF].has_muc_user = 1;
    views[V_SELF].status[0] = 110;
    views[V_SELF].nstatus = 1;
    views[V_303].type = MJ_T_UNAVAILABLE;
    views[V_303].has_muc_user = 1;
    views[V_303].status[0] = 303;
    views[V_303].status[1] = 110;
    views[V_303].nstatus = 2;
    views[V_OTHER_OFF].type = MJ_T_UNAVAILABLE;
    views[V_OTHER_OFF].has_muc_user = 1;
    views[V_LEAVE].type = MJ_T_UNAVAILABLE;
    views[V_SELF_OFF].type = MJ_T_UNAVAILABLE;
    views[V_SELF_OFF].has_muc_user = 1;
    views[V_SELF_OFF].status[0] = 110;
    views[V_SELF_OFF].nstatus = 1;
}

static void out(struct feeder *f, size_t s, int v, mj_str to)
{
    views[v].to = to;
    feed(f, s, 1, &views[v]);
}

static void in(struct feeder *f, size_t s, int v, mj_str from)
{
    views[v].from = from;
    feed(f, s, 0, &views[v]);
}

static void phase_join(struct feeder *f)
{
    struct world *w = f->w;
    char a[256], nick[32];
    for (size_t j = 0; j < w->per; j++) {
        for (size_t s = 0; s < w->nsess; s++) {
            size_t r = room_of(w, s, j);
            const char *room = w->rooms[r];
            size_t rl = w->room_len[r], nl = nick_of(nick, s, 0);
            out(f, s, V_JOIN, occupant(a, room, rl, nick, nl));
            in(f, s, V_OTHER, occupant(a, room, rl, "firstwitch", 10));
            in(f, s, V_OTHER, occupant(a, room, rl, "secondwitch", 11));
            in(f, s, V_SELF, occupant(a, room, rl, nick, nl));
        }
    }
}

static void phase_activity(struct feeder *f)
{
    struct world *w = f->w;
    char a[256], forged[128], nick[32], nick2[32];
    size_t fl[MAX_ROOMS_PER];
    char fr[MAX_ROOMS_PER][32];
    for (size_t j = 0; j < w->per; j++)
        fl[j] =
            (size_t)snprintf(fr[j], sizeof fr[j], "fake%zu@" FORGED_DOMAIN, j);
    for (size_t j = 0; j < w->per; j++) {
        for (size_t s = 0; s < w->nsess; s++) {
            size_t r = room_of(w, s, j);
            const char *room = w->rooms[r];
            size_t rl = w->room_len[r];
            size_t nl = nick_of(nick, s, 0), n2l = nick_of(nick2, s, 1);

            in(f, s, V_OTHER, occupant(a, room, rl, "thirdwitch", 10));
            out(f, s, V_NICK, occupant(a, room, rl, nick2, n2l));
            views[V_303].item_nick.ptr = nick2;
            views[V_303].item_nick.len = n2l;
            in(f, s, V_303, occupant(a, room, rl, nick, nl));
            in(f, s, V_SELF, occupant(a, room, rl, nick2, n2l));
            /* forged: a self-presence from a room never joined */
            in(f, s, V_SELF, occupant(forged, fr[j], fl[j], nick, nl));
            in(f, s, V_OTHER_OFF, occupant(a, room, rl, "firstwitch", 10));
        }
    }
}

static void phase_leave(struct feeder *f)
{
    struct world *w = f->w;
    char a[256], nick2[32];
    for (size_t j = 0; j < w->per; j++) {
        for (size_t s = 0; s < w->nsess; s++) {
            size_t r = room_of(w, s, j);
            const char *room = w->rooms[r];
            size_t rl = w->room_len[r], n2l = nick_of(nick2, s, 1);
            out(f, s, V_LEAVE, occupant(a, room, rl, nick2, n2l));
            in(f, s, V_SELF_OFF, occupant(a, room, rl, nick2, n2l));
        }
    }
}

/* ---- one pass --------------------------------------------------------- */

struct result {
    double cpu, wall; /* seconds for the three phases */
    double phase_cpu[3];
    uint64_t decisions;
    /* memory, requested bytes (heap: what malloc holds) */
    size_t empty, with_sessions, all_joined, after_leave;
    size_t heap_with_sessions, heap_all_joined;
    size_t nlive_joined, nlive_sessions;
    size_t nick_bytes; /* stored nicks: len + 1 per join */
    size_t room_bytes; /* distinct room JIDs: len + 1 each */
    size_t distinct_rooms;
    /* live allocations the joins added, by requested size: the biggest
     * contributors (size, count), and the bytes of the others */
    size_t top_size[6], top_count[6], other_bytes;
};

static size_t hist_at_sessions[HIST_MAX];

/* Fill res->top_* with the sizes holding the most bytes in c->hist minus
 * the snapshot. */
static void top_allocs(const struct count *c, struct result *res)
{
    static size_t diff[HIST_MAX];
    size_t total = 0;
    for (size_t i = 0; i < HIST_MAX; i++) {
        diff[i] = c->hist[i] - hist_at_sessions[i];
        total += diff[i] * i;
    }
    for (int k = 0; k < 6; k++) {
        size_t best = 0;
        for (size_t i = 1; i < HIST_MAX; i++)
            if (diff[i] * i > diff[best] * best)
                best = i;
        res->top_size[k] = best;
        res->top_count[k] = diff[best];
        total -= diff[best] * best;
        diff[best] = 0;
    }
    res->other_bytes = total + c->hist_big;
}

static double now_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_core: %s\n", what);
    exit(1);
}

static void run_pass(struct world *w, enum mode mode, int count,
                     struct result *res)
{
    struct count c = {0};
    struct evcount ev = {0};
    mj_config cfg;
    mj_tracker *tr = NULL;
    mj_stats st;

    memset(res, 0, sizeof *res);
    counting = count;
    views_init();
    mj_config_init(&cfg);
    cfg.alloc = count_alloc;
    cfg.alloc_ud = &c;
    cfg.on_event = on_event;
    cfg.event_ud = &ev;
    cfg.max_pending = MAX_ROOMS_PER;
    if (mj_tracker_new(&cfg, &tr) != MJ_OK)
        die("cannot create a tracker");
    res->empty = c.live;
    for (size_t s = 0; s < w->nsess; s++)
        if (mj_session_open(tr, w->sjids[s], w->sjid_len[s], &w->sess[s]) !=
            MJ_OK)
            die("cannot open a session");
    res->with_sessions = c.live;
    res->heap_with_sessions = c.heap_live;
    res->nlive_sessions = c.nlive;
    memcpy(hist_at_sessions, c.hist, sizeof c.hist);

    struct feeder f = {mode, tr, w, 0, 0};
    double c0 = now_cpu(), w0 = now_wall();
    phase_join(&f);
    double c1 = now_cpu();
    phase_activity(&f);
    double c2 = now_cpu();
    res->all_joined = c.live;
    res->heap_all_joined = c.heap_live;
    res->nlive_joined = c.nlive;
    top_allocs(&c, res);
    mj_tracker_stats(tr, &st);
    res->distinct_rooms = st.distinct_rooms;
    size_t shown = st.rooms_shown;
    double c3 = now_cpu();
    phase_leave(&f);
    double c4 = now_cpu(), w4 = now_wall();
    res->after_leave = c.live;
    res->cpu = (c2 - c0) + (c4 - c3);
    res->wall = (w4 - w0) - (c3 - c2);
    res->phase_cpu[0] = c1 - c0;
    res->phase_cpu[1] = c2 - c1;
    res->phase_cpu[2] = c4 - c3;
    res->decisions = f.decisions;

    char nick2[32];
    for (size_t s = 0; s < w->nsess; s++)
        res->nick_bytes += (nick_of(nick2, s, 1) + 1) * w->per;
    for (size_t r = 0; r < w->pool; r++)
        res->room_bytes += w->room_len[r] + 1; /* every pool room is used
                                                  when nsess*per >> pool */

    if (f.errors)
        die("the tracker returned errors");
    if (mode != M_NULL) {
        /* the stream did what it says */
        size_t joins = w->nsess * w->per;
        mj_tracker_stats(tr, &st);
        if (shown != joins || st.joins != joins || st.leaves != joins ||
            ev.joined != joins || ev.left != joins ||
            ev.nick_changed != joins || st.forged != joins ||
            st.rooms_shown != 0 || st.distinct_rooms != 0) {
            fprintf(stderr,
                    "bench_core: stream check failed: shown %zu joins "
                    "%llu leaves %llu forged %llu nick changes %zu "
                    "(expected %zu each), after the leaves %zu shown, "
                    "%zu rooms held\n",
                    shown, (unsigned long long)st.joins,
                    (unsigned long long)st.leaves,
                    (unsigned long long)st.forged, ev.nick_changed, joins,
                    st.rooms_shown, st.distinct_rooms);
            exit(1);
        }
    }
    mj_tracker_free(tr);
    if (c.live != 0 || c.nlive != 0)
        die("memory still allocated after mj_tracker_free");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs of the three modes alternated, medians of the CPU seconds. */
struct measure {
    double handles, lookup, null_; /* median CPU seconds */
    double phase[3];               /* handles, per phase */
    uint64_t decisions;
    struct result mem;
};

static void measure(struct world *w, int runs, struct measure *m)
{
    double h[16], l[16], n[16], p[3][16];
    struct result r;
    if (runs > 16)
        runs = 16;
    /* a warm-up pass, not timed: the heap grows from the OS once (page
     * faults) and the CPU leaves its idle state; it counts the memory */
    run_pass(w, M_HANDLES, 1, &r);
    m->mem = r;
    for (int i = 0; i < runs; i++) {
        run_pass(w, M_NULL, 0, &r);
        n[i] = r.cpu;
        run_pass(w, M_HANDLES, 0, &r);
        h[i] = r.cpu;
        for (int k = 0; k < 3; k++)
            p[k][i] = r.phase_cpu[k];
        m->decisions = r.decisions;
        run_pass(w, M_LOOKUP, 0, &r);
        l[i] = r.cpu;
    }
    m->handles = median(h, runs);
    m->lookup = median(l, runs);
    m->null_ = median(n, runs);
    for (int k = 0; k < 3; k++)
        m->phase[k] = median(p[k], runs);
}

static void report(const char *tag, const struct world *w,
                   const struct measure *m)
{
    double d = (double)m->decisions;
    double net_h = m->handles - m->null_, net_l = m->lookup - m->null_;
    printf("%s: %zu sessions x %zu rooms (pool %zu): %llu decisions\n", tag,
           w->nsess, w->per, w->pool, (unsigned long long)m->decisions);
    printf("  handles held : %6.1f ns/presence gross, %6.1f net -> %.2f M "
           "decisions/s (net)\n",
           m->handles / d * 1e9, net_h / d * 1e9, d / net_h / 1e6);
    printf("  find by JID  : %6.1f ns/presence gross, %6.1f net -> %.2f M "
           "decisions/s (net); x%.2f the handles' cost\n",
           m->lookup / d * 1e9, net_l / d * 1e9, d / net_l / 1e6,
           net_l / net_h);
    printf("  loop only    : %6.1f ns/presence (subtracted above)\n",
           m->null_ / d * 1e9);
    printf("  per phase (handles, gross): join %.1f, activity %.1f, leave "
           "%.1f ns/presence\n",
           m->phase[0] / (d * 4 / NPRES_PER) * 1e9,
           m->phase[1] / (d * 6 / NPRES_PER) * 1e9,
           m->phase[2] / (d * 2 / NPRES_PER) * 1e9);
    printf("@%s.sessions=%zu\n@%s.rooms=%zu\n@%s.decisions=%llu\n", tag,
           w->nsess, tag, w->per, tag, (unsigned long long)m->decisions);
    printf("@%s.ns_handles_gross=%.2f\n@%s.ns_handles_net=%.2f\n", tag,
           m->handles / d * 1e9, tag, net_h / d * 1e9);
    printf("@%s.ns_lookup_gross=%.2f\n@%s.ns_lookup_net=%.2f\n", tag,
           m->lookup / d * 1e9, tag, net_l / d * 1e9);
    printf("@%s.ns_null=%.2f\n@%s.mdps_net=%.3f\n@%s.mdps_gross=%.3f\n", tag,
           m->null_ / d * 1e9, tag, d / net_h / 1e6, tag,
           d / m->handles / 1e6);
    printf("@%s.mdps_lookup_net=%.3f\n", tag, d / net_l / 1e6);
}

static void report_memory(const struct world *w, const struct result *r)
{
    size_t joins = w->nsess * w->per;
    double per_sess = (double)(r->with_sessions - r->empty) / (double)w->nsess;
    double jb = (double)(r->all_joined - r->with_sessions);
    double per_join_all = jb / (double)joins;
    double per_join =
        (jb - (double)r->nick_bytes - (double)r->room_bytes) / (double)joins;
    double heap_join =
        (double)(r->heap_all_joined - r->heap_with_sessions) / (double)joins;
    double allocs_join =
        (double)(r->nlive_joined - r->nlive_sessions) / (double)joins;
    printf("memory: %zu sessions, %zu joins, %zu distinct rooms (room JIDs "
           "shared: %.1f sessions per room string)\n",
           w->nsess, joins, r->distinct_rooms,
           (double)joins / (double)r->distinct_rooms);
    printf("  per session          : %.1f bytes (session, its JIDs, its "
           "table header)\n",
           per_sess);
    printf("  per join, everything : %.1f bytes requested (%.1f "
           "allocations live per join)\n",
           per_join_all, allocs_join);
    printf("  per join, w/o strings: %.1f bytes (target <= 64; strings: "
           "nick %.1f B/join, room JIDs %.2f B/join)\n",
           per_join, (double)r->nick_bytes / (double)joins,
           (double)r->room_bytes / (double)joins);
    printf("  per join, malloc heap: %.1f bytes (usable size + 8-byte chunk "
           "header)\n",
           heap_join);
    printf("  what the joins added, by allocation size (requested bytes):\n");
    for (int k = 0; k < 6 && r->top_count[k]; k++)
        printf("    %5zu B x %9zu = %6.1f B/join\n", r->top_size[k],
               r->top_count[k],
               (double)(r->top_size[k] * r->top_count[k]) / (double)joins);
    printf("    other sizes          %6.1f B/join\n",
           (double)r->other_bytes / (double)joins);
    printf("  total held           : %.1f MiB requested, %.1f MiB heap\n",
           (double)r->all_joined / 1048576.0,
           (double)r->heap_all_joined / 1048576.0);
    printf("  after all leaves     : %.1f bytes per session still held "
           "(room tables keep their capacity)\n",
           (double)(r->after_leave - r->empty) / (double)w->nsess);
    printf("@mem.per_session=%.2f\n@mem.per_join_all=%.2f\n"
           "@mem.per_join=%.2f\n@mem.heap_per_join=%.2f\n"
           "@mem.allocs_per_join=%.2f\n@mem.nick_per_join=%.2f\n"
           "@mem.room_per_join=%.3f\n@mem.distinct_rooms=%zu\n"
           "@mem.joins=%zu\n@mem.total_mib=%.1f\n"
           "@mem.after_leave_per_session=%.1f\n",
           per_sess, per_join_all, per_join, heap_join, allocs_join,
           (double)r->nick_bytes / (double)joins,
           (double)r->room_bytes / (double)joins, r->distinct_rooms, joins,
           (double)r->all_joined / 1048576.0,
           (double)(r->after_leave - r->empty) / (double)w->nsess);
}

static size_t arg_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0')
        die("bad number");
    return (size_t)v;
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {1000, 10000, 100000}, nsizes = 3, per = 20, pool = 0;
    int runs = 0;
    const char *only = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sessions") == 0 && i + 1 < argc) {
            sizes[0] = arg_size(argv[++i]);
            nsizes = 1;
        } else if (strcmp(argv[i], "--rooms") == 0 && i + 1 < argc) {
            per = arg_size(argv[++i]);
        } else if (strcmp(argv[i], "--pool") == 0 && i + 1 < argc) {
            pool = arg_size(argv[++i]);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = (int)arg_size(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: bench_core [--sessions N] [--rooms R] [--pool P] "
                    "[--runs K] [--only handles|lookup|null]\n");
            return 2;
        }
    }
    if (per == 0 || per > MAX_ROOMS_PER || sizes[0] == 0 || runs < 0)
        die("need 1 <= rooms <= 64, sessions >= 1");

    for (size_t k = 0; k < nsizes; k++) {
        struct world w;
        struct measure m;
        char tag[32];
        /* the room pool grows with the sessions: ~400 sessions per room
         * at every size, so only the number of sessions changes */
        size_t p = pool ? pool : sizes[k] / 20;
        if (p <= per)
            p = per + 1;
        if (p >= 104729)
            die("the pool must be below 104729");
        world_init(&w, sizes[k], per, p);
        if (only != NULL) { /* one pass, for callgrind */
            struct result r;
            enum mode md = strcmp(only, "lookup") == 0 ? M_LOOKUP
                           : strcmp(only, "null") == 0 ? M_NULL
                                                       : M_HANDLES;
            run_pass(&w, md, 0, &r);
            printf("@only.decisions=%llu\n", (unsigned long long)r.decisions);
            world_free(&w);
            continue;
        }
        memset(&m, 0, sizeof m);
        snprintf(tag, sizeof tag, "n%zu", sizes[k]);
        /* medians of 15 runs, 7 at 10k, 3 at 100k (timing is noisy on a
         * shared machine; callgrind gives the exact counts) */
        measure(&w,
                runs                 ? runs
                : sizes[k] >= 100000 ? 3
                : sizes[k] >= 10000  ? 7
                                     : 15,
                &m);
        report(tag, &w, &m);
        if (k + 1 == nsizes)
            report_memory(&w, &m.mem);
        world_free(&w);
        fflush(stdout);
    }
    return 0;
}

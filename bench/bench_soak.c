/*
 * bench_soak - a simulated week of uptime through the core's clock hook:
 * does the tracker's memory come back to where it was after churn?
 *
 * A tracker with a counting allocator (every byte it holds goes through
 * mj_config.alloc) and a fake clock. First the residents settle: R
 * sessions that stay all week, each in K rooms. That is the baseline
 * (bytes and live allocations). Then a week of 10-second steps, each
 * with a tick and a random mix of what a busy server sees: sessions
 * connecting and disconnecting (closing with rooms held), joins that are
 * confirmed, refused, or never answered (they time out), nick changes
 * (confirmed with 303 or never answered), leaves (confirmed or not),
 * kicks, forged self-presences, room destructions, messages with
 * mentions, lost links (real domains and fake ones), the self-pings they
 * cause answered (joined, not joined, unknown) or left to time out, and
 * the residents' own nick changes back and forth. Every day the bytes,
 * live allocations and counts are printed. At the end every visitor
 * disconnects, the residents change back to their first nick, the clock
 * runs past every timeout and backoff, and the bytes are compared to
 * the baseline. Back to the baseline means: the same state, the same
 * number of live allocations, and bytes that did not grow in a second
 * week of the same churn. Bytes may sit a little above the baseline
 * after the first week in the same allocations (capacity kept: an entry
 * keeps room for the longer nick it once had, a table the capacity it
 * grew to); the live allocations by size show what differs.
 *
 * usage: bench_soak [--days D] [--residents R] [--seed S]
 * Output: a daily line, the summary, and "@soak.key=value" lines for
 * scripts/bench.sh. Exit status 0 (a benchmark), the verdict is printed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mucjoins.h"

#define DOMAIN  "conference.example.org"
#define NROOMS  200 /* room JIDs on the MUC service */
#define NFAKE   50  /* rooms on a remote service whose link is lost */
#define VISITOR 400 /* visitor session slots */
#define STEP    10.0

/* ---- counting allocator ---------------------------------------------- */

#define HIST_MAX 65536
struct count {
    size_t live, peak, nlive, npeak;
    long hist[HIST_MAX]; /* live allocations by size (last: bigger) */
};

static void hist(struct count *c, size_t size, long d)
{
    c->hist[size < HIST_MAX ? size : HIST_MAX - 1] += d;
}

/* what differs between two histograms, as "size B: +n" */
static void hist_diff(const long *a, const long *b)
{
    int any = 0;
    for (size_t i = 0; i < HIST_MAX; i++)
        if (a[i] != b[i]) {
            printf("%s%zu B: %+ld", any ? ", " : " ", i, b[i] - a[i]);
            any = 1;
        }
    if (!any)
        printf(" none");
    printf("\n");
}

static long hist_base[HIST_MAX], hist_week1[HIST_MAX];

static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct count *c = ud;
    if (ptr != NULL) {
        c->live -= osize;
        c->nlive--;
        hist(c, osize, -1);
    }
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        if (ptr != NULL) {
            c->live += osize;
            c->nlive++;
            hist(c, osize, +1);
        }
        return NULL;
    }
    hist(c, nsize, +1);
    c->live += nsize;
    c->nlive++;
    if (c->live > c->peak)
        c->peak = c->live;
    if (c->nlive > c->npeak)
        c->npeak = c->nlive;
    return p;
}

/* ---- clock, events, randomness ------------------------------------------ */

static double now = 1000.0;
static double clock_fn(void *ud)
{
    (void)ud;
    return now;
}

/* pings asked and not answered yet: (session JID, room, ping id) */
struct ping {
    char jid[64];
    char room[64];
    char nick[32];
    uint32_t id;
};
#define MAXPINGS 4096
static struct ping pings[MAXPINGS];
static size_t npings;
static uint64_t nevents, nping_events;

static void on_event(void *ud, const mj_event *ev)
{
    (void)ud;
    nevents++;
    if (ev->type != MJ_EV_PING_NEEDED)
        return;
    nping_events++;
    if (npings == MAXPINGS)
        return; /* dropped: it will time out */
    struct ping *p = &pings[npings++];
    snprintf(p->jid, sizeof p->jid, "%.*s", (int)ev->session_jid.len,
             ev->session_jid.ptr);
    snprintf(p->room, sizeof p->room, "%.*s", (int)ev->room.len, ev->room.ptr);
    snprintf(p->nick, sizeof p->nick, "%.*s", (int)ev->nick.len,
             ev->nick.ptr ? ev->nick.ptr : "");
    p->id = ev->ping_id;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_soak: %s\n", what);
    exit(1);
}

/* ---- stanzas -------------------------------------------------------------
 */

static mj_str S(const char *p)
{
    mj_str s = {p, p ? strlen(p) : 0};
    return s;
}

static mj_stanza pres(mj_type type, const char *jid)
{
    mj_stanza st;
    mj_stanza_init(&st);
    st.kind = MJ_KIND_PRESENCE;
    st.type = type;
    st.from = S(jid);
    st.to = S(jid);
    return st;
}

static void out(mj_session *s, mj_stanza st)
{
    if (mj_session_outgoing(s, &st, NULL) != MJ_OK)
        die("outgoing");
}

static void in(mj_session *s, mj_stanza st)
{
    int rc = mj_session_incoming(s, &st, NULL);
    if (rc != MJ_OK && rc != MJ_ENOMEM)
        die("incoming");
}

static void self(mj_stanza *st, int code2)
{
    st->has_muc_user = 1;
    st->status[st->nstatus++] = 110;
    if (code2)
        st->status[st->nstatus++] = code2;
}

static const char *room_name(char *buf, size_t cap, uint32_t r)
{
    if (r < NROOMS)
        snprintf(buf, cap, "room%u@" DOMAIN, r);
    else
        snprintf(buf, cap, "far%u@muc.remote.example", r - NROOMS);
    return buf;
}

/* ---- the actors ------------------------------------------------------------
 */

struct actor {
    mj_session *s;
    char jid[64];
    char nick[2][32];
    int which; /* current nick */
};

static mj_tracker *tr;
static struct actor residents[4096], visitors[VISITOR];
static size_t nresidents, kper = 5;

static void occ(char *buf, size_t cap, const char *room, const char *nick)
{
    snprintf(buf, cap, "%s/%s", room, nick);
}

static void join_confirmed(struct actor *a, const char *room)
{
    char j[160];
    occ(j, sizeof j, room, a->nick[a->which]);
    mj_stanza st = pres(MJ_T_AVAILABLE, j);
    st.has_muc_x = 1;
    out(a->s, st);
    st = pres(MJ_T_AVAILABLE, j);
    self(&st, 0);
    in(a->s, st);
}

/* one random thing a visitor does in one room */
static void visitor_act(struct actor *a)
{
    char room[96], j[160], j2[160];
    uint32_t r = rnd(NROOMS + NFAKE);
    room_name(room, sizeof room, r);
    const char *nick = a->nick[a->which], *other = a->nick[!a->which];
    occ(j, sizeof j, room, nick);
    occ(j2, sizeof j2, room, other);
    mj_stanza st;
    switch (rnd(12)) {
    case 0: /* join confirmed */
    case 1:
        join_confirmed(a, room);
        break;
    case 2: /* join never answered: times out */
        st = pres(MJ_T_AVAILABLE, j);
        st.has_muc_x = 1;
        out(a->s, st);
        break;
    case 3: /* join refused */
        st = pres(MJ_T_AVAILABLE, j);
        st.has_muc_x = 1;
        out(a->s, st);
        st = pres(MJ_T_ERROR, j);
        st.error_type = S("cancel");
        st.error_condition = S("registration-required");
        in(a->s, st);
        break;
    case 4: /* nick change confirmed (303), or never answered */
        st = pres(MJ_T_AVAILABLE, j2);
        out(a->s, st);
        if (rnd(2)) {
            st = pres(MJ_T_UNAVAILABLE, j);
            self(&st, 303);
            st.item_nick = S(other);
            in(a->s, st);
            st = pres(MJ_T_AVAILABLE, j2);
            self(&st, 0);
            in(a->s, st);
            a->which = !a->which;
        }
        break;
    case 5: /* leave, confirmed or not */
        st = pres(MJ_T_UNAVAILABLE, j);
        out(a->s, st);
        if (rnd(2)) {
            st = pres(MJ_T_UNAVAILABLE, j);
            self(&st, 0);
            in(a->s, st);
        }
        break;
    case 6: /* kicked or banned */
        st = pres(MJ_T_UNAVAILABLE, j);
        self(&st, rnd(2) ? 307 : 301);
        in(a->s, st);
        break;
    case 7: /* a forged self-presence from a room never joined */
        snprintf(j2, sizeof j2, "forged%u@evil.example/%s", rnd(100000), nick);
        st = pres(MJ_T_AVAILABLE, j2);
        self(&st, 0);
        in(a->s, st);
        break;
    case 8: /* the room is destroyed */
        st = pres(MJ_T_UNAVAILABLE, j);
        self(&st, 0);
        st.has_destroy = 1;
        st.destroy_jid = S("elsewhere@" DOMAIN);
        st.destroy_reason = S("moving");
        in(a->s, st);
        break;
    case 9: /* a message mentioning the nick */
        mj_stanza_init(&st);
        st.kind = MJ_KIND_MESSAGE;
        st.type = MJ_T_GROUPCHAT;
        occ(j2, sizeof j2, room, "someone");
        st.from = S(j2);
        snprintf(j, sizeof j, "hey %s, look", nick);
        st.body = S(j);
        in(a->s, st);
        break;
    case 10: /* an ambiguous 303 (no item nick): a self-ping */
        st = pres(MJ_T_UNAVAILABLE, j);
        self(&st, 303);
        in(a->s, st);
        break;
    default: /* another occupant's presence */
        occ(j2, sizeof j2, room, "someone");
        st = pres(MJ_T_AVAILABLE, j2);
        st.has_muc_user = 1;
        in(a->s, st);
        break;
    }
}

/* answer (or drop) the pings asked so far */
static void answer_pings(int all_joined)
{
    for (size_t i = 0; i < npings; i++) {
        struct ping *p = &pings[i];
        mj_session *s;
        if (mj_session_find(tr, p->jid, strlen(p->jid), &s) != MJ_OK)
            continue; /* disconnected since */
        uint32_t k = all_joined ? 0 : rnd(4);
        if (k == 3)
            continue; /* no answer: our timeout */
        char from[160];
        occ(from, sizeof from, p->room, p->nick);
        mj_stanza st;
        mj_stanza_init(&st);
        st.kind = MJ_KIND_IQ;
        st.from = S(from);
        if (k == 0) {
            st.type = MJ_T_RESULT;
        } else {
            st.type = MJ_T_ERROR;
            st.error_type = S(k == 1 ? "cancel" : "wait");
            st.error_condition =
                S(k == 1 ? "not-acceptable" : "resource-constraint");
        }
        if (mj_session_ping_answer(s, p->id, &st, -1, NULL) != MJ_OK)
            die("ping answer");
    }
    npings = 0;
}

static void open_actor(struct actor *a, const char *kind, size_t i,
                       unsigned gen)
{
    snprintf(a->jid, sizeof a->jid, "%s%zu@example.org/res%u", kind, i, gen);
    snprintf(a->nick[0], sizeof a->nick[0], "%s%zu", kind, i);
    snprintf(a->nick[1], sizeof a->nick[1], "%s%zu-away", kind, i);
    a->which = 0;
    if (mj_session_open(tr, a->jid, strlen(a->jid), &a->s) != MJ_OK)
        die("session open");
}

/* a resident changes nick (and back later), confirmed */
static void resident_nick(struct actor *a, size_t k)
{
    char room[96], j[160], j2[160];
    room_name(room, sizeof room, (uint32_t)((a - residents) * 7 + k) % NROOMS);
    const char *nick = a->nick[a->which], *other = a->nick[!a->which];
    occ(j, sizeof j, room, nick);
    occ(j2, sizeof j2, room, other);
    out(a->s, pres(MJ_T_AVAILABLE, j2));
    mj_stanza st = pres(MJ_T_UNAVAILABLE, j);
    self(&st, 303);
    st.item_nick = S(other);
    in(a->s, st);
    st = pres(MJ_T_AVAILABLE, j2);
    self(&st, 0);
    in(a->s, st);
}

static void resident_all_nick(struct actor *a)
{
    for (size_t k = 0; k < kper; k++)
        resident_nick(a, k);
    a->which = !a->which;
}

int main(int argc, char **argv)
{
    double days = 7;
    nresidents = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--days") == 0)
            days = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--residents") == 0)
            nresidents = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--seed") == 0)
            rng = (uint64_t)atoll(argv[i + 1]) * 2654435761u + 1;
        else
            die("usage: bench_soak [--days D] [--residents R] [--seed S]");
    }
    if (nresidents > sizeof residents / sizeof residents[0])
        nresidents = sizeof residents / sizeof residents[0];

    static struct count c;
    mj_config cfg;
    mj_config_init(&cfg);
    cfg.alloc = count_alloc;
    cfg.alloc_ud = &c;
    cfg.clock = clock_fn;
    cfg.on_event = on_event;
    if (mj_tracker_new(&cfg, &tr) != MJ_OK)
        die("tracker");
    size_t empty = c.live, empty_n = c.nlive;

    /* the residents settle */
    for (size_t i = 0; i < nresidents; i++) {
        char room[96];
        open_actor(&residents[i], "resident", i, 0);
        for (size_t k = 0; k < kper; k++)
            join_confirmed(
                &residents[i],
                room_name(room, sizeof room, (uint32_t)(i * 7 + k) % NROOMS));
    }
    /* each resident changes nick and back once before the baseline: an
     * entry keeps room for the longest nick it has had, which a changing
     * resident would otherwise add during the week */
    for (size_t i = 0; i < nresidents; i++) {
        resident_all_nick(&residents[i]);
        resident_all_nick(&residents[i]);
    }
    mj_stats st0;
    mj_tracker_stats(tr, &st0);
    size_t base = c.live, base_n = c.nlive;
    memcpy(hist_base, c.hist, sizeof hist_base);
    printf("soak: %zu residents x %zu rooms settled: %zu bytes, %zu live "
           "allocations (empty tracker: %zu bytes, %zu allocations)\n",
           nresidents, kper, base, base_n, empty, empty_n);

    /* two weeks of churn, each settled at its end: after the first, the
     * bytes may exceed the baseline by what hash tables kept of the
     * capacity they grew to at the peak; after the second they must not
     * have grown further (memory bounded by the peak, not the uptime) */
    unsigned gen = 1;
    long steps = (long)(days * 86400 / STEP);
    uint64_t acts = 0;
    size_t peak_sessions = 0, after[2] = {0, 0}, after_n[2] = {0, 0};
    int same_state = 1;
    mj_stats s;
    for (int week = 0; week < 2; week++) {
        for (long t = 0; t < steps; t++) {
            now += STEP;
            /* visitors come and go */
            for (int k = 0; k < 4; k++) {
                struct actor *a = &visitors[rnd(VISITOR)];
                if (a->s == NULL) {
                    open_actor(a, "visitor", (size_t)(a - visitors), gen++);
                } else if (rnd(8) == 0) {
                    mj_session_close(a->s);
                    a->s = NULL;
                } else {
                    visitor_act(a);
                    acts++;
                }
            }
            /* residents change nick and back now and then */
            if (rnd(20) == 0)
                resident_all_nick(&residents[rnd((uint32_t)nresidents)]);
            /* lost links: the remote service (its rooms are visitors'),
             * or a fake domain nobody is in */
            if (rnd(360) == 0)
                mj_tracker_link_lost(tr, "muc.remote.example", 18);
            if (rnd(60) == 0) {
                char d[64];
                snprintf(d, sizeof d, "fake%u.example", rnd(1000000));
                mj_tracker_link_lost(tr, d, strlen(d));
            }
            mj_tracker_tick(tr);
            answer_pings(0);
            mj_tracker_stats(tr, &s);
            if (s.sessions > peak_sessions)
                peak_sessions = s.sessions;
            if ((t + 1) % (long)(86400 / STEP) == 0) {
                printf("  week %d day %ld: %zu bytes, %zu allocations; %zu "
                       "sessions, %zu rooms shown, %zu pending, %zu pings "
                       "outstanding; %llu joins, %llu pings sent so far\n",
                       week + 1, (t + 1) / (long)(86400 / STEP), c.live,
                       c.nlive, s.sessions, s.rooms_shown, s.pending,
                       s.pings_outstanding, (unsigned long long)s.joins,
                       (unsigned long long)s.pings_sent);
                fflush(stdout);
            }
        }
        /* the churn ends: visitors leave, residents take their first
         * nick, every timer and backoff runs out */
        for (size_t i = 0; i < VISITOR; i++)
            if (visitors[i].s) {
                mj_session_close(visitors[i].s);
                visitors[i].s = NULL;
            }
        for (size_t i = 0; i < nresidents; i++)
            if (residents[i].which)
                resident_all_nick(&residents[i]);
        for (int i = 0; i < 40; i++) {
            now += 86400;
            mj_tracker_tick(tr);
            answer_pings(1);
        }
        mj_tracker_stats(tr, &s);
        after[week] = c.live;
        after_n[week] = c.nlive;
        same_state = same_state && s.sessions == st0.sessions &&
                     s.rooms_shown == st0.rooms_shown && s.pending == 0 &&
                     s.pings_outstanding == 0;
        printf("soak: after week %d of churn, settled: %zu bytes (%+ld), "
               "%zu allocations (%+ld); %zu sessions, %zu rooms shown "
               "(baseline %zu, %zu), %zu pending, %zu pings outstanding\n",
               week + 1, after[week], (long)after[week] - (long)base,
               after_n[week], (long)after_n[week] - (long)base_n, s.sessions,
               s.rooms_shown, st0.sessions, st0.rooms_shown, s.pending,
               s.pings_outstanding);
        printf("soak:   live allocations by size, %s:",
               week ? "week 2 vs week 1" : "week 1 vs the baseline");
        hist_diff(week ? hist_week1 : hist_base, c.hist);
        memcpy(hist_week1, c.hist, sizeof hist_week1);
    }
    printf("soak: 2 x %.0f simulated days, %ld ticks, %llu visitor actions, "
           "%llu events (%llu pings asked), peak %zu sessions\n",
           days, 2 * steps, (unsigned long long)acts,
           (unsigned long long)nevents, (unsigned long long)nping_events,
           peak_sessions);
    printf("soak: bytes held: baseline %zu, peak %zu, after churn %zu / %zu "
           "(weeks 1 / 2); live allocations: baseline %zu, peak %zu, after "
           "%zu / %zu\n",
           base, c.peak, after[0], after[1], base_n, c.npeak, after_n[0],
           after_n[1]);
    /* close every session: the tracker must be back at empty */
    for (size_t i = 0; i < nresidents; i++)
        mj_session_close(residents[i].s);
    mj_tracker_tick(tr);
    size_t closed = c.live, closed_n = c.nlive;
    /* the closes leave what the rooms still owe the closed JIDs (owed.h)
     * for pending_timeout */
    now += cfg.pending_timeout + 1;
    mj_tracker_tick(tr);
    printf("soak: every session closed: %zu bytes, %zu allocations, most of "
           "them what rooms owe the closed sessions' JIDs; once that ran out "
           "(pending_timeout): %zu bytes, %zu allocations (empty tracker: "
           "%zu, %zu; the difference is table capacity kept)\n",
           closed, closed_n, c.live, c.nlive, empty, empty_n);
    /* back to the baseline: the same state, the same live allocations,
     * and bytes that did not grow in the second week (what the first
     * week left above the baseline is table capacity from the peak) */
    int ok = same_state && after_n[0] == base_n && after_n[1] == base_n &&
             after[1] <= after[0];
    printf("soak: verdict: %s (%ld bytes above it after week 1, in the "
           "same number of allocations: capacity kept from the peak, see "
           "the sizes above; week 2 added %ld)\n",
           ok ? "back to the baseline" : "**NOT back to the baseline**",
           (long)after[0] - (long)base, (long)after[1] - (long)after[0]);
    printf("@soak.days=%.0f\n@soak.base=%zu\n@soak.peak=%zu\n@soak.after=%zu\n"
           "@soak.after2=%zu\n@soak.base_n=%zu\n@soak.peak_n=%zu\n"
           "@soak.after_n=%zu\n@soak.closed=%zu\n@soak.empty=%zu\n"
           "@soak.ok=%d\n",
           days, base, c.peak, after[0], after[1], base_n, c.npeak, after_n[1],
           closed, empty, ok);
    mj_tracker_free(tr);
    if (c.live != 0 || c.nlive != 0)
        printf("soak: **leak**: %zu bytes in %zu allocations after "
               "mj_tracker_free\n",
               c.live, c.nlive);
    return 0;
}

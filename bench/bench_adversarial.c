/*
 * bench_adversarial - the worst case of every input the mucjoins core
 * reads, next to a typical input of the same size, through the public API
 * only (the target: "no input costs more than 10x a typical input of the
 * same size; the tick is O(what is due)").
 *
 * Each row is one input the core reads from strangers. It is fed as a
 * short cycle of stanzas that leaves the tracker as it found it (join,
 * the stanza, rejoin...), so the cycle can be repeated; the typical and
 * the adversarial cycle have the same shape, and the typical one is
 * padded (in parts of the stanza the core does not read, or as stated)
 * to the adversarial one's size in bytes. Sizes are the stanzas' XML
 * bytes, estimated from the view (the core never sees the XML). Cost per
 * stanza and per byte are given for both; ratio = adversarial cost per
 * byte / typical cost per byte; OK when <= 10, else OVER.
 *
 * The tick table: the cost of one mj_tracker_tick() with N tracked
 * things (settled entries, pending joins, resting or waiting self-pings,
 * pending link checks) and nothing due, or a fixed amount due, for
 * growing N. O(what is due) means flat in N: OK when the cost at the
 * largest N is <= 2x the cost at the smallest (the machine's noise), else
 * OVER (the growth is printed).
 *
 * How cost is measured (--mode):
 *   time      (default) CPU time of the thread, the minimum of several
 *             runs, the typical and the adversarial cycle alternating
 *             (side by side in one process: the shared machine slows
 *             both alike);
 *   cg-run    under valgrind --tool=callgrind --collect-atstart=no: each
 *             cycle is run with collection on and dumped under its label
 *             (CALLGRIND_DUMP_STATS_AT); prints nothing useful itself;
 *   counts F  prints the same tables from instruction counts (file F:
 *             "label instructions" lines, which scripts/bench.sh makes
 *             from the callgrind dumps). Exact: the figures to trust.
 *
 * usage: bench_adversarial [--mode time|cg-run|counts FILE] [--quick]
 *                          [--only ROWPREFIX]
 * Output: the tables, and "@key=value" lines for scripts/bench.sh. Exit
 * status 0 even when a row is OVER (a benchmark, not a test); the last
 * line says how many rows are OVER.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mucjoins.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(x) ((void)(x))
#endif

#define ROOM   "room@conference.example.org"
#define DOMAIN "conference.example.org"
#define USER   "juliet@example.org/balcony"
#define NICK   "juliet"

/* ---- small helpers ------------------------------------------------------ */

static void die(const char *what)
{
    fprintf(stderr, "bench_adversarial: %s\n", what);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

static mj_str S(const char *p)
{
    mj_str s = {p, p ? strlen(p) : 0};
    return s;
}

static mj_str SL(const char *p, size_t len)
{
    mj_str s = {p, len};
    return s;
}

/* A growing byte buffer for building inputs. */
struct buf {
    char *p;
    size_t len, cap;
};

static void bput(struct buf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            die("out of memory");
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void bputs(struct buf *b, const char *s)
{
    bput(b, s, strlen(s));
}

/* Repeat s until the buffer holds len bytes (cut at a character start). */
static char *repeat_to(const char *s, size_t len)
{
    struct buf b = {0};
    size_t n = strlen(s);
    while (b.len + n <= len)
        bput(&b, s, n);
    while (b.len < len)
        bput(&b, " ", 1);
    return b.p;
}

/* The worst text for canonical reordering: one letter, then k marks of
 * class 230 (U+0301), then k of class 220 (U+0316) that NFKC must move in
 * front of all of them. len bytes in all (2 bytes per mark). */
static char *marks_text(size_t len)
{
    struct buf b = {0};
    size_t k = (len - 1) / 4;
    bput(&b, "a", 1);
    for (size_t i = 0; i < k; i++)
        bput(&b, "\xcc\x81", 2);
    for (size_t i = 0; i < k; i++)
        bput(&b, "\xcc\x96", 2);
    while (b.len < len)
        bput(&b, "a", 1);
    return b.p;
}

/* The worst text that is still stream-safe (the core refuses a JID part
 * with a run of more than 30 non-starters, src/streamsafe.c): "a" and 30
 * marks alternating U+0316 (class 220) and U+0301 (class 230), which the
 * normaliser must reorder, repeated; len bytes in all. */
static char *marks30_text(size_t len)
{
    struct buf b = {0};
    while (b.len + 61 <= len) {
        bput(&b, "a", 1);
        for (int i = 0; i < 30; i++)
            bput(&b, i & 1 ? "\xcc\x81" : "\xcc\x96", 2);
    }
    while (b.len < len)
        bput(&b, "a", 1);
    return b.p;
}

/* Benign non-ASCII text of len bytes (Cyrillic prose). */
static char *cyrillic_text(size_t len)
{
    return repeat_to(
        "съешь же ещё этих мягких французских булок да выпей чаю ", len);
}

static char *ascii_text(size_t len)
{
    return repeat_to("the quick brown fox jumps over the lazy dog and "
                     "then some ",
                     len);
}

/* A JID node@domain/res with each part built by gen(part_len). */
static char *make_jid(char *(*gen)(size_t), size_t node, const char *domain,
                      size_t dom, size_t res)
{
    struct buf b = {0};
    char *p;
    if (node) {
        p = gen(node);
        bputs(&b, p);
        free(p);
        bputs(&b, "@");
    }
    if (domain)
        bputs(&b, domain);
    else {
        p = gen(dom);
        bputs(&b, p);
        free(p);
    }
    if (res) {
        bputs(&b, "/");
        p = gen(res);
        bputs(&b, p);
        free(p);
    }
    return b.p;
}

static char *ascii_part(size_t len)
{
    char *p = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)('a' + i % 26);
    p[len] = '\0';
    return p;
}

static char *cyr_part(size_t len)
{
    char *p = cyrillic_text(len);
    for (char *q = p; *q; q++)
        if (*q == ' ')
            *q = 'x';
    return p;
}

/* ---- the stanza's size -----------------------------------------------------
 */

/* XML bytes the view stands for, estimated: what a server would have
 * parsed to give the core this view. */
static size_t xml_bytes(const mj_stanza *st)
{
    size_t n = 40 + st->from.len + st->to.len + st->id.len;
    if (st->has_muc_x)
        n += 46;
    if (st->has_muc_user)
        n += 55;
    n += st->nstatus * 20;
    if (st->item_nick.ptr)
        n += 16 + st->item_nick.len;
    if (st->has_destroy)
        n += 30 + st->destroy_jid.len + st->destroy_reason.len;
    if (st->error_type.ptr || st->error_condition.ptr)
        n += 90 + st->error_type.len + st->error_condition.len +
             st->error_by.len;
    if (st->body.ptr)
        n += 13 + st->body.len;
    for (size_t i = 0; i < st->ndelay && i < MJ_MAX_DELAY; i++)
        n += 50 + st->delay_from[i].len;
    for (size_t i = 0; i < st->nmentions && i < MJ_MAX_REFS; i++)
        n += 80 + st->mention_uri[i].len;
    if (st->has_ping)
        n += 35;
    return n;
}

/* ---- the world: trackers, a clock, events ------------------------------- */

static double fake_now = 1000.0;
static double clock_fn(void *ud)
{
    (void)ud;
    return fake_now;
}

static uint32_t last_ping_id;
static size_t nevents, npings;
static void on_event(void *ud, const mj_event *ev)
{
    (void)ud;
    nevents++;
    if (ev->type == MJ_EV_PING_NEEDED) {
        last_ping_id = ev->ping_id;
        npings++;
    }
}

static mj_tracker *new_tracker(void)
{
    mj_config cfg;
    mj_tracker *tr = NULL;
    mj_config_init(&cfg);
    cfg.clock = clock_fn;
    cfg.on_event = on_event;
    cfg.max_rooms = 1000;
    if (mj_tracker_new(&cfg, &tr) != MJ_OK)
        die("mj_tracker_new");
    return tr;
}

static mj_session *open_session(mj_tracker *tr, const char *jid)
{
    mj_session *s = NULL;
    if (mj_session_open(tr, jid, strlen(jid), &s) != MJ_OK)
        die("mj_session_open");
    return s;
}

static mj_stanza pres(mj_type type, mj_str jid)
{
    mj_stanza st;
    mj_stanza_init(&st);
    st.kind = MJ_KIND_PRESENCE;
    st.type = type;
    st.from = jid;
    st.to = jid;
    return st;
}

static void feed_out(mj_session *s, const mj_stanza *st)
{
    if (mj_session_outgoing(s, st, NULL) != MJ_OK)
        die("mj_session_outgoing");
}

static void feed_in(mj_session *s, const mj_stanza *st)
{
    if (mj_session_incoming(s, st, NULL) != MJ_OK)
        die("mj_session_incoming");
}

/* room/nick written into a static-sized buffer */
static mj_str occ(char *buf, size_t cap, const char *room, const char *nick)
{
    int n = snprintf(buf, cap, "%s/%s", room, nick);
    if (n < 0 || (size_t)n >= cap)
        die("occupant JID too long");
    return SL(buf, (size_t)n);
}

/* Join room as nick: the join and the self-presence. */
static void join(mj_session *s, const char *room, const char *nick)
{
    char a[4096];
    mj_str j = occ(a, sizeof a, room, nick);
    mj_stanza st = pres(MJ_T_AVAILABLE, j);
    st.has_muc_x = 1;
    feed_out(s, &st);
    mj_stanza self = pres(MJ_T_AVAILABLE, j);
    self.has_muc_user = 1;
    self.status[0] = 110;
    self.nstatus = 1;
    feed_in(s, &self);
}

/* ---- a row: two cycles of stanzas --------------------------------------- */

/* One cycle: nst stanzas of bytes XML bytes in all, leaving the tracker
 * as it found it. */
struct cycle {
    const char *what;
    void (*fn)(struct cycle *);
    size_t nst;
    size_t bytes;
    /* what the cycle works on */
    mj_tracker *tr;
    mj_session *s;
    mj_stanza st[8];
    const char *str[4];
    size_t n;
};

enum mode { MODE_TIME, MODE_CG_RUN, MODE_COUNTS };
static enum mode mode = MODE_TIME;
static int quick;
static const char *only;

/* counts mode: label -> instructions */
struct countrec {
    char label[96];
    double ir;
};
static struct countrec *counts;
static size_t ncounts;

static void load_counts(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[256];
    size_t cap = 0;
    if (f == NULL)
        die("cannot read the counts file");
    while (fgets(line, sizeof line, f)) {
        char label[96];
        double ir;
        if (sscanf(line, "%95s %lf", label, &ir) != 2)
            continue;
        if (ncounts == cap) {
            cap = cap ? cap * 2 : 64;
            counts = realloc(counts, cap * sizeof *counts);
            if (counts == NULL)
                die("out of memory");
        }
        snprintf(counts[ncounts].label, sizeof counts[ncounts].label, "%s",
                 label);
        counts[ncounts++].ir = ir;
    }
    fclose(f);
}

static double count_of(const char *label)
{
    for (size_t i = 0; i < ncounts; i++)
        if (strcmp(counts[i].label, label) == 0)
            return counts[i].ir;
    return -1;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Repetitions of a cycle per timed run: about 2 ms of work. */
static unsigned calibrate(struct cycle *c)
{
    double t0 = cpu_now();
    c->fn(c);
    double t = cpu_now() - t0;
    if (t <= 0)
        t = 1e-7;
    double r = 0.002 / t;
    if (r < 1)
        return 1;
    if (r > 100000)
        return 100000;
    return (unsigned)r;
}

static double time_once(struct cycle *c, unsigned reps)
{
    double t0 = cpu_now();
    for (unsigned i = 0; i < reps; i++)
        c->fn(c);
    return (cpu_now() - t0) / reps;
}

#define CG_REPS 1

/* Under callgrind: each cycle once to warm up, then CG_REPS times
 * collected and dumped as one part labelled "label". */
static void cg_cycle(struct cycle *c, const char *label)
{
    /* a first run, collected: if it is long (over 1 s under valgrind),
     * first-call costs (ICU data, tables growing) are lost in it and it
     * is kept; a short one is a warm-up, zeroed, and run again */
    double t0 = cpu_now();
    CALLGRIND_TOGGLE_COLLECT;
    c->fn(c);
    CALLGRIND_TOGGLE_COLLECT;
    if (cpu_now() - t0 < 1.0) {
        CALLGRIND_ZERO_STATS;
        CALLGRIND_TOGGLE_COLLECT;
        for (int i = 0; i < CG_REPS; i++)
            c->fn(c);
        CALLGRIND_TOGGLE_COLLECT;
    }
    CALLGRIND_DUMP_STATS_AT(label);
}

/* The cost of a pair of cycles, per cycle: seconds (time) or instructions
 * (counts); -1 when unknown. */
static void cost_pair(const char *id, struct cycle *a, struct cycle *b,
                      double *ca, double *cb)
{
    char la[96], lb[96];
    snprintf(la, sizeof la, "%s.typ", id);
    snprintf(lb, sizeof lb, "%s.adv", id);
    *ca = *cb = -1;
    switch (mode) {
    case MODE_CG_RUN:
        cg_cycle(a, la);
        if (b)
            cg_cycle(b, lb);
        return;
    case MODE_COUNTS:
        *ca = count_of(la);
        if (*ca >= 0)
            *ca /= CG_REPS;
        if (b) {
            *cb = count_of(lb);
            if (*cb >= 0)
                *cb /= CG_REPS;
        }
        return;
    case MODE_TIME:
        break;
    }
    unsigned ra = calibrate(a), rb = b ? calibrate(b) : 0;
    /* slow cycles: fewer runs, so that the bench stays in minutes */
    double ta = time_once(a, ra), tb = b ? time_once(b, rb) : 0;
    int runs = quick ? 3 : 7;
    if (ta + tb > 0.2)
        runs = 3;
    for (int i = 0; i < runs; i++) {
        double x = time_once(a, ra);
        if (x < ta)
            ta = x;
        if (b) {
            double y = time_once(b, rb);
            if (y < tb)
                tb = y;
        }
    }
    *ca = ta;
    *cb = tb;
}

static int nover, nrows;

static const char *unit(void)
{
    return mode == MODE_COUNTS ? "instr" : "ns";
}

static double scale(double v)
{
    return mode == MODE_COUNTS ? v : v * 1e9;
}

static void table_head(void)
{
    printf("\n| input | typical (same size) | adversarial | bytes | %s "
           "per stanza: typ / adv | %s per byte: typ / adv | ratio | "
           "verdict |\n",
           unit(), unit());
    printf("|---|---|---|---|---|---|---|---|\n");
}

/* Measure and print one row. */
static void row(const char *id, const char *input, struct cycle *typ,
                struct cycle *adv)
{
    double ct, ca;
    if (only && strncmp(id, only, strlen(only)) != 0)
        return;
    if (typ->nst == adv->nst && typ->bytes < adv->bytes) {
        /* the typical cycle is padded to the adversarial one's size: the
         * padding is in parts the core does not read */
        typ->bytes = adv->bytes;
    }
    cost_pair(id, typ, adv, &ct, &ca);
    if (mode == MODE_CG_RUN)
        return;
    nrows++;
    if (ct <= 0 || ca < 0) {
        printf("| %s | %s | %s | %zu | ? | ? | ? | ? |\n", input, typ->what,
               adv->what, adv->bytes);
        return;
    }
    double st = scale(ct) / (double)typ->nst,
           sa = scale(ca) / (double)adv->nst;
    double bt = scale(ct) / (double)typ->bytes,
           ba = scale(ca) / (double)adv->bytes;
    double ratio = ba / bt;
    int over = ratio > 10.0;
    nover += over;
    printf("| %s | %s | %s | %zu | %.0f / %.0f | %.3f / %.3f | x%.1f | %s "
           "|\n",
           input, typ->what, adv->what, adv->bytes, st, sa, bt, ba, ratio,
           over ? "**OVER**" : "OK");
    printf("@adv.%s.typ=%.1f\n@adv.%s.adv=%.1f\n@adv.%s.ratio=%.2f\n", id, st,
           id, sa, id, ratio);
    fflush(stdout);
}

/* ---- presence: status codes ------------------------------------------------
 */

/* kicked with the codes of st[0], then rejoined: 3 stanzas */
static void cyc_kick(struct cycle *c)
{
    feed_in(c->s, &c->st[0]);
    feed_out(c->s, &c->st[1]);
    feed_in(c->s, &c->st[2]);
}

static void setup_kick(struct cycle *c, const char *what, const int *codes,
                       size_t ncodes)
{
    static char a[256];
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_kick;
    c->tr = new_tracker();
    c->s = open_session(c->tr, USER);
    join(c->s, ROOM, NICK);
    mj_str j = occ(a, sizeof a, ROOM, NICK);
    c->st[0] = pres(MJ_T_UNAVAILABLE, j);
    c->st[0].has_muc_user = 1;
    for (size_t i = 0; i < ncodes && i < MJ_MAX_STATUS; i++)
        c->st[0].status[c->st[0].nstatus++] = codes[i];
    c->st[1] = pres(MJ_T_AVAILABLE, j);
    c->st[1].has_muc_x = 1;
    c->st[2] = pres(MJ_T_AVAILABLE, j);
    c->st[2].has_muc_user = 1;
    c->st[2].status[0] = 110;
    c->st[2].nstatus = 1;
    c->nst = 3;
    c->bytes =
        xml_bytes(&c->st[0]) + xml_bytes(&c->st[1]) + xml_bytes(&c->st[2]);
}

static void free_cycle(struct cycle *c)
{
    mj_tracker_free(c->tr);
    for (int i = 0; i < 4; i++)
        free((void *)c->str[i]);
    memset(c, 0, sizeof *c);
}

static void rows_status(void)
{
    struct cycle t, a;
    static const int typ_codes[] = {110, 307};
    /* every strongest-first reason, repeated, unknown and out-of-range
     * codes: the most the view can carry (MJ_MAX_STATUS) */
    static const int adv_codes[MJ_MAX_STATUS] = {999, 100, 170, 201, 210, 301,
                                                 307, 321, 322, 332, 333, 110,
                                                 110, 999, 998, 333};
    setup_kick(&t, "kick: unavailable 110+307, rejoin", typ_codes, 2);
    setup_kick(&a, "16 codes (all reasons, repeated, unknown)", adv_codes,
               MJ_MAX_STATUS);
    row("status", "presence: status codes (3-stanza cycle)", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* ---- presence: items (nick change, 303) -----------------------------------
 */

/* 303 to nick2 and back: 6 stanzas */
static void cyc_nick(struct cycle *c)
{
    for (int i = 0; i < 6; i++) {
        if (i % 3 == 0)
            feed_out(c->s, &c->st[i]);
        else
            feed_in(c->s, &c->st[i]);
    }
}

static void setup_nick(struct cycle *c, const char *what, const char *nick2)
{
    static char a[3][4096], b[3][4096];
    static int k;
    char *A = a[k % 3], *B = b[k % 3];
    k++;
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_nick;
    c->tr = new_tracker();
    c->s = open_session(c->tr, USER);
    join(c->s, ROOM, NICK);
    mj_str j1 = occ(A, 4096, ROOM, NICK), j2 = occ(B, 4096, ROOM, nick2);
    mj_str n1 = S(NICK), n2 = S(nick2);
    mj_str from[2] = {j1, j2}, to[2] = {j2, j1}, newn[2] = {n2, n1};
    for (int d = 0; d < 2; d++) {
        mj_stanza *st = &c->st[3 * d];
        st[0] = pres(MJ_T_AVAILABLE, to[d]); /* nick change sent */
        st[1] = pres(MJ_T_UNAVAILABLE, from[d]);
        st[1].has_muc_user = 1;
        st[1].status[0] = 303;
        st[1].status[1] = 110;
        st[1].nstatus = 2;
        st[1].item_nick = newn[d];
        st[2] = pres(MJ_T_AVAILABLE, to[d]);
        st[2].has_muc_user = 1;
        st[2].status[0] = 110;
        st[2].nstatus = 1;
    }
    c->nst = 6;
    for (int i = 0; i < 6; i++)
        c->bytes += xml_bytes(&c->st[i]);
}

/* nick (resource) part generators */
static char *nick_marks;
static char *nick_cyr;
static char *nick_ascii;
static char *nick_m30;

static void rows_nick(void)
{
    struct cycle t, a, t2;
    setup_nick(&t, "nick change 303 to an ASCII nick", "romeo2");
    setup_nick(&t2, "the same, nick 1000 B Cyrillic", nick_cyr);
    setup_nick(&a,
               "nick 1021 B: a + 255 U+0316 + 255 U+0301 (refused: not "
               "stream-safe)",
               nick_marks);
    row("nick", "presence: nick change, item nick (6-stanza cycle) vs ASCII",
        &t, &a);
    /* t2 is same-size non-ASCII: rebuild a for a fair pair (fresh state) */
    free_cycle(&a);
    setup_nick(&a,
               "nick 1021 B: a + 255 U+0316 + 255 U+0301 (refused: not "
               "stream-safe)",
               nick_marks);
    row("nick-cyr",
        "presence: nick change, item nick (6-stanza cycle) vs Cyrillic", &t2,
        &a);
    free_cycle(&a);
    /* the refused nick above stops at its first long run: the worst nick
     * that prepares has its marks in runs of 30, broken by a letter */
    setup_nick(&a, "nick 1021 B: (a + 30 marks U+0316/U+0301) x16, prepares",
               nick_m30);
    row("nick-m30",
        "presence: nick change, stream-safe marks (6-stanza cycle) vs "
        "Cyrillic",
        &t2, &a);
    free_cycle(&t);
    free_cycle(&t2);
    free_cycle(&a);
}

/* ---- presence: destroy
 * ------------------------------------------------------- */

static void setup_destroy(struct cycle *c, const char *what, const char *jid,
                          const char *reason)
{
    setup_kick(c, what, NULL, 0);
    c->st[0].status[0] = 110;
    c->st[0].nstatus = 1;
    c->st[0].has_destroy = 1;
    c->st[0].destroy_jid = S(jid);
    c->st[0].destroy_reason = S(reason);
    c->bytes =
        xml_bytes(&c->st[0]) + xml_bytes(&c->st[1]) + xml_bytes(&c->st[2]);
}

static char *jid_marks, *jid_ascii, *jid_cyr, *jid_m30, *text64k;

static void rows_destroy(void)
{
    struct cycle t, a;
    setup_destroy(&t, "destroy, short venue and reason, rejoin", "new@" DOMAIN,
                  "moved");
    setup_destroy(&a, "venue JID 3x1021 B of marks, reason 64 KB", jid_marks,
                  text64k);
    row("destroy", "presence: destroy (3-stanza cycle)", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* ---- presence: join errors
 * --------------------------------------------------- */

/* a join to room2 refused with an error: 2 stanzas */
static void cyc_joinerr(struct cycle *c)
{
    feed_out(c->s, &c->st[0]);
    feed_in(c->s, &c->st[1]);
}

static void setup_joinerr(struct cycle *c, const char *what, const char *by,
                          const char *cond)
{
    static char a[2][256];
    static int k;
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_joinerr;
    c->tr = new_tracker();
    c->s = open_session(c->tr, USER);
    join(c->s, ROOM, NICK);
    mj_str j = occ(a[k++ % 2], 256, "room2@" DOMAIN, NICK);
    c->st[0] = pres(MJ_T_AVAILABLE, j);
    c->st[0].has_muc_x = 1;
    c->st[1] = pres(MJ_T_ERROR, j);
    c->st[1].error_type = S("cancel");
    c->st[1].error_condition = S(cond);
    c->st[1].error_by = S(by);
    c->nst = 2;
    c->bytes = xml_bytes(&c->st[0]) + xml_bytes(&c->st[1]);
}

static char *cond_long;

static void rows_joinerr(void)
{
    struct cycle t, a;
    setup_joinerr(&t, "join refused: conflict", "room2@" DOMAIN, "conflict");
    setup_joinerr(&a, "by = JID 3x1021 B of marks, 4 KB condition", jid_marks,
                  cond_long);
    row("joinerr", "presence: join error (2-stanza cycle)", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* ---- JIDs: a self-presence from a room never joined ----------------------
 */

static void cyc_one_in(struct cycle *c)
{
    feed_in(c->s, &c->st[0]);
}

static void setup_forged(struct cycle *c, const char *what, const char *from)
{
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_one_in;
    c->tr = new_tracker();
    c->s = open_session(c->tr, USER);
    join(c->s, ROOM, NICK);
    c->st[0] = pres(MJ_T_AVAILABLE, S(from));
    c->st[0].has_muc_user = 1;
    c->st[0].status[0] = 110;
    c->st[0].nstatus = 1;
    c->nst = 1;
    c->bytes = xml_bytes(&c->st[0]);
}

static void rows_jid(void)
{
    struct cycle t, a;
    setup_forged(&t, "from: ASCII JID, 3 parts x 1021 B", jid_ascii);
    setup_forged(&a,
                 "from: 3 parts x 1021 B of marks (refused: not "
                 "stream-safe)",
                 jid_marks);
    row("jid", "JID: from of a self-presence, unknown room (1 stanza)", &t,
        &a);
    free_cycle(&t);
    setup_forged(&t, "from: Cyrillic JID, 3 parts x ~1020 B", jid_cyr);
    row("jid-cyr", "JID: the same vs a non-ASCII JID", &t, &a);
    free_cycle(&a);
    setup_forged(&a,
                 "from: 3 parts x 1021 B of (a + 30 marks) (stringprep, "
                 "prepares)",
                 jid_m30);
    row("jid-m30", "JID: the worst JID that prepares vs a non-ASCII JID", &t,
        &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* ---- messages -------------------------------------------------------------
 */

static char *body_ascii, *body_cyr, *body_marks, *body_fdfa, *body_nicks;

/* A groupchat message with body from room/romeo (with nrefs references
 * to xmpp:a@b/c), to a session that joined room as nick. */
static void setup_msg_to(struct cycle *c, const char *what, const char *room,
                         const char *nick, const char *body, size_t nrefs)
{
    static char a[4][4096];
    static int k;
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_one_in;
    c->tr = new_tracker();
    c->s = open_session(c->tr, USER);
    join(c->s, room, nick);
    mj_stanza_init(&c->st[0]);
    c->st[0].kind = MJ_KIND_MESSAGE;
    c->st[0].type = MJ_T_GROUPCHAT;
    c->st[0].from = occ(a[k++ & 3], sizeof a[0], room, "romeo");
    c->st[0].body = S(body);
    for (size_t i = 0; i < nrefs && i < MJ_MAX_REFS; i++)
        c->st[0].mention_uri[c->st[0].nmentions++] = S("xmpp:a@b/c");
    c->nst = 1;
    c->bytes = xml_bytes(&c->st[0]);
}

static void setup_msg(struct cycle *c, const char *what, const char *body)
{
    setup_msg_to(c, what, ROOM, NICK, body, 0);
}

/* What the tracker holds, not the stanza: "hi there" to a session that
 * joined room (held prepared) as nick (a room sets it with a 210). The
 * stanza is the same whatever room and nick hold (before the fix, the held
 * nick was prepared and folded again for every message, up to ~900
 * times a typical one's cost). */
static void setup_held(struct cycle *c, const char *what, const char *room,
                       const char *nick, size_t nrefs)
{
    setup_msg_to(c, what, room, nick, "hi there", nrefs);
}

static char *nick_m30, *room_cyr;

/* "hi there" to 8 of the c->str[0] rooms in turn (r<i>@DOMAIN/romeo) */
static void cyc_rooms_msg(struct cycle *c)
{
    static char from[8][64];
    for (int k = 0; k < 8; k++) {
        size_t i = (c->n * 7 + (size_t)k * 131) % (size_t)atoi(c->str[0]);
        snprintf(from[k], sizeof from[k], "r%zu@%s/romeo", i, DOMAIN);
        c->st[0].from = S(from[k]);
        feed_in(c->s, &c->st[0]);
    }
    c->n++;
}

/* A session in nrooms rooms, each showing its own nick (nick, then the
 * room's number: every one distinct); 8 messages to rooms in turn */
static void setup_held_many(struct cycle *c, const char *what,
                            const char *nick, size_t nrooms)
{
    char room[64], n2[2048], count[16];
    setup_held(c, what, ROOM, NICK, 0);
    for (size_t i = 0; i < nrooms; i++) {
        snprintf(room, sizeof room, "r%zu@%s", i, DOMAIN);
        snprintf(n2, sizeof n2, "%s%zu", nick, i);
        join(c->s, room, n2);
    }
    snprintf(count, sizeof count, "%zu", nrooms);
    c->str[0] = strdup(count); /* free_cycle() frees it */
    if (c->str[0] == NULL)
        die("strdup");
    /* a first message to each room: a nick's fold is made at its first
     * mention check, once (what the row measures is every later one) */
    for (size_t i = 0; i < nrooms; i++) {
        snprintf(room, sizeof room, "r%zu@%s/romeo", i, DOMAIN);
        c->st[0].from = S(room);
        feed_in(c->s, &c->st[0]);
    }
    c->fn = cyc_rooms_msg;
    c->nst = 8;
    c->bytes = 8 * xml_bytes(&c->st[0]);
}

static void rows_held(void)
{
    struct cycle t, a;
    setup_held(&t, "to " NICK, ROOM, NICK, 0);
    setup_held(&a, "to (a + 30 marks) x16 (1008 B)", ROOM, nick_m30, 0);
    row("held-nick", "message \"hi there\": the nick held (1 stanza)", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    /* the same size: the room part of from is the room's JID, 1000
     * bytes of "a" or of "ж" */
    char room_ascii[1100];
    char *node = repeat_to("a", 1000);
    snprintf(room_ascii, sizeof room_ascii, "%s@%s", node, DOMAIN);
    free(node);
    setup_held(&t, "8 refs, to " NICK " in a room of 1000 B of a", room_ascii,
               NICK, MJ_MAX_REFS);
    setup_held(&a, "8 refs, to (a + 30 marks) x16 in a room of 500 x U+0436",
               room_cyr, nick_m30, MJ_MAX_REFS);
    row("held-room", "message, 8 references: the room and nick held", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    /* many such nicks at once: none is prepared or folded again (a
     * 256-slot cache made 1000 of them cost x288) */
    setup_held_many(&t, "1000 rooms, nicks juliet0..999", NICK, 1000);
    setup_held_many(&a, "1000 rooms, each its own (a + 30 marks) x16 nick",
                    nick_m30, 1000);
    row("held-nicks", "messages to 1000 rooms in turn: the nicks held (8)", &t,
        &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* A body of the same length that differs from body in its first bytes
 * (its first characters, at least 3 bytes of them, become "x"s): the two
 * alternating miss the tracker's cache of the last body normalised. */
static char *body_variant(const char *body)
{
    size_t len = strlen(body), k = 3;
    char *v = malloc(len + 1);
    if (v == NULL)
        die("malloc");
    memcpy(v, body, len + 1);
    while (k < len && ((unsigned char)body[k] & 0xc0) == 0x80)
        k++;
    memset(v, 'x', k < len ? k : len);
    return v;
}

static void cyc_two_in(struct cycle *c)
{
    feed_in(c->s, &c->st[0]);
    feed_in(c->s, &c->st[1]);
}

/* Two groupchat messages whose bodies differ (body, then its variant):
 * every one is normalised, as messages of a room are, none a cache hit. */
static void setup_msg2(struct cycle *c, const char *what, const char *body)
{
    setup_msg(c, what, body);
    c->st[1] = c->st[0];
    c->str[0] = body_variant(body);
    c->st[1].body = S(c->str[0]);
    c->fn = cyc_two_in;
    c->nst = 2;
    c->bytes += xml_bytes(&c->st[1]);
}

static void rows_body(void)
{
    struct cycle t, a;
    setup_msg2(&t, "64,001 B ASCII prose, no mention", body_ascii);
    setup_msg2(&a, "64,001 B: \"juliet\" repeated (every occurrence tried)",
               body_nicks);
    row("body-ascii",
        "message body, ASCII (mention matching; two bodies alternating)", &t,
        &a);
    free_cycle(&a);
    free_cycle(&t);
    setup_msg2(&t, "64,001 B Cyrillic prose", body_cyr);
    setup_msg2(&a, "a + 16,000 U+0301 + 16,000 U+0316 (64,001 B)", body_marks);
    row("body-marks",
        "message body, non-ASCII: combining marks (two bodies alternating)",
        &t, &a);
    free_cycle(&a);
    setup_msg2(&a, "21,333 U+FDFA (NFKC x18)", body_fdfa);
    row("body-fdfa",
        "message body, non-ASCII: NFKC expansion (two bodies alternating)", &t,
        &a);
    free_cycle(&a);
    free_cycle(&t);
}

/* references: n URIs */
static void setup_refs(struct cycle *c, const char *what, const char *body,
                       const char *uri, size_t n)
{
    setup_msg(c, what, body);
    for (size_t i = 0; i < n && i < MJ_MAX_REFS; i++)
        c->st[0].mention_uri[c->st[0].nmentions++] = S(uri);
    c->bytes = xml_bytes(&c->st[0]);
}

static char *uri_marks, *uri_m30, *uri_cyr, *body_pad_refs;

static void rows_refs(void)
{
    struct cycle t, a;
    setup_refs(&a,
               "8 refs: xmpp: + 2 x 1021 B of marks, escaped (refused: not "
               "stream-safe)",
               "hi", uri_marks, MJ_MAX_REFS);
    /* the typical message of the same size: one short reference and
     * ASCII prose making up the size */
    size_t pad = a.bytes > 300 ? a.bytes - 300 : 10;
    body_pad_refs = ascii_text(pad);
    setup_refs(&t, "1 ref to room/other + ASCII prose", body_pad_refs,
               "xmpp:" ROOM "/romeo", 1);
    row("refs", "message: XEP-0372 references (1 stanza)", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    /* the refused JIDs above stop at their first long run: the worst
     * references that prepare, next to as many non-ASCII ones */
    setup_refs(&t,
               "8 refs: xmpp: + Cyrillic JID 2 x 1020 B @ " DOMAIN ", escaped",
               "hi", uri_cyr, MJ_MAX_REFS);
    setup_refs(&a, "8 refs: xmpp: + 2 x 1021 B of (a + 30 marks), escaped",
               "hi", uri_m30, MJ_MAX_REFS);
    row("refs-cyr", "message: XEP-0372 references (1 stanza) vs non-ASCII", &t,
        &a);
    free_cycle(&t);
    free_cycle(&a);
}

static void setup_delay(struct cycle *c, const char *what, const char *from,
                        size_t n)
{
    setup_msg(c, what, "hi there");
    for (size_t i = 0; i < n && i < MJ_MAX_DELAY; i++)
        c->st[0].delay_from[c->st[0].ndelay++] = S(from);
    c->bytes = xml_bytes(&c->st[0]);
}

static void rows_delay(void)
{
    struct cycle t, a;
    /* 4 delays from JIDs of the same lengths: the check prepares every
     * from, so a delay from the server (a short JID) is not a typical
     * input of the same size */
    setup_delay(&t, "4 delays from ASCII JIDs, 3 parts x 1021 B", jid_ascii,
                MJ_MAX_DELAY);
    setup_delay(&a,
                "4 delays from JIDs of 3x1021 B of marks (refused: not "
                "stream-safe)",
                jid_marks, MJ_MAX_DELAY);
    row("delay", "message: <delay from> (history check, 1 stanza) vs ASCII",
        &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    setup_delay(&t, "4 delays from Cyrillic JIDs, 3 parts x ~1020 B", jid_cyr,
                MJ_MAX_DELAY);
    setup_delay(&a,
                "4 delays from JIDs of 3x1021 B of (a + 30 marks), prepare",
                jid_m30, MJ_MAX_DELAY);
    row("delay-cyr",
        "message: <delay from> (history check, 1 stanza) vs non-ASCII", &t,
        &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* ---- self-ping answers
 * ------------------------------------------------------- */

/* an ambiguous 303 (no item nick) asks for a ping; st[1] answers it, as
 * the module takes an answer: whether it needs the room's disco#info,
 * then the answer with no reply (none came) */
static void cyc_ping(struct cycle *c)
{
    mj_ping_verdict v;
    last_ping_id = 0;
    feed_in(c->s, &c->st[0]);
    if (last_ping_id == 0)
        die("no ping asked");
    (void)mj_session_ping_needs_features(c->s, last_ping_id, &c->st[1]);
    if (mj_session_ping_answer_info(c->s, last_ping_id, &c->st[1], NULL, 0,
                                    &v) != MJ_OK)
        die("mj_session_ping_answer_info");
}

static void setup_ping(struct cycle *c, const char *what, size_t nrooms,
                       mj_type type, const char *from, const char *by)
{
    static char a[256];
    char room[128];
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_ping;
    c->tr = new_tracker();
    c->s = open_session(c->tr, USER);
    join(c->s, ROOM, NICK);
    for (size_t i = 1; i < nrooms; i++) {
        snprintf(room, sizeof room, "r%zu@%s", i, DOMAIN);
        join(c->s, room, NICK);
    }
    mj_str j = occ(a, sizeof a, ROOM, NICK);
    c->st[0] = pres(MJ_T_UNAVAILABLE, j);
    c->st[0].has_muc_user = 1;
    c->st[0].status[0] = 303;
    c->st[0].status[1] = 110;
    c->st[0].nstatus = 2;
    mj_stanza_init(&c->st[1]);
    c->st[1].kind = MJ_KIND_IQ;
    c->st[1].type = type;
    c->st[1].from = S(from);
    if (type == MJ_T_ERROR) {
        c->st[1].error_type = S("cancel");
        c->st[1].error_condition = S("item-not-found");
        c->st[1].error_by = S(by);
    }
    c->nst = 2;
    c->bytes = xml_bytes(&c->st[0]) + xml_bytes(&c->st[1]);
}

static void rows_ping(void)
{
    struct cycle t, a;
    /* the answer's by is prepared: the typical answer of the same size is
     * the same error with a long by, ASCII or not (a result has no by) */
    setup_ping(&t,
               "ambiguous 303, answer: error item-not-found, by = ASCII JID "
               "3x1021 B",
               1, MJ_T_ERROR, ROOM "/" NICK, jid_ascii);
    setup_ping(&a,
               "the same, by = 3x1021 B of marks (refused: not stream-safe)",
               1, MJ_T_ERROR, ROOM "/" NICK, jid_marks);
    row("ping", "self-ping answer (2-stanza cycle) vs ASCII", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    /* by: the most expensive JID that prepares (a refused one stops at
     * its first long run) */
    setup_ping(&t,
               "ambiguous 303, answer: error item-not-found, by = Cyrillic "
               "JID 3x~1020 B",
               1, MJ_T_ERROR, ROOM "/" NICK, jid_cyr);
    setup_ping(&a, "the same, by = 3x1021 B of (a + 30 marks), prepares", 1,
               MJ_T_ERROR, ROOM "/" NICK, jid_m30);
    row("ping-cyr", "self-ping answer (2-stanza cycle) vs non-ASCII", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    setup_ping(&t, "the same, session in 20 rooms", 20, MJ_T_RESULT,
               ROOM "/" NICK, NULL);
    setup_ping(&a, "the same, session in 1000 rooms (max_rooms)", 1000,
               MJ_T_RESULT, ROOM "/" NICK, NULL);
    row("ping-rooms", "self-ping answer: rooms of the session", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* ---- link losses
 * ------------------------------------------------------------- */

static void cyc_link(struct cycle *c)
{
    int rc = mj_tracker_link_lost(c->tr, c->str[0], strlen(c->str[0]));
    if (rc != MJ_OK && rc != MJ_EJID) /* a refused domain is an input too */
        die("mj_tracker_link_lost");
}

static void setup_link(struct cycle *c, const char *what, size_t pending,
                       const char *domain)
{
    char d[64], room[80], jid[64];
    mj_session *o = NULL;
    int rc;
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_link;
    c->tr = new_tracker();
    c->s = open_session(c->tr, USER);
    join(c->s, ROOM, NICK);
    /* the probed domain first: the newest losses are in front of it (a
     * domain that does not prepare is refused, each time) */
    rc = mj_tracker_link_lost(c->tr, domain, strlen(domain));
    if (rc != MJ_OK && rc != MJ_EJID)
        die("link_lost");
    /* a loss leaves a pending check only on a domain some tracked room
     * is on: one room on each of the other domains (1000 per session,
     * max_rooms) */
    for (size_t i = 1; i < pending; i++) {
        snprintf(d, sizeof d, "fake%zu.example", i);
        if ((i - 1) % 1000 == 0) {
            snprintf(jid, sizeof jid, "user%zu@example.org/r", i);
            o = open_session(c->tr, jid);
        }
        snprintf(room, sizeof room, "r@%s", d);
        join(o, room, NICK);
        if (mj_tracker_link_lost(c->tr, d, strlen(d)) != MJ_OK)
            die("link_lost");
    }
    c->str[0] = strdup(domain);
    c->nst = 1;
    c->bytes = 60 + strlen(domain); /* a stream header */
}

static char *domain_marks, *domain_ascii, *domain_cyr, *domain_m30;

static void rows_link(void)
{
    struct cycle t, a;
    setup_link(&t, "link lost, 1 check pending", 1, DOMAIN);
    setup_link(&a, "the same, 10,000 checks pending (a room on each domain)",
               10000, DOMAIN);
    row("link-many", "link loss (s2s-destroyed): many distinct domains", &t,
        &a);
    free_cycle(&t);
    free_cycle(&a);
    setup_link(&t, "domain 1021 B ASCII", 1, domain_ascii);
    setup_link(&a, "domain 1021 B of marks (refused: not stream-safe)", 1,
               domain_marks);
    row("link-jid", "link loss: a long domain vs ASCII", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    setup_link(&t, "domain 1020 B Cyrillic", 1, domain_cyr);
    setup_link(&a, "domain 1021 B of (a + 30 marks) (nameprep, prepares)", 1,
               domain_m30);
    row("link-jid-cyr", "link loss: a long domain vs non-ASCII", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* ---- many rooms per session, many sessions per room ------------------------
 */

/* an occupant's presence in room k of the session */
static void cyc_occupant(struct cycle *c)
{
    feed_in(c->s, &c->st[c->n++ % 4]);
}

static void setup_rooms(struct cycle *c, const char *what, size_t nrooms,
                        size_t nsess)
{
    static char a[2][4][128];
    static int k;
    char room[128], jid[128];
    int w = k++ % 2;
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_occupant;
    c->tr = new_tracker();
    for (size_t s = 0; s < nsess; s++) {
        snprintf(jid, sizeof jid, "user%zu@example.org/r", s);
        c->s = open_session(c->tr, jid);
        for (size_t i = 0; i < nrooms; i++) {
            snprintf(room, sizeof room, "r%zu@%s", i, DOMAIN);
            join(c->s, room, NICK);
        }
    }
    for (int i = 0; i < 4; i++) {
        snprintf(room, sizeof room, "r%zu@%s", (size_t)i * 7 % nrooms, DOMAIN);
        c->st[i] = pres(MJ_T_AVAILABLE, occ(a[w][i], 128, room, "romeo"));
        c->st[i].has_muc_user = 1;
    }
    c->nst = 1;
    c->bytes = xml_bytes(&c->st[0]);
}

static void cyc_broadcast(struct cycle *c)
{
    feed_out(c->s, &c->st[0]);
}

/* A session in nrooms rooms sent its broadcast unavailable (every room
 * LEAVING, the service never answering); the cycle is the same broadcast
 * sent again, which changes nothing (before the fix, it walked every room) */
static void setup_broadcast(struct cycle *c, const char *what, size_t nrooms)
{
    setup_rooms(c, what, nrooms, 1);
    c->fn = cyc_broadcast;
    mj_stanza_init(&c->st[0]);
    c->st[0].kind = MJ_KIND_PRESENCE;
    c->st[0].type = MJ_T_UNAVAILABLE;
    feed_out(c->s, &c->st[0]);
    c->nst = 1;
    c->bytes = xml_bytes(&c->st[0]);
}

/* a session joins its rooms and closes: 2 stanzas per room */
static void cyc_session(struct cycle *c)
{
    char room[128];
    mj_session *s = open_session(c->tr, USER);
    for (size_t i = 0; i < c->n; i++) {
        snprintf(room, sizeof room, "r%zu@%s", i, DOMAIN);
        join(s, room, NICK);
    }
    mj_session_close(s);
}

static void setup_session(struct cycle *c, const char *what, size_t nrooms)
{
    memset(c, 0, sizeof *c);
    c->what = what;
    c->fn = cyc_session;
    c->tr = new_tracker();
    c->n = nrooms;
    c->nst = 2 * nrooms;
    c->bytes = 2 * nrooms * 140;
}

static void rows_scale(void)
{
    struct cycle t, a;
    setup_rooms(&t, "session in 20 rooms", 20, 1);
    setup_rooms(&a, "session in 1000 rooms (max_rooms)", 1000, 1);
    row("rooms", "many rooms per session: an occupant's presence", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    setup_broadcast(&t, "session in 20 rooms, left by a broadcast", 20);
    setup_broadcast(&a, "in 1000 rooms (max_rooms), left by a broadcast",
                    1000);
    row("broadcast", "a broadcast unavailable sent again", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
    setup_session(&t, "20 joins, then close", 20);
    setup_session(&a, "1000 joins, then close", 1000);
    row("close", "many rooms per session: join all, close (per stanza)", &t,
        &a);
    free_cycle(&t);
    free_cycle(&a);
    setup_rooms(&t, "1 session in the room", 4, 1);
    setup_rooms(&a, "10,000 sessions in the room", 4, quick ? 1000 : 10000);
    row("sessions", "many sessions per room: an occupant's presence", &t, &a);
    free_cycle(&t);
    free_cycle(&a);
}

/* ---- the tick
 * ---------------------------------------------------------------- */

/* What a tick table row tracks. */
enum tickkind {
    TK_JOINED,   /* N settled entries */
    TK_PENDING,  /* N pending joins, timeouts not due */
    TK_RESTING,  /* N self-pings resting after a give-up */
    TK_WAITING,  /* N self-pings waiting for the domain's budget */
    TK_CHECKS,   /* N link checks pending, not due */
    TK_CHECKDUE, /* N settled entries, one due link check, unknown domain */
};

static const char *const tick_names[] = {
    "N settled entries (JOINED)",
    "N pending joins (timers not due)",
    "N self-pings resting after a give-up",
    "N self-pings waiting for the domain's budget (budget 20 used)",
    "N link checks pending, not due",
    "N settled entries (JOINED)",
};

/* One tick. The "due" variants first lose the link to a domain (the
 * check is due at once, ping_start_delay 0): other.example, where one
 * session is in one room (its self-ping is sent in the tick and answered
 * after it), or nowhere.example, where nobody is (a faked loss). */
static void cyc_tick(struct cycle *c)
{
    if (c->str[1] &&
        mj_tracker_link_lost(c->tr, c->str[1], strlen(c->str[1])) != MJ_OK)
        die("link_lost");
    last_ping_id = 0;
    mj_tracker_tick(c->tr);
    if (c->n) {
        mj_ping_verdict v;
        if (last_ping_id == 0)
            die("the due ping was not sent");
        if (mj_session_ping_answer(c->s, last_ping_id, &c->st[0], -1, &v) !=
                MJ_OK ||
            v != MJ_PING_JOINED)
            die("the due ping's answer");
    }
}

static void tick_setup(struct cycle *c, enum tickkind k, size_t n, int due)
{
    char room[128], jid[128], d[64];
    static char a[128];
    memset(c, 0, sizeof *c);
    c->what = due ? "one due" : "nothing due";
    c->fn = cyc_tick;
    mj_config cfg;
    mj_config_init(&cfg);
    cfg.clock = clock_fn;
    cfg.on_event = on_event;
    cfg.max_rooms = 1000;
    cfg.max_pending = 1000;
    cfg.pending_timeout = 1e12; /* the N pending joins never time out */
    cfg.ping_start_delay = 0;
    cfg.ping_timeout = 1e12;
    cfg.ping_retries = 0;
    cfg.ping_backoff = 1e11;
    if (k == TK_RESTING)
        cfg.ping_budget = (size_t)-1;
    if (mj_tracker_new(&cfg, &c->tr) != MJ_OK)
        die("mj_tracker_new");
    size_t per = n < 1000 ? n : 1000; /* rooms per session */
    size_t nsess = (n + per - 1) / per;
    for (size_t s = 0; s < nsess; s++) {
        snprintf(jid, sizeof jid, "user%zu@example.org/r", s);
        mj_session *ss = open_session(c->tr, jid);
        size_t m = (s + 1) * per <= n ? per : n - s * per;
        for (size_t i = 0; i < m; i++) {
            snprintf(room, sizeof room, "r%zu@%s", i, DOMAIN);
            if (k == TK_PENDING) {
                mj_stanza st =
                    pres(MJ_T_AVAILABLE, occ(a, sizeof a, room, NICK));
                st.has_muc_x = 1;
                feed_out(ss, &st);
            } else {
                join(ss, room, NICK);
            }
        }
    }
    if (k == TK_RESTING || k == TK_WAITING) {
        if (mj_tracker_link_lost(c->tr, DOMAIN, strlen(DOMAIN)) != MJ_OK)
            die("link_lost");
        mj_tracker_tick(c->tr); /* sends what the budget allows */
    }
    if (k == TK_RESTING) {
        fake_now += 2e12; /* every ping times out: given up, resting */
        mj_tracker_tick(c->tr);
    }
    if (k == TK_CHECKS) {
        cfg.ping_start_delay = 1e12;
        mj_tracker_configure(c->tr, &cfg);
        /* a loss leaves a pending check only on a domain some tracked
         * room is on: one more room on each (1000 per session) */
        mj_session *o = NULL;
        for (size_t i = 0; i < n; i++) {
            snprintf(d, sizeof d, "fake%zu.example", i);
            if (i % 1000 == 0) {
                snprintf(jid, sizeof jid, "checks%zu@example.org/r", i);
                o = open_session(c->tr, jid);
            }
            snprintf(room, sizeof room, "r@%s", d);
            join(o, room, NICK);
            if (mj_tracker_link_lost(c->tr, d, strlen(d)) != MJ_OK)
                die("link_lost");
        }
        cfg.ping_start_delay = 0; /* new losses are due at once */
        mj_tracker_configure(c->tr, &cfg);
    }
    if (k == TK_CHECKDUE) {
        c->str[1] = strdup("nowhere.example");
    } else if (due) {
        c->str[1] = strdup("other.example");
        c->s = open_session(c->tr, "due@example.org/r");
        join(c->s, "due@other.example", NICK);
        mj_stanza_init(&c->st[0]);
        c->st[0].kind = MJ_KIND_IQ;
        c->st[0].type = MJ_T_RESULT;
        c->st[0].from = S("due@other.example/" NICK);
        c->n = 1;
    }
    c->nst = 1;
    c->bytes = 1;
}

static void tick_table(void)
{
    /* 16000: 16 sessions x 1000 rooms on one domain. Under callgrind
     * (50x slower) the largest size is left out. */
    static const size_t sizes_full[] = {1000, 4000, 16000, 64000};
    static const size_t sizes_quick[] = {1000, 4000};
    const size_t *sizes = quick ? sizes_quick : sizes_full;
    size_t nsizes = quick ? 2 : mode == MODE_TIME ? 4 : 3;
    int first = 1;
    for (int k = TK_JOINED; k <= TK_CHECKDUE; k++) {
        for (int due = 0; due < 2; due++) {
            char id[64];
            if (k == TK_CHECKDUE && !due)
                continue;
            double c0 = -1, cl = -1;
            char cells[512] = "";
            size_t used = 0;
            snprintf(id, sizeof id, "tick%d%s", k, due ? "d" : "");
            if (only && strncmp(id, only, strlen(only)) != 0)
                continue;
            if (first && mode != MODE_CG_RUN) {
                printf("\n| tick: what is tracked | due | %s per tick at "
                       "N = ",
                       unit());
                for (size_t i = 0; i < nsizes; i++)
                    printf("%s%zu", i ? " / " : "", sizes[i]);
                printf(" | growth | verdict |\n|---|---|---|---|---|\n");
                first = 0;
            }
            for (size_t i = 0; i < nsizes; i++) {
                struct cycle c;
                char sid[80];
                double v, dummy;
                /* a quadratic case at 64k would take minutes per tick:
                 * stop a row once a tick passes 0.2 s */
                if (mode == MODE_TIME && cl > 0.2) {
                    used += (size_t)snprintf(cells + used, sizeof cells - used,
                                             "%s(skipped)", i ? " / " : "");
                    continue;
                }
                tick_setup(&c, (enum tickkind)k, sizes[i], due);
                snprintf(sid, sizeof sid, "%s.n%zu", id, sizes[i]);
                cost_pair(sid, &c, NULL, &v, &dummy);
                free_cycle(&c);
                if (mode == MODE_CG_RUN)
                    continue;
                if (v < 0) {
                    used += (size_t)snprintf(cells + used, sizeof cells - used,
                                             "%s?", i ? " / " : "");
                    continue;
                }
                if (c0 < 0)
                    c0 = v;
                cl = v;
                used += (size_t)snprintf(cells + used, sizeof cells - used,
                                         "%s%.0f", i ? " / " : "", scale(v));
                printf("@adv.%s.n%zu=%.1f\n", id, sizes[i], scale(v));
            }
            if (mode == MODE_CG_RUN)
                continue;
            nrows++;
            double g = c0 > 0 && cl > 0 ? cl / c0 : -1;
            int over = g > 2.0;
            nover += over;
            printf("| %s | %s | %s | x%.1f | %s |\n", tick_names[k],
                   !due ? "nothing"
                   : k == TK_CHECKDUE
                       ? "a faked link loss (no room there)"
                       : "a link loss, 1 room: ping sent, answered",
                   cells, g, over ? "**OVER** (grows with N)" : "OK (flat)");
            fflush(stdout);
        }
    }
}

/* ---- inputs ---------------------------------------------------------------
 */

static char *percent_escape(const char *s)
{
    struct buf b = {0};
    char hex[4];
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        snprintf(hex, sizeof hex, "%%%02X", *p);
        bput(&b, hex, 3);
    }
    return b.p;
}

static void build_inputs(void)
{
    nick_marks = marks_text(1021);
    nick_cyr = cyr_part(1020);
    nick_ascii = ascii_part(1021);
    jid_marks = make_jid(marks_text, 1021, NULL, 1021, 1021);
    jid_ascii = make_jid(ascii_part, 1021, NULL, 1021, 1021);
    jid_cyr = make_jid(cyr_part, 1020, NULL, 1020, 1020);
    jid_m30 = make_jid(marks30_text, 1021, NULL, 1021, 1021);
    nick_m30 = marks30_text(1021);
    text64k = ascii_text(65536);
    cond_long = ascii_part(4096);
    body_ascii = ascii_text(64001);
    body_cyr = cyrillic_text(64001);
    body_marks = marks_text(64001);
    nick_m30 = marks30_text(1008);
    {
        char *node = repeat_to("\xd0\xb6", 1000);
        struct buf b = {0};
        bputs(&b, node);
        bputs(&b, "@" DOMAIN);
        free(node);
        room_cyr = b.p;
    }
    {
        struct buf b = {0};
        for (int i = 0; i < 21333; i++)
            bput(&b, "\xef\xb7\xba", 3);
        body_fdfa = b.p;
    }
    body_nicks = repeat_to("juliet", 64001);
    {
        struct buf b = {0};
        char *path = make_jid(marks_text, 1021, DOMAIN, 0, 1021);
        char *esc = percent_escape(path);
        bputs(&b, "xmpp:");
        bputs(&b, esc);
        uri_marks = b.p;
        free(path);
        free(esc);
    }
    {
        struct buf b = {0};
        char *path = make_jid(marks30_text, 1021, DOMAIN, 0, 1021);
        char *esc = percent_escape(path);
        bputs(&b, "xmpp:");
        bputs(&b, esc);
        uri_m30 = b.p;
        free(path);
        free(esc);
    }
    {
        struct buf b = {0};
        char *path = make_jid(cyr_part, 1020, DOMAIN, 0, 1020);
        char *esc = percent_escape(path);
        bputs(&b, "xmpp:");
        bputs(&b, esc);
        uri_cyr = b.p;
        free(path);
        free(esc);
    }
    domain_marks = marks_text(1021);
    domain_ascii = ascii_part(1021);
    domain_cyr = cyr_part(1020);
    domain_m30 = marks30_text(1021);

    /* the marks JID (runs of 510 marks) is refused as not stream-safe:
     * its rows measure the refusal; the JID of runs of 30 must prepare
     * (the worst accepted input); the Cyrillic one too */
    char out[4096];
    size_t len;
    if (mj_jid_prep(jid_marks, strlen(jid_marks), out, sizeof out, &len) ==
        MJ_OK)
        fprintf(stderr, "bench_adversarial: note: the marks JID prepares "
                        "(expected: refused, not stream-safe)\n");
    if (mj_jid_prep(jid_cyr, strlen(jid_cyr), out, sizeof out, &len) != MJ_OK)
        fprintf(stderr, "bench_adversarial: note: the Cyrillic JID does not "
                        "prepare\n");
    if (mj_jid_prep(jid_m30, strlen(jid_m30), out, sizeof out, &len) != MJ_OK)
        die("the JID of marks in runs of 30 does not prepare");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "time") == 0)
                mode = MODE_TIME;
            else if (strcmp(m, "cg-run") == 0)
                mode = MODE_CG_RUN;
            else if (strcmp(m, "counts") == 0 && i + 1 < argc) {
                mode = MODE_COUNTS;
                load_counts(argv[++i]);
            } else
                die("--mode time|cg-run|counts FILE");
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_adversarial [--mode time|cg-run|"
                            "counts FILE] [--quick] [--only ROWPREFIX]\n");
            return 2;
        }
    }
    build_inputs();
    if (mode != MODE_CG_RUN)
        printf("adversarial inputs: cost per %s, %s\n",
               mode == MODE_COUNTS ? "stanza in instructions (callgrind)"
                                   : "stanza in ns of CPU time",
               mode == MODE_COUNTS
                   ? "exact"
                   : "minimum of several runs, typical and adversarial "
                     "alternating");
    if (mode != MODE_CG_RUN)
        table_head();
    rows_status();
    rows_nick();
    rows_destroy();
    rows_joinerr();
    rows_jid();
    rows_body();
    rows_refs();
    rows_held();
    rows_delay();
    rows_ping();
    rows_link();
    rows_scale();
    tick_table();
    if (mode != MODE_CG_RUN) {
        printf("\nadversarial: %d of %d rows OVER the bound (10x a typical "
               "input of the same size; the tick flat in N)\n",
               nover, nrows);
        printf("@adv.rows=%d\n@adv.over=%d\n", nrows, nover);
    }
    return 0;
}

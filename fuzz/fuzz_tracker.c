/* libFuzzer target for the presence view state machine (src/joins.c,
 * src/tracker.c, src/classify.c, src/selfping.c, src/messages.c), through
 * the public API only.
 *
 * The input is a byte stream decoded into a sequence of steps across three
 * sessions and a handful of rooms (several spellings of each, plus raw
 * JIDs taken from the input): presences the sessions send and receive
 * (joins, self-presences, nick changes, 303, removals, errors, forged
 * ones), message errors, groupchat messages, clock ticks, session closes,
 * reconfiguration, restores, link losses and self-ping answers, and
 * allocation failures. Byte 0 is the configuration; then each step is an
 * opcode byte and its argument bytes (see step()). Seeds:
 * fuzz/corpus/tracker/.
 *
 * After every step it checks, and aborts on a violation:
 *  - consistency: each session's rooms by iteration, by mj_session_room()
 *    and mj_session_nick() agree; mj_session_count() and mj_tracker_stats()
 *    equal the iteration's counts; stats.bytes equals what the allocator
 *    hook holds; every room appears once;
 *  - the consumer's view: applying the events as mod_track_muc_joins does
 *    (joined/nick-changed set the nick, left removes) gives exactly the
 *    rooms the queries show, with the same nicks; no joined for a room
 *    shown, no left or nick-changed for a room not shown;
 *  - no entry without a self-presence: `joined` fires only while a session
 *    receives an available 110 from that room, after it sent a join there
 *    (or at a tick, for a rejoin whose held-back self-presence is taken at
 *    its timeout, under the nick asked);
 *    a nick shown is one a self-presence (its from resource, byte for
 *    byte), a 303's item nick or a restore gave for that room;
 *  - refused input: a self-presence from a room the session never sent a
 *    join to changes nothing and fires nothing;
 *  - bounds: pending and shown entries per session never grow above
 *    2 x max_pending (joins waiting, and as many cancelled ones) /
 *    max_rooms (entries kept from before a lowered bound may stay;
 *    restores are not bounded);
 *  - MJ_ENOMEM leaves the state as before the call, with no event;
 *  - read-only calls (message class, importance, forwarded ping, queries)
 *    change nothing;
 *  - mj_tracker_free() returns every byte.
 *
 * FUZZ_TRACKER_TRACE=1 prints each step, its outcome and the events (to
 * read a crash input); FUZZ_TRACKER_STRICT=1 makes known deviations of
 * the core (see deviation()) fatal.
 *
 * clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 \
 *   -fsanitize=fuzzer,address,undefined -Iinclude \
 *   fuzz/fuzz_tracker.c build/fuzz/libmucjoins-fuzz.a -licuuc \
 *   -o fuzz_tracker           (scripts/fuzz.sh does this)
 * ./fuzz_tracker fuzz/corpus/tracker -max_total_time=60 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mucjoins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSESS    3
#define MAXMAP   64 /* rooms per session the shadow view tracks */
#define MAXSTR   160
#define MAXSNAP  16384
#define MAXNICKS 12

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_tracker: invariant violated: %s%s%s\n", what,
            detail ? ": " : "", detail ? detail : "");
    abort();
}

/* A known deviation of the core from the header's contract, reported to
 * the core's author: printed once per process, fatal only with
 * FUZZ_TRACKER_STRICT=1 (so that fuzzing can go on meanwhile). Remove the
 * name from here when the core is fixed: it becomes fatal again. */
static void deviation(const char *what)
{
    static const char *seen[8];
    static int nseen;
    if (getenv("FUZZ_TRACKER_STRICT") != NULL)
        fail(what, "(known deviation, FUZZ_TRACKER_STRICT set)");
    for (int i = 0; i < nseen; i++)
        if (seen[i] == what)
            return;
    if (nseen < 8)
        seen[nseen++] = what;
    fprintf(stderr, "fuzz_tracker: KNOWN DEVIATION (not fatal): %s\n", what);
}

/* ---- input ----------------------------------------------------------- */

struct in {
    const uint8_t *p;
    size_t n;
};

static uint8_t byte(struct in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* ---- pools ------------------------------------------------------------ */

static const char *const session_jids[NSESS] = {"juliet@capulet.lit/balcony",
                                                "juliet@capulet.lit/chamber",
                                                "romeo@montague.lit/orchard"};

/* several spellings of the same rooms, a host room, and JIDs that do not
 * prepare */
static const char *const rooms[] = {
    "coven@chat.shakespeare.lit",
    "Coven@Chat.Shakespeare.LIT",
    "coven@chat.shakespeare.lit.",
    "darkcave@chat.shakespeare.lit",
    "\xc3\x96ther@chat.shakespeare.lit",  /* Other, O umlaut composed */
    "o\xcc\x88ther@chat.shakespeare.lit", /* ... decomposed: same room */
    "chat.shakespeare.lit",
    "room@remote.example",
    "bad@@chat.shakespeare.lit",
    "sp ace@chat.shakespeare.lit",
};
#define NROOMS (sizeof rooms / sizeof rooms[0])

/* NULL: no resource (the bare room) */
static const char *const nicks[] = {
    "thirdwitch",
    "ThirdWitch",
    "\xef\xbd\x94hirdwitch", /* fullwidth t: Resourceprep -> thirdwitch */
    "oldhag",
    "n\xc3\xa9",  /* n e-acute */
    "ne\xcc\x81", /* n e + combining acute: same nick */
    "x",
    NULL,
};
#define NNICKS (sizeof nicks / sizeof nicks[0])

static const int codes[8] = {110, 303, 307, 301, 332, 333, 210, 322};

static const char *const conditions[] = {NULL,
                                         "conflict",
                                         "not-acceptable",
                                         "item-not-found",
                                         "gone",
                                         "service-unavailable",
                                         "registration-required",
                                         "remote-server-not-found"};

static const char *const domains[] = {"chat.shakespeare.lit", "remote.example",
                                      "CHAT.shakespeare.lit", "bad domain"};

/* ---- allocator hook ---------------------------------------------------- */

static size_t live_bytes;
static long fail_countdown; /* fail the allocation when it reaches 0 */
static int fail_all;        /* fail every allocation (this step) */
static int failed_now;      /* an allocation failed during this call */

static void *hook_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        if (ptr != NULL)
            live_bytes -= osize;
        free(ptr);
        return NULL;
    }
    if (fail_all || (fail_countdown > 0 && --fail_countdown == 0)) {
        failed_now = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    if (ptr != NULL)
        live_bytes -= osize;
    live_bytes += nsize;
    return p;
}

/* ---- clock -------------------------------------------------------------- */

static double now;

static double fake_clock(void *ud)
{
    (void)ud;
    return now;
}

/* ---- the consumer's view, built from events ------------------------------
 */

struct mapent {
    char room[MAXSTR];
    char nick[MAXSTR];
};

struct shadow {
    mj_session *h; /* NULL: not open */
    struct mapent map[MAXMAP];
    int nmap;
    int overflow; /* too many rooms to check this session */
    /* rooms the session sent a join to (or restored): keys */
    char joinable[MAXMAP][MAXSTR];
    int njoinable;
    /* nicks a room gave, per room key */
    struct {
        char room[MAXSTR];
        char nick[MAXNICKS][MAXSTR];
        int n;
    } offered[MAXMAP];
    int noffered;
    size_t last_pending, last_shown;
};

static struct shadow sh[NSESS];
static mj_tracker *tr;
static mj_config cfg;
static int reconfigured, restored;
static uint32_t last_ping_id[4];

/* what the current step is, for the event checks */
struct stepinfo {
    int kind;          /* 0 other, 1 incoming presence */
    int self_avail;    /* incoming available presence with 110 and a nick */
    int slot;          /* session slot of the step */
    char key[MAXSTR];  /* prepared bare JID of the step's from/to, or "" */
    int forged;        /* a 110 from a room the session never joined */
    int events;        /* events fired during the step */
    int allow_nick_ch; /* tick: EXPECTING timeouts change nicks */
    int out_change;    /* outgoing available to room/nick: a nick change
                          sent while EXPECTING(o, m) shows m (the room's
                          303 named it) */
    int tick;          /* tick: a rejoin's held-back answer may be taken */
    int restoring;     /* restore: bounds do not apply */
    int lenient;       /* a JID too long for the shadow's buffers */
};
static struct stepinfo cur;

static mj_str cstr(const char *c)
{
    mj_str s = {c, c ? strlen(c) : 0};
    return s;
}

static int copy_str(char *dst, mj_str s)
{
    if (s.ptr == NULL || s.len >= MAXSTR)
        return 0;
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return 1;
}

static int str_is(mj_str s, const char *c)
{
    return s.ptr != NULL && s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

static int slot_of(const mj_session *h)
{
    for (int i = 0; i < NSESS; i++)
        if (sh[i].h == h)
            return i;
    return -1;
}

static struct mapent *map_find(struct shadow *s, mj_str room)
{
    for (int i = 0; i < s->nmap; i++)
        if (str_is(room, s->map[i].room))
            return &s->map[i];
    return NULL;
}

static void map_remove(struct shadow *s, struct mapent *e)
{
    *e = s->map[--s->nmap];
}

static int joinable(const struct shadow *s, const char *key)
{
    for (int i = 0; i < s->njoinable; i++)
        if (strcmp(s->joinable[i], key) == 0)
            return 1;
    return 0;
}

static void add_joinable(struct shadow *s, const char *key)
{
    if (joinable(s, key))
        return;
    if (s->njoinable == MAXMAP) {
        s->overflow = 1;
        return;
    }
    strcpy(s->joinable[s->njoinable++], key);
}

static void offer_nick(struct shadow *s, const char *key, mj_str nick)
{
    int i;
    if (nick.ptr == NULL || nick.len >= MAXSTR)
        return;
    for (i = 0; i < s->noffered; i++)
        if (strcmp(s->offered[i].room, key) == 0)
            break;
    if (i == s->noffered) {
        if (s->noffered == MAXMAP) {
            s->overflow = 1;
            return;
        }
        strcpy(s->offered[s->noffered++].room, key);
        s->offered[i].n = 0;
    }
    for (int k = 0; k < s->offered[i].n; k++)
        if (str_is(nick, s->offered[i].nick[k]))
            return;
    if (s->offered[i].n == MAXNICKS) {
        s->overflow = 1;
        return;
    }
    copy_str(s->offered[i].nick[s->offered[i].n++], nick);
}

static int nick_offered(const struct shadow *s, mj_str room, mj_str nick)
{
    for (int i = 0; i < s->noffered; i++) {
        if (!str_is(room, s->offered[i].room))
            continue;
        for (int k = 0; k < s->offered[i].n; k++)
            if (str_is(nick, s->offered[i].nick[k]))
                return 1;
    }
    return 0;
}

static int trace; /* FUZZ_TRACKER_TRACE=1: print steps and events */

static void on_event(void *ud, const mj_event *ev)
{
    (void)ud;
    cur.events++;
    if (trace)
        fprintf(stderr,
                "    event %s session %.*s room %.*s nick %.*s "
                "reason %s\n",
                mj_event_name(ev->type), (int)ev->session_jid.len,
                ev->session_jid.ptr, (int)ev->room.len,
                ev->room.ptr ? ev->room.ptr : "", (int)ev->nick.len,
                ev->nick.ptr ? ev->nick.ptr : "", mj_reason_name(ev->reason));
    int i = slot_of(ev->session);
    if (i < 0)
        fail("event for a session handle not open", NULL);
    struct shadow *s = &sh[i];
    struct mapent *e = map_find(s, ev->room);
    switch (ev->type) {
    case MJ_EV_JOINED:
        if (e != NULL)
            fail("joined for a room already shown", e->room);
        if (cur.lenient || s->overflow)
            ; /* a JID too long for the shadow: not checked */
        else if (cur.tick) {
            /* a rejoin timed out with an available self-presence held
             * back: shown under the nick asked (joins.c,
             * timeout_held_back) */
            char k[MAXSTR];
            if (copy_str(k, ev->room)) {
                if (!joinable(s, k))
                    fail("joined at a tick a room the session never sent a "
                         "join to",
                         k);
                offer_nick(s, k, ev->nick);
            }
        } else if (!cur.self_avail || cur.slot != i ||
                   !str_is(ev->room, cur.key))
            fail("joined outside an available self-presence from the room",
                 cur.key);
        if (!cur.tick && !joinable(s, cur.key) && !s->overflow)
            fail("joined a room the session never sent a join to", cur.key);
        if (s->nmap == MAXMAP) {
            s->overflow = 1;
            return;
        }
        if (ev->room.ptr == NULL || ev->nick.ptr == NULL)
            fail("joined without room or nick", NULL);
        e = &s->map[s->nmap++];
        if (!copy_str(e->room, ev->room) || !copy_str(e->nick, ev->nick)) {
            s->nmap--; /* too long for the shadow: stop checking it */
            s->overflow = 1;
        }
        break;
    case MJ_EV_NICK_CHANGED:
        if (e == NULL) {
            if (!s->overflow)
                fail("nick-changed for a room not shown", NULL);
            return;
        }
        if (!(cur.self_avail && cur.slot == i) && !cur.allow_nick_ch &&
            !(cur.out_change && cur.slot == i && str_is(ev->room, cur.key)))
            fail("nick-changed outside a self-presence, a nick change "
                 "sent or a tick",
                 NULL);
        if (ev->nick.ptr == NULL)
            fail("nick-changed without a nick", NULL);
        if (!copy_str(e->nick, ev->nick))
            s->overflow = 1;
        break;
    case MJ_EV_LEFT:
        if (e == NULL) {
            if (!s->overflow)
                fail("left for a room not shown", NULL);
            return;
        }
        map_remove(s, e);
        break;
    case MJ_EV_JOIN_FAILED:
        if (e != NULL)
            fail("join-failed for a room shown", e->room);
        break;
    case MJ_EV_PING_NEEDED:
        if (ev->ping_id == 0)
            fail("ping-needed with id 0", NULL);
        last_ping_id[ev->ping_id & 3] = ev->ping_id;
        break;
    case MJ_EV_LEAVE_NEEDED:
        /* owed only after the entry ended, and forgotten at any presence
         * the session sent the room since: never a room it shows */
        if (e != NULL)
            fail("leave-needed for a room shown", e->room);
        if (ev->nick.ptr == NULL || ev->nick.len == 0)
            fail("leave-needed without a nick", NULL);
        break;
    default:
        break;
    }
}

/* ---- state snapshots and consistency ------------------------------------ */

struct snap {
    char buf[MAXSNAP];
    size_t len;
};

static void snap_put(struct snap *sn, const char *p, size_t n)
{
    if (sn->len + n + 1 > sizeof sn->buf) {
        sn->len = sizeof sn->buf; /* truncated: compare what fits */
        return;
    }
    memcpy(sn->buf + sn->len, p, n);
    sn->len += n;
    sn->buf[sn->len++] = '\x1f';
}

static void snap_print(const char *what, const struct snap *sn)
{
    fprintf(stderr, "fuzz_tracker: state %s: ", what);
    for (size_t i = 0; i < sn->len; i++) {
        unsigned char c = (unsigned char)sn->buf[i];
        if (c == 0x1f)
            fputs(" | ", stderr);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fputc('\n', stderr);
}

/* One room as a snapshot line (room, state, nick, pending nick). */
struct roomline {
    char s[4 * MAXSTR];
    size_t len;
};

static int cmp_roomline(const void *a, const void *b)
{
    const struct roomline *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void line_put(struct roomline *l, mj_str v)
{
    const char *p = v.ptr ? v.ptr : "\x01";
    size_t n = v.ptr ? v.len : 1;
    if (l->len + n + 1 > sizeof l->s)
        n = sizeof l->s - l->len - 1; /* cut: compare what fits */
    memcpy(l->s + l->len, p, n);
    l->len += n;
    l->s[l->len++] = '\x1f';
}

/* The whole observable state: each session's rooms, sorted (iteration
 * order is "any order" and may change when a failed call inserted and
 * removed an entry), and the counts. */
static void snapshot(struct snap *sn)
{
    static struct roomline lines[MAXMAP * 4];
    mj_stats st;
    char tmp[128];
    sn->len = 0;
    for (int i = 0; i < NSESS; i++) {
        size_t cursor = 0, n = 0;
        mj_room_info ri;
        snap_put(sn, sh[i].h ? "S" : "-", 1);
        while (sh[i].h && n < MAXMAP * 4 &&
               mj_session_next_room(sh[i].h, &cursor, &ri)) {
            struct roomline *l = &lines[n++];
            l->len = 0;
            line_put(l, ri.room);
            line_put(l, cstr(mj_state_name(ri.state)));
            line_put(l, ri.nick);
            line_put(l, ri.pending_nick);
        }
        qsort(lines, n, sizeof lines[0], cmp_roomline);
        for (size_t k = 0; k < n; k++)
            snap_put(sn, lines[k].s, lines[k].len);
    }
    mj_tracker_stats(tr, &st);
    int n = snprintf(tmp, sizeof tmp, "%zu %zu %zu %zu %zu %zu", st.sessions,
                     st.rooms_shown, st.pending, st.changing, st.leaving,
                     st.distinct_rooms);
    snap_put(sn, tmp, (size_t)n);
}

static void check_session(int i, size_t *shown, size_t *pending,
                          size_t *changing, size_t *leaving)
{
    struct shadow *s = &sh[i];
    size_t cursor = 0, n = 0, np = 0, nc = 0, nl = 0, nj = 0;
    mj_room_info ri, ri2;
    mj_str rooms_seen[MAXMAP];
    size_t nseen = 0;

    while (mj_session_next_room(s->h, &cursor, &ri)) {
        mj_str nick;
        char key[MAXSTR];
        if (ri.room.ptr == NULL || !copy_str(key, ri.room))
            fail("a room without a JID", NULL);
        for (size_t k = 0; k < nseen; k++)
            if (rooms_seen[k].len == ri.room.len &&
                memcmp(rooms_seen[k].ptr, ri.room.ptr, ri.room.len) == 0)
                fail("a room iterated twice", key);
        if (nseen < MAXMAP)
            rooms_seen[nseen++] = ri.room;
        if (mj_session_room(s->h, ri.room.ptr, ri.room.len, &ri2) != MJ_OK ||
            ri2.state != ri.state)
            fail("mj_session_room disagrees with the iteration", key);
        int rc = mj_session_nick(s->h, ri.room.ptr, ri.room.len, &nick);
        struct mapent *e = map_find(s, ri.room);
        switch (ri.state) {
        case MJ_S_PENDING:
            np++;
            if (rc != MJ_ENOTFOUND || ri.nick.ptr != NULL)
                fail("a pending room shows a nick", key);
            if (e != NULL)
                fail("the events show a pending room", key);
            break;
        case MJ_S_JOINED:
        case MJ_S_CHANGING:
        case MJ_S_EXPECTING:
        case MJ_S_LEAVING:
            n++;
            if (ri.state == MJ_S_JOINED)
                nj++;
            if (ri.state == MJ_S_CHANGING || ri.state == MJ_S_EXPECTING)
                nc++;
            if (ri.state == MJ_S_LEAVING)
                nl++;
            if (rc != MJ_OK || nick.ptr == NULL || ri.nick.ptr == NULL ||
                nick.len != ri.nick.len ||
                memcmp(nick.ptr, ri.nick.ptr, nick.len) != 0)
                fail("mj_session_nick disagrees with the iteration", key);
            if (!s->overflow) {
                if (e == NULL)
                    fail("a room shown that the events never joined", key);
                if (!str_is(ri.nick, e->nick))
                    fail("the nick shown is not the events' nick", key);
                if (!nick_offered(s, ri.room, ri.nick))
                    fail("a nick no self-presence, 303 or restore gave", key);
            }
            break;
        default:
            fail("a room in state none is iterated", key);
        }
    }
    if (!s->overflow && (int)n != s->nmap)
        fail("the events show rooms the queries do not", NULL);
    if (mj_session_count(s->h, MJ_S_NONE) != n ||
        mj_session_count(s->h, MJ_S_PENDING) != np ||
        mj_session_count(s->h, MJ_S_JOINED) != nj ||
        mj_session_count(s->h, MJ_S_CHANGING) != nc ||
        mj_session_count(s->h, MJ_S_EXPECTING) != nc ||
        mj_session_count(s->h, MJ_S_LEAVING) != nl)
        fail("mj_session_count disagrees with the iteration", NULL);
    /* bounds: no growth above a bound (a restore is not bounded) */
    if (!cur.restoring && np > 2 * cfg.max_pending && np > s->last_pending)
        fail("pending entries grew above 2 x max_pending", NULL);
    if (!cur.restoring && n > cfg.max_rooms && n > s->last_shown)
        fail("shown entries grew above max_rooms", NULL);
    s->last_pending = np;
    s->last_shown = n;
    *shown += n;
    *pending += np;
    *changing += nc;
    *leaving += nl;
}

static void check_all(void)
{
    size_t shown = 0, pending = 0, changing = 0, leaving = 0, open = 0;
    mj_stats st;
    for (int i = 0; i < NSESS; i++) {
        if (sh[i].h == NULL) {
            if (sh[i].nmap != 0)
                fail("a closed session still has rooms in the events", NULL);
            continue;
        }
        open++;
        check_session(i, &shown, &pending, &changing, &leaving);
    }
    mj_tracker_stats(tr, &st);
    if (st.sessions != open || st.rooms_shown != shown ||
        st.pending != pending || st.changing != changing ||
        st.leaving != leaving)
        fail("mj_tracker_stats disagrees with the sessions", NULL);
    if (st.bytes != live_bytes)
        fail("stats.bytes differs from what the allocator holds", NULL);
    /* every session the tracker iterates is one of ours */
    size_t cursor = 0, seen = 0;
    mj_session *h;
    while ((h = mj_tracker_next_session(tr, &cursor)) != NULL) {
        if (slot_of(h) < 0)
            fail("the tracker iterates an unknown session", NULL);
        seen++;
    }
    if (seen != open)
        fail("mj_tracker_next_session misses sessions", NULL);
}

/* ---- building stanzas ----------------------------------------------------
 */

static char jidbuf[2][4096];
static int key_overflow; /* the last occupant()'s key did not fit */

/* room/nick into buf i; the room spelling's prepared bare JID into key
 * ("" when it does not prepare) */
static mj_str occupant(int bi, const char *room, size_t rlen, const char *nick,
                       size_t nlen, int has_nick, char *key)
{
    char *b = jidbuf[bi];
    char prep[3 * 1024 + 8];
    size_t plen = 0;
    if (rlen > 2000)
        rlen = 2000;
    if (nlen > 2000)
        nlen = 2000;
    memcpy(b, room, rlen);
    size_t len = rlen;
    if (has_nick) {
        b[len++] = '/';
        memcpy(b + len, nick, nlen);
        len += nlen;
    }
    key[0] = '\0';
    key_overflow = 0;
    if (mj_jid_prep(b, len, prep, sizeof prep, &plen) == MJ_OK) {
        size_t k = 0;
        while (k < plen && prep[k] != '/')
            k++;
        if (k < MAXSTR) {
            memcpy(key, prep, k);
            key[k] = '\0';
        } else {
            key_overflow = 1;
        }
    }
    mj_str s = {b, len};
    return s;
}

/* ---- steps ------------------------------------------------------------- */

static mj_session *session(int i)
{
    if (sh[i].h == NULL) {
        mj_session *h = NULL;
        failed_now = 0;
        int rc =
            mj_session_open(tr, session_jids[i], strlen(session_jids[i]), &h);
        if (rc == MJ_OK) {
            sh[i].h = h;
            sh[i].last_pending = sh[i].last_shown = 0;
        } else if (rc != MJ_ENOMEM) {
            fail("mj_session_open failed", mj_error_name(rc));
        }
    }
    return sh[i].h;
}

static void apply_feed(int slot, int outgoing, const mj_stanza *st)
{
    struct snap before, after;
    mj_outcome o = MJ_O_IGNORED;
    mj_session *h = session(slot);
    if (h == NULL)
        return;
    snapshot(&before);
    int ev0 = cur.events;
    failed_now = 0;
    int rc = outgoing ? mj_session_outgoing(h, st, &o)
                      : mj_session_incoming(h, st, &o);
    if (trace)
        fprintf(stderr,
                "  %s session %d kind %d type %d %s=%.*s muc_x %d muc_user "
                "%d nstatus %zu%s -> %s %s\n",
                outgoing ? "out" : "in", slot, (int)st->kind, (int)st->type,
                outgoing ? "to" : "from",
                (int)(outgoing ? st->to.len : st->from.len),
                outgoing ? (st->to.ptr ? st->to.ptr : "")
                         : (st->from.ptr ? st->from.ptr : ""),
                st->has_muc_x, st->has_muc_user, st->nstatus,
                failed_now ? " (allocation failed)" : "", mj_error_name(rc),
                mj_outcome_name(o));
    if (rc == MJ_ENOMEM) {
        snapshot(&after);
        if (!failed_now)
            fail("MJ_ENOMEM without a failed allocation", NULL);
        if (before.len != after.len ||
            memcmp(before.buf, after.buf, before.len) != 0) {
            snap_print("before", &before);
            snap_print("after", &after);
            fail("MJ_ENOMEM changed the state", NULL);
        }
        if (cur.events != ev0)
            fail("MJ_ENOMEM fired events", NULL);
        if (o != MJ_O_UNCHANGED) /* regress-enomem-outcome */
            deviation("MJ_ENOMEM with an outcome other than unchanged "
                      "(mj_session_outgoing/incoming pass on the outcome "
                      "mj_joins_* set before failing)");
        return;
    }
    if (rc != MJ_OK)
        fail("a feed failed", mj_error_name(rc));
    if (cur.forged) {
        snapshot(&after);
        if (o == MJ_O_CHANGED || cur.events != ev0 ||
            before.len != after.len ||
            memcmp(before.buf, after.buf, before.len) != 0)
            fail("a self-presence from a room never joined changed state",
                 cur.key);
    }
}

/* Read-only calls must change nothing. */
static void read_only(int slot, const mj_stanza *st, int hold)
{
    struct snap before, after;
    mj_msg_class c;
    mj_session *h = session(slot);
    if (h == NULL)
        return;
    snapshot(&before);
    int ev0 = cur.events;
    int rc = mj_session_message(h, st, &c);
    if (rc != MJ_OK && rc != MJ_ENOMEM)
        fail("mj_session_message failed", mj_error_name(rc));
    int imp = mj_session_importance(h, st, hold);
    if (imp < -1 || imp > 1)
        fail("mj_session_importance out of range", NULL);
    if (imp == 0 && hold == 0)
        fail("mj_session_importance held a message without hold", NULL);
    if (mj_session_is_forwarded_ping(h, st) > 1)
        fail("mj_session_is_forwarded_ping out of range", NULL);
    snapshot(&after);
    if (cur.events != ev0 || before.len != after.len ||
        memcmp(before.buf, after.buf, before.len) != 0)
        fail("a read-only call changed the state", NULL);
}

static void set_config(uint8_t b, int initial)
{
    static const size_t bounds[4] = {1, 2, 3, 1000};
    static const double timeouts[4] = {1, 30, 120, 0};
    mj_config c = cfg;
    c.max_pending = bounds[b & 3];
    c.max_rooms = bounds[(b >> 2) & 3];
    c.pending_timeout = timeouts[(b >> 4) & 3];
    c.legacy_joins = (b >> 6) & 1;
    c.self_ping = !((b >> 7) & 1);
    if (initial) {
        cfg = c;
        return;
    }
    if (mj_tracker_configure(tr, &c) != MJ_OK)
        fail("mj_tracker_configure failed", NULL);
    cfg = c;
    reconfigured = 1;
}

/* A presence, a message or an iq from the pools (or raw JIDs). */
static void feed_step(struct in *in, int op)
{
    uint8_t a = byte(in), b = byte(in), c = byte(in), d = byte(in);
    int slot = a % NSESS;
    const char *room = rooms[(a >> 2) % NROOMS];
    const char *nick = nicks[(b >> 4) % NNICKS];
    int outgoing = op == 0 || op == 1 || op == 10;
    char key[MAXSTR];
    char raw_room[256], raw_nick[256];
    size_t rlen = strlen(room), nlen = nick ? strlen(nick) : 0;
    int has_nick = nick != NULL;
    mj_stanza st;

    if (op == 13) { /* raw JID parts from the input */
        size_t l1 = byte(in) % 64, l2 = byte(in) % 32;
        for (size_t k = 0; k < l1; k++)
            raw_room[k] = (char)byte(in);
        for (size_t k = 0; k < l2; k++)
            raw_nick[k] = (char)byte(in);
        room = raw_room;
        rlen = l1;
        nick = raw_nick;
        nlen = l2;
        has_nick = (d & 0x40) != 0;
        outgoing = (d & 0x80) != 0;
    }

    mj_stanza_init(&st);
    st.kind = MJ_KIND_PRESENCE;
    switch (b & 3) {
    case 0:
        st.type = MJ_T_AVAILABLE;
        break;
    case 1:
        st.type = MJ_T_UNAVAILABLE;
        break;
    case 2:
        st.type = MJ_T_ERROR;
        break;
    default:
        st.type = MJ_T_OTHER;
        break;
    }
    st.has_muc_x = (b >> 2) & 1;
    st.has_muc_user = (b >> 3) & 1;
    for (int k = 0; k < 8; k++)
        if ((c >> k) & 1) {
            st.status[st.nstatus++] = codes[k];
            st.has_muc_user = 1;
        }
    st.status_malformed = (d & 1) && st.has_muc_user;
    /* ids from a pool of three (or none), so that joins, their answers and
     * answers to earlier stanzas meet (answers in flight) */
    static const char *const ids[] = {NULL, "j1", "j2", "u1"};
    if (ids[(c ^ (d >> 2)) & 3] != NULL)
        st.id = cstr(ids[(c ^ (d >> 2)) & 3]);
    switch ((d >> 1) & 7) { /* item nick of a 303 */
    case 1:
        st.item_nick = cstr(nicks[(a >> 5) % (NNICKS - 1)]);
        break;
    case 2:
        st.item_nick = cstr("");
        break;
    case 3:
        st.item_nick = cstr("\xff\xfe");
        break;
    case 4:
        st.has_destroy = 1;
        st.destroy_jid = cstr("lair@chat.shakespeare.lit");
        st.destroy_reason = cstr("Macbeth doth come.");
        break;
    default:
        break;
    }
    if (st.type == MJ_T_ERROR) {
        st.error_condition = cstr(conditions[(d >> 4) & 7]);
        st.error_type = cstr("cancel");
        if (d & 0x80)
            st.error_by = cstr("chat.shakespeare.lit");
    }
    if (op == 10 || op == 11) { /* message errors, groupchat messages */
        st.kind = MJ_KIND_MESSAGE;
        if (op == 11 && (b & 3) == 0) {
            st.type = MJ_T_GROUPCHAT;
            st.body = cstr((d & 1) ? "thirdwitch: hail!" : "hello all");
            if (d & 2)
                st.delay_from[st.ndelay++] = cstr(room);
            if (d & 4)
                st.mention_uri[st.nmentions++] =
                    cstr("xmpp:coven@chat.shakespeare.lit/thirdwitch");
            if (d & 8)
                st.has_subject = 1;
            st.has_wake_hint = (d >> 6) & 1;
        }
    }
    if (op == 12) { /* an iq: a forwarded self-ping, or anything */
        st.kind = MJ_KIND_IQ;
        st.type = (b & 1) ? MJ_T_GET : MJ_T_RESULT;
        st.has_ping = (b >> 1) & 1;
    }

    mj_str jid = occupant(0, room, rlen, nick, nlen, has_nick, key);
    if (outgoing) {
        if ((a >> 7) && st.kind == MJ_KIND_PRESENCE && op != 13) {
            st.to.ptr = NULL; /* broadcast */
            key[0] = '\0';
        } else {
            st.to = jid;
        }
    } else {
        st.from = jid;
        st.to = cstr(session_jids[slot]);
    }

    /* the shadow's knowledge of what this step may do */
    memset(&cur, 0, sizeof cur);
    cur.slot = slot;
    if (key_overflow || nlen >= MAXSTR) {
        cur.lenient = 1;
        sh[slot].overflow = 1;
    }
    strcpy(cur.key, key);
    int self = 0;
    for (size_t k = 0; k < st.nstatus; k++)
        if (st.status[k] == 110)
            self = 1;
    self = self && st.has_muc_user;
    if (!outgoing && st.kind == MJ_KIND_PRESENCE && key[0]) {
        cur.kind = 1;
        cur.self_avail = self && st.type == MJ_T_AVAILABLE && has_nick;
        if (self && has_nick) {
            mj_str res = {nick, nlen};
            offer_nick(&sh[slot], key, res);
        }
        if (self) {
            int has303 = 0;
            for (size_t k = 0; k < st.nstatus; k++)
                if (st.status[k] == 303)
                    has303 = 1;
            if (has303)
                offer_nick(&sh[slot], cur.key, st.item_nick);
        }
        cur.forged = self && st.type != MJ_T_ERROR &&
                     !joinable(&sh[slot], cur.key) && !sh[slot].overflow;
    }
    if (outgoing && st.kind == MJ_KIND_PRESENCE && st.to.ptr != NULL &&
        key[0] && st.type == MJ_T_AVAILABLE && has_nick &&
        (st.has_muc_x || cfg.legacy_joins))
        add_joinable(&sh[slot], key);
    cur.out_change = outgoing && st.kind == MJ_KIND_PRESENCE &&
                     st.to.ptr != NULL && key[0] &&
                     st.type == MJ_T_AVAILABLE && has_nick;

    if (op == 12) {
        read_only(slot, &st, d & 1);
        return;
    }
    if (op == 11 && st.type == MJ_T_GROUPCHAT)
        read_only(slot, &st, (d >> 4) & 3);
    apply_feed(slot, outgoing, &st);
}

static void ping_step(struct in *in)
{
    uint8_t a = byte(in), b = byte(in);
    int slot = a % NSESS;
    mj_session *h = session(slot);
    mj_stanza st;
    char key[MAXSTR];
    if (h == NULL)
        return;
    mj_stanza_init(&st);
    st.kind = MJ_KIND_IQ;
    st.type = (b & 1) ? MJ_T_ERROR : MJ_T_RESULT;
    st.from =
        occupant(0, rooms[(a >> 2) % NROOMS], strlen(rooms[(a >> 2) % NROOMS]),
                 nicks[b >> 5 & 3], strlen(nicks[b >> 5 & 3]), 1, key);
    if (st.type == MJ_T_ERROR) {
        st.error_condition = cstr(conditions[(b >> 1) & 7]);
        st.error_type = cstr((b & 0x10) ? "wait" : "cancel");
        if (b & 0x80)
            st.error_by = cstr((b & 0x40) ? "chat.shakespeare.lit"
                                          : "coven@chat.shakespeare.lit");
    }
    uint32_t id = last_ping_id[(a >> 6) & 3];
    if (b & 0x08)
        id = (uint32_t)b * 7u + 1u; /* some other id */
    mj_ping_verdict v;
    memset(&cur, 0, sizeof cur);
    cur.slot = slot;
    int rc = mj_session_ping_answer(h, id, &st, (int)(b % 3) - 1, &v);
    if (rc != MJ_OK && rc != MJ_EINVAL)
        fail("mj_session_ping_answer failed", mj_error_name(rc));
}

static void restore_step(struct in *in)
{
    uint8_t a = byte(in), b = byte(in);
    int slot = a % NSESS;
    mj_session *h = session(slot);
    char key[MAXSTR];
    if (h == NULL)
        return;
    const char *room = rooms[(a >> 2) % NROOMS];
    mj_state state = (mj_state)(1 + b % 5);
    mj_str nick = cstr(nicks[(b >> 3) % (NNICKS - 1)]);
    mj_str pnick = cstr(nicks[(b >> 5) % (NNICKS - 1)]);
    occupant(0, room, strlen(room), "", 0, 0, key);
    struct snap before, after;
    snapshot(&before);
    memset(&cur, 0, sizeof cur);
    cur.restoring = 1;
    failed_now = 0;
    int rc = mj_session_restore(h, room, strlen(room), state, nick, pnick,
                                now - (double)(b & 7));
    if (rc == MJ_ENOMEM) {
        snapshot(&after);
        if (before.len != after.len ||
            memcmp(before.buf, after.buf, before.len) != 0)
            fail("MJ_ENOMEM from restore changed the state", NULL);
        return;
    }
    if (rc != MJ_OK) {
        if (key[0] && rc != MJ_EINVAL)
            fail("restore of a valid room failed", mj_error_name(rc));
        return;
    }
    restored = 1;
    struct shadow *s = &sh[slot];
    add_joinable(s, key);
    struct mapent *e = map_find(s, cstr(key));
    if (state == MJ_S_PENDING) {
        if (e != NULL)
            map_remove(s, e);
        return;
    }
    offer_nick(s, key, nick);
    if (state == MJ_S_CHANGING || state == MJ_S_EXPECTING)
        offer_nick(s, key, pnick); /* EXPECTING's timeout shows it */
    if (e == NULL) {
        if (s->nmap == MAXMAP) {
            s->overflow = 1;
            return;
        }
        e = &s->map[s->nmap++];
        strcpy(e->room, key);
    }
    if (!copy_str(e->nick, nick))
        s->overflow = 1;
}

static void step(struct in *in)
{
    uint8_t op = byte(in);
    if (trace)
        fprintf(stderr, "step op %d\n", op % 20);
    memset(&cur, 0, sizeof cur);
    fail_all = 0;
    switch (op % 20) {
    case 0: /* presences sent, received (more often) */
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 10: /* message error sent */
    case 11: /* message received (error, groupchat) */
    case 12: /* iq received: read-only checks */
    case 13: /* raw JIDs */
        feed_step(in, op % 20 > 5 ? op % 20 : op % 20 < 2 ? 0 : 2);
        return;
    case 6: { /* tick */
        uint8_t b = byte(in);
        now += (b & 0x80) ? (double)(b & 0x7f) * 4 : (double)(b & 7) / 2;
        cur.allow_nick_ch = 1;
        cur.tick = 1;
        mj_tracker_tick(tr);
        if (!reconfigured && !restored && cfg.pending_timeout > 0) {
            /* nothing timed is overdue after a tick */
            for (int i = 0; i < NSESS; i++) {
                size_t cursor = 0;
                mj_room_info ri;
                while (sh[i].h && mj_session_next_room(sh[i].h, &cursor, &ri))
                    if (ri.state != MJ_S_JOINED &&
                        ri.since + cfg.pending_timeout <= now)
                        fail("a timed state outlived its timeout after tick",
                             mj_state_name(ri.state));
            }
        }
        return;
    }
    case 7: { /* session close */
        int slot = byte(in) % NSESS;
        if (sh[slot].h == NULL)
            return;
        cur.slot = slot;
        mj_session_close(sh[slot].h);
        if (sh[slot].nmap != 0 && !sh[slot].overflow)
            fail("close left rooms the events did not remove", NULL);
        memset(&sh[slot], 0, sizeof sh[slot]);
        return;
    }
    case 8:
        set_config(byte(in), 0);
        return;
    case 9:
        restore_step(in);
        return;
    case 14: { /* the next allocations fail */
        uint8_t b = byte(in);
        if (b & 0x80)
            fail_all = 1;
        else
            fail_countdown = 1 + (b & 15);
        feed_step(in, (b & 0x40) ? 0 : 2);
        fail_all = 0;
        return;
    }
    case 15: { /* link lost, or (high bit) link up */
        uint8_t b = byte(in);
        const char *dom = domains[b % 4];
        int up = (b & 0x80) != 0;
        int rc = up ? mj_tracker_link_up(tr, dom, strlen(dom))
                    : mj_tracker_link_lost(tr, dom, strlen(dom));
        if (rc != MJ_OK && rc != MJ_EJID && rc != MJ_ENOMEM)
            fail(up ? "mj_tracker_link_up failed"
                    : "mj_tracker_link_lost failed",
                 mj_error_name(rc));
        return;
    }
    case 16:
        ping_step(in);
        return;
    case 17: { /* queries with input bytes: no crash, no change */
        size_t l = byte(in) % 48;
        char q[48];
        mj_str nick;
        mj_room_info ri;
        int slot = byte(in) % NSESS;
        for (size_t k = 0; k < l; k++)
            q[k] = (char)byte(in);
        if (sh[slot].h != NULL) {
            mj_session_nick(sh[slot].h, q, l, &nick);
            mj_session_room(sh[slot].h, q, l, &ri);
        }
        return;
    }
    default: /* broadcast unavailable */
    {
        int slot = byte(in) % NSESS;
        mj_stanza st;
        mj_stanza_init(&st);
        st.type = MJ_T_UNAVAILABLE;
        cur.slot = slot;
        apply_feed(slot, 1, &st);
        return;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    trace = getenv("FUZZ_TRACKER_TRACE") != NULL;
    memset(sh, 0, sizeof sh);
    memset(last_ping_id, 0, sizeof last_ping_id);
    live_bytes = 0;
    fail_countdown = 0;
    fail_all = 0;
    reconfigured = restored = 0;
    now = 1000.0;

    mj_config_init(&cfg);
    cfg.alloc = hook_alloc;
    cfg.clock = fake_clock;
    cfg.on_event = on_event;
    set_config(byte(&in), 1);
    if (mj_tracker_new(&cfg, &tr) != MJ_OK)
        fail("mj_tracker_new failed", NULL);
    check_all();
    for (int steps = 0; in.n > 0 && steps < 400; steps++) {
        step(&in);
        fail_countdown = 0;
        fail_all = 0;
        check_all();
    }
    mj_tracker_free(tr);
    tr = NULL;
    if (live_bytes != 0)
        fail("mj_tracker_free did not free everything", NULL);
    return 0;
}

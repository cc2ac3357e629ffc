/* A randomized model test of the leaves owed to rooms (src/leaves.c),
 * through the public API only: fixed seeds drive random joins, leaves,
 * bounces, answers, link ups and losses, rejoins, restores, session ends,
 * ticks, max_rooms changes and clock swaps, and a shadow of every
 * (session, room) record, written from docs/semantics.md §2 ("Leaves the
 * path bounced") and src/leaves.h alone, is checked after each step:
 * leaves_owed, leaves_waiting and leaves_resent, the bytes held (a counting
 * allocator; back to the warm-up's once every session ended, and all of them
 * after mj_tracker_free), and the leave-needed events of each link up, which
 * must be exactly the model's, in its order (those owed to the domain, in the
 * order they became owed), and never for a room the session shows. Rules
 * mirrored:
 *
 *  - a leave our own server bounced (remote-server-not-found or
 *    remote-server-timeout without by, or any error by the user's domain)
 *    is owed; a link up of the room's domain sends it (sends + 1) and it
 *    waits for its answer, sent;
 *  - the answer, from room/<any nick> while the session has no state
 *    with the room: the path's bounce (as above; recipient-unavailable
 *    and type wait only after a link loss of the domain since the send)
 *    makes it owed again (the newest owed), or ends it after the
 *    MJ_LEAVE_SENDS-th send; the room's (an unavailable self-presence, an
 *    error by the room, its service or another, or none of the path's)
 *    ends it; anything else answers nothing;
 *  - a presence of the session to the room other than a leave, and a
 *    restore, end it, unless it was sent and the presence is a join (an
 *    available presence to room/<nick>): then it is done, neither owed
 *    nor sent again (a link loss, a link up), waiting (leaves_waiting)
 *    only for an answer carrying the id of one of its sends, which ends
 *    it whatever it says (while the rejoin waits for its own answer too:
 *    answered, the join still pending), or for the rejoin's answer (a
 *    self-presence or an error without such an id that ends the join's
 *    wait, or, with no entry waiting, any from room/<nick> but a 303: it
 *    ends the record too); the session's end and a day
 *    (MJ_LEAVE_TTL) end any;
 *  - a session keeps at most max_rooms (0: none), its list ordered sent
 *    or done (in the order sent or done) then owed (oldest first), freed
 *    from the head,
 *    at a new record and at once when max_rooms is lowered. */
#include <math.h>

#include "fixture.h"

#define NS        4 /* sessions */
#define NR        8 /* rooms */
#define ND        3 /* domains (room j is on domain j % ND) */
#define SENDS     3 /* MJ_LEAVE_SENDS */
#define TTL       86400.0
#define TRACE_MAX 24 /* steps printed when the model and tracker differ */

enum rec { NONE, OWED, SENT, DONE };

/* The model of one (session, room). */
struct cell {
    int shown;      /* the session shows the room (JOINED) */
    enum rec rec;   /* the leave owed */
    char nick[8];   /* the nick the leave goes to */
    double created; /* model time it was first owed (the day runs from it) */
    int sends;
    unsigned long oseq; /* when it became owed (last time) */
    unsigned long sseq; /* when it was sent (or done) */
    unsigned lost_at;   /* the domain's losses when it was sent */
    char id[32];        /* the id its last send carried (leave-needed's) */
    char first_id[32];  /* the id its first send carried */
};

static mj_tracker *tr;
static mj_session *ss[NS];
static struct cell M[NS][NR];
static unsigned losses[ND];
static unsigned long seq;
static unsigned long long resent;
static size_t max_rooms;
static double now;          /* the model's time (whole seconds) */
static double off_a, off_b; /* the two clocks' offsets from it */
static int clock_b;         /* which clock the tracker reads */
static size_t held;         /* bytes the allocator hands out */
static unsigned long long rng;
static int diverged;
static int in_link_up;
static char trace[TRACE_MAX][240];
static long step;

/* What the steps made happen, over every seed: each must have, or the
 * test checks less than it says. */
#define HAPPENINGS(X)                                                         \
    X(OWED, "a leave bounced by our server owed")                             \
    X(SENT_TOGETHER, "a link up sending several")                             \
    X(SENT_AGAIN, "a leave sent a second or third time")                      \
    X(OWED_AGAIN, "a leave sent, bounced again, owed again")                  \
    X(LOST_BOUNCE, "recipient-unavailable or wait after a link loss")         \
    X(LAST_SEND, "the bounce of the last send ending it")                     \
    X(ANSWERED, "the room's answer ending it")                                \
    X(LOST_SENT, "a link loss owing a leave sent again")                      \
    X(OWED_ID, "an answer with its id to a leave owed again")                 \
    X(BY_ID, "an answer carrying its send's id: answered")                    \
    X(EARLIER_ID, "an answer carrying an earlier send's id: answered")        \
    X(NOT_LOST, "recipient-unavailable or wait, no link loss, ending it")     \
    X(CLEARED, "a presence to the room or a restore ending it")               \
    X(DONE, "a presence to the room after a send keeping it for its answer")  \
    X(DONE_ANSWERED, "the answer to a leave done, the session out")           \
    X(REJOIN_ANSWERED, "the answer to a leave done while the rejoin waits")   \
    X(REJOIN_REFUSED, "the rejoin's own refusal while its leave is done")     \
    X(REJOIN_OVER, "the rejoin's own answer ending a leave done")             \
    X(REJOIN_TIMEOUT, "a rejoin timing out, its leave still done")            \
    X(DONE_OVER, "the room's word without the id ending a leave done, no "    \
                 "entry waiting")                                             \
    X(SHOWN_ANSWERED, "the answer to a leave done, the room shown since "     \
                      "(restored): answered, the room stays")                 \
    X(SHOWN_OVER, "the room's word without the id ending a leave done, the "  \
                  "room shown since")                                         \
    X(CLOSED, "the session's end ending it")                                  \
    X(EXPIRED, "a day ending it")                                             \
    X(BOUND_SENT, "the bound freeing a leave sent")                           \
    X(BOUND_OWED, "the bound freeing a leave owed")                           \
    X(TRIMMED, "max_rooms lowered freeing one")                               \
    X(RETIMED, "a clock swap with records kept")

#define AS_ENUM(name, text) H_##name,
#define AS_TEXT(name, text) text,
enum { HAPPENINGS(AS_ENUM) H_COUNT };
static const char *const happening[] = {HAPPENINGS(AS_TEXT)};
static unsigned long seen[H_COUNT];

static char sjid[NS][40], room[NR][40], dom[ND][24];

/* The leave-needed events of one link up. */
static struct {
    int i, j;
    char nick[8];
    char id[32];
} evs[NS * NR];
static int nev;

#define DIVERGED(...)                                                         \
    do {                                                                      \
        if (!diverged)                                                        \
            FAIL_AT(__VA_ARGS__);                                             \
        diverged = 1;                                                         \
    } while (0)

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* Add to the current step's line of the trace (none in the warm-up). */
static void note(const char *fmt, ...)
{
    if (step < 0)
        return;
    char *line = trace[step % TRACE_MAX];
    size_t used = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + used, sizeof trace[0] - used, fmt, ap);
    va_end(ap);
}

static void *count_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        if (p != NULL)
            held -= osize;
        free(p);
        return NULL;
    }
    void *q = realloc(p, nsize);
    if (q != NULL)
        held += nsize - (p != NULL ? osize : 0);
    return q;
}

static double clock_a_fn(void *ud)
{
    (void)ud;
    return now + off_a;
}

static double clock_b_fn(void *ud)
{
    (void)ud;
    return now + off_b;
}

static int slot_of(const mj_session *s)
{
    for (int i = 0; i < NS; i++)
        if (ss[i] == s)
            return i;
    return -1;
}

static int room_of(mj_str r)
{
    for (int j = 0; j < NR; j++)
        if (strlen(room[j]) == r.len && memcmp(room[j], r.ptr, r.len) == 0)
            return j;
    return -1;
}

static void on_event(void *ud, const mj_event *ev)
{
    (void)ud;
    if (ev->type != MJ_EV_LEAVE_NEEDED)
        return;
    int i = slot_of(ev->session), j = room_of(ev->room);
    if (!in_link_up)
        DIVERGED("leave-needed outside a link up");
    if (i < 0 || j < 0 || nev == NS * NR) {
        DIVERGED("leave-needed for an unknown session or room");
        return;
    }
    mj_room_info info;
    if (mj_session_room(ev->session, room[j], strlen(room[j]), &info) ==
            MJ_OK &&
        info.state != MJ_S_NONE)
        DIVERGED("leave-needed for %s, which session %d shows (%s)", room[j],
                 i, mj_state_name(info.state));
    if (ev->session_jid.len != strlen(sjid[i]) ||
        memcmp(ev->session_jid.ptr, sjid[i], ev->session_jid.len) != 0)
        DIVERGED("leave-needed: session_jid is not session %d's", i);
    evs[nev].i = i;
    evs[nev].j = j;
    snprintf(evs[nev].nick, sizeof evs[nev].nick, "%.*s", (int)ev->nick.len,
             ev->nick.ptr);
    if (ev->id.ptr == NULL || ev->id.len != 24)
        DIVERGED("leave-needed without its id");
    snprintf(evs[nev].id, sizeof evs[nev].id, "%.*s", (int)ev->id.len,
             ev->id.ptr != NULL ? ev->id.ptr : "");
    nev++;
}

static mj_config config(void)
{
    mj_config c;
    mj_config_init(&c);
    c.alloc = count_alloc;
    c.clock = clock_b ? clock_b_fn : clock_a_fn;
    c.on_event = on_event;
    c.self_ping = 0;
    c.max_rooms = max_rooms;
    return c;
}

static void configure(void)
{
    mj_config c = config();
    if (mj_tracker_configure(tr, &c) != MJ_OK)
        DIVERGED("mj_tracker_configure refused");
}

/* ---- stanzas ---- */

static void out(int i, mj_stanza st)
{
    mj_outcome o;
    if (mj_session_outgoing(ss[i], &st, &o) != MJ_OK)
        DIVERGED("mj_session_outgoing failed");
}

static const char *with_id; /* the id what is received carries (NULL) */
static mj_outcome last_in;  /* the outcome of the last received */

static void in(int i, mj_stanza st)
{
    if (with_id != NULL)
        st.id = S(with_id);
    if (mj_session_incoming(ss[i], &st, &last_in) != MJ_OK)
        DIVERGED("mj_session_incoming failed");
}

/* room j's occupant nick (static: one at a time) */
static const char *occ(int j, const char *nick)
{
    static char buf[2][64];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", room[j], nick);
    return buf[k];
}

static void self(int i, int j, const char *nick, const char *type)
{
    mj_stanza st = fx_pres(type, occ(j, nick));
    fx_codes(&st, 110, 0);
    in(i, st);
}

static void error(int i, const char *from, const char *type, const char *cond,
                  const char *by)
{
    mj_stanza st = fx_pres("error", from);
    st.error_type = S(type);
    st.error_condition = S(cond);
    st.error_by = S(by);
    in(i, st);
}

static mj_state state(int i, int j)
{
    return fx_state(ss[i], room[j]);
}

/* ---- the model ---- */

static int records(int i)
{
    int n = 0;
    for (int j = 0; j < NR; j++)
        n += M[i][j].rec != NONE;
    return n;
}

/* The head of session i's list: the first sent, else the oldest owed. */
static int head(int i)
{
    int best = -1;
    for (int j = 0; j < NR; j++) {
        const struct cell *c = &M[i][j], *b = best < 0 ? NULL : &M[i][best];
        if (c->rec == NONE)
            continue;
        int cs = c->rec != OWED, bs = b != NULL && b->rec != OWED;
        if (b == NULL || (cs && !bs) ||
            (cs == bs && (cs ? c->sseq < b->sseq : c->oseq < b->oseq)))
            best = j;
    }
    return best;
}

/* The nick a cell was last shown with ("ann" if never) */
static const char *nick_of(const struct cell *c)
{
    return c->nick[0] ? c->nick : "ann";
}

static void keep(int i, size_t n)
{
    while ((size_t)records(i) > n) {
        struct cell *c = &M[i][head(i)];
        seen[c->rec != OWED ? H_BOUND_SENT : H_BOUND_OWED]++;
        c->rec = NONE;
    }
}

static void owed_again(struct cell *c)
{
    if (c->sends >= SENDS) {
        seen[H_LAST_SEND]++;
        c->rec = NONE;
        return;
    }
    seen[H_OWED_AGAIN]++;
    c->rec = OWED;
    c->oseq = ++seq;
}

static void link_up(int d);
static void link_lost(int d);
static void tick_by(double dt);

/* Session i sent room j a presence other than a leave (or a restore):
 * its record ends if never sent or the presence is no join (rejoin 0),
 * else it is done. */
static void cleared(int i, int j, int rejoin)
{
    struct cell *c = &M[i][j];
    if (c->rec == NONE || c->rec == DONE)
        return;
    if (c->sends == 0 || !rejoin) {
        seen[H_CLEARED]++;
        c->rec = NONE;
        return;
    }
    seen[H_DONE]++;
    if (c->rec == OWED)
        c->sseq = ++seq; /* the newest of those sent */
    c->rec = DONE;
}

/* The answer to a leave done, carrying its id, while session i's rejoin
 * of room j as nick waits: the tracker's own (answered), the join still
 * pending. */
static void rejoin_answered(int i, int j, const char *nick)
{
    struct cell *c = &M[i][j];
    int err = rnd(2);
    with_id = rnd(2) ? c->id : c->first_id;
    note("; the answer to the leave done comes first (%s)",
         err ? "our server's bounce" : "the room's unavailable");
    if (err)
        error(i, occ(j, rnd(2) ? nick_of(c) : nick), "cancel",
              "remote-server-not-found", NULL);
    else
        self(i, j, rnd(2) ? nick_of(c) : nick, "unavailable");
    with_id = NULL;
    if (last_in != MJ_O_ANSWERED)
        DIVERGED("the answer to the leave done: %s", mj_outcome_name(last_in));
    if (state(i, j) != MJ_S_PENDING)
        DIVERGED("the answer to the leave done left the rejoin %s",
                 mj_state_name(state(i, j)));
    seen[H_REJOIN_ANSWERED]++;
    c->rec = NONE;
}

/* The room refuses session i's rejoin of room j as nick while the leave
 * sent before it is done: the refusal, without the id of any send of the
 * leave (none, or another "mjleave-" one), is the rejoin's own answer (it
 * ends the join), not the tracker's; it ends the record too (the leave's
 * answer came before it, or never will). */
static void rejoin_refused(int i, int j, const char *nick)
{
    with_id = rnd(2) ? "mjleave-0123456789abcdef" : NULL;
    note("; the room refuses the rejoin (%s)",
         with_id != NULL ? "another leave's id" : "no id");
    error(i, occ(j, nick), "cancel", "conflict", NULL);
    with_id = NULL;
    if (last_in == MJ_O_ANSWERED)
        DIVERGED("the rejoin's refusal taken for the leave done's answer");
    if (state(i, j) != MJ_S_NONE)
        DIVERGED("the rejoin's refusal left %s", mj_state_name(state(i, j)));
    seen[H_REJOIN_REFUSED]++;
    M[i][j].rec = NONE;
}

/* ---- steps ---- */

/* Session i joins room j (a random nick): the record goes; 1 if shown. */
static int join(int i, int j)
{
    static const char *const nicks[] = {"ann", "bob", "cy"};
    const char *nick = nicks[rnd(3)];
    note("; joins %s as %s", room[j], nick);
    mj_stanza st = fx_pres("available", occ(j, nick));
    st.has_muc_x = 1;
    out(i, st);
    cleared(i, j, 1);
    int pending = state(i, j) == MJ_S_PENDING;
    if (M[i][j].rec == DONE && pending) {
        switch (rnd(5)) {
        case 0:
            rejoin_refused(i, j, nick);
            return 0;
        case 4: /* no answer to the rejoin: it times out, the record
                   stays done */
            note("; the rejoin is not answered");
            tick_by(200); /* over pending_timeout (120) */
            if (state(i, j) != MJ_S_NONE)
                DIVERGED("the rejoin not answered: %s",
                         mj_state_name(state(i, j)));
            seen[H_REJOIN_TIMEOUT]++;
            return 0;
        case 1:
            rejoin_answered(i, j, nick);
            break;
        case 2: /* the domain's link lost and up again meanwhile: it is
                   neither owed again nor sent */
            note("; link lost and up %s", dom[j % ND]);
            link_lost(j % ND);
            link_up(j % ND);
            break;
        default:
            break;
        }
    }
    self(i, j, nick, "available");
    if (pending && M[i][j].rec == DONE) { /* the rejoin's answer ends it */
        seen[H_REJOIN_OVER]++;
        M[i][j].rec = NONE;
    }
    if (state(i, j) == MJ_S_JOINED) {
        M[i][j].shown = 1;
        snprintf(M[i][j].nick, sizeof M[i][j].nick, "%s", nick);
        return 1;
    }
    if (state(i, j) != MJ_S_NONE) /* NONE: max_rooms refused it */
        DIVERGED("join of %s: %s", room[j], mj_state_name(state(i, j)));
    return 0;
}

/* Session i leaves room j and our server bounces the leave: owed. */
static void leave_bounced(int i, int j)
{
    if (!M[i][j].shown && !join(i, j))
        return;
    struct cell *c = &M[i][j];
    note("; leaves %s, bounced", room[j]);
    out(i, fx_pres("unavailable", occ(j, c->nick)));
    switch (rnd(3)) {
    case 0:
        error(i, occ(j, c->nick), "cancel", "remote-server-not-found", NULL);
        break;
    case 1:
        error(i, occ(j, c->nick), "wait", "remote-server-timeout", NULL);
        break;
    default:
        error(i, occ(j, c->nick), "cancel", "service-unavailable",
              "home.example");
        break;
    }
    if (state(i, j) != MJ_S_NONE)
        DIVERGED("the bounced leave left %s", mj_state_name(state(i, j)));
    c->shown = 0;
    c->rec = NONE; /* replaced (a leave done before the rejoin) */
    keep(i, max_rooms ? max_rooms - 1 : 0);
    if (max_rooms == 0)
        return;
    seen[H_OWED]++;
    c->rec = OWED;
    c->created = now;
    c->sends = 0;
    c->id[0] = '\0';
    c->first_id[0] = '\0';
    c->oseq = ++seq;
}

static void link_up(int d)
{
    int want[NS * NR][2], n = 0;
    for (;;) { /* the domain's owed, in the order they became owed */
        int bi = -1, bj = -1;
        for (int i = 0; i < NS; i++)
            for (int j = d; j < NR; j += ND)
                if (M[i][j].rec == OWED &&
                    (bi < 0 || M[i][j].oseq < M[bi][bj].oseq)) {
                    bi = i;
                    bj = j;
                }
        if (bi < 0)
            break;
        struct cell *c = &M[bi][bj];
        seen[H_SENT_AGAIN] += c->sends > 0;
        c->rec = SENT;
        c->sends++;
        c->sseq = ++seq;
        c->lost_at = losses[d];
        want[n][0] = bi;
        want[n][1] = bj;
        n++;
    }
    nev = 0;
    in_link_up = 1;
    if (mj_tracker_link_up(tr, dom[d], strlen(dom[d])) != MJ_OK)
        DIVERGED("mj_tracker_link_up failed");
    in_link_up = 0;
    resent += (unsigned)n;
    seen[H_SENT_TOGETHER] += n > 1;
    if (nev != n) {
        DIVERGED("link up of %s: %d leave-needed, the model %d", dom[d], nev,
                 n);
        return;
    }
    for (int k = 0; k < n; k++) {
        struct cell *c = &M[want[k][0]][want[k][1]];
        snprintf(c->id, sizeof c->id, "%s", evs[k].id);
        if (c->sends == 1)
            snprintf(c->first_id, sizeof c->first_id, "%s", evs[k].id);
        if (evs[k].i != want[k][0] || evs[k].j != want[k][1] ||
            strcmp(evs[k].nick, c->nick) != 0)
            DIVERGED("link up of %s, leave-needed %d: session %d %s/%s, the "
                     "model session %d %s/%s",
                     dom[d], k, evs[k].i, room[evs[k].j], evs[k].nick,
                     want[k][0], room[want[k][1]], c->nick);
    }
}

/* The link to domain d is lost: its leaves sent and not answered are owed
 * again, in the order sent, but those sent SENDS times. */
static void link_lost(int d)
{
    losses[d]++;
    for (;;) {
        int bi = -1, bj = -1;
        for (int i = 0; i < NS; i++)
            for (int j = d; j < NR; j += ND)
                if (M[i][j].rec == SENT && M[i][j].sends < SENDS &&
                    (bi < 0 || M[i][j].sseq < M[bi][bj].sseq)) {
                    bi = i;
                    bj = j;
                }
        if (bi < 0)
            break;
        seen[H_LOST_SENT]++;
        M[bi][bj].rec = OWED;
        M[bi][bj].oseq = ++seq;
    }
    if (mj_tracker_link_lost(tr, dom[d], strlen(dom[d])) != MJ_OK)
        DIVERGED("mj_tracker_link_lost failed");
}

/* An answer from room j (the session has no state with it) to a leave
 * sent: bounced by the path, or the room's. */
static void answer(int i, int j, int op)
{
    struct cell *c = &M[i][j];
    const char *from = occ(j, rnd(2) ? nick_of(c) : "other");
    int lost = c->lost_at != losses[j % ND], bounced = 0;
    /* the id it carries: none, its last send's, another, or its first
     * send's (an earlier one's once sent again: still a send of it) */
    unsigned id_mode = c->id[0] != '\0' ? rnd(4) : 0;
    int ours = id_mode == 1 || id_mode == 3;
    with_id = id_mode == 1   ? c->id
              : id_mode == 3 ? c->first_id
              : id_mode == 2 ? "mjleave-0123456789abcdef"
                             : NULL;
    /* a leave owed again is answered only by what carries the id of a
     * send of it, whose wait and recipient-unavailable are the path's */
    int matched =
        c->rec == SENT || ((c->rec == OWED || c->rec == DONE) && ours);
    if (c->rec != SENT)
        lost = 1;
    if (with_id != NULL)
        note("; id %s", id_mode == 1   ? "its own"
                        : id_mode == 3 ? "its first send's"
                                       : "another");
    switch (op) {
    case 0:
        note("; our server: remote-server-not-found");
        error(i, from, "cancel", "remote-server-not-found", NULL);
        bounced = 1;
        break;
    case 1:
        note("; our server: remote-server-timeout");
        error(i, from, "wait", "remote-server-timeout", NULL);
        bounced = 1;
        break;
    case 2:
        note("; by the user's domain: item-not-found");
        error(i, from, "cancel", "item-not-found", "home.example");
        bounced = 1;
        break;
    case 3:
        note("; recipient-unavailable (lost %d)", lost);
        error(i, from, "cancel", "recipient-unavailable", NULL);
        bounced = lost;
        break;
    case 4:
        note("; type wait (lost %d)", lost);
        error(i, from, "wait", "resource-constraint", NULL);
        bounced = lost;
        break;
    case 5:
        note("; the room's unavailable self-presence");
        self(i, j, rnd(2) ? nick_of(c) : "other", "unavailable");
        break;
    case 6:
        note("; remote-server-not-found by the room");
        error(i, from, "cancel", "remote-server-not-found", room[j]);
        break;
    case 7:
        note("; item-not-found by the room's service");
        error(i, from, "cancel", "item-not-found", dom[j % ND]);
        break;
    case 8:
        note("; wait by another");
        error(i, from, "wait", "remote-server-timeout", "other.example");
        break;
    default:
        note("; the room's not-acceptable");
        error(i, from, "modify", "not-acceptable", NULL);
        break;
    }
    with_id = NULL;
    if ((last_in == MJ_O_ANSWERED) != (matched && ours))
        DIVERGED("the answer's outcome %s (its id %s, %s)",
                 mj_outcome_name(last_in), ours ? "its own" : "not",
                 c->rec == SENT   ? "sent"
                 : c->rec == OWED ? "owed"
                 : c->rec == DONE ? "done"
                                  : "none");
    if (!matched) {
        /* done, no entry waiting: the rejoin's answer (or the leave's
         * without the id, which comes first) ends it */
        if (c->rec == DONE) {
            seen[H_DONE_OVER]++;
            c->rec = NONE;
        }
        return; /* nothing waits for an answer */
    }
    if (c->rec == DONE) { /* whatever it says: the session came back */
        seen[H_DONE_ANSWERED]++;
        c->rec = NONE;
        return;
    }
    seen[H_BY_ID] += id_mode == 1;
    seen[H_EARLIER_ID] += id_mode == 3 && strcmp(c->first_id, c->id) != 0;
    if (c->rec == OWED) {
        seen[H_OWED_ID]++;
        if (!bounced) /* the room's: the leave reached it */
            c->rec = NONE;
        seen[H_ANSWERED] += !bounced;
        return;
    }
    if (op == 3 || op == 4)
        seen[lost ? H_LOST_BOUNCE : H_NOT_LOST]++;
    if (bounced)
        owed_again(c);
    else
        c->rec = NONE;
    seen[H_ANSWERED] += !bounced;
}

/* What answers no leave. */
static void no_answer(int i, int j)
{
    const struct cell *c = &M[i][j];
    switch (rnd(4)) {
    case 0:
        note("; another occupant's unavailable");
        in(i, fx_pres("unavailable", occ(j, "other")));
        break;
    case 1:
        note("; an error from the bare room");
        error(i, room[j], "cancel", "remote-server-not-found", NULL);
        break;
    case 2:
        note("; an available self-presence");
        self(i, j, nick_of(c), "available");
        if (M[i][j].rec == DONE) { /* the rejoin's answer ends it */
            seen[H_DONE_OVER]++;
            M[i][j].rec = NONE;
        }
        break;
    default:
        note("; the client repeats its leave");
        out(i, fx_pres("unavailable", occ(j, nick_of(c))));
        break;
    }
    if (state(i, j) != MJ_S_NONE)
        DIVERGED("no answer made %s", mj_state_name(state(i, j)));
}

static void restore(int i, int j)
{
    static const char *const nicks[] = {"ann", "dee"};
    const char *nick = nicks[rnd(2)];
    note("; restored as %s", nick);
    mj_str none = {NULL, 0};
    if (mj_session_restore(ss[i], room[j], strlen(room[j]), MJ_S_JOINED,
                           S(nick), none, NAN) != MJ_OK) {
        DIVERGED("mj_session_restore failed");
        return;
    }
    M[i][j].shown = 1;
    cleared(i, j, 0);
    snprintf(M[i][j].nick, sizeof M[i][j].nick, "%s", nick);
}

static void reopen(int i)
{
    note("; the session ends and opens again");
    mj_session_close(ss[i]);
    if (mj_session_open(tr, sjid[i], strlen(sjid[i]), &ss[i]) != MJ_OK)
        DIVERGED("mj_session_open failed");
    for (int j = 0; j < NR; j++) {
        M[i][j].shown = 0;
        seen[H_CLOSED] += M[i][j].rec != NONE;
        M[i][j].rec = NONE;
    }
}

/* dt seconds pass, and the tracker's tick runs. */
static void tick_by(double dt)
{
    now += dt;
    note("; now %.0f", now);
    mj_tracker_tick(tr);
    for (int i = 0; i < NS; i++)
        for (int j = 0; j < NR; j++)
            if (M[i][j].rec != NONE && M[i][j].created + TTL <= now) {
                seen[H_EXPIRED]++;
                M[i][j].rec = NONE;
            }
}

static void tick(void)
{
    tick_by(rnd(6) == 0 ? 40000 + rnd(50000) : rnd(100));
}

static void set_max_rooms(void)
{
    static const size_t values[] = {0, 1, 2, 3, 1000};
    size_t old = max_rooms;
    max_rooms = values[rnd(5)];
    note("; max_rooms %zu", max_rooms);
    configure();
    if (max_rooms < old)
        for (int i = 0; i < NS; i++) {
            seen[H_TRIMMED] += (size_t)records(i) > max_rooms;
            keep(i, max_rooms);
        }
}

/* The tracker reads the other clock, whose offset from the model's time
 * changed: the records keep their distance from now. */
static void swap_clock(void)
{
    double shift = (double)rnd(2000000) - 1000000;
    if (clock_b)
        off_a = shift;
    else
        off_b = shift;
    clock_b = !clock_b;
    note("; the clock swapped (offset %.0f)", shift);
    configure();
    for (int i = 0; i < NS; i++)
        seen[H_RETIMED] += records(i) != 0;
}

static void check(void)
{
    mj_stats st;
    mj_tracker_stats(tr, &st);
    size_t owed = 0, waiting = 0, answerable = 0;
    for (int i = 0; i < NS; i++)
        for (int j = 0; j < NR; j++) {
            owed += M[i][j].rec == OWED;
            waiting += M[i][j].rec == SENT || M[i][j].rec == DONE;
            answerable += M[i][j].rec != NONE && M[i][j].sends > 0;
        }
    if (st.leaves_owed != owed)
        DIVERGED("leaves_owed %zu, the model %zu", st.leaves_owed, owed);
    if (st.leaves_waiting != waiting)
        DIVERGED("leaves_waiting %zu, the model %zu", st.leaves_waiting,
                 waiting);
    if (st.leaves_answerable != answerable)
        DIVERGED("leaves_answerable %zu, the model %zu", st.leaves_answerable,
                 answerable);
    if (st.leaves_resent != resent)
        DIVERGED("leaves_resent %llu, the model %llu",
                 (unsigned long long)st.leaves_resent, resent);
    if (st.bytes != held)
        DIVERGED("stats bytes %zu, the allocator holds %zu", st.bytes, held);
}

/* Half the time, a cell waiting for its answer (sent or done), if any:
 * else the answers would mostly find none. */
static void pick(int *i, int *j)
{
    int n = 0, k;
    for (int a = 0; a < NS; a++)
        for (int b = 0; b < NR; b++)
            n += M[a][b].rec == SENT || M[a][b].rec == DONE;
    if (n == 0 || rnd(2))
        return;
    k = (int)rnd((unsigned)n);
    for (int a = 0; a < NS; a++)
        for (int b = 0; b < NR; b++)
            if ((M[a][b].rec == SENT || M[a][b].rec == DONE) && k-- == 0) {
                *i = a;
                *j = b;
            }
}

static void one_step(void)
{
    int i = (int)rnd(NS), j = (int)rnd(NR), d = (int)rnd(ND);
    int op = (int)rnd(22);
    if (op >= 9 && op <= 16)
        pick(&i, &j);
    struct cell *c = &M[i][j];
    now += rnd(3);
    trace[step % TRACE_MAX][0] = '\0';
    note("%ld: session %d %s (%s, sends %d) max_rooms %zu", step, i, room[j],
         c->rec == NONE   ? "none"
         : c->rec == OWED ? "owed"
         : c->rec == SENT ? "sent"
                          : "done",
         c->sends, max_rooms);
    switch (op) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
        leave_bounced(i, j);
        break;
    case 5:
    case 6:
    case 7:
        note("; link up %s", dom[d]);
        link_up(d);
        break;
    case 8:
        note("; link lost %s", dom[d]);
        link_lost(d);
        break;
    case 9:
    case 10:
    case 11:
    case 12:
        if (!c->shown)
            answer(i, j, (int)rnd(10));
        break;
    case 13:
        if (!c->shown)
            no_answer(i, j);
        break;
    case 14: /* a rejoin, or a confirmed leave */
        if (!c->shown) {
            join(i, j);
            break;
        }
        if (c->rec == DONE && rnd(2)) {
            /* shown since the rejoin (restored, or a rejoin shown at
             * its timeout): the leave's answer, with its id, is the
             * tracker's own still, not the room's word that the session
             * left */
            with_id = rnd(2) ? c->id : c->first_id;
            note("; the answer to the leave done, the room shown");
            self(i, j, rnd(2) ? nick_of(c) : c->nick, "unavailable");
            with_id = NULL;
            if (last_in != MJ_O_ANSWERED)
                DIVERGED("the answer to the leave done, the room shown: %s",
                         mj_outcome_name(last_in));
            if (state(i, j) != MJ_S_JOINED)
                DIVERGED("the answer to the leave done left the room %s",
                         mj_state_name(state(i, j)));
            seen[H_SHOWN_ANSWERED]++;
            c->rec = NONE;
        }
        note("; leaves, confirmed");
        out(i, fx_pres("unavailable", occ(j, c->nick)));
        self(i, j, c->nick, "unavailable");
        if (c->rec == DONE) { /* the room's word without the id */
            seen[H_SHOWN_OVER]++;
            c->rec = NONE;
        }
        c->shown = 0;
        if (state(i, j) != MJ_S_NONE)
            DIVERGED("a confirmed leave left %s", mj_state_name(state(i, j)));
        break;
    case 15: /* a presence update to the bare room: not a leave */
        if (c->shown)
            break;
        note("; a presence update to the bare room");
        out(i, fx_pres("available", room[j]));
        cleared(i, j, 0);
        break;
    case 16:
        if (!c->shown)
            restore(i, j);
        break;
    case 17:
        if (rnd(4) == 0)
            reopen(i);
        break;
    case 18:
        tick();
        break;
    case 19:
        if (rnd(3) == 0)
            set_max_rooms();
        break;
    case 20:
        if (rnd(3) == 0)
            swap_clock();
        break;
    default: /* more records on one domain: its order matters */
        leave_bounced(i, (int)rnd(3) * ND);
        break;
    }
    check();
}

/* Every session ends and what closed sessions are owed runs out: no
 * record is left, and every table the tracker keeps is back at its
 * smallest. The sessions open again, with nothing. */
static size_t settle(void)
{
    for (int i = 0; i < NS; i++)
        mj_session_close(ss[i]);
    now += 2 * TTL;
    mj_tracker_tick(tr);
    mj_stats st;
    mj_tracker_stats(tr, &st);
    if (st.leaves_owed != 0)
        DIVERGED("leaves_owed %zu with no session", st.leaves_owed);
    for (int i = 0; i < NS; i++)
        if (mj_session_open(tr, sjid[i], strlen(sjid[i]), &ss[i]) != MJ_OK)
            DIVERGED("mj_session_open failed");
    memset(M, 0, sizeof M);
    return st.bytes;
}

static void run_seed(unsigned long long seed, long steps)
{
    rng = seed * 0x9E3779B97F4A7C15ull + 1;
    now = 1000;
    off_a = 0;
    off_b = 5e6;
    clock_b = 0;
    max_rooms = 1000;
    seq = 0;
    resent = 0;
    diverged = 0;
    held = 0;
    memset(M, 0, sizeof M);
    memset(losses, 0, sizeof losses);
    mj_config c = config();
    if (mj_tracker_new(&c, &tr) != MJ_OK) {
        FAIL_AT("mj_tracker_new failed");
        return;
    }
    for (int i = 0; i < NS; i++)
        if (mj_session_open(tr, sjid[i], strlen(sjid[i]), &ss[i]) != MJ_OK)
            DIVERGED("mj_session_open failed");
    /* the baseline: each table was used once */
    step = -1;
    for (int i = 0; i < NS; i++)
        for (int j = 0; j < NR; j++)
            leave_bounced(i, j);
    for (int d = 0; d < ND; d++)
        link_up(d);
    size_t baseline = settle();
    if (!diverged)
        for (step = 0; step < steps && !diverged; step++)
            one_step();
    if (diverged) {
        fprintf(stderr, "  seed %llu, %s\n", seed,
                step < 0 ? "before the random steps" : "the last steps:");
        for (long k = step > TRACE_MAX ? step - TRACE_MAX : 0; k < step; k++)
            fprintf(stderr, "    %s\n", trace[k % TRACE_MAX]);
    } else {
        CHECK_INT(settle(), baseline);
    }
    for (int i = 0; i < NS; i++)
        mj_session_close(ss[i]);
    mj_tracker_free(tr);
    tr = NULL;
    CHECK_INT(held, 0);
}

static long steps = 20000; /* per seed; argv[1] sets it */

TEST(random_steps_agree_with_the_model)
{
    static const unsigned long long seeds[] = {1, 2, 3, 42, 2026, 88172645};
    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        run_seed(seeds[k], steps);
        if (test_cur_failed)
            return; /* the first seed that differs is enough */
    }
    for (int h = 0; h < H_COUNT; h++)
        if (seen[h] == 0)
            FAIL_AT("never seen: %s", happening[h]);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        steps = atol(argv[1]);
    for (int d = 0; d < ND; d++)
        snprintf(dom[d], sizeof dom[d], "muc%d.remote.example", d);
    for (int j = 0; j < NR; j++)
        snprintf(room[j], sizeof room[j], "r%d@%s", j, dom[j % ND]);
    for (int i = 0; i < NS; i++)
        snprintf(sjid[i], sizeof sjid[i], "u%d@home.example/res", i);
    RUN(random_steps_agree_with_the_model);
    return test_summary("leaves model");
}

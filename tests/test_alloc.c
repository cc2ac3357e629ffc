/* Allocation failures (libexpat's alloc_tests style): run a scenario with
 * an allocator that fails the Nth allocation, for every N until the
 * scenario completes without a failure. Nothing may crash or leak, and
 * every state must stay consistent (the counters agree with a walk of
 * the rooms). */
#include "fixture.h"

static long fail_at;  /* fail the allocation with this index (0: never) */
static long n_allocs; /* allocations so far */
static long live;     /* live bytes */

static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        if (ptr)
            live -= (long)osize;
        free(ptr);
        return NULL;
    }
    if (++n_allocs == fail_at)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        live += (long)nsize - (ptr ? (long)osize : 0);
    return p;
}

static void check_consistent(mj_tracker *tr)
{
    mj_stats st;
    size_t shown = 0, pending = 0, cursor = 0;
    mj_session *s;
    mj_tracker_stats(tr, &st);
    while ((s = mj_tracker_next_session(tr, &cursor)) != NULL) {
        size_t rc = 0;
        mj_room_info info;
        while (mj_session_next_room(s, &rc, &info)) {
            if (info.state == MJ_S_PENDING) {
                pending++;
                CHECK(info.pending_nick.ptr != NULL);
            } else {
                shown++;
                CHECK(info.nick.ptr != NULL);
            }
        }
    }
    CHECK_INT(shown, st.rooms_shown);
    CHECK_INT(pending, st.pending);
}

/* A tracker on the failing allocator (its counters reset, no failure
 * set, no events pending) with the session a@x/1 in *s. */
static mj_tracker *failing_tracker(mj_event_fn on_event, mj_session **s)
{
    mj_config cfg;
    mj_tracker *tr = NULL;
    mj_config_init(&cfg);
    cfg.alloc = failing_alloc;
    cfg.clock = fx_clock;
    cfg.on_event = on_event;
    fail_at = 0;
    n_allocs = 0;
    live = 0;
    fx_take();
    CHECK_INT(mj_tracker_new(&cfg, &tr), MJ_OK);
    CHECK_INT(mj_session_open(tr, "a@x/1", 5, s), MJ_OK);
    return tr;
}

/* A scenario touching every allocating path. Returns 1 when it ran to
 * the end without any call reporting MJ_ENOMEM. */
static int scenario(void)
{
    mj_config cfg;
    mj_tracker *tr = NULL;
    mj_session *a = NULL, *b = NULL;
    int clean = 1;
    mj_config_init(&cfg);
    cfg.alloc = failing_alloc;
    cfg.clock = fx_clock;
    cfg.on_event = fx_on_event;
    if (mj_tracker_new(&cfg, &tr) != MJ_OK)
        return 0;
    if (mj_session_open(tr, "a@x/1", 5, &a) != MJ_OK ||
        mj_session_open(tr, "b@x/2", 5, &b) != MJ_OK) {
        mj_tracker_free(tr);
        return 0;
    }
    static const char *rooms[] = {"r1@m/ann", "r2@m/ann", "r3@m/ann",
                                  "r4@m/ann", "r5@m/ann", "r6@m/ann"};
    for (size_t i = 0; i < 6; i++) {
        mj_stanza st;
        mj_outcome o;
        mj_stanza_init(&st);
        st.to = S(rooms[i]);
        st.from = st.to;
        st.has_muc_x = 1;
        if (mj_session_outgoing(a, &st, &o) != MJ_OK)
            clean = 0;
        if (mj_session_outgoing(b, &st, &o) != MJ_OK)
            clean = 0;
        check_consistent(tr);
        fx_codes(&st, 110, 210, 0);
        st.from = S("r1@m/Ann the Great");
        if (i != 0)
            st.from = st.to;
        if (mj_session_incoming(a, &st, &o) != MJ_OK)
            clean = 0;
        check_consistent(tr);
    }
    /* nick change with 303 */
    mj_stanza st = fx_pres("available", "r2@m/bob");
    if (mj_session_outgoing(a, &st, NULL) != MJ_OK)
        clean = 0;
    st = fx_pres("unavailable", "r2@m/ann");
    fx_codes(&st, 110, 303, 0);
    st.item_nick = S("bob");
    if (mj_session_incoming(a, &st, NULL) != MJ_OK)
        clean = 0;
    st = fx_pres("available", "r2@m/bobby");
    fx_codes(&st, 110, 0);
    if (mj_session_incoming(a, &st, NULL) != MJ_OK)
        clean = 0;
    check_consistent(tr);
    /* leave, rejoin */
    st = fx_pres("unavailable", "r3@m/ann");
    if (mj_session_outgoing(a, &st, NULL) != MJ_OK)
        clean = 0;
    st = fx_pres("available", "r3@m/ann2");
    st.has_muc_x = 1;
    if (mj_session_outgoing(a, &st, NULL) != MJ_OK)
        clean = 0;
    mj_session_restore(b, "r9@m", 4, MJ_S_EXPECTING, S("x"), S("y"), 1);
    /* leaves our server bounced: owed (r5 sent at the link up, r6 kept
     * until the tracker goes) */
    for (int i = 0; i < 2; i++) {
        const char *occ = i == 0 ? "r5@m/ann" : "r6@m/ann";
        st = fx_pres("unavailable", occ);
        if (mj_session_outgoing(a, &st, NULL) != MJ_OK)
            clean = 0;
        st = fx_pres("error", occ);
        st.error_type = S("cancel");
        st.error_condition = S("remote-server-not-found");
        if (mj_session_incoming(a, &st, NULL) != MJ_OK)
            clean = 0;
        check_consistent(tr);
        if (i == 0 && mj_tracker_link_up(tr, "m", 1) != MJ_OK)
            clean = 0;
    }
    /* self-ping work: an ambiguous presence, a link loss */
    st = fx_pres("unavailable", "r4@m/ann");
    if (mj_session_incoming(a, &st, NULL) != MJ_OK)
        clean = 0;
    if (mj_tracker_link_lost(tr, "m", 1) != MJ_OK)
        clean = 0;
    check_consistent(tr);
    fx_now += 500;
    mj_tracker_tick(tr);
    check_consistent(tr);
    mj_session_close(b);
    check_consistent(tr);
    /* fed by JID: a first join creates the session (kept only with its
     * entry); an unavailable from an unknown session creates nothing */
    st = fx_pres("available", "r7@m/cy");
    st.has_muc_x = 1;
    if (mj_tracker_outgoing(tr, "c@x/3", 5, &st, NULL, NULL) != MJ_OK)
        clean = 0;
    check_consistent(tr);
    st = fx_pres("unavailable", NULL);
    if (mj_tracker_outgoing(tr, "d@x/4", 5, &st, NULL, NULL) != MJ_OK)
        clean = 0;
    check_consistent(tr);
    mj_tracker_free(tr);
    return clean;
}

TEST(every_allocation_failure_is_survived)
{
    long n;
    for (n = 1; n < 10000; n++) {
        fail_at = n;
        n_allocs = 0;
        live = 0;
        fx_take();
        int clean = scenario();
        if (live != 0)
            FAIL_AT("failing allocation %ld: %ld bytes leaked", n, live);
        if (clean && n_allocs < n)
            break; /* ran to the end without reaching the failure */
    }
    CHECK(n > 10);
    CHECK(n < 10000);
    printf("alloc: scenario survived failures at each of %ld allocations\n",
           n - 1);
}

/* A settled join holds no timer record (mj_aux); leaving needs one. If
 * it cannot be had, the leave is taken as done at once (left-unconfirmed)
 * rather than keeping an entry nothing would end. */
TEST(leave_without_memory_for_its_timer_is_taken_as_done)
{
    mj_session *s = NULL;
    mj_tracker *tr = failing_tracker(fx_on_event, &s);
    CHECK_OUTCOME(fx_join(s, "r@m/ann"), MJ_O_CHANGED);
    CHECK_OUTCOME(fx_self(s, "available", "r@m/ann"), MJ_O_CHANGED);
    CHECK_EVENTS("joined r@m ann");
    fail_at = n_allocs + 1;
    CHECK_OUTCOME(fx_out(s, fx_pres("unavailable", "r@m/ann")), MJ_O_CHANGED);
    CHECK_EVENTS("left r@m ann left-unconfirmed");
    CHECK_INT(fx_state(s, "r@m"), MJ_S_NONE);
    fail_at = 0;
    /* the late confirmation finds nothing */
    mj_stanza st = fx_pres("unavailable", "r@m/ann");
    fx_codes(&st, 110, 0);
    fx_in(s, st);
    CHECK_EVENTS("");
    mj_tracker_free(tr);
    CHECK_INT(live, 0);
}

/* mj_session_restore() over a room the session is shown in: at every
 * allocation it makes, a failure leaves the room as it was (JOINED, shown
 * as "ann", its asked nick none), and nothing leaks (before the fix, the nick
 * was cleared or replaced before the record for the asked nick or the
 * state was allocated). Asked and shown nicks long enough to need their
 * own bytes. The bytes held are as they were too: a nick other than the
 * session's is a record (and its block's array of them), made ahead of
 * the steps that may fail (before the fix, the record was kept). */
TEST(restore_over_a_shown_room_without_memory_changes_nothing)
{
    static const char long_nick[] = "a-nick-longer-than-any-inline-buffer-"
                                    "of-an-entry-or-its-record-0123456789";
    struct {
        mj_state state;
        const char *nick, *pending;
    } cases[] = {
        {MJ_S_PENDING, NULL, "bob"},       {MJ_S_PENDING, NULL, long_nick},
        {MJ_S_LEAVING, "zed", NULL},       {MJ_S_LEAVING, long_nick, NULL},
        {MJ_S_JOINED, long_nick, NULL},    {MJ_S_JOINED, "zed", NULL},
        {MJ_S_CHANGING, "ann", long_nick}, {MJ_S_CHANGING, long_nick, "bob"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long n;
        for (n = 1; n < 100; n++) {
            mj_session *s = NULL;
            mj_tracker *tr = failing_tracker(fx_on_event, &s);
            CHECK_OUTCOME(fx_join(s, "r@m/ann"), MJ_O_CHANGED);
            CHECK_OUTCOME(fx_self(s, "available", "r@m/ann"), MJ_O_CHANGED);
            CHECK_EVENTS("joined r@m ann");
            long base = n_allocs, before = live;
            fail_at = base + n;
            int rc = mj_session_restore(s, "r@m", 3, cases[c].state,
                                        S(cases[c].nick), S(cases[c].pending),
                                        fx_now);
            fail_at = 0;
            int reached = n_allocs >= base + n;
            if (rc == MJ_ENOMEM) {
                CHECK_STATE(s, "r@m", MJ_S_JOINED);
                CHECK_NICK(s, "r@m", "ann");
                check_consistent(tr);
                if (live != before)
                    FAIL_AT("case %zu, failing allocation %ld: %ld bytes kept",
                            c, n, live - before);
            } else {
                CHECK_INT(rc, MJ_OK);
                CHECK_INT(fx_state(s, "r@m"), cases[c].state);
            }
            mj_tracker_free(tr);
            CHECK_INT(live, 0);
            if (!reached)
                break; /* ran to the end without reaching the failure */
        }
        CHECK(n < 100);
    }
}

static void info_str(mj_session *ss, const char *room, char *buf, size_t n)
{
    mj_room_info in;
    if (mj_session_room(ss, room, strlen(room), &in) != MJ_OK) {
        snprintf(buf, n, "none");
        return;
    }
    snprintf(buf, n, "%s nick=%.*s pnick=%.*s", mj_state_name(in.state),
             (int)in.nick.len, in.nick.ptr ? in.nick.ptr : "-",
             (int)in.pending_nick.len,
             in.pending_nick.ptr ? in.pending_nick.ptr : "-");
}

/* Every start state (PENDING, CHANGING, EXPECTING, LEAVING, JOINED with a
 * ping, nicks long and short, shared with the session or not), every
 * restore target, failing each allocation in turn: MJ_ENOMEM leaves the
 * room exactly as it was; nothing leaks. */
TEST(restore_without_memory_changes_nothing_from_any_state)
{
    static const char L[] = "a-nick-longer-than-any-inline-buffer-"
                            "of-an-entry-or-its-record-0123456789";
    struct {
        mj_state state;
        const char *nick, *pending;
    } tg[] = {
        {MJ_S_PENDING, NULL, "bob"}, {MJ_S_PENDING, NULL, L},
        {MJ_S_LEAVING, "zed", NULL}, {MJ_S_LEAVING, L, NULL},
        {MJ_S_JOINED, L, NULL},      {MJ_S_JOINED, "ann", NULL},
        {MJ_S_CHANGING, "ann", L},   {MJ_S_CHANGING, L, "bob"},
        {MJ_S_EXPECTING, "q", L},    {MJ_S_EXPECTING, L, "x"},
    };
    for (int start = 0; start < 6; start++)
        for (size_t c = 0; c < sizeof tg / sizeof tg[0]; c++) {
            long n;
            for (n = 1; n < 200; n++) {
                mj_session *s2 = NULL;
                mj_tracker *t2 = failing_tracker(fx_on_event, &s2);
                char before[4096], after[4096];
                /* another room first: the session's nick is "ann" */
                mj_stanza j = fx_pres("available", "o@m/ann");
                j.has_muc_x = 1;
                fx_out(s2, j);
                j = fx_pres("available", "r@m/ann");
                j.has_muc_x = 1;
                fx_out(s2, j);
                mj_stanza y;
                switch (start) {
                case 0: /* PENDING(ann) */
                    break;
                case 1: /* CHANGING(ann -> long) */
                    y = fx_pres("available", "r@m/ann");
                    fx_codes(&y, 110, 0);
                    fx_in(s2, y);
                    fx_out(s2,
                           fx_pres("available",
                                   "r@m/"
                                   "a-nick-longer-than-any-inline-buffer-of-"
                                   "an-entry-or-its-record-0123456789"));
                    break;
                case 2: /* EXPECTING(ann, m) */
                    y = fx_pres("available", "r@m/ann");
                    fx_codes(&y, 110, 0);
                    fx_in(s2, y);
                    y = fx_pres("unavailable", "r@m/ann");
                    fx_codes(&y, 110, 303, 0);
                    y.item_nick = S("mmmmmmmmmmmmmmmmmmmmmmmmmmmmmm");
                    fx_in(s2, y);
                    break;
                case 3: /* LEAVING(ann) */
                    y = fx_pres("available", "r@m/ann");
                    fx_codes(&y, 110, 0);
                    fx_in(s2, y);
                    fx_out(s2, fx_pres("unavailable", "r@m/ann"));
                    break;
                case 4: /* JOINED(ann) with an ambiguous -> ping */
                    y = fx_pres("available", "r@m/ann");
                    fx_codes(&y, 110, 0);
                    fx_in(s2, y);
                    y = fx_pres("unavailable", "r@m/ann");
                    fx_in(s2, y);
                    break;
                case 5: /* JOINED(long nick) */
                    fx_out(s2, fx_pres("unavailable", "r@m/ann"));
                    fx_self(s2, "unavailable", "r@m/ann");
                    j = fx_pres("available",
                                "r@m/"
                                "a-nick-longer-than-any-inline-buffer-of-an-"
                                "entry-or-its-record-0123456789");
                    j.has_muc_x = 1;
                    fx_out(s2, j);
                    y = fx_pres("available",
                                "r@m/"
                                "a-nick-longer-than-any-inline-buffer-of-an-"
                                "entry-or-its-record-0123456789");
                    fx_codes(&y, 110, 0);
                    fx_in(s2, y);
                    break;
                }
                fx_take();
                info_str(s2, "r@m", before, sizeof before);
                long base = n_allocs;
                fail_at = base + n;
                int rc = mj_session_restore(s2, "r@m", 3, tg[c].state,
                                            S(tg[c].nick), S(tg[c].pending),
                                            fx_now);
                fail_at = 0;
                int reached = n_allocs >= base + n;
                info_str(s2, "r@m", after, sizeof after);
                if (rc == MJ_ENOMEM) {
                    if (strcmp(before, after) != 0)
                        FAIL_AT("start %d target %zu fail %ld: %s -> %s",
                                start, c, n, before, after);
                } else if (rc != MJ_OK) {
                    FAIL_AT("rc %d", rc);
                } else if (fx_state(s2, "r@m") != tg[c].state) {
                    FAIL_AT("start %d target %zu: state %s", start, c,
                            mj_state_name(fx_state(s2, "r@m")));
                }
                /* it still works afterwards */
                fx_now += 200;
                mj_tracker_tick(t2);
                mj_tracker_tick(t2);
                fx_now -= 200;
                mj_tracker_free(t2);
                if (live != 0)
                    FAIL_AT("start %d target %zu fail %ld: %ld bytes leak",
                            start, c, n, live);
                if (!reached)
                    break;
            }
        }
    fx_take();
}

/* mj_session_restore() over a room with a self-ping scheduled: dropping
 * the ping trims the entry's record, so it goes before the record is
 * allocated (before the fix, the record was allocated, trimmed by the drop,
 * and the state's allocation then failed unchecked, a NULL
 * dereference). */
TEST(restore_over_a_pinged_room_without_memory_for_the_record)
{
    for (int target = 0; target < 2; target++) {
        long n;
        for (n = 1; n < 60; n++) {
            mj_session *s2 = NULL;
            mj_tracker *t2 = failing_tracker(fx_on_event, &s2);
            fx_join(s2, "r@m/ann");
            fx_self(s2, "available", "r@m/ann");
            CHECK_OUTCOME(fx_in(s2, fx_pres("unavailable", "r@m/ann")),
                          MJ_O_AMBIGUOUS); /* a self-ping */
            fx_take();
            long base = n_allocs;
            fail_at = base + n;
            int rc = target == 0
                         ? mj_session_restore(s2, "r@m", 3, MJ_S_LEAVING,
                                              S("ann"), S(NULL), fx_now)
                         : mj_session_restore(s2, "r@m", 3, MJ_S_PENDING,
                                              S(NULL), S("ann"), fx_now);
            fail_at = 0;
            int reached = n_allocs >= base + n;
            if (rc == MJ_ENOMEM) {
                CHECK_STATE(s2, "r@m", MJ_S_JOINED);
            } else {
                CHECK_INT(rc, MJ_OK);
                CHECK_INT(fx_state(s2, "r@m"),
                          target == 0 ? MJ_S_LEAVING : MJ_S_PENDING);
            }
            mj_tracker_free(t2);
            if (!reached)
                break;
        }
    }
    fx_take();
}

/* A restore that fails for memory keeps the room's self-ping too (before
 * the fix, the ping was dropped first; its "not joined" answer was then stale
 * and a ghost stayed shown). */
static uint32_t g_last_ping;
static void on_ping_event(void *ud, const mj_event *ev)
{
    if (ev->type == MJ_EV_PING_NEEDED)
        g_last_ping = ev->ping_id;
    fx_on_event(ud, ev);
}

TEST(restore_without_memory_keeps_the_rooms_ping)
{
    mj_session *s2 = NULL;
    mj_stats st;
    g_last_ping = 0;
    mj_tracker *t2 = failing_tracker(on_ping_event, &s2);
    fx_join(s2, "r@m/Ann");
    fx_self(s2, "available", "r@m/Ann");
    CHECK_OUTCOME(fx_in(s2, fx_pres("unavailable", "r@m/Ann")),
                  MJ_O_AMBIGUOUS);
    uint32_t ping = g_last_ping;
    CHECK(ping != 0);
    fx_take();
    for (long n = 1; n < 4; n++) {
        fail_at = n_allocs + n;
        int rc = mj_session_restore(s2, "r@m", 3, MJ_S_JOINED,
                                    S("a-nick-longer-than-any-inline-buffer"),
                                    S(NULL), fx_now);
        fail_at = 0;
        if (rc == MJ_OK)
            break; /* a later n would restore: the ping goes then */
        CHECK_INT(rc, MJ_ENOMEM);
        mj_tracker_stats(t2, &st);
        CHECK_INT(st.pings_outstanding, 1);
    }
    fx_take();
    mj_tracker_free(t2);
    CHECK_INT(live, 0);
}

/* A rejoin that fails for memory (MJ_ENOMEM) keeps the room's self-ping:
 * a LEAVING room with a ping out (sent while JOINED) is still ended at
 * once by its "not joined" answer (before the fix, send_join() dropped the
 * ping before its one allocation, the asked nick, and the room stayed shown
 * until pending_timeout: the self-ping a restore without memory once
 * lost too, in the join). */
TEST(rejoin_without_memory_keeps_the_rooms_ping)
{
    mj_session *s2 = NULL;
    mj_stats st;
    mj_ping_verdict v = MJ_PING_STALE;
    g_last_ping = 0;
    mj_tracker *t2 = failing_tracker(on_ping_event, &s2);
    fx_join(s2, "r@m/Ann");
    fx_self(s2, "available", "r@m/Ann");
    CHECK_OUTCOME(fx_in(s2, fx_pres("unavailable", "r@m/Ann")),
                  MJ_O_AMBIGUOUS); /* a self-ping goes out */
    uint32_t ping = g_last_ping;
    CHECK(ping != 0);
    fx_out(s2, fx_pres("unavailable", "r@m/Ann")); /* LEAVING, ping out */
    CHECK_STATE(s2, "r@m", MJ_S_LEAVING);
    fx_take();
    /* a rejoin under a nick too long for the record's buffer: its copy
     * is the one allocation, and it fails */
    mj_stanza j =
        fx_pres("available", "r@m/a-nick-longer-than-any-inline-buffer");
    j.has_muc_x = 1;
    mj_outcome o;
    fail_at = n_allocs + 1;
    CHECK_INT(mj_session_outgoing(s2, &j, &o), MJ_ENOMEM);
    fail_at = 0;
    CHECK_STATE(s2, "r@m", MJ_S_LEAVING);
    mj_tracker_stats(t2, &st);
    CHECK_INT(st.pings_outstanding, 1);
    /* the room answers the ping: not an occupant */
    mj_stanza a = fx_pres("available", "r@m/Ann");
    a.kind = MJ_KIND_IQ;
    a.type = MJ_T_ERROR;
    a.error_type = S("modify");
    a.error_condition = S("not-acceptable");
    CHECK_INT(mj_session_ping_answer(s2, ping, &a, -1, &v), MJ_OK);
    CHECK_INT(v, MJ_PING_NOT_JOINED);
    CHECK_STATE(s2, "r@m", MJ_S_NONE);
    fx_take();
    mj_tracker_free(t2);
    CHECK_INT(live, 0);
}

/* A join (send_join()) from every start state (none, PENDING, cancelled,
 * LEAVING with a self-ping out, a closed session's owed record), short
 * and long nick, failing each allocation in turn: MJ_ENOMEM leaves the
 * state as it was, nothing leaks, the counters agree, and the room's
 * answer still works. */
TEST(join_from_every_start_state_without_memory)
{
    const char *nicks[] = {"ann", "a-nick-longer-than-any-inline-buffer"};
    for (int start = 0; start < 5; start++)
        for (int k = 0; k < 2; k++)
            for (long n = 1; n < 80; n++) {
                mj_session *s2 = NULL;
                mj_tracker *t2 = failing_tracker(fx_on_event, &s2);
                mj_state want = MJ_S_PENDING;
                if (start == 1 || start == 2) {
                    fx_join(s2, "r@m/ann");
                    if (start == 2)
                        fx_out(s2, fx_pres("unavailable", "r@m/ann"));
                } else if (start == 3) {
                    fx_join(s2, "r@m/ann");
                    fx_self(s2, "available", "r@m/ann");
                    fx_in(s2, fx_pres("unavailable", "r@m/ann")); /* ping */
                    fx_out(s2, fx_pres("unavailable", "r@m/ann"));
                    want = MJ_S_LEAVING;
                } else if (start == 4) {
                    /* a closed session's owed record */
                    fx_join(s2, "r@m/ann");
                    mj_session_close(s2);
                    CHECK_INT(mj_session_open(t2, "a@x/1", 5, &s2), MJ_OK);
                    want = MJ_S_NONE;
                }
                if (start == 0)
                    want = MJ_S_NONE;
                fx_take();
                check_consistent(t2);
                char occ[128];
                snprintf(occ, sizeof occ, "r@m/%s", nicks[k]);
                mj_stanza j = fx_pres("available", occ);
                j.has_muc_x = 1;
                j.id = S("p");
                mj_outcome o;
                long base = n_allocs;
                fail_at = base + n;
                int rc = mj_session_outgoing(s2, &j, &o);
                fail_at = 0;
                int reached = n_allocs >= base + n;
                if (rc == MJ_ENOMEM) {
                    if (fx_state(s2, "r@m") != want)
                        FAIL_AT("start %d nick %d fail %ld: %s", start, k, n,
                                mj_state_name(fx_state(s2, "r@m")));
                } else {
                    CHECK_INT(rc, MJ_OK);
                    CHECK_STATE(s2, "r@m", MJ_S_PENDING);
                }
                check_consistent(t2);
                /* the answers still work */
                fx_self(s2, "available", occ);
                check_consistent(t2);
                fx_take();
                mj_tracker_free(t2);
                if (live != 0)
                    FAIL_AT("start %d nick %d fail %ld: %ld bytes leak", start,
                            k, n, live);
                if (!reached)
                    break;
            }
    fx_take();
}

int main(void)
{
    fx_now = 1000;
    RUN(every_allocation_failure_is_survived);
    RUN(leave_without_memory_for_its_timer_is_taken_as_done);
    RUN(restore_over_a_shown_room_without_memory_changes_nothing);
    RUN(restore_without_memory_changes_nothing_from_any_state);
    RUN(restore_over_a_pinged_room_without_memory_for_the_record);
    RUN(restore_without_memory_keeps_the_rooms_ping);
    RUN(rejoin_without_memory_keeps_the_rooms_ping);
    RUN(join_from_every_start_state_without_memory);
    return test_summary("alloc");
}

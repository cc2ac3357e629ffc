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
    mj_config cfg;
    mj_tracker *tr = NULL;
    mj_session *s = NULL;
    mj_config_init(&cfg);
    cfg.alloc = failing_alloc;
    cfg.clock = fx_clock;
    cfg.on_event = fx_on_event;
    fail_at = 0;
    n_allocs = 0;
    live = 0;
    fx_take();
    CHECK_INT(mj_tracker_new(&cfg, &tr), MJ_OK);
    CHECK_INT(mj_session_open(tr, "a@x/1", 5, &s), MJ_OK);
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
 * as "ann", its asked nick none), and nothing leaks (review A: the nick
 * was cleared or replaced before the record for the asked nick or the
 * state was allocated). Asked and shown nicks long enough to need their
 * own bytes. */
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
        {MJ_S_JOINED, long_nick, NULL},    {MJ_S_CHANGING, "ann", long_nick},
        {MJ_S_CHANGING, long_nick, "bob"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long n;
        for (n = 1; n < 100; n++) {
            mj_config cfg;
            mj_tracker *tr = NULL;
            mj_session *s = NULL;
            mj_config_init(&cfg);
            cfg.alloc = failing_alloc;
            cfg.clock = fx_clock;
            cfg.on_event = fx_on_event;
            fail_at = 0;
            n_allocs = 0;
            live = 0;
            fx_take();
            CHECK_INT(mj_tracker_new(&cfg, &tr), MJ_OK);
            CHECK_INT(mj_session_open(tr, "a@x/1", 5, &s), MJ_OK);
            CHECK_OUTCOME(fx_join(s, "r@m/ann"), MJ_O_CHANGED);
            CHECK_OUTCOME(fx_self(s, "available", "r@m/ann"), MJ_O_CHANGED);
            CHECK_EVENTS("joined r@m ann");
            long base = n_allocs;
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

int main(void)
{
    fx_now = 1000;
    RUN(every_allocation_failure_is_survived);
    RUN(leave_without_memory_for_its_timer_is_taken_as_done);
    RUN(restore_over_a_shown_room_without_memory_changes_nothing);
    return test_summary("alloc");
}

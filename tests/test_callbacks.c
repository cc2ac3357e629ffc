/* The embedder's callbacks (event, log, clock): what they may call back
 * (reading the tracker), what is refused (changing it: MJ_EBUSY or
 * nothing done, never a change under the call that made the callback),
 * and a clock that reads NaN or an infinity (the last finite reading
 * stands for it). Run under ASan/UBSan too (make test-sanitize): a
 * refused call must not touch what the outer call holds. */
#include <math.h>

#include "fixture.h"

#define JID  "user@home.example/phone"
#define JID2 "other@home.example/laptop"

static mj_tracker *tr;
static mj_session *s, *s2;

/* What the callback under test does, and what its calls returned. */
enum action {
    DO_NOTHING,
    CLOSE_OWN,    /* mj_session_close(s) */
    CLOSE_OTHER,  /* mj_session_close(s2) */
    FREE_TRACKER, /* mj_tracker_free(tr) */
    FEED,         /* a join of s to another room, then every other
                     changing call */
    READ          /* find, room, nick, stats, iterate */
};
static enum action on_log_do, on_event_do;
static int calls, log_calls, busy, reads_ok;
static const char *log_trigger; /* on_log acts only on lines with this */

/* A changing call from a callback: counted when refused, named when
 * not. */
#define REFUSED(expr)                                                         \
    do {                                                                      \
        if (expr)                                                             \
            busy++;                                                           \
        else                                                                  \
            printf("not refused: %s\n", #expr);                               \
    } while (0)

static void act(enum action a)
{
    mj_stanza st;
    mj_outcome o;
    mj_session *found = NULL;
    mj_stats stats, after;
    mj_str nick;
    mj_msg_class c;
    mj_ping_verdict v;
    mj_config cfg;
    size_t cursor;

    switch (a) {
    case DO_NOTHING:
        return;
    case CLOSE_OWN:
        mj_session_close(s);
        break;
    case CLOSE_OTHER:
        mj_session_close(s2);
        break;
    case FREE_TRACKER:
        mj_tracker_free(tr);
        break;
    case FEED:
        st = fx_pres("available", "elsewhere@muc.example/Ann");
        st.has_muc_x = 1;
        REFUSED(mj_session_outgoing(s, &st, &o) == MJ_EBUSY);
        REFUSED(mj_session_incoming(s, &st, &o) == MJ_EBUSY);
        REFUSED(mj_tracker_outgoing(tr, JID, strlen(JID), &st, &found, &o) ==
                MJ_EBUSY);
        REFUSED(mj_tracker_incoming(tr, JID, strlen(JID), &st, &found, &o) ==
                MJ_EBUSY);
        REFUSED(mj_session_open(tr, "new@home.example/x", 18, &found) ==
                MJ_EBUSY);
        REFUSED(mj_session_restore(s, "r9@muc.example", 14, MJ_S_JOINED,
                                   S("Ann"), S(NULL), 0) == MJ_EBUSY);
        REFUSED(mj_tracker_link_lost(tr, "muc.example", 11) == MJ_EBUSY);
        REFUSED(mj_tracker_link_up(tr, "muc.example", 11) == MJ_EBUSY);
        REFUSED(mj_session_message(s, &st, &c) == MJ_EBUSY);
        REFUSED(mj_session_importance(s, &st, MJ_HOLD_CHATTER) == -1);
        REFUSED(mj_session_ping_answer(s, 1, &st, 0, &v) == MJ_EBUSY);
        REFUSED(mj_session_ping_answer_info(s, 1, &st, &st, 0, &v) ==
                MJ_EBUSY);
        mj_config_init(&cfg);
        REFUSED(mj_tracker_configure(tr, &cfg) == MJ_EBUSY);
        mj_tracker_tick(tr);
        break;
    case READ:
        reads_ok += mj_session_find(tr, JID, strlen(JID), &found) == MJ_OK &&
                    found == s;
        reads_ok += mj_session_nick(s, "room@muc.example", 16, &nick) == MJ_OK;
        mj_tracker_stats(tr, &stats);
        reads_ok += stats.sessions >= 1;
        cursor = 0;
        reads_ok += mj_tracker_next_session(tr, &cursor) != NULL;
        /* a query about a ping from an unusable JID changes nothing: no
         * bad JID counted, nothing logged */
        mj_stanza_init(&st);
        st.kind = MJ_KIND_IQ;
        st.type = MJ_T_GET;
        st.has_ping = 1;
        st.from = S("room@muc.example/\xff");
        log_calls = 0;
        reads_ok += mj_session_is_forwarded_ping(s, &st) == 0;
        mj_tracker_stats(tr, &after);
        reads_ok += after.bad_jids == stats.bad_jids && log_calls == 0;
        break;
    }
}

static void on_log(void *ud, mj_log_level level, const char *msg)
{
    (void)ud;
    (void)level;
    if (log_trigger != NULL && strstr(msg, log_trigger) == NULL)
        return;
    log_calls++;
    act(on_log_do);
}

static void on_event(void *ud, const mj_event *ev)
{
    fx_on_event(ud, ev);
    calls++;
    act(on_event_do);
}

static void start(const mj_config *base)
{
    mj_config cfg;
    if (base != NULL)
        cfg = *base;
    else
        mj_config_init(&cfg);
    cfg.clock = fx_clock;
    cfg.log = on_log;
    cfg.on_event = on_event;
    fx_now = 1000;
    fx_take();
    on_log_do = on_event_do = DO_NOTHING;
    log_trigger = NULL;
    calls = log_calls = busy = reads_ok = 0;
    if (mj_tracker_new(&cfg, &tr) != MJ_OK)
        exit(2);
    s = fx_session(tr, JID);
    s2 = fx_session(tr, JID2);
}

static void join(mj_session *sess, const char *occupant)
{
    fx_join(sess, occupant);
    fx_self(sess, "available", occupant);
}

/* A fresh tracker where s shows Ann in room@muc.example and the second
 * join (s or s2, occupant) is shown too; events and calls reset. */
static void start_joined(mj_session **second, const char *occupant)
{
    start(NULL);
    join(s, "room@muc.example/Ann");
    join(*second, occupant);
    fx_take();
    calls = 0;
}

/* A session closed from the log line a join over max_pending writes was
 * freed under the join (mj_tracker_outgoing read it after). */
TEST(log_callback_cannot_close_the_session_under_a_join)
{
    mj_config cfg;
    mj_config_init(&cfg);
    cfg.max_pending = 0;
    start(&cfg);
    on_log_do = CLOSE_OWN;
    mj_stanza st = fx_pres("available", "room@muc.example/Ann");
    st.has_muc_x = 1;
    mj_outcome o;
    mj_session *found = NULL;
    CHECK_INT(mj_tracker_outgoing(tr, JID, strlen(JID), &st, &found, &o),
              MJ_OK);
    CHECK_INT(o, MJ_O_LIMIT);
    CHECK_INT(log_calls, 1);
    CHECK(found == s); /* still open */
    CHECK_INT(mj_session_find(tr, JID, strlen(JID), &found), MJ_OK);
    mj_tracker_free(tr);
}

/* A self-ping giving up logs, then reschedules the ping: a session
 * closed from that line freed the ping under it. */
TEST(log_callback_cannot_close_the_session_under_a_give_up)
{
    mj_config cfg;
    mj_config_init(&cfg);
    cfg.ping_retries = 0;
    start(&cfg);
    join(s, "room@muc.example/Ann");
    fx_take();
    on_log_do = CLOSE_OWN;
    log_trigger = "unanswered";
    mj_tracker_link_lost(tr, "muc.example", 11);
    fx_now += 11;
    mj_tracker_tick(tr); /* the ping */
    fx_now += 61;
    mj_tracker_tick(tr); /* unanswered: given up, logged */
    CHECK(log_calls >= 1);
    CHECK_STR(S(fx_nick(s, "room@muc.example")), "Ann"); /* still there */
    mj_tracker_free(tr);
}

/* From JOINED's event: closing the session, freeing the tracker, feeding
 * and every other changing call are refused; reading works. */
TEST(event_callback_may_read_but_not_change)
{
    enum action refused[] = {CLOSE_OWN, FREE_TRACKER, FEED};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        start(NULL);
        on_event_do = refused[i];
        join(s, "room@muc.example/Ann");
        CHECK_EVENTS("joined room@muc.example Ann");
        CHECK_INT(calls, 1);
        CHECK_STR(S(fx_nick(s, "room@muc.example")), "Ann");
        if (refused[i] == FEED) {
            CHECK_INT(busy, 13);
            CHECK_INT(fx_state(s, "elsewhere@muc.example"), MJ_S_NONE);
        }
        on_event_do = DO_NOTHING;
        join(s2, "room@muc.example/Bob"); /* the tracker goes on */
        CHECK_EVENTS("joined room@muc.example Bob");
        mj_tracker_free(tr);
    }
    start(NULL);
    on_event_do = READ;
    join(s, "room@muc.example/Ann");
    CHECK_INT(reads_ok, 6);
    mj_tracker_free(tr);
}

/* A tick's pings: closing another session from PING_NEEDED freed the
 * pings the tick was walking. */
TEST(event_callback_cannot_close_another_session_during_a_tick)
{
    start_joined(&s2, "room@muc.example/Bob");
    on_event_do = CLOSE_OTHER;
    mj_tracker_link_lost(tr, "muc.example", 11);
    fx_now += 11;
    mj_tracker_tick(tr);
    CHECK_INT(calls, 2); /* both pings */
    CHECK_STR(S(fx_nick(s2, "room@muc.example")), "Bob");
    mj_tracker_free(tr);
}

/* The close's own LEFT events cannot close it again or free the
 * tracker under it. */
TEST(event_callback_during_a_close)
{
    start_joined(&s, "other@muc.example/Ann");
    on_event_do = FREE_TRACKER;
    mj_session_close(s);
    CHECK_INT(calls, 2);
    fx_take();
    s = s2; /* what CLOSE_OWN closes */
    on_event_do = CLOSE_OWN;
    join(s, "room@muc.example/Bob");
    CHECK_STR(S(fx_nick(s, "room@muc.example")), "Bob");
    mj_session_close(s);
    CHECK_EVENTS("joined room@muc.example Bob; "
                 "left room@muc.example Bob session-closed");
    mj_tracker_free(tr);
}

static int clock_calls, nan_at;
static double clock_value(void *ud)
{
    (void)ud;
    clock_calls++;
    return clock_calls == nan_at ? NAN : fx_now;
}

/* One NaN reading while a join was sent put a NaN deadline at the head
 * of the timer list: no join of any session timed out any more. */
TEST(a_nan_reading_does_not_stop_the_timeouts)
{
    start(NULL);
    mj_config cfg;
    mj_config_init(&cfg);
    cfg.clock = clock_value;
    cfg.on_event = on_event;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    clock_calls = 0;
    nan_at = 1;
    fx_join(s, "room@muc.example/Ann"); /* its deadline read NaN */
    fx_join(s2, "room@muc.example/Bob");
    fx_now += 1000;
    mj_tracker_tick(tr);
    CHECK_EVENTS("join-failed room@muc.example timeout; "
                 "join-failed room@muc.example timeout");
    mj_tracker_free(tr);
}

static double inf_clock(void *ud)
{
    (void)ud;
    clock_calls++;
    return clock_calls == 1 ? INFINITY : fx_now;
}

/* A tracker made while the clock read an infinity (or NaN) took it as
 * its epoch: every settled join's since was NaN for good. */
TEST(a_broken_first_reading_is_not_the_epoch)
{
    mj_config cfg;
    mj_config_init(&cfg);
    cfg.clock = inf_clock;
    cfg.on_event = on_event;
    clock_calls = 0;
    fx_now = 2000;
    CHECK_INT(mj_tracker_new(&cfg, &tr), MJ_OK);
    s = fx_session(tr, JID);
    join(s, "room@muc.example/Ann");
    mj_room_info info;
    CHECK_INT(mj_session_room(s, "room@muc.example", 16, &info), MJ_OK);
    CHECK(isfinite(info.since) && info.since <= 2000 && info.since > 1999);
    fx_take();
    mj_tracker_free(tr);
}

int main(void)
{
    RUN(log_callback_cannot_close_the_session_under_a_join);
    RUN(log_callback_cannot_close_the_session_under_a_give_up);
    RUN(event_callback_may_read_but_not_change);
    RUN(event_callback_cannot_close_another_session_during_a_tick);
    RUN(event_callback_during_a_close);
    RUN(a_nan_reading_does_not_stop_the_timeouts);
    RUN(a_broken_first_reading_is_not_the_epoch);
    return test_summary("callbacks");
}

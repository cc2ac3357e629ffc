/* Self-ping (docs/semantics.md §5): when pings go out, what answers mean,
 * retries, budgets, debouncing, stale answers. */
#include <math.h>
#include <time.h>

#include "fixture.h"
#include "store.h" /* the link-check list (white box) */

#define ROOM    "room@muc.remote.example"
#define R(nick) ROOM "/" nick

static mj_tracker *tr;
static mj_session *s;
static uint32_t last_ping; /* id of the latest PING_NEEDED */
static char last_to[512];  /* the JID it went to: its answer comes from it */
static int npings;
static uint32_t room_ping; /* id of the latest PING_NEEDED to ROOM */

static void on_event(void *ud, const mj_event *ev)
{
    if (ev->type == MJ_EV_PING_NEEDED) {
        last_ping = ev->ping_id;
        snprintf(last_to, sizeof last_to, "%.*s/%.*s", (int)ev->room.len,
                 ev->room.ptr, (int)ev->nick.len, ev->nick.ptr);
        npings++;
        if (ev->room.len == strlen(ROOM) &&
            memcmp(ev->room.ptr, ROOM, ev->room.len) == 0)
            room_ping = ev->ping_id;
    }
    fx_on_event(ud, ev);
}

/* cfg with the test clock and event hook, for the caller to adjust. */
static void test_cfg(mj_config *cfg)
{
    mj_config_init(cfg);
    cfg->clock = fx_clock;
    cfg->on_event = on_event;
}

/* A tracker made with cfg at time 1000, nothing seen yet, and the
 * session s. */
static void start(const mj_config *cfg)
{
    fx_now = 1000;
    fx_take();
    last_ping = 0;
    last_to[0] = '\0';
    npings = 0;
    if (mj_tracker_new(cfg, &tr) != MJ_OK)
        exit(2);
    s = fx_session(tr, "user@home.example/phone");
}

static void setup_cfg(size_t budget, int self_ping)
{
    mj_config cfg;
    test_cfg(&cfg);
    cfg.ping_budget = budget;
    cfg.self_ping = self_ping;
    start(&cfg);
}

static void setup(void)
{
    setup_cfg(20, 1);
}

static void join(mj_session *sess, const char *occupant)
{
    fx_join(sess, occupant);
    fx_self(sess, "available", occupant);
}

/* The room announces Ann's nick change to Bob (303): EXPECTING(Ann, Bob). */
static void expect_bob(void)
{
    mj_stanza st = fx_pres("unavailable", R("Ann"));
    st.item_nick = S("Bob");
    fx_codes(&st, 110, 303, 0);
    fx_in(s, st);
}

/* An unavailable from our own nick without 110: ambiguous. */
static void ambiguous(void)
{
    fx_in(s, fx_pres("unavailable", R("Ann")));
}

static mj_ping_verdict answer(uint32_t id, const char *type, const char *cond,
                              const char *etype, const char *by, int optimized)
{
    /* from the JID the latest ping went to */
    mj_stanza a = fx_pres("available", last_to[0] ? last_to : R("Ann"));
    mj_ping_verdict v = MJ_PING_STALE;
    a.kind = MJ_KIND_IQ;
    a.type = strcmp(type, "result") == 0 ? MJ_T_RESULT : MJ_T_ERROR;
    a.error_condition = S(cond);
    a.error_type = S(etype);
    a.error_by = S(by);
    CHECK_INT(mj_session_ping_answer(s, id, &a, optimized, &v), MJ_OK);
    return v;
}

TEST(ambiguous_presence_sends_one_ping)
{
    setup();
    join(s, R("Ann"));
    fx_take();
    ambiguous();
    CHECK_INT(npings, 1);
    CHECK(last_ping != 0);
    CHECK_EVENTS("ping " ROOM " Ann");
    ambiguous(); /* at most one outstanding per (session, room) */
    CHECK_INT(npings, 1);
    mj_stats st;
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_outstanding, 1);
    CHECK_INT(st.ambiguous, 2);
    mj_tracker_free(tr);
}

static void check_answer(const char *type, const char *cond, const char *etype,
                         const char *by, int optimized,
                         mj_ping_verdict expected)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    fx_take();
    mj_ping_verdict v = answer(last_ping, type, cond, etype, by, optimized);
    if (v != expected)
        FAIL_AT("answer %s %s by %s: %s, expected %s", type, cond ? cond : "",
                by ? by : "-", mj_ping_verdict_name(v),
                mj_ping_verdict_name(expected));
    if (expected == MJ_PING_NOT_JOINED) {
        CHECK_NICK(s, ROOM, NULL);
        const char *ev = fx_take();
        CHECK(strncmp(ev, "left " ROOM " Ann ghost", 25) == 0);
    } else {
        CHECK_NICK(s, ROOM, "Ann");
    }
    mj_tracker_free(tr);
}

TEST(answer_table_of_semantics_5)
{
    check_answer("result", NULL, NULL, NULL, -1, MJ_PING_JOINED);
    check_answer("error", "not-acceptable", "cancel", ROOM, -1,
                 MJ_PING_NOT_JOINED);
    check_answer("error", "gone", "cancel", NULL, -1, MJ_PING_NOT_JOINED);
    /* of type wait, even from the room: "try again later" is the path's
     * word, unknown (retried), not the room's "not joined" */
    check_answer("error", "gone", "wait", ROOM, -1, MJ_PING_UNKNOWN);
    check_answer("error", "not-acceptable", "wait", ROOM, -1, MJ_PING_UNKNOWN);
    check_answer("error", "item-not-found", "cancel", "muc.remote.example", -1,
                 MJ_PING_NOT_JOINED);
    check_answer("error", "item-not-found", "cancel", ROOM, -1,
                 MJ_PING_JOINED);
    check_answer("error", "item-not-found", "cancel", NULL, -1,
                 MJ_PING_UNKNOWN);
    check_answer("error", "service-unavailable", "cancel", ROOM, 0,
                 MJ_PING_JOINED);
    check_answer("error", "feature-not-implemented", "cancel", ROOM, 0,
                 MJ_PING_JOINED);
    check_answer("error", "service-unavailable", "cancel", ROOM, 1,
                 MJ_PING_UNKNOWN);
    check_answer("error", "service-unavailable", "cancel", ROOM, -1,
                 MJ_PING_UNKNOWN);
    check_answer("error", "resource-constraint", "wait", ROOM, -1,
                 MJ_PING_UNKNOWN);
    check_answer("error", "remote-server-not-found", "cancel", "home.example",
                 -1, MJ_PING_UNKNOWN);
    check_answer("error", "remote-server-timeout", "wait", "home.example", -1,
                 MJ_PING_UNKNOWN);
    /* the path's conditions say nothing about membership whoever sent
     * them and whatever their type (no by, cancel: a mutation test found
     * only the wait type pinned down) */
    check_answer("error", "remote-server-timeout", "cancel", NULL, -1,
                 MJ_PING_UNKNOWN);
    check_answer("error", "remote-server-not-found", "cancel", NULL, -1,
                 MJ_PING_UNKNOWN);
    /* the room's word when no link was lost meanwhile: biboumi for a
     * user whose IRC connection is gone (below: after a loss) */
    check_answer("error", "recipient-unavailable", "cancel", NULL, -1,
                 MJ_PING_NOT_JOINED);
    check_answer("error", "internal-server-error", "cancel", "HOME.example",
                 -1, MJ_PING_UNKNOWN); /* by our own domain */
    check_answer("error", "forbidden", "auth", ROOM, -1, MJ_PING_NOT_JOINED);
}

TEST(answers_that_depend_on_room_features_are_flagged)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    mj_stanza a = fx_pres("available", R("Ann"));
    a.kind = MJ_KIND_IQ;
    a.type = MJ_T_ERROR;
    a.error_condition = S("service-unavailable");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 1);
    a.error_condition = S("feature-not-implemented");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 1);
    a.error_type = S("wait");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 0);
    a.error_type = S(NULL);
    a.error_condition = S("not-acceptable");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 0);
    a.error_condition = S("service-unavailable");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping + 1, &a), 0);
    mj_tracker_free(tr);
}

/* The room's disco#info reply for mj_session_ping_answer_info(): type
 * "result" or "error" (cond, etype) from `from`; NULL type: none came. */
static mj_ping_verdict answer_info(const char *cond, const char *by,
                                   const char *itype, const char *icond,
                                   const char *ietype, const char *ifrom,
                                   int optimized)
{
    mj_stanza a = fx_pres("available", R("Ann"));
    mj_stanza info = fx_pres("available", ifrom ? ifrom : ROOM);
    mj_ping_verdict v = MJ_PING_STALE;
    a.kind = MJ_KIND_IQ;
    a.type = MJ_T_ERROR;
    a.error_condition = S(cond);
    a.error_type = S("cancel");
    a.error_by = S(by);
    info.kind = MJ_KIND_IQ;
    info.type =
        itype && strcmp(itype, "result") == 0 ? MJ_T_RESULT : MJ_T_ERROR;
    info.error_condition = S(icond);
    info.error_type = S(ietype);
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 1);
    CHECK_INT(mj_session_ping_answer_info(s, last_ping, &a,
                                          itype ? &info : NULL, optimized, &v),
              MJ_OK);
    return v;
}

static void check_info(const char *cond, const char *by, const char *itype,
                       const char *icond, const char *ietype,
                       const char *ifrom, int optimized,
                       mj_ping_verdict expected)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    fx_take();
    mj_ping_verdict v =
        answer_info(cond, by, itype, icond, ietype, ifrom, optimized);
    if (v != expected)
        FAIL_AT("answer %s by %s, disco#info %s %s from %s: %s, expected %s",
                cond, by ? by : "-", itype ? itype : "(none)",
                icond ? icond : "", ifrom ? ifrom : ROOM,
                mj_ping_verdict_name(v), mj_ping_verdict_name(expected));
    if (expected == MJ_PING_NOT_JOINED) {
        CHECK_NICK(s, ROOM, NULL);
        const char *ev = fx_take();
        CHECK(strncmp(ev, "left " ROOM " Ann ghost", 25) == 0);
    } else {
        CHECK_NICK(s, ROOM, "Ann");
    }
    mj_tracker_free(tr);
}

/* item-not-found that does not say who answered (ejabberd sends no `by`)
 * is a stale nick in a room that exists, or a room that does not: the
 * room's disco#info settles it. */
TEST(item_not_found_without_by_is_settled_by_disco_info)
{
    const char *inf = "item-not-found";
    /* a result: the room exists, our nick is stale */
    check_info(inf, NULL, "result", NULL, NULL, NULL, 0, MJ_PING_JOINED);
    check_info(inf, NULL, "result", NULL, NULL, NULL, 1, MJ_PING_JOINED);
    /* an error from the room: it does not exist */
    check_info(inf, NULL, "error", "item-not-found", "cancel", NULL, 0,
               MJ_PING_NOT_JOINED);
    check_info(inf, NULL, "error", "gone", "modify", NULL, 0,
               MJ_PING_NOT_JOINED);
    check_info(inf, NULL, "error", "service-unavailable", "cancel", NULL, 0,
               MJ_PING_NOT_JOINED); /* any cancel */
    /* no answer, or one that says nothing about the room */
    check_info(inf, NULL, NULL, NULL, NULL, NULL, 0, MJ_PING_UNKNOWN);
    check_info(inf, NULL, "error", "forbidden", "auth", NULL, 0,
               MJ_PING_UNKNOWN);
    check_info(inf, NULL, "error", "remote-server-timeout", "wait", NULL, 0,
               MJ_PING_UNKNOWN);
    check_info(inf, NULL, "error", "remote-server-not-found", "cancel", NULL,
               0, MJ_PING_UNKNOWN);
    check_info(inf, NULL, "error", "item-not-found", "cancel",
               "other@muc.remote.example", 0, MJ_PING_UNKNOWN);
    check_info(inf, NULL, "error", "item-not-found", "cancel", R("Ann"), 0,
               MJ_PING_UNKNOWN); /* from an occupant, not the room */
    check_info(inf, NULL, "result", NULL, NULL, "muc.remote.example", 0,
               MJ_PING_UNKNOWN); /* from the service */
    /* an error without <error/> (no type, no condition: the module hands
     * it over as soon as it comes) says nothing */
    check_info(inf, NULL, "error", NULL, NULL, NULL, 0, MJ_PING_UNKNOWN);
    check_info("service-unavailable", ROOM, "error", NULL, NULL, NULL, 0,
               MJ_PING_UNKNOWN);
    /* a `by` that is neither the room nor its service says not who either */
    check_info(inf, "elsewhere.example", "error", "item-not-found", "cancel",
               NULL, 0, MJ_PING_NOT_JOINED);
    check_info(inf, "elsewhere.example", "result", NULL, NULL, NULL, 0,
               MJ_PING_JOINED);
}

TEST(service_unavailable_is_settled_by_disco_info)
{
    const char *su = "service-unavailable";
    check_info(su, ROOM, "result", NULL, NULL, NULL, 0, MJ_PING_JOINED);
    check_info(su, ROOM, "result", NULL, NULL, NULL, 1, MJ_PING_UNKNOWN);
    check_info(su, ROOM, NULL, NULL, NULL, NULL, 0, MJ_PING_UNKNOWN);
    check_info(su, ROOM, "error", "item-not-found", "cancel", NULL, 0,
               MJ_PING_NOT_JOINED);
    check_info("feature-not-implemented", NULL, "result", NULL, NULL, NULL, 0,
               MJ_PING_JOINED);
    check_info("feature-not-implemented", NULL, "error", "forbidden", "auth",
               NULL, 0, MJ_PING_UNKNOWN);
}

/* Rows of the table that name who answered, as real services word them:
 * Prosody's MUC refuses a ping to a room it keeps a tombstone of with
 * gone by the service (mod_muc.lua), and a non-occupant's with
 * not-acceptable by the room; an item-not-found whose by is an occupant
 * JID (the room's JID with a nick) is "any other by": the room's
 * disco#info decides; feature-not-implemented reads as
 * service-unavailable, also from an optimised room. */
TEST(answer_table_rows_by_who_answered)
{
    check_answer("error", "gone", "cancel", "muc.remote.example", -1,
                 MJ_PING_NOT_JOINED);
    check_answer("error", "not-acceptable", "cancel", "muc.remote.example", -1,
                 MJ_PING_NOT_JOINED);
    check_answer("error", "feature-not-implemented", "cancel", ROOM, 1,
                 MJ_PING_UNKNOWN);
    check_answer("error", "feature-not-implemented", "cancel", NULL, -1,
                 MJ_PING_UNKNOWN);
    check_answer("error", "item-not-found", "cancel", R("Ann"), -1,
                 MJ_PING_UNKNOWN);
    check_info("item-not-found", R("Ann"), "result", NULL, NULL, NULL, 1,
               MJ_PING_JOINED);
    check_info("item-not-found", R("Bob"), "error", "item-not-found", "cancel",
               NULL, 0, MJ_PING_NOT_JOINED);
    check_info("service-unavailable", "muc.remote.example", "result", NULL,
               NULL, NULL, 0, MJ_PING_JOINED);
    check_info("service-unavailable", "muc.remote.example", "result", NULL,
               NULL, NULL, 1, MJ_PING_UNKNOWN);
}

TEST(item_not_found_needs_disco_info_only_when_it_says_not_who)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    mj_stanza a = fx_pres("available", R("Ann"));
    a.kind = MJ_KIND_IQ;
    a.type = MJ_T_ERROR;
    a.error_type = S("cancel");
    a.error_condition = S("item-not-found");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 1);
    a.error_by = S("elsewhere.example");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 1);
    a.error_by = S(ROOM);
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 0);
    a.error_by = S("muc.remote.example");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 0);
    a.error_by = S(NULL);
    a.error_type = S("wait");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 0);
    a.error_type = S("cancel");
    a.from = S("other@muc.remote.example/Ann"); /* not the pinged room */
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 0);
    a.from = S(R("Ann"));
    /* the old entry point, without disco#info: unknown, as before */
    a.error_type = S("cancel");
    mj_ping_verdict v;
    CHECK_INT(mj_session_ping_answer(s, last_ping, &a, -1, &v), MJ_OK);
    CHECK_INT(v, MJ_PING_UNKNOWN);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

TEST(unknown_answers_retry_with_backoff_then_give_up)
{
    mj_stats st;
    setup();
    join(s, R("Ann"));
    ambiguous();
    uint32_t first = last_ping;
    CHECK_INT(answer(first, "error", "remote-server-timeout", "wait",
                     "home.example", -1),
              MJ_PING_UNKNOWN);
    fx_now += 29;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1); /* backoff 30 s */
    fx_now += 2;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 2);
    CHECK(last_ping != first);
    /* our own timeout (60 s) counts as unknown; next backoff 60 s */
    fx_now += 61;
    mj_tracker_tick(tr);
    fx_now += 61;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3);
    fx_now += 61;
    mj_tracker_tick(tr); /* third unknown: retry after 120 s */
    fx_now += 121;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 4);
    fx_now += 61;
    mj_tracker_tick(tr); /* fourth unknown: more than 3 retries */
    fx_now += 10000;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 4);
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_given_up, 1);
    CHECK_INT(st.pings_outstanding, 0);
    CHECK_NICK(s, ROOM, "Ann"); /* unknown never removes */
    mj_tracker_free(tr);
}

/* Give-up lines (self-ping lines at info, and the others) as logged. */
static char gave_up_log[4096];
static int gave_up_info, gave_up_debug;
static void log_gave_up(void *ud, mj_log_level level, const char *msg)
{
    (void)ud;
    if (strstr(msg, "self-ping of") == NULL)
        return;
    if (level == MJ_LOG_INFO)
        gave_up_info++;
    else if (level == MJ_LOG_DEBUG)
        gave_up_debug++;
    if (strlen(gave_up_log) + strlen(msg) + 2 < sizeof gave_up_log) {
        strcat(gave_up_log, msg);
        strcat(gave_up_log, "\n");
    }
}

static void start_logging_give_ups(unsigned retries)
{
    mj_config cfg;
    test_cfg(&cfg);
    cfg.log = log_gave_up;
    cfg.ping_retries = retries;
    cfg.option_prefix = "track_muc_joins_";
    gave_up_log[0] = '\0';
    gave_up_info = gave_up_debug = 0;
    start(&cfg);
}

/* A round that gives up is logged at info (it was at debug: an entry
 * kept though nothing confirmed it went unseen), once, naming the
 * session, the room, the option and when the room is asked again; no
 * line per retry. */
TEST(a_give_up_is_logged_at_info_once_per_round)
{
    start_logging_give_ups(1);
    join(s, R("Ann"));
    ambiguous();
    CHECK_INT(answer(last_ping, "error", "remote-server-timeout", "wait",
                     "home.example", -1),
              MJ_PING_UNKNOWN);
    fx_now += 31;
    mj_tracker_tick(tr); /* the retry */
    CHECK_INT(npings, 2);
    CHECK_INT(gave_up_info + gave_up_debug, 0); /* none per retry */
    fx_now += 61;
    mj_tracker_tick(tr); /* its timeout: the round gives up */
    CHECK_INT(gave_up_info, 1);
    CHECK(strstr(gave_up_log, "user@home.example/phone: self-ping of " ROOM
                              " unanswered 2 times") != NULL);
    CHECK(strstr(gave_up_log, "track_muc_joins_ping_retries = 1") != NULL);
    CHECK(strstr(gave_up_log, "keeping the entry, asked again when a link "
                              "to muc.remote.example comes up\n") != NULL);
    fx_now += 10000;
    mj_tracker_tick(tr);
    CHECK_INT(gave_up_info, 1);
    /* the next round (a link up) gives up again: one more line */
    CHECK_INT(mj_tracker_link_up(tr, "muc.remote.example", 18), MJ_OK);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3);
    fx_now += 61;
    mj_tracker_tick(tr);
    fx_now += 61;
    mj_tracker_tick(tr);
    fx_now += 61;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 4);
    CHECK_INT(gave_up_info, 2);
    CHECK_INT(gave_up_debug, 0);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

/* A hostile room makes a round give up in a few stanzas: a domain's
 * give-ups are logged at info 10 times a minute at most, the tenth
 * saying the next go to debug; counted all the same. */
TEST(give_up_lines_at_info_are_bounded_per_domain)
{
    char room[64];
    mj_stats st;
    start_logging_give_ups(0);
    for (int i = 0; i < 12; i++) {
        snprintf(room, sizeof room, "r%d@muc.remote.example/Ann", i);
        join(s, room);
        fx_in(s, fx_pres("unavailable", room)); /* ambiguous: a ping */
        CHECK(strcmp(last_to, room) == 0);
        CHECK_INT(answer(last_ping, "error", "remote-server-timeout", "wait",
                         "home.example", -1),
                  MJ_PING_UNKNOWN);
        fx_now += 1;
    }
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_given_up, 12);
    CHECK_INT(gave_up_info, 10);
    CHECK_INT(gave_up_debug, 2);
    CHECK(strstr(gave_up_log, "r9@muc.remote.example unanswered 1 times") !=
          NULL);
    CHECK(strstr(gave_up_log, "(further give-ups on this domain within a "
                              "minute are logged at debug level)") != NULL);
    /* another domain has its own lines */
    join(s, "room@other.example/Ann");
    fx_in(s, fx_pres("unavailable", "room@other.example/Ann"));
    answer(last_ping, "error", "remote-server-timeout", "wait", "home.example",
           -1);
    CHECK_INT(gave_up_info, 11);
    /* a minute later, the domain's give-ups are at info again */
    fx_now += 60;
    join(s, "late@muc.remote.example/Ann");
    fx_in(s, fx_pres("unavailable", "late@muc.remote.example/Ann"));
    answer(last_ping, "error", "remote-server-timeout", "wait", "home.example",
           -1);
    CHECK_INT(gave_up_info, 12);
    CHECK_INT(gave_up_debug, 2);
    mj_tracker_free(tr);
}

TEST(link_losses_after_a_give_up_wait_for_the_rest)
{
    mj_stats st;
    setup();
    join(s, R("Ann"));
    /* a down server: every ping bounces, every refused connection is a
     * link loss */
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    for (int i = 0; i < 400; i++) {
        fx_now += 1;
        mj_tracker_tick(tr);
        if (npings > 0 && last_ping != 0)
            answer(last_ping, "error", "remote-server-not-found", "cancel",
                   "home.example", -1);
        mj_tracker_link_lost(tr, "muc.remote.example", 18);
    }
    /* 10 s delay, then 1 + 3 retries (30, 60, 120 s), then a rest of
     * 240 s, then at most one more round in the time left */
    printf("selfping: %d pings in 400 s of a down server\n", npings);
    CHECK(npings >= 4);
    CHECK(npings <= 8);
    mj_tracker_stats(tr, &st);
    CHECK(st.pings_given_up >= 1);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

/* Mutation review: after a give-up the check rests as long as the next
 * retry would have waited (240 s here); link losses in that time (a
 * flapping link) start no new round: not one ping. */
TEST(link_losses_during_the_rest_send_no_ping)
{
    mj_stats st;
    setup();
    join(s, R("Ann"));
    ambiguous();
    for (int i = 0; i < 1000; i++) {
        mj_tracker_stats(tr, &st);
        if (st.pings_given_up)
            break;
        if (last_ping != 0) {
            answer(last_ping, "error", "remote-server-not-found", "cancel",
                   "home.example", -1);
            last_ping = 0;
        }
        fx_now += 1;
        mj_tracker_tick(tr);
    }
    CHECK_INT(st.pings_given_up, 1);
    int before = npings;
    for (int i = 0; i < 200; i++) {
        mj_tracker_link_lost(tr, "muc.remote.example", 18);
        fx_now += 1;
        mj_tracker_tick(tr);
    }
    CHECK_INT(npings, before);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

/* ROOM's domain loses its link; for `seconds` the clock runs a second at
 * a time and every self-ping bounces at our own server (a server down:
 * unknown answers, then a give-up and its rest). */
static void bounce_after_link_loss(int seconds)
{
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    for (int i = 0; i < seconds; i++) {
        fx_now += 1;
        mj_tracker_tick(tr);
        if (last_ping != 0)
            answer(last_ping, "error", "remote-server-not-found", "cancel",
                   "home.example", -1);
        last_ping = 0;
    }
}

/* A server down for longer than the retries (about 4 minutes with the
 * defaults): every ping bounces at our own server, the check gives up,
 * rests and is dropped. Prosody reports no link loss while it cannot
 * connect (an s2sout that never authenticated is not counted), so when
 * the server comes back with the room restarted nothing asked again and
 * the ghost stayed for good. The link coming back asks again. */
TEST(link_back_up_after_a_give_up_asks_again)
{
    setup();
    join(s, R("Ann"));
    bounce_after_link_loss(600);
    CHECK_INT(npings, 4); /* 1 + 3 retries, then the rest ended */
    fx_now += 3600;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 4); /* nothing asks again by itself */
    /* the server is back (s2sout-established / s2sin-established) */
    CHECK_INT(mj_tracker_link_up(tr, "MUC.remote.example.", 19), MJ_OK);
    mj_tracker_tick(tr);
    CHECK_INT(mj_tracker_link_up(tr, "muc.remote.example", 18), MJ_OK);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5); /* once, however many directions came up */
    CHECK(answer(last_ping, "error", "not-acceptable", "cancel", ROOM, -1) ==
          MJ_PING_NOT_JOINED);
    CHECK_NICK(s, ROOM, NULL);
    /* a link up with no give-up before it asks nothing */
    join(s, R("Ann"));
    CHECK_INT(mj_tracker_link_up(tr, "muc.remote.example", 18), MJ_OK);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5);
    mj_tracker_free(tr);

    /* the same, the server back while the check rests */
    setup();
    join(s, R("Ann"));
    bounce_after_link_loss(300);
    CHECK_INT(npings, 4); /* given up at ~224 s, resting until ~464 s */
    CHECK_INT(mj_tracker_link_up(tr, "muc.remote.example", 18), MJ_OK);
    CHECK_INT(mj_tracker_link_up(tr, "muc.remote.example", 18), MJ_OK);
    fx_now += 1;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 4); /* the rest holds for link ups as for losses */
    fx_now += 170;        /* ~471 s: the rest is over */
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5); /* once, however many directions came up */
    CHECK(answer(last_ping, "error", "not-acceptable", "cancel", ROOM, -1) ==
          MJ_PING_NOT_JOINED);
    CHECK_NICK(s, ROOM, NULL);
    mj_tracker_free(tr);
}

/* A hostile or flapping remote: every ping is answered "unknown" at once
 * and the domain's links go down and authenticate again every second (an
 * s2sin stream with dialback fires s2sin-established; an attacker owning
 * the domain opens one at will). The rest after a give-up bounds what
 * link losses can ask (link_losses_after_a_give_up_wait_for_the_rest);
 * link ups must not ask more than link losses alone. */
static int flapping_pings(int with_up, int seconds)
{
    setup();
    join(s, R("Ann"));
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    for (int i = 0; i < seconds; i++) {
        fx_now += 1;
        mj_tracker_tick(tr);
        if (npings > 0 && last_ping != 0)
            answer(last_ping, "error", "remote-server-not-found", "cancel",
                   "home.example", -1);
        last_ping = 0;
        mj_tracker_link_lost(tr, "muc.remote.example", 18);
        if (with_up)
            mj_tracker_link_up(tr, "muc.remote.example", 18);
    }
    int n = npings;
    mj_tracker_free(tr);
    return n;
}

/* A link of the domain comes up while the last try of a round is out
 * (an s2sin from the restarted server while our own connection attempt
 * for the ping is still failing; or a frozen server killed and
 * restarted within ping_timeout): that try then bounces or times out,
 * the round gives up, and no link up comes after the give-up, since the
 * link is up. Nothing ever asked again: the restarted room's ghost
 * stayed for good. hostile review (revA finding 1). */
TEST(link_up_while_the_last_try_is_out_asks_again)
{
    setup();
    join(s, R("Ann"));
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    /* pings 1-3 bounce at our own server, the 4th (the last try) is out */
    for (int i = 0; i < 1000 && npings < 4; i++) {
        fx_now += 1;
        mj_tracker_tick(tr);
        if (npings < 4 && last_ping != 0) {
            answer(last_ping, "error", "remote-server-not-found", "cancel",
                   "home.example", -1);
            last_ping = 0;
        }
    }
    CHECK_INT(npings, 4);
    uint32_t fourth = last_ping;
    /* the restarted server connects to us: the link is up */
    CHECK_INT(mj_tracker_link_up(tr, "muc.remote.example", 18), MJ_OK);
    fx_now += 1;
    mj_tracker_tick(tr);
    /* then our own attempt for the 4th ping fails: it bounces */
    CHECK(answer(fourth, "error", "remote-server-not-found", "cancel",
                 "home.example", -1) == MJ_PING_UNKNOWN);
    /* the link stays up: a day passes */
    for (int i = 0; i < 24 * 3600 && npings < 5; i++) {
        fx_now += 1;
        mj_tracker_tick(tr);
    }
    CHECK_INT(npings, 5); /* asked once more, over the new link */
    CHECK(answer(last_ping, "error", "not-acceptable", "cancel", ROOM, -1) ==
          MJ_PING_NOT_JOINED);
    CHECK_NICK(s, ROOM, NULL);
    mj_tracker_free(tr);
}

/* The link a ping itself opens (no link to the domain when it was sent)
 * comes up while that ping is out: a room that never answers, behind a
 * link that closes between tries, earned one more try at every round's
 * last try and was asked for good (290 pings a day instead of 4). One
 * more try per round at most (hostile review). */
TEST(a_pings_own_link_up_gives_one_more_try_per_round_at_most)
{
    for (int with_up = 0; with_up < 2; with_up++) {
        setup();
        join(s, R("Ann"));
        ambiguous();
        int seen = npings;
        for (int i = 0; i < 86400; i++) {
            fx_now += 1;
            mj_tracker_tick(tr);
            if (npings != seen) {
                seen = npings;
                if (with_up)
                    mj_tracker_link_up(tr, "muc.remote.example", 18);
            }
        }
        /* 1 + ping_retries (3) tries, and the one more */
        CHECK_INT(npings, with_up ? 5 : 4);
        mj_stats st;
        mj_tracker_stats(tr, &st);
        CHECK_INT(st.pings_given_up, 1);
        mj_tracker_free(tr);
    }
}

TEST(link_ups_after_a_give_up_wait_for_the_rest_too)
{
    int lost = flapping_pings(0, 3600);
    int up = flapping_pings(1, 3600);
    printf("selfping: in an hour of flapping links, %d pings with link "
           "losses only, %d with link ups too\n",
           lost, up);
    CHECK(up <= lost);
}

/* A link up asks the rooms of the domain where a check gave up: not the
 * rooms whose own checks are still in their backoff (they ask again
 * anyway), and not again and again the healthy ones because one room on
 * the same domain never answers while the link stays up. */
TEST(link_up_after_an_unrelated_give_up)
{
    setup();
    mj_session *s2 = fx_session(tr, "other@home.example/pc");
    join(s, R("Ann"));
    fx_join(s2, "quiet@muc.remote.example/Bob");
    fx_self(s2, "available", "quiet@muc.remote.example/Bob");
    /* the link is up all along; one room never answers (timeouts), the
     * other answers at once */
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    int healthy = 0;
    for (int i = 0; i < 1000; i++) {
        fx_now += 1;
        room_ping = 0;
        mj_tracker_tick(tr);
        if (room_ping != 0) {
            snprintf(last_to, sizeof last_to, "%s", R("Ann"));
            answer(room_ping, "result", NULL, NULL, NULL, -1);
            healthy++;
        }
    }
    mj_stats st;
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_given_up, 1); /* quiet@ gave up, on timeouts */
    CHECK_INT(healthy, 1);
    /* hours later the link is re-established (the remote closed it when
     * idle): nothing was unreachable, yet Ann's healthy room is asked */
    fx_now += 7200;
    mj_tracker_tick(tr);
    last_ping = 0;
    last_to[0] = '\0';
    int before = npings;
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    printf("selfping: a link up after an unrelated give-up sent %d pings\n",
           npings - before);
    CHECK_INT(npings - before, 1); /* the room that gave up only */
    mj_tracker_free(tr);
}

/* ---- review: the marks a link up relies on ------------------------------ */

/* The check of ROOM gives up on bounces and its rest ends (the record is
 * dropped): the entry carries only its give-up mark. */
static void give_up_and_rest(void)
{
    bounce_after_link_loss(600);
}

static int fail_allocs;
static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (fail_allocs)
        return NULL;
    return realloc(ptr, nsize);
}

/* No memory for the new round at the link up: the mark must stay for
 * the next link up, not be cleared with no ping scheduled. */
TEST(link_up_without_memory_keeps_the_mark)
{
    mj_config cfg;
    test_cfg(&cfg);
    cfg.alloc = failing_alloc;
    fail_allocs = 0;
    start(&cfg);
    join(s, R("Ann"));
    give_up_and_rest();
    CHECK_INT(npings, 4);
    fail_allocs = 1;
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    fail_allocs = 0;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 4); /* nothing could be scheduled */
    /* the link comes up again with memory to spare */
    mj_tracker_link_lost(tr, "other.example", 13);
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 4); /* within ping_start_delay of the last walk */
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5); /* the ghost is still asked */
    mj_tracker_free(tr);
}

/* Finding the entries that gave up visits the whole domain, and a hostile
 * room makes one give up in a few stanzas while its server opens a
 * stream (a link up) at will: link ups walk the domain once per
 * ping_start_delay at most, the walks in between deferred, not lost.
 * Retries 0 and backoff 0: one unknown answer gives up, with
 * no rest. */
/* With cfg (no retries, no backoff set here): s shows Ann in the remote
 * room, its self-ping gave up, a link up of the room's domain walked it at
 * once and that ping gave up too (two pings). */
static void gave_up_after_a_link_up(mj_config *cfg)
{
    cfg->ping_retries = 0;
    cfg->ping_backoff = 0;
    start(cfg);
    join(s, R("Ann"));
    ambiguous();
    CHECK_INT(npings, 1);
    CHECK(answer(last_ping, "error", "remote-server-not-found", "cancel",
                 "home.example", -1) == MJ_PING_UNKNOWN); /* given up */
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 2); /* the first walk runs at once */
    CHECK(answer(last_ping, "error", "remote-server-not-found", "cancel",
                 "home.example", -1) == MJ_PING_UNKNOWN); /* again */
}

TEST(link_ups_walk_the_domain_once_per_start_delay)
{
    mj_config cfg;
    test_cfg(&cfg);
    gave_up_after_a_link_up(&cfg);
    for (int i = 0; i < 100; i++) {
        fx_now += 0.05;
        mj_tracker_link_up(tr, "muc.remote.example", 18);
        mj_tracker_tick(tr);
    }
    CHECK_INT(npings, 2); /* 100 link ups in 5 s: no walk yet */
    fx_now += 5.5;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3); /* the deferred one, 10 s after the first */
    /* a link loss meanwhile neither holds the visit back nor is held
     * back by it */
    CHECK(answer(last_ping, "error", "remote-server-not-found", "cancel",
                 "home.example", -1) == MJ_PING_UNKNOWN);
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    fx_now += 5;
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 6; /* past the visit's time, before the loss's check */
    mj_tracker_tick(tr);
    CHECK_INT(npings, 4);
    CHECK(answer(last_ping, "error", "remote-server-not-found", "cancel",
                 "home.example", -1) == MJ_PING_UNKNOWN);
    fx_now += 5; /* the loss's check */
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5);
    /* the domain's last room gone while a walk waits: off the list */
    CHECK(answer(last_ping, "error", "remote-server-not-found", "cancel",
                 "home.example", -1) == MJ_PING_UNKNOWN);
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    fx_out(s, fx_pres("unavailable", R("Ann")));
    fx_self(s, "unavailable", R("Ann"));
    CHECK_NICK(s, ROOM, NULL);
    CHECK(tr->checks == NULL);
    CHECK(tr->ups == NULL);
    fx_now += 20;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5);
    mj_tracker_free(tr);
}

/* ping_start_delay 0 or infinite: link-up visits are still at least 1 s
 * and at most 10 minutes apart (before the fix, 0 removed the bound; an
 * infinite delay made a never-visited domain's due time NaN, which
 * stopped every visit and check behind it). */
TEST(link_up_visits_are_bounded_whatever_the_start_delay)
{
    double delays[] = {0, INFINITY};
    for (int k = 0; k < 2; k++) {
        mj_config cfg;
        test_cfg(&cfg);
        cfg.ping_retries = 0;
        cfg.ping_backoff = 0;
        cfg.ping_start_delay = delays[k];
        start(&cfg);
        join(s, R("Ann"));
        ambiguous();
        CHECK(answer(last_ping, "error", "remote-server-not-found", "cancel",
                     "home.example", -1) == MJ_PING_UNKNOWN);
        mj_tracker_link_up(tr, "muc.remote.example", 18);
        mj_tracker_tick(tr);
        CHECK_INT(npings, 2); /* the first visit, at once */
        CHECK(answer(last_ping, "error", "remote-server-not-found", "cancel",
                     "home.example", -1) == MJ_PING_UNKNOWN);
        for (int i = 0; i < 100; i++)
            mj_tracker_link_up(tr, "muc.remote.example", 18);
        mj_tracker_tick(tr);
        CHECK_INT(npings, 2); /* deferred */
        CHECK(tr->ups != NULL && isfinite(tr->ups->up_due));
        fx_now += k == 0 ? 1 : 600;
        mj_tracker_tick(tr);
        CHECK_INT(npings, 3);
        mj_tracker_free(tr);
    }
}

/* A new, shorter ping_start_delay brings waiting link checks and visits
 * forward: a check made under an infinite delay (due at +inf)
 * kept every later loss of its domain debounced for good. */
TEST(a_shorter_start_delay_brings_waiting_checks_forward)
{
    mj_config cfg;
    test_cfg(&cfg);
    cfg.ping_start_delay = INFINITY;
    start(&cfg);
    join(s, R("Ann"));
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 3600;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 0); /* an infinite delay: not yet */
    cfg.ping_start_delay = 10;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 11;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1); /* 10 s after the new configuration */
    mj_tracker_free(tr);
}

/* A link's domain is a domain: nothing, a JID with a node or a resource
 * (also once nameprep made one: U+FF20 is '@') is a bad JID, not a loss
 * quietly dropped. */
TEST(link_events_need_a_domain)
{
    static const char *const bad[] = {"", ".", "u@muc.remote.example",
                                      "muc.remote.example/res",
                                      "u\xef\xbc\xa0muc.remote.example"};
    setup();
    join(s, R("Ann"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(mj_tracker_link_lost(tr, bad[i], strlen(bad[i])), MJ_EJID);
        CHECK_INT(mj_tracker_link_up(tr, bad[i], strlen(bad[i])), MJ_EJID);
    }
    CHECK_INT(mj_tracker_link_lost(tr, "MUC.remote.example.", 19), MJ_OK);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    fx_take();
    mj_tracker_free(tr);
}

/* A link up's visit deferred under a long interval is brought forward
 * by a shorter ping_start_delay, as a waiting link check is. */
TEST(a_shorter_start_delay_brings_deferred_link_up_visits_forward)
{
    mj_config cfg;
    test_cfg(&cfg);
    cfg.ping_start_delay = 600;
    gave_up_after_a_link_up(&cfg);
    fx_now += 1;
    mj_tracker_link_up(tr, "muc.remote.example", 18); /* due in 600 s */
    cfg.ping_start_delay = 5;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    fx_now += 5;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3); /* 5 s after the new configuration */
    mj_tracker_free(tr);
}

/* self_ping off during a link up: nothing can be asked, and the marks
 * must wait for it being on again, not be thrown away. */
TEST(link_up_while_self_ping_is_off_keeps_the_marks)
{
    mj_config cfg;
    setup();
    join(s, R("Ann"));
    give_up_and_rest();
    CHECK_INT(npings, 4);
    test_cfg(&cfg);
    cfg.ping_budget = 20;
    cfg.self_ping = 0;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    cfg.self_ping = 1;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5);
    mj_tracker_free(tr);
}

/* A link up while the marked room's next round is already under way
 * (here a direct sign started it) clears the mark; the client then sends
 * its join again (XEP-0410 recovery), which makes the ping out stale, and
 * the room never answers the join either. Nothing settled the give-up:
 * the round goes on (asked again after the backoff), one ping at a time
 * whatever the link ups. */
TEST(link_up_during_a_round_that_is_then_dropped_keeps_the_mark)
{
    setup();
    join(s, R("Ann"));
    give_up_and_rest();
    CHECK_INT(npings, 4);
    ambiguous(); /* a new round, its ping out */
    CHECK_INT(npings, 5);
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5); /* one per (session, room): nothing more */
    fx_join(s, R("Ann")); /* a join sent again: the ping out is stale */
    fx_now += 200;        /* unanswered: forgotten after pending_timeout */
    mj_tracker_tick(tr);
    CHECK_NICK(s, ROOM, "Ann");
    CHECK_INT(npings, 6); /* asked again */
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 6); /* its ping is out */
    mj_tracker_free(tr);
}

/* The round a link up starts is not dropped by a join sent again while
 * it waits for the rest to end (the room may never answer that join: a
 * review's finding, the check of a join sent again to the session's own
 * nick ended for good): it is sent once the rest is over. */
TEST(link_up_round_survives_a_join_sent_again)
{
    setup();
    join(s, R("Ann"));
    bounce_after_link_loss(300); /* given up, resting */
    CHECK_INT(npings, 4);
    mj_tracker_link_up(tr, "muc.remote.example", 18); /* after the rest */
    fx_join(s, R("Ann")); /* a join sent again, never answered */
    fx_now += 400;        /* rest over; the join forgotten */
    mj_tracker_tick(tr);
    CHECK_INT(npings, 5);
    mj_tracker_free(tr);
}

/* A 'joined' answer settles the give-up: the next link up asks nothing
 * (the mark is cleared by the answer, not only by link ups). */
TEST(joined_answer_after_a_give_up_clears_the_mark)
{
    setup();
    join(s, R("Ann"));
    give_up_and_rest();
    ambiguous();
    CHECK(answer(last_ping, "result", NULL, NULL, NULL, -1) == MJ_PING_JOINED);
    int before = npings;
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    CHECK_INT(npings - before, 0);
    mj_tracker_free(tr);
}

/* A rejoin or nick change the room answered with its self-presence
 * settles the give-up as a 'joined' answer does: the room just said the
 * session is in (a rejoin after a confirmed leave is a new entry). */
TEST(self_presence_after_a_give_up_clears_the_mark)
{
    setup();
    join(s, R("Ann"));
    give_up_and_rest();
    fx_join(s, R("Bob")); /* a nick change, CHANGING */
    fx_self(s, "available", R("Bob"));
    CHECK_NICK(s, ROOM, "Bob");
    int before = npings;
    mj_tracker_link_up(tr, "muc.remote.example", 18);
    mj_tracker_tick(tr);
    CHECK_INT(npings - before, 0);
    mj_tracker_free(tr);
}

TEST(answer_to_a_ping_older_than_a_rejoin_is_stale)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    uint32_t old = last_ping;
    fx_out(s, fx_pres("unavailable", R("Ann")));
    fx_self(s, "unavailable", R("Ann"));
    join(s, R("Ann"));
    fx_take();
    CHECK_INT(answer(old, "error", "not-acceptable", "cancel", ROOM, -1),
              MJ_PING_STALE);
    CHECK_NICK(s, ROOM, "Ann");
    /* and a late timeout of the old ping changes nothing either */
    fx_now += 1000;
    mj_tracker_tick(tr);
    CHECK_NICK(s, ROOM, "Ann");
    CHECK_INT(npings, 1);
    mj_tracker_free(tr);
}

/* A join sent again while JOINED (XEP-0410 recovery) is a join too: a
 * ping asked before it is stale, also once a removal that crossed the
 * join has made the entry wait for the join's answer. */
TEST(answer_to_a_ping_older_than_a_join_sent_again_is_stale)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    uint32_t old = last_ping;
    mj_stanza j = fx_pres("available", R("Ann"));
    j.has_muc_x = 1;
    CHECK_OUTCOME(fx_out(s, j), MJ_O_UNCHANGED);
    mj_stanza kick = fx_pres("unavailable", R("Ann"));
    fx_codes(&kick, 110, 333, 0);
    CHECK_OUTCOME(fx_in(s, kick), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    fx_take();
    CHECK_INT(answer(old, "error", "not-acceptable", "cancel", ROOM, -1),
              MJ_PING_STALE);
    CHECK_EVENTS("");
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    fx_self(s, "available", R("Ann"));
    CHECK_NICK(s, ROOM, "Ann");
    CHECK_EVENTS("joined " ROOM " Ann");
    /* without the removal: the ping's answer is just as stale */
    ambiguous();
    old = last_ping;
    CHECK_OUTCOME(fx_out(s, j), MJ_O_UNCHANGED);
    fx_take();
    CHECK_INT(answer(old, "error", "not-acceptable", "cancel", ROOM, -1),
              MJ_PING_STALE);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

/* The record a join sent again keeps goes with its entry, with or
 * without ping work beside it (found by fuzz_tracker:
 * regress-resent-record-on-free). */
static void join_sent_again_then_close(void)
{
    mj_session *s2 = fx_session(tr, "user@home.example/laptop");
    mj_stanza j = fx_pres("available", R("Ann"));
    j.has_muc_x = 1;
    fx_out(s2, j);
    fx_self(s2, "available", R("Ann"));
    fx_out(s2, j);                               /* sent again */
    fx_in(s2, fx_pres("unavailable", R("Ann"))); /* ping work */
    mj_session_close(s2);
}

TEST(a_join_sent_again_frees_its_record_with_the_entry)
{
    setup();
    mj_stats st0, st1;
    join_sent_again_then_close(); /* the tracker's tables grown once */
    mj_tracker_stats(tr, &st0);
    join_sent_again_then_close();
    mj_tracker_stats(tr, &st1);
    CHECK_INT(st1.bytes, st0.bytes);
    mj_tracker_free(tr);
}

/* The session left while its ping was out: "not joined" is what it
 * asked for. The leave is done (voluntary), and no ghost notice invites
 * it back to the room it just left. */
TEST(not_joined_while_leaving_is_the_leave_done)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    fx_out(s, fx_pres("unavailable", R("Ann")));
    CHECK_STATE(s, ROOM, MJ_S_LEAVING);
    fx_take();
    CHECK_INT(answer(last_ping, "error", "not-acceptable", "cancel", ROOM, -1),
              MJ_PING_NOT_JOINED);
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_EVENTS("left " ROOM " Ann voluntary");
    mj_stats st;
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_not_joined, 1);
    CHECK_INT(st.pings_outstanding, 0);
    /* the leave's late confirmation finds nothing */
    CHECK_OUTCOME(fx_self(s, "unavailable", R("Ann")), MJ_O_FORGED);
    CHECK_EVENTS("");
    mj_tracker_free(tr);
}

TEST(answer_from_another_room_is_ignored)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    mj_stanza a = fx_pres("available", "other@muc.remote.example/Ann");
    mj_ping_verdict v;
    a.kind = MJ_KIND_IQ;
    a.type = MJ_T_ERROR;
    a.error_condition = S("not-acceptable");
    CHECK_INT(mj_session_ping_answer(s, last_ping, &a, -1, &v), MJ_OK);
    CHECK_INT(v, MJ_PING_STALE);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

/* An answer counts only from the JID pinged (room/<nick>; the reply to an
 * iq comes from the iq's to): Prosody's MUC routes another occupant's iq
 * result or error to the session with from = room/<that occupant>, so an
 * answer from another nick of the room is no answer to our ping (it would
 * remove the entry and tell the client 110 + 333). */
TEST(answer_from_another_nick_of_the_room_is_ignored)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    fx_take();
    mj_stanza a = fx_pres("available", R("Mallory"));
    mj_ping_verdict v;
    a.kind = MJ_KIND_IQ;
    a.type = MJ_T_ERROR;
    a.error_condition = S("not-acceptable");
    CHECK_INT(mj_session_ping_needs_features(s, last_ping, &a), 0);
    CHECK_INT(mj_session_ping_answer(s, last_ping, &a, -1, &v), MJ_OK);
    CHECK_INT(v, MJ_PING_STALE);
    CHECK_NICK(s, ROOM, "Ann");
    CHECK_EVENTS("");
    /* nor from the bare room */
    a.from = S(ROOM);
    CHECK_INT(mj_session_ping_answer(s, last_ping, &a, -1, &v), MJ_OK);
    CHECK_INT(v, MJ_PING_STALE);
    CHECK_NICK(s, ROOM, "Ann");
    /* the pinged JID's answer still counts */
    CHECK_INT(answer(last_ping, "result", NULL, NULL, NULL, 0),
              MJ_PING_JOINED);
    /* in EXPECTING(Ann, Bob) the ping went to Bob: Bob's answer counts */
    expect_bob();
    fx_take();
    ambiguous();
    CHECK_EVENTS("ping " ROOM " Bob");
    a.from = S(R("Bob"));
    CHECK_INT(mj_session_ping_answer(s, last_ping, &a, -1, &v), MJ_OK);
    CHECK_INT(v, MJ_PING_NOT_JOINED);
    CHECK_NICK(s, ROOM, NULL);
    /* left carries the nick shown (Ann) and, as room_nick, the one the
     * room knew (Bob): the ghost's notice comes from there */
    CHECK_EVENTS("left " ROOM " Ann ghost at=Bob/not-acceptable");
    mj_tracker_free(tr);
}

/* A ping sent in JOINED(Ann) goes to room/Ann; a 303 (to Bob) while it is
 * out does not move where its answer comes from: the answer from room/Ann
 * still counts (review of 3279e5e: to_key is fixed at send time). */
TEST(answer_to_ping_sent_before_a_303_counts_from_the_old_nick)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    fx_take();
    uint32_t id = last_ping;
    expect_bob();
    fx_take();
    CHECK_INT(last_ping, id); /* no new ping */
    mj_stanza a = fx_pres("available", R("Ann"));
    mj_ping_verdict v;
    a.kind = MJ_KIND_IQ;
    a.type = MJ_T_RESULT;
    CHECK_INT(mj_session_ping_answer(s, id, &a, -1, &v), MJ_OK);
    CHECK_INT(v, MJ_PING_JOINED);
    mj_tracker_free(tr);
}

/* ... but only "joined" counts from there: once the session's nick has
 * moved (a 303, or the room renaming it), another occupant may hold the
 * old one and get the ping (the room forwards it); its not-acceptable
 * without by would end a room the session is in. Unknown instead, and
 * the ping is asked again (to the new nick) after the backoff. */
TEST(error_from_the_old_nick_after_a_rename_is_unknown)
{
    for (int how = 0; how < 2; how++) {
        setup();
        join(s, R("Ann"));
        ambiguous();
        fx_take();
        uint32_t id = last_ping;
        if (how == 0) {
            expect_bob(); /* EXPECTING(Ann, Bob): pings go to Bob */
        } else {
            /* the room renames the session: a self-presence from Carol */
            fx_self(s, "available", R("Carol"));
            CHECK_NICK(s, ROOM, "Carol");
        }
        fx_take();
        mj_stanza a = fx_pres("available", R("Ann"));
        mj_ping_verdict v;
        a.kind = MJ_KIND_IQ;
        a.type = MJ_T_ERROR;
        a.error_condition = S("not-acceptable");
        a.error_type = S("cancel");
        CHECK_INT(mj_session_ping_needs_features(s, id, &a), 0);
        CHECK_INT(mj_session_ping_answer(s, id, &a, -1, &v), MJ_OK);
        CHECK_INT(v, MJ_PING_UNKNOWN);
        CHECK_INT(fx_state(s, ROOM), how == 0 ? MJ_S_EXPECTING : MJ_S_JOINED);
        CHECK_EVENTS("");
        /* asked again after the backoff, at the session's nick now */
        npings = 0;
        fx_now += 31; /* backoff 30 s */
        mj_tracker_tick(tr);
        fx_take();
        CHECK_INT(npings, 1);
        CHECK_STR(S(last_to), how == 0 ? R("Bob") : R("Carol"));
        mj_tracker_free(tr);
    }
}

/* ... and in LEAVING the session is the nick a 303 announced (kept from
 * EXPECTING, or one racing the leave) until the room sees the leave: a
 * ping sent in EXPECTING(Ann, Bob) went to Bob, still the session's, so
 * Bob's not-acceptable is the room's word (the leave is done, as for a
 * ping to the shown nick); a ping to Ann answered after a 303 racing the
 * leave is from a nick the session no longer has. */
TEST(leaving_after_a_303_compares_with_the_announced_nick)
{
    for (int how = 0; how < 2; how++) {
        setup();
        join(s, R("Ann"));
        if (how == 0)
            expect_bob(); /* EXPECTING(Ann, Bob): the ping goes to Bob */
        ambiguous();
        fx_take();
        uint32_t id = last_ping;
        CHECK_STR(S(last_to), how == 0 ? R("Bob") : R("Ann"));
        fx_out(s, fx_pres("unavailable", R("Ann")));
        CHECK_STATE(s, ROOM, MJ_S_LEAVING);
        if (how == 1)
            expect_bob(); /* a 303 racing the leave: Ann is free */
        fx_take();
        mj_stanza a = fx_pres("available", last_to);
        mj_ping_verdict v;
        a.kind = MJ_KIND_IQ;
        a.type = MJ_T_ERROR;
        a.error_condition = S("not-acceptable");
        a.error_type = S("cancel");
        CHECK_INT(mj_session_ping_answer(s, id, &a, -1, &v), MJ_OK);
        if (how == 0) {
            CHECK_INT(v, MJ_PING_NOT_JOINED);
            CHECK_STATE(s, ROOM, MJ_S_NONE);
            CHECK_EVENTS("left " ROOM " Ann voluntary");
        } else {
            CHECK_INT(v, MJ_PING_UNKNOWN);
            CHECK_STATE(s, ROOM, MJ_S_LEAVING);
            CHECK_EVENTS("");
        }
        mj_tracker_free(tr);
    }
}

TEST(link_loss_is_debounced_and_waits_for_start_delay)
{
    setup();
    join(s, R("Ann"));
    join(s, "local@muc.home.example/Ann");
    fx_take();
    CHECK_INT(mj_tracker_link_lost(tr, "MUC.remote.example.", 19), MJ_OK);
    CHECK_INT(mj_tracker_link_lost(tr, "muc.remote.example", 18), MJ_OK);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 0);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1); /* one ping, only the room on that domain */
    CHECK_EVENTS("ping " ROOM " Ann");
    CHECK_INT(mj_tracker_link_lost(tr, "a b", 3), MJ_OK);
    CHECK_INT(mj_tracker_link_lost(tr, "\xff", 1), MJ_EJID);
    mj_tracker_free(tr);
}

/* Answers free the budget and the waiting pings go at once
 * (mj_tracker_send_ready(), called by the module right after answers),
 * not at the next tick: before, a lost link's check of N rooms on one
 * domain sent ping_budget pings per tick (every 5 s in the module), so
 * 1,000 rooms took four minutes however fast the room answered. */
TEST(freed_budget_sends_waiting_pings_before_the_tick)
{
    char occ[64];
    setup_cfg(3, 1);
    mj_session *b = fx_session(tr, "other@home.example/x");
    for (int i = 0; i < 4; i++) {
        snprintf(occ, sizeof occ, "r%d@muc.remote.example/Ann", i);
        join(s, occ);
        join(b, occ);
    }
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3);
    mj_tracker_send_ready(tr); /* the budget is full: nothing */
    CHECK_INT(npings, 3);
    mj_stats st;
    for (int round = 1; round <= 3; round++) {
        size_t cursor = 0;
        mj_session *x;
        while ((x = mj_tracker_next_session(tr, &cursor)) != NULL) {
            mj_stanza a;
            mj_stanza_init(&a);
            a.kind = MJ_KIND_IQ;
            a.type = MJ_T_RESULT;
            for (int i = 0; i < 4; i++) {
                snprintf(occ, sizeof occ, "r%d@muc.remote.example/Ann", i);
                a.from = S(occ);
                for (uint32_t id = 1; id <= (uint32_t)npings; id++)
                    mj_session_ping_answer(x, id, &a, -1, NULL);
            }
        }
        mj_tracker_send_ready(tr); /* no tick, the clock unchanged */
        mj_tracker_stats(tr, &st);
        CHECK_INT(st.pings_joined, (uint64_t)(round < 3 ? 3 * round : 8));
        CHECK_INT(npings, round < 2 ? 3 * (round + 1) : 8);
    }
    CHECK_INT(st.pings_outstanding, 0);
    mj_tracker_free(tr);
}

TEST(budget_bounds_outstanding_pings_per_domain)
{
    char occ[64];
    setup_cfg(3, 1);
    mj_session *b = fx_session(tr, "other@home.example/x");
    for (int i = 0; i < 4; i++) {
        snprintf(occ, sizeof occ, "r%d@muc.remote.example/Ann", i);
        join(s, occ);
        join(b, occ);
    }
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3);
    mj_stats st;
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_outstanding, 3);
    /* answers free the budget; later ticks send the rest */
    for (int round = 0; round < 5; round++) {
        size_t cursor = 0;
        mj_session *x;
        while ((x = mj_tracker_next_session(tr, &cursor)) != NULL) {
            mj_stanza a;
            mj_stanza_init(&a);
            a.kind = MJ_KIND_IQ;
            a.type = MJ_T_RESULT;
            for (int i = 0; i < 4; i++) {
                snprintf(occ, sizeof occ, "r%d@muc.remote.example/Ann", i);
                a.from = S(occ);
                for (uint32_t id = 1; id <= (uint32_t)npings; id++)
                    mj_session_ping_answer(x, id, &a, -1, NULL);
            }
        }
        mj_tracker_tick(tr);
    }
    CHECK_INT(npings, 8); /* each (session, room) exactly once */
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_joined, 8);
    mj_tracker_free(tr);
}

TEST(no_ping_while_changing_nick)
{
    setup();
    join(s, R("Ann"));
    fx_out(s, fx_pres("available", R("Bob")));
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 0);
    fx_self(s, "available", R("Bob"));
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    mj_tracker_free(tr);
}

/* A refused nick change may hide a ghost: Prosody answers a presence from
 * a non-occupant with item-not-found ("You are not currently connected to
 * this chat"). Back in JOINED, the room is asked; with self-ping off the
 * entry is kept. */
TEST(refused_nick_change_asks_the_room)
{
    for (int on = 1; on >= 0; on--) {
        setup_cfg(20, on);
        join(s, R("Ann"));
        fx_out(s, fx_pres("available", R("Bob")));
        fx_take();
        mj_stanza err = fx_pres("error", R("Bob"));
        err.error_condition = S("item-not-found");
        err.error_type = S("cancel");
        err.error_by = S(ROOM);
        CHECK_OUTCOME(fx_in(s, err), MJ_O_CHANGED);
        CHECK_STATE(s, ROOM, MJ_S_JOINED);
        CHECK_NICK(s, ROOM, "Ann");
        CHECK_INT(npings, on);
        if (on) {
            CHECK_EVENTS("ping " ROOM " Ann");
            CHECK_INT(answer(last_ping, "error", "not-acceptable", "cancel",
                             ROOM, -1),
                      MJ_PING_NOT_JOINED);
            CHECK_NICK(s, ROOM, NULL);
            CHECK_EVENTS("left " ROOM " Ann ghost/not-acceptable");
        } else {
            CHECK_EVENTS("");
        }
        mj_tracker_free(tr);
    }
}

/* A longer nick than the one shown makes the entry a new record for it
 * (entries moved to hold it until entries came in fixed blocks): the
 * outstanding ping keeps working (run under ASan and valgrind). */
TEST(ping_follows_an_entry_moved_by_a_longer_nick)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    CHECK_INT(npings, 1);
    uint32_t id = last_ping;
    const char *longer = R("Ann with a much longer nick than before");
    fx_out(s, fx_pres("available", longer));
    fx_self(s, "available", longer);
    CHECK_NICK(s, ROOM, "Ann with a much longer nick than before");
    fx_take();
    /* the room says the session is still there: the ping ends */
    CHECK_INT(answer(id, "result", NULL, NULL, NULL, 0), MJ_PING_JOINED);
    CHECK_INT(fx_state(s, ROOM), MJ_S_JOINED);
    /* and a 303 to an even longer nick, then its timeout, move it again */
    mj_stanza st = fx_pres("unavailable", longer);
    st.item_nick = S("Ann with a much, much longer nick than the longer one");
    fx_codes(&st, 110, 303, 0);
    fx_in(s, st);
    CHECK_INT(fx_state(s, ROOM), MJ_S_EXPECTING);
    fx_in(s, fx_pres("unavailable", longer)); /* no 110: ambiguous */
    CHECK_INT(npings, 2);
    id = last_ping;
    /* EXPECTING times out (the ping's own timeout passed too: its retry
     * waits) and the announced nick is taken: a larger record again */
    fx_now += 130;
    mj_tracker_tick(tr);
    CHECK_NICK(s, ROOM,
               "Ann with a much, much longer nick than the longer one");
    /* the retry goes out for it */
    for (int i = 0; i < 10 && last_ping == id; i++) {
        fx_now += 30;
        mj_tracker_tick(tr);
    }
    CHECK(last_ping != id);
    CHECK_INT(answer(last_ping, "result", NULL, NULL, NULL, 0),
              MJ_PING_JOINED);
    mj_tracker_free(tr);
}

/* fuzz regression (regress-restore-keeps-ping): a room restored as PENDING
 * while a ping was outstanding; the late "not joined" answer must not end
 * it (nothing is shown, no ghost notice). */
TEST(restore_drops_the_rooms_ping_work)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    CHECK_INT(npings, 1);
    uint32_t id = last_ping;
    CHECK_INT(mj_session_restore(s, ROOM, strlen(ROOM), MJ_S_PENDING, S(NULL),
                                 S("Ann"), fx_now),
              MJ_OK);
    fx_take();
    CHECK_INT(answer(id, "error", "not-acceptable", "cancel", ROOM, -1),
              MJ_PING_STALE);
    CHECK_EVENTS("");
    CHECK_INT(fx_state(s, ROOM), MJ_S_PENDING);
    mj_tracker_free(tr);
}

TEST(self_ping_option_off_sends_nothing)
{
    setup_cfg(20, 0);
    join(s, R("Ann"));
    CHECK_OUTCOME(fx_in(s, fx_pres("unavailable", R("Ann"))), MJ_O_AMBIGUOUS);
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 100;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 0);
    mj_tracker_free(tr);
}

/* An iq get with <ping/> from occ: a self-ping the room forwards. */
static mj_stanza forwarded_ping(const char *occ)
{
    mj_stanza p = fx_pres("available", occ);
    p.kind = MJ_KIND_IQ;
    p.type = MJ_T_GET;
    p.has_ping = 1;
    return p;
}

TEST(forwarded_ping_is_recognised)
{
    setup();
    join(s, R("Ann"));
    mj_stanza p = forwarded_ping(R("Ann"));
    CHECK_INT(mj_session_is_forwarded_ping(s, &p), 1);
    p.from = S(R("Bob"));
    CHECK_INT(mj_session_is_forwarded_ping(s, &p), 0);
    p.from = S(R("Ann"));
    p.has_ping = 0;
    CHECK_INT(mj_session_is_forwarded_ping(s, &p), 0);
    p.has_ping = 1;
    p.type = MJ_T_SET;
    CHECK_INT(mj_session_is_forwarded_ping(s, &p), 0);
    p.type = MJ_T_GET;
    p.from = S("stranger@muc.remote.example/Ann");
    CHECK_INT(mj_session_is_forwarded_ping(s, &p), 0);
    mj_tracker_free(tr);
}

/* Mutation review: while EXPECTING(Ann, Bob) the self-ping goes to the
 * announced nick Bob (ping_while_expecting_goes_to_the_announced_nick);
 * the room forwards it to the session from room/Bob, and that forwarded
 * ping is ours to answer, as one from room/Ann is. */
TEST(forwarded_ping_from_the_announced_nick_is_recognised)
{
    setup();
    join(s, R("Ann"));
    expect_bob();
    CHECK_STATE(s, ROOM, MJ_S_EXPECTING);
    mj_stanza p = forwarded_ping(R("Bob"));
    CHECK_INT(mj_session_is_forwarded_ping(s, &p), 1);
    p.from = S(R("Ann"));
    CHECK_INT(mj_session_is_forwarded_ping(s, &p), 1);
    p.from = S(R("Carol"));
    CHECK_INT(mj_session_is_forwarded_ping(s, &p), 0);
    mj_tracker_free(tr);
}

/* Mutation review: a join sent while EXPECTING(Ann, Bob), with the ping
 * to Bob out, makes its answer stale; the question is asked again after
 * ping_backoff (30 s), not at the next tick. */
TEST(a_join_with_the_ping_out_asks_again_after_the_backoff)
{
    setup();
    join(s, R("Ann"));
    expect_bob();
    ambiguous();
    CHECK_INT(npings, 1);
    CHECK_OUTCOME(fx_join(s, R("Ann")), MJ_O_UNCHANGED);
    CHECK_STATE(s, ROOM, MJ_S_EXPECTING);
    fx_now += 1;
    mj_tracker_tick(tr);
    fx_now += 28;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    fx_now += 2;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 2);
    mj_tracker_free(tr);
}

TEST(session_close_with_outstanding_ping_frees_it)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    mj_session_close(s);
    fx_now += 1000;
    mj_tracker_tick(tr);
    mj_stats st;
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_outstanding, 0);
    mj_tracker_free(tr);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Answer every outstanding ping of every session with a result. */
static void answer_all(const char *fmt, int rooms)
{
    size_t cursor = 0;
    mj_session *x;
    char occ[80];
    while ((x = mj_tracker_next_session(tr, &cursor)) != NULL) {
        for (int i = 0; i < rooms; i++) {
            mj_stanza a;
            mj_stanza_init(&a);
            a.kind = MJ_KIND_IQ;
            a.type = MJ_T_RESULT;
            snprintf(occ, sizeof occ, fmt, i);
            a.from = S(occ);
            for (uint32_t id = 1; id <= (uint32_t)npings; id++)
                mj_session_ping_answer(x, id, &a, -1, NULL);
        }
    }
}

/* 16 sessions x 1,000 rooms on one domain lose the link: 16,000 pings
 * wait for a budget of 20. A tick costs what is due (the queue waits
 * without being walked), not what is tracked: before, every tick counted
 * each waiting ping's domain over the whole ping list (0.5 s a tick). */
TEST(tick_costs_what_is_due_not_what_is_tracked)
{
    char occ[80], jid[64];
    setup();
    fx_nevents = 0;
    double joins = now_ms();
    for (int k = 0; k < 16; k++) {
        snprintf(jid, sizeof jid, "u%d@home.example/x", k);
        mj_session *x = fx_session(tr, jid);
        for (int i = 0; i < 1000; i++) {
            snprintf(occ, sizeof occ, "r%d@muc.remote.example/Ann", i);
            fx_join(x, occ);
            fx_self(x, "available", occ);
        }
    }
    joins = now_ms() - joins;
    fx_take();
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    fx_take();
    CHECK_INT(npings, 20);
    double t = now_ms();
    for (int i = 0; i < 10; i++) {
        fx_now += 1;
        mj_tracker_tick(tr);
    }
    t = now_ms() - t;
    printf("selfping: 10 ticks with 16,000 waiting pings: %.2f ms (the "
           "16,000 joins: %.1f ms)\n",
           t, joins);
    /* relative to the joins, so that valgrind and sanitizers scale both
     * (before: 500 times the joins) */
    if (t > joins)
        FAIL_AT("10 ticks with 16,000 waiting pings: %.1f ms, the joins "
                "%.1f ms",
                t, joins);
    CHECK_INT(npings, 20);
    /* answers free the budget: the next tick sends the next 20 */
    answer_all("r%d@muc.remote.example/Ann", 2); /* first ids: r0, r1 */
    mj_stats st;
    mj_tracker_stats(tr, &st);
    size_t freed = 20 - st.pings_outstanding;
    mj_tracker_tick(tr);
    CHECK_INT((size_t)npings, 20 + freed);
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_outstanding, 20);
    fx_take();
    mj_tracker_free(tr);
}

/* A link check that falls due visits the rooms on its domain and their
 * entries, not every tracked entry (before the fix, 2M entries made
 * each such tick ~100 ms, and a remote server can cause one per
 * ping_start_delay). 16,000 entries on another domain, one on the lost
 * one: a thousand checks cost far less than the joins. */
TEST(link_check_visits_only_its_domain)
{
    char occ[80], jid[64];
    setup();
    join(s, R("Ann"));
    double joins = now_ms();
    for (int k = 0; k < 16; k++) {
        snprintf(jid, sizeof jid, "u%d@home.example/x", k);
        mj_session *x = fx_session(tr, jid);
        for (int i = 0; i < 1000; i++) {
            snprintf(occ, sizeof occ, "r%d@muc.big.example/Ann", i);
            fx_join(x, occ);
            fx_self(x, "available", occ);
        }
    }
    joins = now_ms() - joins;
    fx_take();
    double t = now_ms();
    for (int i = 0; i < 1000; i++) {
        mj_tracker_link_lost(tr, "muc.remote.example", 18);
        fx_now += 100;
        mj_tracker_tick(tr);
    }
    t = now_ms() - t;
    fx_take();
    printf("selfping: 1,000 link checks beside 16,000 entries elsewhere: "
           "%.2f ms (the joins: %.1f ms)\n",
           t, joins);
    if (t > joins / 2)
        FAIL_AT("1,000 link checks: %.1f ms, the joins %.1f ms", t, joins);
    CHECK(npings >= 1);
    mj_tracker_free(tr);
}

/* A link loss of a domain no tracked room is on costs a lookup and
 * leaves nothing behind (before, each distinct domain queued a check). */
TEST(link_loss_of_an_untracked_domain_leaves_nothing)
{
    char dom[64];
    mj_stats before, after;
    setup();
    join(s, R("Ann"));
    fx_take();
    mj_tracker_stats(tr, &before);
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(dom, sizeof dom, "conference%d.victim.example", i);
        CHECK_INT(mj_tracker_link_lost(tr, dom, (size_t)n), MJ_OK);
    }
    mj_tracker_stats(tr, &after);
    CHECK_INT(after.bytes, before.bytes);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 0);
    /* a tracked domain's check: its last room leaving before the check
     * runs leaves nothing behind either (the same bytes as a join and
     * leave without a link loss) */
    mj_stanza st = fx_pres("unavailable", R("Ann"));
    fx_codes(&st, 110, 0);
    fx_out(s, fx_pres("unavailable", R("Ann")));
    fx_in(s, st);
    join(s, R("Ann"));
    fx_out(s, fx_pres("unavailable", R("Ann")));
    fx_in(s, st);
    mj_tracker_stats(tr, &before);
    join(s, R("Ann"));
    CHECK_INT(mj_tracker_link_lost(tr, "muc.remote.example", 18), MJ_OK);
    fx_out(s, fx_pres("unavailable", R("Ann")));
    fx_in(s, st);
    CHECK_NICK(s, ROOM, NULL);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 0);
    mj_tracker_stats(tr, &after);
    CHECK_INT(after.distinct_rooms, 0);
    CHECK_INT(after.bytes, before.bytes);
    mj_tracker_free(tr);
}

/* Link losses of 20,000 tracked domains each cost O(1): the pending
 * checks are not walked (before, each loss compared its domain with
 * every pending check). A lower ping_start_delay puts a later loss's
 * check before earlier ones. */
TEST(many_link_losses_cost_linear_time)
{
    char occ[80], jid[64], dom[64];
    setup();
    double joins = now_ms();
    for (int k = 0; k < 20; k++) {
        snprintf(jid, sizeof jid, "u%d@home.example/x", k);
        mj_session *x = fx_session(tr, jid);
        for (int i = 0; i < 1000; i++) {
            snprintf(occ, sizeof occ, "r@muc%d.example/Ann", k * 1000 + i);
            fx_join(x, occ);
            fx_self(x, "available", occ);
        }
    }
    joins = now_ms() - joins;
    fx_take();
    double t = now_ms();
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(dom, sizeof dom, "muc%d.example", i);
        mj_tracker_link_lost(tr, dom, (size_t)n);
    }
    t = now_ms() - t;
    printf("selfping: 20,000 link losses: %.2f ms (the 20,000 joins: "
           "%.1f ms)\n",
           t, joins);
    /* a loss is a nameprep and a lookup, less than a join (before: 40
     * times the joins) */
    if (t > 2 * joins)
        FAIL_AT("20,000 link losses: %.1f ms, the joins %.1f ms", t, joins);
    mj_config cfg;
    test_cfg(&cfg);
    cfg.ping_start_delay = 1;
    cfg.ping_budget = 100000;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    mj_tracker_link_lost(tr, "remote.example", 14); /* nothing on it */
    join(s, "x@late.example/Ann");
    fx_take();
    mj_tracker_link_lost(tr, "late.example", 12);
    fx_now += 1;
    mj_tracker_tick(tr);
    /* the shorter delay brought the 20,000 waiting checks forward too */
    CHECK_INT(npings, 20001);
    fx_take();
    mj_tracker_free(tr);
}

/* Link losses and ups after ping_start_delay was lowered are appended to
 * their lists in O(1) as before: the checks and visits made under the
 * longer delay were brought forward. Each used to look for its place
 * among all of them: 20,000 losses of as many domains after one made
 * under an hour took ~1 s, 20,000 link ups ~0.9 s. */
TEST(a_lowered_start_delay_keeps_link_losses_and_ups_linear)
{
    char occ[80], dom[64];
    enum { N = 20000 };
    mj_config cfg;
    test_cfg(&cfg);
    cfg.ping_start_delay = 3600;
    cfg.ping_retries = 0;
    cfg.ping_backoff = 0;
    cfg.ping_timeout = 0.1;
    cfg.ping_budget = 100000;
    cfg.max_rooms = cfg.max_pending = N + 10;
    start(&cfg);
    double joins = now_ms();
    for (int i = 0; i < N; i++) {
        snprintf(occ, sizeof occ, "r@muc%d.example/Ann", i);
        join(s, occ);
    }
    joins = now_ms() - joins;
    fx_take();
    mj_tracker_link_lost(tr, "muc0.example", 12);
    cfg.ping_start_delay = 10;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    double t = now_ms();
    for (int i = 1; i < N; i++) {
        int n = snprintf(dom, sizeof dom, "muc%d.example", i);
        mj_tracker_link_lost(tr, dom, (size_t)n);
    }
    t = now_ms() - t;
    printf("selfping: %d link losses after a lowered delay: %.2f ms (the "
           "joins: %.1f ms)\n",
           N - 1, t, joins);
    if (t > 2 * joins)
        FAIL_AT("link losses: %.1f ms, the joins %.1f ms", t, joins);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, N); /* the hour-long one too */
    /* every ping times out: all give up (no retries) */
    fx_now += 1;
    mj_tracker_tick(tr);
    /* link ups: the first visits each domain at once; the second, under
     * a 10-minute interval, is deferred; lowering the delay to 1 s brings
     * those forward, and a third round, within 1 s of the visits, is
     * deferred again, appended */
    cfg.ping_start_delay = 600;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    for (int i = 0; i < N; i++) {
        int n = snprintf(dom, sizeof dom, "muc%d.example", i);
        mj_tracker_link_up(tr, dom, (size_t)n);
    }
    mj_tracker_tick(tr);
    CHECK_INT(npings, 2 * N);
    fx_now += 1;
    mj_tracker_tick(tr); /* they give up again */
    for (int i = 0; i < N / 2; i++) {
        int n = snprintf(dom, sizeof dom, "muc%d.example", i);
        mj_tracker_link_up(tr, dom, (size_t)n);
    }
    cfg.ping_start_delay = 1;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    t = now_ms();
    for (int i = N / 2; i < N; i++) {
        int n = snprintf(dom, sizeof dom, "muc%d.example", i);
        mj_tracker_link_up(tr, dom, (size_t)n);
    }
    t = now_ms() - t;
    printf("selfping: %d link ups after a lowered delay: %.2f ms\n", N / 2, t);
    if (t > joins)
        FAIL_AT("link ups: %.1f ms, the joins %.1f ms", t, joins);
    fx_now += 1;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3 * N);
    fx_take();
    mj_tracker_free(tr);
}

/* Raising the budget lets the waiting pings go at the next tick. */
TEST(raising_the_budget_sends_waiting_pings)
{
    char occ[64];
    setup_cfg(1, 1);
    for (int i = 0; i < 3; i++) {
        snprintf(occ, sizeof occ, "r%d@muc.remote.example/Ann", i);
        join(s, occ);
    }
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    mj_config cfg;
    test_cfg(&cfg);
    cfg.ping_budget = 5;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3);
    mj_tracker_free(tr);
}

/* a join (the MUC <x/>) sent while CHANGING or EXPECTING, or one to
 * another nick while JOINED, is a join like any other (docs/semantics.md §5:
 * an answer "that belongs to a ping older than the latest join or ping of that
 * room is stale and ignored"). A ghost's client rejoins under another nick
 * (its bookmark's, not the one the room rewrote): the room answers the ping
 * sent before the rejoin with not-acceptable, then the rejoin with a
 * self-presence. The answer is stale; taking it ended the entry and the
 * rejoin's self-presence was refused as forged: the session in the room,
 * rooms_joined without it. */
TEST(answer_to_a_ping_older_than_a_join_under_another_nick_is_stale)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    uint32_t old = last_ping;
    CHECK_OUTCOME(fx_join(s, R("Bob")), MJ_O_CHANGED);
    fx_take();
    CHECK_INT(answer(old, "error", "not-acceptable", "cancel", ROOM, -1),
              MJ_PING_STALE);
    CHECK_EVENTS("");
    CHECK_OUTCOME(fx_self(s, "available", R("Bob")), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Bob");
    mj_tracker_free(tr);
}

/* The same for a join sent while EXPECTING (to either nick). */
TEST(answer_to_a_ping_older_than_a_join_sent_while_expecting_is_stale)
{
    const char *to[2] = {R("Ann"), R("Bob")};
    for (int k = 0; k < 2; k++) {
        setup();
        join(s, R("Ann"));
        expect_bob();
        CHECK_STATE(s, ROOM, MJ_S_EXPECTING);
        ambiguous();
        CHECK_INT(npings, 1);
        uint32_t old = last_ping;
        fx_join(s, to[k]);
        fx_take();
        CHECK_INT(answer(old, "error", "not-acceptable", "cancel", ROOM, -1),
                  MJ_PING_STALE);
        CHECK_EVENTS("");
        fx_self(s, "available", to[k]);
        CHECK_STATE(s, ROOM, MJ_S_JOINED);
        mj_tracker_free(tr);
    }
}

/* in EXPECTING(o, m) the room has said the session is m (303) and o
 * is free for anyone to take: a self-ping to room/o is forwarded by
 * Prosody to whichever occupant took o (a stranger gets the user's ping,
 * and any error it answers, e.g. <forbidden/>, reads "not joined": a false
 * ghost). The ping goes to the nick the room announced. */
TEST(ping_while_expecting_goes_to_the_announced_nick)
{
    setup();
    join(s, R("Ann"));
    expect_bob();
    CHECK_STATE(s, ROOM, MJ_S_EXPECTING);
    fx_take();
    ambiguous(); /* unavailable from room/Ann without 110 */
    CHECK_INT(npings, 1);
    CHECK_EVENTS("ping " ROOM " Bob");
    /* a link loss while EXPECTING: the same */
    answer(last_ping, "result", NULL, NULL, NULL, 0);
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 2);
    CHECK_EVENTS("ping " ROOM " Bob");
    mj_tracker_free(tr);
}

/* the option turned off on a live tracker (a reload with
 * track_muc_joins_self_ping = false: "changed options apply to the kept
 * tracker") must stop the pinging: no retry, nothing from the budget's
 * queue, nothing parked comes back as a ping. */
TEST(self_ping_turned_off_sends_no_more)
{
    setup_cfg(1, 1); /* budget 1: the second room's ping waits in the queue */
    join(s, R("Ann"));
    join(s, "other@muc.remote.example/Ann");
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    mj_config cfg;
    test_cfg(&cfg);
    cfg.ping_budget = 1;
    cfg.self_ping = 0;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    for (int i = 0; i < 40; i++) { /* timeouts, retries, the queue */
        fx_now += 30;
        mj_tracker_tick(tr);
    }
    CHECK_INT(npings, 1);
    mj_stats st;
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_outstanding, 0);
    mj_tracker_free(tr);
}

/* a join the room never answers must not end the ghost check */
TEST(unanswered_join_while_joined_to_another_nick_keeps_the_ghost_check)
{
    setup();
    join(s, R("Ann"));
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    fx_now += 61; /* our own timeout: unknown, a retry is due in 30 s */
    mj_tracker_tick(tr);
    /* the client rejoins under another nick; the room never answers */
    CHECK_OUTCOME(fx_join(s, R("Bob")), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_CHANGING);
    for (int i = 0; i < 20; i++) {
        fx_now += 30;
        mj_tracker_tick(tr);
    }
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_NICK(s, ROOM, "Ann");
    /* nothing ever confirmed the session is in: the check goes on */
    CHECK(npings >= 2);
    mj_tracker_free(tr);
}

TEST(unanswered_join_while_expecting_keeps_the_ghost_check)
{
    setup();
    join(s, R("Ann"));
    expect_bob();
    ambiguous();
    CHECK_INT(npings, 1);
    fx_now += 61; /* unknown: retry later */
    mj_tracker_tick(tr);
    fx_join(s, R("Ann"));
    for (int i = 0; i < 20; i++) {
        fx_now += 30;
        mj_tracker_tick(tr);
    }
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK(npings >= 2);
    mj_tracker_free(tr);
}

/* the same with the ping still out when the join is sent (the
 * room answers neither): its answer is stale, the check is not over */
TEST(unanswered_join_with_the_ping_out_keeps_the_ghost_check)
{
    setup();
    join(s, R("Ann"));
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    uint32_t old = last_ping;
    CHECK_OUTCOME(fx_join(s, R("Bob")), MJ_O_CHANGED);
    mj_stats st;
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.pings_outstanding, 0); /* the budget is free again */
    for (int i = 0; i < 20; i++) {
        fx_now += 30;
        mj_tracker_tick(tr);
    }
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK(npings >= 2);
    /* the old ping's late answer is still stale */
    CHECK_INT(answer(old, "error", "not-acceptable", "cancel", ROOM, -1),
              MJ_PING_STALE);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

/* A join sent again to the session's own nick while
 * a link check's ping is out, never answered: the check goes on (it was
 * dropped, and without a give-up mark nothing asked again: the ghost
 * stayed). */
TEST(unanswered_join_to_its_own_nick_keeps_the_ghost_check)
{
    setup();
    join(s, R("Ann"));
    mj_tracker_link_lost(tr, "muc.remote.example", 18);
    fx_now += 10;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 1);
    CHECK_OUTCOME(fx_join(s, R("Ann")), MJ_O_UNCHANGED);
    for (int i = 0; i < 20; i++) {
        fx_now += 30;
        mj_tracker_tick(tr);
    }
    CHECK(npings >= 2);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

/* A room that answers nothing and a client that keeps sending its join
 * (to another nick) while the ping is out: each join makes the ping
 * stale, and counts as a try, so the round gives up and rests after
 * ping_retries (577 pings a day before). */
TEST(joins_sent_again_while_the_ping_is_out_end_the_round)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    CHECK_INT(npings, 1);
    for (int t = 0; t < 86400; t += 10) {
        fx_now += 10;
        mj_tracker_tick(tr);
        mj_stats st;
        mj_tracker_stats(tr, &st);
        if (t % 150 == 0 && st.pings_outstanding)
            fx_join(s, R("Bob")); /* the client retries its join */
    }
    mj_stats st;
    mj_tracker_stats(tr, &st);
    CHECK(npings <= 10);
    CHECK(st.pings_given_up >= 1);
    mj_tracker_free(tr);
}

/* The pinged nick is held by another occupant (a nick adopted from
 * rooms_joined that went stale): the room forwards the ping to it and
 * relays its error, whose by names that occupant's server: not the
 * room's word, unknown (it was "not joined": a false ghost). An error
 * without by, or by the room, still means not joined. */
TEST(an_error_relayed_from_another_occupant_is_no_ghost)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    fx_take();
    CHECK(answer(last_ping, "error", "not-allowed", "cancel",
                 "mallory.example", -1) == MJ_PING_UNKNOWN);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
}

/* A by that names no one (empty, or not a JID) is no word from another
 * occupant: the error is read as one without by (docs/semantics.md §5:
 * not-acceptable and gone mean not joined; service-unavailable is settled
 * by the room's disco#info). Read as "someone else", a room (or a server
 * on the path) that writes by='' kept every ghost for good: unknown,
 * retried, given up. */
TEST(a_by_that_names_no_one_is_as_none)
{
    check_answer("error", "not-acceptable", "cancel", "", -1,
                 MJ_PING_NOT_JOINED);
    check_answer("error", "gone", "cancel", "", -1, MJ_PING_NOT_JOINED);
    check_answer("error", "forbidden", "auth", "a@b@c", -1,
                 MJ_PING_NOT_JOINED);
    check_answer("error", "service-unavailable", "cancel", "", 0,
                 MJ_PING_JOINED);
    check_answer("error", "service-unavailable", "cancel", "", 1,
                 MJ_PING_UNKNOWN);
    check_info("item-not-found", "", "error", "item-not-found", "cancel", NULL,
               0, MJ_PING_NOT_JOINED);
    check_info("item-not-found", "", "result", NULL, NULL, NULL, 0,
               MJ_PING_JOINED);
    /* our own server's word stays the path's, a room's the room's */
    check_answer("error", "not-acceptable", "cancel", "home.example.", -1,
                 MJ_PING_UNKNOWN);
    check_answer("error", "not-acceptable", "cancel",
                 "ROOM@MUC.remote.example", -1, MJ_PING_NOT_JOINED);
}

/* recipient-unavailable without a by: what Prosody 0.12's mod_smacks
 * bounces, from the ping's to, for what a closing s2s link with stream
 * management had not got acknowledged, right after the link's loss
 * (unknown: retried); the room's own word when no link to its domain was
 * lost since the ping went out (biboumi: the user's IRC connection is
 * gone, a ghost). The same for the disco#info reply an answer asks
 * for. */
/* A fresh tracker with Ann in ROOM and a ping out for it, then the loss
 * of the link to lost (NULL: none). */
static void pinged_then_lost(const char *lost)
{
    setup();
    join(s, R("Ann"));
    ambiguous();
    fx_take();
    if (lost != NULL)
        CHECK_INT(mj_tracker_link_lost(tr, lost, strlen(lost)), MJ_OK);
}

/* The latest ping answered as mod_smacks bounces it (and biboumi
 * answers). */
static mj_ping_verdict bounced(void)
{
    return answer(last_ping, "error", "recipient-unavailable", "cancel", NULL,
                  -1);
}

TEST(recipient_unavailable_is_the_paths_only_after_a_link_loss)
{
    mj_ping_verdict v;
    pinged_then_lost("muc.remote.example");
    v = bounced();
    CHECK_INT(v, MJ_PING_UNKNOWN);
    CHECK_NICK(s, ROOM, "Ann");
    /* the retry, with no loss since it went out: the room's answer */
    fx_now += 10000;
    mj_tracker_tick(tr);
    fx_take();
    CHECK_INT(npings, 2);
    v = bounced();
    CHECK_INT(v, MJ_PING_NOT_JOINED);
    CHECK_NICK(s, ROOM, NULL);
    mj_tracker_free(tr);
    /* a loss of another domain changes nothing */
    pinged_then_lost("elsewhere.example");
    v = bounced();
    CHECK_INT(v, MJ_PING_NOT_JOINED);
    mj_tracker_free(tr);
    /* the disco#info reply bounced after a loss says nothing either */
    pinged_then_lost("muc.remote.example");
    v = answer_info("item-not-found", NULL, "error", "recipient-unavailable",
                    "cancel", NULL, 0);
    CHECK_INT(v, MJ_PING_UNKNOWN);
    CHECK_NICK(s, ROOM, "Ann");
    mj_tracker_free(tr);
    pinged_then_lost(NULL);
    v = answer_info("item-not-found", NULL, "error", "recipient-unavailable",
                    "cancel", NULL, 0);
    CHECK_INT(v, MJ_PING_NOT_JOINED); /* any cancel from the room */
    mj_tracker_free(tr);
}

#define ROOM2 "two@muc.remote.example"
/* The link-loss count a ping keeps is the one when it was sent, not
 * queued; a domain spelled otherwise in a link event is the same domain;
 * a loss of the parent domain is not the room's (Prosody keys s2sout by
 * the stanza's host); a ping sent after a loss and a give-up has the new
 * count. */
TEST(a_pings_loss_count_is_the_one_at_send_and_the_rooms_domains)
{
    mj_ping_verdict v;
    /* queued behind the budget, a loss while queued: sent after it */
    setup_cfg(1, 1);
    join(s, R("Ann"));
    join(s, ROOM2 "/Ann");
    fx_take();
    ambiguous(); /* ping 1 out */
    uint32_t p1 = last_ping;
    char to1[512];
    snprintf(to1, sizeof to1, "%s", last_to);
    fx_in(s, fx_pres("unavailable", ROOM2 "/Ann")); /* ping 2 queued */
    CHECK_INT(npings, 1);
    CHECK_INT(mj_tracker_link_lost(tr, "muc.remote.example", 18), MJ_OK);
    snprintf(last_to, sizeof last_to, "%s", to1);
    v = answer(p1, "result", NULL, NULL, NULL, -1);
    CHECK_INT(v, MJ_PING_JOINED);
    mj_tracker_tick(tr);
    CHECK_INT(npings, 2); /* ping 2 sent now */
    v = bounced();
    CHECK_INT(v, MJ_PING_NOT_JOINED);
    mj_tracker_free(tr);
    /* spelled otherwise (case, trailing dot): the same domain */
    pinged_then_lost("MUC.Remote.Example.");
    v = bounced();
    CHECK_INT(v, MJ_PING_UNKNOWN);
    mj_tracker_free(tr);
    /* the parent domain's loss: Prosody keys s2sout by the stanza's host */
    pinged_then_lost("remote.example");
    v = bounced();
    CHECK_INT(v, MJ_PING_NOT_JOINED);
    mj_tracker_free(tr);
    /* a loss, then the ping made stale by a rejoin, then a new ping: the
     * new one has the new count */
    pinged_then_lost("muc.remote.example");
    fx_now += 100000; /* timeout, then give-up rest ... retry */
    for (int i = 0; i < 20; i++) {
        mj_tracker_tick(tr);
        fx_now += 1000;
    }
    ambiguous();
    mj_tracker_tick(tr);
    fx_take();
    v = bounced();
    CHECK_INT(v, MJ_PING_NOT_JOINED);
    mj_tracker_free(tr);
}

/* A link check waits on its domain's record; a domain whose last room
 * goes meanwhile has nothing left to check and leaves the list at once
 * (before the fix, with a long or infinite ping_start_delay every domain that
 * ever lost a link kept its record for good). The checks of the domains
 * around it still fire. */
TEST(a_domain_whose_rooms_are_gone_leaves_the_link_checks)
{
    mj_config cfg;
    mj_stats st;
    char room[64], occ[64], dom[32];
    setup();
    mj_tracker_stats(tr, &st);
    size_t base = st.bytes;
    for (int pass = 0; pass < 2; pass++) {
        test_cfg(&cfg);
        cfg.ping_start_delay = pass == 0 ? INFINITY : 3600;
        CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
        for (int i = 0; i < 100; i++) {
            snprintf(dom, sizeof dom, "muc%d.example", i);
            snprintf(room, sizeof room, "r@%s", dom);
            snprintf(occ, sizeof occ, "r@%s/ann", dom);
            join(s, occ);
            mj_tracker_link_lost(tr, dom, strlen(dom));
            fx_out(s, fx_pres("unavailable", occ));
            fx_self(s, "unavailable", occ);
            CHECK_INT(fx_state(s, room), MJ_S_NONE);
        }
        mj_tracker_stats(tr, &st);
        CHECK_INT(st.distinct_rooms, 0);
        /* the session's table may stay; 100 domain records must not */
        if (st.bytes > base + 1024)
            FAIL_AT("%zu bytes held after every room is gone (base %zu)",
                    st.bytes, base);
    }
    /* three checks in a row (10 s apart); the middle one's room goes */
    fx_take();
    npings = 0;
    test_cfg(&cfg);
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    for (int i = 0; i < 3; i++) {
        snprintf(dom, sizeof dom, "muc%d.example", i);
        snprintf(occ, sizeof occ, "r@%s/ann", dom);
        join(s, occ);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(dom, sizeof dom, "muc%d.example", i);
        mj_tracker_link_lost(tr, dom, strlen(dom));
        fx_now += 1;
    }
    fx_out(s, fx_pres("unavailable", "r@muc1.example/ann"));
    fx_self(s, "unavailable", "r@muc1.example/ann");
    fx_now += 20;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 2); /* muc0 and muc2 */
    /* and a loss of the gone one's domain with a room again checks it */
    join(s, "r@muc1.example/ann");
    mj_tracker_link_lost(tr, "muc1.example", 12);
    fx_now += 20;
    mj_tracker_tick(tr);
    CHECK_INT(npings, 3);
    mj_tracker_free(tr);
}

/* The link-check list stays whole (sorted, doubly linked, every domain
 * with a check on it and none without a room) under random joins,
 * leaves, link losses, ticks and ping_start_delay changes. */
static void check_list(mj_tracker *t)
{
    mj_domain *prev = NULL;
    size_t n = 0;
    for (mj_domain *d = t->checks; d != NULL; d = d->cnext) {
        if (d->cprev != prev)
            FAIL_AT("cprev broken at %s", d->name);
        if (!d->check)
            FAIL_AT("%s listed without check", d->name);
        if (prev != NULL && prev->check_due > d->check_due)
            FAIL_AT("not sorted at %s", d->name);
        if (d->rooms == 0 && !d->ready) /* ready: released at the tick */
            FAIL_AT("%s listed with no room", d->name);
        prev = d;
        if (++n > 100000) {
            FAIL_AT("cycle");
            return;
        }
    }
    if (t->checks_tail != prev)
        FAIL_AT("tail broken");
    /* every domain with check is listed */
    for (size_t i = 0; i < t->domains.cap; i++) {
        mj_domain *d = t->domains.slots[i];
        if (d == NULL || !d->check)
            continue;
        int found = 0;
        for (mj_domain *x = t->checks; x != NULL; x = x->cnext)
            found |= x == d;
        if (!found)
            FAIL_AT("%s has check but is not listed", d->name);
    }
    /* the link ups' deferred visits (tr->ups), alike */
    prev = NULL;
    n = 0;
    for (mj_domain *d = t->ups; d != NULL; d = d->unext) {
        if (d->uprev != prev)
            FAIL_AT("uprev broken at %s", d->name);
        if (!d->up_check)
            FAIL_AT("%s on ups without up_check", d->name);
        if (prev != NULL && prev->up_due > d->up_due)
            FAIL_AT("ups not sorted at %s", d->name);
        if ((d->rooms == 0 && !d->ready) || !isfinite(d->up_due))
            FAIL_AT("%s on ups with no room or a due time of %g", d->name,
                    d->up_due);
        prev = d;
        if (++n > 100000) {
            FAIL_AT("ups cycle");
            return;
        }
    }
    if (t->ups_tail != prev)
        FAIL_AT("ups tail broken");
    for (size_t i = 0; i < t->domains.cap; i++) {
        mj_domain *d = t->domains.slots[i];
        if (d == NULL || !d->up_check)
            continue;
        int found = 0;
        for (mj_domain *x = t->ups; x != NULL; x = x->unext)
            found |= x == d;
        if (!found)
            FAIL_AT("%s has up_check but is not on ups", d->name);
    }
}

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

TEST(link_check_list_stays_whole)
{
    mj_config cfg;
    setup();
    mj_session *s2 = fx_session(tr, "other@example.org/b");
    char occ[64], dom[32];
    size_t deferred = 0; /* steps after which a link up's visit waits */
    for (int step = 0; step < 20000 && !test_cur_failed; step++) {
        int i = (int)(rnd() % 12);
        mj_session *ss = rnd() % 2 ? s : s2;
        snprintf(dom, sizeof dom, "m%d.example", i);
        snprintf(occ, sizeof occ, "r%d@%s/ann", (int)(rnd() % 2), dom);
        switch (rnd() % 10) {
        case 0:
        case 1:
            fx_join(ss, occ);
            fx_self(ss, "available", occ);
            break;
        case 9: /* pings given up (timeouts) make link ups visit */
            mj_tracker_link_up(tr, dom, strlen(dom));
            break;
        case 2:
            fx_out(ss, fx_pres("unavailable", occ));
            break;
        case 3:
            fx_self(ss, "unavailable", occ);
            break;
        case 4:
        case 5:
            mj_tracker_link_lost(tr, dom, strlen(dom));
            break;
        case 6:
            fx_now += (double)(rnd() % 40);
            mj_tracker_tick(tr);
            break;
        case 7:
            mj_config_init(&cfg);
            cfg.clock = fx_clock;
            cfg.on_event = fx_on_event;
            cfg.ping_start_delay = (double)(rnd() % 30);
            if (rnd() % 5 == 0)
                cfg.ping_start_delay = INFINITY;
            mj_tracker_configure(tr, &cfg);
            break;
        case 8: {
            mj_stanza p = fx_pres("unavailable", occ); /* ambiguous */
            fx_in(ss, p);
            break;
        }
        }
        fx_take();
        check_list(tr);
        deferred += tr->ups != NULL;
    }
    CHECK(deferred > 0);
    mj_tracker_free(tr);
}

int main(void)
{
    RUN(unanswered_join_to_its_own_nick_keeps_the_ghost_check);
    RUN(a_domain_whose_rooms_are_gone_leaves_the_link_checks);
    RUN(link_check_list_stays_whole);
    RUN(joins_sent_again_while_the_ping_is_out_end_the_round);
    RUN(an_error_relayed_from_another_occupant_is_no_ghost);
    RUN(a_by_that_names_no_one_is_as_none);
    RUN(ambiguous_presence_sends_one_ping);
    RUN(answer_table_of_semantics_5);
    RUN(recipient_unavailable_is_the_paths_only_after_a_link_loss);
    RUN(a_pings_loss_count_is_the_one_at_send_and_the_rooms_domains);
    RUN(answer_table_rows_by_who_answered);
    RUN(answers_that_depend_on_room_features_are_flagged);
    RUN(item_not_found_without_by_is_settled_by_disco_info);
    RUN(service_unavailable_is_settled_by_disco_info);
    RUN(item_not_found_needs_disco_info_only_when_it_says_not_who);
    RUN(unknown_answers_retry_with_backoff_then_give_up);
    RUN(a_give_up_is_logged_at_info_once_per_round);
    RUN(give_up_lines_at_info_are_bounded_per_domain);
    RUN(link_losses_after_a_give_up_wait_for_the_rest);
    RUN(link_losses_during_the_rest_send_no_ping);
    RUN(answer_to_a_ping_older_than_a_rejoin_is_stale);
    RUN(answer_to_a_ping_older_than_a_join_sent_again_is_stale);
    RUN(a_join_sent_again_frees_its_record_with_the_entry);
    RUN(answer_from_another_room_is_ignored);
    RUN(not_joined_while_leaving_is_the_leave_done);
    RUN(answer_from_another_nick_of_the_room_is_ignored);
    RUN(answer_to_ping_sent_before_a_303_counts_from_the_old_nick);
    RUN(error_from_the_old_nick_after_a_rename_is_unknown);
    RUN(leaving_after_a_303_compares_with_the_announced_nick);
    RUN(link_loss_is_debounced_and_waits_for_start_delay);
    RUN(freed_budget_sends_waiting_pings_before_the_tick);
    RUN(budget_bounds_outstanding_pings_per_domain);
    RUN(no_ping_while_changing_nick);
    RUN(refused_nick_change_asks_the_room);
    RUN(self_ping_option_off_sends_nothing);
    RUN(forwarded_ping_is_recognised);
    RUN(forwarded_ping_from_the_announced_nick_is_recognised);
    RUN(a_join_with_the_ping_out_asks_again_after_the_backoff);
    RUN(session_close_with_outstanding_ping_frees_it);
    RUN(ping_follows_an_entry_moved_by_a_longer_nick);
    RUN(restore_drops_the_rooms_ping_work);
    RUN(tick_costs_what_is_due_not_what_is_tracked);
    RUN(link_check_visits_only_its_domain);
    RUN(link_loss_of_an_untracked_domain_leaves_nothing);
    RUN(raising_the_budget_sends_waiting_pings);
    RUN(many_link_losses_cost_linear_time);
    RUN(answer_to_a_ping_older_than_a_join_under_another_nick_is_stale);
    RUN(answer_to_a_ping_older_than_a_join_sent_while_expecting_is_stale);
    RUN(ping_while_expecting_goes_to_the_announced_nick);
    RUN(self_ping_turned_off_sends_no_more);
    RUN(unanswered_join_while_joined_to_another_nick_keeps_the_ghost_check);
    RUN(unanswered_join_while_expecting_keeps_the_ghost_check);
    RUN(unanswered_join_with_the_ping_out_keeps_the_ghost_check);
    RUN(link_back_up_after_a_give_up_asks_again);
    RUN(link_up_while_the_last_try_is_out_asks_again);
    RUN(a_pings_own_link_up_gives_one_more_try_per_round_at_most);
    RUN(link_ups_after_a_give_up_wait_for_the_rest_too);
    RUN(link_up_after_an_unrelated_give_up);
    RUN(link_up_without_memory_keeps_the_mark);
    RUN(link_ups_walk_the_domain_once_per_start_delay);
    RUN(link_up_visits_are_bounded_whatever_the_start_delay);
    RUN(a_shorter_start_delay_brings_waiting_checks_forward);
    RUN(link_events_need_a_domain);
    RUN(a_shorter_start_delay_brings_deferred_link_up_visits_forward);
    RUN(a_lowered_start_delay_keeps_link_losses_and_ups_linear);
    RUN(link_up_while_self_ping_is_off_keeps_the_marks);
    RUN(link_up_during_a_round_that_is_then_dropped_keeps_the_mark);
    RUN(link_up_round_survives_a_join_sent_again);
    RUN(joined_answer_after_a_give_up_clears_the_mark);
    RUN(self_presence_after_a_give_up_clears_the_mark);
    return test_summary("selfping");
}

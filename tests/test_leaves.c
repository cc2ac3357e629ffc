/* Leaves owed to rooms (src/leaves.c): a leave our own server bounced
 * (the link to the room's domain was down) never reached the room, which
 * keeps the session as an occupant; it is sent again when a link to that
 * domain comes up, and again at the next one if our server bounces it
 * again, at most MJ_LEAVE_SENDS times (docs/semantics.md §2, "Leaves the
 * path bounced"). */
#include "fixture.h"

#define DOMAIN  "muc.remote.example"
#define ROOM    "room@" DOMAIN
#define R(nick) ROOM "/" nick
#define JID     "user@home.example/phone"

static mj_tracker *tr;
static char last_jid[256];
static char last_id[64]; /* the last leave-needed's id */

static int meddle;  /* the callback tries to change the tracker */
static int refused; /* ... and was refused */

static void on_event(void *ud, const mj_event *ev)
{
    if (ev->type == MJ_EV_LEAVE_NEEDED) {
        snprintf(last_jid, sizeof last_jid, "%.*s", (int)ev->session_jid.len,
                 ev->session_jid.ptr);
        snprintf(last_id, sizeof last_id, "%.*s", (int)ev->id.len,
                 ev->id.ptr != NULL ? ev->id.ptr : "");
        if (meddle) {
            refused +=
                mj_tracker_link_up(tr, DOMAIN, strlen(DOMAIN)) == MJ_EBUSY;
            mj_session_close(ev->session); /* nothing while in a callback */
        }
    }
    fx_on_event(ud, ev);
}

static mj_tracker *tracker(void)
{
    mj_tracker *t = fx_tracker();
    mj_config cfg;
    mj_config_init(&cfg);
    cfg.clock = fx_clock;
    cfg.on_event = on_event;
    if (mj_tracker_configure(t, &cfg) != MJ_OK) {
        fprintf(stderr, "cannot configure\n");
        exit(2);
    }
    last_jid[0] = '\0';
    return t;
}

static mj_stats stats(void)
{
    mj_stats st;
    mj_tracker_stats(tr, &st);
    return st;
}

/* The session is in room (occupant occ). */
static void in_room(mj_session *s, const char *room, const char *occ)
{
    fx_join(s, occ);
    fx_self(s, "available", occ);
    CHECK_STATE(s, room, MJ_S_JOINED);
    fx_take();
}

/* A presence error from occ (NULL condition, by: none). */
static mj_outcome error_from(mj_session *s, const char *occ, const char *type,
                             const char *cond, const char *by)
{
    mj_stanza st = fx_pres("error", occ);
    st.error_type = S(type);
    st.error_condition = S(cond);
    st.error_by = S(by);
    return fx_in(s, st);
}

static void leave(mj_session *s, const char *occ)
{
    fx_out(s, fx_pres("unavailable", occ));
}

static void link_up(const char *domain)
{
    CHECK_INT(mj_tracker_link_up(tr, domain, strlen(domain)), MJ_OK);
}

TEST(a_leave_our_server_bounced_is_sent_again_once_at_a_link_up)
{
    tr = tracker();
    mj_session *s = fx_session(tr, JID);
    in_room(s, ROOM, R("Alice"));
    leave(s, R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_LEAVING);
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    /* the session's view does not change: it left */
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_EVENTS("left " ROOM " Alice left-unconfirmed");
    CHECK_INT(stats().leaves_owed, 1);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    CHECK_STR(S(last_jid), JID);
    CHECK_INT(stats().leaves_owed, 0);
    CHECK_INT(stats().leaves_resent, 1);
    /* once */
    link_up(DOMAIN);
    CHECK_EVENTS("");
    CHECK_INT(stats().leaves_resent, 1);
    /* the room's answer to it (a ghost's removal) changes nothing, and
     * is no forged self-presence */
    fx_self(s, "unavailable", R("Alice"));
    CHECK_EVENTS("");
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_INT(stats().forged, 0);
    /* a second one is (the record went with the first) */
    fx_self(s, "unavailable", R("Alice"));
    CHECK_INT(stats().forged, 1);
    mj_tracker_free(tr);
}

TEST(every_bounce_of_the_path_is_owed)
{
    static const struct {
        const char *type, *cond, *by;
        int lost; /* a link loss of the domain after the leave */
    } rows[] = {
        {"cancel", "remote-server-not-found", NULL, 0},
        {"cancel", "remote-server-timeout", NULL, 0},
        {"cancel", "service-unavailable", "home.example", 0},
        /* an error of type wait, after a link loss */
        {"wait", "resource-constraint", NULL, 1},
        /* mod_smacks' bounce of what a closing link had not got acked */
        {"cancel", "recipient-unavailable", NULL, 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        tr = tracker();
        fx_now = 1000;
        mj_session *s = fx_session(tr, JID);
        in_room(s, ROOM, R("Alice"));
        leave(s, R("Alice"));
        fx_now += 1;
        if (rows[i].lost)
            mj_tracker_link_lost(tr, DOMAIN, strlen(DOMAIN));
        error_from(s, R("Alice"), rows[i].type, rows[i].cond, rows[i].by);
        fx_take();
        if (stats().leaves_owed != 1)
            FAIL_AT("row %zu (%s): not owed", i, rows[i].cond);
        link_up(DOMAIN);
        if (strcmp(fx_take(), "leave-needed " ROOM " Alice") != 0)
            FAIL_AT("row %zu (%s): not sent", i, rows[i].cond);
        mj_tracker_free(tr);
    }
}

TEST(a_rooms_own_error_to_a_leave_is_not_owed)
{
    static const struct {
        const char *type, *cond, *by;
    } rows[] = {
        {"cancel", "not-acceptable", NULL},
        {"cancel", "item-not-found", ROOM},
        {"cancel", "service-unavailable", DOMAIN},
        /* no link loss since the leave: the room's word (biboumi) */
        {"cancel", "recipient-unavailable", NULL},
        /* errors that name the room, its service or another as their
         * author are theirs, whatever they say (type wait, a path's
         * condition), and type wait is the path's only after a loss */
        {"wait", "resource-constraint", DOMAIN},
        {"wait", "resource-constraint", NULL},
        {"cancel", "remote-server-not-found", ROOM},
        {"cancel", "remote-server-timeout", "elsewhere.example"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        tr = tracker();
        mj_session *s = fx_session(tr, JID);
        in_room(s, ROOM, R("Alice"));
        leave(s, R("Alice"));
        error_from(s, R("Alice"), rows[i].type, rows[i].cond, rows[i].by);
        CHECK_EVENTS("left " ROOM " Alice left-unconfirmed");
        CHECK_STATE(s, ROOM, MJ_S_NONE);
        if (stats().leaves_owed != 0)
            FAIL_AT("row %zu (%s): owed", i, rows[i].cond);
        link_up(DOMAIN);
        CHECK_EVENTS("");
        mj_tracker_free(tr);
    }
}

TEST(a_leave_that_timed_out_is_not_owed)
{
    tr = tracker();
    mj_session *s = fx_session(tr, JID);
    in_room(s, ROOM, R("Alice"));
    leave(s, R("Alice"));
    fx_now += 1000;
    mj_tracker_tick(tr);
    CHECK_EVENTS("left " ROOM " Alice left-unconfirmed");
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);
}

/* The session bounced and owes ROOM its leave. */
static mj_session *owing(void)
{
    mj_session *s = fx_session(tr, JID);
    in_room(s, ROOM, R("Alice"));
    leave(s, R("Alice"));
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    fx_take();
    CHECK_INT(stats().leaves_owed, 1);
    return s;
}

TEST(a_presence_but_a_leave_of_the_session_to_the_room_clears_it)
{
    static const char *const kinds[] = {"join", "available", "error",
                                        "other nick", "bare"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        tr = tracker();
        mj_session *s = owing();
        switch (i) {
        case 0: /* a rejoin: its join may be flushed at the link up */
            fx_join(s, R("Alice"));
            break;
        case 1:
            fx_out(s, fx_pres("available", R("Alice")));
            break;
        case 2:
            fx_out(s, fx_pres("error", R("Alice")));
            break;
        case 3:
            fx_join(s, R("Bob"));
            break;
        default:
            fx_out(s, fx_pres("available", ROOM));
            break;
        }
        if (stats().leaves_owed != 0)
            FAIL_AT("%s: still owed", kinds[i]);
        fx_take();
        link_up(DOMAIN);
        if (strstr(fx_take(), "leave-needed") != NULL)
            FAIL_AT("%s: sent at the link up", kinds[i]);
        mj_tracker_free(tr);
    }
}

/* The client sends its leave again while the link is down (the user
 * closes the room again after the error): bounced too, it finds no entry,
 * so it must not take the record the first bounce made. */
TEST(a_leave_sent_again_keeps_it)
{
    tr = tracker();
    mj_session *s = owing();
    leave(s, R("Alice"));
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    fx_take();
    CHECK_INT(stats().leaves_owed, 1);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    CHECK_INT(stats().leaves_resent, 1);
    mj_tracker_free(tr);
}

TEST(a_presence_elsewhere_or_another_sessions_keeps_it)
{
    tr = tracker();
    mj_session *s = owing();
    mj_session *other = fx_session(tr, "user@home.example/laptop");
    fx_join(other, R("Alice"));
    fx_join(s, "other@" DOMAIN "/Alice");
    fx_out(s, fx_pres("available", "friend@home.example"));
    fx_take();
    CHECK_INT(stats().leaves_owed, 1);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    CHECK_STR(S(last_jid), JID);
    mj_tracker_free(tr);
}

TEST(the_session_end_clears_it)
{
    tr = tracker();
    mj_session *s = owing();
    mj_session_close(s);
    CHECK_INT(stats().leaves_owed, 0);
    link_up(DOMAIN);
    CHECK_EVENTS("");
    CHECK_INT(stats().leaves_resent, 0);
    mj_tracker_free(tr);
}

/* The records are kept by session apart from the sessions: one session's
 * end takes its own, another's stay and are sent. */
TEST(a_session_end_leaves_another_sessions_records)
{
    tr = tracker();
    mj_session *s = owing();
    mj_session *other = fx_session(tr, "bob@home.example/phone");
    in_room(other, ROOM, R("Bob"));
    leave(other, R("Bob"));
    error_from(other, R("Bob"), "cancel", "remote-server-not-found", NULL);
    fx_take();
    CHECK_INT(stats().leaves_owed, 2);
    mj_session_close(s);
    CHECK_INT(stats().leaves_owed, 1);
    /* the closed session's JID again: a new session, owing nothing */
    mj_session *again = fx_session(tr, JID);
    fx_out(again, fx_pres("available", "friend@home.example"));
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Bob");
    CHECK_STR(S(last_jid), "bob@home.example/phone");
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);
}

TEST(the_event_callback_cannot_change_the_tracker)
{
    tr = tracker();
    mj_session *s = owing();
    mj_session *s2 = fx_session(tr, "user@home.example/laptop");
    in_room(s2, ROOM, R("Alice2"));
    leave(s2, R("Alice2"));
    error_from(s2, R("Alice2"), "cancel", "remote-server-not-found", NULL);
    fx_take();
    meddle = 1;
    refused = 0;
    link_up(DOMAIN);
    meddle = 0;
    CHECK_EVENTS("leave-needed " ROOM " Alice; leave-needed " ROOM " Alice2");
    CHECK_INT(refused, 2);
    CHECK_INT(stats().sessions, 2); /* neither closed */
    CHECK_INT(stats().leaves_owed, 0);
    mj_session_close(s);
    mj_session_close(s2);
    mj_tracker_free(tr);
}

TEST(a_restored_room_clears_it)
{
    tr = tracker();
    mj_session *s = owing();
    CHECK_INT(mj_session_restore(s, ROOM, strlen(ROOM), MJ_S_JOINED,
                                 S("Alice"), S(NULL), fx_now),
              MJ_OK);
    CHECK_INT(stats().leaves_owed, 0);
    link_up(DOMAIN);
    CHECK_EVENTS("");
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    mj_tracker_free(tr);
}

TEST(it_expires_after_a_day)
{
    tr = tracker();
    owing();
    fx_now += 86400 - 1;
    mj_tracker_tick(tr);
    CHECK_INT(stats().leaves_owed, 1);
    fx_now += 2;
    mj_tracker_tick(tr);
    CHECK_INT(stats().leaves_owed, 0);
    link_up(DOMAIN);
    CHECK_EVENTS("");
    mj_tracker_free(tr);
}

TEST(a_link_up_of_another_domain_sends_nothing)
{
    tr = tracker();
    owing();
    link_up("muc.other.example");
    link_up("remote.example");
    CHECK_EVENTS("");
    CHECK_INT(stats().leaves_owed, 1);
    /* spelled otherwise, the same domain */
    link_up("MUC.Remote.Example.");
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    mj_tracker_free(tr);
}

TEST(at_most_max_rooms_per_session_the_oldest_dropped)
{
    char room[64], occ[80], want[256];
    mj_config cfg;
    tr = tracker();
    mj_config_init(&cfg);
    cfg.clock = fx_clock;
    cfg.on_event = on_event;
    cfg.max_rooms = 3;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    mj_session *s = fx_session(tr, JID);
    mj_session *other = fx_session(tr, "bob@home.example/phone");
    in_room(other, "r9@" DOMAIN, "r9@" DOMAIN "/Bob");
    leave(other, "r9@" DOMAIN "/Bob");
    error_from(other, "r9@" DOMAIN "/Bob", "cancel", "remote-server-not-found",
               NULL);
    /* a client leaving rooms of a dead domain over and over */
    for (int i = 0; i < 20; i++) {
        snprintf(room, sizeof room, "r%d@" DOMAIN, i % 5);
        snprintf(occ, sizeof occ, "%s/Alice", room);
        in_room(s, room, occ);
        leave(s, occ);
        error_from(s, occ, "cancel", "remote-server-not-found", NULL);
        if (stats().leaves_owed > 4)
            FAIL_AT("%zu records", stats().leaves_owed);
    }
    fx_take();
    CHECK_INT(stats().leaves_owed, 4); /* 3 of s, 1 of other */
    link_up(DOMAIN);
    /* the session's latest three (rooms 2, 3, 4), and the other's */
    snprintf(want, sizeof want,
             "leave-needed r9@%s Bob; leave-needed r2@%s Alice; "
             "leave-needed r3@%s Alice; leave-needed r4@%s Alice",
             DOMAIN, DOMAIN, DOMAIN, DOMAIN);
    CHECK_EVENTS(want);
    CHECK_INT(stats().leaves_resent, 4);
    /* max_rooms 0 keeps none */
    cfg.max_rooms = 0;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    mj_session *t = fx_session(tr, "carol@home.example/phone");
    fx_join(t, R("Carol"));
    leave(t, R("Carol"));
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);
}

TEST(the_nick_owed_is_the_one_a_303_announced)
{
    tr = tracker();
    mj_session *s = fx_session(tr, JID);
    in_room(s, ROOM, R("Alice"));
    mj_stanza st = fx_pres("unavailable", R("Alice"));
    fx_codes(&st, 110, 303, 0);
    st.item_nick = S("Alice2");
    fx_in(s, st);
    CHECK_STATE(s, ROOM, MJ_S_EXPECTING);
    leave(s, R("Alice"));
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    fx_take();
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice2");
    mj_tracker_free(tr);
}

TEST(a_bounce_after_a_rejoin_is_no_leaves)
{
    /* the rejoin's own error (the join bounced too) fails the join:
     * nothing is owed (the room saw neither) */
    tr = tracker();
    mj_session *s = fx_session(tr, JID);
    in_room(s, ROOM, R("Alice"));
    leave(s, R("Alice"));
    fx_join(s, R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    fx_take();
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);
}

/* The session's leave to room/Alice, bounced by our server, sent again
 * at a link up: waiting for its answer. */
static mj_session *resent_after(int loss)
{
    tr = tracker();
    fx_now = 1000;
    mj_session *s = fx_session(tr, JID);
    in_room(s, ROOM, R("Alice"));
    leave(s, R("Alice"));
    if (loss) /* the domain's link lost before the bounce */
        mj_tracker_link_lost(tr, DOMAIN, strlen(DOMAIN));
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    fx_take();
    fx_now += 1;
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    CHECK_INT(stats().leaves_owed, 0);
    CHECK_INT(stats().leaves_waiting, 1);
    fx_now += 1;
    return s;
}

static mj_session *resent(void)
{
    return resent_after(0);
}

/* resent(); id gets the send's id. */
static mj_session *resent_id(char id[64])
{
    mj_session *s = resent();
    snprintf(id, 64, "%s", last_id);
    return s;
}

TEST(a_resent_leave_the_path_bounces_again_is_owed_again)
{
    /* the link came up from the room's side only: our server still
     * cannot reach it, and bounces the leave sent again */
    static const struct {
        const char *type, *cond, *by;
        int lost; /* a link loss of the domain after the resend */
    } rows[] = {
        {"cancel", "remote-server-not-found", NULL, 0},
        {"wait", "remote-server-timeout", NULL, 0},
        {"cancel", "service-unavailable", "home.example", 0},
        {"wait", "resource-constraint", NULL, 1},
        {"cancel", "recipient-unavailable", NULL, 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mj_session *s = resent();
        if (rows[i].lost) /* owed again at once: the bounce keeps it so */
            mj_tracker_link_lost(tr, DOMAIN, strlen(DOMAIN));
        /* our server's bounce carries the send's id */
        mj_stanza st = fx_pres("error", R("Alice"));
        st.id = S(last_id);
        st.error_type = S(rows[i].type);
        st.error_condition = S(rows[i].cond);
        st.error_by = S(rows[i].by);
        CHECK_OUTCOME(fx_in(s, st), MJ_O_ANSWERED);
        if (strcmp(fx_take(), "") != 0 || stats().leaves_owed != 1)
            FAIL_AT("row %zu (%s): not owed again", i, rows[i].cond);
        link_up(DOMAIN);
        if (strcmp(fx_take(), "leave-needed " ROOM " Alice") != 0)
            FAIL_AT("row %zu (%s): not sent again", i, rows[i].cond);
        CHECK_INT(stats().leaves_resent, 2);
        CHECK_INT(stats().forged, 0);
        mj_tracker_free(tr);
    }
}

TEST(the_rooms_answer_to_a_resent_leave_ends_it)
{
    /* the room's errors (the leave reached it: it does not count the
     * session in) and its confirmation; a loss before the resend does not
     * make type wait the path's */
    static const struct {
        const char *type, *cond, *by;
    } rows[] = {
        {"cancel", "item-not-found", ROOM},
        {"cancel", "not-acceptable", NULL},
        {"cancel", "recipient-unavailable", NULL},
        {"wait", "resource-constraint", NULL},
        {"cancel", "remote-server-not-found", DOMAIN},
        {"unavailable", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mj_session *s = resent_after(1);
        if (strcmp(rows[i].type, "unavailable") == 0)
            fx_self(s, "unavailable", R("Alice"));
        else
            error_from(s, R("Alice"), rows[i].type, rows[i].cond, rows[i].by);
        if (strcmp(fx_take(), "") != 0)
            FAIL_AT("row %zu (%s): events", i, rows[i].type);
        CHECK_INT(stats().leaves_owed, 0);
        CHECK_INT(stats().forged, 0);
        /* gone: a later bounce finds nothing, a link up sends nothing */
        error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
        link_up(DOMAIN);
        if (strcmp(fx_take(), "") != 0)
            FAIL_AT("row %zu (%s): sent again", i, rows[i].type);
        CHECK_INT(stats().leaves_resent, 1);
        mj_tracker_free(tr);
    }
}

/* A presence from occ of type type ("unavailable": a self-presence;
 * "error": our server's remote-server-not-found) with id. */
static mj_outcome answer_with_id(mj_session *s, const char *type,
                                 const char *occ, const char *id)
{
    mj_stanza st = fx_pres(type, occ);
    int self = strcmp(type, "unavailable") == 0;
    st.id = S(id);
    if (self) {
        fx_codes(&st, 110, 0);
    } else {
        st.error_type = S("cancel");
        st.error_condition = S("remote-server-not-found");
    }
    return fx_in(s, st);
}

TEST(an_answer_carrying_the_sends_id_is_answered)
{
    /* every send carries an id of its own, "mjleave-" and 16 hex digits */
    mj_session *s = resent();
    char first[64];
    CHECK_INT((long)strlen(last_id), 24);
    CHECK(strncmp(last_id, "mjleave-", 8) == 0);
    CHECK(strspn(last_id + 8, "0123456789abcdef") == 16);
    snprintf(first, sizeof first, "%s", last_id);
    /* our server's bounce of it, with its id: answered (the module keeps
     * it from the session), and owed again */
    CHECK_OUTCOME(answer_with_id(s, "error", R("Alice"), first),
                  MJ_O_ANSWERED);
    CHECK_INT(stats().leaves_owed, 1);
    CHECK_INT(stats().leaves_waiting, 0);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    CHECK(strcmp(last_id, first) != 0); /* a new one */
    /* the room's confirmation with the first send's id answers it (ends
     * it), and is answered: the id of a send of the module's (an answer
     * to an earlier send may come after the next one went) */
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), first),
                  MJ_O_ANSWERED);
    CHECK_INT(stats().leaves_owed, 0);
    CHECK_INT(stats().forged, 0);
    mj_tracker_free(tr);

    /* the room's confirmation reflecting the id (from whatever nick) */
    s = resent();
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice2"), last_id),
                  MJ_O_ANSWERED);
    CHECK_EVENTS("");
    CHECK_INT(stats().leaves_waiting, 0);
    CHECK_INT(stats().forged, 0);
    /* once: the record went with it; the same again is forged */
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), last_id),
                  MJ_O_FORGED);
    mj_tracker_free(tr);

    /* without an id, or another one: the answer, not answered */
    s = resent();
    CHECK_OUTCOME(fx_self(s, "unavailable", R("Alice")), MJ_O_IGNORED);
    CHECK_INT(stats().forged, 0);
    mj_tracker_free(tr);
    s = resent();
    last_id[23] = last_id[23] == '0' ? '1' : '0';
    CHECK_OUTCOME(answer_with_id(s, "error", R("Alice"), last_id),
                  MJ_O_IGNORED);
    CHECK_INT(stats().leaves_owed, 1);
    mj_tracker_free(tr);
}

/* resent(), then the domain's link lost before any answer; first gets
 * the send's id. */
static mj_session *resent_and_lost(char first[64])
{
    mj_session *s = resent_id(first);
    mj_tracker_link_lost(tr, DOMAIN, strlen(DOMAIN));
    return s;
}

TEST(a_link_loss_owes_again_a_leave_sent_and_not_answered)
{
    /* the link went before the answer came: the leave may have gone
     * with it (no stream management between servers) */
    char first[64];
    mj_session *s = resent_and_lost(first);
    CHECK_INT(stats().leaves_owed, 1);
    CHECK_INT(stats().leaves_waiting, 0);
    CHECK_INT(stats().leaves_answerable, 1);
    /* our server's bounce of that send, after the loss: it carries the
     * send's id, is answered, and the leave stays owed */
    mj_stanza e = fx_pres("error", R("Alice"));
    e.id = S(first);
    e.error_type = S("wait");
    e.error_condition = S("remote-server-timeout");
    CHECK_OUTCOME(fx_in(s, e), MJ_O_ANSWERED);
    CHECK_INT(stats().leaves_owed, 1);
    /* without the id, nothing answers a leave owed (a self-presence is
     * forged) */
    CHECK_OUTCOME(fx_self(s, "unavailable", R("Alice")), MJ_O_FORGED);
    CHECK_INT(stats().leaves_owed, 1);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    CHECK_INT(stats().leaves_resent, 2);
    CHECK(strcmp(last_id, first) != 0);
    mj_tracker_free(tr);

    /* the room's answer to the lost send, coming late with its id: the
     * leave reached the room; the record ends */
    s = resent_and_lost(first);
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), first),
                  MJ_O_ANSWERED);
    CHECK_INT(stats().leaves_owed, 0);
    CHECK_INT(stats().leaves_answerable, 0);
    CHECK_INT(stats().forged, 0);
    link_up(DOMAIN);
    CHECK_EVENTS("");
    mj_tracker_free(tr);

    /* a third send lost with its link waits on: not sent a fourth time */
    s = resent();
    for (int k = 2; k <= 3; k++) {
        mj_tracker_link_lost(tr, DOMAIN, strlen(DOMAIN));
        link_up(DOMAIN);
        CHECK_EVENTS("leave-needed " ROOM " Alice");
    }
    mj_tracker_link_lost(tr, DOMAIN, strlen(DOMAIN));
    CHECK_INT(stats().leaves_owed, 0);
    CHECK_INT(stats().leaves_waiting, 1);
    link_up(DOMAIN);
    CHECK_EVENTS("");
    CHECK_INT(stats().leaves_resent, 3);
    (void)s;
    mj_tracker_free(tr);
}

TEST(an_answer_to_a_send_lost_with_its_link_coming_after_the_next_is_answered)
{
    /* the room's stream to us goes down with its answer to the send
     * queued on its side; its next stream comes up (the link up sends
     * the leave again, with a new id) and then brings that answer, which
     * carries the first send's id: the module's own traffic still */
    char first[64];
    mj_session *s = resent_and_lost(first);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    CHECK(strcmp(last_id, first) != 0);
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), first),
                  MJ_O_ANSWERED);
    CHECK_INT(stats().leaves_answerable, 0); /* it reached the room */
    CHECK_INT(stats().forged, 0);
    mj_tracker_free(tr);

    /* our server's late bounce of the first send: answered too (owed
     * again, as any bounce of a leave sent) */
    s = resent_and_lost(first);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    CHECK_OUTCOME(answer_with_id(s, "error", R("Alice"), first),
                  MJ_O_ANSWERED);
    CHECK_INT(stats().leaves_owed, 1);
    /* an id no send of it carried is not */
    CHECK_OUTCOME(
        answer_with_id(s, "error", R("Alice"), "mjleave-0123456789abcdef"),
        MJ_O_IGNORED);
    mj_tracker_free(tr);
}

TEST(a_link_up_before_the_answer_sends_it_no_more)
{
    mj_session *s = resent();
    link_up(DOMAIN);
    link_up(DOMAIN);
    CHECK_EVENTS("");
    CHECK_INT(stats().leaves_resent, 1);
    /* what is no answer to a leave leaves it waiting: another occupant's
     * presence, a self-presence that is available (no join waits for it:
     * forged) */
    fx_in(s, fx_pres("unavailable", R("Bob")));
    fx_self(s, "available", R("Alice"));
    CHECK_INT(stats().forged, 1);
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    CHECK_INT(stats().leaves_owed, 1);
    /* and an error from the bare room is no answer to room/Alice's */
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    error_from(s, ROOM, "cancel", "remote-server-not-found", NULL);
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);
}

TEST(a_clients_repeated_leave_and_the_resend_are_bounced_each_its_own)
{
    /* the client repeats its leave while the link is down again: our
     * server bounces both, in either order; the bounce carrying the
     * resend's id is the tracker's own (answered), the client's is the
     * client's, and the leave is owed once */
    for (int order = 0; order < 2; order++) {
        char id[64];
        mj_session *s = resent_id(id);
        mj_stanza lv = fx_pres("unavailable", R("Alice"));
        lv.id = S("client-leave");
        fx_out(s, lv);
        if (order == 1)
            CHECK_OUTCOME(answer_with_id(s, "error", R("Alice"), id),
                          MJ_O_ANSWERED);
        CHECK(answer_with_id(s, "error", R("Alice"), "client-leave") !=
              MJ_O_ANSWERED);
        if (order == 0)
            CHECK_OUTCOME(answer_with_id(s, "error", R("Alice"), id),
                          MJ_O_ANSWERED);
        CHECK_INT(stats().leaves_owed, 1);
        CHECK_INT(stats().leaves_waiting, 0);
        CHECK_INT(stats().forged, 0);
        mj_tracker_free(tr);
    }
}

TEST(a_rejoin_after_the_resend_clears_it)
{
    mj_session *s = resent();
    fx_join(s, R("Alice"));
    /* neither owed nor sent again, but its answer may come yet, ahead of
     * the rejoin's: done, counted waiting until then; a link loss does
     * not owe it again, a link up does not send it */
    CHECK_INT(stats().leaves_owed, 0);
    CHECK_INT(stats().leaves_waiting, 1);
    CHECK_INT(stats().leaves_answerable, 1);
    mj_tracker_link_lost(tr, DOMAIN, strlen(DOMAIN));
    link_up(DOMAIN);
    CHECK_EVENTS("");
    CHECK_INT(stats().leaves_owed, 0);
    CHECK_INT(stats().leaves_resent, 1);
    /* another presence to the room keeps it as it is */
    fx_out(s, fx_pres("available", R("Alice")));
    CHECK_INT(stats().leaves_waiting, 1);
    /* the rejoin's answer ends it: the leave's came before it, or never
     * will (a room ignores the leave of a non-occupant) */
    fx_self(s, "available", R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_INT(stats().leaves_waiting, 0);
    CHECK_INT(stats().leaves_answerable, 0);
    /* the rejoined entry's own errors are its own: no leave is owed */
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    fx_take();
    CHECK_INT(stats().leaves_owed, 0);
    link_up(DOMAIN);
    CHECK_EVENTS("");
    mj_tracker_free(tr);

    /* a presence to the room that is no join (to the bare room), or a
     * room restored, forgets even a leave sent: no rejoin waits behind
     * it */
    s = resent();
    fx_out(s, fx_pres("available", ROOM));
    CHECK_INT(stats().leaves_waiting, 0);
    CHECK_INT(stats().leaves_answerable, 0);
    mj_tracker_free(tr);
    s = resent();
    mj_str none = {NULL, 0};
    CHECK(mj_session_restore(s, ROOM, strlen(ROOM), MJ_S_JOINED, S("Alice"),
                             none, 0) == MJ_OK);
    CHECK_INT(stats().leaves_waiting, 0);
    mj_tracker_free(tr);

    /* a leave never sent is forgotten at once */
    tr = tracker();
    s = fx_session(tr, JID);
    in_room(s, ROOM, R("Alice"));
    leave(s, R("Alice"));
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    CHECK_INT(stats().leaves_owed, 1);
    fx_join(s, R("Alice"));
    CHECK_INT(stats().leaves_owed, 0);
    CHECK_INT(stats().leaves_waiting, 0);
    CHECK_INT(stats().leaves_answerable, 0);
    mj_tracker_free(tr);
}

TEST(the_answer_to_a_leave_sent_before_a_rejoin_is_answered)
{
    /* a link up sends the leave, the session rejoins before the answer:
     * the room answers the leave first (the same path), with its id, and
     * that answer is the tracker's own, not the rejoin's, which still
     * waits: the room's unavailable self-presence (from whatever nick),
     * or our server's bounce */
    static const char *const rows[][2] = {
        {"unavailable", "Alice"},
        {"unavailable", "Alice2"},
        {"error", "Alice"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char id[64];
        mj_session *s = resent_id(id);
        fx_join(s, R("Alice"));
        CHECK_STATE(s, ROOM, MJ_S_PENDING);
        char occ[64];
        snprintf(occ, sizeof occ, ROOM "/%s", rows[i][1]);
        CHECK_OUTCOME(answer_with_id(s, rows[i][0], occ, id), MJ_O_ANSWERED);
        CHECK_STATE(s, ROOM, MJ_S_PENDING);
        CHECK_INT(stats().leaves_waiting, 0);
        CHECK_INT(stats().leaves_answerable, 0);
        CHECK_INT(stats().forged, 0);
        if (strcmp(fx_take(), "") != 0)
            FAIL_AT("row %zu: events before the rejoin's answer", i);
        fx_self(s, "available", R("Alice"));
        CHECK_STATE(s, ROOM, MJ_S_JOINED);
        CHECK_EVENTS("joined " ROOM " Alice");
        mj_tracker_free(tr);
    }

    /* an answer without its id, or with another, is not the tracker's:
     * the rejoin's refusal (the leave's answer came before it without
     * its id, or never will), which ends the record too */
    char id[64];
    mj_session *s = resent_id(id);
    fx_join(s, R("Alice"));
    id[23] = id[23] == '0' ? '1' : '0';
    CHECK(answer_with_id(s, "error", R("Alice"), id) != MJ_O_ANSWERED);
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_INT(stats().leaves_waiting, 0);
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);

    /* once the rejoin is answered, the id answers nothing: what the
     * entry says of a presence carrying it is its own */
    s = resent_id(id);
    in_room(s, ROOM, R("Alice"));
    CHECK(answer_with_id(s, "unavailable", R("Alice"), id) != MJ_O_ANSWERED);
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    mj_tracker_free(tr);
    /* a rejoin that timed out leaves it done, and out of the room the
     * record still takes its answer */
    s = resent_id(id);
    fx_join(s, R("Alice"));
    fx_now += 1000;
    mj_tracker_tick(tr);
    fx_take();
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_INT(stats().leaves_waiting, 1);
    CHECK_OUTCOME(answer_with_id(s, "error", R("Alice"), id), MJ_O_ANSWERED);
    CHECK_INT(stats().leaves_waiting, 0);
    CHECK_INT(stats().leaves_owed, 0);
    link_up(DOMAIN);
    CHECK_EVENTS("");
    mj_tracker_free(tr);
}

TEST(while_a_rejoin_waits_only_an_answer_to_the_leave_is_answered)
{
    /* the leave's id is no secret once sent: Prosody's MUC broadcasts the
     * leave, id included, to the other occupants, and keeps the id of
     * what an occupant sends in the presence it broadcasts, and replays
     * to a joiner (the rejoin's window, before its self-presence). What
     * carries the id while the rejoin waits but cannot be the leave's
     * answer (another occupant's presence, no 110; an error from the
     * bare room; an available self-presence, the rejoin's own answer) is
     * not the tracker's: not stopped; another occupant's presence leaves
     * the record waiting, the rejoin's answer (an error from the bare
     * room refuses it) ends it */
    static const struct {
        const char *type, *from;
        int self;
        mj_state after;
        int waiting;
    } rows[] = {
        {"available", R("Mallory"), 0, MJ_S_PENDING, 1},
        {"unavailable", R("Mallory"), 0, MJ_S_PENDING, 1},
        {"available", R("Alice"), 0, MJ_S_PENDING, 1},
        {"error", ROOM, 0, MJ_S_NONE, 0}, /* the entry's, as any other */
        {"available", R("Alice"), 1, MJ_S_JOINED, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char id[64];
        mj_session *s = resent_id(id);
        fx_join(s, R("Alice"));
        CHECK_STATE(s, ROOM, MJ_S_PENDING);
        mj_stanza st = fx_pres(rows[i].type, rows[i].from);
        st.id = S(id);
        if (rows[i].self)
            fx_codes(&st, 110, 0);
        if (strcmp(rows[i].type, "error") == 0) {
            st.error_type = S("cancel");
            st.error_condition = S("remote-server-not-found");
        }
        if (fx_in(s, st) == MJ_O_ANSWERED)
            FAIL_AT("row %zu: answered", i);
        if (fx_state(s, ROOM) != rows[i].after)
            FAIL_AT("row %zu: %s", i, mj_state_name(fx_state(s, ROOM)));
        if (stats().leaves_waiting != (size_t)rows[i].waiting ||
            stats().leaves_answerable != (size_t)rows[i].waiting)
            FAIL_AT("row %zu: waiting %zu, answerable %zu", i,
                    stats().leaves_waiting, stats().leaves_answerable);
        fx_take();
        mj_tracker_free(tr);
    }
}

TEST(what_the_room_sends_the_ghost_before_the_leave_ends_nothing)
{
    /* before the room sees the leave it still holds the ghost, and may
     * send it a self-presence that answers nothing of the rejoin (another
     * session of the occupant changing its nick: 303), or refuse with
     * another id a stanza it had sent before: the rejoin still waits, so
     * does the leave's answer, which comes after and is the tracker's */
    for (int i = 0; i < 2; i++) {
        char id[64];
        mj_session *s = resent_id(id);
        mj_stanza j = fx_pres("available", R("Alice"));
        j.has_muc_x = 1;
        j.id = S("join1");
        fx_out(s, j);
        CHECK_STATE(s, ROOM, MJ_S_PENDING);
        mj_stanza st;
        if (i == 0) {
            st = fx_pres("unavailable", R("Alice"));
            fx_codes(&st, 110, 303, 0);
            st.item_nick = S("Alice2");
        } else {
            st = fx_pres("error", R("Alice"));
            st.id = S("update1");
            st.error_type = S("modify");
            st.error_condition = S("not-acceptable");
        }
        if (fx_in(s, st) == MJ_O_ANSWERED)
            FAIL_AT("row %d: answered", i);
        if (fx_state(s, ROOM) != MJ_S_PENDING)
            FAIL_AT("row %d: %s", i, mj_state_name(fx_state(s, ROOM)));
        if (stats().leaves_waiting != 1)
            FAIL_AT("row %d: the rejoin waits, the leave's answer not "
                    "come: waiting %zu",
                    i, stats().leaves_waiting);
        CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                      MJ_O_ANSWERED);
        CHECK_STATE(s, ROOM, MJ_S_PENDING);
        CHECK_INT(stats().leaves_waiting, 0);
        fx_self(s, "available", R("Alice"));
        CHECK_STATE(s, ROOM, MJ_S_JOINED);
        fx_take();
        mj_tracker_free(tr);
    }
}

/* Another session teaches the tracker that the service reflects ids: its
 * join answered with its id. */
static void teach_reflects(void)
{
    mj_session *o = fx_session(tr, "other@home.example/pc");
    mj_stanza j = fx_pres("available", "lobby@" DOMAIN "/Bob");
    j.has_muc_x = 1;
    j.id = S("j0");
    fx_out(o, j);
    mj_stanza st = fx_pres("available", "lobby@" DOMAIN "/Bob");
    fx_codes(&st, 110, 0);
    st.id = S("j0");
    fx_in(o, st);
    CHECK_STATE(o, "lobby@" DOMAIN, MJ_S_JOINED);
    fx_take();
}

static mj_stanza join_with_id(const char *occ, const char *id)
{
    mj_stanza j = fx_pres("available", occ);
    j.has_muc_x = 1;
    j.id = S(id);
    return j;
}

static mj_outcome self_with_id(mj_session *s, const char *type,
                               const char *occ, const char *id)
{
    mj_stanza st = fx_pres(type, occ);
    fx_codes(&st, 110, 0);
    st.id = S(id);
    return fx_in(s, st);
}

/* resent_id(), a session teaching that the service reflects ids, and the
 * rejoin behind the leave, with the id "join1": PENDING. */
static mj_session *rejoined(char id[64])
{
    mj_session *s = resent_id(id);
    teach_reflects();
    fx_out(s, join_with_id(R("Alice"), "join1"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    return s;
}

/* rejoined(), then the ghost's role change (held back) and neither
 * answer before pending_timeout (a slow link): the rejoin is shown
 * (timeout_held_back()), its events taken. */
static mj_session *shown_at_timeout(char id[64])
{
    mj_session *s = rejoined(id);
    fx_self(s, "available", R("Alice")); /* the ghost's role change */
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    fx_now += 121;
    mj_tracker_tick(tr);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    fx_take();
    return s;
}

TEST(a_self_presence_to_the_ghost_before_the_leave_is_not_the_rejoins)
{
    /* the room still holds the ghost until it sees the leave, and may
     * send it an available self-presence meanwhile (a moderator changing
     * its role): on a service known to reflect ids, one without the
     * rejoin's id is held back, not taken for its answer (the tracker
     * would show the room, the leave's answer would end it, and the
     * rejoin's own answer would count forged). Then the leave's answer:
     * with its id (stopped), without it, or none (a room that ignored the
     * leave); the rejoin's answer, with its id, joins */
    for (int i = 0; i < 3; i++) {
        char id[64];
        mj_session *s = rejoined(id);
        mj_stanza st = fx_pres("available", R("Alice"));
        fx_codes(&st, 110, 0);
        if (fx_in(s, st) == MJ_O_CHANGED || fx_state(s, ROOM) != MJ_S_PENDING)
            FAIL_AT("row %d: the ghost's role change taken for the "
                    "rejoin's answer: %s",
                    i, mj_state_name(fx_state(s, ROOM)));
        if (i == 0)
            CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                          MJ_O_ANSWERED);
        else if (i == 1)
            fx_self(s, "unavailable", R("Alice"));
        if (fx_state(s, ROOM) != MJ_S_PENDING)
            FAIL_AT("row %d: the leave's answer left %s", i,
                    mj_state_name(fx_state(s, ROOM)));
        if (strcmp(fx_take(), "") != 0)
            FAIL_AT("row %d: events before the rejoin's answer", i);
        self_with_id(s, "available", R("Alice"), "join1");
        CHECK_STATE(s, ROOM, MJ_S_JOINED);
        CHECK_EVENTS("joined " ROOM " Alice");
        CHECK_INT(stats().forged, 0);
        CHECK_INT(stats().leaves_waiting, 0);
        mj_tracker_free(tr);
    }
}

TEST(the_record_remembers_that_the_service_reflects_ids)
{
    /* a single session on the room's service: its rooms there went with
     * the leave (the tracker forgets whether a domain without rooms
     * reflects ids once pending_timeout passed), the link stays down for
     * an hour. The record kept what the session's own join taught, so
     * the ghost's role change in the rejoin's window is still held back */
    tr = tracker();
    fx_now = 1000;
    mj_session *s = fx_session(tr, JID);
    fx_out(s, join_with_id(R("Alice"), "j0"));
    self_with_id(s, "available", R("Alice"), "j0");
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    leave(s, R("Alice"));
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    fx_take();
    fx_now += 3600;
    mj_tracker_tick(tr);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    char id[64];
    snprintf(id, sizeof id, "%s", last_id);
    fx_out(s, join_with_id(R("Alice"), "join1"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    mj_stanza st = fx_pres("available", R("Alice"));
    fx_codes(&st, 110, 0);
    CHECK(fx_in(s, st) != MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                  MJ_O_ANSWERED);
    self_with_id(s, "available", R("Alice"), "join1");
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_EVENTS("joined " ROOM " Alice");
    CHECK_INT(stats().forged, 0);
    mj_tracker_free(tr);
}

TEST(a_join_cancelled_behind_the_leave_waits_for_every_answer)
{
    /* join, leave, before any answer, behind a leave sent again: the
     * room answers the leave sent again (here without its id: a room
     * that does not reflect ids), then the join, then the client's
     * leave. The cancelled join ends at the last answer only: the first
     * unavailable is not the client's leave's confirmation, and the
     * join's answer after it is not forged */
    mj_session *s = resent();
    fx_join(s, R("Alice"));
    leave(s, R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    fx_self(s, "unavailable", R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    fx_self(s, "available", R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    fx_self(s, "unavailable", R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_INT(stats().forged, 0);
    CHECK_EVENTS("");
    mj_tracker_free(tr);
}

TEST(a_join_the_leave_was_not_counted_for_keeps_what_it_owes)
{
    /* the record is done with no entry counting the leave's answer (a
     * presence without <x/>, legacy joins off; a join over max_pending; a
     * rejoin that timed out); then join, leave, join: the entry owes the
     * cancelled join's answer and the leave's confirmation. The answer to
     * the leave sent again, with its id, is stopped, and must not pay for
     * one of those: the cancelled join's answer was taken for the rejoin's
     * (joined), the leave's confirmation then left the room, and the
     * rejoin's answer counted forged */
    for (int i = 0; i < 3; i++) {
        char id[64];
        mj_session *s = resent_id(id);
        teach_reflects();
        if (i == 0) {
            fx_out(s, fx_pres("available", R("Alice")));
        } else if (i == 1) {
            mj_config cfg;
            mj_config_init(&cfg);
            cfg.clock = fx_clock;
            cfg.on_event = on_event;
            cfg.max_pending = 1;
            CHECK(mj_tracker_configure(tr, &cfg) == MJ_OK);
            fx_join(s, "other@" DOMAIN "/Alice");
            fx_out(s, join_with_id(R("Alice"), "join0"));
            CHECK_STATE(s, ROOM, MJ_S_NONE);
            fx_self(s, "available", "other@" DOMAIN "/Alice");
        } else {
            fx_out(s, join_with_id(R("Alice"), "join0"));
            fx_now += 121;
            mj_tracker_tick(tr);
        }
        CHECK_STATE(s, ROOM, MJ_S_NONE);
        CHECK_INT(stats().leaves_waiting, 1);
        fx_take();
        fx_out(s, join_with_id(R("Alice"), "join1"));
        leave(s, R("Alice"));
        fx_out(s, join_with_id(R("Alice"), "join2"));
        CHECK_STATE(s, ROOM, MJ_S_PENDING);
        CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                      MJ_O_ANSWERED);
        /* the cancelled join's answer, then the leave's confirmation */
        self_with_id(s, "available", R("Alice"), "join1");
        if (fx_state(s, ROOM) != MJ_S_PENDING)
            FAIL_AT("row %d: the cancelled join's answer left %s", i,
                    mj_state_name(fx_state(s, ROOM)));
        fx_self(s, "unavailable", R("Alice"));
        if (fx_state(s, ROOM) != MJ_S_PENDING)
            FAIL_AT("row %d: the leave's confirmation left %s", i,
                    mj_state_name(fx_state(s, ROOM)));
        self_with_id(s, "available", R("Alice"), "join2");
        CHECK_STATE(s, ROOM, MJ_S_JOINED);
        CHECK_EVENTS("joined " ROOM " Alice");
        CHECK_INT(stats().forged, 0);
        CHECK_INT(stats().leaves_waiting, 0);
        mj_tracker_free(tr);
    }
}

TEST(a_join_sent_again_behind_the_leave_counts_its_answer_once)
{
    /* the rejoin sent twice, then left: the cancelled entry owes the
     * leave sent again's answer (stopped) and the leave's confirmation,
     * which ends it and the record (counted twice, the confirmation left
     * the cancelled entry waiting for pending_timeout, the record with
     * it) */
    char id[64];
    mj_session *s = resent_id(id);
    fx_out(s, join_with_id(R("Alice"), "join1"));
    fx_out(s, join_with_id(R("Alice"), "join1"));
    leave(s, R("Alice"));
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                  MJ_O_ANSWERED);
    self_with_id(s, "available", R("Alice"), "join1");
    self_with_id(s, "available", R("Alice"), "join1");
    fx_self(s, "unavailable", R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_INT(stats().pending, 0);
    CHECK_INT(stats().leaves_waiting, 0);
    CHECK_EVENTS("");
    mj_tracker_free(tr);
}

TEST(a_rejoin_shown_at_its_timeout_still_stops_the_leaves_answer)
{
    /* the rejoin owes the leave's answer; a role change to the ghost is
     * held back; neither answer comes before pending_timeout (a slow
     * link): the rejoin is shown (timeout_held_back()). The leave's
     * answer that comes at last, with its id, is the tracker's own, not
     * the room's word that the session left (the rejoin's answer, right
     * behind it, then counted forged); and the record does not outlive
     * the rejoin's answer (from a room that ignored the leave, it stayed
     * a day) */
    for (int i = 0; i < 2; i++) {
        char id[64];
        mj_session *s = shown_at_timeout(id);
        if (i == 0) {
            CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                          MJ_O_ANSWERED);
            CHECK_STATE(s, ROOM, MJ_S_JOINED);
        }
        self_with_id(s, "available", R("Alice"), "join1");
        CHECK_STATE(s, ROOM, MJ_S_JOINED);
        CHECK_EVENTS("");
        CHECK_INT(stats().forged, 0);
        if (stats().leaves_waiting != 0 || stats().leaves_answerable != 0)
            FAIL_AT("row %d: waiting %zu, answerable %zu", i,
                    stats().leaves_waiting, stats().leaves_answerable);
        mj_tracker_free(tr);
    }
}

TEST(a_rejoin_the_path_bounces_owes_the_leave_again)
{
    /* the link to the room's domain is lost after the leave went again
     * and the rejoin behind it: our server bounces the rejoin. The leave
     * may have been lost with the link as well (a link loss owes again a
     * leave sent and not answered), and the session is not in the room:
     * the record is owed again, not ended by the rejoin's "answer" (the
     * ghost stayed in the room, nothing would ever leave it) */
    char id[64];
    mj_session *s = resent_id(id);
    fx_out(s, join_with_id(R("Alice"), "join1"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    mj_tracker_link_lost(tr, DOMAIN, strlen(DOMAIN));
    mj_stanza st = fx_pres("error", R("Alice"));
    st.id = S("join1");
    st.error_type = S("cancel");
    st.error_condition = S("remote-server-not-found");
    fx_in(s, st);
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    fx_take();
    CHECK_INT(stats().leaves_owed, 1);
    CHECK_INT(stats().leaves_waiting, 0);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed " ROOM " Alice");
    /* its first send's answer, coming late, is still the tracker's */
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                  MJ_O_ANSWERED);
    CHECK_INT(stats().leaves_waiting, 0);
    mj_tracker_free(tr);
}

TEST(a_rejoin_shown_at_its_timeout_keeps_it_past_another_role_change)
{
    /* as above, but the room sends the ghost a second self-presence (a
     * second role change, or a status echo) before it sees the leave:
     * that word is the ghost's too, not the rejoin's answer, so it must
     * not end the record; else the leave's answer with its id reaches
     * the JOINED entry, leaves the room, and the rejoin's answer counts
     * forged */
    char id[64];
    mj_session *s = shown_at_timeout(id);
    fx_self(s, "available", R("Alice")); /* another role change */
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                  MJ_O_ANSWERED);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    self_with_id(s, "available", R("Alice"), "join1");
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_INT(stats().forged, 0);
    CHECK_INT(stats().leaves_waiting, 0);
    fx_take();
    mj_tracker_free(tr);
}

TEST(a_rejoin_from_a_room_shown_at_its_timeout_owes_the_leaves_answer)
{
    /* the rejoin shown at its timeout (a slow link: neither answer came),
     * the session leaves and joins again before any answer: the room
     * answers the leave sent again (stopped), the first rejoin, the leave,
     * then the last join. The last join owes the leave's confirmation (as
     * any rejoin from LEAVING) and the leave sent again's answer: counting
     * only the first, the stop took it, the first rejoin's answer showed
     * the room, the leave's confirmation left it and the last join's
     * answer counted forged */
    char id[64];
    mj_session *s = shown_at_timeout(id);
    leave(s, R("Alice"));
    fx_out(s, join_with_id(R("Alice"), "join2"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    fx_take();
    CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                  MJ_O_ANSWERED);
    self_with_id(s, "available", R("Alice"), "join1");
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    fx_self(s, "unavailable", R("Alice"));
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    self_with_id(s, "available", R("Alice"), "join2");
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_EVENTS("joined " ROOM " Alice");
    CHECK_INT(stats().forged, 0);
    CHECK_INT(stats().leaves_waiting, 0);
    mj_tracker_free(tr);
}

TEST(a_rejoin_the_tracker_does_not_wait_for_ends_it_at_its_answer)
{
    /* a presence to room/<nick> the tracker takes for no join (no <x/>,
     * legacy joins off), or a join over max_pending: the room still takes
     * it for a join and answers the leave first, but no entry waits, so
     * nothing ended the record before a day. The room's first word to the
     * session without the leave's id (its answer to the leave, from a
     * room that does not reflect ids, or to the join) ends it; a 303
     * (another session of the occupant changing its nick, to the ghost)
     * answers nothing of the session's and keeps it */
    for (int i = 0; i < 3; i++) {
        char id[64];
        mj_session *s = resent_id(id);
        if (i == 2) {
            mj_config cfg;
            mj_config_init(&cfg);
            cfg.clock = fx_clock;
            cfg.on_event = on_event;
            cfg.max_pending = 1;
            CHECK(mj_tracker_configure(tr, &cfg) == MJ_OK);
            fx_join(s, "other@" DOMAIN "/Alice");
            fx_join(s, R("Alice"));
        } else {
            fx_out(s, fx_pres("available", R("Alice")));
        }
        CHECK_STATE(s, ROOM, MJ_S_NONE);
        CHECK_INT(stats().leaves_waiting, 1);
        if (i == 1) {
            mj_stanza st = fx_pres("unavailable", R("Alice"));
            fx_codes(&st, 110, 303, 0);
            st.item_nick = S("Alice2");
            fx_in(s, st);
            CHECK_INT(stats().leaves_waiting, 1);
            CHECK_OUTCOME(answer_with_id(s, "unavailable", R("Alice"), id),
                          MJ_O_ANSWERED);
        } else {
            fx_self(s, "unavailable", R("Alice"));
        }
        if (stats().leaves_waiting != 0 || stats().leaves_answerable != 0)
            FAIL_AT("row %d: waiting %zu, answerable %zu", i,
                    stats().leaves_waiting, stats().leaves_answerable);
        fx_take();
        mj_tracker_free(tr);
    }
}

TEST(a_resent_leave_ends_with_its_session_and_after_a_day)
{
    mj_session *s = resent();
    mj_session_close(s);
    /* a session under the same JID has no record of it */
    s = fx_session(tr, JID);
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);

    s = resent();
    fx_now += 86400 - 4; /* the first bounce was 2 s ago */
    mj_tracker_tick(tr);
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    CHECK_INT(stats().leaves_owed, 1); /* a day from the first bounce */
    mj_tracker_free(tr);

    s = resent();
    fx_now += 86400;
    mj_tracker_tick(tr);
    error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);
}

/* The session's leave to rN@DOMAIN/Alice is bounced by our server. */
static void bounce_in(mj_session *s, int n)
{
    char room[64], occ[80];
    snprintf(room, sizeof room, "r%d@" DOMAIN, n);
    snprintf(occ, sizeof occ, "%s/Alice", room);
    in_room(s, room, occ);
    leave(s, occ);
    error_from(s, occ, "cancel", "remote-server-not-found", NULL);
    fx_take();
}

TEST(a_link_up_sends_the_owed_oldest_first_and_not_those_sent)
{
    tr = tracker();
    mj_session *s = fx_session(tr, JID);
    for (int n = 1; n <= 3; n++)
        bounce_in(s, n);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed r1@" DOMAIN " Alice; leave-needed r2@" DOMAIN
                 " Alice; leave-needed r3@" DOMAIN " Alice");
    /* r2's and r1's bounced again, r4's owed in between */
    error_from(s, "r2@" DOMAIN "/Alice", "cancel", "remote-server-not-found",
               NULL);
    bounce_in(s, 4);
    error_from(s, "r1@" DOMAIN "/Alice", "cancel", "remote-server-not-found",
               NULL);
    CHECK_INT(stats().leaves_owed, 3);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed r2@" DOMAIN " Alice; leave-needed r4@" DOMAIN
                 " Alice; leave-needed r1@" DOMAIN " Alice");
    CHECK_INT(stats().leaves_resent, 6);
    /* the rooms answer: nothing waits any more */
    for (int n = 1; n <= 4; n++) {
        char occ[80];
        snprintf(occ, sizeof occ, "r%d@" DOMAIN "/Alice", n);
        fx_self(s, "unavailable", occ);
    }
    CHECK_INT(stats().forged, 0);
    bounce_in(s, 5);
    link_up(DOMAIN);
    CHECK_EVENTS("leave-needed r5@" DOMAIN " Alice");
    mj_tracker_free(tr);
}

TEST(a_leave_is_sent_at_most_three_times)
{
    /* a domain that connects to us and refuses our connections: each of
     * its streams is a link up, each leave sent is bounced */
    mj_session *s = resent();
    for (int k = 0; k < 10; k++) {
        error_from(s, R("Alice"), "cancel", "remote-server-not-found", NULL);
        link_up(DOMAIN);
    }
    CHECK_EVENTS("leave-needed " ROOM " Alice; leave-needed " ROOM " Alice");
    CHECK_INT(stats().leaves_resent, 3);
    CHECK_INT(stats().leaves_owed, 0);
    /* the record went with the third bounce: the room's answer now is a
     * forged self-presence like any other */
    fx_self(s, "unavailable", R("Alice"));
    CHECK_INT(stats().forged, 1);
    mj_tracker_free(tr);
}

TEST(the_bound_drops_leaves_sent_before_leaves_never_sent)
{
    mj_config cfg;
    tr = tracker();
    mj_config_init(&cfg);
    cfg.clock = fx_clock;
    cfg.on_event = on_event;
    cfg.max_rooms = 2;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    mj_session *s = fx_session(tr, JID);
    static const char *const room[] = {"b@d2.example", "a@d1.example",
                                       "c@d3.example"};
    static const char *const occ[] = {
        "b@d2.example/Alice", "a@d1.example/Alice", "c@d3.example/Alice"};
    for (int i = 0; i < 2; i++) {
        in_room(s, room[i], occ[i]);
        leave(s, occ[i]);
        error_from(s, occ[i], "cancel", "remote-server-not-found", NULL);
    }
    fx_take();
    link_up("d1.example"); /* a's is sent, never answered */
    CHECK_EVENTS("leave-needed a@d1.example Alice");
    in_room(s, room[2], occ[2]);
    leave(s, occ[2]);
    error_from(s, occ[2], "cancel", "remote-server-not-found", NULL);
    fx_take();
    /* the oldest, b's, was never sent: a's went instead */
    link_up("d2.example");
    CHECK_EVENTS("leave-needed b@d2.example Alice");
    link_up("d3.example");
    CHECK_EVENTS("leave-needed c@d3.example Alice");
    error_from(s, occ[1], "cancel", "remote-server-not-found", NULL);
    link_up("d1.example");
    CHECK_EVENTS("");
    mj_tracker_free(tr);
}

TEST(max_rooms_lowered_trims_the_records_at_once)
{
    mj_config cfg;
    tr = tracker();
    mj_session *s = fx_session(tr, JID);
    mj_session *t = fx_session(tr, "bob@home.example/phone");
    for (int n = 1; n <= 3; n++)
        bounce_in(s, n);
    bounce_in(t, 1);
    CHECK_INT(stats().leaves_owed, 4);
    mj_config_init(&cfg);
    cfg.clock = fx_clock;
    cfg.on_event = on_event;
    cfg.max_rooms = 2; /* s keeps its newest two */
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    CHECK_INT(stats().leaves_owed, 3);
    link_up(DOMAIN);
    /* s's r2 and r3, then t's r1 (s's r1 went) */
    CHECK_EVENTS("leave-needed r2@" DOMAIN " Alice; leave-needed r3@" DOMAIN
                 " Alice; leave-needed r1@" DOMAIN " Alice");
    cfg.max_rooms = 0; /* none */
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    CHECK_INT(stats().leaves_owed, 0);
    error_from(s, "r3@" DOMAIN "/Alice", "cancel", "remote-server-not-found",
               NULL);
    CHECK_INT(stats().leaves_owed, 0);
    mj_tracker_free(tr);
}

int main(void)
{
    RUN(a_leave_our_server_bounced_is_sent_again_once_at_a_link_up);
    RUN(every_bounce_of_the_path_is_owed);
    RUN(a_rooms_own_error_to_a_leave_is_not_owed);
    RUN(a_leave_that_timed_out_is_not_owed);
    RUN(a_presence_but_a_leave_of_the_session_to_the_room_clears_it);
    RUN(a_leave_sent_again_keeps_it);
    RUN(a_presence_elsewhere_or_another_sessions_keeps_it);
    RUN(the_session_end_clears_it);
    RUN(a_session_end_leaves_another_sessions_records);
    RUN(the_event_callback_cannot_change_the_tracker);
    RUN(a_restored_room_clears_it);
    RUN(it_expires_after_a_day);
    RUN(a_link_up_of_another_domain_sends_nothing);
    RUN(at_most_max_rooms_per_session_the_oldest_dropped);
    RUN(the_nick_owed_is_the_one_a_303_announced);
    RUN(a_bounce_after_a_rejoin_is_no_leaves);
    RUN(a_resent_leave_the_path_bounces_again_is_owed_again);
    RUN(the_rooms_answer_to_a_resent_leave_ends_it);
    RUN(an_answer_carrying_the_sends_id_is_answered);
    RUN(a_link_loss_owes_again_a_leave_sent_and_not_answered);
    RUN(an_answer_to_a_send_lost_with_its_link_coming_after_the_next_is_answered);
    RUN(a_link_up_before_the_answer_sends_it_no_more);
    RUN(a_clients_repeated_leave_and_the_resend_are_bounced_each_its_own);
    RUN(a_rejoin_after_the_resend_clears_it);
    RUN(the_answer_to_a_leave_sent_before_a_rejoin_is_answered);
    RUN(while_a_rejoin_waits_only_an_answer_to_the_leave_is_answered);
    RUN(what_the_room_sends_the_ghost_before_the_leave_ends_nothing);
    RUN(a_self_presence_to_the_ghost_before_the_leave_is_not_the_rejoins);
    RUN(the_record_remembers_that_the_service_reflects_ids);
    RUN(a_join_cancelled_behind_the_leave_waits_for_every_answer);
    RUN(a_join_the_leave_was_not_counted_for_keeps_what_it_owes);
    RUN(a_join_sent_again_behind_the_leave_counts_its_answer_once);
    RUN(a_rejoin_shown_at_its_timeout_still_stops_the_leaves_answer);
    RUN(a_rejoin_shown_at_its_timeout_keeps_it_past_another_role_change);
    RUN(a_rejoin_the_path_bounces_owes_the_leave_again);
    RUN(a_rejoin_from_a_room_shown_at_its_timeout_owes_the_leaves_answer);
    RUN(a_rejoin_the_tracker_does_not_wait_for_ends_it_at_its_answer);
    RUN(a_resent_leave_ends_with_its_session_and_after_a_day);
    RUN(a_link_up_sends_the_owed_oldest_first_and_not_those_sent);
    RUN(a_leave_is_sent_at_most_three_times);
    RUN(the_bound_drops_leaves_sent_before_leaves_never_sent);
    RUN(max_rooms_lowered_trims_the_records_at_once);
    return test_summary("leaves");
}

/* What rooms still owe a closed session's full JID (src/owed.c): a
 * session bound next under the same JID (a resource conflict, a client
 * reconnecting at once) must not take the answers owed to the closed one
 * for its own join's. The room answers the JID's stanzas in order: the
 * closed session's join (or nick change), the unavailable Prosody sends
 * for it at resource-unbind, then the new session's join. */
#include "fixture.h"
#include "owed.h"
#include "store.h"

#define ROOM    "room@muc.example.org"
#define R(nick) ROOM "/" nick
#define JID     "user@example.org/phone"

static mj_tracker *tr;

/* A join with an id (Prosody and XEP-0045 reflect it in the answer). */
static mj_outcome join_id(mj_session *s, const char *occ, const char *id)
{
    mj_stanza st = fx_pres("available", occ);
    st.has_muc_x = 1;
    st.id = S(id);
    return fx_out(s, st);
}

/* A leave with an id. */
static mj_outcome leave_id(mj_session *s, const char *occ, const char *id)
{
    mj_stanza st = fx_pres("unavailable", occ);
    st.id = S(id);
    return fx_out(s, st);
}

/* A self-presence (110) with an id (NULL: none). */
static mj_outcome self_id(mj_session *s, const char *type, const char *occ,
                          const char *id)
{
    mj_stanza st = fx_pres(type, occ);
    fx_codes(&st, 110, 0);
    st.id = S(id);
    return fx_in(s, st);
}

/* The session is replaced (a resource conflict: closed, then a new one
 * bound under the same full JID) and the new one joins occ with id. */
static mj_session *replaced(mj_session *s, const char *occ, const char *id)
{
    mj_session_close(s);
    fx_take();
    s = fx_session(tr, JID);
    join_id(s, occ, id);
    return s;
}

/* A session under JID joins ROOM as Alice with id, the room answers with
 * that id (its domain is seen to reflect ids), and the session closes
 * while in the room (a settled record); returns the next session bound
 * under JID. */
static mj_session *closed_in_the_room(const char *id)
{
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), id);
    self_id(s, "available", R("Alice"), id);
    mj_session_close(s);
    fx_take();
    return fx_session(tr, JID);
}

static unsigned long forged(void)
{
    mj_stats st;
    mj_tracker_stats(tr, &st);
    return (unsigned long)st.forged;
}

static size_t bytes(void)
{
    mj_stats st;
    mj_tracker_stats(tr, &st);
    return st.bytes;
}

/* The tracker's bytes once a session has joined ROOM, closed, and the
 * record it left has run out (the tables keep their smallest size). */
static size_t baseline(void)
{
    mj_session *s = fx_session(tr, "warm@example.org/up");
    join_id(s, R("Warm"), "w1");
    self_id(s, "available", R("Warm"), "w1");
    mj_session_close(s);
    fx_take();
    /* the room owed the close's unavailable its confirmation: run out */
    fx_now += 121;
    mj_tracker_tick(tr);
    return bytes();
}

TEST(join_in_flight_at_close_does_not_answer_the_next_sessions_join)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j1");
    mj_session_close(s); /* replaced before the room answered */
    s = fx_session(tr, JID);
    CHECK_OUTCOME(join_id(s, R("Alice"), "j2"), MJ_O_CHANGED);
    /* the first join's answer, then the unavailable's confirmation */
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j1"), MJ_O_UNCHANGED);
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    CHECK_OUTCOME(self_id(s, "unavailable", R("Alice"), NULL), MJ_O_UNCHANGED);
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    CHECK_EVENTS("");
    /* the new join's own answer */
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j2"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Alice");
    CHECK_EVENTS("joined " ROOM " Alice");
    mj_tracker_free(tr);
}

TEST(nick_change_in_flight_at_close_does_not_answer_the_next_sessions_join)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Old"), "j1");
    self_id(s, "available", R("Old"), "j1"); /* the room reflects ids */
    CHECK_OUTCOME(fx_out(s, fx_pres("available", R("New"))), MJ_O_CHANGED);
    s = replaced(s, R("Old"), "j2");
    /* the nick change's answers: 303 from Old, then New's self-presence */
    mj_stanza ann = fx_pres("unavailable", R("Old"));
    fx_codes(&ann, 303, 110, 0);
    ann.item_nick = S("New");
    CHECK_OUTCOME(fx_in(s, ann), MJ_O_UNCHANGED);
    CHECK_OUTCOME(self_id(s, "available", R("New"), NULL), MJ_O_UNCHANGED);
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    /* the unavailable's confirmation, then the new join's answer */
    CHECK_OUTCOME(self_id(s, "unavailable", R("New"), NULL), MJ_O_UNCHANGED);
    CHECK_OUTCOME(self_id(s, "available", R("Old"), "j2"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Old");
    CHECK_EVENTS("joined " ROOM " Old");
    mj_tracker_free(tr);
}

/* A join sent again while joined (a client's XEP-0410 recovery) owes its
 * answer too. */
TEST(join_sent_again_at_close_does_not_answer_the_next_sessions_join)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j1");
    self_id(s, "available", R("Alice"), "j1");
    join_id(s, R("Alice"), "j1b"); /* sent again */
    s = replaced(s, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j1b"), MJ_O_UNCHANGED);
    CHECK_OUTCOME(self_id(s, "unavailable", R("Alice"), NULL), MJ_O_UNCHANGED);
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j2"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Alice");
    mj_tracker_free(tr);
}

/* The answers came while no session had the JID (dropped): the new join
 * is answered at once with its own id, and a room that drops ids answers
 * it too. */
TEST(owed_answers_already_gone_do_not_delay_the_next_join)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j1");
    s = replaced(s, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j2"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Alice");
    mj_session_close(s);
    fx_take();
    /* another room, whose service drops ids */
    s = fx_session(tr, JID);
    join_id(s, "other@muc.example.net/Al", "j3");
    s = replaced(s, "other@muc.example.net/Al", "j4");
    CHECK_OUTCOME(self_id(s, "available", "other@muc.example.net/Al", NULL),
                  MJ_O_CHANGED);
    CHECK_NICK(s, "other@muc.example.net", "Al");
    mj_tracker_free(tr);
}

/* A session closed while in the room owes the room's answer to the
 * close's unavailable; that answer may be a removal instead of a plain
 * confirmation (a kick crossing the close; a Prosody MUC kicks, 333, an
 * occupant for the errors mod_smacks bounces from a replaced hibernating
 * session). The next session's rejoin under the same JID is not failed
 * by it: its own answer shows the room. It was join-failed, and the
 * rejoin's answer refused as forged (hostile review). */
TEST(removal_of_the_closed_sessions_occupancy_does_not_fail_the_next_join)
{
    static const int codes[] = {307, 333, 301};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        tr = fx_tracker();
        mj_session *s = fx_session(tr, JID);
        join_id(s, R("Alice"), "j1");
        CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j1"), MJ_O_CHANGED);
        s = replaced(s, R("Alice"), "j2");
        mj_stanza kick = fx_pres("unavailable", R("Alice"));
        fx_codes(&kick, 110, codes[i], 0);
        CHECK_OUTCOME(fx_in(s, kick), MJ_O_UNCHANGED);
        CHECK_STATE(s, ROOM, MJ_S_PENDING);
        CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j2"), MJ_O_CHANGED);
        CHECK_NICK(s, ROOM, "Alice");
        fx_take();
        mj_tracker_free(tr);
    }
}

/* A client whose ids restart with each stream sends the same join id
 * again from the next session: the id cannot tell the closed session's
 * answers from the new join's, the count of what is owed does (the old
 * join's answer, the close's confirmation, then the new join's). It
 * took the old join's answer for its own and lost the room at the
 * confirmation (hostile review). */
TEST(rejoin_with_the_closed_sessions_join_id)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "join-1");
    s = replaced(s, R("Alice"), "join-1");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "join-1"),
                  MJ_O_UNCHANGED);
    CHECK_OUTCOME(self_id(s, "unavailable", R("Alice"), NULL), MJ_O_UNCHANGED);
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "join-1"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Alice");
    fx_take();
    mj_tracker_free(tr);
}

/* A rejoin with the closed session's very join id, when the answers the
 * room owed were delivered while no session held the JID (dropped): the
 * new join's answer carries that id and cannot be told from the old
 * one's; the timeout takes it as the join's answer and checks it with a
 * self-ping, where the join failed (review). */
TEST(same_id_rejoin_after_owed_answers_gone_joins)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "join-1");
    mj_session_close(s); /* the room's answers arrive now: dropped */
    fx_take();
    s = fx_session(tr, JID);
    CHECK_OUTCOME(join_id(s, R("Alice"), "join-1"), MJ_O_CHANGED);
    /* the new join's answer; nothing else comes */
    self_id(s, "available", R("Alice"), "join-1");
    /* at the latest when the window times out (as timeout_held_back()
     * does for an answer held back), the room is shown, not failed */
    fx_now += 121;
    mj_tracker_tick(tr);
    const char *ev = fx_take();
    CHECK(strstr(ev, "join-failed") == NULL);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_NICK(s, ROOM, "Alice");
    mj_tracker_free(tr);
}

/* A session closed while in the room leaves only the close's answer
 * owed, which holds nothing back: on a service seen to reflect ids, the
 * rejoin's answer with another id (ejabberd answers a second session of
 * an occupant with the first one's presence) shows the room at once; it
 * was held back for pending_timeout (review). */
TEST(rejoin_after_joined_close_is_not_held_back)
{
    tr = fx_tracker();
    mj_session *desk = fx_session(tr, "user@example.org/desktop");
    join_id(desk, R("Alice"), "a1");
    self_id(desk, "available", R("Alice"), "a1"); /* the domain reflects */
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "b1");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "a1"), MJ_O_CHANGED);
    /* the confirmation is gone with the session */
    s = replaced(s, R("Alice"), "b2");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "a1"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Alice");
    fx_take();
    mj_tracker_free(tr);
}

/* At the set's bound the settled rooms' records go first: 17 accounts
 * closing in 1000 rooms each do not push out another account's record
 * of a join in flight (review). */
TEST(settled_rooms_do_not_evict_in_flight_records)
{
    char jid[64], occ[96];
    tr = fx_tracker();
    mj_session *v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j1");
    mj_session_close(v);
    for (int a = 0; a < 17; a++) {
        snprintf(jid, sizeof jid, "busy%d@example.org/r", a);
        mj_session *s = fx_session(tr, jid);
        for (int k = 0; k < 1000; k++) {
            snprintf(occ, sizeof occ, "r%d@muc.example.net/B%d", k, a);
            join_id(s, occ, "x");
            self_id(s, "available", occ, "x");
        }
        mj_session_close(s);
        fx_take();
    }
    v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(v, "available", R("Alice"), "j1"), MJ_O_UNCHANGED);
    CHECK_STATE(v, ROOM, MJ_S_PENDING);
    fx_take();
    mj_tracker_free(tr);
}

/* Settled rooms' records count apart in an account's share: its other
 * resources closing in 1100 rooms leave room for the phone's join in
 * flight (review). */
TEST(other_resources_settled_rooms_do_not_crowd_out_a_join_in_flight)
{
    char jid[64], occ[96];
    tr = fx_tracker();
    const int rooms[2] = {1000, 100};
    for (int a = 0; a < 2; a++) {
        snprintf(jid, sizeof jid, "user@example.org/res%d", a);
        mj_session *s = fx_session(tr, jid);
        for (int k = 0; k < rooms[a]; k++) {
            snprintf(occ, sizeof occ, "r%d@muc.example.net/U", k);
            join_id(s, occ, "x");
            self_id(s, "available", occ, "x");
        }
        mj_session_close(s);
        fx_take();
    }
    mj_session *v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j1");
    mj_session_close(v);
    v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(v, "available", R("Alice"), "j1"), MJ_O_UNCHANGED);
    CHECK_STATE(v, ROOM, MJ_S_PENDING);
    fx_take();
    mj_tracker_free(tr);
}

/* After a close in the room, the next session under the JID joins,
 * leaves and joins again before the room answers: the close's answer is
 * owed before the cancelled join's and the leave's, and the second
 * join's own answer shows the room (the close's answer was taken for the
 * leave's confirmation, the room shown then removed, the real answer
 * refused as forged: review). */
TEST(join_leave_join_after_a_joined_close)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    CHECK_OUTCOME(join_id(s, R("Alice"), "b1"), MJ_O_CHANGED);
    CHECK_OUTCOME(leave_id(s, R("Alice"), "l1"), MJ_O_CHANGED);
    CHECK_OUTCOME(join_id(s, R("Alice"), "b2"), MJ_O_CHANGED);
    self_id(s, "unavailable", R("Alice"), NULL); /* the close's answer */
    self_id(s, "available", R("Alice"), "b1");   /* the cancelled join's */
    self_id(s, "unavailable", R("Alice"), "l1"); /* the leave's */
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "b2"), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_EVENTS("joined " ROOM " Alice");
    mj_tracker_free(tr);
}

/* The same with the join given up: the close's answer does not end the
 * cancelled join, whose own answers are taken, none counted forged
 * (review). */
TEST(cancelled_join_after_a_joined_close)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    join_id(s, R("Alice"), "b1");
    leave_id(s, R("Alice"), "l1");
    self_id(s, "unavailable", R("Alice"), NULL); /* the close's answer */
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "b1"), MJ_O_UNCHANGED);
    CHECK_OUTCOME(self_id(s, "unavailable", R("Alice"), "l1"), MJ_O_CHANGED);
    CHECK_INT(forged(), 0);
    fx_take();
    mj_tracker_free(tr);
}

/* Restoring PENDING leaves no rejoin's window, close_owed included: a
 * removal refusing the restored join fails it (review). */
TEST(restore_to_pending_clears_close_owed)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    join_id(s, R("Alice"), "b1"); /* close_owed set */
    CHECK_INT(mj_session_restore(s, ROOM, strlen(ROOM), MJ_S_PENDING, S(NULL),
                                 S("Alice"), fx_now),
              MJ_OK);
    mj_stanza k = fx_pres("unavailable", R("Alice"));
    fx_codes(&k, 110, 307, 0);
    CHECK_OUTCOME(fx_in(s, k), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    fx_take();
    mj_tracker_free(tr);
}

/* A settled record never evicts a record of a join in flight: with the
 * set full of those, it is not kept (review). */
TEST(a_settled_record_does_not_evict_a_join_in_flight)
{
    char jid[64], occ[96];
    tr = fx_tracker();
    mj_session *v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j1");
    mj_session_close(v);
    int left = MJ_OWED_MAX - 1;
    for (int a = 0; left > 0; a++) {
        snprintf(jid, sizeof jid, "busy%d@example.org/r", a);
        mj_session *s = fx_session(tr, jid);
        for (int k = 0; k < 1000 && left > 0; k++, left--) {
            snprintf(occ, sizeof occ, "r%d@muc.example.net/B%d", k, a);
            join_id(s, occ, "x");
            self_id(s, "available", occ, "x");
            leave_id(s, occ, "y"); /* LEAVING: a record in flight */
        }
        mj_session_close(s);
        fx_take();
    }
    mj_session *w = fx_session(tr, "settled@example.org/r");
    join_id(w, "lone@muc.example.net/W", "x");
    self_id(w, "available", "lone@muc.example.net/W", "x");
    mj_session_close(w); /* a settled record: the set is full */
    fx_take();
    v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(v, "available", R("Alice"), "j1"), MJ_O_UNCHANGED);
    CHECK_STATE(v, ROOM, MJ_S_PENDING);
    fx_take();
    mj_tracker_free(tr);
}

/* F1. Session 1 is in the room (settled record). Session 2 binds under
 * the same JID, joins (close_owed), and is itself replaced before the
 * room answered anything. The room owes session 3's JID, in order: the
 * answer to session 1's close, session 2's join's answer, the answer to
 * session 2's close, then session 3's join's answer. remember_owed()
 * counts PENDING as owed = e->owed + 1 and drops close_owed: session 3
 * waits for one unavailable only, takes session 2's join's answer for
 * its own, is removed by session 2's close's answer and its own answer
 * is refused as forged. The user is in the room, nothing is shown. */
TEST(close_owed_is_lost_when_the_next_session_closes_pending)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    join_id(s, R("Alice"), "b1"); /* close_owed */
    mj_session_close(s);          /* replaced again before any answer */
    fx_take();
    s = fx_session(tr, JID);
    CHECK_OUTCOME(join_id(s, R("Alice"), "c1"), MJ_O_CHANGED);
    self_id(s, "unavailable", R("Alice"), NULL); /* session 1's close */
    self_id(s, "available", R("Alice"), "b1");   /* session 2's join */
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    self_id(s, "unavailable", R("Alice"), NULL); /* session 2's close */
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "c1"), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_NICK(s, ROOM, "Alice");
    CHECK_EVENTS("joined " ROOM " Alice");
    CHECK_INT(forged(), 0);
    mj_tracker_free(tr);
}

/* The same when session 1's close is answered by a removal (333, the
 * errors mod_smacks bounced): without close_owed carried over, session
 * 3's join is failed by it. */
TEST(close_owed_removal_is_lost_when_the_next_session_closes_pending)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    join_id(s, R("Alice"), "b1");
    s = replaced(s, R("Alice"), "c1");
    mj_stanza kick = fx_pres("unavailable", R("Alice"));
    fx_codes(&kick, 110, 333, 0);
    fx_in(s, kick);                              /* session 1's close */
    self_id(s, "available", R("Alice"), "b1");   /* session 2's join */
    self_id(s, "unavailable", R("Alice"), NULL); /* session 2's close */
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "c1"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Alice");
    CHECK_EVENTS("joined " ROOM " Alice");
    mj_tracker_free(tr);
}

/* F2. A client whose ids restart with each stream, replaced twice in a
 * row while its join is in flight (a flapping mobile link): each
 * session sends "join-1". Session 2's join is keyed 0 (send_join()), so
 * its close records prev_id 0, and session 3's "join-1" is not
 * recognised as the closed sessions' id: session 1's answer is taken as
 * session 3's, session 1's close's confirmation removes the room, the
 * rest is refused as forged. */
TEST(same_id_rejoin_twice_in_a_row)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "join-1");
    s = replaced(s, R("Alice"), "join-1");
    mj_session_close(s);
    fx_take();
    s = fx_session(tr, JID);
    CHECK_OUTCOME(join_id(s, R("Alice"), "join-1"), MJ_O_CHANGED);
    self_id(s, "available", R("Alice"), "join-1"); /* session 1's join */
    self_id(s, "unavailable", R("Alice"), NULL);   /* session 1's close */
    self_id(s, "available", R("Alice"), "join-1"); /* session 2's join */
    self_id(s, "unavailable", R("Alice"), NULL);   /* session 2's close */
    self_id(s, "available", R("Alice"), "join-1"); /* session 3's join */
    /* by the end, as the docs promise, the room is shown (at the latest
     * at the timeout, with a self-ping) */
    fx_now += 121;
    mj_tracker_tick(tr);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_NICK(s, ROOM, "Alice");
    CHECK_INT(forged(), 0);
    fx_take();
    mj_tracker_free(tr);
}

/* R1. ejabberd, a phone sharing its occupant (same nick) with the
 * desktop: ejabberd answers a join of a second session of an occupant
 * with the first session's presence (its id), and sends nothing for the
 * phone's close (the occupant stays). The phone's next session joins and
 * leaves at once (a cancelled join), then joins again. send_leave()
 * folded the settled record's close_owed into owed, so the cancelled
 * entry outlived the leave's confirmation with a phantom owed answer,
 * and the rejoin's answer (the desktop's presence, another id, on a
 * service seen to reflect ids) was held back for pending_timeout; it is
 * shown at once (review). */
TEST(joined_close_never_answered_delays_a_later_rejoin)
{
    tr = fx_tracker();
    mj_session *desk = fx_session(tr, "user@example.org/desktop");
    join_id(desk, R("Alice"), "a1");
    self_id(desk, "available", R("Alice"), "a1"); /* the domain reflects */
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "b1");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "a1"), MJ_O_CHANGED);
    /* ejabberd: no answer, the desktop stays */
    s = replaced(s, R("Alice"), "b2");
    leave_id(s, R("Alice"), "l2");
    self_id(s, "available", R("Alice"), "a1");   /* b2's answer */
    self_id(s, "unavailable", R("Alice"), "l2"); /* l2's */
    CHECK_STATE(s, ROOM, MJ_S_NONE); /* the cancelled join is over */
    CHECK_OUTCOME(join_id(s, R("Alice"), "b3"), MJ_O_CHANGED);
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "a1"), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_EVENTS("joined " ROOM " Alice");
    mj_tracker_free(tr);
}

/* R1b. The same with a Prosody MUC on the usual timing of a fast
 * reconnect: the close's answer came before the next join (counted as
 * forged: see the_closes_answer_before_the_next_join_is_not_forged), so
 * close_owed is a phantom; join + leave leaves the
 * cancelled entry waiting for a confirmation that never comes. It stays
 * (hidden) until pending_timeout instead of ending at the leave's
 * confirmation. */
TEST(phantom_close_owed_keeps_a_cancelled_join)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    self_id(s, "unavailable", R("Alice"), NULL); /* the close's answer */
    join_id(s, R("Alice"), "b1");
    leave_id(s, R("Alice"), "l1");
    self_id(s, "available", R("Alice"), "b1");
    CHECK_OUTCOME(self_id(s, "unavailable", R("Alice"), "l1"), MJ_O_CHANGED);
    CHECK_INT(mj_session_count(s, MJ_S_PENDING), 0);
    fx_take();
    mj_tracker_free(tr);
}

/* R2. A client whose ids restart with each stream: the closed session's
 * join "join-1" in flight, the next session's join is "join-1" too
 * (keyed 0 by send_join()), then it leaves and joins again before the
 * room answered, on a domain not yet seen to reflect ids. The rejoin's
 * prev_join_id is copied from the keyed-0 join id: 0, so the closed
 * session's answer (its id "join-1") is no longer recognised and
 * answers the rejoin; the close's confirmation then removes the room and
 * the rejoin's own answer was refused as forged; the keyed-0 join keeps
 * the closed session's id as what the rejoin waits for (review). */
TEST(same_id_join_leave_join_unknown_domain)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "join-1");
    s = replaced(s, R("Alice"), "join-1");
    leave_id(s, R("Alice"), "leave-2");
    CHECK_OUTCOME(join_id(s, R("Alice"), "join-3"), MJ_O_CHANGED);
    self_id(s, "available", R("Alice"), "join-1"); /* session 1's join */
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    self_id(s, "unavailable", R("Alice"), NULL);   /* session 1's close */
    self_id(s, "available", R("Alice"), "join-1"); /* cancelled join's */
    self_id(s, "unavailable", R("Alice"), "leave-2");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "join-3"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Alice");
    CHECK_EVENTS("joined " ROOM " Alice");
    CHECK_INT(forged(), 0);
    mj_tracker_free(tr);
}

/* Only the same full JID inherits; the record lasts pending_timeout. */
TEST(owed_answers_are_the_same_jids_and_run_out)
{
    tr = fx_tracker();
    size_t b0 = baseline();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j1");
    mj_session_close(s);
    CHECK(bytes() > b0); /* the record */
    /* another resource: its join is answered by the first self-presence */
    s = fx_session(tr, "user@example.org/laptop");
    join_id(s, R("Alice"), "k1");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "k1"), MJ_O_CHANGED);
    mj_session_close(s);
    fx_take();
    /* pending_timeout later the record is gone, memory back */
    fx_now += 121;
    mj_tracker_tick(tr);
    CHECK_INT(bytes(), b0);
    s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j1"), MJ_O_CHANGED);
    CHECK_NICK(s, ROOM, "Alice");
    mj_tracker_free(tr);
}

/* Taken once: a second join of the next session starts afresh. */
TEST(owed_answers_are_taken_once)
{
    tr = fx_tracker();
    size_t b0 = baseline();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j1");
    s = replaced(s, R("Alice"), "j2");
    s = replaced(s, R("Alice"), "j3"); /* owes j2 now, replacing nothing */
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j2"), MJ_O_UNCHANGED);
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j3"), MJ_O_CHANGED);
    /* closed in the room: the room owes the confirmation of the close's
     * unavailable, until pending_timeout */
    mj_session_close(s);
    fx_take();
    CHECK(bytes() > b0);
    fx_now += 121;
    mj_tracker_tick(tr);
    CHECK_INT(bytes(), b0);
    mj_tracker_free(tr);
}

/* Accounts reconnecting with joins in flight make at most MJ_OWED_MAX
 * records in all, the oldest dropped first. */
TEST(owed_records_are_bounded)
{
    char jid[64];
    tr = fx_tracker();
    size_t at_max = 0;
    for (int i = 0; i < 2 * MJ_OWED_MAX; i++) {
        snprintf(jid, sizeof jid, "u%06d@example.org/r", i);
        mj_session *s = fx_session(tr, jid);
        join_id(s, R("Alice"), "j1");
        mj_session_close(s);
        if (i == MJ_OWED_MAX - 1)
            at_max = bytes();
    }
    CHECK_INT(bytes(), at_max);
    /* the oldest were dropped: their JID's next join is answered at once */
    mj_session *s = fx_session(tr, "u000000@example.org/r");
    join_id(s, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j1"), MJ_O_CHANGED);
    /* the newest are kept */
    snprintf(jid, sizeof jid, "u%06d@example.org/r", 2 * MJ_OWED_MAX - 1);
    s = fx_session(tr, jid);
    join_id(s, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j1"), MJ_O_UNCHANGED);
    fx_take();
    mj_tracker_free(tr);
}

/* One account reconnecting in a loop with max_pending joins in flight to
 * rooms that never answer fills its own share (owed.h), not
 * the set: another account's record stays. */
TEST(one_account_cannot_evict_the_others_records)
{
    char jid[64], occ[96];
    tr = fx_tracker();
    mj_session *v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j1");
    mj_session_close(v);
    for (int i = 0; i < 2 * MJ_OWED_MAX / 64; i++) {
        snprintf(jid, sizeof jid, "mallory@example.org/r%d", i);
        mj_session *s = fx_session(tr, jid);
        for (int k = 0; k < 64; k++) {
            snprintf(occ, sizeof occ, "x%d@nowhere.example/M", k);
            join_id(s, occ, "m");
        }
        mj_session_close(s);
    }
    fx_take();
    v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(v, "available", R("Alice"), "j1"), MJ_O_UNCHANGED);
    /* mallory's first sessions' records are there (the share's worth:
     * max_rooms + max_pending, 2000 by default), the later ones' not */
    snprintf(jid, sizeof jid, "mallory@example.org/r%d", 2000 / 64 - 1);
    mj_session *m = fx_session(tr, jid);
    join_id(m, "x0@nowhere.example/M", "m2");
    CHECK_OUTCOME(self_id(m, "available", "x0@nowhere.example/M", "m"),
                  MJ_O_UNCHANGED);
    snprintf(jid, sizeof jid, "mallory@example.org/r%d", 2000 / 64 + 1);
    m = fx_session(tr, jid);
    join_id(m, "x0@nowhere.example/M", "m2");
    CHECK_OUTCOME(self_id(m, "available", "x0@nowhere.example/M", "m"),
                  MJ_O_CHANGED);
    fx_take();
    mj_tracker_free(tr);
}

/* The share is in bytes too: one account's sessions closing with
 * max_pending joins in flight each, to rooms with long JIDs under a long
 * resource (~2 KiB a record, more than the set's 4 MiB in all), keep
 * MJ_OWED_ACCOUNT_BYTES of records, and another account's record stays
 * (before the fix, one account pushed every other account's records out). */
TEST(one_account_with_long_jids_cannot_evict_the_others_records)
{
    static char jid[1200], occ[1200];
    tr = fx_tracker();
    mj_session *v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j1");
    mj_session_close(v);
    size_t b0 = bytes();
    memset(jid, 'r', sizeof jid);
    memcpy(jid, "mallory@example.org/", 20);
    for (int k = 0; k < 2; k++) {
        snprintf(jid + 1035, 100, "%d", k);
        mj_session *m = fx_session(tr, jid);
        for (int i = 0; i < 1000; i++) {
            memset(occ, 'x', 1015);
            snprintf(occ + 1015, 100, "%d@nowhere.example/M", i);
            CHECK_OUTCOME(join_id(m, occ, "m"), MJ_O_CHANGED);
        }
        mj_session_close(m);
    }
    fx_take();
    CHECK(tr->owed.bytes <= MJ_OWED_ACCOUNT_BYTES + 200);
    CHECK(bytes() - b0 < MJ_OWED_MAX_BYTES / 8);
    v = fx_session(tr, JID);
    join_id(v, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(v, "available", R("Alice"), "j1"), MJ_O_UNCHANGED);
    CHECK_OUTCOME(self_id(v, "available", R("Alice"), "j2"), MJ_O_CHANGED);
    fx_take();
    mj_tracker_free(tr);
}

/* One session may owe more than 64 answers at its close: max_pending
 * (64 here) joins in flight and, besides, joins sent again to rooms it was in
 * (a client's XEP-0410 recovery). A session under the same JID rejoins
 * every room, one after the other: each room answers the closed
 * session's join, the unavailable sent for it, then the new join. Every room
 * is the new session's (the share was 64 per account: 10 rooms took an owed
 * answer for the new join's, and its own for a forged one; hostile review). */
static void owes_more_than_64(size_t max_pending, int pending, int resent)
{
    char occ[96], id[32];
    mj_config cfg;
    tr = fx_tracker();
    mj_config_init(&cfg);
    cfg.clock = fx_clock;
    cfg.on_event = fx_on_event;
    cfg.max_pending = max_pending;
    mj_tracker_configure(tr, &cfg);
    mj_session *s = fx_session(tr, JID);
    for (int k = 0; k < resent; k++) {
        snprintf(occ, sizeof occ, "r%d@muc.example.org/Alice", k);
        join_id(s, occ, "a");
        self_id(s, "available", occ, "a");
        join_id(s, occ, "b"); /* sent again */
    }
    for (int k = 0; k < pending; k++) {
        snprintf(occ, sizeof occ, "p%d@muc.example.org/Alice", k);
        CHECK_OUTCOME(join_id(s, occ, "b"), MJ_O_CHANGED);
    }
    mj_session_close(s);
    fx_take();
    s = fx_session(tr, JID);
    for (int k = 0; k < resent + pending; k++) {
        snprintf(occ, sizeof occ, "%c%d@muc.example.org/Alice",
                 k < resent ? 'r' : 'p', k < resent ? k : k - resent);
        snprintf(id, sizeof id, "new%d", k);
        CHECK_OUTCOME(join_id(s, occ, id), MJ_O_CHANGED);
        CHECK_OUTCOME(self_id(s, "available", occ, "b"), MJ_O_UNCHANGED);
        CHECK_OUTCOME(self_id(s, "unavailable", occ, NULL), MJ_O_UNCHANGED);
        CHECK_OUTCOME(self_id(s, "available", occ, id), MJ_O_CHANGED);
    }
    CHECK_INT(mj_session_count(s, MJ_S_NONE), (size_t)(resent + pending));
    fx_take();
    mj_tracker_free(tr);
}

TEST(one_session_owing_more_than_64_keeps_every_room)
{
    owes_more_than_64(64, 64, 10);
    /* joins sent again to more rooms than the share once was (256, or
     * twice max_pending: 44 rooms lost) */
    owes_more_than_64(64, 64, 300);
    /* a larger max_pending makes the share larger */
    owes_more_than_64(300, 300, 10);
}

/* The set's bytes are bounded too: records of long JIDs push the oldest
 * out before MJ_OWED_MAX records are kept. */
TEST(owed_bytes_are_bounded)
{
    char jid[1100], occ[1100];
    tr = fx_tracker();
    size_t b0 = bytes(), most = 0;
    memset(jid, 'u', 1000);
    memset(occ, 'r', 1000);
    for (int i = 0; i < 4 * (int)(MJ_OWED_MAX_BYTES / 2000); i++) {
        snprintf(jid + 1000, 100, "%d@example.org/r", i);
        snprintf(occ + 1000, 100, "@muc.example.org/Alice");
        mj_session *s = fx_session(tr, jid);
        join_id(s, occ, "j1");
        mj_session_close(s);
        fx_take();
        if (bytes() > most)
            most = bytes();
    }
    /* the records' bytes, the tables' and the room JID kept for them */
    CHECK(most - b0 < MJ_OWED_MAX_BYTES + MJ_OWED_MAX_BYTES / 4);
    /* the newest is kept */
    mj_session *s = fx_session(tr, jid);
    join_id(s, occ, "j2");
    CHECK_OUTCOME(self_id(s, "available", occ, "j1"), MJ_O_UNCHANGED);
    fx_take();
    mj_tracker_free(tr);
}

/* The client asked for a nick change, then left (LEAVING), and the
 * session was replaced before the room answered: the room still owes the
 * change's answers and the leave's confirmation. */
TEST(nick_change_then_leave_at_close)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Old"), "j1");
    self_id(s, "available", R("Old"), "j1"); /* the room reflects ids */
    mj_stanza ch = fx_pres("available", R("New"));
    ch.id = S("c1");
    CHECK_OUTCOME(fx_out(s, ch), MJ_O_CHANGED);
    mj_stanza lv = fx_pres("unavailable", R("New"));
    lv.id = S("l1");
    CHECK_OUTCOME(fx_out(s, lv), MJ_O_CHANGED); /* LEAVING */
    s = replaced(s, R("Old"), "j2");
    mj_stanza ann = fx_pres("unavailable", R("Old"));
    fx_codes(&ann, 303, 110, 0);
    ann.item_nick = S("New");
    ann.id = S("c1");
    fx_in(s, ann);
    self_id(s, "available", R("New"), "c1");
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    self_id(s, "unavailable", R("New"), "l1");
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    self_id(s, "available", R("Old"), "j2");
    CHECK_NICK(s, ROOM, "Old");
    CHECK_EVENTS("joined " ROOM " Old");
    mj_tracker_free(tr);
}

/* A join sent again while joined (XEP-0410), then a leave, then the
 * session replaced before the room answered either. */
TEST(join_sent_again_then_leave_at_close)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j1");
    self_id(s, "available", R("Alice"), "j1");
    join_id(s, R("Alice"), "j1b"); /* sent again */
    mj_stanza lv = fx_pres("unavailable", R("Alice"));
    lv.id = S("l1");
    fx_out(s, lv); /* LEAVING */
    s = replaced(s, R("Alice"), "j2");
    self_id(s, "available", R("Alice"), "j1b");
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    self_id(s, "unavailable", R("Alice"), "l1");
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    self_id(s, "available", R("Alice"), "j2");
    CHECK_NICK(s, ROOM, "Alice");
    CHECK_EVENTS("joined " ROOM " Alice");
    mj_tracker_free(tr);
}

/* A record lasts pending_timeout as configured when the answers come: a
 * timeout raised while the record waits keeps it (as it moves the
 * deadlines of the waits in flight). */
TEST(record_follows_a_new_pending_timeout)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j1");
    mj_session_close(s);
    mj_config cfg;
    mj_config_init(&cfg);
    cfg.clock = fx_clock;
    cfg.on_event = fx_on_event;
    cfg.pending_timeout = 600;
    CHECK_INT(mj_tracker_configure(tr, &cfg), MJ_OK);
    fx_now += 300;
    mj_tracker_tick(tr);
    s = fx_session(tr, JID);
    join_id(s, R("Alice"), "j2");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "j1"), MJ_O_UNCHANGED);
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    mj_tracker_free(tr);
}

/* A 303 is no close's answer (the close's answer is "the first
 * plain unavailable"). A session of the same occupant changes the nick
 * before the room sees the closed session's unavailable (Prosody
 * multi-session occupants: the 303 with 110 goes to every session JID of
 * the occupant, the closed one's too); then the close's answer comes, a
 * removal that crossed it (333), then the new join's own answer. */
TEST(a_303_does_not_take_close_owed)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "a0");
    self_id(s, "available", R("Alice"), "a0"); /* the domain reflects */
    s = replaced(s, R("Alice"), "b2");         /* close_owed */
    mj_stanza ch = fx_pres("unavailable", R("Alice"));
    fx_codes(&ch, 303, 110, 0);
    ch.item_nick = S("Bob");
    fx_in(s, ch);
    mj_stanza kick = fx_pres("unavailable", R("Bob"));
    fx_codes(&kick, 110, 333, 0);
    fx_in(s, kick); /* the close's answer */
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "b2"), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_NICK(s, ROOM, "Alice");
    CHECK_EVENTS("joined " ROOM " Alice");
    CHECK_INT(forged(), 0);
    mj_tracker_free(tr);
}

/* The same 303 in a join, leave, join window: answers_join()
 * clears close_owed for it, so the close's plain answer is taken for the
 * leave's confirmation, the cancelled join's answer shows the room, the
 * real confirmation removes it and the rejoin's answer is forged. */
TEST(a_303_in_a_rejoin_window_does_not_take_close_owed)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    join_id(s, R("Alice"), "b1");
    leave_id(s, R("Alice"), "l1");
    CHECK_OUTCOME(join_id(s, R("Alice"), "b2"), MJ_O_CHANGED);
    mj_stanza ch = fx_pres("unavailable", R("Alice"));
    fx_codes(&ch, 303, 110, 0);
    ch.item_nick = S("Bob");
    fx_in(s, ch);
    self_id(s, "unavailable", R("Bob"), NULL);   /* the close's answer */
    self_id(s, "available", R("Alice"), "b1");   /* the cancelled join's */
    self_id(s, "unavailable", R("Alice"), "l1"); /* the leave's */
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "b2"), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_NICK(s, ROOM, "Alice");
    CHECK_EVENTS("joined " ROOM " Alice");
    CHECK_INT(forged(), 0);
    mj_tracker_free(tr);
}

/* A removal carrying the new join's own id (a service seen to
 * reflect ids) answers that join, not the earlier close (a room answers
 * in order: the close's answer, if any, came before it). With close_owed
 * (the close's answer delivered before the session bound: a phantom) it
 * is swallowed, and the join stays PENDING until pending_timeout, then
 * fails as timed out instead of kicked. */
TEST(a_removal_with_the_new_joins_id_is_not_the_closes_answer)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "a0");
    self_id(s, "available", R("Alice"), "a0"); /* the domain reflects */
    s = replaced(s, R("Alice"), "b2");
    mj_stanza k = fx_pres("unavailable", R("Alice"));
    fx_codes(&k, 110, 307, 0);
    k.id = S("b2");
    CHECK_OUTCOME(fx_in(s, k), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_EVENTS("join-failed " ROOM " kicked");
    mj_tracker_free(tr);
}

/* The closed session's close's answer arrives after the next session
 * bound under its JID but before that session joins the room (a client
 * reconnecting with the same resource while the room is slow): it is
 * the answer the settled record stands for, not a forged self-presence,
 * and the record is then answered: the later join owes the close
 * nothing (before the fix, it was counted forged, and the join
 * then took a real unavailable self-presence of its own, a kick, for
 * the close's answer). */
TEST(the_closes_answer_before_the_next_join_is_not_forged)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    CHECK_OUTCOME(self_id(s, "unavailable", R("Alice"), NULL), MJ_O_IGNORED);
    CHECK_INT(forged(), 0);
    /* the record is answered: a second one is explained by nothing */
    CHECK_OUTCOME(self_id(s, "unavailable", R("Alice"), NULL), MJ_O_FORGED);
    CHECK_INT(forged(), 1);
    CHECK_OUTCOME(join_id(s, R("Alice"), "b1"), MJ_O_CHANGED);
    mj_entry *e = mj_entry_find(s, mj_room_find(tr, ROOM, strlen(ROOM), NULL));
    CHECK(e != NULL && !e->close_owed);
    fx_take();
    /* the room bans the occupant as it joins: the removal (no id) is this
     * join's refusal, not a close's answer */
    mj_stanza k = fx_pres("unavailable", R("Alice"));
    fx_codes(&k, 110, 301, 0);
    CHECK_OUTCOME(fx_in(s, k), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_NONE);
    CHECK_EVENTS("join-failed " ROOM " banned");
    mj_tracker_free(tr);
}

/* A 303 reaching the next session before it joins (another session of
 * the account, sharing the occupant, changing its nick) is no close's
 * answer: the record stays, and the close's real answer (a removal that
 * crossed it) is still not taken for the next join's refusal (a review's
 * finding: the 303 used the record up). A self-presence from the bare
 * room uses nothing up either. */
TEST(a_303_before_the_next_join_does_not_answer_the_close)
{
    tr = fx_tracker();
    mj_session *s = closed_in_the_room("a0");
    mj_stanza ch = fx_pres("unavailable", R("Alice"));
    fx_codes(&ch, 303, 110, 0);
    ch.item_nick = S("Bob");
    fx_in(s, ch);
    mj_stanza bare = fx_pres("unavailable", ROOM);
    fx_codes(&bare, 110, 0);
    fx_in(s, bare);
    join_id(s, R("Alice"), "b1");
    mj_stanza kick = fx_pres("unavailable", R("Bob"));
    fx_codes(&kick, 110, 333, 0);
    fx_in(s, kick); /* the close's answer: the old occupancy's removal */
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    CHECK_EVENTS("");
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "b1"), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    fx_take();
    mj_tracker_free(tr);
}

/* The same as the tracker sees it when fed by JID (Prosody's case: the
 * session bound next has no state in the tracker before its first join,
 * so the close's answer reaches no session the tracker holds). */
TEST(the_closes_answer_to_a_jid_the_tracker_does_not_hold_is_not_forged)
{
    tr = fx_tracker();
    mj_session_close(closed_in_the_room("a0")); /* no session under JID */
    fx_take();
    mj_stanza st = fx_pres("unavailable", R("Alice"));
    fx_codes(&st, 110, 0);
    mj_outcome o;
    mj_session *got = NULL;
    CHECK_INT(mj_tracker_incoming(tr, JID, strlen(JID), &st, &got, &o), MJ_OK);
    CHECK_OUTCOME(o, MJ_O_IGNORED);
    CHECK(got == NULL);
    CHECK_INT(forged(), 0);
    CHECK_INT(mj_tracker_incoming(tr, JID, strlen(JID), &st, &got, &o), MJ_OK);
    CHECK_OUTCOME(o, MJ_O_FORGED); /* the record is answered */
    mj_stanza j = fx_pres("available", R("Alice"));
    j.has_muc_x = 1;
    j.id = S("b1");
    CHECK_INT(mj_tracker_outgoing(tr, JID, strlen(JID), &j, &got, &o), MJ_OK);
    CHECK_OUTCOME(o, MJ_O_CHANGED);
    mj_stanza k = fx_pres("unavailable", R("Alice"));
    fx_codes(&k, 110, 301, 0);
    CHECK_OUTCOME(fx_in(got, k), MJ_O_CHANGED);
    CHECK_STATE(got, ROOM, MJ_S_NONE);
    CHECK_EVENTS("join-failed " ROOM " banned");
    mj_tracker_free(tr);
}

/* Another kind of record (a join in flight at the close) explains an
 * unavailable self-presence too, and stays: what it counts may still
 * come. */
TEST(an_in_flight_record_explains_an_early_unavailable_and_stays)
{
    tr = fx_tracker();
    mj_session *s = fx_session(tr, JID);
    join_id(s, R("Alice"), "a0");
    mj_session_close(s); /* the join in flight */
    fx_take();
    s = fx_session(tr, JID);
    CHECK_OUTCOME(self_id(s, "unavailable", R("Alice"), NULL), MJ_O_IGNORED);
    CHECK_INT(forged(), 0);
    CHECK_OUTCOME(join_id(s, R("Alice"), "b1"), MJ_O_CHANGED);
    /* the record was taken by the join: the closed join's answer (its
     * id) is not this join's */
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "a0"), MJ_O_UNCHANGED);
    CHECK_STATE(s, ROOM, MJ_S_PENDING);
    CHECK_OUTCOME(self_id(s, "available", R("Alice"), "b1"), MJ_O_CHANGED);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    fx_take();
    mj_tracker_free(tr);
}

/* At the default shares (max_rooms 1000, max_pending 1000), one session
 * with JIDs of an ordinary length closing with an answer in flight in
 * each of 2000 rooms (1000 joined with a join sent again, 1000 joins
 * pending): every room is protected (a 256 KiB byte share kept 1560 of
 * them). */
TEST(one_sessions_close_with_ordinary_jids_fits_the_share)
{
    char occ[128], id[32];
    const char *jid = "alice.smith@jabber.example.com/Conversations.Xy9z";
    const char *fmt =
        "%c%03d-project-talk@conference.jabber.example.com/Alice";
    tr = fx_tracker();
    mj_session *s = fx_session(tr, jid);
    for (int k = 0; k < 1000; k++) {
        snprintf(occ, sizeof occ, fmt, 'r', k);
        join_id(s, occ, "a");
        self_id(s, "available", occ, "a");
        join_id(s, occ, "b"); /* sent again */
        snprintf(occ, sizeof occ, fmt, 'p', k);
        CHECK_OUTCOME(join_id(s, occ, "b"), MJ_O_CHANGED);
    }
    mj_session_close(s);
    fx_take();
    s = fx_session(tr, jid);
    int lost = 0;
    for (int k = 0; k < 2000; k++) {
        snprintf(occ, sizeof occ, fmt, k % 2 ? 'p' : 'r', k / 2);
        snprintf(id, sizeof id, "new%d", k);
        join_id(s, occ, id);
        /* the closed session's join's answer is not the new join's */
        if (self_id(s, "available", occ, "b") != MJ_O_UNCHANGED)
            lost++;
        self_id(s, "unavailable", occ, NULL);
        self_id(s, "available", occ, id);
        fx_out(s, fx_pres("unavailable", occ)); /* stay under max_rooms */
        self_id(s, "unavailable", occ, NULL);
    }
    CHECK_INT(lost, 0);
    fx_take();
    mj_tracker_free(tr);
}

/* The set's count bound with many small accounts: the records, their
 * tables and the accounts' records stay within the bound the docs give
 * (MJ_OWED_MAX_BYTES and a quarter of it for the tables). */
TEST(many_small_accounts_stay_within_the_bound)
{
    char jid[64];
    tr = fx_tracker();
    size_t b0 = bytes(), most = 0;
    for (int i = 0; i < MJ_OWED_MAX + MJ_OWED_MAX / 4; i++) {
        snprintf(jid, sizeof jid, "u%05d-xxxxxxxxxxxxxxxxxxxxxxxxx@e/r", i);
        mj_session *s = fx_session(tr, jid);
        join_id(s, "rrrrrrrrrrrrrrrrrrrrr@m/A", "j1");
        mj_session_close(s);
        fx_take();
        if (bytes() > most)
            most = bytes();
    }
    CHECK_INT(tr->owed.table.count, MJ_OWED_MAX);
    CHECK(most - b0 < MJ_OWED_MAX_BYTES + MJ_OWED_MAX_BYTES / 4);
    mj_tracker_free(tr);
}

int main(void)
{
    RUN(join_in_flight_at_close_does_not_answer_the_next_sessions_join);
    RUN(nick_change_in_flight_at_close_does_not_answer_the_next_sessions_join);
    RUN(join_sent_again_at_close_does_not_answer_the_next_sessions_join);
    RUN(owed_answers_already_gone_do_not_delay_the_next_join);
    RUN(removal_of_the_closed_sessions_occupancy_does_not_fail_the_next_join);
    RUN(rejoin_with_the_closed_sessions_join_id);
    RUN(same_id_rejoin_after_owed_answers_gone_joins);
    RUN(rejoin_after_joined_close_is_not_held_back);
    RUN(settled_rooms_do_not_evict_in_flight_records);
    RUN(other_resources_settled_rooms_do_not_crowd_out_a_join_in_flight);
    RUN(join_leave_join_after_a_joined_close);
    RUN(cancelled_join_after_a_joined_close);
    RUN(restore_to_pending_clears_close_owed);
    RUN(a_settled_record_does_not_evict_a_join_in_flight);
    RUN(close_owed_is_lost_when_the_next_session_closes_pending);
    RUN(close_owed_removal_is_lost_when_the_next_session_closes_pending);
    RUN(same_id_rejoin_twice_in_a_row);
    RUN(joined_close_never_answered_delays_a_later_rejoin);
    RUN(phantom_close_owed_keeps_a_cancelled_join);
    RUN(same_id_join_leave_join_unknown_domain);
    RUN(owed_answers_are_the_same_jids_and_run_out);
    RUN(owed_answers_are_taken_once);
    RUN(owed_records_are_bounded);
    RUN(one_account_cannot_evict_the_others_records);
    RUN(one_account_with_long_jids_cannot_evict_the_others_records);
    RUN(one_session_owing_more_than_64_keeps_every_room);
    RUN(owed_bytes_are_bounded);
    RUN(nick_change_then_leave_at_close);
    RUN(join_sent_again_then_leave_at_close);
    RUN(record_follows_a_new_pending_timeout);
    RUN(a_303_does_not_take_close_owed);
    RUN(a_303_in_a_rejoin_window_does_not_take_close_owed);
    RUN(a_removal_with_the_new_joins_id_is_not_the_closes_answer);
    RUN(the_closes_answer_before_the_next_join_is_not_forged);
    RUN(an_in_flight_record_explains_an_early_unavailable_and_stays);
    RUN(the_closes_answer_to_a_jid_the_tracker_does_not_hold_is_not_forged);
    RUN(a_303_before_the_next_join_does_not_answer_the_close);
    RUN(one_sessions_close_with_ordinary_jids_fits_the_share);
    RUN(many_small_accounts_stay_within_the_bound);
    return test_summary("owed");
}

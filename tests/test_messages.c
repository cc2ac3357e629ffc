/* Received groupchat messages (SPEC 6-7): mention, chatter, own, history,
 * the mention event and the CSI/push importance. */
#include "fixture.h"

#define ROOM    "room@muc.example.org"
#define R(nick) ROOM "/" nick

static mj_tracker *tr;
static mj_session *s;

static void setup(void)
{
    tr = fx_tracker();
    s = fx_session(tr, "user@example.org/phone");
    fx_join(s, R("Ann"));
    fx_self(s, "available", R("Ann"));
    fx_take();
}

static mj_stanza msg(const char *from, const char *body)
{
    mj_stanza m = fx_pres("available", from);
    m.kind = MJ_KIND_MESSAGE;
    m.type = MJ_T_GROUPCHAT;
    m.body = S(body);
    return m;
}

static mj_msg_class cls(mj_stanza m)
{
    mj_msg_class c = MJ_M_OTHER;
    CHECK_INT(mj_session_message(s, &m, &c), MJ_OK);
    return c;
}

#define CHECK_CLASS(m, expected)                                              \
    do {                                                                      \
        mj_msg_class c_ = cls(m);                                             \
        if (c_ != (expected))                                                 \
            FAIL_AT("class %s, expected %s", mj_msg_class_name(c_),           \
                    mj_msg_class_name(expected));                             \
    } while (0)

TEST(nick_as_a_word_mentions)
{
    setup();
    CHECK_CLASS(msg(R("Bob"), "hey ANN, look"), MJ_M_MENTION);
    CHECK_CLASS(msg(R("Bob"), "@Ann: look"), MJ_M_MENTION);
    CHECK_CLASS(msg(R("Bob"), "Ann's idea"), MJ_M_MENTION);
    CHECK_CLASS(msg(R("Bob"), "Annie said"), MJ_M_CHATTER);
    CHECK_CLASS(msg(R("Bob"), "nothing here"), MJ_M_CHATTER);
    mj_tracker_free(tr);
}

TEST(mention_reference_mentions)
{
    setup();
    mj_stanza m = msg(R("Bob"), "look at this");
    m.mention_uri[0] = S("xmpp:room@muc.example.org/Ann");
    m.nmentions = 1;
    CHECK_CLASS(m, MJ_M_MENTION);
    m.mention_uri[0] = S("xmpp:user@example.org");
    CHECK_CLASS(m, MJ_M_MENTION);
    m.mention_uri[0] = S("xmpp:room@muc.example.org/Bob");
    CHECK_CLASS(m, MJ_M_CHATTER);
    mj_tracker_free(tr);
}

TEST(own_history_and_other_messages)
{
    setup();
    CHECK_CLASS(msg(R("Ann"), "I am Ann"), MJ_M_OWN);
    mj_stanza h = msg(R("Bob"), "Ann, earlier");
    h.delay_from[0] = S("Room@muc.example.org");
    h.ndelay = 1;
    CHECK_CLASS(h, MJ_M_HISTORY);
    h.delay_from[0] = S("example.org"); /* a delay added by smacks/CSI */
    CHECK_CLASS(h, MJ_M_MENTION);
    CHECK_CLASS(msg(ROOM, "Ann from the room itself"), MJ_M_OTHER);
    CHECK_CLASS(msg("other@muc.example.org/Bob", "Ann"), MJ_M_OTHER);
    mj_stanza e = msg(R("Bob"), "");
    CHECK_CLASS(e, MJ_M_OTHER); /* empty body */
    e.body = S(NULL);
    e.has_subject = 1;
    CHECK_CLASS(e, MJ_M_OTHER); /* subject: last step of a join */
    mj_stanza chat = msg(R("Bob"), "Ann");
    chat.type = MJ_T_OTHER; /* a private message */
    CHECK_CLASS(chat, MJ_M_OTHER);
    mj_tracker_free(tr);
}

TEST(pending_room_has_no_mentions)
{
    setup();
    fx_join(s, "new@muc.example.org/Ann");
    CHECK_CLASS(msg("new@muc.example.org/Bob", "Ann!"), MJ_M_OTHER);
    mj_tracker_free(tr);
}

TEST(incoming_mention_fires_event_with_writer)
{
    mj_stats st;
    setup();
    mj_stanza m = msg(R("Bob"), "ann?");
    CHECK_OUTCOME(fx_in(s, m), MJ_O_UNCHANGED);
    CHECK_EVENTS("mention " ROOM " Ann");
    CHECK_OUTCOME(fx_in(s, msg(R("Bob"), "hi all")), MJ_O_UNCHANGED);
    CHECK_EVENTS("");
    mj_tracker_stats(tr, &st);
    CHECK_INT(st.mentions, 1);
    mj_tracker_free(tr);
}

TEST(importance_for_csi_and_push)
{
    setup();
    mj_stanza m = msg(R("Bob"), "Ann!");
    CHECK_INT(mj_session_importance(s, &m, 1), 1);
    CHECK_INT(mj_session_importance(s, &m, 0), 1);
    m = msg(R("Bob"), "chatter");
    CHECK_INT(mj_session_importance(s, &m, 1), 0);
    CHECK_INT(mj_session_importance(s, &m, 0), -1);
    m = msg(R("Ann"), "mine");
    CHECK_INT(mj_session_importance(s, &m, 1), 0);
    m = msg("x@y/z", "Ann");
    CHECK_INT(mj_session_importance(s, &m, 1), -1);
    m.kind = MJ_KIND_PRESENCE;
    CHECK_INT(mj_session_importance(s, &m, 1), -1);
    CHECK_INT(mj_session_importance(NULL, &m, 1), -1);
    mj_tracker_free(tr);
}

TEST(nick_after_change_is_used)
{
    setup();
    fx_out(s, fx_pres("available", R("Zed")));
    fx_self(s, "available", R("Zed"));
    CHECK_CLASS(msg(R("Bob"), "zed?"), MJ_M_MENTION);
    CHECK_CLASS(msg(R("Bob"), "Ann?"), MJ_M_CHATTER);
    mj_tracker_free(tr);
}

/* A delay from the room marks history only until the room's subject,
 * the last step of a join: after it an occupant adding
 * <delay from='room'/> to its own message does not hide a mention. */
TEST(history_ends_with_the_subject)
{
    setup();
    mj_stanza h = msg(R("Bob"), "Ann, earlier");
    h.delay_from[0] = S(ROOM);
    h.ndelay = 1;
    CHECK_CLASS(h, MJ_M_HISTORY); /* the join sequence's history */
    mj_stanza subj = msg(ROOM, NULL);
    subj.has_subject = 1;
    CHECK_OUTCOME(fx_in(s, subj), MJ_O_IGNORED);
    CHECK_CLASS(h, MJ_M_MENTION); /* forged: a live mention */
    CHECK_OUTCOME(fx_in(s, h), MJ_O_UNCHANGED);
    CHECK_EVENTS("mention " ROOM " Ann");
    CHECK_INT(mj_session_importance(s, &h, 1), 1);
    /* a rejoin gets history again, until its subject */
    fx_out(s, fx_pres("unavailable", R("Ann")));
    mj_stanza un = fx_pres("unavailable", R("Ann"));
    fx_codes(&un, 110, 0);
    fx_in(s, un);
    fx_join(s, R("Ann"));
    fx_self(s, "available", R("Ann"));
    fx_take();
    CHECK_CLASS(h, MJ_M_HISTORY);
    /* a subject from an occupant JID (who set it) counts too */
    subj.from = S(R("Bob"));
    fx_in(s, subj);
    CHECK_CLASS(h, MJ_M_MENTION);
    /* a subject for a room still PENDING changes nothing */
    fx_join(s, "new@muc.example.org/Ann");
    subj.from = S("new@muc.example.org");
    fx_in(s, subj);
    fx_self(s, "available", "new@muc.example.org/Ann");
    h.from = S("new@muc.example.org/Bob");
    h.delay_from[0] = S("new@muc.example.org");
    CHECK_CLASS(h, MJ_M_HISTORY);
    /* a restored room is past its history */
    CHECK_INT(mj_session_restore(s, "old@muc.example.org", 19, MJ_S_JOINED,
                                 S("Ann"), S(NULL), 0),
              MJ_OK);
    h.from = S("old@muc.example.org/Bob");
    h.delay_from[0] = S("old@muc.example.org");
    CHECK_CLASS(h, MJ_M_MENTION);
    mj_tracker_free(tr);
}

int main(void)
{
    RUN(nick_as_a_word_mentions);
    RUN(mention_reference_mentions);
    RUN(own_history_and_other_messages);
    RUN(history_ends_with_the_subject);
    RUN(pending_room_has_no_mentions);
    RUN(incoming_mention_fires_event_with_writer);
    RUN(importance_for_csi_and_push);
    RUN(nick_after_change_is_used);
    return test_summary("messages");
}

/* Received groupchat messages (docs/semantics.md §6-7): mention, chatter, own,
 * history, the mention event and the CSI/push importance. */
#include <time.h>

#include "fixture.h"
#include "mentions_impl.h"
#include "store.h"
#include "target.h"

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

/* A delayed groupchat message from the room that mentions Ann: history
 * until the room's subject. */
static mj_stanza delayed_mention(void)
{
    mj_stanza h = msg(R("Bob"), "Ann, earlier");
    h.delay_from[0] = S(ROOM);
    h.ndelay = 1;
    return h;
}

/* The room's subject (no body), which ends its history. */
static mj_stanza room_subject(void)
{
    mj_stanza subj = msg(ROOM, NULL);
    subj.has_subject = 1;
    return subj;
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

#define CHECK_CLASS2(sess, m, expected)                                       \
    do {                                                                      \
        mj_stanza m_ = (m);                                                   \
        mj_msg_class c_ = MJ_M_OTHER;                                         \
        CHECK_INT(mj_session_message((sess), &m_, &c_), MJ_OK);               \
        if (c_ != (expected))                                                 \
            FAIL_AT("class %s, expected %s", mj_msg_class_name(c_),           \
                    mj_msg_class_name(expected));                             \
    } while (0)

/* 40 sessions of one tracker in ROOM, session i under nicks[i % 4]. */
static void occupants(mj_session *ss[40], const char *const nicks[4])
{
    char jid[64], occ[128];
    for (int i = 0; i < 40; i++) {
        snprintf(jid, sizeof jid, "u%d@example.org/r", i);
        ss[i] = fx_session(tr, jid);
        snprintf(occ, sizeof occ, ROOM "/%s", nicks[i % 4]);
        fx_join(ss[i], occ);
        fx_self(ss[i], "available", occ);
    }
    fx_take();
}

/* One body delivered to many local occupants is normalised once: the
 * tracker keeps the last body's normal form. Each recipient still gets
 * its own answer, a different body is normalised again, ASCII takes the
 * byte path, and the cache's buffers are counted and given back. */
TEST(body_normalised_once_for_all_recipients)
{
    /* Cyrillic: "привет, Аня и Боря" */
    const char *body = "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
                       "\xd0\x90\xd0\xbd\xd1\x8f \xd0\xb8 "
                       "\xd0\x91\xd0\xbe\xd1\x80\xd1\x8f";
    const char *const nicks[4] = {
        "\xd0\xb0\xd0\xbd\xd1\x8f",         /* аня */
        "\xd0\x91\xd0\x9e\xd0\xa0\xd0\xaf", /* БОРЯ */
        "Ann", "\xd0\x92\xd0\xb0\xd0\xbd\xd1\x8f"};
    const int want[4] = {1, 1, 0, 0};
    mj_session *ss[40];
    size_t base;
    mj_stats st;

    tr = fx_tracker();
    mj_tracker_stats(tr, &st);
    base = st.bytes;
    occupants(ss, nicks);
    CHECK_INT(tr->body.folds, 0);
    for (int i = 0; i < 40; i++) {
        mj_stanza m = msg(R("Zed"), body);
        mj_msg_class c = MJ_M_OTHER;
        CHECK_INT(mj_session_message(ss[i], &m, &c), MJ_OK);
        CHECK_INT(c, want[i % 4] ? MJ_M_MENTION : MJ_M_CHATTER);
    }
    CHECK_INT(tr->body.folds, 1);
    /* and each held non-ASCII nick folded once, not once per message
     * (nickcache.h) */
    CHECK_INT(tr->nicks.folds, 3);
    /* the same bytes at another address: still the cached form */
    char copy[256];
    snprintf(copy, sizeof copy, "%s", body);
    for (int i = 0; i < 4; i++)
        CHECK_CLASS2(ss[i], msg(R("Zed"), copy),
                     want[i] ? MJ_M_MENTION : MJ_M_CHATTER);
    CHECK_INT(tr->body.folds, 1);
    /* another body (one byte more) is normalised again, once */
    for (int i = 0; i < 4; i++)
        CHECK_CLASS2(ss[i], msg(R("Zed"), "\xd0\x90\xd0\xbd\xd1\x8f!"),
                     i == 0 ? MJ_M_MENTION : MJ_M_CHATTER);
    CHECK_INT(tr->body.folds, 2);
    CHECK_INT(tr->nicks.folds, 3);
    /* ASCII bodies and nicks take the byte path */
    CHECK_CLASS2(ss[2], msg(R("Zed"), "hi Ann"), MJ_M_MENTION);
    CHECK_INT(tr->body.folds, 2);
    /* not UTF-8: cached too, never a mention */
    for (int i = 0; i < 4; i++)
        CHECK_CLASS2(ss[i], msg(R("Zed"), "\xd0\xb0\xd0\xbd\xd1\x8f \xff"),
                     MJ_M_CHATTER);
    CHECK_INT(tr->body.folds, 3);
    mj_tracker_stats(tr, &st);
    CHECK(st.bytes > base);
    mj_tracker_free(tr);
}

/* A message's mention references are decoded and prepared once for all
 * its recipients (tr->refs): each recipient still gets its own answer, a
 * reference with another path is prepared again, the query does not
 * count, a path too long to name a JID is never prepared, and the
 * buffers are given back with the tracker. */
TEST(references_prepared_once_for_all_recipients)
{
    mj_session *ss[40];
    const char *const nicks[4] = {"Ann", "Bob", "Carol", "Dan"};

    tr = fx_tracker();
    occupants(ss, nicks);
    mj_stanza m = msg(R("Zed"), "look");
    m.nmentions = 2;
    m.mention_uri[0] = S("xmpp:room@MUC.example.org/Ann?join");
    m.mention_uri[1] = S("xmpp:u3@example.org"); /* Dan's user */
    for (int i = 0; i < 40; i++)
        CHECK_CLASS2(ss[i], m,
                     i % 4 == 0 || i == 3 ? MJ_M_MENTION : MJ_M_CHATTER);
    CHECK_INT(tr->refs.preps, 2);
    /* the same path with another query, at another address: cached */
    char copy[64];
    snprintf(copy, sizeof copy, "%s", "xmpp:room@MUC.example.org/Ann#x");
    m.mention_uri[0] = S(copy);
    m.nmentions = 1;
    CHECK_CLASS2(ss[0], m, MJ_M_MENTION);
    CHECK_CLASS2(ss[1], m, MJ_M_CHATTER);
    CHECK_INT(tr->refs.preps, 2);
    /* another path in that slot: prepared again, once */
    m.mention_uri[0] = S("xmpp:room@muc.example.org/Bob");
    for (int i = 0; i < 4; i++)
        CHECK_CLASS2(ss[i], m, i == 1 ? MJ_M_MENTION : MJ_M_CHATTER);
    CHECK_INT(tr->refs.preps, 3);
    /* a path that names no JID is cached as such */
    m.mention_uri[0] = S("xmpp:room@muc.example.org/");
    for (int i = 0; i < 4; i++)
        CHECK_CLASS2(ss[i], m, MJ_M_CHATTER);
    CHECK_INT(tr->refs.preps, 4);
    /* a bad escape in the query: no JID, nothing prepared */
    m.mention_uri[0] = S("xmpp:room@muc.example.org/Ann?%zz");
    CHECK_CLASS2(ss[0], m, MJ_M_CHATTER);
    CHECK_INT(tr->refs.preps, 4);
    /* a path longer than any JID's: never prepared nor kept */
    static char big[MJ_URI_PATH_MAX + 64];
    memcpy(big, "xmpp:", 5);
    memset(big + 5, 'a', sizeof big - 6);
    m.mention_uri[0] = mj_str_of(big, sizeof big - 1);
    CHECK_CLASS2(ss[0], m, MJ_M_CHATTER);
    CHECK_INT(tr->refs.preps, 4);
    mj_tracker_free(tr); /* the allocator hook checks nothing is left */
}

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
    /* the room's JID as written (no preparing), or spelt otherwise */
    h.delay_from[0] = S(ROOM);
    CHECK_CLASS(h, MJ_M_HISTORY);
    h.delay_from[0] = S("room@MUC.example.org.");
    CHECK_CLASS(h, MJ_M_HISTORY);
    h.delay_from[0] = S(ROOM "/Bob");
    CHECK_CLASS(h, MJ_M_MENTION);
    h.delay_from[0] = S("room@muc.example.or");
    CHECK_CLASS(h, MJ_M_MENTION);
    h.delay_from[1] = S(ROOM); /* any of the delays */
    h.ndelay = 2;
    CHECK_CLASS(h, MJ_M_HISTORY);
    h.ndelay = 1;
    /* the room itself speaking (an announcement): chatter from a room the
     * session is in, never a mention; history when the room sends it as
     * such (a review's finding: no opinion under CSI, so delivered at
     * once, against docs/semantics.md §7) */
    CHECK_CLASS(msg(ROOM, "Ann from the room itself"), MJ_M_CHATTER);
    mj_stanza rh = msg(ROOM, "Ann, from the room's history");
    rh.delay_from[0] = S(ROOM);
    rh.ndelay = 1;
    CHECK_CLASS(rh, MJ_M_HISTORY);
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
    /* NULL: a JID the tracker holds nothing for, in no room (a full JID
     * whose session is gone still gets a ghost occupancy's groupchat):
     * only a push of mentions only holds its groupchat */
    m = msg(R("Bob"), "Ann!");
    CHECK_INT(mj_session_importance(NULL, &m, MJ_HOLD_GROUPCHAT), 0);
    CHECK_INT(mj_session_importance(NULL, &m, MJ_HOLD_CHATTER), -1);
    CHECK_INT(mj_session_importance(NULL, &m, 0), -1);
    m.has_wake_hint = 1;
    CHECK_INT(mj_session_importance(NULL, &m, MJ_HOLD_GROUPCHAT), -1);
    CHECK_INT(mj_session_importance(NULL, NULL, MJ_HOLD_GROUPCHAT), -1);
    /* by JID: a full one without a session is in no room; a bare one
     * (mod_muc_offline_delivery's copies) and one that does not prepare
     * get no opinion; a session's own JID is its verdict */
    m = msg(R("Bob"), "Ann!");
    CHECK_INT(mj_tracker_importance(tr, "ann@example.org/gone", 20, &m,
                                    MJ_HOLD_GROUPCHAT),
              0);
    CHECK_INT(mj_tracker_importance(tr, "ann@example.org", 15, &m,
                                    MJ_HOLD_GROUPCHAT),
              -1);
    CHECK_INT(mj_tracker_importance(tr, "ann@@example.org/x", 18, &m,
                                    MJ_HOLD_GROUPCHAT),
              -1);
    mj_str sj = mj_session_jid(s);
    CHECK_INT(mj_tracker_importance(tr, sj.ptr, sj.len, &m, MJ_HOLD_GROUPCHAT),
              mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT));
    mj_tracker_free(tr);
}

/* Chatter carrying a payload that wakes a device whatever the body says
 * (encrypted content, whose mention the body cannot show; a call; an
 * invitation; one the server lists): no opinion, so mod_csi_simple's
 * rule delivers it and a push is not blocked. Held before: the operator's
 * csi_important_payloads and mod_csi_simple's own rule for encrypted
 * messages never ran (hostile review). A mention still wakes; the
 * session's own messages and history are still held. */
TEST(importance_of_chatter_with_a_wake_payload)
{
    setup();
    mj_stanza m = msg(R("Bob"), "I sent you an OMEMO encrypted message");
    m.has_wake_hint = 1;
    CHECK_INT(mj_session_importance(s, &m, 1), -1);
    CHECK_INT(mj_session_importance(s, &m, 0), -1);
    m = msg(R("Bob"), "Ann!");
    m.has_wake_hint = 1;
    CHECK_INT(mj_session_importance(s, &m, 1), 1);
    m = msg(R("Ann"), "mine");
    m.has_wake_hint = 1;
    CHECK_INT(mj_session_importance(s, &m, 1), 0);
    mj_tracker_free(tr);
}

/* Pushes of mentions only (MJ_HOLD_GROUPCHAT): every groupchat message
 * that does not mention the user can wait, those without a body too
 * (chat states, markers, reactions, a subject), from the room itself, or
 * from a room the session is not in; they were pushed (no opinion), and
 * in a busy room woke the phone at nearly every batch (hostile review).
 * CSI keeps its rule: no opinion for them (mod_csi_simple delivers a
 * subject, the last step of a join). */
TEST(importance_for_push_of_mentions_only)
{
    setup();
    mj_stanza m = msg(R("Bob"), NULL); /* a chat state, a marker... */
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), 0);
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_CHATTER), -1);
    CHECK_INT(mj_session_importance(s, &m, 0), -1);
    m.has_subject = 1;
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), 0);
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_CHATTER), -1);
    m = msg(ROOM, "the room speaking");
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), 0);
    m = msg("elsewhere@muc.example.org/Bob", "Ann: a room not joined");
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), 0);
    m = msg(R("Bob"), "chatter");
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), 0);
    m = msg(R("Bob"), "Ann!");
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), 1);
    /* a call proposal or encrypted content without a body is pushed */
    m = msg(R("Bob"), NULL);
    m.has_wake_hint = 1;
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), -1);
    /* not groupchat: a private message through the room */
    m = msg(R("Bob"), "psst");
    m.type = MJ_T_OTHER;
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), -1);
    mj_tracker_free(tr);
}

TEST(wake_children)
{
#define WAKE(name, ns)                                                        \
    mj_stanza_wake_child(name, sizeof name - 1, ns, sizeof ns - 1)
    CHECK(WAKE("encryption", "urn:xmpp:eme:0"));
    CHECK(WAKE("encrypted", "eu.siacs.conversations.axolotl"));
    CHECK(WAKE("encrypted", "urn:xmpp:omemo:1"));
    CHECK(WAKE("encrypted", "urn:xmpp:omemo:2"));
    CHECK(WAKE("openpgp", "urn:xmpp:openpgp:0"));
    CHECK(WAKE("x", "jabber:x:encrypted"));
    CHECK(WAKE("x", "jabber:x:conference"));
    CHECK(WAKE("propose", "urn:xmpp:jingle-message:0"));
    CHECK(WAKE("anything", "urn:xmpp:jingle-message:1"));
    CHECK(WAKE("invite", "urn:xmpp:call-invites:0")); /* a group call */
    CHECK(!WAKE("retract", "urn:xmpp:call-invites:0"));
    CHECK(!mj_stanza_wake_child("encryption", 10, NULL, 0));
    CHECK(!WAKE("encryption", "urn:xmpp:eme:1"));
    CHECK(!WAKE("encrypted", "urn:xmpp:eme:0"));
    CHECK(!WAKE("x", "http://jabber.org/protocol/muc#user"));
    CHECK(!WAKE("body", "jabber:client"));
    CHECK(!WAKE("store", "urn:xmpp:hints"));
    CHECK(!WAKE("propose", "urn:xmpp:jingle-message:"));
    CHECK(!mj_stanza_wake_child(NULL, 0, "urn:xmpp:eme:0", 14));
#undef WAKE
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
    mj_stanza h = delayed_mention();
    CHECK_CLASS(h, MJ_M_HISTORY); /* the join sequence's history */
    /* a subject with a body or a thread is no subject change (XEP-0045
     * 8.1): an occupant's message Prosody broadcasts */
    mj_stanza sb = msg(R("Bob"), "new topic");
    sb.has_subject = 1;
    fx_in(s, sb);
    CHECK_CLASS(h, MJ_M_HISTORY);
    sb.body = S("");
    fx_in(s, sb);
    CHECK_CLASS(h, MJ_M_HISTORY);
    sb.body = S(NULL);
    sb.has_thread = 1;
    fx_in(s, sb);
    CHECK_CLASS(h, MJ_M_HISTORY);
    /* nor one carrying a store hint, a chat marker or an encryption
     * element: a room's own subject has none, and an occupant's subject
     * in another namespace needs one to be kept in a Prosody room's
     * history, from which another server relays it as a plain one */
    sb.has_thread = 0;
    sb.has_history_hint = 1;
    fx_in(s, sb);
    CHECK_CLASS(h, MJ_M_HISTORY);
    fx_take();
    mj_stanza subj = room_subject();
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

/* A joined session that sends its join again (available presence with
 * the MUC <x/>, same nick or a new one) gets history and the subject again
 * from Prosody (muc.lib.lua: "orig_occupant == nil or muc_x"): its
 * delayed messages are history again until that subject. A presence
 * update without <x/> changes nothing. */
TEST(resent_join_restarts_history)
{
    setup();
    mj_stanza h = delayed_mention();
    mj_stanza subj = room_subject();
    fx_in(s, subj);
    CHECK_CLASS(h, MJ_M_MENTION);
    /* a presence update (no <x/>): still live */
    CHECK_OUTCOME(fx_out(s, fx_pres("available", R("Ann"))), MJ_O_UNCHANGED);
    CHECK_CLASS(h, MJ_M_MENTION);
    /* the join re-sent, same nick */
    fx_join(s, R("Ann"));
    CHECK_CLASS(h, MJ_M_HISTORY);
    fx_self(s, "available", R("Ann"));
    CHECK_CLASS(h, MJ_M_HISTORY);
    fx_in(s, subj);
    CHECK_CLASS(h, MJ_M_MENTION);
    /* a nick change carrying <x/> */
    fx_join(s, R("Anna"));
    CHECK_CLASS(h, MJ_M_HISTORY);
    fx_take();
    mj_tracker_free(tr);
}

/* The join re-sent to the bare room (no nick): Prosody's MUC takes it as
 * sent to the session's current nick (muc.lib.lua,
 * handle_presence_to_room) and sends history and the subject again, in
 * JOINED, CHANGING and EXPECTING alike. Neither a join nor a nick change:
 * the state stays. Without the MUC <x/> it is a presence update. */
TEST(join_resent_to_the_bare_room_restarts_history)
{
    setup();
    mj_stanza h = delayed_mention();
    mj_stanza subj = room_subject();
    mj_stanza bare = fx_pres("available", ROOM);
    fx_in(s, subj);
    CHECK_CLASS(h, MJ_M_MENTION);
    fx_out(s, bare); /* no <x/>: still live */
    CHECK_CLASS(h, MJ_M_MENTION);
    bare.has_muc_x = 1;
    fx_out(s, bare);
    CHECK_STATE(s, ROOM, MJ_S_JOINED);
    CHECK_CLASS(h, MJ_M_HISTORY);
    fx_self(s, "available", R("Ann"));
    fx_in(s, subj);
    CHECK_CLASS(h, MJ_M_MENTION);
    /* CHANGING, then EXPECTING */
    fx_out(s, fx_pres("available", R("Zed")));
    fx_out(s, bare);
    CHECK_STATE(s, ROOM, MJ_S_CHANGING);
    CHECK_CLASS(h, MJ_M_HISTORY);
    fx_in(s, subj);
    mj_stanza ch = fx_pres("unavailable", R("Ann"));
    fx_codes(&ch, 110, 303, 0);
    ch.item_nick = S("Zed");
    fx_in(s, ch);
    CHECK_CLASS(h, MJ_M_MENTION);
    fx_out(s, bare);
    CHECK_STATE(s, ROOM, MJ_S_EXPECTING);
    CHECK_CLASS(h, MJ_M_HISTORY);
    fx_take();
    mj_tracker_free(tr);
}

/* Ann asks for Zed and the room announces it (303): EXPECTING(Ann, Zed). */
static void announce_zed(void)
{
    fx_out(s, fx_pres("available", R("Zed")));
    mj_stanza ch = fx_pres("unavailable", R("Ann"));
    fx_codes(&ch, 110, 303, 0);
    ch.item_nick = S("Zed");
    fx_in(s, ch);
    CHECK_STATE(s, ROOM, MJ_S_EXPECTING);
}

/* A leave after the room's 303 (EXPECTING(o, m), then LEAVING): in
 * EXPECTING a message from room/m is the session's own (not a mention of
 * o); once the user sent the leave, whatever the room sends is chatter,
 * never a mention (held under CSI, its push blocked), as in any LEAVING:
 * the user asked to leave. It was judged until the room confirmed
 * (changed on review: docs/semantics.md §6), then for a while got no
 * opinion, which mod_csi_simple takes as "deliver now" (review). */
TEST(nothing_is_a_mention_while_leaving)
{
    setup();
    announce_zed();
    CHECK_CLASS(msg(R("Zed"), "bye, Ann here"), MJ_M_OWN);
    fx_out(s, fx_pres("unavailable", R("Zed")));
    CHECK_STATE(s, ROOM, MJ_S_LEAVING);
    CHECK_CLASS(msg(R("Zed"), "bye, Ann here"), MJ_M_CHATTER);
    CHECK_CLASS(msg(R("Bob"), "bye, Ann"), MJ_M_CHATTER);
    CHECK_CLASS(msg(R("Bob"), "bye, Zed"), MJ_M_CHATTER);
    mj_stanza m = msg(R("Bob"), "bye, Ann");
    CHECK_INT(mj_session_importance(s, &m, 1), 0);
    CHECK_INT(mj_session_importance(s, &m, 0), -1);
    CHECK_INT(mj_session_importance(s, &m, MJ_HOLD_GROUPCHAT), 0);
    CHECK_OUTCOME(fx_in(s, m), MJ_O_UNCHANGED);
    CHECK_EVENTS(""); /* no mention */
    mj_tracker_free(tr);
}

/* A groupchat message the session sends changes nothing; to a room it is
 * in (JOINED) the outcome is "unchanged", which tells the module to watch
 * the session's outgoing stanzas, where a local MUC's not-acceptable
 * refusal of a ghost's message comes (origin.send()); elsewhere
 * "ignored". */
TEST(groupchat_sent_to_a_room_the_session_is_in_is_unchanged)
{
    setup();
    mj_stanza out = fx_pres("available", NULL);
    out.kind = MJ_KIND_MESSAGE;
    out.type = MJ_T_GROUPCHAT;
    out.body = S("hello");
    out.to = S(ROOM);
    CHECK_OUTCOME(fx_out(s, out), MJ_O_UNCHANGED);
    out.to = S(R("Bob")); /* a groupchat message to an occupant */
    CHECK_OUTCOME(fx_out(s, out), MJ_O_UNCHANGED);
    out.to = S("other@muc.example.org");
    CHECK_OUTCOME(fx_out(s, out), MJ_O_IGNORED);
    out.to = S(NULL);
    CHECK_OUTCOME(fx_out(s, out), MJ_O_IGNORED);
    /* an unusable or unprepared to: let go, not refused (nothing counted) */
    mj_stats before, after;
    mj_tracker_stats(tr, &before);
    static const char *const odd[] = {
        "a@b@c", "/x", "@", "ROOM@muc.example.org", "room@muc.example.org/"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        out.to = S(odd[i]);
        CHECK_OUTCOME(fx_out(s, out), MJ_O_IGNORED);
    }
    mj_tracker_stats(tr, &after);
    CHECK_INT(after.bad_jids, before.bad_jids);
    CHECK_INT(after.limits, before.limits);
    out.to = S(ROOM);
    out.type = MJ_T_OTHER; /* chat */
    CHECK_OUTCOME(fx_out(s, out), MJ_O_IGNORED);
    out.type = MJ_T_GROUPCHAT;
    fx_out(s, fx_pres("unavailable", R("Ann")));
    CHECK_STATE(s, ROOM, MJ_S_LEAVING);
    CHECK_OUTCOME(fx_out(s, out), MJ_O_IGNORED);
    CHECK_STATE(s, ROOM, MJ_S_LEAVING);
    CHECK_INT(mj_stanza_needs(1, MJ_KIND_MESSAGE, MJ_T_GROUPCHAT), MJ_NEED_TO);
    fx_take();
    mj_tracker_free(tr);
}

/* EXPECTING(o, m): the room announced m (303) and its occupants address
 * the user as m before m's self-presence comes (up to pending_timeout
 * when it is late): a mention of m is a mention, as one of o still is.
 * It was chatter (hostile review). */
TEST(mention_of_the_announced_nick_while_expecting)
{
    setup();
    announce_zed();
    CHECK_CLASS(msg(R("Bob"), "welcome, Zed"), MJ_M_MENTION);
    CHECK_CLASS(msg(R("Bob"), "still Ann?"), MJ_M_MENTION);
    CHECK_CLASS(msg(R("Bob"), "Zedd is someone else"), MJ_M_CHATTER);
    fx_take();
    mj_tracker_free(tr);
}

/* The tracker's path (mj_mention_text_cached: the byte search, else the
 * cached normal form) gives the ICU path's answer on the inputs where
 * they could part: ASCII bodies with nicks whose normal form is ASCII,
 * and bodies whose non-ASCII normalises to the nick's bytes. */
TEST(cached_path_equals_icu)
{
#define FILL "The quick brown fox jumps over the lazy dog, "
    static const char *const nicks[] = {"nick42", "\uff2eick42", "kelvin",
                                        "A.M.",   "\u33c2",      "ss"};
    static const char *const bodies[] = {
        FILL "nick42",
        FILL "NICK42!",
        FILL "nick42\u0301",
        FILL "nick\uff14\uff12",
        FILL "nick\u2074\u00b2",
        "\u00e9 " FILL "nick42",
        FILL "4",
        "x \u212aelvin",
        "KELVIN",
        "meet at \u33c2",
        "see you a.m.",
        "\u017f\u017f",
        "Stra\u00dfe",
        FILL FILL "ss",
    };
#undef FILL
    char occ[64];
    for (size_t n = 0; n < sizeof nicks / sizeof nicks[0]; n++) {
        tr = fx_tracker();
        s = fx_session(tr, "user@example.org/phone");
        snprintf(occ, sizeof occ, ROOM "/%s", nicks[n]);
        fx_join(s, occ);
        fx_self(s, "available", occ);
        fx_take();
        for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
            int want = -1;
            CHECK_INT(mj_mention_text_slow(bodies[b], strlen(bodies[b]),
                                           nicks[n], strlen(nicks[n]), &want),
                      MJ_OK);
            /* twice: the second time from the cache */
            for (int k = 0; k < 2; k++) {
                mj_msg_class c = cls(msg(R("Zed"), bodies[b]));
                if (c != (want ? MJ_M_MENTION : MJ_M_CHATTER))
                    FAIL_AT("nick \"%s\" body \"%s\": %s, ICU says %d",
                            nicks[n], bodies[b], mj_msg_class_name(c), want);
            }
        }
        mj_tracker_free(tr);
    }
}

/* One's own message is told by the nick prepared (Resourceprep); ASCII
 * nicks are compared as written, which is the same: the ASCII senders
 * below get mj_nick_equal()'s answer, and so do nicks that prepare to the
 * joined one. (A nick with a control does not prepare: its message is
 * not from an occupant at all.) */
TEST(own_nick_compared_prepared)
{
    static const char *const from[] = {
        "Ann",      "ann",  "ANN",  "Ann ",      " Ann",
        "An",       "Anna", "Ann.", "An\u00adn", /* soft hyphen: mapped to
                                                    nothing */
        "\uff21nn",                              /* fullwidth A: NFKC */
    };
    char occ[64];
    setup();
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        int own = mj_nick_equal(tr, from[i], strlen(from[i]), "Ann", 3);
        snprintf(occ, sizeof occ, ROOM "/%s", from[i]);
        mj_msg_class c = cls(msg(occ, "hello"));
        if (c != (own ? MJ_M_OWN : MJ_M_CHATTER))
            FAIL_AT("from \"%s\": %s, mj_nick_equal %d", from[i],
                    mj_msg_class_name(c), own);
    }
    CHECK_CLASS(msg(R("An\u00adn"), "hello"), MJ_M_OWN);
    CHECK_CLASS(msg(R("\uff21nn"), "hello"), MJ_M_OWN);
    CHECK_CLASS(msg(R("ann"), "hello"), MJ_M_CHATTER);
    mj_tracker_free(tr);
}

/* The body cache is keyed by the bytes looked at (the first 64 KiB), but
 * whether bytes were cut off after them belongs to the key too: a body of
 * exactly those bytes ends with the nick (a mention), a longer one goes
 * on after the cut (a match running up to the cut does not count). The
 * answer must not depend on which of the two came first. */
TEST(body_cache_keeps_the_cut)
{
    size_t n = MJ_MENTION_BODY_MAX;
    char *a = malloc(n + 2);
    /* non-ASCII, so the ICU (cached) path answers */
    memcpy(a, "\xc3\xa9 ", 3);
    memset(a + 3, ' ', n - 3);
    memcpy(a + n - 3, "Ann", 3);
    a[n] = 'e';
    a[n + 1] = '\0';
    for (int order = 0; order < 2; order++) {
        int want_short = -1, want_long = -1;
        CHECK_INT(mj_mention_text_slow(a, n, "Ann", 3, &want_short), MJ_OK);
        CHECK_INT(mj_mention_text_slow(a, n + 1, "Ann", 3, &want_long), MJ_OK);
        CHECK_INT(want_short, 1);
        CHECK_INT(want_long, 0);
        setup();
        for (int k = 0; k < 2; k++) {
            int longer = (k + order) % 2;
            mj_stanza m = msg(R("Zed"), "x");
            m.body.ptr = a;
            m.body.len = longer ? n + 1 : n;
            mj_msg_class c = cls(m);
            if (c != (longer ? MJ_M_CHATTER : MJ_M_MENTION))
                FAIL_AT("order %d, %s body: %s", order,
                        longer ? "longer" : "exact", mj_msg_class_name(c));
        }
        mj_tracker_free(tr);
    }
    free(a);
}

/* Delay markers as builders read them (mj_stanza_add_delay): the first
 * MJ_MAX_DELAY are listed, and past them the room's own (its bare JID,
 * any ASCII case) still takes the last slot, as Prosody's MUC appends it
 * after an occupant's markers. History either way. */
TEST(room_delay_after_a_full_list)
{
    char from[MJ_MAX_DELAY][32];
    setup();
    mj_stanza h = msg(R("Bob"), "Ann, earlier");
    for (int i = 0; i < MJ_MAX_DELAY; i++) {
        snprintf(from[i], sizeof from[i], "x%d@evil.example", i);
        CHECK_INT(mj_stanza_add_delay(&h, from[i], strlen(from[i])), i);
    }
    CHECK_CLASS(h, MJ_M_MENTION); /* no delay from the room seen */
    CHECK_INT(mj_stanza_add_delay(&h, "y@evil.example", 14), -1);
    CHECK_INT(mj_stanza_add_delay(&h, "Room@MUC.example.org", 20),
              MJ_MAX_DELAY - 1);
    CHECK_INT(mj_stanza_add_delay(&h, "example.org", 11), -1);
    CHECK_CLASS(h, MJ_M_HISTORY);
    CHECK_INT(mj_stanza_add_delay(&h, NULL, 0), -1);
    mj_tracker_free(tr);
}

/* The room's own marker past a full list is found ASCII case ignored,
 * a word at a time: every pair of bytes, at a place inside the words and
 * in the tail, compares as the byte-wise rule says (capitals A-Z equal
 * their small letters; '@' and '`', '[' and '{', bytes from 0x80 up: only
 * themselves). */
TEST(room_delay_compare_is_ascii_case_blind_and_nothing_more)
{
    char bare[32], from[32], full[40];
    for (int pos = 0; pos < 2; pos++) {
        size_t at = pos == 0 ? 5 : 17; /* in the first word; in the tail */
        for (int a = 1; a < 256; a++) {
            for (int b = 1; b < 256; b++) {
                memset(bare, 'q', 19);
                bare[19] = '\0';
                memcpy(from, bare, 20);
                bare[at] = (char)a;
                from[at] = (char)b;
                if (a == '/')
                    continue; /* ends the bare part */
                snprintf(full, sizeof full, "%s/Bob", bare);
                mj_stanza h;
                mj_stanza_init(&h);
                h.kind = MJ_KIND_MESSAGE;
                h.from = S(full);
                for (int i = 0; i < MJ_MAX_DELAY; i++)
                    mj_stanza_add_delay(&h, "x", 1);
                int la = a >= 'A' && a <= 'Z' ? a + 32 : a;
                int lb = b >= 'A' && b <= 'Z' ? b + 32 : b;
                int got = mj_stanza_add_delay(&h, from, 19) >= 0;
                if (got != (la == lb)) {
                    FAIL_AT("bytes 0x%02x 0x%02x at %zu: %d", a, b, at, got);
                    return;
                }
            }
        }
    }
}

/* Which children builders take for the stanza's content. A <subject/>
 * only in the stanza's own namespace (mj_stanza_own_ns(), util.stanza
 * get_child(), as Prosody's MUC tells a subject change): an occupant's
 * <subject xmlns='jabber:server'/> (or 'jabber:client' from another
 * server) is chatter the room broadcasts and keeps in the history with a
 * chat marker; taken for a subject, it ended the history of the next join
 * and made the old mentions after it live (examples/forged-subject-ns.xml).
 * A <body/>, <thread/> or <error/> in the namespace the client reads it in
 * (mj_stanza_client_ns()): also a child naming jabber:client, kept from
 * another server's stream. */
TEST(children_count_in_the_stanzas_own_namespace)
{
    CHECK(mj_stanza_own_ns(NULL, 0, NULL, 0));
    CHECK(!mj_stanza_own_ns(NULL, 0, "jabber:server", 13));
    CHECK(!mj_stanza_own_ns(NULL, 0, "jabber:client", 13));
    CHECK(!mj_stanza_own_ns(NULL, 0, "urn:example:other", 17));
    /* the client's: also jabber:client, never jabber:server */
    CHECK(mj_stanza_client_ns(NULL, 0, NULL, 0));
    CHECK(mj_stanza_client_ns(NULL, 0, "jabber:client", 13));
    CHECK(!mj_stanza_client_ns(NULL, 0, "jabber:server", 13));
    CHECK(!mj_stanza_client_ns(NULL, 0, "", 0));
    CHECK(!mj_stanza_client_ns(NULL, 0, "urn:example:other", 17));
    CHECK(mj_stanza_client_ns("jabber:client", 13, "jabber:client", 13));
    CHECK(!mj_stanza_client_ns("jabber:client", 13, "", 0));
    CHECK(!mj_stanza_own_ns(NULL, 0, "", 0));
    CHECK(mj_stanza_own_ns("jabber:client", 13, NULL, 0));
    CHECK(mj_stanza_own_ns("jabber:client", 13, "jabber:client", 13));
    CHECK(!mj_stanza_own_ns("jabber:client", 13, "jabber:server", 13));
    CHECK(!mj_stanza_own_ns("jabber:client", 13, "", 0));
    /* the stanza's own namespaces themselves */
    CHECK(mj_stanza_content_ns(NULL, 0));
    CHECK(mj_stanza_content_ns("jabber:server", 13));
    CHECK(!mj_stanza_content_ns("", 0));
}

/* CPU time of the thread. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The CPU time of classifying m for each of the 40 sessions, the
 * fastest of five rounds. */
static double classify_all_ms(mj_session *ss[40], mj_stanza m,
                              mj_msg_class want)
{
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = cpu_ms();
        for (int i = 0; i < 40; i++)
            CHECK_CLASS2(ss[i], m, want);
        double t = cpu_ms() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

/* A message's <delay from> JIDs are prepared once for all its recipients
 * whose rooms are still sending their history (before the subject), as
 * its references are. Before, each recipient prepared each of them again:
 * four markers whose from is a ~3 KB JID of characters NFKC expands cost
 * ~58 us a recipient, ~650 times the same message without them. */
TEST(delay_froms_prepared_once_for_all_recipients)
{
    mj_session *ss[40];
    const char *const nicks[4] = {"Ann", "Bob", "Carol", "Dan"};
    static char node[1100], dom[1100], res[1100], jid[3400];
    node[0] = dom[0] = res[0] = '\0';
    while (strlen(node) + 3 <= 1020)
        strcat(node, "\xef\xb7\xba"); /* U+FDFA */
    while (strlen(dom) + 3 <= 1020)
        strcat(dom, "\xef\xbc\xa1"); /* U+FF21 */
    while (strlen(res) + 3 <= 1020)
        strcat(res, "\xef\xb7\xba");
    snprintf(jid, sizeof jid, "%s@%s/%s", node, dom, res);

    tr = fx_tracker();
    occupants(ss, nicks); /* no subject yet: history may come */
    mj_stanza plain = msg(R("Zed"), "hello there");
    mj_stanza m = plain;
    for (int i = 0; i < MJ_MAX_DELAY; i++)
        CHECK_INT(mj_stanza_add_delay(&m, jid, strlen(jid)), i);
    double t_plain = classify_all_ms(ss, plain, MJ_M_CHATTER);
    double t_delays = classify_all_ms(ss, m, MJ_M_CHATTER);
    CHECK_INT(tr->delays.preps, MJ_MAX_DELAY);
    if (t_delays > 20 * t_plain + 0.5)
        FAIL_AT("with the markers: %.3f ms, without: %.3f ms", t_delays,
                t_plain);
    /* the room's JID written otherwise in a slot: prepared once, and
     * history for every recipient */
    m.delay_from[2] = S("Room@MUC.example.org.");
    for (int i = 0; i < 40; i++)
        CHECK_CLASS2(ss[i], m, MJ_M_HISTORY);
    CHECK_INT(tr->delays.preps, MJ_MAX_DELAY + 1);
    /* the same bytes at another address: still cached */
    char copy[64];
    snprintf(copy, sizeof copy, "%s", "Room@MUC.example.org.");
    m.delay_from[2] = S(copy);
    CHECK_CLASS2(ss[0], m, MJ_M_HISTORY);
    CHECK_INT(tr->delays.preps, MJ_MAX_DELAY + 1);
    /* a from that does not prepare is cached as such */
    m.delay_from[2] = S("a@b@c");
    CHECK_CLASS2(ss[0], m, MJ_M_CHATTER);
    CHECK_CLASS2(ss[1], m, MJ_M_CHATTER);
    CHECK_INT(tr->delays.preps, MJ_MAX_DELAY + 2);
    mj_tracker_free(tr); /* the allocator hook checks nothing is left */
}

int main(void)
{
    RUN(references_prepared_once_for_all_recipients);
    RUN(nick_as_a_word_mentions);
    RUN(body_normalised_once_for_all_recipients);
    RUN(mention_reference_mentions);
    RUN(own_history_and_other_messages);
    RUN(history_ends_with_the_subject);
    RUN(pending_room_has_no_mentions);
    RUN(incoming_mention_fires_event_with_writer);
    RUN(importance_for_csi_and_push);
    RUN(importance_of_chatter_with_a_wake_payload);
    RUN(importance_for_push_of_mentions_only);
    RUN(wake_children);
    RUN(nick_after_change_is_used);
    RUN(resent_join_restarts_history);
    RUN(join_resent_to_the_bare_room_restarts_history);
    RUN(nothing_is_a_mention_while_leaving);
    RUN(groupchat_sent_to_a_room_the_session_is_in_is_unchanged);
    RUN(mention_of_the_announced_nick_while_expecting);
    RUN(cached_path_equals_icu);
    RUN(own_nick_compared_prepared);
    RUN(body_cache_keeps_the_cut);
    RUN(room_delay_after_a_full_list);
    RUN(room_delay_compare_is_ascii_case_blind_and_nothing_more);
    RUN(children_count_in_the_stanzas_own_namespace);
    RUN(delay_froms_prepared_once_for_all_recipients);
    return test_summary("messages");
}

"""Mentions (docs/semantics.md §6) as muc-joins/mention events, and their use
for client state indication (§7: mod_csi_simple holds a room's chatter for an
inactive client and delivers a mention at once)."""

import time

from harness import NS_MUC_USER, joined, new_id, sroom, xa, xt

RESUME_DELAY = 0.2
PROSODY_OPTIONS = {"csi_resume_inactive_delay": RESUME_DELAY}
HOST_MODULES = ["csi_simple", "test_csi_opinion"]
NS_REF = "urn:xmpp:reference:0"


def say(c, r, body, extra=""):
    """c sends a groupchat message to r; returns its id once the room has
    reflected it to c (so every occupant has been sent it)."""
    mid = new_id("msg")
    m = c.mark()
    b = f"<body>{xt(body)}</body>" if body is not None else ""
    c.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}>{b}{extra}</message>")
    c.wait(lambda s: s.name == "message" and s.id == mid and s.type == "groupchat", m,
           what=f"the room's reflection of {body!r}")
    return mid


def got_message(c, mid, since=0):
    return c.wait(lambda s: s.name == "message" and s.id == mid, since,
                  what=f"the groupchat message {mid}")


def held(c, mid, since, what):
    """The message mid does not reach c for a while (CSI holds it)."""
    c.assert_none(lambda s: s.name == "message" and s.id == mid, since, duration=0.8,
                  what=what)


def mentions(c, seq, session, room):
    return [e for e in c.events(seq, room=room, session=session) if e["name"] == "mention"]


def two_in_room(connect, room, nick_a="Alice", nick_b="Bob"):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, nick_a)
    b.join(r, nick_b)
    return a, b, r


def test_nick_in_body_is_a_mention(connect, room):
    a, b, r = two_in_room(connect, room)
    seq = a.event_seq()
    m = a.mark()
    mid = say(b, r, "hello Alice, look at this")
    got_message(a, mid, m)
    evs = mentions(a, seq, a.jid, r)
    assert len(evs) == 1, f"expected one mention of Alice: {a.events(seq, room=r)}"
    assert mentions(a, seq, b.jid, r) == [], "the sender is not mentioned"


def test_own_message_is_not_a_mention(connect, room):
    a, b, r = two_in_room(connect, room)
    seq = a.event_seq()
    say(a, r, "Alice is me")
    assert mentions(a, seq, a.jid, r) == []


WORD_CASES = [
    ("Annie is here", False),
    ("Anń is here", False),
    ("Ann_x is here", False),
    ("Ann's cat", True),
    ("@Ann: hi", True),
    ("where is ann?", True),
    ("ANN", True),
]


def test_whole_word_rules(connect, room):
    a, b, r = two_in_room(connect, room, nick_a="Ann")
    wrong = []
    for body, expect in WORD_CASES:
        seq = a.event_seq()
        m = a.mark()
        got_message(a, say(b, r, body), m)
        if bool(mentions(a, seq, a.jid, r)) != expect:
            wrong.append(f"{body!r}: expected {'a' if expect else 'no'} mention of Ann")
    assert not wrong, "\n".join(wrong)


def test_case_folding_strasse(connect, room):
    a, b, r = two_in_room(connect, room, nick_a="Straße")
    seq = a.event_seq()
    m = a.mark()
    got_message(a, say(b, r, "STRASSE, are you there?"), m)
    assert len(mentions(a, seq, a.jid, r)) == 1, "STRASSE mentions Straße (full case folding)"


def test_reference_mentions(connect, room):
    a, b, r = two_in_room(connect, room, nick_a="Ann Lee")
    cases = [
        f"xmpp:{r}/Ann%20Lee",       # percent-encoded room/nick
        f"xmpp:{a.bare}",            # the user's bare JID
    ]
    wrong = []
    for uri in cases:
        seq = a.event_seq()
        m = a.mark()
        ref = f"<reference xmlns='{NS_REF}' type='mention' uri={xa(uri)}/>"
        got_message(a, say(b, r, "look at this", ref), m)
        if len(mentions(a, seq, a.jid, r)) != 1:
            wrong.append(f"reference uri={uri!r}: expected a mention")
    seq = a.event_seq()
    m = a.mark()
    ref = f"<reference xmlns='{NS_REF}' type='mention' uri={xa('xmpp:' + r + '/Bob')}/>"
    got_message(a, say(b, r, "look at this", ref), m)
    if mentions(a, seq, a.jid, r):
        wrong.append("a reference to someone else mentioned Ann Lee")
    assert not wrong, "\n".join(wrong)


def test_white_space_at_the_nicks_ends_is_no_part_of_it(connect, room):
    """Prosody's MUC takes a nick with a space at its start or end (only a
    nick of white space only is refused); that space is no part of the
    word: " Ann" is mentioned by "hi Ann"."""
    a, b, r = two_in_room(connect, room, nick_a=" Ann")
    wrong = []
    for body, expect in [("hi Ann", True), ("Ann, look", True), ("JoAnn", False)]:
        seq = a.event_seq()
        m = a.mark()
        got_message(a, say(b, r, body), m)
        if bool(mentions(a, seq, a.jid, r)) != expect:
            wrong.append(f"{body!r}: expected {'a' if expect else 'no'} mention of ' Ann'")
    assert not wrong, "\n".join(wrong)


def test_invisible_characters_and_the_phones_apostrophe(connect, room):
    """Prosody's MUC holds a nick without what Resourceprep maps to nothing
    (ZWNJ, ZWJ, variation selectors): a Persian nick typed with its ZWNJ and
    a heart typed with its variation selector are mentioned as people type
    them, and the held nick (rooms_joined) is the room's. The apostrophe a
    phone types (U+2019) is the ASCII one."""
    typed = {"persian": "نیک\u200cنام", "heart": "\u2764\ufe0f", "apostrophe": "O'Neil"}
    held = {"persian": "نیکنام", "heart": "\u2764", "apostrophe": "O'Neil"}
    bodies = {
        "persian": [("سلام نیک\u200cنام!", True), ("سلام نیکنام", True),
                    ("نیک\u200cنام\u200cها", False)],
        "heart": [("hi \u2764\ufe0f!", True), ("hi \u2764", True),
                  ("\u2764\ufe0f\u2764\ufe0f", False)],
        "apostrophe": [("hi O\u2019Neil, é", True), ("O\u2019Neills", False)],
    }
    wrong = []
    for k in typed:
        a, b, r = two_in_room(connect, room, nick_a=typed[k])
        got = a.rooms()
        if got.get(r) != held[k]:
            wrong.append(f"{k}: rooms_joined {dict(got)!r}, expected {held[k]!r}")
        for body, expect in bodies[k]:
            seq = a.event_seq()
            m = a.mark()
            got_message(a, say(b, r, body), m)
            if bool(mentions(a, seq, a.jid, r)) != expect:
                wrong.append(f"{k}: {body!r}: expected {'a' if expect else 'no'} mention")
    assert not wrong, "\n".join(wrong)


def test_white_space_nick_is_never_found_in_a_body(connect, component, room):
    """A space is a valid resource (Resourceprep accepts it). Prosody's MUC
    refuses such an "invisible" nick, another service (here the scripted
    one) need not: it would stand as a word between two emoji or
    punctuation marks, so a nick of white space only is never found in a
    body (a reference to it still mentions it)."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, " ")
    component.deliver(a, f"<message from={xa(r)} to={xa(a.jid)} type='groupchat'>"
                         "<subject/></message>")
    wrong = []
    for i, body in enumerate(["ok! :)", "haha \U0001F602 \U0001F602", "a - b ?"]):
        seq = a.event_seq()
        mid = f"ws{i}"
        m = component.deliver(a, f"<message from={xa(r + '/Bob')} to={xa(a.jid)} "
                                 f"type='groupchat' id={xa(mid)}><body>{xt(body)}</body></message>")
        got_message(a, mid, m)
        if mentions(a, seq, a.jid, r):
            wrong.append(f"{body!r} mentioned the nick ' '")
    seq = a.event_seq()
    ref = f"<reference xmlns='{NS_REF}' type='mention' uri={xa('xmpp:' + r + '/%20')}/>"
    m = component.deliver(a, f"<message from={xa(r + '/Bob')} to={xa(a.jid)} "
                             f"type='groupchat' id='ws-ref'><body>look</body>{ref}</message>")
    got_message(a, "ws-ref", m)
    if len(mentions(a, seq, a.jid, r)) != 1:
        wrong.append("a reference to room/%20 did not mention the nick ' '")
    assert not wrong, "\n".join(wrong)


def join_for_history(connect, r):
    """Alice joins r and receives its history: her client, the event
    sequence before the join, the history's message."""
    a = connect("alice")
    seq = a.event_seq()
    m = a.mark()
    a.join(r, "Alice")
    hist = a.wait(lambda s: s.name == "message" and s.type == "groupchat" and
                  s.child("body", "jabber:client") is not None, m,
                  what="the room history")
    return a, seq, hist


def test_room_history_is_not_a_mention(connect, room):
    b = connect("bob")
    r = room()
    b.join(r, "Bob")
    say(b, r, "Alice, when you come: hello")
    a, seq, hist = join_for_history(connect, r)
    assert hist.child("delay", "urn:xmpp:delay") is not None, f"history carries <delay/>: {hist}"
    assert mentions(a, seq, a.jid, r) == [], "a mention in the room history is not a mention"


def test_history_with_an_occupants_delays_is_not_a_mention(connect, room):
    # Prosody's MUC keeps an occupant's delays (it strips only those
    # claiming to be from the room) and appends its own after them
    b = connect("bob")
    r = room()
    b.join(r, "Bob")
    junk = "".join(f"<delay xmlns='urn:xmpp:delay' from='x{i}@evil.example' "
                   f"stamp='2020-01-01T00:00:00Z'/>" for i in range(6))
    say(b, r, "Alice, when you come: hello", junk)
    a, seq, hist = join_for_history(connect, r)
    froms = [d.get("from") for d in hist.children("delay", "urn:xmpp:delay")]
    assert froms[-1] == r, f"the room's delay comes last: {froms}"
    assert mentions(a, seq, a.jid, r) == [], \
        f"a mention in the room history is not a mention (delays from {froms}): {hist}"


def test_private_message_is_not_a_groupchat_mention(connect, room):
    a, b, r = two_in_room(connect, room)
    seq = a.event_seq()
    mid = new_id("pm")
    m = a.mark()
    b.send(f"<message type='chat' to={xa(r + '/Alice')} id={xa(mid)}><body>Alice!</body>"
           f"<x xmlns='{NS_MUC_USER}'/></message>")
    got_message(a, mid, m)
    assert mentions(a, seq, a.jid, r) == []


# CSI: the module's csi-is-stanza-important handler


def go_inactive(c):
    """Send <inactive/>; the iq answered after it proves it was processed.
    The iq answer itself flushes, and mod_csi_simple resumes holding
    RESUME_DELAY later: wait that long (bounded)."""
    c.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    c.event_seq()  # any iq round trip
    time.sleep(RESUME_DELAY + 0.5)


def test_csi_holds_chatter_and_delivers_mention(connect, room):
    a, b, r = two_in_room(connect, room)
    go_inactive(a)
    m = a.mark()
    chatter = say(b, r, "just chatting, nobody in particular")
    held(a, chatter, m, "delivery of unimportant room chatter to an inactive client")
    mention = say(b, r, "Alice: now this is for you")
    got_message(a, mention, m)
    order = [s.id for s in a.received(m) if s.name == "message"]
    assert chatter in order and order.index(chatter) < order.index(mention), (
        f"the held chatter is flushed before the mention: {order}")


def test_csi_another_modules_opinion_stands(connect, room):
    """Another module's verdict (mod_test_csi_opinion at priority 0, as
    mod_csi_muc_priorities gives its own) comes before the module's: its
    handler ran at priority 10 and held such chatter, stopping the event
    before the other module was asked."""
    a, b, r = two_in_room(connect, room)
    go_inactive(a)
    m = a.mark()
    urgent = say(b, r, "URGENT: the server room is on fire")
    got_message(a, urgent, m)


def test_csi_private_message_from_room_still_important(connect, room):
    a, b, r = two_in_room(connect, room)
    go_inactive(a)
    m = a.mark()
    mid = new_id("pm")
    b.send(f"<message type='chat' to={xa(r + '/Alice')} id={xa(mid)}><body>psst</body>"
           f"<x xmlns='{NS_MUC_USER}'/></message>")
    got_message(a, mid, m)

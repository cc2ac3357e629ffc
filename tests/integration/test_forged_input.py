"""Who may change a session's entries (docs/semantics.md §3): only presences
answering a join the session itself sent. Everything here reaches the client
unchanged (the stanza goes on) but must not create, change or remove an
entry."""

from harness import (
    NS_MUC, NS_MUC_USER, assert_events, assert_rooms, is_presence, joined,
    new_id, self_presence, sroom, start_join, xa)

TRACKING = ("joined", "left", "nick-changed", "nick-rewritten")


def deliver_from_client(sender, to_client, xml):
    """sender sends xml, then a marker message; wait until to_client has
    the marker (Prosody routes c2s to c2s in order)."""
    mk = new_id("sync")
    m = to_client.mark()
    sender.send(xml + f"<message to={xa(to_client.jid)} id={xa(mk)} type='headline'/>")
    to_client.wait(lambda s: s.name == "message" and s.id == mk, m,
                   what=f"the marker from {sender.jid}")
    return m


def test_self_presence_from_room_never_joined_is_ignored(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    m = component.deliver(a, self_presence(f"{r}/Alice", a.jid, codes=("100", "110", "201")))
    assert a.find(lambda s: is_presence(s, frm=r + "/Alice", self_=True), m), \
        "the forged presence must still reach the client"
    assert_rooms(a, {}, when="after a self-presence from a room never joined")
    assert_events(a, seq, [], session=a.jid, names=TRACKING)


def test_forged_unavailable_self_presence_does_not_touch_other_rooms(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    other = sroom(room)
    component.deliver(a, self_presence(f"{other}/Alice", a.jid, type_="unavailable"))
    assert_rooms(a, {r: "Alice"}, when="after an unavailable 110 from a room never joined")


def test_self_presence_to_a_session_that_did_not_join(connect, component, room):
    """The account's other session is in the room; this one never asked."""
    a1 = connect("alice")
    a2 = connect("alice")
    r = sroom(room)
    joined(a1, component, r, "Alice")
    component.deliver(a2, self_presence(f"{r}/Alice", a2.jid))
    assert_rooms(a2, {}, when="after a self-presence to the session that did not join")
    assert_rooms(a1, {r: "Alice"}, when="(the session that joined)")


def test_self_presence_to_bare_jid_creates_nothing(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    m = component.deliver(a, self_presence(f"{r}/Alice", a.bare))
    assert a.find(lambda s: is_presence(s, frm=r + "/Alice"), m), "delivered to the bare JID"
    assert_rooms(a, {}, when="after a self-presence addressed to the bare JID")


def test_110_from_contact_after_directed_presence_is_ignored(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    seq = a.event_seq()
    a.send(f"<presence to={xa(b.jid)}/>")  # directed presence, no MUC <x/>
    forged = (f"<presence to={xa(a.jid)}><x xmlns='{NS_MUC_USER}'>"
              f"<item affiliation='owner' role='moderator'/><status code='110'/></x></presence>")
    m = deliver_from_client(b, a, forged)
    assert a.find(lambda s: is_presence(s, frm=b.jid, self_=True), m), "bob's presence arrives"
    assert_rooms(a, {r: "Alice"}, when="after a contact's presence carrying 110")
    unavailable = (f"<presence type='unavailable' to={xa(a.jid)}><x xmlns='{NS_MUC_USER}'>"
                   f"<status code='110'/><status code='307'/></x></presence>")
    deliver_from_client(b, a, unavailable)
    assert_rooms(a, {r: "Alice"}, when="after a contact's unavailable carrying 110")
    assert_events(a, seq, [], session=a.jid, names=TRACKING)


def test_join_answered_without_110_is_not_recorded(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    j = start_join(a, component, r, "Alice")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id, codes=("100",)))
    assert_rooms(a, {}, when="after an answer without 110")
    assert_events(a, seq, [], session=a.jid, names=TRACKING)


def test_join_answered_with_error_carrying_110_is_not_recorded(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    j = start_join(a, component, r, "Alice")
    component.deliver(a, (
        f"<presence from={xa(r + '/Alice')} to={xa(a.jid)} type='error' id={xa(j.id)}>"
        f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='participant'/>"
        f"<status code='110'/></x>"
        f"<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
        f"</presence>"))
    assert_rooms(a, {}, when="after a presence error carrying 110")
    assert_events(a, seq, [{"name": "join-failed", "condition": "not-allowed"}], room=r)
    # the join is over: a later self-presence is unsolicited
    component.deliver(a, self_presence(f"{r}/Alice", a.jid))
    assert_rooms(a, {}, when="after a self-presence following the refused join")


def test_duplicate_self_presence_one_entry_one_event(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    j = start_join(a, component, r, "Alice")
    for _ in range(3):
        component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
    assert_rooms(a, {r: "Alice"}, when="after the same self-presence three times")
    assert_events(a, seq, [{"name": "joined", "nick": "Alice"}], room=r)


WRONG_110 = {
    "muc namespace": f"<x xmlns='{NS_MUC}'><status code='110'/></x>",
    "muc#admin namespace": "<x xmlns='http://jabber.org/protocol/muc#admin'><status code='110'/></x>",
    "status outside x": "<status code='110'/>",
    "status inside item": f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='participant'>"
                          "<status code='110'/></item></x>",
    "status text not code": f"<x xmlns='{NS_MUC_USER}'><status>110</status></x>",
}


def test_110_in_wrong_place_means_nothing(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    j = start_join(a, component, r, "Alice")
    for what, payload in WRONG_110.items():
        component.deliver(a, f"<presence from={xa(r + '/Alice')} to={xa(a.jid)} "
                             f"id={xa(j.id)}>{payload}</presence>")
        assert_rooms(a, {}, when=f"after a presence with 110 in the wrong place ({what})")
    assert_events(a, seq, [], session=a.jid, names=TRACKING)
    # the join is still pending: the real answer is accepted
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
    assert_rooms(a, {r: "Alice"}, when="after the proper self-presence")


def test_self_presence_from_bare_room_jid_is_ignored(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    j = start_join(a, component, r, "Alice")
    component.deliver(a, self_presence(r, a.jid, id_=j.id))
    assert_rooms(a, {}, when="after an available self-presence from the bare room JID")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
    assert_rooms(a, {r: "Alice"}, when="after the proper self-presence")
    component.deliver(a, self_presence(r, a.jid, type_="unavailable"))
    assert_rooms(a, {r: "Alice"}, when="after an unavailable self-presence from the bare room JID")


def test_presence_without_muc_x_to_a_room_is_not_a_join(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    m = component.mark()
    a.join(r, "Alice", x=False, wait=False)  # groupchat 1.0 / plain directed presence
    component.wait_presence(m, frm=a.jid, to_bare=r, what="the directed presence")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid))
    assert_rooms(a, {}, when="after a 110 answering presence without MUC <x/> "
                 "(legacy joins are off by default)")


def test_nick_change_request_is_not_a_join(connect, component, room):
    """Available presence without <x/> to a room the session is not in: not
    a join, so a 110 answering it is refused."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    other = sroom(room)
    m = component.mark()
    a.send(f"<presence to={xa(other + '/Alice')}><show>dnd</show></presence>")
    component.wait_presence(m, frm=a.jid, to_bare=other, what="the presence")
    component.deliver(a, self_presence(f"{other}/Alice", a.jid))
    assert_rooms(a, {r: "Alice"}, when="after a 110 from a room only sent a presence update")

"""mod_blocklist (XEP-0191) on the VirtualHost: a presence the session
sends to a JID it blocked is bounced by Prosody (an error with
<blocked xmlns='urn:xmpp:blocking:errors'/>) and never reaches the room,
so the session is still an occupant and keeps its rooms_joined entry
(docs/semantics.md §7, "Stanzas that never leave the server").

Prosody 0.12's mod_blocklist bounces pre-presence/full at priority 100
and pre-presence/bare and /host at -1, mod_firewall's preroute chain
stops what its rules say at 0.1 (mod_test_preroute_drop does the same
here): the module reads what a session sends below all of them, at -2."""

import time

from harness import (
    NS_MUC_USER, assert_events, assert_rooms, is_presence, joined, new_id, sroom,
    wait_events, xa)

HOST_MODULES = ("blocklist", "test_preroute_drop")
TIMEOUT = 3
# a leave the room never got would be LEAVING, still shown, until then
PROSODY_OPTIONS = {"track_muc_joins_pending_timeout": TIMEOUT,
                   "track_muc_joins_ping_start_delay": 1}

NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
DROP = "<drop xmlns='urn:mucjoins:test'/>"  # mod_test_preroute_drop bounces it
# mod_test_preroute_drop drops a message carrying it at delivery (message/full, 0.1)
DROP_DELIVERY = "<drop-delivery xmlns='urn:mucjoins:test'/>"


def block(client, jid, action="block"):
    """Block (or unblock) jid: an iq to the account itself."""
    iq_id = new_id("block")
    m = client.mark()
    client.send(f"<iq type='set' id={xa(iq_id)}><{action} xmlns='{NS_BLOCKING}'>"
                f"<item jid={xa(jid)}/></{action}></iq>")
    r = client.wait(lambda s: s.name == "iq" and s.id == iq_id, m,
                    what=f"the answer to the {action} of {jid}")
    assert r.type == "result", f"{action} of {jid} failed: {r}"


def bounced(frm):
    def pred(s):
        if not is_presence(s, frm=frm, type_="error"):
            return False
        err = s.child("error", "jabber:client")
        return err is not None and err.find(f"{{{NS_BLOCKING_ERRORS}}}blocked") is not None
    return pred


def settled():
    """Past pending_timeout: a leave taken for sent has timed out by now."""
    time.sleep(TIMEOUT + 1.5)


def still_occupant(connect, r, nick):
    """A new occupant is sent the presence of every occupant: nick's."""
    b = connect("bob")
    m = b.mark()
    b.join(r, "Bob")
    b.wait(lambda s: is_presence(s, frm=f"{r}/{nick}", type_=None), m,
           what=f"{nick}'s presence, sent to a new occupant of {r}")


def bounced_leave_keeps_entry(a, r, to, leave_id, when):
    """a, in r as Alice with `to` blocked, sends an unavailable to `to`:
    mod_blocklist bounces it, and the entry stays."""
    m = a.mark()
    a.send(f"<presence type='unavailable' to={xa(to)} id={xa(leave_id)}/>")
    a.wait(bounced(to), m, what="mod_blocklist's bounce of the unavailable")
    assert_rooms(a, {r: "Alice"}, when=when)


def test_blocked_unavailable_to_bare_room_keeps_entry(connect, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    block(a, r)
    bounced_leave_keeps_entry(a, r, r, "gone-1",
                              "after an unavailable to the bare room that mod_blocklist bounced")
    settled()
    assert_rooms(a, {r: "Alice"}, when="past pending_timeout")
    still_occupant(connect, r, "Alice")
    assert_rooms(a, {r: "Alice"}, when="after another occupant joined")


def test_blocked_unavailable_to_own_nick_keeps_entry(connect, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    block(a, r)
    bounced_leave_keeps_entry(a, r, r + "/Alice", "gone-2",
                              "after an unavailable to the occupant that mod_blocklist bounced")
    settled()
    assert_rooms(a, {r: "Alice"}, when="past pending_timeout")
    still_occupant(connect, r, "Alice")


def test_blocked_unavailable_to_service_keeps_entry(connect, room):
    """An unavailable to the MUC's domain: Prosody's MUC hands it to no
    room (mod_muc's presence/host goes to the room of the host JID), and
    a blocked domain bounces it. A blocked domain blocks its rooms too:
    the unavailable to the bare room (bounced at pre-presence/bare, -1)
    never reaches it either. (The one to the domain is no leave for the
    core, whenever it is read: the one to the room is what fails when
    the module reads before mod_blocklist.)"""
    a = connect("alice")
    r = room()
    service = r.split("@", 1)[1]
    a.join(r, "Alice")
    block(a, service)
    bounced_leave_keeps_entry(a, r, service, "gone-3",
                              "after an unavailable to the blocked MUC domain")
    bounced_leave_keeps_entry(a, r, r, "gone-3b",
                              "after an unavailable to a room of the blocked MUC domain")
    block(a, service, "unblock")
    settled()
    assert_rooms(a, {r: "Alice"}, when="past pending_timeout")
    still_occupant(connect, r, "Alice")


def test_unblocked_unavailable_to_bare_room_still_leaves(connect, room):
    """The same leave, with the room unblocked again, reaches the room."""
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    block(a, r)
    block(a, r, "unblock")
    m = a.mark()
    a.send(f"<presence type='unavailable' to={xa(r)}/>")
    a.wait(lambda s: is_presence(s, frm_bare=r, type_="unavailable", self_=True), m,
           what="the unavailable self-presence")
    assert_rooms(a, {}, when="after leaving via the bare room JID, unblocked")


def test_broadcast_unavailable_keeps_only_the_blocked_room(connect, room):
    """A broadcast unavailable: mod_presence sends it to each JID the
    session sent directed presence to (pre-presence/full), and
    mod_blocklist bounces the one to the blocked room. The other room
    gets it and confirms the leave."""
    a = connect("alice")
    r1, r2 = room(), room()
    a.join(r1, "Alice")
    a.join(r2, "Ali")
    block(a, r1)
    m = a.mark()
    a.send("<presence type='unavailable' id='gone-4'/>")
    a.wait(bounced(r1 + "/Alice"), m, what="mod_blocklist's bounce of the unavailable to r1")
    a.wait(lambda s: is_presence(s, frm_bare=r2, type_="unavailable", self_=True), m,
           what=f"the unavailable self-presence from {r2}")
    assert_rooms(a, {r1: "Alice"}, when="after a broadcast unavailable, r1 blocked")
    settled()
    assert_rooms(a, {r1: "Alice"}, when="past pending_timeout")
    still_occupant(connect, r1, "Alice")


def dropped(frm, name="presence"):
    def pred(s):
        return s.name == name and s.type == "error" and s.frm == frm and \
            s.error_condition == "policy-violation"
    return pred


def test_unavailable_stopped_at_preroute_keeps_entry(connect, room):
    """A module below the module's old priority (10) and above mod_presence
    (0), as mod_firewall's preroute chain (0.1), bounces the leave."""
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    for to in (r + "/Alice", r):
        m = a.mark()
        a.send(f"<presence type='unavailable' to={xa(to)}>{DROP}</presence>")
        a.wait(dropped(to), m, what=f"the bounce of the unavailable to {to}")
        assert_rooms(a, {r: "Alice"}, when=f"after an unavailable to {to} stopped before routing")
    settled()
    assert_rooms(a, {r: "Alice"}, when="past pending_timeout")
    still_occupant(connect, r, "Alice")


def test_errors_stopped_at_preroute_keep_entry(connect, room):
    """A presence error and a kickable message error make Prosody's MUC
    remove the sender; stopped before routing, they reach no room."""
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    a.send(f"<presence type='error' to={xa(r + '/Alice')}>{DROP}<error type='cancel'>"
           f"<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
    a.send(f"<message type='error' to={xa(r + '/Bob')}>{DROP}<error type='cancel'>"
           f"<recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    a.iq("<ping xmlns='urn:xmpp:ping'/>")  # both processed by now
    assert_rooms(a, {r: "Alice"}, when="after errors to the room stopped before routing")
    settled()
    assert_rooms(a, {r: "Alice"}, when="past pending_timeout")
    still_occupant(connect, r, "Alice")


# What a blocked room sends: mod_blocklist drops it at presence/full and
# iq/full (priority 100) before the client gets it, but the room did
# send it, and the module reads it first.

def test_kick_from_a_blocked_room_ends_entry(connect, room):
    """The room removed the session: that it cannot tell the client (the
    user blocked it) does not keep the session in the room."""
    b = connect("bob")
    a = connect("alice")
    r = room()
    b.join(r, "Bob")  # the owner: the room's creator
    a.join(r, "Alice")
    block(a, r)
    seq = a.event_seq()
    m, mb = a.mark(), b.mark()
    b.admin_iq(r, "<item nick='Alice' role='none'/>")
    b.wait(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable"), mb,
           what="Alice's removal, as the other occupants see it")
    assert_rooms(a, {}, when="after the room kicked the session (its presence dropped by mod_blocklist)")
    assert_events(a, seq, [{"name": "left", "reason": "kicked"}], room=r)
    assert not a.find(lambda s: s.name == "presence" and s.frm and s.frm.startswith(r), m), \
        "mod_blocklist delivers nothing of the blocked room"


def test_self_ping_of_a_blocked_room_is_answered(connect, component, room):
    """The module's own self-ping and its answer are the module's, not the
    user's: a ghost in a blocked room is found."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    block(a, r)
    seq = a.event_seq()
    mc = component.mark()
    # an unavailable from the session's own nick without a valid 110: the
    # module asks the room
    component.deliver(a, f"<presence from={xa(r + '/Alice')} to={xa(a.jid)} type='unavailable'>"
                         f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='none'/>"
                         f"<status code='11O'/></x></presence>")
    ping = component.wait(lambda s: s.name == "iq" and s.type == "get" and s.frm == a.jid and
                          s.to == f"{r}/Alice", mc, timeout=10,
                          what="the module's self-ping of the blocked room")
    component.deliver(a, f"<iq type='error' from={xa(ping.to)} to={xa(ping.frm)} id={xa(ping.id)}>"
                         f"<ping xmlns='urn:xmpp:ping'/><error type='cancel' by={xa(r)}>"
                         f"<not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
    wait_events(a, seq, lambda e: e["name"] == "left", room=r, what="the ghost's left event")
    assert_rooms(a, {}, when="after the room said the session is not in it")
    assert_events(a, seq, [{"name": "left", "reason": "ghost"}], room=r, names=("left",))


def test_message_dropped_at_delivery_mentions_nobody(connect, room):
    """A groupchat message a module drops on its way to the session (as a
    mod_firewall deliver rule does, at message/full priority 0.1) is never
    given to the client: it mentions nobody (docs/semantics.md §7). The
    same message not dropped does."""
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    seq = a.event_seq()
    dropped, kept = new_id("dropped"), new_id("kept")
    m = a.mark()
    b.send(f"<message type='groupchat' to={xa(r)} id={xa(dropped)}>"
           f"<body>Alice, this one is dropped</body>{DROP_DELIVERY}</message>")
    b.send(f"<message type='groupchat' to={xa(r)} id={xa(kept)}>"
           f"<body>Alice, this one is not</body></message>")
    # the room sends them in order: once the second is here, the first was dropped
    a.wait(lambda s: s.name == "message" and s.id == kept, m, what="the message not dropped")
    a.assert_none(lambda s: s.name == "message" and s.id == dropped, m, duration=0.3,
                  what="the message dropped at delivery")
    mentions = [e for e in a.events(seq, room=r, session=a.jid) if e["name"] == "mention"]
    assert len(mentions) == 1, f"expected one mention (the message not dropped): {mentions}"

"""Ghost joins and XEP-0410 self-ping (docs/semantics.md §5): where presences
leave membership ambiguous the module asks the room (an iq ping from the
session's full JID to room/nick) instead of guessing. The scripted room answers
each ping as the test prescribes."""

import os
import socket
import time

import pytest

from harness import (
    NS_MUC_USER, SCRIPTED, SCRIPTED2, ScriptedComponent, assert_events,
    assert_rooms, is_presence, joined, new_id, self_presence, sroom, wait_events,
    xa)

# Short delays so the suite stays fast (the module's own options; without
# them the defaults apply and only the waits get longer).
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 1,
    "track_muc_joins_ping_backoff": 1,
}
NS_PING = "urn:xmpp:ping"
NS_DISCO = "http://jabber.org/protocol/disco#info"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
# Pings wait a start delay (docs/semantics.md §5: ping_start_delay, set
# above). Once a wait for a ping has timed out in this file without any
# ping seen, later waits are short: the module does not ping at all, and
# the suite should fail fast rather than slowly.
PING_WAIT = float(os.environ.get("MUCJOINS_IT_PING_WAIT", "15"))
_pings_seen = {"any": None}


def wait_ping(comp, since, a, r, nick, timeout=None):
    """The self-ping the module sends for a's session in room r."""
    timeout = PING_WAIT if timeout is None else timeout
    if _pings_seen["any"] is False:
        timeout = 2
    try:
        p = comp.wait(
            lambda s: s.name == "iq" and s.type == "get" and s.frm == a.jid and
            s.to == f"{r}/{nick}" and s.child("ping", NS_PING) is not None,
            since, timeout=timeout, what=f"a self-ping from {a.jid} to {r}/{nick}" +
            (" (no self-ping seen so far in this file: short wait)"
             if _pings_seen["any"] is False else ""))
    except AssertionError:
        if _pings_seen["any"] is None:
            _pings_seen["any"] = False
        raise
    _pings_seen["any"] = True
    return p


def ping_error(ping, condition, type_="cancel", by=None):
    b = f" by={xa(by)}" if by else ""
    return (f"<iq type='error' from={xa(ping.to)} to={xa(ping.frm)} id={xa(ping.id)}>"
            f"<ping xmlns='{NS_PING}'/><error type={xa(type_)}{b}>"
            f"<{condition} xmlns='{STANZAS}'/></error></iq>")


def ping_result(ping):
    return f"<iq type='result' from={xa(ping.to)} to={xa(ping.frm)} id={xa(ping.id)}/>"


def ambiguous_unavailable(r, nick, to):
    """Unavailable from the session's own nick with no valid 110."""
    return (f"<presence from={xa(r + '/' + nick)} to={xa(to)} type='unavailable'>"
            f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='none'/>"
            f"<status code='11O'/></x></presence>")


def ask_ping(comp, a, r, nick="Alice"):
    """An unavailable from a's own nick in r without a valid 110 (membership
    unclear): returns the self-ping the module sends for it."""
    mc = comp.mark()
    comp.deliver(a, ambiguous_unavailable(r, nick, a.jid))
    return wait_ping(comp, mc, a, r, nick)


def assert_ghost_removed(a, comp, r, nick, seq, m):
    assert_rooms(a, {}, when="after the self-ping said 'not joined'")
    evs = [e for e in a.events(seq, room=r) if e["name"] == "left"]
    assert len(evs) == 1 and evs[0].get("reason") == "ghost", f"expected left/ghost: {evs}"
    p = a.wait(lambda s: is_presence(s, frm=f"{r}/{nick}", type_="unavailable", self_=True), m,
               what="the unavailable self-presence (110 + 333) the module sends the client")
    assert "333" in p.status_codes, f"expected 110 and 333: {p}"


def test_ping_from_own_nick_is_answered_by_the_module(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    pid = new_id("rp")
    m, mc = a.mark(), component.mark()
    component.deliver(a, f"<iq type='get' from={xa(r + '/Alice')} to={xa(a.jid)} id={xa(pid)}>"
                         f"<ping xmlns='{NS_PING}'/></iq>")
    ans = component.wait(lambda s: s.name == "iq" and s.id == pid, mc,
                         what="the answer to the room's ping")
    assert ans.type == "result", f"the module must answer the room's self-ping: {ans}"
    assert not a.find(lambda s: s.name == "iq" and s.id == pid, m), \
        "the room's self-ping must not reach the client"


def test_ping_from_other_occupant_reaches_the_client(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    pid = new_id("op")
    m = component.deliver(a, f"<iq type='get' from={xa(r + '/Bob')} to={xa(a.jid)} id={xa(pid)}>"
                             f"<ping xmlns='{NS_PING}'/></iq>")
    assert a.find(lambda s: s.name == "iq" and s.id == pid, m), \
        "a ping from another occupant is the client's business"


def test_presence_error_from_joined_room_keeps_entry_and_pings(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    mc = component.mark()
    component.deliver(a, (
        f"<presence type='error' from={xa(r + '/Alice')} to={xa(a.jid)}>"
        f"<error type='cancel'><item-not-found xmlns='{STANZAS}'/></error></presence>"))
    assert_rooms(a, {r: "Alice"}, when="after a presence error from a joined room")
    ping = wait_ping(component, mc, a, r, "Alice")
    component.deliver(a, ping_result(ping))
    assert_rooms(a, {r: "Alice"}, when="after the self-ping said 'joined'")
    assert_events(a, seq, [], room=r, session=a.jid)


def test_ambiguous_unavailable_then_not_acceptable_removes_ghost(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    mc, m = component.mark(), a.mark()
    component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
    assert_rooms(a, {r: "Alice"}, when="after an unavailable from the own nick without valid 110")
    ping = wait_ping(component, mc, a, r, "Alice")
    component.deliver(a, ping_error(ping, "not-acceptable", by=r))
    assert_ghost_removed(a, component, r, "Alice", seq, m)


def test_ghost_after_a_303_is_told_from_the_announced_nick(connect, component, room):
    """The room announced Alice -> Alicia (303) and the self-presence from
    Alicia never came; an unavailable from Alicia without a valid 110 asks
    the room, which says not joined: the notice (110 + 333) comes from
    room/Alicia, the nick the client follows after the 303 (it came from
    room/Alice, a nick the client saw leave)."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    component.deliver(a, (
        f"<presence from={xa(r + '/Alice')} to={xa(a.jid)} type='unavailable'>"
        f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='participant' nick='Alicia'/>"
        f"<status code='303'/><status code='110'/></x></presence>"))
    assert_rooms(a, {r: "Alice"}, when="after the 303 (the old nick stays)")
    seq = a.event_seq()
    mc, m = component.mark(), a.mark()
    component.deliver(a, ambiguous_unavailable(r, "Alicia", a.jid))
    ping = wait_ping(component, mc, a, r, "Alicia")
    component.deliver(a, ping_error(ping, "not-acceptable", by=r))
    assert_rooms(a, {}, when="after the self-ping said 'not joined'")
    evs = [e for e in a.events(seq, room=r) if e["name"] == "left"]
    assert len(evs) == 1 and evs[0].get("reason") == "ghost" and evs[0].get("nick") == "Alice", \
        f"expected left/ghost with the nick rooms_joined showed: {evs}"
    p = a.wait(lambda s: is_presence(s, frm=f"{r}/Alicia", type_="unavailable", self_=True), m,
               what="the notice (110 + 333) from the announced nick")
    assert "333" in p.status_codes, f"expected 110 and 333: {p}"
    assert not [s for s in a.received(m) if is_presence(s, frm=f"{r}/Alice", type_="unavailable")], \
        "no notice from the nick the client saw leave"


@pytest.mark.parametrize("condition,by,joined_after", [
    ("item-not-found", "room", True),       # the room exists, the nick is stale
    ("item-not-found", "service", False),   # the room does not exist
    ("gone", "room", False),
    ("forbidden", "room", False),           # any other error from the room
    # no link lost since the ping went out: the room's word (biboumi's for a
    # user whose IRC connection is gone), not our server's bounce (below)
    ("recipient-unavailable", None, False),
])
def test_ping_answers(connect, component, room, condition, by, joined_after):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    mc, m = component.mark(), a.mark()
    component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
    ping = wait_ping(component, mc, a, r, "Alice")
    by_jid = {"room": r, "service": SCRIPTED, None: None}[by]
    component.deliver(a, ping_error(ping, condition, by=by_jid))
    if joined_after:
        assert_rooms(a, {r: "Alice"}, when=f"after the ping answer {condition} by the {by}")
    else:
        assert_ghost_removed(a, component, r, "Alice", seq, m)


def test_our_servers_bounce_after_a_link_loss_is_not_the_rooms_word(connect, lt, server, room):
    """What Prosody 0.12's mod_smacks sends back, for every stanza a closing
    s2s link with stream management had not got acknowledged, a self-ping
    out on it included: an error recipient-unavailable from the ping's to,
    without a by. After the loss of the room's link it says nothing about
    the room: no ghost, no 333 to the client (it made a ghost of every room
    whose ping was out on a flapping link)."""
    comp = ScriptedComponent(lt, server, domain=SCRIPTED2).start()
    try:
        a = connect("alice")
        r = room("b", SCRIPTED2)
        joined(a, comp, r, "Alice")
        seq = a.event_seq()
        mc, m = comp.mark(), a.mark()
        comp.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
        ping = wait_ping(comp, mc, a, r, "Alice")
        comp.stop()  # the link is lost while the ping is out
        comp = ScriptedComponent(lt, server, domain=SCRIPTED2).start()
        comp.deliver(a, ping_error(ping, "recipient-unavailable"))
        retry = wait_ping(comp, 0, a, r, "Alice", timeout=PING_WAIT + 15)
        assert retry.id != ping.id, "a retry is a new ping"
        comp.deliver(a, ping_result(retry))
        assert_rooms(a, {r: "Alice"}, when="after our own server bounced the ping")
        assert a.events(seq, room=r, name="left") == []
        assert not [s for s in a.received(m) if "333" in s.status_codes]
    finally:
        comp.stop()


def test_stale_ping_answer_is_ignored(connect, component, room):
    """An answer to a ping older than the session's latest join of that room
    says nothing about the new membership."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    ping = ask_ping(component, a, r)
    # the room really had dropped us: the session rejoins meanwhile
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable"))
    joined(a, component, r, "Alice")
    component.deliver(a, ping_error(ping, "not-acceptable", by=r))
    assert_rooms(a, {r: "Alice"}, when="after a stale ping answer 'not joined'")


def test_component_disconnect_triggers_self_ping(connect, lt, server, room):
    comp = ScriptedComponent(lt, server, domain=SCRIPTED2).start()
    try:
        a = connect("alice")
        r = room("d", SCRIPTED2)
        joined(a, comp, r, "Alice")
        seq = a.event_seq()
        m = a.mark()
        comp.stop()
        # the component comes back having lost its rooms (a crash)
        comp = ScriptedComponent(lt, server, domain=SCRIPTED2).start()
        ping = wait_ping(comp, 0, a, r, "Alice", timeout=PING_WAIT + 15)
        comp.deliver(a, ping_error(ping, "item-not-found", by=SCRIPTED2))
        evs = wait_events(a, seq, lambda e: e["name"] == "left", room=r,
                          what="left after the ping said 'not joined'")
        assert evs[0].get("reason") == "ghost", evs
        assert_ghost_removed(a, comp, r, "Alice", seq, m)
    finally:
        comp.stop()


def test_component_connection_without_handshake_triggers_nothing(connect, lt, server, room):
    """A connection to the component port that names the component's host
    in its stream header and hangs up before the handshake is not that
    component's link: Prosody fires component-disconnected for it too,
    and the module must not ping the component's rooms for it."""
    comp = ScriptedComponent(lt, server, domain=SCRIPTED2).start()
    try:
        a = connect("alice")
        r = room("h", SCRIPTED2)
        joined(a, comp, r, "Alice")
        m = comp.mark()
        with socket.create_connection(("127.0.0.1", server.component_port), 5) as raw:
            raw.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                         "xmlns:stream='http://etherx.jabber.org/streams' "
                         f"to='{SCRIPTED2}'>").encode())
            raw.settimeout(5)
            assert raw.recv(4096), "the server answers the stream header"
        time.sleep(PROSODY_OPTIONS["track_muc_joins_ping_start_delay"] + 3)
        pings = comp.find(lambda s: s.name == "iq" and s.child("ping", NS_PING) is not None, m)
        assert not pings, f"pinged for a connection that never authenticated: {pings}"
        assert a.rooms() == {r: "Alice"}
    finally:
        comp.stop()


def test_not_acceptable_error_to_groupchat_triggers_ping(connect, component, room):
    """The room refuses the session's groupchat message with not-acceptable
    ("you are not in this room"): ask the room."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    mc, m = component.mark(), a.mark()
    mid = new_id("gc")
    a.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}><body>hello?</body></message>")
    component.wait(lambda s: s.name == "message" and s.id == mid, mc, what="the groupchat message")
    component.deliver(a, (
        f"<message type='error' from={xa(r)} to={xa(a.jid)} id={xa(mid)}>"
        f"<error type='cancel' by={xa(r)}><not-acceptable xmlns='{STANZAS}'/></error></message>"))
    assert_rooms(a, {r: "Alice"}, when="right after the not-acceptable error")
    ping = wait_ping(component, mc, a, r, "Alice")
    component.deliver(a, ping_error(ping, "not-acceptable", by=r))
    assert_ghost_removed(a, component, r, "Alice", seq, m)


def test_one_outstanding_ping_per_room(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    mc = component.mark()
    component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
    component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
    ping = wait_ping(component, mc, a, r, "Alice")
    component.deliver(a, (
        f"<presence type='error' from={xa(r + '/Alice')} to={xa(a.jid)}>"
        f"<error type='cancel'><item-not-found xmlns='{STANZAS}'/></error></presence>"))
    # the point: no second ping while the first is unanswered
    time.sleep(1.5)
    pings = [s for s in component.find(lambda s: s.name == "iq" and s.frm == a.jid, mc)
             if s.child("ping", NS_PING) is not None]
    assert len(pings) == 1, "one outstanding ping per (session, room), got:\n" + \
        "\n".join(f"    {p}" for p in pings)
    component.deliver(a, ping_result(ping))
    assert_rooms(a, {r: "Alice"})


def test_wait_error_is_unknown_and_retried(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    mc, m = component.mark(), a.mark()
    component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
    ping = wait_ping(component, mc, a, r, "Alice")
    mc = component.mark()
    component.deliver(a, ping_error(ping, "resource-constraint", type_="wait", by=r))
    assert_rooms(a, {r: "Alice"}, when="after a type='wait' answer (unknown)")
    retry = wait_ping(component, mc, a, r, "Alice")
    assert retry.id != ping.id, "a retry is a new ping"
    component.deliver(a, ping_error(retry, "not-acceptable", by=r))
    assert_ghost_removed(a, component, r, "Alice", seq, m)


def serve_disco(comp, since, room, features, seconds):
    """For `seconds`, answer every disco#info query to room with these
    features; return the self-pings received meanwhile."""
    answered, pings = set(), []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for s in comp.find(lambda s: s.name == "iq", since):
            if s.id in answered:
                continue
            if s.type == "get" and s.child("query", NS_DISCO) is not None and \
                    s.to and s.to.split("/")[0] == room:
                feats = "".join(f"<feature var={xa(f)}/>" for f in features)
                comp.send(f"<iq type='result' from={xa(s.to)} to={xa(s.frm)} id={xa(s.id)}>"
                          f"<query xmlns='{NS_DISCO}'><identity category='conference' "
                          f"type='text'/>{feats}</query></iq>")
                answered.add(s.id)
            elif s.type == "get" and s.child("ping", NS_PING) is not None:
                answered.add(s.id)
                pings.append(s)
        time.sleep(0.1)
    return pings


def test_service_unavailable_from_room_without_optimization_means_joined(connect, component, room):
    """docs/semantics.md §5: service-unavailable / feature-not-implemented mean
    "joined" when the room does not advertise muc#self-ping-optimization (an
    old room that forwards the ping to the occupant, whose client refused
    it)."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    ping = ask_ping(component, a, r)
    mc = component.mark()
    component.deliver(a, ping_error(ping, "service-unavailable", by=r))
    more = serve_disco(component, mc, r, ["http://jabber.org/protocol/muc"], 3)
    assert_rooms(a, {r: "Alice"}, when="after service-unavailable from a non-optimized room")
    assert_events(a, seq, [], room=r, session=a.jid)
    assert not more, ("the room does not advertise self-ping-optimization, so "
                      "service-unavailable means 'joined'; the module pinged again as if "
                      "it meant 'unknown':\n" + "\n".join(f"    {p}" for p in more))


def test_service_unavailable_from_optimized_room_is_unknown(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    mc, m = component.mark(), a.mark()
    component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
    ping = wait_ping(component, mc, a, r, "Alice")
    mc = component.mark()
    component.deliver(a, ping_error(ping, "service-unavailable", by=r))
    features = ["http://jabber.org/protocol/muc",
                "http://jabber.org/protocol/muc#self-ping-optimization"]
    retries = serve_disco(component, mc, r, features, 4)
    assert retries, "service-unavailable from an optimized room is 'unknown': expected a retry"
    component.deliver(a, ping_error(retries[0], "not-acceptable", by=r))
    assert_ghost_removed(a, component, r, "Alice", seq, m)


@pytest.mark.parametrize("disco,joined_after", [("result", True), ("error", False)])
def test_item_not_found_without_by_is_settled_by_disco_info(connect, component, room, disco,
                                                            joined_after):
    """item-not-found that does not say who sent it (ejabberd's answer both
    for a room that is gone and for a stale nick): the module asks the
    room's disco#info from the session's JID and the core decides: a
    result (the room exists) = joined, an error from the room = not
    joined."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    mc, m = component.mark(), a.mark()
    component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
    ping = wait_ping(component, mc, a, r, "Alice")
    mc = component.mark()
    component.deliver(a, ping_error(ping, "item-not-found"))
    q = component.wait(lambda s: s.name == "iq" and s.type == "get" and s.frm == a.jid and
                       s.to == r and s.child("query", NS_DISCO) is not None, mc,
                       what="the module's disco#info query to the room")
    if disco == "result":
        component.deliver(a, f"<iq type='result' from={xa(r)} to={xa(a.jid)} id={xa(q.id)}>"
                             f"<query xmlns='{NS_DISCO}'><identity category='conference' "
                             f"type='text'/><feature var='http://jabber.org/protocol/muc'/>"
                             f"</query></iq>")
        assert_rooms(a, {r: "Alice"}, when="after item-not-found and a disco#info result")
        assert_events(a, seq, [], room=r, session=a.jid)
    else:
        component.deliver(a, f"<iq type='error' from={xa(r)} to={xa(a.jid)} id={xa(q.id)}>"
                             f"<error type='cancel'><item-not-found xmlns='{STANZAS}'/>"
                             f"</error></iq>")
        assert_ghost_removed(a, component, r, "Alice", seq, m)


def test_disco_info_requests_are_one_per_room_at_a_time(connect, component, room):
    """A room that answers each of our pings with item-not-found without
    `by` (the core then needs the room's disco#info), and each next ping
    again once the last one was settled otherwise, gets one disco#info
    request from the session at a time, not one per ping (each request
    hooks handlers on the host and holds the answer until its reply or the
    ping timeout: a room could pile them up). The reply settles the latest
    answer."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()

    def is_disco(s):
        return (s.name == "iq" and s.type == "get" and s.frm == a.jid and s.to == r and
                s.child("query", NS_DISCO) is not None)

    first = component.mark()
    q = None
    for i in range(5):
        mc, m = component.mark(), a.mark()
        component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
        ping = wait_ping(component, mc, a, r, "Alice")
        component.deliver(a, ping_error(ping, "item-not-found"))
        if q is None:
            q = component.wait(is_disco, mc, what="the module's disco#info query to the room")
        if i < 4:
            component.deliver(a, ping_result(ping))  # settles this ping: joined
            assert_rooms(a, {r: "Alice"}, when=f"after ping {i + 1} was answered")
    time.sleep(0.5)
    discos = [s for s in component.inbox.since(first) if is_disco(s)]
    assert len(discos) == 1, f"expected one disco#info request out, got {len(discos)}: " \
        f"{[str(d) for d in discos]}"
    # the room is gone: the last ping's answer (item-not-found) is "not joined"
    component.deliver(a, f"<iq type='error' from={xa(r)} to={xa(a.jid)} id={xa(q.id)}>"
                         f"<error type='cancel'><item-not-found xmlns='{STANZAS}'/>"
                         f"</error></iq>")
    assert_ghost_removed(a, component, r, "Alice", seq, m)


def test_disco_info_requests_are_bounded_per_service(connect, lt, server, component, room):
    """At most 4 disco#info requests are out to the rooms of one service:
    a fifth answer from there that needs its room's info is taken without
    it (unknown), as when no reply comes, and the room is pinged again
    after ping_backoff. Another service's rooms are not held up by the
    first one's (a hostile service that never answers disco#info cannot
    leave every other room's ghost unsettled). One account holds at most 4
    too: a service's domain costs its owner nothing, so one account in
    rooms on many hostile services could hold every request otherwise."""
    a = connect("alice")
    rooms = [sroom(room) for _ in range(5)]
    for r in rooms:
        joined(a, component, r, "Alice")

    def is_disco(s, r):
        return (s.name == "iq" and s.type == "get" and s.frm == a.jid and s.to == r and
                s.child("query", NS_DISCO) is not None)

    first = component.mark()
    for r in rooms:
        ping = ask_ping(component, a, r)
        mc = component.mark()
        component.deliver(a, ping_error(ping, "item-not-found"))
        if r != rooms[-1]:
            # the request stays out; the ping is settled (and its budget
            # freed: pings waiting for their room's info count in it)
            component.wait(lambda s, r=r: is_disco(s, r), mc, what=f"disco#info to {r}")
            component.deliver(a, ping_result(ping))
    last = rooms[-1]
    retry = wait_ping(component, mc, a, last, "Alice")  # unknown: asked again
    got = component.inbox.since(first)
    asked = [r for r in rooms if any(is_disco(s, r) for s in got)]
    assert asked == rooms[:4], (
        f"expected disco#info to the first 4 rooms only; asked {len(asked)} rooms, "
        f"the last one {'asked' if last in asked else 'not asked'}")
    component.deliver(a, ping_result(retry))
    assert_rooms(a, {r: "Alice" for r in rooms}, when="after the pings")
    # another service: another account's answer from there still gets its
    # disco#info; alice's does not (4 of hers are out): taken without one
    comp2 = ScriptedComponent(lt, server, domain=SCRIPTED2).start()
    try:
        b = connect("bob")
        r2 = room("o", SCRIPTED2)
        joined(b, comp2, r2, "Bob")
        ping = ask_ping(comp2, b, r2, "Bob")
        mc = comp2.mark()
        comp2.deliver(b, ping_error(ping, "item-not-found"))
        comp2.wait(lambda s: s.name == "iq" and s.type == "get" and s.frm == b.jid and
                   s.to == r2 and s.child("query", NS_DISCO) is not None, mc,
                   what=f"bob's disco#info to {r2} while 4 of alice's are out to {SCRIPTED}")
        r3 = room("p", SCRIPTED2)
        joined(a, comp2, r3, "Alice")
        ping = ask_ping(comp2, a, r3)
        mc = comp2.mark()
        comp2.deliver(a, ping_error(ping, "item-not-found"))
        retry = wait_ping(comp2, mc, a, r3, "Alice")  # unknown: asked again
        assert not any(is_disco(s, r3) for s in comp2.inbox.since(mc)), \
            "alice's fifth answer needing disco#info got a request (4 per account)"
        comp2.deliver(a, ping_result(retry))
    finally:
        comp2.stop()


def test_ghost_check_survives_a_reload_from_another_copy(connect, server, component, room):
    """A self-ping is out when a reload loads another copy of mucjoins.so:
    the new tracker cannot take the ping over (its answer, under the old
    salt, is stale), so every room is checked again; the ghost found by
    the new ping is removed (it used to stay shown, nothing asking again)."""
    import shutil

    from harness import install_other_copy
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    ping = ask_ping(component, a, r)
    copy = install_other_copy(server)
    try:
        a.reload_module()
        mc, m = component.mark(), a.mark()
        component.deliver(a, ping_error(ping, "not-acceptable", by=r))  # the old ping: stale
        again = wait_ping(component, mc, a, r, "Alice")
        component.deliver(a, ping_error(again, "not-acceptable", by=r))
        assert_ghost_removed(a, component, r, "Alice", seq, m)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        a.reload_module()


def test_mod_ping_muc_loaded_after_the_module_is_warned_about(server):
    """Prosody loads a host's modules in no set order: mod_ping_muc (here a
    stand-in of that name) loaded after the module is warned about too,
    not only one found loaded at its own load."""
    offset = server.log_size()
    rc, out = server.admin('module:load("ping_muc", "localhost")')
    assert rc == 0, f"module:load(ping_muc):\n{out}"
    try:
        log = server.wait_log("mod_ping_muc is loaded too", offset=offset)
        assert "mod_ping_muc is loaded too" in log, server.log_tail(40, offset)
    finally:
        rc, out = server.admin('module:unload("ping_muc", "localhost")')
        assert rc == 0, f"module:unload(ping_muc):\n{out}"


def test_a_component_host_off_and_on_leaves_no_handlers_behind(server):
    """A component host deactivated and activated again is a new event
    bus: the module's component-disconnected/-authenticated handlers on the
    old one go with it (each off/on left two more, and the old bus, until
    the module was unloaded)."""
    count = ("> local m = require 'core.modulemanager'.get_module('localhost', 'track_muc_joins'); "
             "return #m.module.event_handlers:search(nil, nil, nil)")

    def handlers():
        rc, out = server.admin(count)
        assert rc == 0, out
        return int(out.strip().split()[-1])

    before = handlers()
    for _ in range(5):
        rc, out = server.admin(f"host:deactivate({SCRIPTED2!r})")
        assert rc == 0, out
        rc, out = server.admin(f"host:activate({SCRIPTED2!r})")
        assert rc == 0, out
    assert handlers() == before, "handlers left on deactivated hosts"

"""A remote MUC over server-to-server: the module runs on server A
(a.localhost); the room lives on server B (conference.b.localhost). Both
are private Prosodys on loopback that find each other through libunbound
SRV records (tests/integration/README.md, "Two servers on loopback"). A remote room answers
later than a local one, and the link between the servers can be lost
(docs/semantics.md §5: ghost joins)."""

import itertools
import os
import re
import time

import pytest

from harness import (
    Client, HarnessError, ProsodyServer, WAIT, assert_events, assert_rooms,
    is_presence, resource, tracker_stats, two_prosodys, wait_events)

A, B = "a.localhost", "b.localhost"
MUC_B = f"conference.{B}"
# how long the module may take to notice a crashed remote server and ask
# the room (start delay, retries with backoff while it is down)
GHOST_WAIT = float(os.environ.get("MUCJOINS_IT_GHOST_WAIT", "45"))


@pytest.fixture(scope="module")
def servers(lt):
    fast_pings = {"track_muc_joins_ping_start_delay": 1, "track_muc_joins_ping_backoff": 1}
    yield from two_prosodys(
        ProsodyServer(name="remote-a", domain=A, muc_domain=f"conference.{A}", components=(),
                      options=fast_pings, extra_host_modules=("test_rejoin_on_leave_needed",)),
        ProsodyServer(name="remote-b", domain=B, muc_domain=MUC_B, components=(),
                      muc_modules=("test_nick_rewrite", "test_role_on_leave")))


@pytest.fixture(scope="module")
def server(servers):
    return servers[0]


@pytest.fixture(scope="module")
def server_b(servers):
    return servers[1]


@pytest.fixture
def connect_b(server_b, lt, request):
    clients = []
    n = itertools.count(1)

    def factory(user):
        c = Client(lt, server_b, user, f"b-{request.node.name[:30]}-{next(n)}").connect()
        clients.append(c)
        return c

    yield factory
    for c in clients:
        c.disconnect()


def rroom(room):
    return room("remote", MUC_B)


def test_remote_join_and_leave(connect, room):
    a = connect("alice")
    r = rroom(room)
    seq = a.event_seq()
    p = a.join(r, "Alice")
    assert p.is_self, f"the remote room's self-presence: {p}"
    assert_rooms(a, {r: "Alice"}, when="after joining a room on the other server")
    a.leave(r, "Alice")
    assert_rooms(a, {}, when="after leaving the remote room")
    assert_events(a, seq, [{"name": "joined", "nick": "Alice"},
                           {"name": "left", "reason": "voluntary"}], room=r)


def test_remote_nick_change_and_kick(connect, connect_b, room):
    bob = connect_b("bob")
    a = connect("alice")
    r = rroom(room)
    bob.join(r, "Bob")  # owner
    a.join(r, "Alice")
    a.change_nick(r, "Alicia")
    assert_rooms(a, {r: "Alicia"}, when="after a nick change in the remote room")
    seq = a.event_seq()
    m = a.mark()
    bob.admin_iq(r, "<item nick='Alicia' role='none'/>")
    a.wait(lambda s: is_presence(s, frm=r + "/Alicia", type_="unavailable", self_=True), m,
           what="the kick over s2s")
    assert_rooms(a, {}, when="after being kicked from the remote room")
    assert_events(a, seq, [{"name": "left", "reason": "kicked"}], room=r)


def test_remote_broadcast_unavailable(connect, room):
    a = connect("alice")
    r1, r2 = rroom(room), room("local", f"conference.{A}")  # remote, and local on A
    a.join(r1, "Alice")
    a.join(r2, "Alice")
    m = a.mark()
    a.send("<presence type='unavailable'/>")
    for r in (r1, r2):
        a.wait(lambda s, r=r: is_presence(s, frm_bare=r, type_="unavailable", self_=True), m,
               what=f"the confirmation from {r}")
    assert_rooms(a, {}, when="after a broadcast unavailable confirmed by both rooms")


def test_closed_link_is_no_reason_to_drop_the_entry(connect, server, room):
    """Closing the s2s link (s2s-destroyed fires twice) must not lose a
    room the session is still in: a self-ping would say 'joined'."""
    a = connect("alice")
    r = rroom(room)
    a.join(r, "Alice")
    rc, out = server.admin(f"s2s:closeall({MUC_B!r})")
    assert rc == 0 and "closed" in out.lower(), out
    # the point: nothing should happen, also once the module's self-ping
    # (start delay 1 s here) is answered 'joined'
    time.sleep(2.5)
    assert_rooms(a, {r: "Alice"}, when="after the s2s link was closed")
    # the room still knows us: a leave is confirmed over a new link
    a.leave(r, "Alice")
    assert_rooms(a, {}, when="after leaving over a new link")


def test_remote_server_crash_removes_ghost(connect, server_b, room):
    """B crashes (SIGKILL: its rooms and occupants are gone) and comes
    back. The module notices the lost link, asks the room (self-ping),
    B answers that the room does not exist, so the entry goes (ghost) and
    the client gets an unavailable self-presence with 333."""
    a = connect("alice")
    r = rroom(room)
    a.join(r, "Alice")
    seq = a.event_seq()
    m = a.mark()
    server_b.crash()
    server_b.launch()
    try:
        p = a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable", self_=True), m,
                   timeout=GHOST_WAIT,
                   what="the unavailable 110+333 the module sends for a ghost room")
    except HarnessError as e:
        # what the room says now, asked by the client itself
        ans = a.iq("<ping xmlns='urn:xmpp:ping'/>", to=f"{r}/Alice", check=False)
        raise AssertionError(f"{e}\nrooms_joined now: {a.rooms().describe()}\n"
                             f"a self-ping by the client now gets: {ans}") from None
    assert "333" in p.status_codes, p
    evs = wait_events(a, seq, lambda e: e["name"] == "left", room=r, timeout=WAIT,
                      what="left/ghost")
    assert evs[0].get("reason") == "ghost", evs
    assert_rooms(a, {}, when="after the ghost room was detected")


def presence_full_handlers(server, host):
    """How many handlers the host's presence/full event has."""
    rc, out = server.admin(f">local h = prosody.hosts[{host!r}].events.get_handlers('presence/full'); "
                           "local c = 0; for _ in pairs(h or {{}}) do c = c + 1 end; return 'handlers=' .. c")
    m = re.search(r"handlers=(\d+)", out)
    assert rc == 0 and m, out
    return int(m.group(1))


def leave_bounced_then_sent_again(a, bob, server, server_b, r):
    """Alice (a) and Bob (bob, on B) in room r; B stops cleanly (it saves
    its rooms with their occupants and restores them at its start) and
    Alice leaves meanwhile: A bounces the leave (remote-server-not-found),
    so rooms_joined drops the room but the room never saw the leave. B
    comes back and a link to it comes up: the module sends the room
    Alice's leave again. Returns the tracker's stats before, the count of
    presence/full handlers before, a's mark from before the link up, and
    the leave's id (the leave-needed event's)."""
    bob.join(r, "Bob")  # owner; the room outlives B's restart
    a.join(r, "Alice")
    seq = a.event_seq()
    before = tracker_stats(server, A)
    server_b.stop()
    m = a.leave(r, "Alice", wait=False)
    bounce = a.wait(lambda s: is_presence(s, frm_bare=r, type_="error"), m,
                    what="our own server's bounce of the leave")
    assert "remote-server" in str(bounce), bounce
    assert_rooms(a, {}, when="after the bounced leave")
    handlers = presence_full_handlers(server, A)
    server_b.launch()
    m = a.mark()
    # anything that opens a link to B's MUC service: a disco#info request
    a.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to=MUC_B, check=False)
    evs = wait_events(a, seq, lambda e: e["name"] == "leave-needed", room=r, timeout=WAIT,
                      what="leave-needed")
    assert evs[0].get("nick") == "Alice", evs
    assert re.fullmatch(r"mjleave-[0-9a-f]{16}", evs[0].get("id") or ""), evs
    return before, handlers, m, evs[0]["id"]


def assert_answer_taken(server, before, handlers):
    """The answer to the leave sent again was taken (no leave waits for
    one, none is owed, it was sent once and is no forged self-presence),
    and the handler that stops such answers is off presence/full again
    at the next tick."""
    deadline = time.monotonic() + WAIT
    while True:
        now = (tracker_stats(server, A)["leaves_waiting"], presence_full_handlers(server, A))
        if now == (0, handlers) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert now == (0, handlers), f"(leaves_waiting, presence/full handlers) {now}, before {handlers}"
    after = tracker_stats(server, A)
    assert after["leaves_owed"] == 0, after
    assert after["leaves_resent"] == before["leaves_resent"] + 1, (before, after)
    assert after["forged"] == before["forged"], (before, after)


def others_seen_joining(connect_b, r):
    """The resources of the occupants a new occupant of r is sent."""
    carol = connect_b("carol")
    m = carol.mark()
    carol.join(r, "Carol")
    return [resource(s.frm) for s in carol.received(m)
            if is_presence(s, frm_bare=r, type_=None) and not s.is_self]


def test_a_leave_bounced_while_the_link_was_down_is_sent_at_the_link_up(
        connect, connect_b, server, server_b, room):
    """Alice's leave bounced while the link to B was down is sent again
    at the link up (leave_bounced_then_sent_again()): the room removes
    her, and an occupant joining later does not see her. The room's
    answer carries the id the module gave the leave (Prosody's MUC
    reflects it): the module's own traffic, which the client is not sent
    (docs/semantics.md §2, "Leaves the path bounced")."""
    a = connect("alice")
    r = rroom(room)
    before, handlers, m, _ = leave_bounced_then_sent_again(a, connect_b("bob"), server, server_b, r)
    # B answers the leave before this request, sent after it over the same
    # link, and A reads the answer before this one's result
    a.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to=MUC_B, check=False)
    answers = [s for s in a.received(m) if is_presence(s, frm_bare=r, type_=None)]
    assert answers == [], f"the client was sent the answer to the module's leave: {answers}"
    assert_answer_taken(server, before, handlers)
    assert_rooms(a, {}, when="after the room's answer to the leave sent again")
    # the room no longer lists her
    others = others_seen_joining(connect_b, r)
    assert "Alice" not in others, others
    rc, out = server.admin("muc_joins:stats()")
    assert "leaves_resent" in out, out


def rejoined_behind_the_leave(a, connect_b, server, server_b, r):
    """leave_bounced_then_sent_again() in a room where the test module
    rejoins right behind the leave: waits for the rejoin's answer (the
    self-presence with the rejoin's id) and checks that the client was
    sent neither the answer to the module's leave nor any unavailable
    self-presence, that rooms_joined shows the room, that the answer was
    taken, and that the room has her, as Alice, once. Returns what the
    client received meanwhile."""
    before, handlers, m, leave_id = leave_bounced_then_sent_again(
        a, connect_b("bob"), server, server_b, r)
    a.wait(lambda s: is_presence(s, frm_bare=r, type_=None, self_=True, id_="rejoin-at-link-up"),
           m, what="the rejoin's self-presence")
    got = a.received(m)
    ours = [s for s in got if s.name == "presence" and s.id == leave_id]
    assert ours == [], f"the client was sent the answer to the module's leave: {ours}"
    gone = [s for s in got if is_presence(s, frm_bare=r, type_="unavailable", self_=True)]
    assert gone == [], f"the client was sent an unavailable self-presence: {gone}"
    assert_rooms(a, {r: "Alice"}, when="after the rejoin behind the leave sent again")
    assert_answer_taken(server, before, handlers)
    others = others_seen_joining(connect_b, r)
    assert others.count("Alice") == 1, others
    return got


def test_a_rejoin_between_the_leave_sent_again_and_its_answer(
        connect, connect_b, server, server_b, room):
    """As above, but the session rejoins the room right behind the leave
    the module sends at the link up (a test module does it from the
    leave-needed handler, as if the client had sent it): the room answers
    the leave first, over the same link, with the module's id, then the
    rejoin. That first answer (an unavailable self-presence) is the
    module's own traffic: the client is not sent it, and it does not end
    the rejoin, which the room's next answer completes
    (docs/semantics.md §2, "Leaves the path bounced")."""
    rejoined_behind_the_leave(connect("alice"), connect_b, server, server_b, room("rejoin", MUC_B))


def test_a_role_change_the_room_sends_the_ghost_before_the_leave(
        connect, connect_b, server, server_b, room):
    """As above, but the room (a test module on B) makes the ghost a
    visitor as the leave reaches it, before processing it: B sends Alice
    an available self-presence (her new role, without the rejoin's id)
    between the rejoin and the leave's answer. Prosody's MUC reflects
    ids, so that presence is not the rejoin's answer: the rejoin waits on,
    the leave's answer is still the module's own, and the room's answer
    to the rejoin shows the room (docs/semantics.md §2, "Leaves the path
    bounced"). Taken for the rejoin's answer, the room would have shown
    joined, then left at the leave's answer (sent to the client), and
    the real answer would have counted forged."""
    r = room("rejoin-role", MUC_B)
    got = rejoined_behind_the_leave(connect("alice"), connect_b, server, server_b, r)
    role = [s for s in got if is_presence(s, frm_bare=r, type_=None, self_=True)
            and s.id != "rejoin-at-link-up"]
    assert role and "visitor" in str(role[0]), f"the ghost's role change before the leave: {got}"

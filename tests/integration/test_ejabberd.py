"""Rooms on ejabberd (Debian 12's ejabberd 23.01) over real s2s: the
tracking and the ghost detection against the other big MUC implementation.

Server A (a.localhost) is a private Prosody with the module under test;
server E is a private ejabberd (tests/integration/ejabberd.py) serving
e.localhost (users connected to it directly) and its MUC
conference.e.localhost. Prosody finds E's s2s port through a libunbound SRV
record, ejabberd finds A through an inetrc file (see README.md here).
Clients on A join rooms on E; `owner` and `eve` are ejabberd's own users.
"""

import os
import time

import pytest

from ejabberd import EjabberdServer, ejabberd_missing
from harness import (
    WAIT, Client, HarnessError, ProsodyServer, assert_rooms, check_module_built, is_presence,
    tracker_stats, xa, xt)

missing = ejabberd_missing()
if missing:
    pytest.skip(f"ejabberd suite skipped: {missing}", allow_module_level=True)

A, E = "a.localhost", "e.localhost"
MUC_E = f"conference.{E}"

START_DELAY = 1
PING_TIMEOUT = 3
BACKOFF = 2
RETRIES = 3  # pings at 1, 3, 7, 15 s: a restarting ejabberd is back by then
GHOST_WAIT = START_DELAY + (RETRIES + 1) * PING_TIMEOUT + BACKOFF * 2 ** (RETRIES + 1) + 5
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": START_DELAY,
    "track_muc_joins_ping_timeout": PING_TIMEOUT,
    "track_muc_joins_ping_backoff": BACKOFF,
    "track_muc_joins_ping_retries": RETRIES,
    "track_muc_joins_ping_budget": 5,
}
# what ejabberd answered to self-pings, for docs (see test_self_ping_answers)
EVIDENCE = os.environ.get("MUCJOINS_IT_EVIDENCE")


@pytest.fixture(scope="module")
def servers(lt):
    problem = check_module_built()
    if problem:
        pytest.fail(problem, pytrace=False)
    a = ProsodyServer(name="ej-a", domain=A, muc_domain=f"conference.{A}", components=(),
                      options=PROSODY_OPTIONS)
    e = EjabberdServer(name="ej-e", domain=E, muc_domain=MUC_E)
    a.prepare()
    e.prepare()
    e.peer = a
    a.s2s_zones = {E: e}  # a "redirect" zone: conference.e.localhost too
    try:
        e.start()
        a.start()
        yield a, e
    finally:
        e.stop()
        a.stop()
        e.cleanup()
        a.cleanup()


@pytest.fixture(scope="module")
def server(servers):
    return servers[0]


@pytest.fixture(scope="module")
def ejabberd(servers):
    return servers[1]


@pytest.fixture(autouse=True)
def _ejabberd_log(request, ejabberd):
    """On failure, ejabberd's log written during the test is attached too
    (conftest.py attaches what is in item._prosody)."""
    watched = getattr(request.node, "_prosody", None)
    if watched is not None:
        watched.append(("ejabberd", ejabberd, ejabberd.log_size()))
    yield


@pytest.fixture
def econnect(ejabberd, lt, request):
    """econnect("eve") -> a Client connected to ejabberd directly."""
    clients = []

    def factory(user, res=None):
        res = res or f"e{len(clients) + 1}-{int(time.monotonic() * 1000) % 100000}"
        c = Client(lt, ejabberd, user, res).connect()
        clients.append(c)
        return c

    yield factory
    for c in clients:
        c.disconnect()


def eroom(room):
    return room("ej", MUC_E)


def ejoin(o, r, nick="Owner"):
    """o (on ejabberd) creates or joins r; returns the self-presence."""
    p = o.join(r, nick)
    assert p.type != "error" and p.is_self, f"{o} could not join {r}: {p}"
    return p


def wait_rooms(a, expected, timeout=WAIT, when=""):
    deadline = time.monotonic() + timeout
    while True:
        got = dict(a.rooms())
        if got == expected:
            return got
        if time.monotonic() > deadline:
            return assert_rooms(a, expected, when=when)
        time.sleep(0.2)


def left_events(a, seq, r):
    return [e for e in a.events(seq, room=r) if e["name"] in ("left", "join-failed")]


def is_333(s, r):
    return (s.name == "presence" and s.frm is not None and s.type == "unavailable" and
            s.frm.lower().startswith(r.lower() + "/") and "333" in s.status_codes)


def assert_no_ghost(a, seq, m, r, when):
    got = [str(s) for s in a.received(m) if is_333(s, r)]
    assert not got, f"{when}: the client got an unavailable 333 (forced rejoin): {got}"
    ghosts = [e for e in a.events(seq, room=r) if e["name"] == "left"]
    assert not ghosts, f"{when}: the entry was removed: {ghosts}"


def stats(server):
    return tracker_stats(server, A)


def wait_stat(server, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        st = stats(server)
        if pred(st):
            return st
        if time.monotonic() > deadline:
            raise HarnessError(f"waited {timeout:.0f}s for {what}; stats now {st}")
        time.sleep(0.3)


def close_link_prosody(server, must=True):
    rc, out = server.admin(f"s2s:closeall({MUC_E!r})")
    assert rc == 0 or (not must and "no sessions" in out.lower()), out
    return rc == 0


def disco(c, r):
    return c.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to=r, check=False)


def record(name, stanza):
    """Keep a raw stanza ejabberd sent, as evidence for docs."""
    text = str(stanza)
    print(f"EJABBERD {name}: {text}")
    if EVIDENCE:
        with open(EVIDENCE, "a") as f:
            f.write(f"## {name}\n{text}\n\n")


def muc_codes(s):
    return sorted(s.status_codes)


# --------------------------------------------------------------------------
# tracking: joins, updates, nick changes, leaves, refusals


def test_join_presence_update_nick_change_leave(connect, econnect, room):
    a = connect("alice")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    seq = a.event_seq()
    p = a.join(r, "Alice")
    assert p.is_self and p.type is None, p
    assert_rooms(a, {r: "Alice"}, when="after the join")
    # a presence update to the room: the entry stays as it is
    m = a.mark()
    a.send(f"<presence to={xa(r + '/Alice')}><show>away</show></presence>")
    a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_=None, self_=True), m,
           what="the room's echo of the presence update")
    assert_rooms(a, {r: "Alice"}, when="after a presence update")
    # nick change: 303 then the new self-presence
    m = a.mark()
    a.change_nick(r, "Alicia")
    u = a.find(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable", self_=True), m)
    u = u[0] if u else None
    assert u is not None and "303" in u.status_codes, f"no unavailable 303: {a.received(m)}"
    record("nick change (303)", u)
    assert_rooms(a, {r: "Alicia"}, when="after the nick change")
    a.leave(r, "Alicia")
    assert_rooms(a, {}, when="after leaving")
    names = [(e["name"], e.get("nick"), e.get("reason")) for e in a.events(seq, room=r)]
    assert names == [("joined", "Alice", None), ("nick-changed", "Alicia", None),
                     ("left", "Alicia", "voluntary")], names


def test_broadcast_unavailable_leaves_every_room(connect, econnect, room):
    a = connect("alice")
    o = econnect("owner")
    r1, r2 = eroom(room), eroom(room)
    ejoin(o, r1)
    ejoin(o, r2)
    a.join(r1, "Alice")
    a.join(r2, "Alice")
    assert_rooms(a, {r1: "Alice", r2: "Alice"})
    seq = a.event_seq()
    a.send("<presence type='unavailable'/>")
    wait_rooms(a, {}, when="after a broadcast unavailable")
    evs = [(e["room"], e.get("reason")) for e in a.events(seq) if e["name"] == "left"]
    assert sorted(evs) == sorted([(r1, "voluntary"), (r2, "voluntary")]), evs


@pytest.mark.parametrize("why", ["nick-conflict", "members-only", "banned"])
def test_join_refused(connect, econnect, room, why):
    a = connect("alice")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    nick = "Alice"
    if why == "nick-conflict":
        nick = "Owner"
        want = "conflict"
    elif why == "members-only":
        o.configure(r, {"muc#roomconfig_membersonly": "1"})
        want = "registration-required"
    else:
        o.admin_iq(r, f"<item affiliation='outcast' jid={xa(a.bare)}/>")
        want = "forbidden"
    seq = a.event_seq()
    p = a.join(r, nick)
    assert p.type == "error", f"the join was not refused: {p}"
    record(f"join refused ({why})", p)
    assert p.error_condition == want, p
    assert_rooms(a, {}, when=f"after a refused join ({why})")
    evs = left_events(a, seq, r)
    assert [(e["name"], e.get("reason"), e.get("condition")) for e in evs] == [
        ("join-failed", "error", want)], evs


@pytest.mark.parametrize("how,code,reason", [
    ("kick", "307", "kicked"), ("ban", "301", "banned"),
    ("affiliation", "321", "affiliation"), ("members-only", "322", "members-only")])
def test_removed_by_the_room(connect, econnect, room, how, code, reason):
    a = connect("alice")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    if how == "affiliation":
        o.configure(r, {"muc#roomconfig_membersonly": "1"})
        o.admin_iq(r, f"<item affiliation='member' jid={xa(a.bare)}/>")
    a.join(r, "Alice")
    assert_rooms(a, {r: "Alice"})
    seq, m = a.event_seq(), a.mark()
    if how == "kick":
        o.admin_iq(r, "<item nick='Alice' role='none'/>")
    elif how == "ban":
        o.admin_iq(r, f"<item affiliation='outcast' jid={xa(a.bare)}/>")
    elif how == "affiliation":
        o.admin_iq(r, f"<item affiliation='none' jid={xa(a.bare)}/>")
    else:
        o.configure(r, {"muc#roomconfig_membersonly": "1"})
    u = a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable", self_=True), m,
               what=f"the unavailable self-presence after the {how}")
    record(f"removed ({how})", u)
    assert code in u.status_codes, u
    wait_rooms(a, {}, when=f"after the {how}")
    evs = [(e["name"], e.get("reason")) for e in left_events(a, seq, r)]
    assert evs == [("left", reason)], evs


@pytest.mark.parametrize("venue", [False, True])
def test_room_destroyed(connect, econnect, room, venue):
    a = connect("alice")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    alt = eroom(room)
    d = f"<destroy jid={xa(alt)}><reason>moved</reason></destroy>" if venue else \
        "<destroy><reason>closed</reason></destroy>"
    o.owner_iq(r, d)
    u = a.wait(lambda s: s.name == "presence" and s.type == "unavailable" and s.frm and
               s.frm.lower().startswith(r.lower() + "/"), m,
               what="the unavailable presence of the destroyed room")
    record(f"room destroyed ({'with' if venue else 'without'} alternate venue)", u)
    wait_rooms(a, {}, when="after the room was destroyed")
    evs = [e for e in left_events(a, seq, r)]
    assert [(e["name"], e.get("reason")) for e in evs] == [("left", "destroyed")], evs
    if venue:
        assert evs[0].get("alt_venue", "").lower() == alt.lower(), evs


# --------------------------------------------------------------------------
# mentions from an occupant connected to ejabberd directly


def say(c, r, body, extra=""):
    mid = f"m{int(time.monotonic() * 1e6)}"
    m = c.mark()
    c.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}><body>{xt(body)}</body>"
           f"{extra}</message>")
    c.wait(lambda s: s.name == "message" and s.type == "groupchat" and s.frm and
           s.frm.lower().startswith(r.lower() + "/"), m, what=f"the room's echo of {body!r}")
    return mid


def test_mentions_from_ejabberd_occupant_and_history(connect, econnect, room):
    a = connect("alice")
    e = econnect("eve")
    r = eroom(room)
    ejoin(e, r, "Eve")
    say(e, r, "before Alice came: hello Alice")  # room history for the join
    seq, m = a.event_seq(), a.mark()
    a.join(r, "Alice")
    hist = a.wait(lambda s: s.name == "message" and s.type == "groupchat" and
                  s.child("delay", "urn:xmpp:delay") is not None, m,
                  what="the room history on join")
    record("history on join", hist)
    time.sleep(0.5)
    assert [x for x in a.events(seq, room=r) if x["name"] == "mention"] == [], \
        "history on join was counted as a mention"
    seq, m = a.event_seq(), a.mark()
    say(e, r, "hey Alice, look")
    say(e, r, "look at this", extra=(
        "<reference xmlns='urn:xmpp:reference:0' type='mention' "
        f"uri={xa('xmpp:' + r + '/Alice')}/>"))
    say(e, r, "nobody here")
    n = len([x for x in a.received(m) if x.name == "message" and x.type == "groupchat"])
    deadline = time.monotonic() + WAIT
    while n < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        n = len([x for x in a.received(m) if x.name == "message" and x.type == "groupchat"])
    evs = [x for x in a.events(seq, room=r) if x["name"] == "mention"]
    assert len(evs) == 2, f"expected the body and the reference mention: {evs}"


# --------------------------------------------------------------------------
# ghost joins


def test_s2s_closed_by_prosody_keeps_entry(connect, econnect, server, room):
    a = connect("alice")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    close_link_prosody(server)
    wait_stat(server, lambda st: st["pings_joined"] > before["pings_joined"],
              START_DELAY + PING_TIMEOUT + 5, "a self-ping answered 'joined'")
    assert_rooms(a, {r: "Alice"}, when="after Prosody closed the link")
    assert_no_ghost(a, seq, m, r, "link closed by Prosody")


def test_s2s_closed_by_ejabberd_keeps_entry(connect, econnect, server, ejabberd, room):
    a = connect("alice")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    ejabberd.close_s2s()
    wait_stat(server, lambda st: st["pings_joined"] > before["pings_joined"],
              START_DELAY + PING_TIMEOUT + 5, "a self-ping answered 'joined'")
    assert_rooms(a, {r: "Alice"}, when="after ejabberd closed the link")
    assert_no_ghost(a, seq, m, r, "link closed by ejabberd")


def test_ejabberd_graceful_stop_and_restart(connect, server, ejabberd, room):
    """ejabberd shuts its MUC down on a graceful stop: what it sends to
    the occupants (332?) decides the entry."""
    a = connect("alice")
    r = eroom(room)
    a.join(r, "Alice")  # created by alice: a temporary room
    seq, m = a.event_seq(), a.mark()
    ejabberd.stop()
    ejabberd.launch()
    u = a.find(lambda s: s.name == "presence" and s.frm and
               s.frm.lower().startswith(r.lower() + "/"), m)
    u = u[0] if u else None
    record("graceful stop (shutdown)", u if u is not None else "(nothing sent to the occupant)")
    if u is not None and "332" in u.status_codes:
        wait_rooms(a, {}, when="after ejabberd's shutdown presence (332)")
        evs = [(e["name"], e.get("reason")) for e in left_events(a, seq, r)]
        assert evs == [("left", "shutdown")], evs
    else:
        # nothing said: the link loss makes the module ask the room
        wait_rooms(a, {}, timeout=GHOST_WAIT,
                   when="after ejabberd restarted without the room")
    p = a.join(r, "Alice")
    assert p.is_self, p
    assert_rooms(a, {r: "Alice"}, when="after the rejoin")


@pytest.mark.parametrize("persistent", [False, True])
def test_ejabberd_killed_and_restarted_removes_ghost(connect, econnect, server, ejabberd, room,
                                                     persistent):
    a = connect("alice")
    r = eroom(room)
    if persistent:
        o = econnect("owner")
        ejoin(o, r)
        o.configure(r, {"muc#roomconfig_persistentroom": "1"})
    a.join(r, "Alice")
    if persistent:
        ejabberd.persist_room(r)  # else a kill can lose the room too
    seq, m = a.event_seq(), a.mark()
    ejabberd.crash()
    ejabberd.launch()
    wait_rooms(a, {}, timeout=GHOST_WAIT,
               when="after ejabberd was killed and restarted (occupants lost)")
    # a temporary room is gone: item-not-found without by, settled by the
    # room's disco#info; a persistent one is there without us: not-acceptable
    cond = "not-acceptable" if persistent else "item-not-found"
    evs = [(e["name"], e.get("reason"), e.get("condition")) for e in left_events(a, seq, r)]
    assert evs == [("left", "ghost", cond)], evs
    notices = [s for s in a.received(m) if is_333(s, r)]
    assert len(notices) == 1, f"expected one 110+333 notice: {[str(s) for s in notices]}"
    assert "110" in notices[0].status_codes, notices[0]
    p = a.join(r, "Alice")
    assert p.is_self, p
    assert_rooms(a, {r: "Alice"}, when="after the rejoin")


def test_ejabberd_frozen_then_thawed_keeps_entry(connect, econnect, server, ejabberd, room):
    a = connect("alice")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    ejabberd.freeze()
    try:
        close_link_prosody(server)
        wait_stat(server, lambda st: st["pings_unknown"] > before["pings_unknown"],
                  START_DELAY + PING_TIMEOUT + 5, "a self-ping timing out")
        assert_rooms(a, {r: "Alice"}, when="while ejabberd is frozen")
    finally:
        ejabberd.thaw()
    time.sleep(PING_TIMEOUT + 2 * BACKOFF)
    assert_rooms(a, {r: "Alice"}, when="after ejabberd thawed")
    assert_no_ghost(a, seq, m, r, "frozen ejabberd")


def test_flapping_link_keeps_entry(connect, econnect, server, ejabberd, room):
    a = connect("alice")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    for i in range(6):
        if i % 2:
            ejabberd.close_s2s()
        else:
            close_link_prosody(server, must=False)
        try:
            disco(a, r)  # reopens the link
        except HarnessError:
            pass  # sent as the other side closed the link: lost with it
        time.sleep(0.3)
    time.sleep(START_DELAY + PING_TIMEOUT)
    after = stats(server)
    assert after["pings_not_joined"] == before["pings_not_joined"], after
    assert_rooms(a, {r: "Alice"}, when="after a flapping link")
    assert_no_ghost(a, seq, m, r, "flapping link")


# --------------------------------------------------------------------------
# what ejabberd answers to self-pings (the evidence for the answer table)


def test_self_ping_answers(connect, econnect, server, ejabberd, room):
    """The client pings as XEP-0410 says; the module's own pings go out
    from the same full JID and get the same answers."""
    a = connect("alice")
    b = connect("bob")
    o = econnect("owner")
    r = eroom(room)
    ejoin(o, r)
    a.join(r, "Alice")
    ping = "<ping xmlns='urn:xmpp:ping'/>"
    joined = a.iq(ping, to=r + "/Alice", check=False)
    record("self-ping, occupant", joined)
    assert joined.type == "result", joined
    stale = a.iq(ping, to=r + "/Alicia", check=False)
    record("self-ping, occupant under another nick (stale nick)", stale)
    assert stale.error_condition == "item-not-found", stale
    outsider = b.iq(ping, to=r + "/Bob", check=False)
    record("self-ping, not an occupant, room exists", outsider)
    assert outsider.error_condition == "not-acceptable", outsider
    nr = eroom(room)
    noroom = a.iq(ping, to=nr + "/Alice", check=False)
    record("self-ping, room does not exist", noroom)
    assert noroom.error_condition == "item-not-found", noroom
    info = disco(a, r)
    record("disco#info, room exists", info)
    assert info.type == "result", info
    features = [f.get("var") for f in info.child(
        "query", "http://jabber.org/protocol/disco#info").findall(
        "{http://jabber.org/protocol/disco#info}feature")]
    record("room features", " ".join(features))
    noinfo = disco(a, nr)
    record("disco#info, room does not exist", noinfo)
    assert noinfo.error_condition == "item-not-found", noinfo

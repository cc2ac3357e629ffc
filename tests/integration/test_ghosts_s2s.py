"""Ghost joins over a real s2s link (docs/semantics.md §5): server A
(a.localhost) runs the module, server B (b.localhost) hosts
conference.b.localhost; both are private Prosodys on loopback (libunbound SRV
records, tests/integration/README.md, "Two servers on loopback"), set up as in
test_remote_muc.py.

Faults that say nothing about membership must not change rooms_joined:
a remote server that is unreachable (hung or down: A bounces or times out
the pings itself), an old ping lost in a closing link that times out
after the user rejoined, a flapping link, a graceful restart of B."""

import os
import re
import signal
import socket
import time

import pytest

from harness import (
    HarnessError, ProsodyServer, assert_rooms, is_presence, tracker_stats, two_prosodys,
    wait_events)

A, B = "a.localhost", "b.localhost"
A2 = f"two.{A}"  # a second virtual host of server A (its zone answers for it)
MUC_B = f"conference.{B}"

START_DELAY = 1
PING_TIMEOUT = 4   # long enough to leave and rejoin while a ping is outstanding
BACKOFF = 1
RETRIES = 2
MAX_ROUND = 1 + RETRIES  # pings per (session, room) for one link loss
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": START_DELAY,
    "track_muc_joins_ping_timeout": PING_TIMEOUT,
    "track_muc_joins_ping_backoff": BACKOFF,
    "track_muc_joins_ping_retries": RETRIES,
    "track_muc_joins_ping_budget": 5,
}


@pytest.fixture(scope="module")
def servers(lt):
    yield from two_prosodys(
        ProsodyServer(name="ghosts-a", domain=A, muc_domain=f"conference.{A}", components=(),
                      options=PROSODY_OPTIONS, extra_hosts=(A2,)),
        ProsodyServer(name="ghosts-b", domain=B, muc_domain=MUC_B, components=()))


@pytest.fixture(scope="module")
def server(servers):
    return servers[0]


@pytest.fixture(scope="module")
def server_b(servers):
    return servers[1]


def rroom(room):
    return room("ghost", MUC_B)



# --------------------------------------------------------------------------
# helpers


def stats(server, host=A):
    """muc_joins:stats() of host A (or another) as {key: int} (admin shell)."""
    return tracker_stats(server, host)


def delta(before, after):
    return {k: after[k] - before.get(k, 0) for k in after}


def close_link(server, must=True):
    """Close A's links to the MUC service (prosodyctl shell)."""
    rc, out = server.admin(f"s2s:closeall({MUC_B!r})")
    assert rc == 0 or (not must and "no sessions" in out.lower()), out
    return rc == 0


def wait_stat(server, pred, timeout, what, host=A):
    """Poll A's stats (or another host's) until pred(stats) holds; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        s = stats(server, host)
        if pred(s):
            return s
        if time.monotonic() > deadline:
            raise HarnessError(f"waited {timeout:.0f}s for {what}; stats now {s}")
        time.sleep(0.3)


def is_333(s, r):
    return (s.name == "presence" and s.frm is not None and
            s.frm.lower().startswith(r.lower() + "/") and "333" in s.status_codes)


def assert_no_ghost(a, seq, m, r, when):
    got = [str(s) for s in a.received(m) if is_333(s, r)]
    assert not got, f"{when}: the client got an unavailable 333 (forced rejoin): {got}"
    ghosts = [e for e in a.events(seq, room=r) if e["name"] == "left"
              and e.get("reason") == "ghost"]
    assert not ghosts, f"{when}: the entry was removed as a ghost: {ghosts}"


def ping_room(a, r):
    """An iq the client sends to the room (disco#info): (re)opens the s2s
    link and waits for it."""
    return a.iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to=r, check=False)


class Paused:
    """SIGSTOP a server (hung, sockets open) until exit."""

    def __init__(self, srv):
        self.srv = srv

    def __enter__(self):
        os.kill(self.srv.proc.pid, signal.SIGSTOP)
        return self

    def resume(self):
        if self.srv.proc is not None:
            os.kill(self.srv.proc.pid, signal.SIGCONT)

    def __exit__(self, *exc):
        self.resume()


# --------------------------------------------------------------------------
# 1. remote unreachable: the pings say nothing; bounded, then it stops


@pytest.mark.parametrize("fault", ["hung", "down"])
def test_unreachable_remote_keeps_entry_and_pings_are_bounded(connect, server, server_b, room,
                                                              fault):
    """B hangs (SIGSTOP: A's pings time out) or is down (SIGKILL: A bounces
    them with remote-server-not-found by its own domain). Neither says
    anything about membership: the entry stays, the room is pinged at most
    1 + ping_retries times, then no more."""
    a = connect("alice")
    r = rroom(room)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    off = server.log_size()
    if fault == "hung":
        os.kill(server_b.proc.pid, signal.SIGSTOP)
    try:
        if fault == "down":
            server_b.crash()  # the link goes down with it (or is closed here)
        close_link(server, must=fault == "hung")
        # one round: a first ping, RETRIES retries, then the module gives up
        wait_stat(server, lambda s: s["pings_given_up"] > before["pings_given_up"],
                  timeout=1 + START_DELAY + MAX_ROUND * (PING_TIMEOUT + 1) + 2 ** RETRIES * BACKOFF + 3,
                  what="the module to give up pinging the unreachable room")
        d1 = delta(before, stats(server))
        assert 1 <= d1["pings_sent"] <= MAX_ROUND, (
            f"pings sent while {B} is {fault}: {d1['pings_sent']} (at most 1 + "
            f"ping_retries = {MAX_ROUND}); stats delta {d1}")
        assert d1["pings_joined"] == d1["pings_not_joined"] == 0, d1
        assert_rooms(a, {r: "Alice"}, when=f"after pings to a {fault} remote server")
        # then it stops: no more pings without a new reason
        time.sleep(2 * BACKOFF + 1)
        d2 = delta(before, stats(server))
        # a down server refuses each ping's s2s connection, and every refusal
        # fires s2s-destroyed: after a give-up the entry rests (as long as the
        # next retry would have waited) before a link loss starts a new round
        assert d2["pings_sent"] == d1["pings_sent"], (
            f"pings went on after the module gave up: {d1['pings_sent']} -> {d2['pings_sent']}")
        assert d2["pings_outstanding"] == 0, d2
        given_up = re.findall(r"self-ping of (\S+) unanswered (\d+) times", server.log_text(off))
        assert (r.lower(), str(MAX_ROUND)) in [(x.lower(), n) for x, n in given_up], given_up
    finally:
        if fault == "hung":
            os.kill(server_b.proc.pid, signal.SIGCONT)
        else:
            server_b.launch()
    assert_rooms(a, {r: "Alice"}, when=f"after {B} came back")
    assert_no_ghost(a, seq, m, r, f"{B} {fault}")


@pytest.mark.parametrize("link", ["outgoing", "incoming", "incoming-event"])
def test_remote_back_after_a_give_up_finds_the_ghost(connect, server, server_b, room, link):
    """B crashes (its rooms are lost with it) and stays down longer than
    the retries: every ping bounces at A, the check gives up and keeps the
    entry. Prosody reports no loss of a link that never authenticated, so
    nothing else would ask again: when a link to B is established again
    (outgoing: the client's own iq opens it; incoming: B's MUC service
    sends A a stanza, authenticating as itself: with dialback, A's check
    of B's key opens an outgoing link too; incoming-event: the
    s2sin-established event alone, as a stream authenticated by
    certificate gives it, fired in A's shell), the rooms on B are asked
    again;
    the room, gone with the crash, says Alice is not in it: the ghost is
    removed and the client told (110 + 333)."""
    a = connect("alice")
    r = rroom(room)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    server_b.crash()
    try:
        close_link(server, must=False)
        wait_stat(server, lambda s: s["pings_given_up"] > before["pings_given_up"],
                  timeout=1 + START_DELAY + MAX_ROUND * (PING_TIMEOUT + 1) + 2 ** RETRIES * BACKOFF + 3,
                  what="the module to give up pinging the room of the crashed server")
        assert_rooms(a, {r: "Alice"}, when="after the check gave up (nothing known)")
        # rest ends: no new round by itself
        time.sleep(2 ** (RETRIES + 1) * BACKOFF + 1)
        sent = stats(server)["pings_sent"]
    finally:
        server_b.launch()
    assert stats(server)["pings_sent"] == sent, "a ping went out with no new reason"
    if link == "outgoing":
        ping_room(a, r)
    elif link == "incoming-event":
        rc, out = server.admin(
            f"> prosody.events.fire_event('s2sin-established', {{ session = {{ type = 's2sin', "
            f"from_host = {MUC_B!r}, to_host = {A!r}, hosts = {{ [{MUC_B!r}] = {{ authed = true }} }} }} }})")
        assert rc == 0, out
    else:
        rc, out = server_b.admin(
            f"> prosody.core_post_stanza(prosody.hosts[{MUC_B!r}], "
            f"require 'util.stanza'.message({{ from = {MUC_B!r}, to = {a.jid!r} }})"
            f":body('the service is back'))")
        assert rc == 0, out
    evs = wait_events(a, seq, lambda e: e["name"] == "left", room=r, timeout=PING_TIMEOUT + 10,
                      what="the ghost found once a link to the remote server is back")
    assert evs[0].get("reason") == "ghost", evs
    assert_rooms(a, {}, when="after the link came back and the room said 'not joined'")
    a.wait(lambda s: is_333(s, r), since=m, what="the 110 + 333 notice to the client")


# --------------------------------------------------------------------------
# 2. a ping lost in a closing link, answered or timed out after a rejoin


@pytest.mark.parametrize("when", ["after-resume", "while-hung"])
def test_old_ping_after_rejoin_keeps_entry(connect, server, server_b, room, when):
    """A ping goes out over a live link to a hung B (it sits in B's socket
    buffer), then A closes that link. B resumes; before the old ping's
    timeout the client leaves and rejoins. Whatever becomes of the old ping
    (answered late, or timed out), it is older than the rejoin: the entry
    stays, no ghost, no 333."""
    a = connect("alice")
    r = rroom(room)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    close_link(server)                 # the trigger: a ping in START_DELAY
    ping_room(a, r)                    # a new live link for the ping to go out on
    t_close = time.monotonic()
    with Paused(server_b) as paused:
        wait_stat(server, lambda s: s["pings_sent"] > before["pings_sent"],
                  timeout=START_DELAY + 3, what="the self-ping after the closed link")
        close_link(server, must=False)  # the link with the unanswered ping closes
        if when == "while-hung":
            # leave and rejoin go out before B can answer the old ping
            a.leave(r, "Alice", wait=False)
            mj = a.join(r, "Alice", wait=False)
            time.sleep(0.3)
        paused.resume()
        assert time.monotonic() - t_close < START_DELAY + PING_TIMEOUT, "too slow to test"
        if when == "while-hung":
            a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_=None, self_=True), mj,
                   what="the self-presence of the rejoin")
        else:
            a.leave(r, "Alice")
            a.join(r, "Alice")
    assert_rooms(a, {r: "Alice"}, when="after leaving and rejoining")
    # the old ping's timeout (and retry) would be over by now
    time.sleep(PING_TIMEOUT + BACKOFF + 1)
    assert_rooms(a, {r: "Alice"}, when="after the old ping's timeout")
    assert_no_ghost(a, seq, m, r, "old ping after a rejoin")
    evs = [e for e in a.events(seq, room=r) if e["name"] in ("left", "joined")]
    assert [(e["name"], e.get("reason")) for e in evs] == [("left", "voluntary"),
                                                           ("joined", None)], evs
    d = delta(before, stats(server))
    assert d["pings_not_joined"] == 0, d
    assert d["pings_outstanding"] == 0, d
    print(f"old ping: stats delta {d}")


# --------------------------------------------------------------------------
# 3. a flapping link


def test_flapping_link_pings_are_debounced(connect, server, server_b, room):
    """The link to B is closed and reopened over and over: one check per
    start-delay window, one outstanding ping per room; the entry stays."""
    a = connect("alice")
    r = rroom(room)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    t0 = time.monotonic()
    closes = 0
    for i in range(8):
        if i:
            ping_room(a, r)  # reopen the link
        if close_link(server, must=False):
            closes += 1
        if i == 4:
            time.sleep(1.5 * START_DELAY)  # a burst, then slower flaps
    elapsed = time.monotonic() - t0
    time.sleep(START_DELAY + 1.5)  # the last check's ping, answered
    d = delta(before, stats(server))
    # one check per START_DELAY window (and never more than one per close)
    bound = min(closes, int(elapsed / START_DELAY) + 2)
    assert 1 <= d["pings_sent"] <= bound, (
        f"{closes} link closes in {elapsed:.1f}s (start delay {START_DELAY}s): "
        f"{d['pings_sent']} pings sent, expected 1..{bound}; stats delta {d}")
    assert d["pings_not_joined"] == 0, d
    assert_rooms(a, {r: "Alice"}, when=f"after {closes} closes of the link")
    assert_no_ghost(a, seq, m, r, "flapping link")
    print(f"flapping: {closes} closes in {elapsed:.1f}s -> {d['pings_sent']} pings "
          f"(joined {d['pings_joined']}, unknown {d['pings_unknown']})")


# --------------------------------------------------------------------------
# 4. a graceful restart of B: the user is still in the room


def test_graceful_restart_of_remote_keeps_entry(connect, server, server_b, room):
    """SIGTERM: Prosody 0.12 saves the room with its occupants and restores
    them; the link loss makes the module ask, the room says 'joined' (or the
    pings bounce while B is starting): the entry stays, no forced rejoin."""
    a = connect("alice")
    r = rroom(room)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    server_b.stop()
    server_b.launch()
    wait_stat(server, lambda s: s["pings_joined"] > before["pings_joined"],
              timeout=START_DELAY + 2 * (PING_TIMEOUT + BACKOFF) + 6,
              what="a self-ping answered 'joined' by the restored room")
    assert_rooms(a, {r: "Alice"}, when="after a graceful restart of the remote server")
    assert_no_ghost(a, seq, m, r, "graceful restart")
    d = delta(before, stats(server))
    assert d["pings_not_joined"] == 0, d
    print(f"graceful restart: stats delta {d}")
    # still in the room for real: a leave is confirmed
    a.leave(r, "Alice")
    assert_rooms(a, {}, when="after leaving")


# --------------------------------------------------------------------------
# 5. a stranger claiming to be the MUC service: no lost link


def fake_stream(server, claimed, dialback):
    """Open TCP to A's s2s port, claim to be `claimed` in the stream header
    (and, with dialback, in an unverified db:result), then hang up."""
    with socket.create_connection(("127.0.0.1", server.s2s_port), timeout=5) as sock:
        sock.sendall((f"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                      f"xmlns:stream='http://etherx.jabber.org/streams' "
                      f"xmlns:db='jabber:server:dialback' from='{claimed}' to='{A}' "
                      f"version='1.0'>").encode())
        got = b""
        deadline = time.monotonic() + 5
        while b"</stream:features>" not in got and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
        assert b"<stream:stream" in got, f"no stream header from {A}: {got!r}"
        if dialback:
            sock.sendall(f"<db:result from='{claimed}' to='{A}'>f00d</db:result>".encode())
            time.sleep(0.2)


@pytest.mark.parametrize("dialback", [False, True], ids=["header", "header+db-result"])
def test_unauthenticated_stream_does_not_fake_a_lost_link(connect, server, room, dialback):
    """Anyone can open TCP to port 5269 with from='conference.b.localhost'
    and hang up: Prosody fires s2s-destroyed for that session too, but its
    from_host (and an unverified dialback request's from) is only a claim.
    No self-ping may follow; a real lost link still pings (the tests
    above)."""
    a = connect("alice")
    r = rroom(room)
    a.join(r, "Alice")
    seq, m = a.event_seq(), a.mark()
    before = stats(server)
    off = server.log_size()
    for _ in range(3):
        fake_stream(server, MUC_B, dialback)
    time.sleep(START_DELAY + 2.5)  # a check would be due by now, and its ping sent
    log = server.log_text(off)
    # the fake sessions did go through s2s-destroyed
    assert re.search(r"Destroying incoming session " + re.escape(MUC_B), log), (
        "the fake s2s sessions were not destroyed: the test proves nothing")
    d = delta(before, stats(server))
    assert d["pings_sent"] == 0, (
        f"an unauthenticated stream claiming {MUC_B} made A self-ping: stats delta {d}")
    assert_rooms(a, {r: "Alice"}, when="after fake streams claiming the MUC service")
    assert_no_ghost(a, seq, m, r, "fake stream")


# --------------------------------------------------------------------------
# 6. several virtual hosts: an outgoing link is one host's


def test_outgoing_link_loss_pings_only_its_own_hosts_sessions(connect, server, room):
    """Server A also serves two.a.localhost, with the module (its own
    tracker). Each host reaches conference.b.localhost over its own
    outgoing s2s session; closing a.localhost's asks about a.localhost's
    sessions' rooms only, and the other way round."""
    r = rroom(room)
    a = connect("alice")
    a2 = connect("alice", domain=A2)
    a.join(r, "Alice")
    a2.join(r, "Alice2")
    for host, other in ((A, A2), (A2, A)):
        before = {h: stats(server, h) for h in (A, A2)}
        # host's one outgoing session to MUC_B, closed from the global env:
        # Prosody 13's s2s:close(from, to) matches either name against the
        # session's to_host and closes all four sessions to and from MUC_B
        # (0.12 matched from_host == from and to_host == to)
        rc, out = server.admin(f"> local s = prosody.hosts[{host!r}].s2sout[{MUC_B!r}]; "
                               f"if not s then return 'no session' end; "
                               f"s:close(); return 'Closed 1 s2s session'")
        assert rc == 0 and "Closed 1 " in out, out
        wait_stat(server, lambda s, b=before[host]["pings_sent"]: s["pings_sent"] > b,
                  START_DELAY + 10, f"{host}'s self-ping after its link closed", host=host)
        time.sleep(START_DELAY + 1.5)  # a check of the other host would be due by now
        d = delta(before[other], stats(server, other))
        assert d["pings_sent"] == 0, (
            f"closing {host}'s outgoing link to {MUC_B} made {other} self-ping: "
            f"stats delta {d}")
    assert_rooms(a, {r: "Alice"}, when="after the links were closed")
    assert_rooms(a2, {r: "Alice2"}, when="after the links were closed")

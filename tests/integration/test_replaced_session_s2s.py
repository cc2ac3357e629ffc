"""A replaced session's removal crossing the new session's rejoin, against
real Prosodys over s2s: the room is Prosody's own MUC on server B. A's
mod_smacks bounces a replaced hibernating session's unacked groupchat
message; B's MUC kicks the occupant for it (333, is_kickable_error). B is
slow (SIGSTOP for a moment, sockets open: a loaded remote server), so the
kick reaches A after the new session, bound under the same full JID, sent
its autojoin. B answers the join normally: the new session is in the room,
and must be tracked."""

import itertools
import os
import signal
import time

import pytest

from harness import (
    Client, ProsodyServer, WAIT, assert_rooms, is_presence, two_prosodys)

A, B = "a.localhost", "b.localhost"
MUC_B = f"conference.{B}"


@pytest.fixture(scope="module")
def servers(lt):
    yield from two_prosodys(
        ProsodyServer(name="replaced-a", domain=A, muc_domain=f"conference.{A}", components=(),
                      extra_host_modules=("smacks",),
                      options={"smacks_hibernation_time": 60}),
        ProsodyServer(name="replaced-b", domain=B, muc_domain=MUC_B, components=()))


@pytest.fixture(scope="module")
def server(servers):
    return servers[0]


@pytest.fixture(scope="module")
def server_b(servers):
    return servers[1]


def test_kick_for_smacks_bounce_crossing_the_new_sessions_join(lt, server, server_b, room):
    n = itertools.count(1)
    clients = []

    def client(srv, user, res=None, smacks=False):
        c = Client(lt, srv, user, res or f"replaced-{next(n)}").connect(True, smacks)
        clients.append(c)
        return c

    try:
        r = room("bounce", MUC_B)
        bob = client(server_b, "bob")
        bob.join(r, "Bob")  # owner, on B
        w = client(server, "carol")  # watcher on A
        old = client(server, "alice", res="replaced-res", smacks=True)
        old.join(r, "Alice")
        jid = old.jid
        assert_rooms(old, {r: "Alice"}, when="after joining the remote room")
        old.drop()
        deadline = time.monotonic() + WAIT
        while not w.rooms(jid).hibernating:
            assert time.monotonic() < deadline, "did not hibernate"
            time.sleep(0.1)
        # a room message queued, unacked, in the hibernating session
        m = bob.mark()
        bob.send(f"<message to='{r}' type='groupchat' id='replaced-q1'><body>hi</body></message>")
        bob.wait(lambda s: s.name == "message" and s.id == "replaced-q1", m, what="the echo")
        time.sleep(0.5)
        # B is slow: what A sends it now waits, in order
        os.kill(server_b.proc.pid, signal.SIGSTOP)
        try:
            new = client(server, "alice", res="replaced-res")  # kick_old: bounce + unavailable to B
            assert new.jid == jid
            new.join(r, "Alice", wait=False)  # the autojoin, queued behind them
            time.sleep(1.0)
        finally:
            os.kill(server_b.proc.pid, signal.SIGCONT)
        m0 = 0
        answer = new.wait(lambda s: is_presence(s, frm=r + "/Alice", type_=None, self_=True),
                          m0, timeout=WAIT, what="B's answer to the new join")
        kicked = new.find(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable"), m0)
        time.sleep(0.5)
        assert kicked and "333" in kicked[0].status_codes, (
            f"B did not kick the old occupant for the bounce: the test proves nothing "
            f"({[str(k) for k in kicked]})")
        assert answer.is_self
        assert_rooms(new, {r: "Alice"},
                     when="after B kicked the replaced session (333) and answered the new join")
    finally:
        for c in clients:
            c.disconnect()

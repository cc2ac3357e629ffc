"""A lifecycle soak over server-to-server links (test_soak.py's figures,
soak_probe.py): sessions on A in rooms on B while the links go down and
up (s2s:closeall) and B restarts. Prints "soak ..." lines; asserts
generous bounds. Skipped unless MUCJOINS_SOAK=1:
  MUCJOINS_SOAK=1 scripts/integration.sh tests/integration/test_soak_s2s.py -s"""

import os
import time

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("MUCJOINS_SOAK"),
                                reason="a soak: set MUCJOINS_SOAK=1")

from harness import ProsodyServer, two_prosodys  # noqa: E402
from soak_probe import probe, show  # noqa: E402

A, B = "a.localhost", "b.localhost"
MUC_B = f"conference.{B}"
CYCLES = int(os.environ.get("MUCJOINS_SOAK_LINKS", "100"))


@pytest.fixture(scope="module")
def servers(lt):
    fast = {"track_muc_joins_ping_start_delay": 0.5, "track_muc_joins_ping_backoff": 1}
    yield from two_prosodys(
        ProsodyServer(name="soak-a", domain=A, muc_domain=f"conference.{A}", components=(),
                      options=fast),
        ProsodyServer(name="soak-b", domain=B, muc_domain=MUC_B, components=()))


@pytest.fixture(scope="module")
def server(servers):
    return servers[0]


def test_links_down_and_up(connect, server, servers, room):
    b = servers[1]
    cs = [connect("alice"), connect("bob")]
    rooms = [room("s2s", MUC_B) for _ in range(4)]
    for i, c in enumerate(cs):
        for r in rooms:
            c.join(r, f"u{i}")
    want = [dict(c.rooms()) for c in cs]

    def cycle(n):
        for k in range(n):
            rc, out = server.admin(f"s2s:closeall({MUC_B!r})")
            # traffic brings the link up again; every 5th cycle from B's side
            if k % 5 == 0:
                b.admin(f"s2s:closeall({A!r})")
            cs[k % 2].send(f"<message type='groupchat' to='{rooms[k % 4]}'><body>k{k}</body></message>")
            time.sleep(0.3)
        time.sleep(4)  # the self-pings of the last loss answered

    cycle(10)
    p0 = probe(server, A)
    show("s2s: baseline", p0)
    for rnd in range(2):
        cycle(CYCLES)
        p = probe(server, A)
        show(f"s2s: +{CYCLES * (rnd + 1)} link losses", p)
    for c in range(3):
        b.stop()
        b.launch()
        for i, cl in enumerate(cs):  # the rooms are gone with B: rejoin
            for r in rooms:
                cl.join(r, f"u{i}")
    time.sleep(6)
    p2 = probe(server, A)
    show("s2s: +3 restarts of B", p2)
    assert [dict(c.rooms()) for c in cs] == want
    for key in ("timers", "host_handlers", "global_handlers", "prosody_keys"):
        assert p[key] <= p0[key] + 5, (key, p0[key], p[key])
    assert p["heap"] < p0["heap"] + 1024, (p0["heap"], p["heap"])

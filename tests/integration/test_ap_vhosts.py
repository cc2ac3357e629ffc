"""Review AP: the s2s link handlers of selfping.lib.lua are global events
hooked once per VirtualHost. A remote server piggybacking D domains on one
incoming stream (dialback) costs each host's handler up to MAX_VISITS
visits, so V VirtualHosts pay V times that. Synthetic events of the shape
mod_s2s fires (s2sin-established once per authenticated domain,
s2s-destroyed at the end), timed inside Prosody with os.clock()."""

import re

import pytest

from harness import ProsodyServer

FIRE = (">local s = {{ type = 's2sin', hosts = {{}} }}; local t0 = os.clock(); "
        "for i = 1, {d} do s.hosts['d' .. i .. '.evil.example'] = {{ authed = true }}; "
        "prosody.events.fire_event('s2sin-established', {{ session = s }}) end; "
        "local t1 = os.clock(); prosody.events.fire_event('s2s-destroyed', {{ session = s }}); "
        "return ('T %.4f %.4f'):format(t1 - t0, os.clock() - t1)")


def run(server, d):
    rc, out = server.admin(FIRE.format(d=d), timeout=600)
    m = re.search(r"T (\d+\.\d+) (\d+\.\d+)", out)
    assert m, out
    return float(m.group(1)), float(m.group(2))


@pytest.mark.parametrize("vhosts", [1, 50])
def test_piggybacked_domains_times_vhosts(lt, vhosts):
    srv = ProsodyServer(extra_hosts=[f"h{i}.localhost" for i in range(vhosts - 1)],
                        name=f"ap_vhosts_{vhosts}")
    try:
        srv.start(users=("alice",))
        for d in (100, 450, 2000):
            est, lost = run(srv, d)
            print(f"\nAP vhosts={vhosts} domains={d}: established x{d} {est:.3f}s, destroyed {lost:.4f}s")
    finally:
        srv.stop()
        srv.cleanup()

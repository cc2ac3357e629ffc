"""The s2s link handlers of selfping.lib.lua are global events hooked once
per VirtualHost. A remote server piggybacking D domains on
one incoming stream (dialback) fires s2sin-established once per domain;
walking the stream's domains cost each host's handler up to MAX_VISITS
(100,000) visits, so V VirtualHosts paid V times that (50 hosts: 0.29 s
of the event loop per stream of 450 domains, against 0.007 s for one
host). The walk is now shared by the hosts' loads. Synthetic events of
the shape mod_s2s fires (s2sin-established per authenticated domain,
s2s-destroyed at the end), timed inside Prosody with os.clock(): the
50-host server must not take more than a few times the 1-host one.

A timing, so a measurement run by hand (make test has the deterministic
check: tests/lua/test_link_events.lua counts the visits of 20 hosts):
  MUCJOINS_BENCH_GLUE=1 scripts/integration.sh tests/integration/test_glue_s2sin_hosts.py -s
"""

import os
import re

import pytest

from harness import ProsodyServer

pytestmark = pytest.mark.skipif(not os.environ.get("MUCJOINS_BENCH_GLUE"),
                                reason="a measurement: set MUCJOINS_BENCH_GLUE=1")

FIRE = (">local s = {{ type = 's2sin', hosts = {{}} }}; local t0 = os.clock(); "
        "for i = 1, {d} do s.hosts['d' .. i .. '.evil.example'] = {{ authed = true }}; "
        "prosody.events.fire_event('s2sin-established', {{ session = s }}) end; "
        "local t1 = os.clock(); prosody.events.fire_event('s2s-destroyed', {{ session = s }}); "
        "return ('T %.4f %.4f'):format(t1 - t0, os.clock() - t1)")
DOMAINS = 450  # about where the per-stream budget is spent
VHOSTS = 50


def established(server, d=DOMAINS):
    best = None
    for _ in range(3):
        rc, out = server.admin(FIRE.format(d=d), timeout=600)
        m = re.search(r"T (\d+\.\d+) (\d+\.\d+)", out)
        assert m, out
        best = float(m.group(1)) if best is None else min(best, float(m.group(1)))
    return best


def run_with(vhosts):
    srv = ProsodyServer(extra_hosts=[f"h{i}.localhost" for i in range(vhosts - 1)],
                        name=f"ap_vhosts_{vhosts}")
    try:
        srv.start(users=("alice",))
        return established(srv)
    finally:
        srv.stop()
        srv.cleanup()


def test_piggybacked_domains_cost_does_not_scale_with_vhosts(lt):
    one = run_with(1)
    many = run_with(VHOSTS)
    print(f"\n{DOMAINS} piggybacked domains: 1 host {one:.4f}s, {VHOSTS} hosts {many:.4f}s")
    # before the fix: about 40 times; the link ups themselves are V x D
    # calls into the trackers (linear)
    assert many <= 10 * max(one, 0.002), (
        f"{VHOSTS} VirtualHosts took {many:.3f}s against {one:.3f}s for one")

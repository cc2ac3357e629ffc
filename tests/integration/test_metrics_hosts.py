"""Metrics (README "Metrics") on two VirtualHosts, across an unload and a
load of the module on one of them, a reload, and a session's hibernation
and resumption (mod_smacks): each host's series count that host's
sessions only, a counter never goes back or counts an event twice, and
the gauge rooms_tracked follows the rooms shown (a hibernating session's
included) and is 0 where the module is unloaded."""

import time

import pytest

from harness import WAIT, free_ports
from test_metrics import PREFIX, wait_http, wait_scrape
from test_metrics import PROSODY_OPTIONS as METRICS_OPTIONS

HTTP_PORT = free_ports(1)[0]
SECOND = "second.localhost"
EXTRA_HOSTS = (SECOND,)
HOST_MODULES = ["smacks"]
HIBERNATION = 4
# test_metrics.py's server, with this file's own HTTP port and hibernation
PROSODY_OPTIONS = dict(METRICS_OPTIONS, http_ports=[HTTP_PORT],
                       smacks_hibernation_time=HIBERNATION)
URL = f"http://127.0.0.1:{HTTP_PORT}/metrics"


@pytest.fixture(scope="module", autouse=True)
def http_up(server):
    wait_http(HTTP_PORT)


def wait_for(pred, what):
    return wait_scrape(pred, what, timeout=WAIT + 3, url=URL)


def gauges(localhost, second):
    return lambda s: (s.value("rooms_tracked", host="localhost") == localhost
                      and s.value("rooms_tracked", host=SECOND) == second)


def never_back(before, after):
    """No counter of the module went back between two scrapes."""
    back = [(k, before.samples[k], after.samples.get(k, 0.0)) for k in before.samples
            if k[0].startswith(PREFIX) and k[0].endswith("_total")
            and after.samples.get(k, 0.0) < before.samples[k]]
    assert not back, f"counters went back: {back}"


def test_each_host_counts_its_own_sessions(connect, room):
    s0 = wait_for(gauges(0, 0), "both gauges at 0")
    a = connect("alice")
    b = connect("alice", domain=SECOND)
    r1, r2 = room(), room()
    a.join(r1, "A")
    b.join(r1, "B")
    b.join(r2, "B")
    s1 = wait_for(gauges(1, 2), "rooms_tracked 1 on localhost, 2 on " + SECOND)
    assert s1.value("joins_total", host="localhost") \
        - s0.value("joins_total", host="localhost") == 1
    assert s1.value("joins_total", host=SECOND) - s0.value("joins_total", host=SECOND) == 2
    a.leave(r1, "A")
    b.disconnect()
    s2 = wait_for(gauges(0, 0), "both gauges back at 0")
    assert s2.value("leaves_total", host=SECOND, reason="session-closed") \
        - s1.value("leaves_total", host=SECOND, reason="session-closed") == 2, s2.ours()
    assert s2.value("leaves_total", host="localhost", reason="session-closed") \
        == s1.value("leaves_total", host="localhost", reason="session-closed"), s2.ours()
    never_back(s1, s2)


def test_unload_and_load_on_one_host_leaves_the_other_alone(server, connect, room):
    a = connect("alice")
    b = connect("alice", domain=SECOND)
    r = room()
    a.join(r, "A")
    b.join(r, "B")
    s1 = wait_for(gauges(1, 1), "rooms_tracked 1 on each host")
    rc, out = server.admin(f"module:unload('track_muc_joins', '{SECOND}')")
    assert rc == 0, out
    s2 = wait_for(gauges(1, 0), f"rooms_tracked 0 on {SECOND} once unloaded, 1 on localhost")
    never_back(s1, s2)
    rc, out = server.admin(f"module:load('track_muc_joins', '{SECOND}')")
    assert rc == 0, out
    # the new load adopts the room rooms_joined still shows (a self-ping
    # checks it later); its counters go on from where they were
    s3 = wait_for(gauges(1, 1), f"the room adopted on {SECOND}")
    never_back(s2, s3)
    rc, out = server.admin("module:reload('track_muc_joins', 'localhost')")
    assert rc == 0, out
    b.leave(r, "B")
    s4 = wait_for(gauges(1, 0), f"the leave on {SECOND} after the reload on localhost")
    never_back(s3, s4)
    assert s4.value("joins_total", host="localhost") \
        == s1.value("joins_total", host="localhost"), s4.ours()
    assert s4.value("leaves_total", host=SECOND, reason="voluntary") \
        - s1.value("leaves_total", host=SECOND, reason="voluntary") == 1, s4.ours()
    a.disconnect()
    b.disconnect()
    wait_for(gauges(0, 0), "both gauges back at 0")


def test_hibernation_and_resumption_count_nothing_twice(server, connect, room):
    a = connect("alice", smacks=True)
    r = room()
    a.join(r, "A")
    s1 = wait_for(gauges(1, 0), "rooms_tracked 1")
    a.drop()
    time.sleep(1.5)  # the server notices the lost connection and hibernates
    s2 = wait_for(gauges(1, 0), "the hibernating session's room still counted")
    a.resume()
    time.sleep(1.5)
    s3 = wait_for(gauges(1, 0), "the resumed session's room")
    for s in (s2, s3):
        assert s.value("joins_total", host="localhost") \
            == s1.value("joins_total", host="localhost"), s.ours()
        assert s.value("leaves_total", host="localhost", reason="session-closed") \
            == s1.value("leaves_total", host="localhost", reason="session-closed"), s.ours()
    a.drop()
    s4 = wait_for(gauges(0, 0), "the room gone when the hibernation ends")
    assert s4.value("leaves_total", host="localhost", reason="session-closed") \
        - s1.value("leaves_total", host="localhost", reason="session-closed") == 1, s4.ours()
    never_back(s1, s4)

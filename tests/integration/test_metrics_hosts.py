"""Metrics (README "Metrics") on two VirtualHosts, across an unload and a
load of the module on one of them, a reload, and a session's hibernation
and resumption (mod_smacks): each host's series count that host's
sessions only, a counter never goes back or counts an event twice, and
the gauge rooms_tracked follows the rooms shown (a hibernating session's
included) and is 0 where the module is unloaded."""

import re
import socket
import time
import urllib.request

from harness import WAIT, free_ports

HTTP_PORT = free_ports(1)[0]
SECOND = "second.localhost"
EXTRA_HOSTS = (SECOND,)
HOST_MODULES = ["smacks"]
HIBERNATION = 4
PROSODY_OPTIONS = {
    "statistics": "internal",
    "statistics_interval": "manual",
    "modules_enabled": ["roster", "saslauth", "disco", "posix", "admin_shell", "ping",
                        "http_openmetrics"],
    "http_ports": [HTTP_PORT],
    "http_interfaces": ["127.0.0.1"],
    "https_ports": [],
    "track_muc_joins_pending_timeout": 4,  # a tick every second
    "smacks_hibernation_time": HIBERNATION,
}
PREFIX = "prosody_mod_track_muc_joins__"
URL = f"http://127.0.0.1:{HTTP_PORT}/metrics"
_SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape():
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with urllib.request.urlopen(URL, timeout=5) as r:
                text = r.read().decode("utf-8")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or PREFIX not in line:
            continue
        m = _SAMPLE.match(line)
        if m:
            samples[(m.group(1)[len(PREFIX):], frozenset(_LABEL.findall(m.group(2) or "")))] = \
                float(m.group(3))
    return samples


def value(samples, name, host, **labels):
    return samples.get((name, frozenset(dict(labels, host=host).items())), 0.0)


def wait_for(pred, what):
    deadline = time.monotonic() + WAIT + 3
    while True:
        s = scrape()
        if pred(s):
            return s
        if time.monotonic() > deadline:
            ours = "\n".join(f"  {k[0]}{sorted(k[1])} {v:g}" for k, v in sorted(s.items(), key=str)
                             if "_created" not in k[0])
            raise AssertionError(f"waited for {what}; the module's samples:\n{ours}")
        time.sleep(0.25)


def gauges(localhost, second):
    return lambda s: (value(s, "rooms_tracked", "localhost") == localhost
                      and value(s, "rooms_tracked", SECOND) == second)


def never_back(before, after):
    """No counter of the module went back between two scrapes."""
    back = [(k, before[k], after.get(k, 0.0)) for k in before
            if k[0].endswith("_total") and after.get(k, 0.0) < before[k]]
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
    assert value(s1, "joins_total", "localhost") - value(s0, "joins_total", "localhost") == 1
    assert value(s1, "joins_total", SECOND) - value(s0, "joins_total", SECOND) == 2
    a.leave(r1, "A")
    b.disconnect()
    s2 = wait_for(gauges(0, 0), "both gauges back at 0")
    assert value(s2, "leaves_total", SECOND, reason="session-closed") \
        - value(s1, "leaves_total", SECOND, reason="session-closed") == 2, s2
    assert value(s2, "leaves_total", "localhost", reason="session-closed") \
        == value(s1, "leaves_total", "localhost", reason="session-closed"), s2
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
    assert value(s4, "joins_total", "localhost") == value(s1, "joins_total", "localhost"), s4
    assert value(s4, "leaves_total", SECOND, reason="voluntary") \
        - value(s1, "leaves_total", SECOND, reason="voluntary") == 1, s4
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
        assert value(s, "joins_total", "localhost") == value(s1, "joins_total", "localhost"), s
        assert value(s, "leaves_total", "localhost", reason="session-closed") \
            == value(s1, "leaves_total", "localhost", reason="session-closed"), s
    a.drop()
    s4 = wait_for(gauges(0, 0), "the room gone when the hibernation ends")
    assert value(s4, "leaves_total", "localhost", reason="session-closed") \
        - value(s1, "leaves_total", "localhost", reason="session-closed") == 1, s4
    never_back(s1, s4)

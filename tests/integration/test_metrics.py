"""Metrics (README "Metrics"): the module's metric families as Prosody 0.12
exports them over HTTP with statistics = "internal" and
mod_http_openmetrics, scraped before and after real client actions.

OpenMetrics rendering in Prosody 0.12 turns the "/" of
prosody_mod_track_muc_joins/<name> into "__" and gives counters a _total
sample (plus _created); every sample carries host="localhost". Labelled
counters (leaves, join_failures, self_pings, refused) have no sample until
the first event with that label: a missing sample counts as 0 here.

Counters move when the event happens; the gauge rooms_tracked and the
refused{kind} counters are updated by the module's tick timer, every
min(5, pending_timeout / 4, ping_start_delay / 2) s (pending_timeout = 4
makes that 1 s), and at every collection (stats-update): one scrape is
consistent. Assertions that wait for something else poll the scrape
(bounded)."""

import re
import socket
import time
import urllib.error
import urllib.request

import pytest

from harness import WAIT, free_ports, new_id, self_presence, sroom, xa, xt

HTTP_PORT = free_ports(1)[0]
TICK = 1  # pending_timeout / 4
PROSODY_OPTIONS = {
    "statistics": "internal",
    # "manual": no periodic collection; mod_http_openmetrics collects on
    # every scrape, so each scrape shows current values
    "statistics_interval": "manual",
    "modules_enabled": ["roster", "saslauth", "disco", "posix", "admin_shell", "ping",
                        "http_openmetrics"],
    "http_ports": [HTTP_PORT],
    "http_interfaces": ["127.0.0.1"],
    "https_ports": [],
    "track_muc_joins_pending_timeout": 4,
}
HOST = "localhost"
PREFIX = "prosody_mod_track_muc_joins__"
URL = f"http://127.0.0.1:{HTTP_PORT}/metrics"
GAUGE_WAIT = WAIT + 3 * TICK

_SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Scrape:
    """One scrape: samples {(name, frozenset(labels)): value}, TYPE lines."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.types = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(None, 3)
                self.types[name] = kind
                continue
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            assert m, f"unparsable OpenMetrics line from {URL}: {line!r}"
            labels = frozenset(_LABEL.findall(m.group(2) or ""))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def value(self, sample, host=HOST, **labels):
        """The module's sample PREFIX+sample with this host (localhost) and
        these labels; 0 when absent (a labelled counter never incremented)."""
        key = (PREFIX + sample, frozenset(dict(labels, host=host).items()))
        return self.samples.get(key, 0.0)

    def has(self, sample, **labels):
        return (PREFIX + sample, frozenset(dict(labels, host=HOST).items())) in self.samples

    def ours(self):
        return "\n".join(f"    {line}" for line in self.text.splitlines()
                         if PREFIX in line and not line.startswith("#")
                         and "_created" not in line) or "    (none)"


def wait_http(port):
    """The harness waits for c2s, s2s and component ports; mod_http may
    open its port a moment later."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"Prosody's HTTP port {port} did not open in "
                                     f"{WAIT:.0f}s: {e}")
            time.sleep(0.05)


@pytest.fixture(scope="module", autouse=True)
def http_up(server):
    wait_http(HTTP_PORT)


def scrape(url=URL):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.status == 200, f"GET {url}: HTTP {r.status}"
            return Scrape(r.read().decode("utf-8"))
    except urllib.error.URLError as e:
        raise AssertionError(f"GET {url} failed: {e}") from e


def wait_scrape(pred, what, timeout=GAUGE_WAIT, url=URL):
    """Scrape until pred(scrape) holds (values the tick timer updates)."""
    deadline = time.monotonic() + timeout
    while True:
        s = scrape(url)
        if pred(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f}s for {what}; the module's samples:\n"
                                 + s.ours())
        time.sleep(0.25)


def delta(before, after, sample, **labels):
    return after.value(sample, **labels) - before.value(sample, **labels)


def assert_delta(before, after, sample, expected, **labels):
    got = delta(before, after, sample, **labels)
    lab = ",".join(f'{k}="{v}"' for k, v in sorted(dict(labels, host=HOST).items()))
    assert got == expected, (f"{PREFIX}{sample}{{{lab}}} changed by {got:g}, expected "
                             f"{expected:g} (before {before.value(sample, **labels):g}, after "
                             f"{after.value(sample, **labels):g}); the module's samples now:\n"
                             + after.ours())


def idle_gauge():
    """Sessions of earlier tests are closed: the gauge is back to 0."""
    return wait_scrape(lambda s: s.value("rooms_tracked") == 0,
                       "rooms_tracked to be 0 before the test")


def say(c, r, body):
    mid = new_id("msg")
    m = c.mark()
    c.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}><body>{xt(body)}</body></message>")
    c.wait(lambda s: s.name == "message" and s.id == mid and s.type == "groupchat", m,
           what=f"the room's reflection of {body!r}")
    return mid


def test_families_exported_with_types_and_host_label(server):
    s = scrape()
    want = {"joins": "counter", "leaves": "counter", "join_failures": "counter",
            "mentions": "counter", "self_pings": "counter", "refused": "counter",
            "rooms_tracked": "gauge"}
    got = {name: s.types.get(PREFIX + name) for name in want}
    assert got == want, (f"# TYPE of the module's families in {URL}:\n    expected {want}\n"
                         f"    got      {got}")
    for sample in ("joins_total", "mentions_total", "rooms_tracked"):
        assert s.has(sample), (f"{PREFIX}{sample}{{host=\"{HOST}\"}} missing from the scrape; "
                               f"the module's samples:\n" + s.ours())
    # refused_total{kind}: no sample before the first refusal of a kind
    # (a sample of 0 for each kind was written at every tick)
    time.sleep(2 * TICK + 0.5)
    s = scrape()
    for k in ("forged", "bad_jids", "limits"):
        assert not s.has("refused_total", kind=k) or s.value("refused_total", kind=k) > 0, (
            f"refused_total{{kind=\"{k}\"}} has a sample of 0 before any refusal:\n" + s.ours())


def test_join_and_leave_move_joins_leaves_and_gauge(connect, room):
    a = connect("alice")
    r1, r2 = room(), room()
    s0 = idle_gauge()
    a.join(r1, "Alice")
    a.join(r2, "Alice")
    s1 = wait_scrape(lambda s: s.value("rooms_tracked") == 2, "rooms_tracked 2 after two joins")
    assert_delta(s0, s1, "joins_total", 2)
    assert_delta(s0, s1, "leaves_total", 0, reason="voluntary")
    a.leave(r1, "Alice")
    s2 = wait_scrape(lambda s: s.value("rooms_tracked") == 1, "rooms_tracked 1 after a leave")
    assert_delta(s1, s2, "leaves_total", 1, reason="voluntary")
    assert_delta(s1, s2, "joins_total", 0)
    a.disconnect()
    s3 = wait_scrape(lambda s: s.value("rooms_tracked") == 0,
                     "rooms_tracked 0 after the session closed")
    assert_delta(s2, s3, "leaves_total", 1, reason="session-closed")
    assert_delta(s2, s3, "leaves_total", 0, reason="voluntary")


def test_one_scrape_shows_the_gauge_with_the_counters(connect, room):
    """A scrape at once after two joins: joins_total moved by 2 and
    rooms_tracked is 2 in the same scrape (the gauge was set only at the
    module's tick, up to 5 s later by default)."""
    a = connect("alice")
    r1, r2 = room(), room()
    s0 = idle_gauge()
    a.join(r1, "Alice")
    a.join(r2, "Alice")
    s1 = scrape()
    assert_delta(s0, s1, "joins_total", 2)
    assert s1.value("rooms_tracked") == 2, (
        f"one scrape counted 2 joins but rooms_tracked is {s1.value('rooms_tracked'):g}")
    a.disconnect()


def test_join_refused_with_conflict_counts_a_failure(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    idle_gauge()
    a.join(r, "Same")
    s0 = wait_scrape(lambda s: s.value("rooms_tracked") == 1, "rooms_tracked 1 after a join")
    err = b.join(r, "Same")
    assert err.type == "error" and err.error_condition == "conflict", f"expected 409: {err}"
    s1 = scrape()
    assert_delta(s0, s1, "join_failures_total", 1, reason="error")
    assert_delta(s0, s1, "joins_total", 0)
    time.sleep(2 * TICK + 0.5)  # two ticks: the refused join must not show in the gauge
    s2 = scrape()
    assert s2.value("rooms_tracked") == 1, (
        f"rooms_tracked went from 1 to {s2.value('rooms_tracked'):g} after a refused "
        f"join:\n" + s2.ours())


def test_forged_self_presence_counts_refused_forged(connect, component, room):
    a = connect("alice")
    s0 = idle_gauge()
    r = sroom(room)
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, codes=("110", "201")))
    s1 = wait_scrape(lambda s: delta(s0, s, "refused_total", kind="forged") >= 1,
                     "refused_total{kind=\"forged\"} to grow after a forged self-presence")
    time.sleep(TICK + 0.5)  # another tick: exactly one
    s2 = scrape()
    assert_delta(s0, s2, "refused_total", 1, kind="forged")
    assert_delta(s0, s2, "refused_total", 0, kind="bad_jids")
    assert_delta(s0, s2, "joins_total", 0)
    assert s1.value("rooms_tracked") == 0 and s2.value("rooms_tracked") == 0, (
        "a forged self-presence must not show in rooms_tracked:\n" + s2.ours())


def test_mention_from_another_occupant_counts_once(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    s0 = scrape()
    m = a.mark()
    mid = say(b, r, "just chatting, nobody in particular")
    a.wait(lambda s: s.id == mid, m, what="the chatter at alice")
    s1 = scrape()
    assert_delta(s0, s1, "mentions_total", 0)
    mid = say(b, r, "hey ALICE, look")
    a.wait(lambda s: s.id == mid, m, what="the mention at alice")
    s2 = scrape()
    assert_delta(s1, s2, "mentions_total", 1)
    say(a, r, "Alice speaking about Alice")  # own message: no mention
    s3 = scrape()
    assert_delta(s2, s3, "mentions_total", 0)


def test_reload_keeps_counters_without_double_counting(connect, component, room):
    a = connect("alice")
    base = scrape().value("refused_total", kind="forged")  # earlier tests' refusals
    component.deliver(a, self_presence(f"{sroom(room)}/Alice", a.jid))
    s0 = wait_scrape(lambda s: s.value("refused_total", kind="forged") >= base + 1,
                     "the forged self-presence counted")
    a.reload_module()
    time.sleep(2 * TICK + 0.5)  # ticks of the reloaded module
    s1 = scrape()
    assert_delta(s0, s1, "joins_total", 0)
    assert_delta(s0, s1, "refused_total", 0, kind="forged")


def test_reload_from_another_copy_keeps_counters_monotonic(server, connect, room):
    """A reload that loads another copy of mucjoins.so moves the rooms to
    a new tracker, whose counters start at zero: the metrics go on from
    where they were (they went down by the old tracker's counts)."""
    import shutil

    from harness import install_other_copy
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    a.leave(r, "Alice")
    s0 = wait_scrape(lambda s: s.value("joins_total") >= 1, "the join counted")
    copy = install_other_copy(server)
    off = server.log_size()
    try:
        a.reload_module()
        time.sleep(2 * TICK + 0.5)
        s1 = scrape()
        assert "another copy of mucjoins.so's" in server.log_text(off), (
            "the reload did not load the other copy: the test proves nothing")
        assert_delta(s0, s1, "joins_total", 0)
        assert_delta(s0, s1, "leaves_total", 0, reason="voluntary")
        a.join(r, "Alice")
        s2 = wait_scrape(lambda s: s.value("joins_total") > s1.value("joins_total"),
                         "the join after the reload counted")
        assert_delta(s1, s2, "joins_total", 1)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        a.reload_module()


def test_unload_sets_the_gauge_to_zero_and_a_load_shows_the_adopted_rooms(connect, room):
    """After an unload nothing is tracked: the gauge says 0 (Prosody 0.12
    keeps an unloaded module's metric families, with their last values);
    a load adopts the sessions' rooms and the gauge shows them again."""
    a = connect("alice")
    r = room()
    idle_gauge()
    a.join(r, "Alice")
    wait_scrape(lambda s: s.value("rooms_tracked") == 1, "rooms_tracked 1 after a join")
    a.unload_module()
    try:
        s = scrape()
        assert s.value("rooms_tracked") == 0, (
            f"rooms_tracked is {s.value('rooms_tracked'):g} with the module unloaded:\n"
            + s.ours())
    finally:
        a.load_module()
    wait_scrape(lambda s: s.value("rooms_tracked") == 1,
                "rooms_tracked 1 once the load adopted the room")
    a.leave(r, "Alice")
    wait_scrape(lambda s: s.value("rooms_tracked") == 0, "rooms_tracked 0 after the leave")


def test_reload_to_the_community_module_sets_the_gauge_to_zero(server, connect, room):
    """A reload whose next load is another module of the same name (the
    community one) ends this module's tracking as an unload does: the
    gauge says 0, not the rooms the ended tracker showed."""
    import shutil

    from harness import install_other_copy
    from test_reload_from_community import community_module_dir
    a = connect("alice")
    r = room()
    idle_gauge()
    a.join(r, "Alice")
    wait_scrape(lambda s: s.value("rooms_tracked") == 1, "rooms_tracked 1 after a join")
    tmp, src = community_module_dir()
    copy = install_other_copy(server, src)
    try:
        a.reload_module()  # now the community module runs
        wait_scrape(lambda s: s.value("rooms_tracked") == 0,
                    "rooms_tracked 0 once the community module replaced this one")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        a.reload_module()
    a.leave(r, "Alice")
    idle_gauge()

"""A muc-joins/* handler that reloads the module while the event comes
from the tick (a join timing out): the old load's tick went on after the
reload and counted the failure into the metric families Prosody keeps
across loads, and the new load counted it again from the counts the old
one had handed over. The filter case is
test_reload_in_filter.py."""

import time

import test_metrics as tm
from harness import sroom, start_join

PROSODY_OPTIONS = dict(tm.PROSODY_OPTIONS)
HOST_MODULES = ["test_on_event"]
scrape = tm.scrape
http_up = tm.http_up


def test_a_timeout_counts_once_across_a_reload_from_the_tick(server, connect, component, room):
    a = connect("alice")
    s0 = scrape()
    start_join(a, component, sroom(room), "Alice")  # never answered: times out
    server.wait_log("reloaded track_muc_joins from a join-failed handler", timeout=15)
    time.sleep(3 * tm.TICK + 0.5)  # ticks of the reloaded module
    s1 = scrape()
    got = (s1.value("join_failures_total", reason="timeout")
           - s0.value("join_failures_total", reason="timeout"))
    assert got == 1, f"one join timed out, join_failures{{reason=timeout}} moved by {got}"

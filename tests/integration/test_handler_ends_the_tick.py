"""A muc-joins/* handler that unloads the module while the event comes
from the tick (a join timing out): the rest of that tick is the unloaded
load's and must not run. It set the rooms_tracked gauge, which unload()
had zeroed, back to the rooms shown, for good. The reload
case is test_reload_from_the_tick.py."""

import time

import test_metrics as tm
from harness import joined, sroom, start_join

PROSODY_OPTIONS = dict(tm.PROSODY_OPTIONS, test_on_event_action="unload")
HOST_MODULES = ["test_on_event"]
scrape = tm.scrape
http_up = tm.http_up


def test_the_gauge_stays_zero_after_an_unload_from_a_tick_handler(server, connect, component, room):
    a = connect("alice")
    joined(a, component, sroom(room), "Alice")  # one room shown
    start_join(a, component, sroom(room), "Alice")  # never answered: times out
    server.wait_log("unloaded track_muc_joins from a join-failed handler: true", timeout=15)
    time.sleep(2)
    value = scrape().value("rooms_tracked")
    assert value == 0, f"rooms_tracked after the unload: {value}"

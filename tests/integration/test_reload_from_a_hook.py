"""A muc-joins/* handler that reloads the module while the event comes
from the module's presence hook (the binding's C function, mid-call on
the tracker it hands over): a remote room refuses a join. The reload
takes the tracker over and goes on: the join failed once, counted once,
and the next join is tracked by the new load. The tick's case is
test_reload_from_the_tick.py, the join-error filter's
test_reload_in_filter.py (README.md, "The contract for consumers")."""

import time

import test_metrics as tm
from harness import assert_rooms, joined, sroom, start_join, xa

PROSODY_OPTIONS = dict(tm.PROSODY_OPTIONS)
HOST_MODULES = ["test_on_event"]
scrape = tm.scrape
http_up = tm.http_up


def test_a_reload_from_an_event_of_the_presence_hook(server, connect, component, room):
    a = connect("alice")
    s0 = scrape()
    r = sroom(room)
    j = start_join(a, component, r, "Alice")
    component.deliver(a, f"<presence from={xa(r + '/Alice')} to={xa(a.jid)} type='error' "
                         f"id={xa(j.id)}><error type='cancel'><conflict "
                         "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
    log = server.wait_log("reloaded track_muc_joins from a join-failed handler", timeout=15)
    assert "reloaded track_muc_joins from a join-failed handler: table" in log, log[-2000:]
    r2 = sroom(room)
    joined(a, component, r2, "Alice")
    assert_rooms(a, {r2: "Alice"}, when="after the reload")
    evs = a.events(room=r, name="join-failed")
    assert [(e.get("reason"), e.get("condition")) for e in evs] == [("error", "conflict")], evs
    time.sleep(2 * tm.TICK + 0.5)  # ticks of the reloaded module
    s1 = scrape()
    for name, labels, want in (("join_failures_total", {"reason": "error"}, 1),
                               ("joins_total", {}, 1)):
        before = s0.value(name, **labels) if s0.has(name, **labels) else 0
        got = s1.value(name, **labels) - before
        assert got == want, f"{name}{labels} moved by {got}, not {want}"

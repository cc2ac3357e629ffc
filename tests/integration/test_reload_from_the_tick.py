"""A muc-joins/* handler that reloads the module while the event comes
from the tick (joins timing out): the old load's tick went on after the
reload and counted the failures into the metric families Prosody keeps
across loads, and the new load counted them again from the counts the old
one had handed over. The events of the tick's batch after the one whose
handler reloads are still applied and fired, once each (README.md, "The
contract for consumers"). The filter case is
test_reload_in_filter.py."""

import time

import test_metrics as tm
from harness import NS_MUC, sroom, xa

PROSODY_OPTIONS = dict(tm.PROSODY_OPTIONS)
HOST_MODULES = ["test_on_event"]
scrape = tm.scrape
http_up = tm.http_up


def test_timeouts_count_once_across_a_reload_from_the_tick(server, connect, component, room):
    a = connect("alice")
    s0 = scrape()
    rooms = [sroom(room), sroom(room)]
    # both joins in one write: their deadlines fall in the same tick
    m = component.mark()
    a.send("".join(f"<presence to={xa(r + '/Alice')} id='j{i}'><x xmlns='{NS_MUC}'/></presence>"
                   for i, r in enumerate(rooms)))
    for r in rooms:  # never answered: they time out
        component.wait_presence(m, frm=a.jid, to_bare=r)
    server.wait_log("reloaded track_muc_joins from a join-failed handler", timeout=15)
    time.sleep(3 * tm.TICK + 0.5)  # ticks of the reloaded module
    s1 = scrape()
    got = (s1.value("join_failures_total", reason="timeout")
           - s0.value("join_failures_total", reason="timeout"))
    assert got == 2, f"two joins timed out, join_failures{{reason=timeout}} moved by {got}"
    for r in rooms:
        evs = a.events(room=r, name="join-failed")
        assert [e.get("reason") for e in evs] == ["timeout"], \
            f"join-failed events of {r} (one expected, reason timeout): {evs}"

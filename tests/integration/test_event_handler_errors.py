"""Another module's muc-joins/* handler that raises: the error is logged
and the tracker applies the other events of the same batch (here the
left-unconfirmed of three rooms, ended by one tick): rooms_joined is
emptied of all three. One of the handler's errors is an object that
cannot be turned into text (its __tostring raises): it is logged as such,
and the tick goes on (a later leave still times out)."""

import time

from harness import assert_rooms, joined, sroom

TIMEOUT = 3
PROSODY_OPTIONS = {"track_muc_joins_pending_timeout": TIMEOUT}
HOST_MODULES = ["test_raising_handler"]
EXPECTED_ERRORS = [r"^a muc-joins/left handler failed \(tracking not affected\): .*raising on purpose",
                   r"^a muc-joins/left handler failed \(tracking not affected\): an error that cannot be shown"]
# a timeout fires at the latest TIMEOUT + one tick (<= TIMEOUT / 4) later
WAIT_TIMEOUT = TIMEOUT + 6


def test_a_raising_event_handler_does_not_stop_the_batch(server, connect, component, room):
    a = connect("alice")
    rooms = [sroom(room) for _ in range(3)]
    for r in rooms:
        joined(a, component, r, "Alice")
    assert_rooms(a, {r: "Alice" for r in rooms}, when="after three joins")
    off = server.log_size()
    # a broadcast unavailable leaves every room; the scripted rooms never
    # confirm, so one tick ends the three leaves together
    a.send("<presence type='unavailable'/>")
    deadline = time.monotonic() + WAIT_TIMEOUT
    while a.rooms() != {} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert_rooms(a, {}, when="after the three leaves timed out, every left handler raising")
    log = server.log_text(off)
    raised = log.count("raising on purpose")
    assert raised == 2, f"the handler raised {raised} strings, not two (the second call raises an object)"
    assert log.count("an error that cannot be shown") == 1, "the unprintable error is not logged as such"
    # the tick still runs: a fourth room's leave, never confirmed, times out
    r4 = sroom(room)
    joined(a, component, r4, "Alice")
    assert_rooms(a, {r4: "Alice"}, when="after a fourth join")
    a.send(f"<presence to='{r4}/Alice' type='unavailable'/>")
    deadline = time.monotonic() + WAIT_TIMEOUT
    while a.rooms() != {} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert_rooms(a, {}, when="after the fourth leave timed out (the tick goes on)")

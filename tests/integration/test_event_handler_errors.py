"""Another module's muc-joins/* handler that raises: the error is logged
and the tracker applies the other events of the same batch (here the
left-unconfirmed of three rooms, ended by one tick): rooms_joined is
emptied of all three."""

import time

from harness import assert_rooms, joined, sroom

TIMEOUT = 3
PROSODY_OPTIONS = {"track_muc_joins_pending_timeout": TIMEOUT}
HOST_MODULES = ["test_raising_handler"]
EXPECTED_ERRORS = [r"^a muc-joins/left handler failed \(tracking not affected\): .*raising on purpose"]
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
    raised = server.log_text(off).count("raising on purpose")
    assert raised == 3, f"the handler raised {raised} times, not once per room"

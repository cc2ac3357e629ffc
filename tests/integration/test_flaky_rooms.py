"""A write of session.rooms_joined that fails once (another module's
table refusing it for a while, as a write may fail for lack of memory)
is made again from the tracker's state at the next tick: the module
notes its failed write and the tick calls t:resync(full_sessions, true).
Before, the room the write was about stayed out of rooms_joined until
the next event about it, though the tracker showed it."""

import time

PENDING_TIMEOUT = 2  # a tick every 0.5 s
PROSODY_OPTIONS = {
    "track_muc_joins_pending_timeout": PENDING_TIMEOUT,
}
HOST_MODULES = ["test_flaky_rooms"]


def test_a_refused_write_is_made_at_a_later_tick(connect, server, room):
    a = connect("alice")
    r1, r2 = room(), room()
    a.join(r1, "Alice")  # the proxy goes in place (refusing for 2 s)
    a.join(r2, "Alice")
    rooms = a.rooms()
    assert r1 in rooms, rooms.describe()
    assert r2 not in rooms, "the proxy refused the write: " + rooms.describe()
    assert "rooms_joined of" in server.log_text(), "the refused write is logged"
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        rooms = a.rooms()
        if rooms.get(r2) == "Alice":
            break
        time.sleep(0.5)
    assert rooms.get(r2) == "Alice", "never written again: " + rooms.describe()
    assert rooms.get(r1) == "Alice", rooms.describe()

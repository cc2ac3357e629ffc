"""Unload, then load again (not a reload): the sessions' rooms_joined tables
still hold what the first load showed, not updated while the module was
away. The new load adopts them: each room is restored as joined and checked
by self-ping, so the rooms left meanwhile go and the others stay tracked."""

import time

from harness import assert_rooms

# Short delays: the check pings after ping_start_delay.
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 0.5,
    "track_muc_joins_ping_backoff": 1,
}


def wait_rooms(client, expected, timeout=15):
    """rooms_joined once it is expected, or as it is after timeout."""
    deadline = time.monotonic() + timeout
    got = dict(client.rooms())
    while got != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        got = dict(client.rooms())
    return got


def test_load_after_unload_adopts_and_checks_leftover_rooms(connect, room):
    a = connect("alice")
    stay, gone = room(), room()
    a.join(stay, "Alice")
    a.join(gone, "Alice")
    assert_rooms(a, {stay: "Alice", gone: "Alice"}, when="before the unload")
    a.unload_module()
    a.leave(gone, "Alice")
    assert dict(a.rooms()) == {stay: "Alice", gone: "Alice"}, \
        "while unloaded the tables are left as they are"
    a.load_module()
    got = wait_rooms(a, {stay: "Alice"})
    assert got == {stay: "Alice"}, (
        f"the new load must check the rooms it found: {gone} was left while "
        f"the module was unloaded; rooms_joined is {got}")
    assert_rooms(a, {stay: "Alice"}, when="after the new load checked the rooms")
    # the adopted room is tracked: a leave now is seen
    a.leave(stay, "Alice")
    assert_rooms(a, {}, when="after leaving the adopted room")

"""Unload, then load again (not a reload): the sessions' rooms_joined tables
still hold what the first load showed, not updated while the module was
away. The new load adopts them: each room is restored as joined and checked
by self-ping, so the rooms left meanwhile go and the others stay tracked."""

import time

from harness import assert_events, assert_rooms

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


def test_adopted_table_is_also_joined_rooms(connect, server, room):
    """A table adopted from an earlier load without the other name (the
    community module sets only rooms_joined) gets it: session.joined_rooms
    is the same table, as for every table the module makes."""
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    a.unload_module()
    rc, out = server.admin(f"> prosody.full_sessions[{a.jid!r}].joined_rooms = nil")
    assert rc == 0, out
    assert a.rooms().joined_rooms == "nil", "the alias was not removed: the test proves nothing"
    a.load_module()
    # at once (the adoption runs a turn after the load), not only when an
    # event of the session's comes through: before ping_start_delay
    deadline = time.monotonic() + 0.3
    got = a.rooms()
    while got.joined_rooms != "same" and time.monotonic() < deadline:
        time.sleep(0.2)
        got = a.rooms()
    assert got.joined_rooms == "same", f"after the adoption: {got.describe()}"
    assert dict(got) == {r: "Alice"}, got.describe()


def test_a_table_that_refuses_writes_costs_its_own_session_only(connect, server, room):
    """Another module's read-only view of one session's rooms_joined,
    holding an entry the tracker cannot take, made the adoption raise for
    every session: the others were not adopted and no domain was checked."""
    a = connect("alice")
    b = connect("bob")
    stay, gone = room(), room()
    a.join(stay, "Alice")
    a.join(gone, "Alice")
    b.join(room(), "Bob")
    a.unload_module()
    a.leave(gone, "Alice")  # left while unloaded: the adoption must find it
    lua = ("> local s = prosody.full_sessions[%r]; local plain = s.rooms_joined; "
           "plain['not a room jid'] = true; "
           "s.rooms_joined = setmetatable({}, {__index = plain, "
           "__newindex = function() error('read-only proxy') end, "
           "__pairs = function() return next, plain, nil end})") % b.jid
    rc, out = server.admin(lua)
    assert rc == 0, out
    start = server.log_size()
    a.load_module()
    got = wait_rooms(a, {stay: "Alice"})
    assert got == {stay: "Alice"}, (
        f"alice's leftover room {gone} was never checked: rooms_joined is {got}")
    log = server.log_text(start)
    assert "adopting rooms_joined of %s failed" % b.jid in log, log[-2000:]


def test_room_destroyed_while_unloaded_is_checked_against_its_tombstone(connect, room):
    """A persistent room destroyed while the module was unloaded: the
    destruction's presence went by unseen and the adopted entry stays until
    its self-ping. Prosody's MUC (0.12 and 13) keeps a tombstone of the
    room, which answers the ping (to room/nick) with <gone/> (cancel): not
    joined, the entry goes (left, reason ghost, condition gone) and the
    session is sent the unavailable self-presence it missed."""
    a = connect("alice")
    b = connect("bob")
    stay, r = room(), room()
    a.join(stay, "Alice")
    a.join(r, "Alice")
    a.configure(r, {"muc#roomconfig_persistentroom": "1"})
    b.join(r, "Bob")
    a.unload_module()
    mb = b.mark()
    a.owner_iq(r, "<destroy><reason>closing</reason></destroy>")
    b.wait(lambda s: s.name == "presence" and s.frm == r + "/Bob" and s.type == "unavailable",
           mb, what="the unavailable presence of the destroyed room")
    assert dict(b.rooms()) == {r: "Bob"}, "while unloaded the tables are left as they are"
    seq = a.event_seq()
    mb = b.mark()
    a.load_module()
    for c, expected in ((a, {stay: "Alice"}), (b, {})):
        got = wait_rooms(c, expected)
        assert got == expected, (
            f"{r} was destroyed while the module was unloaded; the tombstone's answer "
            f"to the self-ping must end {c.jid}'s entry: rooms_joined is {got}")
        assert_rooms(c, expected, when="after the new load checked the rooms")
    for c, nick in ((a, "Alice"), (b, "Bob")):
        assert_events(a, seq, [{"name": "left", "nick": nick, "reason": "ghost",
                                "condition": "gone"}], room=r, session=c.jid)
    p = b.wait(lambda s: s.name == "presence" and s.frm == r + "/Bob" and s.type == "unavailable",
               mb, what="the module's unavailable self-presence for the room found gone")
    assert p.is_self, p

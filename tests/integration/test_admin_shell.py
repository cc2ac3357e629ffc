"""Admin shell (SPEC 7): list a user's sessions with rooms, nicks, states
and since when; totals. Commands as the module documents them
(lua/shell.lib.lua): muc_joins:list(jid), muc_joins:stats([host])."""

from harness import joined, sroom, start_join


def test_list_shows_sessions_rooms_nicks_and_states(connect, component, server, room):
    a = connect("alice")
    r_local = room()
    a.join(r_local, "Alice")
    r_joined, r_pending = sroom(room), sroom(room)
    joined(a, component, r_joined, "Scripted Alice")
    start_join(a, component, r_pending, "Waiting")
    rc, out = server.admin(f"muc_joins:list({a.bare!r})")
    assert rc == 0, f"muc_joins:list failed ({rc}):\n{out}"
    missing = [w for w in (a.jid, r_local, "Alice", r_joined, "Scripted Alice", r_pending,
                           "Waiting", "joined", "pending", "since") if w not in out]
    assert not missing, f"muc_joins:list({a.bare!r}) lacks {missing}:\n{out}"
    rc, out = server.admin(f"muc_joins:list({a.jid!r})")
    assert rc == 0 and r_local in out, f"muc_joins:list of one full JID:\n{out}"


def test_stats_totals(connect, server, room):
    a = connect("alice")
    a.join(room(), "Alice")
    rc, out = server.admin("muc_joins:stats()")
    assert rc == 0, f"muc_joins:stats failed ({rc}):\n{out}"
    assert "localhost" in out and "room" in out, f"muc_joins:stats():\n{out}"

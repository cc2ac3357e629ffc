"""Module reload while sessions are in rooms (docs/semantics.md §7:
module.save() and module.restore() keep the core's state,
PENDING/CHANGING/LEAVING included, not only what rooms_joined shows)."""

import shutil

from harness import (
    NS_MUC_USER, assert_events, assert_rooms, install_other_copy, is_presence, joined,
    self_presence, sroom, start_join, xa)


def test_reload_keeps_entries_and_states(connect, component, room):
    a = connect("alice")
    b = connect("bob")
    real = room()
    s_joined, s_pending, s_leaving, s_changing = (sroom(room) for _ in range(4))
    a.join(real, "Alice")
    b.join(real, "Bob")
    joined(a, component, s_joined, "J")
    joined(a, component, s_leaving, "L")
    joined(a, component, s_changing, "C")
    pend = start_join(a, component, s_pending, "P")
    m = component.mark()
    a.leave(s_leaving, "L", wait=False)
    component.wait_presence(m, frm=a.jid, to_bare=s_leaving, type_="unavailable", what="the leave")
    m = component.mark()
    a.send(f"<presence to={xa(s_changing + '/C2')}/>")
    component.wait_presence(m, frm=a.jid, to_bare=s_changing, type_=None, what="the nick change")
    before = {real: "Alice", s_joined: "J", s_leaving: "L", s_changing: "C"}
    assert_rooms(a, before, when="before the reload")

    a.reload_module("track_muc_joins")

    assert_rooms(a, before, when="right after the reload")
    assert_rooms(b, {real: "Bob"}, when="(another session) right after the reload")
    seq = a.event_seq()
    # the pending join is still pending: its confirmation is accepted
    component.deliver(a, self_presence(f"{s_pending}/P", a.jid, id_=pend.id))
    # the leave is still LEAVING: its confirmation is a voluntary leave
    component.deliver(a, self_presence(f"{s_leaving}/L", a.jid, type_="unavailable"))
    # the nick change is still CHANGING: 303 keeps the old nick, then the new one
    component.deliver(a, (
        f"<presence from={xa(s_changing + '/C')} to={xa(a.jid)} type='unavailable'>"
        f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='participant' nick='C2'/>"
        f"<status code='303'/><status code='110'/></x></presence>"))
    assert_rooms(a, {real: "Alice", s_joined: "J", s_pending: "P", s_changing: "C"},
                 when="after the pending join and the leave were confirmed post-reload")
    component.deliver(a, self_presence(f"{s_changing}/C2", a.jid))
    # and the reloaded module still tracks the local MUC
    a.leave(real, "Alice")
    assert_rooms(a, {s_joined: "J", s_pending: "P", s_changing: "C2"},
                 when="after the nick change completed and the local room was left")
    evs = a.events(seq, session=a.jid)
    got = [(e["name"], e["room"], e.get("reason")) for e in evs]
    want = [("joined", s_pending, None), ("left", s_leaving, "voluntary"),
            ("nick-changed", s_changing, None), ("left", real, "voluntary")]
    assert got == want, f"events after the reload:\n  expected {want}\n  got      {got}"


def test_reload_keeps_table_identity_for_consumers(connect, room):
    """A consumer holding session.rooms_joined keeps seeing updates: the
    table on the session after the reload is still joined_rooms too."""
    a = connect("alice")
    r1, r2 = room(), room()
    a.join(r1, "Alice")
    a.reload_module("track_muc_joins")
    a.join(r2, "Alice")
    assert_rooms(a, {r1: "Alice", r2: "Alice"}, when="after a join following the reload")
    seq = a.event_seq()
    a.leave(r1, "Alice")
    assert_rooms(a, {r2: "Alice"}, when="after a leave following the reload")
    assert_events(a, seq, [{"name": "left", "reason": "voluntary"}], room=r1)


def test_two_reloads_in_a_row(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    j = start_join(a, component, r, "Alice")
    a.reload_module("track_muc_joins")
    a.reload_module("track_muc_joins")
    m = component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
    assert a.find(lambda s: is_presence(s, frm=r + "/Alice", self_=True), m)
    assert_rooms(a, {r: "Alice"}, when="after two reloads and the confirmation")


def test_local_muc_join_error_seen_after_reload(connect, room):
    """The join-error filter (a local MUC sends join errors with
    origin.send()) goes on a session when it sends a presence to a room
    the tracker follows; a reload takes it off everywhere, and the
    reloaded module puts it back at the session's next such presence
    (hooks.bind() makes every session due again)."""
    a = connect("alice")
    c = connect("carol")
    r1, r2 = room(), room()
    a.join(r1, "Alice")
    c.join(r2, "Same")
    a.reload_module("track_muc_joins")
    seq = a.event_seq()
    err = a.join(r2, "Same")
    assert err.type == "error" and err.error_condition == "conflict", f"expected conflict: {err}"
    assert_events(a, seq, [{"name": "join-failed", "condition": "conflict"}],
                  room=r2, session=a.jid)
    assert_rooms(a, {r1: "Alice"}, when="after a join refused after the reload")
    p = a.join(r2, "Other")
    assert p.is_self, p
    assert_rooms(a, {r1: "Alice", r2: "Other"}, when="after retrying with another nick")


def test_reload_from_another_copy_of_the_module(server, connect, component, room):
    """A reload that finds the module in another folder (a rock installed
    into installer_plugin_path, which Prosody searches first, while the
    running module came from plugin_paths) loads another copy of
    mucjoins.so, which cannot take the saved tracker: the new load moves
    every room over from it, in its state, joins and leaves in flight
    included (it used to go on with two trackers, the hooks feeding one
    and the tick, the shell and resource-unbind the other: a room left
    stayed in rooms_joined)."""
    a = connect("alice")
    r1, r2 = room(), room()
    s_pend, s_leave = sroom(room), sroom(room)
    a.join(r1, "Alice")
    joined(a, component, s_leave, "L")
    pend = start_join(a, component, s_pend, "P")
    m = component.mark()
    a.leave(s_leave, "L", wait=False)
    component.wait_presence(m, frm=a.jid, to_bare=s_leave, type_="unavailable", what="the leave")
    copy = install_other_copy(server)
    off = server.log_size()
    try:
        a.reload_module()
        assert_rooms(a, {r1: "Alice", s_leave: "L"}, when="right after the reload")
        seq = a.event_seq()
        # the leave and the join in flight are still in flight
        component.deliver(a, self_presence(f"{s_leave}/L", a.jid, type_="unavailable"))
        component.deliver(a, self_presence(f"{s_pend}/P", a.jid, id_=pend.id))
        assert_events(a, seq, [{"name": "left", "reason": "voluntary"}], room=s_leave,
                      session=a.jid)
        a.join(r2, "Alice")
        a.leave(r1, "Alice")
        assert_rooms(a, {r2: "Alice", s_pend: "P"},
                     when="after answers in flight, a join and a leave since the reload")
        rc, out = server.admin(f"muc_joins:list({a.jid!r})")
        assert rc == 0 and r2 in out and r1 not in out, (
            f"the admin shell does not see the tracker the hooks feed: {out}")
        assert "another copy of mucjoins.so's" in server.log_text(off), (
            "the reload did not load the other copy: the test proves nothing")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        a.reload_module()  # back to the copy under test
    assert_rooms(a, {r2: "Alice", s_pend: "P"}, when="after reloading the original copy")

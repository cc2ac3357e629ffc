"""track_muc_joins_legacy_joins = true: a presence without the MUC <x/>
(groupchat 1.0) counts as a join. Prosody's own MUC refuses such joins, so
only the scripted room can answer one."""

from harness import assert_rooms, joined, self_presence, sroom

PROSODY_OPTIONS = {"track_muc_joins_legacy_joins": True}


def test_legacy_join_without_muc_x_is_tracked(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    m = component.mark()
    a.join(r, "Old School", x=False, wait=False)
    j = component.wait_presence(m, frm=a.jid, to_bare=r, what="the groupchat 1.0 join")
    component.deliver(a, self_presence(f"{r}/Old School", a.jid, id_=j.id))
    assert_rooms(a, {r: "Old School"}, when="after a legacy join was confirmed")


def test_legacy_option_keeps_muc_joins_working(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    assert_rooms(a, {r: "Alice"})

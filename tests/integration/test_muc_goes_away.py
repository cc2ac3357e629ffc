"""The local MUC going away and coming back while sessions are in its
rooms (docs/semantics.md §1-2, §5): Prosody 0.12's mod_muc saves every
live room with its occupants when it is unloaded (a module reload, the
component's host deactivated) and restores them on the next stanza, so
the sessions are still in their rooms: entries stay, and the leave
afterwards is confirmed as usual."""

from harness import assert_rooms, is_presence, new_id, xa, xt


def roundtrip(c, r, body):
    mid = new_id("msg")
    m = c.mark()
    c.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}><body>{xt(body)}</body></message>")
    return c.wait(lambda s: s.name == "message" and s.id == mid, m,
                  what=f"the room's answer to {body!r}")


def test_muc_module_reload_keeps_entries(server, connect, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    rc, out = server.admin("module:reload('muc', 'conference.localhost')")
    assert rc == 0, out
    assert_rooms(a, {r: "Alice"}, when="after the MUC module was reloaded")
    got = roundtrip(a, r, "still here?")
    assert got.type == "groupchat", f"the restored room keeps the occupant: {got}"
    a.leave(r, "Alice")
    assert_rooms(a, {}, when="after leaving the restored room")


def test_muc_host_deactivated_and_activated_keeps_entries(server, connect, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    rc, out = server.admin("host:deactivate('conference.localhost')")
    assert rc == 0, out
    rc, out = server.admin("host:activate('conference.localhost')")
    assert rc == 0, out
    assert_rooms(a, {r: "Alice"}, when="after the MUC host went away and came back")
    got = roundtrip(a, r, "still here?")
    assert got.type == "groupchat", f"the restored room keeps the occupant: {got}"
    m = a.mark()
    a.send(f"<presence type='unavailable' to={xa(r + '/Alice')}/>")
    a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable", self_=True), m,
           what="the confirmation of the leave")
    assert_rooms(a, {}, when="after leaving the restored room")

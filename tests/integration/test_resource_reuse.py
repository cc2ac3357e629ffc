"""A new session with the same full JID as one just closed (a resource
conflict: Prosody's default kick_old closes the old session, then binds
the new one under the same JID) inherits what the rooms still owe the old
one: the answer to its join in flight, the confirmation of the unavailable
mod_presence sends for it at resource-unbind. A real MUC answers the
stanzas of a full JID in order, whichever Prosody session sent them; a
remote room answers after the new session may already have sent its own
join (a client autojoining its bookmarks right after binding). The
scripted MUC (scripted.localhost) stands for a remote Prosody MUC and
sends exactly what Prosody's MUC sends for that sequence of stanzas."""

from harness import assert_rooms, joined, self_presence, sroom, start_join, xa

HOST_MODULES = ["smacks"]


def left(occupant, jid):
    """The room's unavailable self-presence confirming a leave."""
    return self_presence(occupant, jid, type_="unavailable",
                         item="<item affiliation='none' role='none'/>")


def ask_nick_change(client, component, r, nick):
    """The client asks for a nick change; the room has it, not answered yet."""
    m = component.mark()
    client.send(f"<presence to={xa(r + '/' + nick)}/>")
    component.wait_presence(m, frm=client.jid, to_bare=r, type_=None, what="the nick change")


def answer_nick_change(component, client, r, jid, old, new):
    """The room's answer to a nick change: 303 from the old nick, then the
    new nick's self-presence."""
    component.deliver(client, self_presence(
        f"{r}/{old}", jid, type_="unavailable", codes=("303", "110"),
        item=f"<item affiliation='none' role='participant' nick='{new}'/>"))
    component.deliver(client, self_presence(f"{r}/{new}", jid))


def test_new_session_same_jid_old_join_in_flight(connect, component, room):
    r = sroom(room)
    old = connect("alice", res="same-res-pending")
    j1 = start_join(old, component, r, "Alice")  # PENDING, answer not yet sent
    jid = old.jid
    m = component.mark()
    new = connect("alice", res="same-res-pending")  # kick_old: old closed
    assert new.jid == jid
    # mod_presence sent the old session's unavailable to the room
    component.wait_presence(m, frm=jid, to_bare=r, type_="unavailable",
                            what="the unavailable sent for the closed session")
    seq = new.event_seq()
    # the new session autojoins at once (its own join, its own id)
    j2 = start_join(new, component, r, "Alice")
    assert j2.id != j1.id
    # the room answers the three presences of that JID in order: the first
    # join (self-presence with its id), the unavailable (leave confirmed),
    # the second join (self-presence with its id)
    component.deliver(new, self_presence(f"{r}/Alice", jid, id_=j1.id))
    component.deliver(new, left(f"{r}/Alice", jid))
    component.deliver(new, self_presence(f"{r}/Alice", jid, id_=j2.id))
    # the room has the new session as an occupant
    assert_rooms(new, {r: "Alice"}, when="after the room answered the new session's join")
    evs = new.events(seq, room=r, session=jid)
    assert [e["name"] for e in evs][-1:] == ["joined"], evs


def test_new_session_same_jid_old_session_joined(connect, component, room):
    """The common case: the old session was in the room; its unavailable
    (sent by mod_presence at resource-unbind) is confirmed after the new
    session's join was sent. Works: a plain unavailable self-presence does
    not answer a PENDING join."""
    r = sroom(room)
    old = connect("alice", res="same-res-joined")
    joined(old, component, r, "Alice")
    jid = old.jid
    m = component.mark()
    new = connect("alice", res="same-res-joined")
    component.wait_presence(m, frm=jid, to_bare=r, type_="unavailable",
                            what="the unavailable sent for the closed session")
    j2 = start_join(new, component, r, "Alice")
    component.deliver(new, left(f"{r}/Alice", jid))
    component.deliver(new, self_presence(f"{r}/Alice", jid, id_=j2.id))
    assert_rooms(new, {r: "Alice"}, when="after the room answered the new session's join")


def test_new_session_same_jid_old_nick_change_in_flight(connect, component, room):
    """The old session asked for a nick change and was replaced before the
    room answered; the new session joins under the old nick. The room
    answers, in order: the change (303 then the new nick's self-presence),
    the unavailable, the new join."""
    r = sroom(room)
    old = connect("alice", res="same-res-changing")
    joined(old, component, r, "Old")
    jid = old.jid
    ask_nick_change(old, component, r, "New")
    m = component.mark()
    new = connect("alice", res="same-res-changing")
    component.wait_presence(m, frm=jid, to_bare=r, type_="unavailable",
                            what="the unavailable sent for the closed session")
    j2 = start_join(new, component, r, "Old")
    answer_nick_change(component, new, r, jid, "Old", "New")
    component.deliver(new, left(f"{r}/New", jid))
    component.deliver(new, self_presence(f"{r}/Old", jid, id_=j2.id))
    assert_rooms(new, {r: "Old"}, when="after the room answered the new session's join")


def test_new_session_same_jid_old_nick_change_then_leave_in_flight(connect, component, room):
    """The old session changed its nick, then left the room, and was
    replaced before the room answered either; the new session joins under
    the old nick. The room answers, in order: the change (303, then the new
    nick's self-presence), the leave's confirmation, the new join."""
    r = sroom(room)
    old = connect("alice", res="same-res-changing-left")
    joined(old, component, r, "Old")
    jid = old.jid
    ask_nick_change(old, component, r, "New")
    m = component.mark()
    old.send(f"<presence type='unavailable' to={xa(r + '/New')}/>")
    component.wait_presence(m, frm=jid, to_bare=r, type_="unavailable", what="the leave")
    new = connect("alice", res="same-res-changing-left")
    assert new.jid == jid
    j2 = start_join(new, component, r, "Old")
    answer_nick_change(component, new, r, jid, "Old", "New")
    component.deliver(new, left(f"{r}/New", jid))
    component.deliver(new, self_presence(f"{r}/Old", jid, id_=j2.id))
    assert_rooms(new, {r: "Old"}, when="after the room answered the new session's join")

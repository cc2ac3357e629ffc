"""A scripted MUC service (scripted.localhost, an XEP-0114 component driven by
the test): it answers joins with exactly the XML each test prescribes, later
than a local MUC would (like a remote MUC), so the states between a client's
request and the room's answer can be observed (docs/semantics.md §2)."""

from harness import (
    NS_MUC_USER, SCRIPTED, assert_events, assert_rooms, is_presence, joined,
    self_presence, sroom, start_join, xa)

VOLUNTARY, REMOVED = "voluntary", "removed"
TECHNICAL, SHUTDOWN, DESTROYED = "technical", "shutdown", "destroyed"
AFFILIATION, MEMBERS_ONLY = "affiliation", "members-only"


def test_join_confirmed_by_scripted_room(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    j = start_join(a, component, r, "Alice")
    assert_rooms(a, {}, when="while the join is pending (not shown)")
    m = component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id,
                                           codes=("100", "110")))
    assert a.find(lambda s: is_presence(s, frm=r + "/Alice", self_=True), m), \
        "the self-presence must reach the client"
    assert_rooms(a, {r: "Alice"}, when="after the room confirmed")
    assert_events(a, seq, [{"name": "joined", "nick": "Alice", "session": a.jid}], room=r)


def test_nick_rewritten_by_scripted_room_210(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    j = start_join(a, component, r, "alice")
    component.deliver(a, self_presence(f"{r}/Alice the Great", a.jid, id_=j.id,
                                       codes=("110", "210")))
    assert_rooms(a, {r: "Alice the Great"}, when="after a join answered with 210")
    evs = a.events(seq, room=r)
    rew = [e for e in evs if e["name"] == "nick-rewritten"]
    assert len(rew) == 1 and rew[0].get("nick") == "Alice the Great" and \
        rew[0].get("old_nick") == "alice", f"expected nick-rewritten alice -> Alice the Great: {evs}"
    assert [e["name"] for e in evs].count("joined") == 1, evs


def test_nick_change_303_entry_never_disappears(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Old")
    seq = a.event_seq()
    m = component.mark()
    a.send(f"<presence to={xa(r + '/New')}/>")
    component.wait_presence(m, frm=a.jid, to_bare=r, type_=None, what="the nick change request")
    assert_rooms(a, {r: "Old"}, when="while the nick change is unanswered (CHANGING)")
    component.deliver(a, (
        f"<presence from={xa(r + '/Old')} to={xa(a.jid)} type='unavailable'>"
        f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='participant' nick='New'/>"
        f"<status code='303'/><status code='110'/></x></presence>"))
    assert_rooms(a, {r: "Old"}, when="after the unavailable 303 (the old nick stays)")
    component.deliver(a, self_presence(f"{r}/New", a.jid))
    assert_rooms(a, {r: "New"}, when="after the self-presence under the new nick")
    assert_events(a, seq, [{"name": "nick-changed", "old_nick": "Old", "nick": "New"}], room=r)


def test_nick_change_refused_with_error_keeps_old_nick(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Old")
    seq = a.event_seq()
    m = component.mark()
    a.send(f"<presence to={xa(r + '/Taken')} id='nc1'/>")
    component.wait_presence(m, frm=a.jid, to_bare=r, type_=None, what="the nick change request")
    component.deliver(a, (
        f"<presence from={xa(r + '/Taken')} to={xa(a.jid)} type='error' id='nc1'>"
        f"<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
        f"</presence>"))
    assert_rooms(a, {r: "Old"}, when="after the nick change was refused")
    names = [e["name"] for e in a.events(seq, room=r)]
    assert "left" not in names and "nick-changed" not in names, names


def test_unavailable_self_presence_from_other_nick_removes(connect, component, room):
    """110 means "this is about you", whatever the nick."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    component.deliver(a, self_presence(f"{r}/Somebody", a.jid, type_="unavailable"))
    assert_rooms(a, {}, when="after an unavailable self-presence from another nick")
    assert_events(a, seq, [{"name": "left", "reason": REMOVED}], room=r)


def test_unavailable_without_110_from_other_nick_changes_nothing(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    component.deliver(a, self_presence(f"{r}/Bob", a.jid, type_="unavailable", codes=()))
    assert_rooms(a, {r: "Alice"}, when="after someone else left")
    assert_events(a, seq, [], room=r)


def test_destroy_without_110_removes(connect, component, room):
    """XEP-0045 10.9's destroy example carries no 110."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    component.deliver(a, (
        f"<presence from={xa(r + '/Alice')} to={xa(a.jid)} type='unavailable'>"
        f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='none'/>"
        f"<destroy jid='elsewhere@{SCRIPTED}'><reason>Macbeth doth come.</reason></destroy>"
        f"</x></presence>"))
    assert_rooms(a, {}, when="after a destroy without 110")
    assert_events(a, seq, [{"name": "left", "nick": "Alice", "reason": DESTROYED}], room=r)


def test_shutdown_332_without_110_removes(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable",
                                       codes=("332",),
                                       item="<item affiliation='none' role='none'/>"))
    assert_rooms(a, {}, when="after 332 (service shutdown) without 110")
    assert_events(a, seq, [{"name": "left", "reason": SHUTDOWN}], room=r)


def test_technical_333_with_110_removes(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable",
                                       codes=("110", "333")))
    assert_rooms(a, {}, when="after 333 with 110")
    assert_events(a, seq, [{"name": "left", "reason": TECHNICAL}], room=r)


def test_removal_333_without_110_from_other_nick_changes_nothing(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    component.deliver(a, self_presence(f"{r}/Bob", a.jid, type_="unavailable", codes=("333",)))
    assert_rooms(a, {r: "Alice"}, when="after another occupant's 333")


def test_affiliation_321_scripted(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable",
                                       codes=("321", "110"),
                                       item="<item affiliation='none' role='none'/>"))
    assert_rooms(a, {}, when="after 321")
    assert_events(a, seq, [{"name": "left", "reason": AFFILIATION}], room=r)


def test_members_only_322_scripted(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable",
                                       codes=("322", "110"),
                                       item="<item affiliation='none' role='none'/>"))
    assert_rooms(a, {}, when="after 322")
    assert_events(a, seq, [{"name": "left", "reason": MEMBERS_ONLY}], room=r)


def test_strongest_reason_wins(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable",
                                       codes=("307", "110", "333", "301")))
    assert_rooms(a, {})
    assert_events(a, seq, [{"name": "left", "reason": TECHNICAL}], room=r)


def test_leave_confirmed_late(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    m = component.mark()
    a.leave(r, "Alice", wait=False)
    component.wait_presence(m, frm=a.jid, to_bare=r, type_="unavailable", what="the leave")
    assert_rooms(a, {r: "Alice"}, when="while the leave is unconfirmed (LEAVING)")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable"))
    assert_rooms(a, {}, when="after the leave was confirmed")
    assert_events(a, seq, [{"name": "left", "reason": VOLUNTARY}], room=r)


def test_broadcast_unavailable_with_late_confirmation(connect, component, room):
    """The session's broadcast unavailable goes to every room; Prosody clears
    session.directed at once, the scripted room confirms afterwards."""
    a = connect("alice")
    rs = sroom(room)
    rl = room()  # a local room too: it confirms synchronously
    joined(a, component, rs, "Slow")
    a.join(rl, "Fast")
    seq = a.event_seq()
    mc, ma = component.mark(), a.mark()
    a.send("<presence type='unavailable'/>")
    component.wait_presence(mc, frm=a.jid, to_bare=rs, type_="unavailable",
                            what="the unavailable Prosody sends to the directed room JID")
    a.wait(lambda s: is_presence(s, frm_bare=rl, type_="unavailable", self_=True), ma,
           what="the local room's confirmation")
    assert_rooms(a, {rs: "Slow"}, when="after the broadcast, before the scripted room "
                 "confirmed (LEAVING shows the old nick)")
    component.deliver(a, self_presence(f"{rs}/Slow", a.jid, type_="unavailable"))
    assert_rooms(a, {}, when="after the late confirmation")
    evs = a.events(seq, session=a.jid)
    got = sorted((e["name"], e["room"], e.get("reason")) for e in evs)
    assert got == sorted([("left", rs, VOLUNTARY), ("left", rl, VOLUNTARY)]), evs


def test_rejoin_while_leaving_survives_late_leave_confirmation(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    m = component.mark()
    a.leave(r, "Alice", wait=False)
    component.wait_presence(m, frm=a.jid, to_bare=r, type_="unavailable", what="the leave")
    j = start_join(a, component, r, "Alice")  # a new join while LEAVING
    assert_rooms(a, {}, when="after a join sent while LEAVING (a new PENDING: not shown)")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable"))
    assert_rooms(a, {}, when="after the old leave's confirmation (new join pending)")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
    assert_rooms(a, {r: "Alice"}, when="after the rejoin was confirmed")


def test_unavailable_self_presence_while_pending_changes_nothing(connect, component, room):
    """A plain unavailable self-presence while PENDING is the confirmation
    of an earlier leave racing the rejoin: the join stays pending."""
    a = connect("alice")
    r = sroom(room)
    j = start_join(a, component, r, "Alice")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable"))
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
    assert_rooms(a, {r: "Alice"}, when="after the confirmation that followed")


def test_join_refused_with_error_removal_code(connect, component, room):
    """An unavailable self-presence with a removal code while PENDING ends
    the join."""
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    j = start_join(a, component, r, "Alice")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable", id_=j.id,
                                       codes=("110", "301")))
    component.deliver(a, self_presence(f"{r}/Alice", a.jid))  # late: no join pending
    assert_rooms(a, {}, when="after a join refused by 301 and a later self-presence")
    names = [e["name"] for e in a.events(seq, room=r)]
    assert names == ["join-failed"], f"expected one join-failed, got {names}"


def test_room_jid_upper_case_scripted(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    up = r.upper()
    m = component.mark()
    a.join(up, "Nick", wait=False)
    j = component.wait_presence(m, frm=a.jid, to_bare=r, what="the join")
    # the room answers in upper case too; Prosody preps what it routes
    component.deliver(a, self_presence(f"{up.split('@')[0]}@{SCRIPTED}/Nick", a.jid, id_=j.id))
    assert_rooms(a, {r: "Nick"}, when="after an upper-case join")


def test_messages_never_change_state(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    other = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    x110 = f"<x xmlns='{NS_MUC_USER}'><status code='110'/><status code='307'/></x>"
    component.deliver(a, f"<message from={xa(r)} to={xa(a.jid)} type='groupchat'>{x110}</message>")
    component.deliver(a, f"<message from={xa(r + '/Alice')} to={xa(a.jid)}>{x110}</message>")
    component.deliver(a, (
        f"<message from={xa(other)} to={xa(a.jid)}><x xmlns='{NS_MUC_USER}'>"
        f"<invite from='bob@localhost'/></x><x xmlns='jabber:x:conference' jid={xa(other)}/>"
        f"</message>"))
    assert_rooms(a, {r: "Alice"}, when="after messages with status codes and an invite")
    assert_events(a, seq, [], session=a.jid, names=("joined", "left", "nick-changed",
                                                    "join-failed"))


def test_presence_types_other_than_available_unavailable_ignored(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    for t in ("probe", "subscribe", "unsubscribed"):
        component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_=t))
    assert_rooms(a, {r: "Alice"}, when="after probe/subscribe/unsubscribed with 110")


def test_unavailable_to_another_nick_is_a_leave(connect, component, room):
    """Unavailable to room/* (any nick) is a leave: LEAVING until confirmed."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    m = component.mark()
    a.send(f"<presence type='unavailable' to={xa(r + '/Whatever')}/>")
    component.wait_presence(m, frm=a.jid, to_bare=r, type_="unavailable", what="the leave")
    assert_rooms(a, {r: "Alice"}, when="while that leave is unconfirmed")
    component.deliver(a, self_presence(f"{r}/Alice", a.jid, type_="unavailable"))
    assert_rooms(a, {}, when="after the confirmation")
    assert_events(a, seq, [{"name": "left", "reason": VOLUNTARY}], room=r)


def test_broadcast_unavailable_while_changing_nick(connect, component, room):
    """Prosody sends the broadcast unavailable to every directed JID: the
    old and the requested nick. The room confirms the leave of the old."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Old")
    m = component.mark()
    a.send(f"<presence to={xa(r + '/New')}/>")
    component.wait_presence(m, frm=a.jid, to_bare=r, type_=None, what="the nick change")
    seq = a.event_seq()
    m = component.mark()
    a.send("<presence type='unavailable'/>")
    component.wait_presence(m, frm=a.jid, to_bare=r, type_="unavailable",
                            what="the broadcast unavailable to the room")
    assert_rooms(a, {r: "Old"}, when="after a broadcast unavailable while changing nick")
    component.deliver(a, self_presence(f"{r}/Old", a.jid, type_="unavailable"))
    assert_rooms(a, {}, when="after the room confirmed the leave")
    assert_events(a, seq, [{"name": "left", "nick": "Old", "reason": VOLUNTARY}], room=r)


def test_join_retry_with_other_nick_while_pending(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    start_join(a, component, r, "First")
    j2 = start_join(a, component, r, "Second")
    assert_rooms(a, {}, when="with a retried join pending")
    component.deliver(a, self_presence(f"{r}/Second", a.jid, id_=j2.id))
    assert_rooms(a, {r: "Second"}, when="after the retry was confirmed")
    names = [e["name"] for e in a.events(seq, room=r)]
    assert names == ["joined"], f"the retry asked for Second and got it: {names}"


def test_a_reconnects_burst_of_joins_to_remote_rooms_is_tracked_whole(connect, component, room):
    """A client autojoins every bookmark as it connects; a remote room
    answers after the whole burst has gone out. With the default options
    every room is tracked (max_pending was 64: rooms 65 to 70 were missing
    from rooms_joined for the whole session)."""
    a = connect("alice")
    rs = [sroom(room) for _ in range(70)]
    joins = [start_join(a, component, r, "Alice") for r in rs]
    for r, j in zip(rs, joins):
        component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
    assert_rooms(a, {r: "Alice" for r in rs}, when="after 70 joins answered after the burst")


def test_kick_crossing_a_join_under_another_nick(connect, component, room):
    """A join (with the MUC <x/>) to another nick while in the room is a nick
    change to a room that still has the session, and a join to one that
    dropped it first: a kick the room sent before it saw the join ends
    what was shown, and the join's answer shows the room again under the
    new nick (it was refused as forged, the session in the room untracked)."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Old")
    seq = a.event_seq()
    j = start_join(a, component, r, "New")
    assert_rooms(a, {r: "Old"}, when="while the join under another nick is unanswered")
    component.deliver(a, self_presence(f"{r}/Old", a.jid, type_="unavailable",
                                       codes=("110", "307"),
                                       item="<item affiliation='none' role='none'/>"))
    assert_rooms(a, {}, when="after the kick that crossed the join")
    component.deliver(a, self_presence(f"{r}/New", a.jid, id_=j.id))
    assert_rooms(a, {r: "New"}, when="after the room answered the join")
    assert_events(a, seq, [{"name": "left", "reason": "kicked"},
                           {"name": "joined", "nick": "New"}], room=r)

"""A session replaced by a new one under the same full JID (kick_old: a
client reconnecting with the same resource), while a room still owes the
old JID answers: the new session's rejoin must not take them for its own.
Each test checks what Prosody really does where it can; the scripted room
answers as a remote Prosody MUC would."""

import time

from harness import (WAIT, assert_events, assert_rooms, joined, self_presence, sroom, start_join,
                     xa)

HOST_MODULES = ["smacks"]
PROSODY_OPTIONS = {"smacks_hibernation_time": 30}


def wait_hibernating(watcher, jid):
    deadline = time.monotonic() + WAIT
    while not watcher.rooms(jid).hibernating:
        assert time.monotonic() < deadline, f"{jid} did not hibernate in {WAIT}s"
        time.sleep(0.1)


def kick_crosses_the_rejoin(new, component, r, m, code):
    """The close of the session new replaced reaches the room (its
    unavailable, from mark m on); new rejoins as Alice; then the room's
    kick (status code) meant for the old occupant reaches new's JID, and
    then its join's own answer: new is in the room."""
    component.wait_presence(m, frm=new.jid, to_bare=r, type_="unavailable",
                            what="the unavailable mod_presence sent for the closed session")
    j2 = start_join(new, component, r, "Alice")
    component.deliver(new, self_presence(
        f"{r}/Alice", new.jid, type_="unavailable", codes=(code, "110"),
        item="<item affiliation='none' role='none'/>"))
    component.deliver(new, self_presence(f"{r}/Alice", new.jid, id_=j2.id))
    assert_rooms(new, {r: "Alice"}, when="after the room answered the new session's join")


def test_bounce_kick_of_replaced_session_does_not_fail_new_join(connect, component, room):
    """A resumable session hibernates while a room message is queued for it
    (unacked). The client comes back without resuming and binds the same
    resource: kick_old closes the hibernating session and mod_smacks
    bounces its unacked stanzas (recipient-unavailable) from the full JID
    to the room. A Prosody MUC kicks the occupant for that error (333,
    is_kickable_error) and sends the full JID unavailable + 110 + 333.
    A remote room's 333 arrives after the new session, autojoining at once,
    sent its join; then the room answers the join (110, its id). The new
    session is in the room: rooms_joined must show it."""
    w = connect("bob")
    r = sroom(room)
    res = "replaced-bounce"
    old = connect("alice", res=res, smacks=True)
    joined(old, component, r, "Alice")
    jid = old.jid
    old.drop()
    wait_hibernating(w, jid)
    # a groupchat message queued, unacked, in the hibernating session
    component.send(f"<message from={xa(r + '/Zed')} to={xa(jid)} type='groupchat' "
                   f"id='queued-1'><body>hello</body></message>")
    time.sleep(0.5)
    m = component.mark()
    new = connect("alice", res=res)  # kick_old: the hibernating session is closed
    assert new.jid == jid
    # Prosody really bounces the queued message from the full JID
    bounce = component.wait(
        lambda s: s.name == "message" and s.type == "error" and s.frm == jid, m,
        what="mod_smacks's bounce of the queued groupchat message")
    assert bounce.error_condition == "recipient-unavailable", str(bounce)
    # the room's answers in order: the kick for the bounced error (a
    # Prosody MUC: 333 to the kicked JID), the unavailable from a
    # non-occupant (ignored, no answer), the new join's self-presence
    kick_crosses_the_rejoin(new, component, r, m, "333")


def test_kick_crossing_close_does_not_fail_new_join(connect, component, room):
    """The same without stream management: a moderator kicks the occupant
    (307) while its session closes; the client reconnects with the same
    resource and rejoins at once; the kick, sent by the room before it saw
    the unavailable and the new join, reaches the new session's JID after
    its join was sent. The rejoin's own answer (its id) follows."""
    r = sroom(room)
    res = "replaced-kick-cross"
    old = connect("alice", res=res)
    joined(old, component, r, "Alice")
    m = component.mark()
    new = connect("alice", res=res)  # kick_old
    assert new.jid == old.jid
    kick_crosses_the_rejoin(new, component, r, m, "307")


def test_closes_answer_before_the_rejoin_is_not_the_rejoins(connect, component, room):
    """The client reconnects with the same resource (kick_old) and the room
    answers the closed session's unavailable (a plain confirmation) after
    the new session bound, before it rejoins: that is the close's answer,
    so when the room then bans the occupant as it rejoins (301 + 110, no
    id), the removal is the rejoin's refusal: join-failed (banned) at
    once, not held as the close's answer until pending_timeout."""
    r = sroom(room)
    res = "replaced-early-answer"
    old = connect("alice", res=res)
    joined(old, component, r, "Alice")
    m = component.mark()
    new = connect("alice", res=res)  # kick_old
    assert new.jid == old.jid
    component.wait_presence(m, frm=new.jid, to_bare=r, type_="unavailable",
                            what="the unavailable mod_presence sent for the closed session")
    component.deliver(new, self_presence(f"{r}/Alice", new.jid, type_="unavailable",
                                         item="<item affiliation='none' role='none'/>"))
    seq = new.event_seq()
    start_join(new, component, r, "Alice")
    component.deliver(new, self_presence(
        f"{r}/Alice", new.jid, type_="unavailable", codes=("301", "110"),
        item="<item affiliation='outcast' role='none'/>"))
    assert_events(new, seq, [{"name": "join-failed", "reason": "banned"}], room=r)
    assert_rooms(new, {}, when="after the room banned the rejoin")


def test_replaced_session_join_in_flight_same_id_as_new_join(connect, component, room):
    """A client whose ids restart with each stream (a per-connection
    counter: 'join-1' again) is replaced while its join is in flight and
    autojoins again with the same id. The room answers in order: the old
    join (self-presence, id join-1), the unavailable mod_presence sent for
    the closed session (leave confirmed), the new join (id join-1). The
    new session is in the room."""
    r = sroom(room)
    res = "replaced-same-id"
    old = connect("alice", res=res)
    m = component.mark()
    old.join(r, "Alice", id_="join-1", wait=False)
    component.wait_presence(m, frm=old.jid, to_bare=r, what="the old join")
    jid = old.jid
    m = component.mark()
    new = connect("alice", res=res)  # kick_old: old closed with its join in flight
    component.wait_presence(m, frm=jid, to_bare=r, type_="unavailable",
                            what="the unavailable sent for the closed session")
    m = component.mark()
    new.join(r, "Alice", id_="join-1", wait=False)
    component.wait_presence(m, frm=jid, to_bare=r, type_=None, what="the new join")
    component.deliver(new, self_presence(f"{r}/Alice", jid, id_="join-1"))
    component.deliver(new, self_presence(f"{r}/Alice", jid, type_="unavailable",
                                         item="<item affiliation='none' role='none'/>"))
    component.deliver(new, self_presence(f"{r}/Alice", jid, id_="join-1"))
    assert_rooms(new, {r: "Alice"}, when="after the room answered the new session's join")

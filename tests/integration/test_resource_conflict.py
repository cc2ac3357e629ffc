"""A session replaced by a new one with the same full JID (Prosody's default
conflict_resolve, kick_old): the old session is closed at its resource-unbind,
before the new one binds, so the new session starts with no rooms, and what the
rooms send to that JID afterwards is tracked for the new session alone
(docs/semantics.md §2). Stream management makes no difference: an explicitly
closed session does not hibernate, and a hibernating one is closed as well."""

import time

from harness import WAIT, assert_events, assert_rooms, is_presence, wait_events

HOST_MODULES = ["smacks"]

SESSION_CLOSED = "session-closed"


def replaced_then_tracked(connect, room, smacks, hibernating=False):
    res = "same-resource" + ("-smacks" if smacks else "") + ("-hib" if hibernating else "")
    w = connect("bob")
    r = room()
    w.join(r, "Bob")  # the owner
    old = connect("alice", res=res, smacks=smacks)
    old.join(r, "Alice")
    jid = old.jid
    assert_rooms(w, {r: "Alice"}, jid=jid, when="before the replacement")
    seq = w.event_seq()
    if hibernating:
        old.drop()
        deadline = time.monotonic() + WAIT
        while not w.rooms(jid).hibernating:
            assert time.monotonic() < deadline, f"{jid} did not hibernate in {WAIT}s"
            time.sleep(0.1)
    new = connect("alice", res=res, smacks=smacks)
    assert new.jid == jid
    wait_events(w, seq, lambda e: e["name"] == "left" and e.get("session") == jid,
                room=r, what="the replaced session's left event")
    assert_events(w, seq, [{"name": "left", "reason": SESSION_CLOSED}], room=r, session=jid)
    assert_rooms(new, {}, when="a new session with the same full JID")
    # the room saw the old session leave (its unavailable broadcast)
    w.wait(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable"), 0,
           what="the old session's unavailable, seen by the owner")
    seq = w.event_seq()
    new.join(r, "Alice2")
    assert_rooms(new, {r: "Alice2"}, when="after the new session joined")
    m = w.mark()
    w.admin_iq(r, "<item nick='Alice2' role='none'/>")
    w.wait(lambda s: is_presence(s, frm=r + "/Alice2", type_="unavailable"), m,
           what="the kick seen by the owner")
    assert_rooms(new, {}, when="after the new session was kicked")
    assert_events(w, seq, [{"name": "joined", "nick": "Alice2"},
                           {"name": "left", "reason": "kicked"}], room=r, session=jid)


def test_replaced_session_new_one_tracked_alone(connect, room):
    replaced_then_tracked(connect, room, smacks=False)


def test_replaced_resumable_session_new_one_tracked_alone(connect, room):
    replaced_then_tracked(connect, room, smacks=True)


def test_replaced_hibernating_session_new_one_tracked_alone(connect, room):
    replaced_then_tracked(connect, room, smacks=True, hibernating=True)

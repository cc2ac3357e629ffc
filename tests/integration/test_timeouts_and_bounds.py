"""Timeouts (docs/semantics.md §2: pending_timeout) and bounds (§3:
max_pending, max_rooms), with a short timeout and small bounds on this file's
server."""

import time

from harness import (
    NS_MUC_USER, assert_events, assert_rooms, is_presence, joined, self_presence, sroom,
    start_join, wait_events, xa)

TIMEOUT = 3
PROSODY_OPTIONS = {
    "track_muc_joins_pending_timeout": TIMEOUT,
    "track_muc_joins_max_pending": 2,
    "track_muc_joins_max_rooms": 3,
}
# a timeout fires at the latest TIMEOUT + one tick (<= TIMEOUT / 4) later
WAIT_TIMEOUT = TIMEOUT + 6


def test_pending_join_times_out_and_late_answer_is_refused(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    seq = a.event_seq()
    j = start_join(a, component, r, "Alice")
    t0 = time.monotonic()
    evs = wait_events(a, seq, lambda e: e["name"] == "join-failed", room=r,
                      timeout=WAIT_TIMEOUT, what="join-failed after the pending timeout")
    waited = time.monotonic() - t0
    assert evs[0].get("reason") == "timeout", f"expected reason timeout: {evs}"
    assert waited >= TIMEOUT - 0.5, f"join-failed after {waited:.1f}s, timeout is {TIMEOUT}s"
    assert_rooms(a, {}, when="after the pending join timed out")
    m = component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
    assert a.find(lambda s: is_presence(s, frm=r + "/Alice", self_=True), m)
    assert_rooms(a, {}, when="after a self-presence arriving after the timeout")


def test_unconfirmed_leave_times_out(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    seq = a.event_seq()
    m = component.mark()
    a.leave(r, "Alice", wait=False)
    component.wait_presence(m, frm=a.jid, to_bare=r, type_="unavailable", what="the leave")
    assert_rooms(a, {r: "Alice"}, when="while the leave is unconfirmed")
    evs = wait_events(a, seq, lambda e: e["name"] == "left", room=r, timeout=WAIT_TIMEOUT,
                      what="left after the leave timeout")
    assert evs[0].get("reason") == "left-unconfirmed", f"expected left-unconfirmed: {evs}"
    assert_rooms(a, {}, when="after the unconfirmed leave timed out")


def test_unanswered_nick_change_keeps_old_nick(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Old")
    m = component.mark()
    a.send(f"<presence to={xa(r + '/New')}/>")
    component.wait_presence(m, frm=a.jid, to_bare=r, type_=None, what="the nick change")
    time.sleep(TIMEOUT + 1.5)  # the point: nothing is answered, the entry stays
    assert_rooms(a, {r: "Old"}, when="after an unanswered nick change timed out")
    component.deliver(a, self_presence(f"{r}/Old", a.jid))
    assert_rooms(a, {r: "Old"})


def test_303_without_new_self_presence_settles_on_announced_nick(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Old")
    m = component.mark()
    a.send(f"<presence to={xa(r + '/New')}/>")
    component.wait_presence(m, frm=a.jid, to_bare=r, type_=None, what="the nick change")
    component.deliver(a, (
        f"<presence from={xa(r + '/Old')} to={xa(a.jid)} type='unavailable'>"
        f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='participant' nick='New'/>"
        f"<status code='303'/><status code='110'/></x></presence>"))
    assert_rooms(a, {r: "Old"}, when="right after the 303")
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        got = a.rooms()
        if dict(got) == {r: "New"} or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert_rooms(a, {r: "New"}, when="after the 303's expectation timed out (JOINED(m))")


def test_max_pending_bound(connect, server, component, room):
    off = server.log_size()
    a = connect("alice")
    rs = [sroom(room) for _ in range(3)]
    joins = [start_join(a, component, r, "Alice") for r in rs]
    for r, j in zip(rs, joins):
        m = component.deliver(a, self_presence(f"{r}/Alice", a.jid, id_=j.id))
        assert a.find(lambda s, r=r: is_presence(s, frm=r + "/Alice", self_=True), m), \
            "over a bound the stanza still goes on"
    assert_rooms(a, {rs[0]: "Alice", rs[1]: "Alice"},
                 when="with max_pending = 2 and three joins in flight")
    # the warning names the option as it is set in Prosody's config
    log = server.wait_log("track_muc_joins_max_pending limit (2) reached", offset=off)
    assert f"{a.jid}: track_muc_joins_max_pending limit (2) reached" in log, \
        server.log_tail(20, off)


def test_max_rooms_bound(connect, server, room):
    off = server.log_size()
    a = connect("alice")
    rs = [room() for _ in range(4)]
    for r in rs:
        p = a.join(r, "Alice")
        assert p.is_self, f"the self-presence reaches the client even over the bound: {p}"
    assert_rooms(a, {r: "Alice" for r in rs[:3]}, when="with max_rooms = 3 after four joins")
    log = server.wait_log("track_muc_joins_max_rooms limit (3) reached", offset=off)
    assert f"{a.jid}: track_muc_joins_max_rooms limit (3) reached" in log, \
        server.log_tail(20, off)
    a.leave(rs[0], "Alice")
    a.leave(rs[3], "Alice")
    a.join(rs[3], "Alice")
    assert_rooms(a, {r: "Alice" for r in rs[1:]}, when="after leaving one room and joining again")


def test_presence_error_from_one_shared_session_is_never_confirmed(connect, room):
    """Prosody 0.12 drops a session that sends a presence error from a shared
    (multi-session) occupant without telling it anything (handle_kickable
    only notifies the last session). The session's leave is never
    confirmed: the entry stays until the leave times out."""
    a1 = connect("alice")
    a2 = connect("alice")
    r = room()
    a1.join(r, "Al")
    m1 = a1.mark()
    a2.join(r, "Al")
    a1.wait(lambda s: is_presence(s, frm=r + "/Al", type_=None, self_=True), m1,
            what="the duplicate self-presence to the first session")
    seq = a1.event_seq()
    m1 = a1.mark()
    a2.send(f"<presence type='error' to={xa(r + '/Al')}><error type='cancel'>"
            f"<gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
    a1.wait(lambda s: is_presence(s, frm=r + "/Al", type_=None, self_=True), m1,
            what="the occupant's new presence (one session left) to the first session")
    assert_rooms(a2, {r: "Al"}, when="right after sending the presence error (LEAVING)")
    evs = wait_events(a1, seq, lambda e: e["name"] == "left" and e.get("session") == a2.jid,
                      room=r, timeout=WAIT_TIMEOUT, what="the unconfirmed leave timing out")
    assert evs[0].get("reason") == "left-unconfirmed", evs
    assert_rooms(a2, {}, when="after the unconfirmed leave timed out")
    assert_rooms(a1, {r: "Al"}, when="(the other session stays)")


def test_join_error_filter_off_while_idle_and_back_for_the_next_join(connect, room):
    """A local MUC sends join errors with origin.send(), which only the
    module's stanzas/out filter sees. The filter is on a session from a
    presence it sends to a room the tracker follows until a tick finds it
    sent none for the pending timeout (TIMEOUT here): a session sitting in
    its rooms pays nothing per stanza it is sent, and its next join puts
    the filter back before the MUC answers."""
    a = connect("alice")
    c = connect("carol")
    r1, r2 = room(), room()
    before = a.rooms().out_filters
    a.join(r1, "Alice")
    assert a.rooms().out_filters == before + 1, "the filter is on after a join"
    c.join(r2, "Same")
    deadline = time.monotonic() + WAIT_TIMEOUT
    while a.rooms().out_filters != before and time.monotonic() < deadline:
        time.sleep(0.2)
    got = a.rooms()
    assert got.out_filters == before, f"the filter is still on an idle session: {got.out_filters} filters"
    assert got == {r1: "Alice"}, got.describe()
    seq = a.event_seq()
    err = a.join(r2, "Same")
    assert err.type == "error" and err.error_condition == "conflict", f"expected conflict: {err}"
    assert_events(a, seq, [{"name": "join-failed", "condition": "conflict"}], room=r2, session=a.jid)
    assert_rooms(a, {r1: "Alice"}, when="after a local join error to a session that was idle")


def test_rooms_joined_removed_by_another_module_is_made_whole(connect, server, component,
                                                              room):
    """Another module sets session.rooms_joined (and joined_rooms) to nil
    while the session is in rooms: the next change makes the table again
    with every room the session is in, not only the changed one, both when
    the hook applies it (a join) and when the module's tick does (a leave
    timing out)."""
    a = connect("alice")
    r1, r2, r3 = (sroom(room) for _ in range(3))
    joined(a, component, r1, "Alice")
    joined(a, component, r2, "Alice")

    def drop_table():
        rc, out = server.admin(f"> prosody.full_sessions[{a.jid!r}].rooms_joined = nil; "
                               f"prosody.full_sessions[{a.jid!r}].joined_rooms = nil")
        assert rc == 0, out
        assert dict(a.rooms()) == {}, "the table was not removed: the test proves nothing"

    drop_table()
    joined(a, component, r3, "Alice")
    assert_rooms(a, {r1: "Alice", r2: "Alice", r3: "Alice"},
                 when="after a join, the table having been removed")
    assert a.rooms().joined_rooms == "same"
    m = component.mark()
    a.leave(r1, "Alice", wait=False)
    component.wait_presence(m, frm=a.jid, to_bare=r1, type_="unavailable", what="the leave")
    drop_table()
    seq = a.event_seq()
    wait_events(a, seq, lambda e: e["name"] == "left", room=r1, timeout=WAIT_TIMEOUT,
                what="left after the leave timeout")
    assert_rooms(a, {r2: "Alice", r3: "Alice"},
                 when="after a leave timed out, the table having been removed")

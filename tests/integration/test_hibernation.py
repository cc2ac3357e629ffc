"""Stream management (XEP-0198): while a session hibernates (connection lost,
resumable) it stays in full_sessions and tracking goes on (docs/semantics.md
§2). Its state is read by another client through the test module."""

import time

from harness import WAIT, assert_events, assert_rooms, is_presence, wait_events

HOST_MODULES = ["smacks"]
HIBERNATION = 4  # the first test is done well within it
PROSODY_OPTIONS = {"smacks_hibernation_time": HIBERNATION}


def wait_hibernating(watcher, jid, seq):
    """Prosody notices the lost connection and hibernates the session
    (mod_smacks sets session.hibernating); poll for it, bounded."""
    deadline = time.monotonic() + WAIT
    while True:
        r = watcher.rooms(jid)
        assert r.session == "present", f"{jid} must survive as a hibernating session"
        if r.hibernating:
            break
        assert time.monotonic() < deadline, f"{jid} did not hibernate in {WAIT}s"
        time.sleep(0.1)
    closed = [e for e in watcher.events(seq, session=jid)
              if e.get("reason") == "session-closed"]
    assert not closed, f"a hibernating session is not closed: {closed}"


def test_tracking_goes_on_while_hibernating(connect, room):
    a = connect("alice", smacks=True)
    b = connect("bob")
    r1, r2 = room(), room()
    b.join(r1, "Bob")  # owner of r1
    a.join(r1, "Alice")
    a.join(r2, "Alice")
    jid = a.jid
    seq = b.event_seq()
    a.drop()
    wait_hibernating(b, jid, seq)
    assert_rooms(b, {r1: "Alice", r2: "Alice"}, jid=jid, when="while hibernating")
    m = b.mark()
    b.admin_iq(r1, "<item nick='Alice' role='none'/>")
    b.wait(lambda s: is_presence(s, frm=r1 + "/Alice", type_="unavailable"), m,
           what="the kick seen by the owner")
    wait_events(b, seq, lambda e: e["name"] == "left" and e.get("session") == jid,
                room=r1, what="the hibernating session's left event")
    assert_rooms(b, {r2: "Alice"}, jid=jid, when="after a kick during hibernation")
    assert_events(b, seq, [{"name": "left", "reason": "kicked"}], room=r1, session=jid)


def test_admin_shell_says_a_session_hibernates(server, connect, room):
    """muc_joins:list() marks a hibernating session: its rooms are kept
    while nothing is connected."""
    a = connect("alice", smacks=True)
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    rc, out = server.admin(f"muc_joins:list({a.jid!r})")
    assert rc == 0 and f"{a.jid} (1 room)" in out, out
    seq = b.event_seq()
    a.drop()
    wait_hibernating(b, a.jid, seq)
    rc, out = server.admin(f"muc_joins:list({a.jid!r})")
    assert rc == 0 and f"{a.jid} (1 room, hibernating)" in out and r in out, out
    a.resume()
    rc, out = server.admin(f"muc_joins:list({a.jid!r})")
    assert rc == 0 and f"{a.jid} (1 room)" in out, out


def test_hibernation_timeout_closes_the_session(connect, room):
    a = connect("alice", smacks=True)
    w = connect("bob")
    r = room()
    a.join(r, "Alice")
    jid = a.jid
    seq = w.event_seq()
    a.drop()
    wait_hibernating(w, jid, seq)
    evs = wait_events(w, seq, lambda e: e["name"] == "left" and e.get("session") == jid,
                      timeout=HIBERNATION + WAIT, what="left when the hibernation ends")
    assert evs[0].get("reason") == "session-closed" and evs[0].get("room") == r, evs
    assert w.rooms(jid).session == "absent"


def test_resumed_stream_gets_the_join_error_filter_back(connect, room):
    """mod_smacks gives a resumed session the new connection's filter
    table, without the module's stanzas/out filter (which a local MUC's
    join errors are only seen by). The module puts it back at the
    resumption where it was on: a local join error right after it is seen
    at once, not left to the pending timeout."""
    a = connect("alice", smacks=True)
    c = connect("carol")
    r1, r2 = room(), room()
    c.join(r2, "Same")
    a.join(r1, "Alice")
    jid = a.jid
    on = a.rooms().out_filters
    seq = c.event_seq()
    a.drop()
    wait_hibernating(c, jid, seq)
    a.resume()
    got = c.rooms(jid)
    assert got.session == "present" and not got.hibernating, got.describe()
    assert got.out_filters == on, \
        f"after the resumption {got.out_filters} stanzas/out filters, {on} before: ours is missing"
    assert got == {r1: "Alice"}, got.describe()
    seq = c.event_seq()
    err = a.join(r2, "Same")
    assert err.type == "error" and err.error_condition == "conflict", f"expected conflict: {err}"
    assert_events(c, seq, [{"name": "join-failed", "condition": "conflict"}], room=r2, session=jid)
    assert_rooms(c, {r1: "Alice"}, jid=jid, when="after a local join error following a resumption")

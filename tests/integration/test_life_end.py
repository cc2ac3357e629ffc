"""The end of sessions and of the server: account deletion while joined
(with stream management, hibernating too), and the server's own shutdown
with sessions in rooms, joins in flight and a self-ping scheduled."""

import re
import time

from harness import WAIT, is_presence, joined, sroom, start_join, tracker_stats, wait_events

HOST_MODULES = ["smacks"]
PROSODY_OPTIONS = {"track_muc_joins_ping_start_delay": 1}


stats = tracker_stats  # muc_joins:stats('localhost')


def test_account_deleted_while_joined(connect, component, server, room):
    before = stats(server)
    w = connect("bob")
    u = connect("frank", smacks=True)
    u2 = connect("frank", smacks=True)
    r, rs = room(), sroom(room)
    w.join(r, "Bob")
    u.join(r, "Frank")
    joined(u, component, rs, "Frank")
    u2.join(r, "Frank")
    start_join(u2, component, rs, "Frank2")
    u2.drop()
    deadline = time.monotonic() + WAIT
    while not w.rooms(u2.jid).hibernating:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    seq = w.event_seq()
    rc, out = server.admin("user:delete('frank@localhost')")
    assert rc == 0, out
    try:
        evs = wait_events(w, seq, lambda e: e["name"] == "left" and e.get("session") == u.jid,
                          count=2, what="left for both rooms of the deleted account")
        # the hibernating session's unacked stanzas are bounced to the room
        # by mod_smacks (recipient-unavailable), and Prosody's MUC kicks the
        # shared occupant for it (333) before the other session closes
        assert {e.get("reason") for e in evs} <= {"session-closed", "technical"}, evs
        assert w.rooms(u.jid).session == "absent"
        assert w.rooms(u2.jid).session == "absent"
        # the room saw Frank go
        w.wait(lambda s: is_presence(s, frm=r + "/Frank", type_="unavailable"), 0,
               what="Frank's unavailable seen by the owner")
        after = stats(server)
        assert after["sessions"] == before["sessions"] + 1, (before, after)  # bob only
    finally:
        server.register("frank")


def test_replaced_sessions_leave_nothing_in_the_tracker(connect, component, server, room):
    before = stats(server)
    r, rs = room(), sroom(room)
    for i in range(3):
        c = connect("erin", res="conflict-leak", smacks=(i % 2 == 0))
        c.join(r, "Erin")
        start_join(c, component, rs, "Erin")
    c.disconnect()
    time.sleep(0.5)
    after = stats(server)
    for k in ("sessions", "rooms_shown", "pending", "leaving", "changing"):
        assert after[k] == before[k], (k, before, after)


# last: it stops the module's server
def test_server_shutdown_with_rooms_and_pings(connect, component, server, room):
    a = connect("alice", smacks=True)
    b = connect("bob")
    r, rs, rs2 = room(), sroom(room), sroom(room)
    a.join(r, "Alice")
    joined(a, component, rs, "Alice")
    start_join(a, component, rs2, "Alice")  # in flight
    b.join(r, "Bob")
    off = server.log_size()
    a.drop()  # hibernating at shutdown
    # Once it hibernates: a SIGTERM that Prosody handles while mod_smacks
    # is still taking the dropped connection's session into hibernation
    # (util.signal runs the handler at the next Lua instruction) destroys
    # the session under it, and mod_smacks then indexes its queue, gone
    # (Prosody 0.12's own race, seen once; no module of ours in it).
    assert "Session going into hibernation" in server.wait_log(
        "Session going into hibernation", offset=off)
    # The line is logged inside that handler, just before the very line
    # that indexes the queue (mod_smacks.lua: fire_event("smacks-hibernation-
    # start", {queue = session.outgoing_stanza_queue:table()})): seeing it
    # does not mean the handler is done. A round trip through the admin
    # shell is answered in a later turn of Prosody's loop, so after it the
    # handler has returned.
    stats(server)
    # a self-ping scheduled: the component's link is lost
    off = server.log_size()
    server.stop()
    log = server.log_text(off)
    assert "Shutdown complete" in log or "shutdown" in log.lower(), log[-2000:]
    errs = server.errors_in_log(off)
    assert not errs, "\n".join(errs)
    # a Lua error's words (Prosody's own "Attempt to close already-closed
    # session" at debug is not one)
    assert not re.search(r"traceback|attempt to (index|call|compare|concatenate|perform)",
                         log, re.I), log[-4000:]

"""A ghost in a room of the server's own MUC: the room lost the occupant
without telling the session. Its next groupchat message is refused with
not-acceptable, which the module takes as a reason to ask the room
(self-ping). Prosody's MUC sends that error with origin.send()
(muc-occupant-groupchat), so it never passes message/full: the module sees
it only through the session's outgoing filter, which a groupchat message
to a room the session is in turns on (it is off for a session that sent
no presence for pending_timeout)."""

import time

from harness import assert_rooms, new_id, xa

PENDING_TIMEOUT = 2
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 1,
    "track_muc_joins_ping_backoff": 1,
    "track_muc_joins_pending_timeout": PENDING_TIMEOUT,
}


def make_local_ghost(server, r, nick):
    """Drop the occupant inside the MUC and tell nobody (what a loss on
    the server's side looks like to the session)."""
    lua = (f"> local room = prosody.hosts['conference.localhost'].modules.muc"
           f".get_room_from_jid('{r}'); local o = room:get_occupant_by_nick('{r}/{nick}');"
           f" o.role = nil; room:save_occupant(o); return room:get_occupant_by_nick('{r}/{nick}') == nil")
    rc, out = server.admin(lua)
    assert rc == 0 and "true" in out, out


def test_local_muc_refusing_a_ghosts_groupchat_message_asks_the_room(connect, server, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    assert_rooms(a, {r: "Alice"})
    # the filter the join turned on goes off: no presence for pending_timeout
    time.sleep(PENDING_TIMEOUT + 2.5)
    make_local_ghost(server, r, "Alice")
    m = a.mark()
    mid = new_id("gc")
    a.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}><body>hello?</body></message>")
    err = a.wait(lambda s: s.name == "message" and s.type == "error" and s.id == mid, m,
                 what="the room's not-acceptable error")
    assert err.error_condition == "not-acceptable", err
    # the room answers the self-ping with not-acceptable (no occupant): left
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and a.rooms() != {}:
        time.sleep(0.5)
    assert a.rooms() == {}, f"ghost kept after the room refused its message: {a.rooms()}"
    assert a.find(lambda s: s.name == "presence" and s.frm == f"{r}/Alice"
                  and "333" in s.status_codes, m), "no ghost notice (110 + 333) to the client"

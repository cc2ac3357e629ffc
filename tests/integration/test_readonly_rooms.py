"""Another module replaces session.rooms_joined with a read-only proxy
(its __newindex raises). The module cannot write to it, but that costs
the write alone: a ghost found in a room of the local MUC still ends
with muc-joins/left and the 110 + 333 notice to the client (the binding
leaves the refused write to the module, which logs it at warn and goes
on)."""

import time

from harness import new_id, xa
from test_local_ghost import make_local_ghost

PENDING_TIMEOUT = 2
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 1,
    "track_muc_joins_ping_backoff": 1,
    "track_muc_joins_pending_timeout": PENDING_TIMEOUT,
}
HOST_MODULES = ["test_readonly_rooms"]


def test_ghost_notice_and_left_event_survive_a_raising_proxy(connect, server, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    time.sleep(PENDING_TIMEOUT + 2.5)  # the join-error filter is off again
    make_local_ghost(server, r, "Alice")
    m = a.mark()
    mid = new_id("gc")
    a.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}><body>hello?</body></message>")
    a.wait(lambda s: s.name == "message" and s.type == "error" and s.id == mid, m,
           what="the room's not-acceptable error")
    deadline = time.monotonic() + 15
    left = []
    while time.monotonic() < deadline and not left:
        left = [e for e in a.events(name="left") if e.get("room") == r]
        time.sleep(0.5)
    assert left, "muc-joins/left (ghost) never fired"
    assert left[0].get("reason") == "ghost", left
    notice = a.find(lambda s: s.name == "presence" and s.frm == f"{r}/Alice"
                    and "333" in s.status_codes, m)
    assert notice, "no ghost notice (110 + 333) to the client"
    assert "rooms_joined of" in server.log_text(), "the refused write is logged"

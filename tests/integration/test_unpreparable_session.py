"""A session whose JID the core cannot prepare: a local user binds a
resource Prosody accepts (its resourceprep has no stream-safe rule) with a
run of 40 combining marks, which the core refuses (docs/semantics.md §4).
Its rooms are not tracked, Prosody goes on routing its stanzas, and the
failure is logged once for the session, not once per presence (a local
user could flood the log at error level)."""

import time
import unicodedata

from harness import assert_rooms


def test_unpreparable_session_jid_is_logged_once(server, connect, room):
    res = unicodedata.normalize("NFKC", "phone" + "\u0301" * 40)
    start = server.log_size()
    a = connect("alice", res=res)  # its initial presence is the first failure
    r = room()
    a.join(r, "Alice")  # the room answers: Prosody routes it as ever
    n = 30
    for _ in range(n):
        a.send(f"<presence to='{r}/Alice'><show>away</show></presence>")
    a.send(f"<presence to='{r}/Alice' type='unavailable'/>")
    a.join(r, "Alice")
    time.sleep(1.0)
    lines = [l for l in server.log_text(start).splitlines() if "mucjoins outgoing failed" in l]
    assert len(lines) == 1, f"{len(lines)} lines for {n + 3} presences: {lines[:3]}"
    assert "warn" in lines[0] and "not logged again" in lines[0], lines[0]
    # what it means, for the operator reading it
    assert "cannot be prepared" in lines[0] and "rooms are not tracked" in lines[0], lines[0]
    assert_rooms(a, {}, when="a session the core cannot prepare")

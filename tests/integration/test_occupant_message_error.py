"""Another occupant's private error message is no sign that the session
left the room. Prosody's MUC relays an occupant's message of type error to
room/<nick> (any but a kickable one, so not-acceptable too) from
room/<that occupant>; the refusal of the session's own groupchat message
comes from the bare room. Taken as a sign, any occupant made the session's
server self-ping the room once per message it sent."""

import re

from harness import assert_rooms, new_id, xa

STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def stats(server):
    rc, out = server.admin("muc_joins:stats('localhost')")
    assert rc == 0, out
    found = {}
    for key in ("ambiguous", "pings_sent"):
        m = re.search(key + r"\s+(\d+)", out)
        assert m, f"no {key} in muc_joins:stats():\n{out}"
        found[key] = int(m.group(1))
    return found


def test_an_occupants_not_acceptable_message_error_asks_nothing(connect, server, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Mallory")
    assert_rooms(a, {r: "Alice"})
    before = stats(server)
    m = a.mark()
    ids = [new_id("err") for _ in range(3)]
    for mid in ids:
        b.send(f"<message type='error' to={xa(r + '/Alice')} id={xa(mid)}>"
               f"<error type='cancel' by={xa(r)}><not-acceptable xmlns='{STANZAS}'/></error></message>")
    for mid in ids:
        got = a.wait(lambda s, mid=mid: s.name == "message" and s.id == mid, m,
                     what="the occupant's error message, relayed by the room")
        assert got.frm == f"{r}/Mallory", got
    after = stats(server)
    assert after == before, f"an occupant's message errors asked the room: {before} -> {after}"
    assert_rooms(a, {r: "Alice"}, when="after the occupant's message errors")

"""A room answers the module's disco#info request (asked to read a
self-ping's service-unavailable) with an error that has no <error/>.
Prosody 0.12's module:send_iq() raises reading such a reply, so the
module takes it first; the ping's answer then waited for ping_timeout.
It now goes to the core at once, as no usable answer (unknown), and the
reply reaches neither send_iq() nor the client (docs/semantics.md §5)."""

import time

from harness import joined, sroom, tracker_stats
from test_self_ping import ask_ping, ping_error

PING_TIMEOUT = 30  # far longer than the test waits for the verdict
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 1,
    "track_muc_joins_ping_timeout": PING_TIMEOUT,
    "track_muc_joins_ping_backoff": 600,  # no retry during the test
}
NS_DISCO = "http://jabber.org/protocol/disco#info"


core_stats = tracker_stats  # muc_joins:stats('localhost')


def test_a_disco_reply_without_error_ends_the_request_at_once(server, connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    ping = ask_ping(component, a, r)
    before = core_stats(server)
    mc = component.mark()
    component.deliver(a, ping_error(ping, "service-unavailable", by=r))
    disco = component.wait(lambda s: s.name == "iq" and s.type == "get" and s.to == r and
                           s.child("query", NS_DISCO) is not None, mc,
                           what="the module's disco#info request to the room")
    off = server.log_size()
    t0 = time.monotonic()
    m = component.deliver(a, f"<iq type='error' from='{r}' to='{disco.frm}' id='{disco.id}'/>")
    st = core_stats(server)
    while st["pings_unknown"] == before["pings_unknown"] and time.monotonic() - t0 < 5:
        time.sleep(0.2)
        st = core_stats(server)
    waited = time.monotonic() - t0
    assert st["pings_unknown"] == before["pings_unknown"] + 1, (
        f"the ping's answer was not settled within 5 s of the unusable reply "
        f"(ping_timeout is {PING_TIMEOUT} s): {st}")
    assert st["pings_outstanding"] == 0 and st["pings_not_joined"] == before["pings_not_joined"], st
    assert dict(a.rooms()) == {r: "Alice"}, "no usable answer removes nothing"
    time.sleep(0.5)
    assert not a.find(lambda s: s.name == "iq" and s.id == disco.id, m), \
        "the client received the module's disco#info reply"
    log = server.log_text(off)
    assert "traceback" not in log.lower() and not server.errors_in_log(off), log[-2000:]
    print(f"settled {waited:.1f} s after the reply")

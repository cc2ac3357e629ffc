"""The module's own iqs must not reach the client. A room's
disco#info reply that arrives after the module stopped waiting for it
(ping_timeout) is routed to the session's full JID like any iq, and
nothing consumes it any more: the client receives an iq result it never
asked for, id 'mjdisco-...'. (Late answers to the module's self-pings are
consumed: the same must hold for its disco#info requests.)"""

import time

from harness import joined, sroom
from test_self_ping import ask_ping, ping_error

PING_TIMEOUT = 2
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 1,
    "track_muc_joins_ping_timeout": PING_TIMEOUT,
    "track_muc_joins_ping_backoff": 600,
}
NS_DISCO = "http://jabber.org/protocol/disco#info"


def test_late_disco_info_reply_does_not_reach_the_client(connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    ping = ask_ping(component, a, r)
    mc = component.mark()
    component.deliver(a, ping_error(ping, "service-unavailable", by=r))
    disco = component.wait(lambda s: s.name == "iq" and s.type == "get" and s.to == r and
                           s.child("query", NS_DISCO) is not None, mc,
                           what="the module's disco#info request to the room")
    time.sleep(PING_TIMEOUT + 1)  # the room answers late
    m = component.deliver(a, f"<iq type='result' from='{r}' to='{disco.frm}' id='{disco.id}'>"
                             f"<query xmlns='{NS_DISCO}'><feature var='http://jabber.org/protocol/muc'/>"
                             f"</query></iq>")
    leaked = a.find(lambda s: s.name == "iq" and s.id == disco.id, m)
    assert not leaked, f"the client received the module's disco#info reply: {leaked}"

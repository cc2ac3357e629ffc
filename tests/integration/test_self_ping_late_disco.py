"""The module's own iqs must not reach the client. A room's
disco#info reply that arrives after the module stopped waiting for it
(ping_timeout, or the request was sent by an earlier load: a reload, a
reload from another copy of mucjoins.so, an unload and load) is routed to
the session's full JID like any iq: the client would receive an iq result
it never asked for, id 'mjdisco-...'. The same for the answers to an
earlier load's self-pings."""

import shutil
import time

import pytest

from harness import install_other_copy, joined, sroom
from test_self_ping import ask_ping, ping_error, ping_result

PING_TIMEOUT = 2
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 1,
    "track_muc_joins_ping_timeout": PING_TIMEOUT,
    "track_muc_joins_ping_backoff": 600,
}
NS_DISCO = "http://jabber.org/protocol/disco#info"


def _disco_out(a, component, r):
    ping = ask_ping(component, a, r)
    mc = component.mark()
    component.deliver(a, ping_error(ping, "service-unavailable", by=r))
    disco = component.wait(lambda s: s.name == "iq" and s.type == "get" and s.to == r and
                           s.child("query", NS_DISCO) is not None, mc,
                           what="the module's disco#info request to the room")
    return ping, disco


def _joined_disco_out(connect, component, room):
    """Alice in a room of the scripted MUC, a self-ping answered
    service-unavailable and the module's disco#info request out: her
    client, the room, the ping, the request."""
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    ping, disco = _disco_out(a, component, r)
    return a, r, ping, disco


def _reply(a, component, r, disco):
    m = component.deliver(a, f"<iq type='result' from='{r}' to='{disco.frm}' id='{disco.id}'>"
                             f"<query xmlns='{NS_DISCO}'><feature var='http://jabber.org/protocol/muc'/>"
                             f"</query></iq>")
    time.sleep(0.5)
    return a.find(lambda s: s.name == "iq" and s.id == disco.id, m)


def test_late_disco_info_reply_does_not_reach_the_client(connect, component, room):
    a, r, _, disco = _joined_disco_out(connect, component, room)
    time.sleep(PING_TIMEOUT + 1)  # the room answers late
    leaked = _reply(a, component, r, disco)
    assert not leaked, f"the client received the module's disco#info reply: {leaked}"


def test_reply_after_a_reload_does_not_reach_the_client(connect, component, room):
    a, r, _, disco = _joined_disco_out(connect, component, room)
    a.reload_module()
    leaked = _reply(a, component, r, disco)
    assert not leaked, f"the client received the module's disco#info reply: {leaked}"


def test_replies_after_a_reload_from_another_copy_do_not_reach_the_client(
        server, connect, component, room):
    a, r, ping, disco = _joined_disco_out(connect, component, room)
    copy = install_other_copy(server)
    off = server.log_size()
    try:
        a.reload_module()
        assert "another copy of mucjoins.so's" in server.log_text(off), (
            "the reload did not load the other copy: the test proves nothing")
        leaked = _reply(a, component, r, disco)
        m = component.deliver(a, ping_result(ping))
        time.sleep(0.5)
        leaked_ping = a.find(lambda s: s.name == "iq" and s.id == ping.id, m)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        a.reload_module()
    assert not leaked, f"the client received the module's disco#info reply: {leaked}"
    assert not leaked_ping, f"the client received the answer to the module's self-ping: {leaked_ping}"


def test_reply_after_an_unload_and_load_does_not_reach_the_client(connect, component, room):
    a, r, _, disco = _joined_disco_out(connect, component, room)
    a.unload_module()
    a.load_module()
    time.sleep(0.5)
    leaked = _reply(a, component, r, disco)
    assert not leaked, f"the client received the module's disco#info reply: {leaked}"


@pytest.mark.parametrize("iq_id", ["mjping-1-client", "mjdisco-1-client", "plain-1-client"])
def test_a_clients_own_iq_with_an_id_of_our_form_gets_its_answer(connect, iq_id):
    """Only the module's own ids are consumed (their salt starts with the
    process's secret), not a client's that merely look like them."""
    a = connect("alice")
    b = connect("bob")
    mb = b.mark()
    a.send(f"<iq type='get' to='{b.jid}' id='{iq_id}'><query xmlns='{NS_DISCO}'/></iq>")
    b.wait(lambda s: s.name == "iq" and s.id == iq_id and s.type == "get", mb,
           what="alice's iq at bob")
    ma = a.mark()
    b.send(f"<iq type='result' to='{a.jid}' id='{iq_id}'><query xmlns='{NS_DISCO}'/></iq>")
    a.wait(lambda s: s.name == "iq" and s.id == iq_id and s.type == "result", ma, timeout=3,
           what=f"bob's answer to alice's iq {iq_id}")


def test_error_reply_without_its_error_element_is_taken_quietly(server, connect, component,
                                                               room):
    """A room answers the module's disco#info request with an
    error that has no <error/> child. Prosody 0.12's module:send_iq()
    handler raises reading it (util.error.from_stanza), a traceback per
    stanza that a hostile room could send at will; the module takes such a
    reply first, and the request waits for its timeout."""
    a, r, _, disco = _joined_disco_out(connect, component, room)
    off = server.log_size()
    m = a.mark()
    for _ in range(3):
        component.deliver(a, f"<iq type='error' from='{r}' to='{disco.frm}' id='{disco.id}'/>")
    time.sleep(0.5)
    assert not a.find(lambda s: s.name == "iq" and s.id == disco.id, m), \
        "the client received the module's disco#info reply"
    errors = [line for line in server.errors_in_log(off)]
    assert not errors, "errors logged:\n" + "\n".join(errors)
    time.sleep(PING_TIMEOUT + 1)  # the request times out; the module goes on
    assert not server.errors_in_log(off), "errors logged after the timeout"

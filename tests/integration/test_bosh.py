"""A client over BOSH (XEP-0124/0206, Prosody's mod_bosh): tracked as any
c2s session, and nothing it is sent is lost. mod_bosh passes strings (its
buffered output) through the "stanzas/out" filters and a copy of every
stanza without xmlns; the module's join-error filter is on a session for a
while after each join, and once raised on those strings, losing what the
client was sent (a hostile review). The client here is a few lines of
HTTP over urllib: slixmpp speaks no BOSH."""

import base64
import re
import time
import urllib.request
import xml.etree.ElementTree as ET

from harness import (
    DOMAIN, PASSWORD, WAIT, HarnessError, assert_events, assert_rooms,
    free_ports, sroom, xa)
from harness import self_presence as harness_self_presence

HTTP_PORT = free_ports(1)[0]
PROSODY_OPTIONS = {"http_ports": [HTTP_PORT], "http_interfaces": ["127.0.0.1"],
                   "https_ports": [], "consider_bosh_secure": True}
HOST_MODULES = ["bosh"]

NS_BOSH = "http://jabber.org/protocol/httpbind"
NS_CLIENT = "jabber:client"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"


class BoshClient:
    """One BOSH session: every request waits for its response (hold 1)."""

    def __init__(self, user, resource):
        self.url = f"http://127.0.0.1:{HTTP_PORT}/http-bind"
        self.rid = 4000
        self.sid = None
        self.received = []  # stanzas (ElementTree elements), in order
        body = self.post(f"<body xmlns='{NS_BOSH}' xmlns:xmpp='urn:xmpp:xbosh' "
                         f"to={xa(DOMAIN)} rid='{self.rid}' wait='2' hold='1' "
                         f"ver='1.6' xmpp:version='1.0'/>", first=True)
        self.sid = body.get("sid")
        if not self.sid:
            raise HarnessError(f"no BOSH session: {ET.tostring(body)}")
        self.wait_for(lambda s: s.tag.endswith("features"), "stream features")
        plain = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                  f"mechanism='PLAIN'>{plain}</auth>")
        self.wait_for(lambda s: s.tag.endswith("success"), "SASL success")
        self.post(self.body("", "xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true' "
                                f"to={xa(DOMAIN)}"))
        self.send(f"<iq type='set' id='bind1' xmlns='{NS_CLIENT}'>"
                  "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  f"<resource>{resource}</resource></bind></iq>")
        iq = self.wait_for(lambda s: s.get("id") == "bind1", "the bind result")
        self.jid = iq.find(".//{urn:ietf:params:xml:ns:xmpp-bind}jid").text
        self.send(f"<iq type='set' id='sess1' xmlns='{NS_CLIENT}'>"
                  "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
        self.wait_for(lambda s: s.get("id") == "sess1", "the session result")
        self.send(f"<presence xmlns='{NS_CLIENT}'/>")

    def body(self, payload, attrs=""):
        self.rid += 1
        return (f"<body xmlns='{NS_BOSH}' rid='{self.rid}' sid={xa(self.sid)} "
                f"{attrs}>{payload}</body>")

    def post(self, data, first=False):
        req = urllib.request.Request(self.url, data=data.encode(),
                                     headers={"Content-Type": "text/xml; charset=utf-8",
                                              "Host": DOMAIN})  # the VirtualHost
        with urllib.request.urlopen(req, timeout=WAIT + 5) as r:
            text = r.read().decode()
        body = ET.fromstring(text)
        if body.get("type") == "terminate":
            raise HarnessError(f"BOSH session terminated: {text}")
        self.received.extend(list(body))
        return body

    def send(self, payload):
        self.post(self.body(payload))

    def wait_for(self, pred, what, start=0):
        deadline = time.monotonic() + WAIT
        while True:
            for s in self.received[start:]:
                if pred(s):
                    return s
            if time.monotonic() > deadline:
                raise HarnessError(f"BOSH client: no {what} in {WAIT} s; got "
                                   + " ".join(ET.tostring(s).decode()[:200]
                                              for s in self.received[start:]))
            self.post(self.body(""))  # poll

    def mark(self):
        return len(self.received)

    def close(self):
        try:
            self.post(self.body(f"<presence type='unavailable' xmlns='{NS_CLIENT}'/>",
                                "type='terminate'"))
        except (HarnessError, OSError):
            pass


def self_presence(room, nick, type_=None):
    def pred(s):
        if s.tag != f"{{{NS_CLIENT}}}presence" or s.get("from") != f"{room}/{nick}":
            return False
        if s.get("type") != type_:
            return False
        x = s.find(f"{{{NS_MUC_USER}}}x")
        return x is not None and any(st.get("code") == "110"
                                     for st in x.findall(f"{{{NS_MUC_USER}}}status"))
    return pred


def test_bosh_join_leave_and_nothing_lost(server, connect, room):
    watcher = connect("bob")  # reads the BOSH session's rooms_joined
    c = BoshClient("alice", "bosh1")
    try:
        r = room()
        seq = watcher.event_seq()
        m = c.mark()
        c.send(f"<presence to={xa(r + '/Alice')} id='j1' xmlns='{NS_CLIENT}'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
        c.wait_for(self_presence(r, "Alice"), "the self-presence", m)
        assert_rooms(watcher, {r: "Alice"}, jid=c.jid, when="after a join over BOSH")
        # the filter is on the session now: what is sent to it still
        # arrives, through several flushes (each poll is one)
        for i in range(3):
            m = c.mark()
            watcher.send(f"<message to={xa(c.jid)} type='chat' id='m{i}'>"
                         f"<body>hello {i}</body></message>")
            c.wait_for(lambda s, i=i: s.get("id") == f"m{i}", f"message m{i}", m)
        m = c.mark()
        c.send(f"<presence to={xa(r + '/Alice')} type='unavailable' xmlns='{NS_CLIENT}'/>")
        c.wait_for(self_presence(r, "Alice", "unavailable"), "the leave's confirmation", m)
        assert_rooms(watcher, {}, jid=c.jid, when="after leaving over BOSH")
        assert_events(watcher, seq, [
            {"name": "joined", "room": r, "nick": "Alice", "session": c.jid},
            {"name": "left", "room": r, "nick": "Alice", "reason": "voluntary"}],
            room=r, session=c.jid)
    finally:
        c.close()


def test_bosh_join_refused_is_seen_once(server, connect, room):
    """A local MUC refuses a join with origin.send(): the error reaches the
    BOSH session through the filter only (as mod_bosh's copy)."""
    holder = connect("bob")
    r = room()
    holder.join(r, "Taken")
    c = BoshClient("alice", "bosh2")
    try:
        seq = holder.event_seq()
        m = c.mark()
        c.send(f"<presence to={xa(r + '/Taken')} id='j2' xmlns='{NS_CLIENT}'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
        err = c.wait_for(lambda s: s.get("type") == "error" and s.get("id") == "j2",
                         "the join's error", m)
        assert err.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}conflict") is not None
        assert_rooms(holder, {}, jid=c.jid, when="after a refused join over BOSH")
        evs = holder.events(seq, room=r, session=c.jid)
        failed = [e for e in evs if e.get("name") == "join-failed"]
        assert len(failed) == 1, f"expected one join-failed, got {evs!r}"
        assert re.search("conflict", failed[0].get("condition", "") + failed[0].get("reason", "")), failed
    finally:
        c.close()


def ambiguous(server):
    rc, out = server.admin("muc_joins:stats('localhost')")
    m = re.search(r"ambiguous\s+(\d+)", out)
    assert rc == 0 and m, f"muc_joins:stats():\n{out}"
    return int(m.group(1))


def test_error_routed_to_bosh_session_is_fed_once(server, connect, component, room):
    """An error presence from a room the BOSH session is in, routed to it
    (presence/full, where the hook feeds it), is not fed again as
    mod_bosh's copy through the filter: the room is asked once."""
    c = BoshClient("alice", "bosh3")
    try:
        r = sroom(room)
        m = component.mark()
        c.send(f"<presence to={xa(r + '/Alice')} id='j3' xmlns='{NS_CLIENT}'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
        component.wait_presence(m, frm=c.jid, to_bare=r, type_=None, what="the join")
        m = c.mark()
        component.send(harness_self_presence(f"{r}/Alice", c.jid, id_="j3"))
        c.wait_for(self_presence(r, "Alice"), "the self-presence", m)
        watcher = connect("bob")
        assert_rooms(watcher, {r: "Alice"}, jid=c.jid, when="joined over BOSH")
        before = ambiguous(server)
        m = c.mark()
        # the room refuses something the session sent (a ghost's sign):
        # the core asks the room (a self-ping), once
        component.send(f"<presence from={xa(r + '/Alice')} to={xa(c.jid)} type='error' "
                       "id='u1'><error type='cancel'><not-acceptable "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
        c.wait_for(lambda s: s.get("id") == "u1", "the error presence", m)
        assert ambiguous(server) == before + 1, "the error was fed more than once"
    finally:
        c.close()

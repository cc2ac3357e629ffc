"""Prosody's CPU time per stanza on the module's Lua paths,
crafted stanzas against ordinary ones of about the same size (measured
with /proc/PID/schedstat), and Lua heap after reloads and session churn.
A measurement, not a check: prints "glue <case> <us/stanza> x<ratio>" lines
and asserts nothing about the figures. Skipped unless MUCJOINS_BENCH_GLUE=1:
  MUCJOINS_BENCH_GLUE=1 MUCJOINS_IT_WAIT=60 \
      scripts/integration.sh tests/integration/test_glue_cost.py -s
(about a minute; MUCJOINS_GLUE_N stanzas per case, 3000)."""

import os
import time

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("MUCJOINS_BENCH_GLUE"),
                                reason="a measurement: set MUCJOINS_BENCH_GLUE=1")

from harness import NS_MUC, SCRIPTED, joined, self_presence, sroom, xa

N = int(os.environ.get("MUCJOINS_GLUE_N", "3000"))
HOST_MODULES = ["csi_simple"]
CHUNK = 500


def cpu_ns(server):
    with open(f"/proc/{server.proc.pid}/schedstat") as f:
        return int(f.read().split()[0])


def lua_kib(server):
    rc, out = server.admin(">collectgarbage('collect'); collectgarbage('collect'); "
                           "return collectgarbage('count')")
    import re
    m = re.search(r"(\d+(\.\d+)?)", out)
    return float(m.group(1)) if m else -1.0


def from_comp(server, comp, a, stanzas):
    t0 = cpu_ns(server)
    for k in range(0, len(stanzas), CHUNK):
        comp.send("".join(stanzas[k:k + CHUNK]))
    comp.deliver(a, "")
    return (cpu_ns(server) - t0) / len(stanzas)


def from_client(server, a, stanzas):
    t0 = cpu_ns(server)
    for k in range(0, len(stanzas), CHUNK):
        a.send("".join(stanzas[k:k + CHUNK]))
    a.iq("<ping xmlns='urn:xmpp:ping'/>", timeout=300)
    return (cpu_ns(server) - t0) / len(stanzas)


RESULTS = []


def report(name, ns, base):
    RESULTS.append((name, ns, ns / base if base else 0))
    print(f"\nglue {name:40s} {ns / 1000:8.1f} us/stanza  x{ns / base if base else 0:.2f}")


def test_incoming_costs(connect, component, server, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "alice")
    pad = "x" * 40
    base = from_comp(server, component, a, [
        f"<message type='chat' from='u@{SCRIPTED}/r' to={xa(a.jid)}><body>hello {pad}</body></message>"
        for _ in range(N)])
    report("chat in (baseline)", base, base)
    report("groupchat in, joined room", from_comp(server, component, a, [
        f"<message type='groupchat' from='{r}/bob' to={xa(a.jid)}><body>hello {pad}</body></message>"
        for _ in range(N)]), base)
    report("groupchat in, mention", from_comp(server, component, a, [
        f"<message type='groupchat' from='{r}/bob' to={xa(a.jid)}><body>alice: hi {pad}</body></message>"
        for _ in range(N)]), base)
    report("groupchat in, not joined", from_comp(server, component, a, [
        f"<message type='groupchat' from='z{i}@{SCRIPTED}/bob' to={xa(a.jid)}><body>alice {pad}</body></message>"
        for i in range(N)]), base)
    report("occupant presence in", from_comp(server, component, a, [
        f"<presence from='{r}/bob{i % 50}' to={xa(a.jid)}><x xmlns='http://jabber.org/protocol/muc#user'>"
        f"<item affiliation='none' role='participant'/></x></presence>" for i in range(N)]), base)
    report("self-presence repeat (joined)", from_comp(server, component, a, [
        self_presence(f"{r}/alice", a.jid) for _ in range(N)]), base)
    report("forged self-presence", from_comp(server, component, a, [
        self_presence(f"f{i}@{SCRIPTED}/alice", a.jid) for i in range(N)]), base)
    report("error presence, not joined", from_comp(server, component, a, [
        f"<presence type='error' from='e{i}@{SCRIPTED}/alice' to={xa(a.jid)}><error type='cancel'>"
        f"<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
        for i in range(N)]), base)
    report("error message, not joined", from_comp(server, component, a, [
        f"<message type='error' from='e{i}@{SCRIPTED}' to={xa(a.jid)}><error type='cancel'>"
        f"<not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        for i in range(N)]), base)
    report("iq result mjping-like id", from_comp(server, component, a, [
        f"<iq type='result' id='mjping-{i + 1}-abcdef' from='{r}/alice' to={xa(a.jid)}/>"
        for i in range(N)]), base)
    report("iq get ping from room/nick", from_comp(server, component, a, [
        f"<iq type='get' id='p{i}' from='{r}/alice' to={xa(a.jid)}><ping xmlns='urn:xmpp:ping'/></iq>"
        for i in range(N)]), base)
    report("iq error mjdisco no <error/>", from_comp(server, component, a, [
        f"<iq type='error' id='mjdisco-{i}-abcdefghijklmnopqrstuvwxyz0123456789' from='{r}' to={xa(a.jid)}/>"
        for i in range(N)]), base)


def test_outgoing_costs(connect, component, server, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "alice")
    pad = "x" * 40
    base = from_client(server, a, [
        f"<message type='chat' to='u@{SCRIPTED}'><body>hello {pad}</body></message>" for _ in range(N)])
    report("chat out (baseline)", base, base)
    report("groupchat out, joined", from_client(server, a, [
        f"<message type='groupchat' to='{r}'><body>hello {pad}</body></message>" for _ in range(N)]), base)
    report("groupchat out, not joined", from_client(server, a, [
        f"<message type='groupchat' to='q{i}@{SCRIPTED}'><body>hello {pad}</body></message>"
        for i in range(N)]), base)
    report("presence update to joined room", from_client(server, a, [
        f"<presence to='{r}/alice'><show>away</show></presence>" for _ in range(N)]), base)
    report("joins to distinct rooms", from_client(server, a, [
        f"<presence to='j{i}@{SCRIPTED}/alice'><x xmlns='{NS_MUC}'/></presence>" for i in range(N)]), base)
    report("join+leave same room", from_client(server, a, [
        f"<presence to='jl@{SCRIPTED}/alice'><x xmlns='{NS_MUC}'/></presence>"
        f"<presence type='unavailable' to='jl@{SCRIPTED}/alice'/>" for i in range(N // 2)]), base)
    report("directed presence, no x", from_client(server, a, [
        f"<presence to='d{i}@{SCRIPTED}/alice'/>" for i in range(N)]), base)
    print("\nLua KiB", lua_kib(server))





def test_big_stanzas(connect, component, server, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "alice")
    n = 300
    k = 200  # children per stanza
    kids = "<z xmlns='urn:x'/>" * k
    base = from_comp(server, component, a, [
        f"<message type='chat' from='u@{SCRIPTED}/r' to={xa(a.jid)}><body>hello</body>{kids}</message>"
        for _ in range(n)])
    report("big chat in (baseline, 200 kids)", base, base)
    refs = "<reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:x@y'/>" * k
    report("big CHAT in, 200 refs", from_comp(server, component, a, [
        f"<message type='chat' from='{r}/bob' to={xa(a.jid)}><body>hello</body>{refs}</message>"
        for _ in range(n)]), base)
    report("big groupchat in, 200 refs", from_comp(server, component, a, [
        f"<message type='groupchat' from='{r}/bob' to={xa(a.jid)}><body>hello</body>{refs}</message>"
        for _ in range(n)]), base)
    delays = f"<delay xmlns='urn:xmpp:delay' from='{r}' stamp='2020-01-01T00:00:00Z'/>" * k
    report("big CHAT in, 200 delays", from_comp(server, component, a, [
        f"<message type='chat' from='{r}/bob' to={xa(a.jid)}><body>hello</body>{delays}</message>"
        for _ in range(n)]), base)
    report("big groupchat in, 200 delays", from_comp(server, component, a, [
        f"<message type='groupchat' from='{r}/bob' to={xa(a.jid)}><body>hello</body>{delays}</message>"
        for _ in range(n)]), base)
    split = "alice<b/>" * k
    report("groupchat body split in 200 texts", from_comp(server, component, a, [
        f"<message type='groupchat' from='{r}/bob' to={xa(a.jid)}><body>{split}</body></message>"
        for _ in range(n)]), base)
    stat = "<status code='110'/>" * k
    report("self-presence 200 status", from_comp(server, component, a, [
        f"<presence from='{r}/alice' to={xa(a.jid)}><x xmlns='http://jabber.org/protocol/muc#user'>"
        f"<item affiliation='none' role='participant'/>{stat}</x></presence>" for _ in range(n)]), base)
    stat303 = "<status code='303'/><item nick='zz'/>" * (k // 2)
    report("unavail presence 100x(303+item)", from_comp(server, component, a, [
        f"<presence type='unavailable' from='{r}/bob' to={xa(a.jid)}><x xmlns='http://jabber.org/protocol/muc#user'>"
        f"{stat303}</x></presence>" for _ in range(n)]), base)
    xs = "<x xmlns='urn:y'/>" * k
    report("presence 200 x then muc#user", from_comp(server, component, a, [
        f"<presence from='{r}/bob' to={xa(a.jid)}>{xs}<x xmlns='http://jabber.org/protocol/muc#user'>"
        f"<item affiliation='none' role='participant'/></x></presence>" for _ in range(n)]), base)
    errk = "<z xmlns='urn:x'/>" * k
    report("error presence 200 kids in error", from_comp(server, component, a, [
        f"<presence type='error' from='e{i}@{SCRIPTED}/alice' to={xa(a.jid)}><error type='cancel'>{errk}"
        f"<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
        for i in range(n)]), base)
    # client-sent
    base_out = from_client(server, a, [
        f"<message type='chat' to='u@{SCRIPTED}'><body>hello</body>{kids}</message>" for _ in range(n)])
    report("big chat out (baseline)", base_out, base_out)
    report("big groupchat out joined", from_client(server, a, [
        f"<message type='groupchat' to='{r}'><body>hello</body>{kids}</message>" for _ in range(n)]), base_out)
    report("big presence out joined", from_client(server, a, [
        f"<presence to='{r}/alice'>{kids}</presence>" for _ in range(n)]), base_out)
    mucx = f"<x xmlns='{NS_MUC}'/>" * k
    report("big join out, 200 muc x", from_client(server, a, [
        f"<presence to='bj{i}@{SCRIPTED}/alice'>{mucx}</presence>" for i in range(n)]), base_out)


def test_csi_costs(connect, component, server, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "alice")
    a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    a.iq("<ping xmlns='urn:xmpp:ping'/>")
    a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    base = from_comp(server, component, a, [
        f"<message type='chat' from='u@{SCRIPTED}/r' to={xa(a.jid)}><body>hello</body></message>"
        for _ in range(N)])
    report("csi: chat in (baseline)", base, base)
    report("csi: groupchat chatter", from_comp(server, component, a, [
        f"<message type='groupchat' from='{r}/bob' to={xa(a.jid)}><body>hello</body></message>"
        for _ in range(N)]), base)
    report("csi: groupchat mention", from_comp(server, component, a, [
        f"<message type='groupchat' from='{r}/bob' to={xa(a.jid)}><body>alice hi</body></message>"
        for _ in range(N)]), base)


def test_reload_memory(connect, server):
    k0 = lua_kib(server)
    rc, out = server.admin(">local mm = require'core.modulemanager'; for i = 1, 100 do "
                           "mm.reload('localhost', 'track_muc_joins') end; return 'ok'", timeout=300)
    k1 = lua_kib(server)
    server.admin(">local mm = require'core.modulemanager'; for i = 1, 100 do "
                            "mm.reload('localhost', 'track_muc_joins') end; return 'ok'", timeout=300)
    k2 = lua_kib(server)
    print(f"\nglue reload x100: Lua KiB {k0:.0f} -> {k1:.0f} -> {k2:.0f} ({out.strip()[-60:]})")


def test_session_churn_memory(connect, component, server, room):
    warm = [connect("bob", res=f"w{i}") for i in range(20)]
    for c in warm:
        c.disconnect()
    k0 = lua_kib(server)
    for round_ in range(3):
        cs = [connect("carol", res=f"c{round_}-{i}") for i in range(60)]
        for i, c in enumerate(cs):
            r = f"churn{i}@{SCRIPTED}"
            c.send(f"<presence to='{r}/bob'/>"
                   f"<message type='chat' to='{r}'><body>x</body></message>")
        for c in cs:
            c.iq("<ping xmlns='urn:xmpp:ping'/>")
            c.disconnect()
        print(f"\nglue control churn round {round_}: Lua KiB {lua_kib(server):.0f} (start {k0:.0f})")
    k0 = lua_kib(server)
    for round_ in range(3):
        cs = [connect("bob", res=f"c{round_}-{i}") for i in range(60)]
        for i, c in enumerate(cs):
            r = f"churn{i}@{SCRIPTED}"
            c.send(f"<presence to='{r}/bob'><x xmlns='{NS_MUC}'/></presence>"
                   f"<message type='groupchat' to='{r}'><body>x</body></message>")
        for c in cs:
            c.iq("<ping xmlns='urn:xmpp:ping'/>")
            c.disconnect()
        print(f"\nglue churn round {round_}: Lua KiB {lua_kib(server):.0f} (start {k0:.0f})")


def test_error_message_cost(connect, component, server, room):
    a = connect("alice")
    b = connect("bob")
    r = sroom(room)
    joined(a, component, r, "alice")

    def errs(c, kind, cond="not-acceptable"):
        return [f"<message type='{kind}' from='e{i}@{SCRIPTED}' to={xa(c.jid)}><error type='cancel'>"
                f"<{cond} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
                for i in range(N)]
    for rep in range(2):
        base = from_comp(server, component, b, errs(b, "chat"))
        report("chat w/ error child to unwatched", base, base)
        report("error msg to unwatched (bob)", from_comp(server, component, b, errs(b, "error")), base)
        report("error msg to watched (alice)", from_comp(server, component, a, errs(a, "error")), base)
        report("error msg from joined room", from_comp(server, component, a, [
            f"<message type='error' from='{r}' to={xa(a.jid)}><error type='modify'>"
            f"<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
            for i in range(N)]), base)


def test_broadcast_presence_in_many_rooms(connect, component, server, room):
    a = connect("alice")
    b = connect("bob")
    R = 1000
    from_client(server, a, [f"<presence to='mr{i}@{SCRIPTED}/alice'><x xmlns='{NS_MUC}'/></presence>"
                            for i in range(R)])
    from_comp(server, component, a, [self_presence(f"mr{i}@{SCRIPTED}/alice", a.jid) for i in range(R)])
    from_client(server, b, [f"<presence to='dr{i}@{SCRIPTED}/bob'/>" for i in range(R)])
    st = a.rooms()
    print(f"\nglue alice rooms: {len(st)}")
    M = 100
    base = from_client(server, b, ["<presence><show>away</show></presence>" for _ in range(M)])
    report(f"broadcast, {R} directed (baseline)", base, base)
    report(f"broadcast, {R} rooms joined", from_client(server, a, [
        "<presence><show>away</show></presence>" for _ in range(M)]), base)
    with component.inbox.cond:
        component.inbox.items.clear()


def test_reload_memory_settles(connect, component, server, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "alice")
    k0 = lua_kib(server)
    server.admin(">local mm = require'core.modulemanager'; for i = 1, 100 do "
                 "mm.reload('localhost', 'track_muc_joins') end; return 'ok'", timeout=300)
    k1 = lua_kib(server)
    time.sleep(12)
    k2 = lua_kib(server)
    rc, out = server.admin(">local n = 0; for _ in pairs(require'util.timer') do n = n + 1 end; "
                           "local h = prosody.hosts.localhost.events.get_handlers('presence/full'); "
                           "local c = 0; for _ in pairs(h or {}) do c = c + 1 end; "
                           "local g = prosody.events.get_handlers('s2sin-established'); local d = 0; "
                           "for _ in pairs(g or {}) do d = d + 1 end; return 'H ' .. c .. ' ' .. d")
    print(f"\nglue reload x100 with a room: Lua KiB {k0:.0f} -> {k1:.0f} -> (12 s) {k2:.0f}; {out.strip()[-40:]}")
    assert a.rooms() == {r: "alice"}


def test_iq_full_with_send_iq_handlers(connect, component, server, room):
    """What 64 disco#info requests out (MAX_INFO_WAITS, held by hostile
    rooms) cost every iq/full stanza of the host: module:send_iq() hooks
    two handlers per request on iq/full (priority 1), of this shape."""
    a = connect("alice")
    iqs = [f"<iq type='result' id='r{i}' from='u@{SCRIPTED}/x' to={xa(a.jid)}/>" for i in range(N)]
    base = from_comp(server, component, a, iqs)
    report("iq result to full JID (baseline)", base, base)
    server.admin(">_G.ap_handlers = {}; local ev = prosody.hosts.localhost.events; "
                 "for i = 1, 128 do local id = 'mjdisco-' .. i .. '-x'; local from = 'r' .. i .. '@e.example'; "
                 "local h = function(event) local r = event.stanza; "
                 "if r.attr.type == 'result' and r.attr.from == from and r.attr.id == id then return true end end; "
                 "_G.ap_handlers[i] = h; ev.add_handler('iq/full', h, 1) end; return 'ok'")
    report("iq result, 128 send_iq-like handlers", from_comp(server, component, a, iqs), base)
    server.admin(">local ev = prosody.hosts.localhost.events; for i, h in ipairs(_G.ap_handlers) do "
                 "ev.remove_handler('iq/full', h) end; return 'ok'")
    report("iq result, handlers removed", from_comp(server, component, a, iqs), base)

"""A lifecycle soak: does anything the module holds grow without bound
over a long uptime? Reloads and unload/load cycles with sessions holding
rooms, session churn (local MUC and scripted rooms, joins, leaves,
disconnects, XEP-0198 resumption). Prints "soak ..." lines with the
figures (soak_probe.py); asserts generous bounds. Skipped unless
MUCJOINS_SOAK=1 (several minutes):
  MUCJOINS_SOAK=1 scripts/integration.sh tests/integration/test_soak.py -s"""

import os
import time

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("MUCJOINS_SOAK"),
                                reason="a soak: set MUCJOINS_SOAK=1")

import shutil  # noqa: E402

from harness import NS_MUC, SCRIPTED, install_other_copy, joined, self_presence, sroom  # noqa: E402
from soak_probe import probe, show  # noqa: E402

# c2s_timeout: Prosody's mod_c2s keeps every connection's session for
# c2s_timeout (300 s by default) in a timer's closure: short, so that what
# is left after a round is what something else keeps
# c2s_timeout, for the same reason send_timeout: net.server keeps a closed
# connection whose writes were pending for it (180 s by default)
PROSODY_OPTIONS = {"track_muc_joins_ping_start_delay": 1, "smacks_hibernation_time": 5,
                   "c2s_timeout": 3, "network_settings": {"send_timeout": 5}}
HOST_MODULES = ["smacks"]
RELOADS = int(os.environ.get("MUCJOINS_SOAK_RELOADS", "200"))
SESSIONS = int(os.environ.get("MUCJOINS_SOAK_SESSIONS", "2000"))


def reloads(server, n, how="reload"):
    if how == "reload":
        lua = "mm.reload('localhost', 'track_muc_joins')"
    else:
        lua = "mm.unload('localhost', 'track_muc_joins'); mm.load('localhost', 'track_muc_joins')"
    for k in range(0, n, 50):
        rc, out = server.admin(f">local mm = require'core.modulemanager'; for i = 1, {min(50, n - k)} do "
                               f"{lua} end; return 'ok'", timeout=300)
        assert rc == 0 and "ok" in out, out


def holders(connect, component, room, n=6):
    """Sessions holding rooms: local MUC and scripted."""
    cs = []
    for i in range(n):
        c = connect("alice", res=f"hold{i}")
        c.join(room(), f"h{i}")
        joined(c, component, sroom(room), f"h{i}")
        cs.append(c)
    return cs


def test_reload_cycles(connect, component, server, room):
    hs = holders(connect, component, room)
    want = [dict(c.rooms()) for c in hs]
    reloads(server, 20)
    time.sleep(6)
    p0 = probe(server)
    show("reload: baseline", p0)
    figures = [p0]
    for rnd in range(2):
        reloads(server, RELOADS)
        time.sleep(6)
        p = probe(server)
        show(f"reload: +{RELOADS * (rnd + 1)} reloads", p)
        figures.append(p)
    for rnd in range(2):
        reloads(server, RELOADS // 2, how="unload")
        time.sleep(8)  # the adoption's self-pings (start delay 1 s) answered
        p = probe(server)
        show(f"unload/load: +{RELOADS // 2 * (rnd + 1)} cycles", p)
        figures.append(p)
    assert [dict(c.rooms()) for c in hs] == want
    for key in ("timers", "host_handlers", "global_handlers", "filters", "prosody_keys",
                "mucjoins_binding_files", "modules"):
        assert figures[-1][key] <= p0[key], (key, [f[key] for f in figures])
    assert figures[-1]["heap"] < p0["heap"] + 2048, [f["heap"] for f in figures]


def churn_round(connect, component, room, rnd, n):
    cs = []
    for i in range(n):
        smacks = i % 4 == 0
        c = connect("bob", res=f"c{rnd}-{i}", initial_presence=(i % 2 == 0), smacks=smacks)
        cs.append(c)
    local = [room() for _ in range(4)]
    for i, c in enumerate(cs):
        r = local[i % 4]
        c.join(r, f"n{rnd}-{i}")
        s = f"churn{i % 20}@{SCRIPTED}"
        m = component.mark()
        c.send(f"<presence to='{s}/n{i}' id='j{rnd}-{i}'><x xmlns='{NS_MUC}'/></presence>")
        component.wait_presence(m, frm=c.jid, to_bare=s, what="the join")
        component.send(self_presence(f"{s}/n{i}", c.jid, id_=f"j{rnd}-{i}"))
        c.send(f"<message type='groupchat' to='{r}'><body>hi</body></message>")
    for i, c in enumerate(cs):
        c.iq("<ping xmlns='urn:xmpp:ping'/>")
        if i % 3 == 0:
            c.leave(local[i % 4], f"n{rnd}-{i}")
        if i % 4 == 0:
            c.drop()
        elif i % 5 == 1:
            c.send(f"<presence type='unavailable' to='churn{i % 20}@{SCRIPTED}/n{i}'/>")
    for i, c in enumerate(cs):
        if i % 8 == 0:
            c.resume()
            c.iq("<ping xmlns='urn:xmpp:ping'/>")
    for c in cs:
        c.disconnect(wait=0.5)
        d = getattr(c, "dropped", None)
        if d is not None:  # hibernating: end it
            c.x = d
            c.dropped = None
            try:
                c.lt.call(lambda d=d: d.abort())
            except Exception:
                pass
            c.x = None


def test_session_churn(connect, component, server, room):
    hs = holders(connect, component, room, 2)
    # mod_test_rooms_joined keeps the last 20000 muc-joins/* events (about
    # 1.4 KiB of heap a session here): not what is measured
    server.admin("module:unload('test_rooms_joined', 'localhost')")
    if os.environ.get("MUCJOINS_SOAK_CONTROL"):  # the same churn without the module
        server.admin("module:unload('track_muc_joins', 'localhost')")
    churn_round(connect, component, room, "warm", 100)
    time.sleep(12)
    p0 = probe(server)
    show("churn: baseline", p0)
    per = 100
    done = 0
    while done < SESSIONS:
        churn_round(connect, component, room, done, per)
        done += per
        if done % 500 == 0:
            time.sleep(8)
            show(f"churn: +{done} sessions", probe(server))
    time.sleep(12)  # hibernated sessions end (smacks_hibernation_time 5)
    p = probe(server)
    show("churn: end", p)
    # what rooms still owe closed sessions is kept pending_timeout (120 s)
    settle = float(os.environ.get("MUCJOINS_SOAK_SETTLE", "130"))
    if settle:
        time.sleep(settle)
        p = probe(server)
        show(f"churn: end + {settle:.0f} s", p)
        assert p["t_bytes"] < p0["t_bytes"] + 65536, (p0["t_bytes"], p["t_bytes"])
    server.admin("module:load('test_rooms_joined', 'localhost')")
    assert len(hs) == 2
    assert p["t_sessions"] <= p0["t_sessions"] + 30, (p0, p)
    assert p["heap"] < p0["heap"] + 1024, (p0["heap"], p["heap"])
    assert p["timers"] <= p0["timers"] + 20, (p0["timers"], p["timers"])


def test_community_swaps(connect, component, server, room):
    """The community module swapped in and out by reloads, with
    sessions holding rooms (test_reload_from_community.py's .deb)."""
    from test_reload_from_community import community_module_dir
    tmp, src = community_module_dir()
    hs = holders(connect, component, room, 3)
    n = int(os.environ.get("MUCJOINS_SOAK_SWAPS", "50"))
    try:
        for k in range(n + 5):
            copy = install_other_copy(server, src)
            reloads(server, 1)
            shutil.rmtree(copy)
            reloads(server, 1)
            if k == 4:
                time.sleep(6)
                p0 = probe(server)
                show("swap: baseline (5 swaps)", p0)
        time.sleep(6)
        p = probe(server)
        show(f"swap: +{n} swaps", p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert len(hs) == 3
    for key in ("timers", "host_handlers", "global_handlers", "prosody_keys", "modules"):
        assert p[key] <= p0[key], (key, p0[key], p[key])
    assert p["heap"] < p0["heap"] + 1024, (p0["heap"], p["heap"])

"""Side by side: rooms on ejabberd 23.01, tracked by this module and by
Debian's community module (prosody-modules: mod_track_muc_joins with
mod_ping_muc), the same scenarios against the same private servers as
test_ejabberd.py. Not a test (it asserts nothing): it prints a Markdown
table of what each one left in session.rooms_joined and whether the client
got a forced-rejoin notice (110+333). The table is in README.md here.

    /usr/bin/python3 tests/integration/compare_ejabberd.py COMMUNITY_DIR

COMMUNITY_DIR holds mod_track_muc_joins/ and mod_ping_muc/ of Debian's
prosody-modules, extracted privately, e.g.
    apt-get download prosody-modules && dpkg -x prosody-modules_*.deb /tmp/pm
    -> /tmp/pm/usr/lib/prosody/modules
(never into a test path: the suite itself always tests build/plugins).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from ejabberd import EjabberdServer, ejabberd_missing  # noqa: E402
from harness import Client, LoopThread, ProsodyServer  # noqa: E402

A, E = "a.localhost", "e.localhost"
MUC_E = f"conference.{E}"
OPTIONS = {  # ours; the community module has no options
    "track_muc_joins_ping_start_delay": 1,
    "track_muc_joins_ping_timeout": 3,
    "track_muc_joins_ping_backoff": 2,
    "track_muc_joins_ping_retries": 3,
}
SETTLE = 20  # seconds for pings (ours: 1 + 3 tries; the community: s2s-destroyed)

_n = iter(range(1, 10 ** 6))


def room():
    return f"cmp-{next(_n)}@{MUC_E}"


def rooms(a):
    return dict(a.rooms())


def notice_333(a, m, r):
    return any(s.name == "presence" and s.type == "unavailable" and s.frm and
               s.frm.lower().startswith(r.lower() + "/") and "333" in s.status_codes
               for s in a.received(m))


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.3)
    return pred()


class Run:
    def __init__(self, lt, a_srv, e_srv):
        self.lt, self.a_srv, self.e_srv = lt, a_srv, e_srv
        self.clients = []

    def alice(self):
        c = Client(self.lt, self.a_srv, "alice", f"cmp{next(_n)}").connect()
        self.clients.append(c)
        return c

    def owner(self):
        c = Client(self.lt, self.e_srv, "owner", f"cmp{next(_n)}").connect()
        self.clients.append(c)
        return c

    def done(self):
        for c in self.clients:
            c.disconnect()
        self.clients = []


def entry(a, r):
    got = rooms(a)
    return f"`{got[r]}`" if r in got else "none"


def scenarios(run):
    """Each yields (scenario, outcome text)."""
    # join
    a, o, r = run.alice(), run.owner(), room()
    o.join(r, "Owner")
    a.join(r, "Alice")
    yield "join", entry(a, r)
    # nick change (303)
    m = a.mark()
    a.change_nick(r, "Alicia")
    time.sleep(0.5)
    yield "nick change (303)", entry(a, r)
    # leave
    a.leave(r, "Alicia")
    time.sleep(0.5)
    yield "leave", entry(a, r)
    # refused join (409)
    a.join(r, "Owner")
    time.sleep(0.5)
    yield "join refused (409 conflict)", entry(a, r)
    # kick
    a.join(r, "Alice")
    o.admin_iq(r, "<item nick='Alice' role='none'/>")
    time.sleep(1)
    yield "kick (307)", entry(a, r)
    # destroy: ejabberd sends <destroy/> without 110
    r2 = room()
    o.join(r2, "Owner")
    a.join(r2, "Alice")
    o.owner_iq(r2, "<destroy><reason>closed</reason></destroy>")
    time.sleep(1)
    yield "room destroyed (ejabberd: no 110)", entry(a, r2)
    run.done()
    # broadcast unavailable
    a, o = run.alice(), run.owner()
    r3, r4 = room(), room()
    for x in (r3, r4):
        o.join(x, "Owner")
        a.join(x, "Alice")
    a.send("<presence type='unavailable'/>")
    time.sleep(1.5)
    got = rooms(a)
    yield "broadcast unavailable (2 rooms)", f"{len([x for x in (r3, r4) if x in got])} of 2 left"
    run.done()
    # link closed by Prosody, user still in the room
    a, o, r = run.alice(), run.owner(), room()
    o.join(r, "Owner")
    a.join(r, "Alice")
    m = a.mark()
    run.a_srv.admin(f"s2s:closeall({MUC_E!r})")
    time.sleep(6)
    yield "s2s closed by Prosody, still in the room", \
        f"{entry(a, r)}{', 333 sent (false)' if notice_333(a, m, r) else ''}"
    # link closed by ejabberd
    m = a.mark()
    run.e_srv.close_s2s()
    time.sleep(6)
    yield "s2s closed by ejabberd, still in the room", \
        f"{entry(a, r)}{', 333 sent (false)' if notice_333(a, m, r) else ''}"
    # frozen (SIGSTOP) then thawed, the link closed meanwhile
    m = a.mark()
    run.e_srv.freeze()
    try:
        run.a_srv.admin(f"s2s:closeall({MUC_E!r})")
        time.sleep(8)
    finally:
        run.e_srv.thaw()
    time.sleep(4)
    yield "ejabberd frozen then thawed, still in the room", \
        f"{entry(a, r)}{', 333 sent (false)' if notice_333(a, m, r) else ''}"
    run.done()
    # graceful stop: 332 (when delivered)
    a, r = run.alice(), room()
    a.join(r, "Alice")
    m = a.mark()
    run.e_srv.stop()
    run.e_srv.launch()
    wait_for(lambda: r not in rooms(a), SETTLE)
    yield "ejabberd graceful stop (332) and restart", \
        f"{entry(a, r)}{', 333 sent' if notice_333(a, m, r) else ''}"
    run.done()
    # killed: occupants lost (temporary room gone)
    a, r = run.alice(), room()
    a.join(r, "Alice")
    m = a.mark()
    run.e_srv.crash()
    run.e_srv.launch()
    wait_for(lambda: r not in rooms(a), SETTLE)
    n = sum(1 for s in a.received(m) if s.name == "presence" and s.type == "unavailable" and
            "333" in s.status_codes)
    yield "ejabberd killed and restarted (temporary room lost)", \
        f"{entry(a, r)}, {n} notice(s) 110+333"
    run.done()
    # killed: persistent room survives without its occupants
    a, o, r = run.alice(), run.owner(), room()
    o.join(r, "Owner")
    o.configure(r, {"muc#roomconfig_persistentroom": "1"})
    a.join(r, "Alice")
    run.e_srv.persist_room(r)  # else a kill can lose the room too
    m = a.mark()
    run.e_srv.crash()
    run.e_srv.launch()
    wait_for(lambda: r not in rooms(a), SETTLE)
    n = sum(1 for s in a.received(m) if s.name == "presence" and s.type == "unavailable" and
            "333" in s.status_codes)
    yield "ejabberd killed and restarted (persistent room)", \
        f"{entry(a, r)}, {n} notice(s) 110+333"
    run.done()


def run_variant(lt, name, community_dir):
    if community_dir:
        os.environ["MUCJOINS_MODULE_DIR"] = community_dir
        a = ProsodyServer(name=f"cmp-{name}", domain=A, muc_domain=f"conference.{A}",
                          components=(), extra_host_modules=("ping_muc",))
    else:
        os.environ.pop("MUCJOINS_MODULE_DIR", None)
        a = ProsodyServer(name=f"cmp-{name}", domain=A, muc_domain=f"conference.{A}",
                          components=(), options=OPTIONS)
    e = EjabberdServer(name=f"cmp-e-{name}", domain=E, muc_domain=MUC_E)
    a.prepare()
    e.prepare()
    e.peer = a
    a.s2s_zones = {E: e}
    try:
        e.start()
        a.start()
        return list(scenarios(Run(lt, a, e)))
    finally:
        e.stop()
        a.stop()
        e.cleanup()
        a.cleanup()


def main():
    if len(sys.argv) != 2 or not os.path.isdir(os.path.join(sys.argv[1], "mod_track_muc_joins")):
        sys.exit(__doc__)
    if ejabberd_missing():
        sys.exit(ejabberd_missing())
    community = os.path.abspath(sys.argv[1])
    lt = LoopThread()
    try:
        ours = run_variant(lt, "ours", None)
        theirs = run_variant(lt, "community", community)
    finally:
        lt.stop()
    print("| scenario (room on ejabberd 23.01) | mucjoins | community mod_track_muc_joins + mod_ping_muc |")
    print("|---|---|---|")
    for (s, o), (_, t) in zip(ours, theirs):
        print(f"| {s} | {o} | {t} |")


if __name__ == "__main__":
    main()

"""Differential check (not collected by pytest; run by hand with
/usr/bin/python3 tests/integration/differential_local_muc.py SEED STEPS):
random joins, nick changes, leaves, broadcast unavailables, kicks and
presence/message errors of three sessions (two of one account) in two rooms
of the local MUC; after each step every session's rooms_joined is compared
with the occupants mod_muc holds (read through the admin shell). A
mismatch still there after pending_timeout is reported. V=1 prints steps."""
import sys, os, random, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 60
rnd = random.Random(seed)
lt = LoopThread()
PT = 3
srv = ProsodyServer(name="diff", options={"track_muc_joins_pending_timeout": PT})
srv.start()
ROOMS = [f"d{seed}-{i}@conference.localhost" for i in range(2)]
NICKS = ["A", "B", "C"]
def truth(r):
    rc, out = srv.admin('> local r = prosody.hosts["conference.localhost"].modules.muc.get_room_from_jid("%s"); if not r then return "" end; local t = {}; for nick, o in r:each_occupant() do for j in o:each_session() do t[#t+1] = j .. "=" .. nick end end; return table.concat(t, " ")' % r)
    s = out.strip()
    assert s.startswith("Result:"), out
    res = {}
    for kv in s[len("Result:"):].split():
        j, n = kv.split("=", 1)
        res[j] = n.split("/", 1)[1]
    return res
log = []
try:
    owner = Client(lt, srv, "carol", "own").connect()
    for r in ROOMS:
        owner.join(r, "Owner")
        owner.configure(r, {"muc#roomconfig_persistentroom": "1"})
    sess = [Client(lt, srv, "alice", "r1").connect(), Client(lt, srv, "alice", "r2").connect(),
            Client(lt, srv, "bob", "r1").connect()]
    def sync(c):
        c.iq("<ping xmlns='urn:xmpp:ping'/>")
    def cur_nick(c, r):
        t = truth(r)
        return t.get(c.jid)
    for step in range(steps):
        c = rnd.choice(sess)
        r = rnd.choice(ROOMS)
        act = rnd.choice(["join", "join", "join", "join", "nick", "nick", "leave", "nick", "update", "bcast", "kick", "perr", "merr", "msg", "avail"])
        nick = rnd.choice(NICKS)
        n0 = cur_nick(c, r)
        desc = f"{step}: {c.jid} {act} {r} {nick} (truth nick {n0})"
        if act == "join":
            c.send(f"<presence to={xa(r+'/'+nick)} id={xa(new_id('j'))}><x xmlns='{NS_MUC}'/></presence>")
        elif act == "leave":
            c.send(f"<presence type='unavailable' to={xa(r+'/'+(n0 or nick))}/>")
        elif act == "nick":
            c.send(f"<presence to={xa(r+'/'+nick)}/>")
        elif act == "update":
            c.send(f"<presence to={xa(r+'/'+(n0 or nick))}><show>away</show></presence>")
        elif act == "bcast":
            c.send("<presence type='unavailable'/>")
        elif act == "avail":
            c.send("<presence/>")
        elif act == "kick":
            target = rnd.choice(NICKS)
            desc += f" target {target}"
            owner.iq(f"<query xmlns='{NS_MUC_ADMIN}'><item nick={xa(target)} role='none'/></query>", to=r, check=False)
        elif act == "perr":
            c.send(f"<presence type='error' to={xa(r+'/'+(n0 or nick))}><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
        elif act == "merr":
            c.send(f"<message type='error' to={xa(r)}><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
        elif act == "msg":
            c.send(f"<message type='groupchat' to={xa(r)}><body>hi</body></message>")
        sync(c)
        log.append(desc)
        if os.environ.get("V"): print(desc)
        def compare():
            bad = []
            for rr in ROOMS:
                t = truth(rr)
                for s in sess:
                    got = s.rooms().get(rr)
                    exp = t.get(s.jid)
                    if got != exp:
                        bad.append(f"   {s.jid} in {rr}: tracker {got!r} truth {exp!r}")
            return bad
        bad = compare()
        if bad:
            time.sleep(PT + 1.5)
            bad2 = compare()
            if bad2:
                print("PERSISTENT MISMATCH after", "\n".join(log[-8:]))
                print("\n".join(bad2))
                break
            else:
                print("transient (resolved by timeout) after", desc)
                print("\n".join(bad))
    else:
        print("no persistent mismatch in", steps, "steps")
finally:
    srv.stop(); srv.cleanup(); lt.stop()

"""Differential check over s2s (not collected by pytest; run by hand with
/usr/bin/python3 tests/integration/differential_remote_muc.py SEED STEPS):
the module on server A, the rooms on server B; bursts of joins, nick
changes, leaves, leave+rejoin, broadcast unavailables, kicks, reconnects
under the same resource and closed s2s links, answered asynchronously;
after each burst (SETTLE seconds, 1.0) rooms_joined on A is compared with
the occupants B's mod_muc holds. A mismatch still there after
pending_timeout is reported."""
import sys, os, random, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 40
rnd = random.Random(seed)
lt = LoopThread()
PT = 4
A, B = "a.localhost", "b.localhost"
MUC_B = f"conference.{B}"
gen = two_prosodys(
    ProsodyServer(name="d2-a", domain=A, muc_domain=f"conference.{A}", components=(),
                  options={"track_muc_joins_pending_timeout": PT, "track_muc_joins_ping_start_delay": 1, "track_muc_joins_ping_backoff": 1}),
    ProsodyServer(name="d2-b", domain=B, muc_domain=MUC_B, components=()))
sa, sb = next(gen)
ROOMS = [f"d{seed}-{i}@{MUC_B}" for i in range(2)]
NICKS = ["A", "B", "C"]
def truth(r):
    rc, out = sb.admin('> local r = prosody.hosts["%s"].modules.muc.get_room_from_jid("%s"); if not r then return "" end; local t = {}; for nick, o in r:each_occupant() do for j in o:each_session() do t[#t+1] = j .. "=" .. nick end end; return table.concat(t, " ")' % (MUC_B, r))
    s = out.strip()
    assert s.startswith("Result:"), out
    res = {}
    for kv in s[len("Result:"):].split():
        j, n = kv.split("=", 1)
        res[j] = n.split("/", 1)[1]
    return res
log = []
try:
    owner = Client(lt, sb, "carol", "own").connect()
    for r in ROOMS:
        owner.join(r, "Owner")
        owner.configure(r, {"muc#roomconfig_persistentroom": "1"})
    sess = [Client(lt, sa, "alice", "r1").connect(), Client(lt, sa, "alice", "r2").connect(),
            Client(lt, sa, "bob", "r1").connect()]
    known = {}  # (jid, room) -> last nick asked
    for step in range(steps):
        burst = rnd.choice([1, 1, 2, 3])
        descs = []
        for _ in range(burst):
            c = rnd.choice(sess)
            r = rnd.choice(ROOMS)
            act = rnd.choice(["join", "join", "join", "nick", "nick", "leave", "update", "bcast", "avail", "kick", "msg", "rejoin", "rejoin", "reconnect", "flap"])
            nick = rnd.choice(NICKS)
            n0 = known.get((c.jid, r), nick)
            if act == "join":
                c.send(f"<presence to={xa(r+'/'+nick)} id={xa(new_id('j'))}><x xmlns='{NS_MUC}'/></presence>"); known[(c.jid, r)] = nick
            elif act == "leave":
                c.send(f"<presence type='unavailable' to={xa(r+'/'+n0)}/>")
            elif act == "nick":
                c.send(f"<presence to={xa(r+'/'+nick)}/>"); known[(c.jid, r)] = nick
            elif act == "update":
                c.send(f"<presence to={xa(r+'/'+n0)}><show>away</show></presence>")
            elif act == "bcast":
                c.send("<presence type='unavailable'/>")
            elif act == "avail":
                c.send("<presence/>")
            elif act == "kick":
                owner.send(f"<iq type='set' to={xa(r)} id={xa(new_id('k'))}><query xmlns='{NS_MUC_ADMIN}'><item nick={xa(nick)} role='none'/></query></iq>")
            elif act == "rejoin":
                c.send(f"<presence type='unavailable' to={xa(r+'/'+n0)}/>")
                c.send(f"<presence to={xa(r+'/'+nick)} id={xa(new_id('j'))}><x xmlns='{NS_MUC}'/></presence>"); known[(c.jid, r)] = nick
            elif act == "reconnect":
                i = sess.index(c)
                c.disconnect(wait=0.2)
                user, res = c.jid.split("@")[0], c.jid.split("/")[1]
                sess[i] = Client(lt, sa, user, res).connect()
                for k in list(known):
                    if k[0] == c.jid: del known[k]
            elif act == "flap":
                sa.admin(f"s2s:closeall('{MUC_B}')")
            elif act == "msg":
                c.send(f"<message type='groupchat' to={xa(r)}><body>hi</body></message>")
            descs.append(f"{c.jid} {act} {r.split('@')[0]} {nick}")
        desc = f"{step}: " + " | ".join(descs)
        log.append(desc)
        if os.environ.get("V"): print(desc)
        time.sleep(float(os.environ.get('SETTLE','1.0')))
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
            time.sleep(PT + 2.5)
            bad2 = compare()
            if bad2:
                print("PERSISTENT MISMATCH after\n" + "\n".join(log[-6:]))
                print("\n".join(bad2))
                print("(first seen)\n" + "\n".join(bad))
                break
            else:
                print("transient after", desc)
                print("\n".join(bad))
    else:
        print("no persistent mismatch in", steps, "steps")
finally:
    try:
        next(gen)
    except StopIteration:
        pass
    lt.stop()

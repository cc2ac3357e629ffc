"""bench_server.py: Prosody's CPU time and peak RSS with our module, with
the community module and with no tracking, on a real MUC.

    /usr/bin/python3 bench/bench_server.py COMMUNITY_MODULES_DIR|- [runs] [clients] [rooms] [rounds]

COMMUNITY_MODULES_DIR holds mod_track_muc_joins/ of Debian's
prosody-modules ("-": skip that configuration). Uses the integration
harness (tests/integration/harness.py): each run is a fresh private Prosody
on loopback ports with the module from build/plugins (ours), the community
module, or neither on the VirtualHost, and the plain MUC component (no test
module, logging at warn level).

Workload per run: `clients` slixmpp clients connect (not measured); then,
`rounds` times, every client sends a join to each of `rooms` rooms on the
real MUC at once and waits for its self-presences, then leaves them all and
waits for the confirmations. Measured over the workload: Prosody's CPU time
(/proc/PID/schedstat, utime+stime from /proc/PID/stat as a fallback) and
its peak RSS (VmHWM after resetting it through /proc/PID/clear_refs), plus
the presences the clients received. Configurations alternate run by run
(none, community, ours, none, ...); figures are medians. Lines starting
with "@" are for scripts/bench.sh.
"""

import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import harness  # noqa: E402
from harness import (NS_MUC, Client, LoopThread, ProsodyServer,  # noqa: E402
                     is_presence)

MUC = harness.MUC
PASSWORD = harness.PASSWORD


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tick


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def make_server(config, community_dir, users):
    host_modules = () if config == "none" else ("track_muc_joins",)
    srv = ProsodyServer(options={}, muc_options={}, muc_modules=(),
                        host_modules=host_modules, name=f"bench-{config}")
    srv.prepare()
    srv.options["log"] = {"warn": str(srv.dir / "prosody.log")}
    if config == "community":
        srv.options["plugin_paths"] = [str(community_dir)]
    srv.write_config()
    # accounts written as Prosody's internal_plain store keeps them (fast;
    # prosodyctl register takes ~0.5 s per user)
    acc = srv.dir / "data" / srv.domain.replace(".", "%2e") / "accounts"
    acc.mkdir(parents=True, exist_ok=True)
    for u in users:
        (acc / f"{u}.dat").write_text(f'return {{\n\t["password"] = "{PASSWORD}";\n}};\n')
    srv.launch()
    return srv


def module_loaded(srv, config):
    log = srv.log_text()
    if config == "none":
        return True
    if "error" in log.lower() and "track_muc_joins" in log:
        return False
    return True


def one_run(lt, config, community_dir, nclients, nrooms, rounds):
    users = [f"bench{i}" for i in range(nclients)]
    srv = make_server(config, community_dir, users)
    clients = []
    try:
        for u in users:
            clients.append(Client(lt, srv, u, "bench").connect())
        rooms = [f"room{j}@{MUC}" for j in range(nrooms)]
        last = rooms[-1]
        pid = srv.proc.pid
        time.sleep(0.5)
        rss0 = status_kib(pid, "VmRSS")
        peak_ok = reset_peak(pid)
        cpu0 = cpu_seconds(pid)
        t0 = time.monotonic()
        for _ in range(rounds):
            marks = [c.mark() for c in clients]
            for c in clients:
                c.send("".join(
                    f"<presence to='{r}/{c.user}' id='j{j}'><x xmlns='{NS_MUC}'/></presence>"
                    for j, r in enumerate(rooms)))
            # a client's joins are answered in order: the last room's
            # self-presence comes last
            for c, m in zip(clients, marks):
                c.wait(lambda s: is_presence(s, frm_bare=last, type_=None, self_=True), m,
                       timeout=120, what=f"the self-presence from {last}")
            marks = [c.mark() for c in clients]
            for c in clients:
                c.send("".join(f"<presence type='unavailable' to='{r}/{c.user}'/>" for r in rooms))
            for c, m in zip(clients, marks):
                c.wait(lambda s: is_presence(s, frm_bare=last, type_="unavailable", self_=True), m,
                       timeout=120, what=f"the unavailable self-presence from {last}")
        wall = time.monotonic() - t0
        cpu = cpu_seconds(pid) - cpu0
        peak = status_kib(pid, "VmHWM") if peak_ok else 0
        received = sum(len([s for s in c.received() if s.name == "presence"]) for c in clients)
        ok = module_loaded(srv, config)
        errors = srv.errors_in_log()
        return {"cpu": cpu, "wall": wall, "peak_kib": peak, "rss0_kib": rss0,
                "presences": received, "ok": ok and not errors, "errors": errors[:5]}
    finally:
        for c in clients:
            c.disconnect(wait=0.2)
        srv.stop()
        srv.cleanup()


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    community = sys.argv[1] if sys.argv[1] == "-" else str(Path(sys.argv[1]).resolve())
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    nclients = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    nrooms = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    configs = ["none", "community", "ours"] if community != "-" else ["none", "ours"]
    if harness.check_module_built():
        print(harness.check_module_built(), file=sys.stderr)
        return 1
    lt = LoopThread()
    results = {c: [] for c in configs}
    try:
        for i in range(runs):
            for c in configs:
                try:
                    r = one_run(lt, c, community, nclients, nrooms, rounds)
                except Exception as e:  # a run that could not be done
                    print(f"  run {i + 1} {c:9s} FAILED: {e}", flush=True)
                    continue
                results[c].append(r)
                print(f"  run {i + 1} {c:9s} cpu {r['cpu']:6.2f} s  peak RSS {r['peak_kib'] / 1024:6.1f} MiB"
                      f"  (RSS before {r['rss0_kib'] / 1024:.1f} MiB)  wall {r['wall']:5.1f} s"
                      f"  presences received {r['presences']}"
                      + ("" if r["ok"] else f"  PROBLEM: {r['errors']}"), flush=True)
    finally:
        lt.stop()
    print(f"server: {nclients} clients x {nrooms} rooms x {rounds} round(s) of joins and leaves, "
          f"medians of {runs} alternating runs")
    configs = [c for c in configs if results[c]]
    if "none" not in configs:
        print("server: no run without tracking succeeded: no figures")
        return 1
    base = statistics.median(r["cpu"] for r in results["none"])
    for c in configs:
        cpus = [r["cpu"] for r in results[c]]
        peaks = [r["peak_kib"] / 1024 for r in results[c]]
        med = statistics.median(cpus)
        pres = statistics.median(r["presences"] for r in results[c])
        spread = (max(cpus) - min(cpus)) / 2
        print(f"  {c:9s} cpu {med:6.2f} s (runs {', '.join(f'{x:.2f}' for x in cpus)}; "
              f"x{med / base:.3f} of none)  peak RSS {statistics.median(peaks):6.1f} MiB  "
              f"presences {pres:.0f}  ({med / pres * 1e6:.1f} us CPU per presence received)")
        print(f"@server.{c}.cpu={med:.4f}\n@server.{c}.cpu_spread={spread:.4f}\n"
              f"@server.{c}.peak_mib={statistics.median(peaks):.2f}\n"
              f"@server.{c}.presences={pres:.0f}\n@server.{c}.ratio={med / base:.4f}\n"
              f"@server.{c}.ok={int(all(r['ok'] for r in results[c]))}")
    print(f"@server.clients={nclients}\n@server.rooms={nrooms}\n@server.rounds={rounds}\n@server.runs={runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench_server.py: Prosody's CPU time and peak RSS with our module, with
the community module and with no tracking, on a real MUC.

    /usr/bin/python3 bench/bench_server.py COMMUNITY_MODULES_DIR|- [runs] [clients] [rooms] [rounds]
    /usr/bin/python3 bench/bench_server.py --callgrind COMMUNITY_MODULES_DIR|- [clients] [rooms] [rounds]

COMMUNITY_MODULES_DIR holds mod_track_muc_joins/ of Debian's
prosody-modules ("-": skip that configuration). Uses the integration
harness (tests/integration/harness.py): one private Prosody per
configuration on loopback ports -- with the module from build/plugins
(ours), with the community module, with neither -- each with the plain MUC
component (no test module) and logging at warn level, all three running at
once with `clients` slixmpp clients connected to each (not measured).

A run: each server in turn (the order rotating from run to run, so that
the three see the same machine conditions) gets the workload: `rounds`
times, every client sends a join to each of `rooms` rooms on the real MUC
at once and waits for its self-presences, then leaves them all and waits
for the confirmations (50 x 20: ~75k presences). Measured over the
workload: Prosody's CPU time (/proc/PID/schedstat; utime+stime from
/proc/PID/stat as a fallback), its peak RSS (VmHWM after resetting it
through /proc/PID/clear_refs), the presences the clients received. Reported:
medians over the runs, and the median of each configuration's CPU over no
tracking's in the same run (paired, which cancels most of the drift of a
shared machine).

--callgrind: Prosody under valgrind's callgrind, one configuration at a
time (a smaller workload, 20 clients x 20 rooms by default, ~50 s a run):
the instructions Prosody executes for the workload -- instrumentation off
until the clients are logged in, then switched on, counters zeroed before
and dumped after the workload with callgrind_control -- per presence
received. Exact where CPU time is noisy, yet Prosody's own total varies by
~0.3 % from run to run (timers, reads batching stanzas differently), as
much as the 1 % target can tolerate: so `rounds` rounds (3 by default,
~8 minutes), each running none, ours and the floor one after the other
(the order rotating from round to round) and giving ours' and the
floor's instructions per presence over none's, paired, and ours over the
floor's. Reported: every round's ratios, the median of the paired ratios
(ours over none is the verdict), their min..max and the median of the
rounds' per-presence differences; for each ours run the binding's share
(the inclusive cost of its l_* entry points), and their median. The dump
of ours' run in the median round is kept in build/bench/server-cg-ours.out.
The community module runs once, in the first round, and is given over
the median of none's runs (for scale: it is far above 1 %). The
floor (bench/floor/mod_track_muc_joins.lua) is what any tracker that gets
joins right must do per stanza, in plain Lua and deciding nothing --
read each presence a session receives (session, from, type, the muc#user
status codes) and look at every stanza sent to a client session for an
error presence, where a local MUC's join errors show (needed only while
a session's presence to a room may still be answered, which in this
join/leave churn is all the time) -- which tells how much of the 1 %
target any such tracker has left for its decisions.

Every configuration's server is checked through its admin shell: the
module loaded from the intended file (or, for none, not loaded). Servers
are stopped on every exit: failure, Ctrl-C, SIGTERM or SIGHUP.

Lines starting with "@" are for scripts/bench.sh.
"""

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
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
    """A private Prosody for one configuration, started, with the module
    checked: loaded from the intended file (ours: build/plugins; community:
    a private copy of the community module's folder), or not at all
    (none). Raises if not."""
    host_modules = () if config == "none" else ("track_muc_joins",)
    srv = ProsodyServer(options={}, muc_options={}, muc_modules=(),
                        host_modules=host_modules, name=f"bench-{config}")
    srv.prepare()
    try:
        srv.options["log"] = {"warn": str(srv.dir / "prosody.log")}
        # Prosody searches its installer_plugin_path first, by default
        # /var/lib/prosody/custom_plugins, shared by every Prosody on the
        # machine: a private one, so nothing installed there shadows the
        # module measured
        srv.options["installer_plugin_path"] = str(srv.dir / "custom_plugins")
        expect = harness.module_dir() / "mod_track_muc_joins" / "mod_track_muc_joins.lua"
        if config == "floor":
            # bench/floor: what any tracker must do per stanza, nothing more
            plugins = srv.dir / "floor-plugins"
            (plugins / "mod_track_muc_joins").mkdir(parents=True)
            shutil.copyfile(REPO / "bench" / "floor" / "mod_track_muc_joins.lua",
                            plugins / "mod_track_muc_joins" / "mod_track_muc_joins.lua")
            srv.options["plugin_paths"] = [str(plugins)]
            expect = plugins / "mod_track_muc_joins" / "mod_track_muc_joins.lua"
        if config == "community":
            # only a private copy of its folder on the plugin path: absolute
            # (Prosody chdirs to its data dir), nothing else from the
            # package, and immune to build/bench/pm being unpacked again
            plugins = srv.dir / "community-plugins"
            shutil.copytree(Path(community_dir) / "mod_track_muc_joins",
                            plugins / "mod_track_muc_joins")
            srv.options["plugin_paths"] = [str(plugins)]
            expect = plugins / "mod_track_muc_joins" / "mod_track_muc_joins.lua"
        srv.write_config()
        # accounts written as Prosody's internal_plain store keeps them (fast;
        # prosodyctl register takes ~0.5 s per user)
        acc = srv.dir / "data" / srv.domain.replace(".", "%2e") / "accounts"
        acc.mkdir(parents=True, exist_ok=True)
        for u in users:
            (acc / f"{u}.dat").write_text(f'return {{\n\t["password"] = "{PASSWORD}";\n}};\n')
        srv.launch()
        check_module(srv, config, expect)
    except BaseException:
        srv.stop()
        srv.cleanup()
        raise
    return srv


def check_module(srv, config, expect):
    """Ask the server (admin shell) where mod_track_muc_joins was loaded
    from: a configuration measured without its module would be a figure
    for the wrong thing."""
    errors = srv.errors_in_log()
    if errors:
        raise harness.HarnessError(f"{config}: Prosody logged errors: {errors[:5]}")
    # the admin socket may come up after the ports (slow under valgrind)
    deadline = time.monotonic() + 60
    while True:
        rc, out = srv.admin('module:info("track_muc_joins", "localhost")')
        if "Unable to connect" not in out or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    m = re.search(r"^\s*path: (.*)$", out, re.M)
    if config == "none":
        if rc == 0 or m:
            raise harness.HarnessError(f"none: mod_track_muc_joins is loaded: {out.strip()}")
        return
    if rc != 0 or not m:
        raise harness.HarnessError(f"{config}: mod_track_muc_joins is not loaded: {out.strip()}")
    if Path(m.group(1)).resolve() != Path(expect).resolve():
        raise harness.HarnessError(f"{config}: mod_track_muc_joins loaded from {m.group(1)}, "
                                   f"not {expect}")


class Setup:
    """One configuration: its server and its connected clients."""

    def __init__(self, lt, config, community_dir, nclients):
        self.config = config
        users = [f"bench{i}" for i in range(nclients)]
        self.srv = make_server(config, community_dir, users)
        self.clients = []
        try:
            for u in users:
                self.clients.append(Client(lt, self.srv, u, "bench").connect())
        except BaseException:
            self.close()
            raise
        self.pid = self.srv.proc.pid

    def workload(self, nrooms, rounds):
        """Every client joins nrooms rooms at once, waits for its
        self-presences, then leaves them all and waits; `rounds` times.
        Returns Prosody's CPU seconds, wall seconds, peak RSS (KiB) and the
        presences the clients received, over the workload only."""
        rooms = [f"room{j}@{MUC}" for j in range(nrooms)]
        last = rooms[-1]
        rss0 = status_kib(self.pid, "VmRSS")
        peak_ok = reset_peak(self.pid)
        marks0 = [c.mark() for c in self.clients]
        cpu0 = cpu_seconds(self.pid)
        t0 = time.monotonic()
        for _ in range(rounds):
            marks = [c.mark() for c in self.clients]
            for c in self.clients:
                c.send("".join(
                    f"<presence to='{r}/{c.user}' id='j{j}'><x xmlns='{NS_MUC}'/></presence>"
                    for j, r in enumerate(rooms)))
            # a client's joins are answered in order: the last room's
            # self-presence comes last
            for c, m in zip(self.clients, marks):
                c.wait(lambda s: is_presence(s, frm_bare=last, type_=None, self_=True), m,
                       timeout=120, what=f"the self-presence from {last}")
            marks = [c.mark() for c in self.clients]
            for c in self.clients:
                c.send("".join(f"<presence type='unavailable' to='{r}/{c.user}'/>" for r in rooms))
            for c, m in zip(self.clients, marks):
                c.wait(lambda s: is_presence(s, frm_bare=last, type_="unavailable", self_=True), m,
                       timeout=120, what=f"the unavailable self-presence from {last}")
        wall = time.monotonic() - t0
        cpu = cpu_seconds(self.pid) - cpu0
        peak = status_kib(self.pid, "VmHWM") if peak_ok else 0
        received = sum(len([s for s in c.received(m) if s.name == "presence"])
                       for c, m in zip(self.clients, marks0))
        errors = self.srv.errors_in_log()
        return {"cpu": cpu, "wall": wall, "peak_kib": peak, "rss0_kib": rss0,
                "presences": received, "ok": not errors, "errors": errors[:5]}

    def close(self):
        for c in self.clients:
            c.disconnect(wait=0.2)
        self.srv.stop()
        self.srv.cleanup()


def callgrind_control(pid, *args):
    r = subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise harness.HarnessError(f"callgrind_control {' '.join(args)} {pid} failed "
                                   f"({r.returncode}): {(r.stdout + r.stderr).strip()[-300:]}")


def callgrind_main(community, nclients, nrooms, rounds):
    """`rounds` rounds with Prosody under callgrind: in each, no tracking,
    ours and the floor one after the other, the order rotating; the
    community module once, in the first round (far above 1 %, for
    scale). Prosody starts with instrumentation off
    (startup and the clients' logins are not counted and run faster);
    callgrind_control switches it on and zeroes the counters before the
    workload and dumps them after it. Exact where CPU time is noisy, but
    Prosody's own total still varies by a few tenths of a percent from
    run to run (timers, reads batching stanzas differently): each round
    gives ours' instructions per presence over none's (paired), and the
    verdict is the median of those paired ratios."""
    # Prosody is ~50x slower under callgrind: the harness's waits are longer
    harness.WAIT = max(harness.WAIT, 60)
    wrap = Path(tempfile.mkdtemp(prefix="mucjoins-cgwrap-"))
    (wrap / "prosody").write_text(
        "#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no "
        "--callgrind-out-file=\"$MUCJOINS_CG_OUT\" -q lua5.4 /usr/bin/prosody \"$@\"\n")
    (wrap / "prosody").chmod(0o755)
    os.environ["PATH"] = f"{wrap}:{os.environ['PATH']}"
    lt = LoopThread()
    # runs[(config, round)] = {"ir", "presences", "pp" (per presence),
    # "dump", "binding" (ours: the binding's share per presence)}
    runs = {}
    planned = 0
    t_start = time.monotonic()

    def run(c, rnd):
        out = wrap / f"cg-{c}-{rnd}.out"
        os.environ["MUCJOINS_CG_OUT"] = str(out)
        st = None
        t0 = time.monotonic()
        try:
            st = Setup(lt, c, community, nclients)
            callgrind_control(st.pid, "-i", "on")
            callgrind_control(st.pid, "-z")
            r = st.workload(nrooms, 1)
            callgrind_control(st.pid, "-d")
            dump = next(wrap.glob(f"cg-{c}-{rnd}.out.*"))
            ir = int(re.search(r"^summary: (\d+)", dump.read_text(), re.M).group(1))
            if not r["ok"]:
                raise harness.HarnessError(f"Prosody logged errors: {r['errors']}")
            res = {"ir": ir, "presences": r["presences"], "pp": ir / r["presences"], "dump": dump}
            print(f"  round {rnd} callgrind {c:9s} {ir / 1e6:9.1f} M instructions for "
                  f"{r['presences']} presences received: {ir / r['presences'] / 1e3:.1f} k per "
                  f"presence (wall {r['wall']:.0f} s, {time.monotonic() - t0:.0f} s with start "
                  f"and stop)", flush=True)
            if c == "ours":
                res["binding"] = binding_share(dump, r["presences"])
            runs[(c, rnd)] = res
        except Exception as e:
            print(f"  round {rnd} callgrind {c:9s} FAILED: {e}", flush=True)
        finally:
            if st is not None:
                st.close()

    try:
        for rnd in range(1, rounds + 1):
            # none, ours and the floor, each round in another order
            pair = [["none", "ours", "floor"], ["ours", "floor", "none"],
                    ["floor", "none", "ours"]][(rnd - 1) % 3]
            for c in pair:
                planned += 1
                run(c, rnd)
            if rnd == 1 and community != "-":
                planned += 1
                run("community", rnd)
            n, o = runs.get(("none", rnd)), runs.get(("ours", rnd))
            f = runs.get(("floor", rnd))
            if n and o:
                print(f"  round {rnd}: ours x{o['pp'] / n['pp']:.4f} of none, "
                      f"{o['pp'] - n['pp']:+.0f} instructions per presence received"
                      + (f"; the floor x{f['pp'] / n['pp']:.4f} ({f['pp'] - n['pp']:+.0f})"
                         if f else "")
                      + f" ({' then '.join(pair)})", flush=True)
        # the kept dump: ours' run in the round whose paired ratio is the
        # median (the lower middle one for an even count)
        paired = sorted((runs[("ours", rnd)]["pp"] / runs[("none", rnd)]["pp"], rnd)
                        for rnd in range(1, rounds + 1)
                        if ("none", rnd) in runs and ("ours", rnd) in runs)
        if paired:
            keep_round = paired[(len(paired) - 1) // 2][1]
            keep = Path("build/bench/server-cg-ours.out")
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(runs[("ours", keep_round)]["dump"], keep)
    finally:
        lt.stop()
        shutil.rmtree(wrap, ignore_errors=True)
    print(f"server under callgrind: {nclients} clients x {nrooms} rooms, one round of joins and "
          f"leaves per run; {rounds} round(s) of none, ours and the floor, the order rotating"
          + (", the community module in round 1" if community != "-" else "")
          + f" ({time.monotonic() - t_start:.0f} s)")
    if not paired:
        print("server under callgrind: no round with both none and ours: no figures")
        return 1
    med = statistics.median
    ratios = [r for r, _ in sorted(paired, key=lambda p: p[1])]
    rounds_ok = [rnd for _, rnd in sorted(paired, key=lambda p: p[1])]
    diffs = [runs[("ours", rnd)]["pp"] - runs[("none", rnd)]["pp"] for rnd in rounds_ok]
    nones = [runs[("none", rnd)] for rnd in rounds_ok]
    ourss = [runs[("ours", rnd)] for rnd in rounds_ok]
    none_pp = med(x["pp"] for x in nones)
    print(f"  callgrind ours      x{med(ratios):.4f} of none, median of {len(ratios)} rounds' "
          f"paired ratios (rounds {', '.join(f'x{r:.4f}' for r in ratios)}; "
          f"x{min(ratios):.4f}..x{max(ratios):.4f}); {med(diffs):+.0f} instructions per presence "
          f"received, median of the rounds' differences ({med(x['pp'] for x in ourss):.0f} vs "
          f"{none_pp:.0f}, medians)")
    bindings = [x["binding"] for x in ourss if x.get("binding") is not None]
    if bindings:
        print(f"  callgrind ours: the binding's entry points, median of {len(bindings)} runs: "
              f"{med(bindings):.0f} instructions per presence received "
              f"(runs {', '.join(f'{b:.0f}' for b in bindings)}); dump of round {keep_round} "
              f"kept in build/bench/server-cg-ours.out")
        print(f"@server.cg.ours.binding_per_presence={med(bindings):.0f}")
    print(f"@server.cg.none={med(x['ir'] for x in nones):.0f}\n@server.cg.none.ratio=1.0000\n"
          f"@server.cg.none.ir_per_presence={none_pp:.0f}\n@server.cg.none.per_presence=0")
    print(f"@server.cg.ours={med(x['ir'] for x in ourss):.0f}\n"
          f"@server.cg.ours.ratio={med(ratios):.4f}\n"
          f"@server.cg.ours.ratio_min={min(ratios):.4f}\n@server.cg.ours.ratio_max={max(ratios):.4f}\n"
          f"@server.cg.ours.ratios={','.join(f'x{r:.4f}' for r in ratios)}\n"
          f"@server.cg.ours.ir_per_presence={med(x['pp'] for x in ourss):.0f}\n"
          f"@server.cg.ours.per_presence={med(diffs):.0f}")
    # the floor, paired with none in every round as ours is: what any
    # tracker must do per stanza; ours over it, paired, is what deciding
    # costs on top (Prosody's own run-to-run variation is as large as the
    # floor's cost, so a single run says little)
    fl = [rnd for rnd in rounds_ok if ("floor", rnd) in runs]
    if fl:
        fr = [runs[("floor", rnd)]["pp"] / runs[("none", rnd)]["pp"] for rnd in fl]
        of = [runs[("ours", rnd)]["pp"] / runs[("floor", rnd)]["pp"] for rnd in fl]
        fd = [runs[("floor", rnd)]["pp"] - runs[("none", rnd)]["pp"] for rnd in fl]
        od = [runs[("ours", rnd)]["pp"] - runs[("floor", rnd)]["pp"] for rnd in fl]
        print(f"  callgrind floor     x{med(fr):.4f} of none, median of {len(fr)} rounds' paired "
              f"ratios (rounds {', '.join(f'x{r:.4f}' for r in fr)}); {med(fd):+.0f} instructions "
              f"per presence received: bench/floor, what any tracker must do per stanza (read "
              f"each presence received, watch stanzas sent for join errors) in plain Lua, "
              f"deciding nothing")
        print(f"  callgrind ours      x{med(of):.4f} of the floor, paired (rounds "
              f"{', '.join(f'x{r:.4f}' for r in of)}); {med(od):+.0f} instructions per presence "
              f"received")
        print(f"@server.cg.floor={med(runs[('floor', rnd)]['ir'] for rnd in fl):.0f}\n"
              f"@server.cg.floor.ratio={med(fr):.4f}\n"
              f"@server.cg.floor.ratios={','.join(f'x{r:.4f}' for r in fr)}\n"
              f"@server.cg.floor.ir_per_presence="
              f"{med(runs[('floor', rnd)]['pp'] for rnd in fl):.0f}\n"
              f"@server.cg.floor.per_presence={med(fd):.0f}\n"
              f"@server.cg.ours_over_floor.ratio={med(of):.4f}\n"
              f"@server.cg.ours_over_floor.ratios={','.join(f'x{r:.4f}' for r in of)}\n"
              f"@server.cg.ours_over_floor.per_presence={med(od):.0f}")
    # the community module: one run, over the median of none's runs (none's
    # own run-to-run variation is far below its cost)
    for c, what in (("community", ""),):
        one = runs.get((c, 1))
        if one:
            print(f"  callgrind {c:9s} x{one['pp'] / none_pp:.4f} of none (one run, over none's "
                  f"median): {one['pp'] - none_pp:+.0f} instructions per presence received "
                  f"({one['pp']:.0f} vs {none_pp:.0f}){what}")
            print(f"@server.cg.{c}={one['ir']}\n@server.cg.{c}.ratio={one['pp'] / none_pp:.4f}\n"
                  f"@server.cg.{c}.ir_per_presence={one['pp']:.0f}\n"
                  f"@server.cg.{c}.per_presence={one['pp'] - none_pp:.0f}")
    print(f"@server.cg.clients={nclients}\n@server.cg.rooms={nrooms}\n"
          f"@server.cg.presences={med(x['presences'] for x in nones):.0f}\n"
          f"@server.cg.rounds={len(ratios)}")
    return 0 if len(runs) == planned else 1


def binding_share(dump, presences):
    """Where ours' instructions go inside Prosody, exactly: the inclusive
    cost of the binding's entry points (mucjoins.so functions called from
    Lua), per presence received. The rest of ours' difference to none is
    the module's Lua (filters, timers) and run-to-run variation of
    Prosody itself (timers, reads batching stanzas differently). Returns
    the binding's instructions per presence received (None without
    callgrind_annotate's figures)."""
    try:
        out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
                             capture_output=True, text=True, timeout=300).stdout
    except (OSError, subprocess.SubprocessError) as e:
        print(f"  callgrind ours: no per-function figures ({e})")
        return None
    # the binding's entry points are its l_* functions (Lua and Prosody are
    # stripped); a function shows on several lines (with and without its
    # file): take each one's largest inclusive count
    entry = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+\S*:(l_\w+)(\s|$)")
    best = {}
    for line in out.splitlines():
        m = entry.match(line)
        if m:
            n = int(m.group(1).replace(",", ""))
            best[m.group(2)] = max(best.get(m.group(2), 0), n)
    rows = [(n, f) for f, n in best.items()]
    # no l_* entry point calls another: their sum is the binding's cost
    total = sum(n for n, _ in rows)
    print(f"  callgrind ours: the binding's entry points, inclusive: {total / presences:.0f} "
          f"instructions per presence received; top: " +
          ", ".join(f"{f} {n / presences:.0f}" for n, f in sorted(rows, reverse=True)[:5]))
    return total / presences


def _stop_on_signal(signum, _frame):
    """SIGTERM/SIGHUP: unwind like Ctrl-C, so every `finally` stops the
    servers (under valgrind too) and the temp dirs go."""
    raise SystemExit(128 + signum)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)
    if sys.argv[1] == "--callgrind":
        community = sys.argv[2] if sys.argv[2] == "-" else str(Path(sys.argv[2]).resolve())
        return callgrind_main(community, int(sys.argv[3]) if len(sys.argv) > 3 else 20,
                              int(sys.argv[4]) if len(sys.argv) > 4 else 20,
                              max(1, int(sys.argv[5]) if len(sys.argv) > 5 else 3))
    community = sys.argv[1] if sys.argv[1] == "-" else str(Path(sys.argv[1]).resolve())
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    nclients = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    nrooms = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    configs = ["none", "community", "ours"] if community != "-" else ["none", "ours"]
    if harness.check_module_built():
        print(harness.check_module_built(), file=sys.stderr)
        return 1
    lt = LoopThread()
    results = {c: [] for c in configs}
    setups = {}
    try:
        for c in configs:
            try:
                setups[c] = Setup(lt, c, community, nclients)
            except Exception as e:  # the configuration cannot run
                print(f"  {c:9s} could not start: {e}", flush=True)
        configs = [c for c in configs if c in setups]
        time.sleep(0.5)
        for i in range(runs):
            # the servers take turns, the order rotating round by round, so
            # that each sees the same machine conditions
            order = configs[i % len(configs):] + configs[:i % len(configs)]
            for c in order:
                try:
                    r = setups[c].workload(nrooms, rounds)
                except Exception as e:
                    print(f"  run {i + 1} {c:9s} FAILED: {e}", flush=True)
                    continue
                r["run"] = i
                results[c].append(r)
                print(f"  run {i + 1} {c:9s} cpu {r['cpu']:6.2f} s  peak RSS {r['peak_kib'] / 1024:6.1f} MiB"
                      f"  (RSS before {r['rss0_kib'] / 1024:.1f} MiB)  wall {r['wall']:5.1f} s"
                      f"  presences received {r['presences']}"
                      + ("" if r["ok"] else f"  PROBLEM: {r['errors']}"), flush=True)
    finally:
        for st in setups.values():
            st.close()
        lt.stop()
    print(f"server: {nclients} clients x {nrooms} rooms x {rounds} round(s) of joins and leaves, "
          f"medians of {runs} runs, the servers taking turns")
    configs = [c for c in configs if results[c]]
    if "none" not in configs:
        print("server: no run without tracking succeeded: no figures")
        return 1
    base = statistics.median(r["cpu"] for r in results["none"])
    none_by_run = {r["run"]: r["cpu"] for r in results["none"]}
    for c in configs:
        cpus = [r["cpu"] for r in results[c]]
        peaks = [r["peak_kib"] / 1024 for r in results[c]]
        med = statistics.median(cpus)
        pres = statistics.median(r["presences"] for r in results[c])
        spread = (max(cpus) - min(cpus)) / 2
        # paired: this configuration's CPU over no tracking's in the same run
        ratios = [r["cpu"] / none_by_run[r["run"]] for r in results[c] if r["run"] in none_by_run]
        rmed = statistics.median(ratios) if ratios else med / base
        rmin = min(ratios) if ratios else rmed
        rmax = max(ratios) if ratios else rmed
        print(f"  {c:9s} cpu {med:6.2f} s (runs {', '.join(f'{x:.2f}' for x in cpus)}); "
              f"x{rmed:.3f} of none in the same run (runs x{rmin:.3f}..x{rmax:.3f}); "
              f"peak RSS {statistics.median(peaks):6.1f} MiB; presences {pres:.0f} "
              f"({med / pres * 1e6:.1f} us CPU per presence received)")
        print(f"@server.{c}.cpu={med:.4f}\n@server.{c}.cpu_spread={spread:.4f}\n"
              f"@server.{c}.peak_mib={statistics.median(peaks):.2f}\n"
              f"@server.{c}.presences={pres:.0f}\n@server.{c}.ratio={rmed:.4f}\n"
              f"@server.{c}.ratio_min={rmin:.4f}\n@server.{c}.ratio_max={rmax:.4f}\n"
              f"@server.{c}.ok={int(all(r['ok'] for r in results[c]))}")
    print(f"@server.clients={nclients}\n@server.rooms={nrooms}\n@server.rounds={rounds}\n@server.runs={runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The admin shell commands' cost in a loaded server: S sessions of R rooms
each put into the tracker (t:restore() through the shell's Lua: real
clients would take an hour), then the server's CPU time (from
/proc/PID/schedstat) and the output size of each command. A measurement,
not a check: skipped unless MUCJOINS_BENCH_SHELL=1:
  MUCJOINS_BENCH_SHELL=1 scripts/integration.sh tests/integration/test_shell_cost.py -s
(MUCJOINS_SHELL_S sessions, 5000; MUCJOINS_SHELL_R rooms each, 20).
Figures of 2026-12 (0.12.3, 50,000 x 20): stats() 3 ms, room() 60-80 ms,
list() of a session of 2000 rooms (1000 lines printed) 60 ms, every line
printed ~40 us."""

import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("MUCJOINS_BENCH_SHELL"),
                                reason="a measurement: set MUCJOINS_BENCH_SHELL=1")

S = int(os.environ.get("MUCJOINS_SHELL_S", "5000"))
R = int(os.environ.get("MUCJOINS_SHELL_R", "20"))
CHUNK = 500
TRACKER = ("local env = prosody.hosts.localhost.modules.track_muc_joins; "
           "local t = env.module:shared('/*/track_muc_joins/trackers').localhost(); ")


def cpu_ns(server):
    with open(f"/proc/{server.proc.pid}/schedstat") as f:
        return int(f.read().split()[0])


def measured(server, command):
    t0 = cpu_ns(server)
    rc, out = server.admin(command, timeout=600)
    ms = (cpu_ns(server) - t0) / 1e6
    print(f"\nshell {command[:60]:60s} {ms:8.1f} ms  {len(out):8d} bytes  "
          f"{out.count(chr(10)):6d} lines  rc={rc}")
    return out


def test_shell_commands_cost(server, connect):
    a = connect("alice")
    for first in range(1, S + 1, CHUNK):
        last = min(S, first + CHUNK - 1)
        rc, out = server.admin(
            ">" + TRACKER + f"for i = {first}, {last} do for j = 1, {R} do "
            "assert(t:restore('u' .. i .. '@localhost/r', 'room' .. ((i * 7 + j) % 20000) "
            ".. '@muc' .. (j % 50) .. '.example', 'joined', 'nick' .. i, nil, 0)) end end "
            "return 'restored'", timeout=600)
        assert "restored" in out, out
    measured(server, "muc_joins:stats()")
    measured(server, f"muc_joins:list({a.bare!r})")
    measured(server, "muc_joins:room('room100@muc1.example')")
    rc, out = server.admin(
        ">" + TRACKER + "for j = 1, 2000 do assert(t:restore(" + repr(a.jid)
        + ", 'big' .. j .. '@muc.example', 'joined', 'n' .. j, nil, 0)) end return 'restored'")
    assert "restored" in out, out
    measured(server, f"muc_joins:list({a.bare!r})")
    measured(server, f"muc_joins:list({a.bare!r}, 5000)")

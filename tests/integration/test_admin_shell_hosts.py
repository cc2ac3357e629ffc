"""Admin shell (docs/semantics.md §7) on several VirtualHosts:
muc_joins:stats() prints the sum over the hosts first and then one line
per host (it printed every host's 22 lines, which made 22,000 lines for
1,000 VirtualHosts and no sum); muc_joins:stats(host) one host's totals;
muc_joins:room() finds the sessions of every host."""

import re

from harness import parse_stats

EXTRA_HOSTS = ("second.localhost", "third.localhost")


totals = parse_stats


def test_stats_sums_the_hosts_then_a_line_each(connect, server, room):
    a = connect("alice")
    b = connect("alice", domain="second.localhost")
    r1, r2 = room(), room()
    a.join(r1, "A")
    b.join(r1, "B")
    b.join(r2, "B")
    rc, out = server.admin("muc_joins:stats()")
    assert rc == 0 and out.startswith("all 3 hosts\n"), f"muc_joins:stats():\n{out}"
    t = totals(out)
    assert t["rooms_shown"] == 3 and t["sessions"] == 2, f"muc_joins:stats():\n{out}"
    rows = {m.group(1): m.group(2).split() for m in
            re.finditer(r"^(\S*localhost)\s+(\d+(?:\s+\d+){4})\s*$", out, re.M)}
    assert sorted(rows) == ["localhost", "second.localhost", "third.localhost"], out
    assert rows["second.localhost"][:2] == ["1", "2"], out
    assert rows["localhost"][1] == "1" and rows["third.localhost"][1] == "0", out
    # the sums (one line a counter), then a header and a line per host
    sums = [ln for ln in out.splitlines() if re.match(r"^  [a-z_]+ ", ln)]
    assert len(out.splitlines()) <= 1 + len(sums) + 1 + 3 + 2, f"a line per host:\n{out}"
    assert "OK: 3 rooms shown on 3 hosts" in out, out
    # r1 has sessions of two hosts: no sum of distinct rooms
    assert "distinct_rooms" not in t and "distinct_rooms     (per host)" in out, out
    rc, out = server.admin("muc_joins:stats('second.localhost')")
    assert rc == 0 and out.startswith("second.localhost\n") and totals(out)["rooms_shown"] == 2, out
    rc, out = server.admin(f"muc_joins:room({r1!r})")
    assert rc == 0 and a.jid in out and b.jid in out and f"2 sessions in {r1}" in out, out

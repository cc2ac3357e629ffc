"""Floods on a real Prosody (hardening): one client sends directed
presence (MUC joins) to 100,000 distinct would-be rooms on the scripted
component, and the "MUC" answers with floods of self-presences -- for the
rooms asked and for rooms never asked. Prosody's memory stays bounded by
the configured limits (the tracker's own bytes by max_pending / max_rooms;
Prosody's RSS within a generous bound: Prosody itself keeps
session.directed for every JID the client sent presence to), nothing wrong
is recorded, and the server keeps serving another client meanwhile.

Sizes: FLOOD_JOINS (100,000; 10,000 against another Prosody) directed
presences; the answers and forged
presences are fewer (ANSWERS, FORGED), because the client that must
receive them is slixmpp and absorbs a few thousand stanzas per second.
The file takes about a minute.
"""

import os
import re
import time

from harness import (
    MUC, NS_MUC, PROSODY, SCRIPTED, assert_rooms, is_presence, self_presence)

MAX_PENDING = 16
MAX_ROOMS = 32
PROSODY_OPTIONS = {
    "track_muc_joins_max_pending": MAX_PENDING,
    "track_muc_joins_max_rooms": MAX_ROOMS,
}
# Against another Prosody than Debian's (MUCJOINS_PROSODY), 10,000: Prosody
# 13.0.1 needs about a minute at 100 % CPU (0.3 s for 10,000) to send a
# leaving client's unavailable to 100,000 JIDs, also with a module that
# tracks nothing in place of ours, and serves nobody meanwhile
# (docs/prosody-versions.md has the figures)
FLOOD_JOINS = int(os.environ.get("MUCJOINS_FLOOD_JOINS",
                                 "100000" if PROSODY == "prosody" else "10000"))
ANSWERS = int(os.environ.get("MUCJOINS_FLOOD_ANSWERS", "10000"))
FORGED = int(os.environ.get("MUCJOINS_FLOOD_FORGED", "10000"))
CHUNK = 2000  # stanzas per write
# the tracker: two sessions, MAX_PENDING pending entries, some rooms
TRACKER_BYTES_BOUND = 256 * 1024
# Prosody's RSS growth over the test (session.directed with FLOOD_JOINS
# entries, stanza buffers, the Lua heap before a full collection)
RSS_GROWTH_BOUND_MIB = 200
FLOOD_WAIT = 150


def wroom(i):
    return f"w{i}@{SCRIPTED}"


def stats(server):
    """muc_joins:stats() of the admin shell as {name: int}."""
    res = server.admin("muc_joins:stats()")
    rc, out = res if isinstance(res, tuple) else (0, res)
    assert rc == 0, f"muc_joins:stats() failed ({rc}):\n{out}"
    got = {k: int(v) for k, v in re.findall(r"^\s*\|?\s*([a-z_]+)\s+(\d+)\s*$", out, re.M)}
    assert "bytes" in got, f"no bytes in muc_joins:stats():\n{out}"
    return got


def rss_mib(server):
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def clear_inbox(comp):
    """Forget what the component received so far (100,000s of stanzas)."""
    with comp.inbox.cond:
        comp.inbox.items.clear()


def send_chunks(sender, stanzas):
    for k in range(0, len(stanzas), CHUNK):
        sender.send("".join(stanzas[k:k + CHUNK]))


def test_flood_of_joins_and_forged_self_presences(connect, component, server, room):
    a = connect("alice")
    b = connect("bob")
    rss0 = rss_mib(server)
    st0 = stats(server)

    # 1. alice sends FLOOD_JOINS joins to distinct would-be rooms
    t0 = time.monotonic()
    send_chunks(a, [f"<presence to='{wroom(i)}/alice'><x xmlns='{NS_MUC}'/></presence>"
                    for i in range(FLOOD_JOINS)])
    # Prosody handles a stream's stanzas in order: the answer to this iq
    # comes after every join went through the module
    a.iq("<ping xmlns='urn:xmpp:ping'/>", timeout=FLOOD_WAIT)
    t_joins = time.monotonic() - t0
    st1 = stats(server)
    assert st1["pending"] <= MAX_PENDING, f"pending entries over max_pending: {st1}"
    assert st1["limits"] - st0["limits"] >= FLOOD_JOINS - MAX_PENDING, (
        f"joins beyond max_pending must count as limits: before {st0}, after {st1}")
    assert st1["bytes"] <= TRACKER_BYTES_BOUND, (
        f"the tracker holds {st1['bytes']} bytes after {FLOOD_JOINS} joins "
        f"(bound {TRACKER_BYTES_BOUND})")
    assert_rooms(a, {}, when="after the join flood (nothing answered yet)")
    clear_inbox(component)

    # 2. the "MUC" answers ANSWERS of the joins and forges FORGED
    # self-presences from rooms alice never asked, while bob uses the real
    # MUC
    t1 = time.monotonic()
    flood = [self_presence(f"{wroom(i)}/alice", a.jid) for i in range(ANSWERS)]
    flood += [self_presence(f"forged{i}@{SCRIPTED}/alice", a.jid) for i in range(FORGED)]
    flood += [self_presence(f"forged{i}@{SCRIPTED}/alice", a.jid, type_="unavailable",
                            codes=("110", "307")) for i in range(0, FORGED, 10)]
    mark = a.mark()
    send_chunks(component, flood)
    # the last forged presence reaching alice means everything before did
    last = f"forged{(FORGED - 1) // 10 * 10}@{SCRIPTED}" if FORGED else wroom(ANSWERS - 1)
    last_type = "unavailable" if FORGED else None

    def flood_over(s):
        return is_presence(s, frm_bare=last, type_=last_type)

    # another client is served meanwhile
    r = room()
    tb = time.monotonic()
    b.join(r, "Bob")
    t_bob = time.monotonic() - tb
    assert_rooms(b, {r: "Bob"}, when="bob joined a real room during the flood")
    during = not a.find(flood_over, mark)
    a.wait(flood_over, mark, timeout=FLOOD_WAIT,
           what=f"the last presence of the flood (from {last})")
    t_flood = time.monotonic() - t1

    # nothing wrong recorded: exactly the joins the module tracked (the
    # first MAX_PENDING; the others were over the bound) are rooms now
    expected = {wroom(i): "alice" for i in range(min(MAX_PENDING, ANSWERS))}
    assert_rooms(a, expected, when="after the flood of answers and forged self-presences")
    assert during, "the flood was over before bob's join: nothing was tested concurrently"
    st2 = stats(server)
    assert st2["rooms_shown"] <= MAX_ROOMS + 1, f"rooms shown over max_rooms: {st2}"
    assert st2["forged"] - st1["forged"] >= ANSWERS - MAX_PENDING + FORGED, (
        f"unsolicited self-presences must be counted as forged: before {st1}, after {st2}")
    assert st2["bytes"] <= TRACKER_BYTES_BOUND, f"tracker bytes after the flood: {st2}"
    rss1 = rss_mib(server)
    assert rss1 - rss0 <= RSS_GROWTH_BOUND_MIB, (
        f"Prosody's RSS grew from {rss0:.0f} to {rss1:.0f} MiB")
    assert t_bob < 30, f"bob waited {t_bob:.1f}s for his join during the flood"
    print(f"\nflood: {FLOOD_JOINS} joins in {t_joins:.1f}s, {len(flood)} answers/forged in "
          f"{t_flood:.1f}s; bob's join {t_bob:.2f}s; tracker {st2['bytes']} bytes; "
          f"Prosody RSS {rss0:.0f} -> {rss1:.0f} MiB")

    # 3. alice leaves the rooms she is in; the rest of the cleanup
    # (Prosody's unavailable to each directed JID) happens at disconnect
    for i in range(min(MAX_PENDING, ANSWERS)):
        a.send(f"<presence type='unavailable' to='{wroom(i)}/alice'/>")
    clear_inbox(component)


def test_server_keeps_serving_after_the_flood(connect, server, room):
    """Fresh clients join, change nick and leave on the real MUC as usual
    once the flood is over (while alice's disconnect may still be sending
    Prosody's unavailable to each of her 100,000 directed JIDs)."""
    # Prosody may still be sending alice's unavailable to each of the
    # FLOOD_JOINS JIDs she sent presence to (its own cost: see
    # FLOOD_JOINS); its admin shell answers once it is done
    t0 = time.monotonic()
    rc, out = server.admin("server:version()", timeout=FLOOD_WAIT)
    assert rc == 0, f"the admin shell after the flood: {out}"
    print(f"\nProsody answered its admin shell {time.monotonic() - t0:.1f}s after the flood test")
    c = connect("carol")
    d = connect("dave")
    r = room()
    c.join(r, "Carol")
    d.join(r, "Dave")
    assert_rooms(c, {r: "Carol"}, when="after a join following the flood")
    c.change_nick(r, "Caroline")
    assert_rooms(c, {r: "Caroline"}, when="after a nick change following the flood")
    c.leave(r, "Caroline")
    d.leave(r, "Dave")
    assert_rooms(c, {}, when="after leaving")
    assert_rooms(d, {}, when="after leaving")
    assert r.endswith(MUC)

"""Admin shell (docs/semantics.md §7): list a user's sessions with rooms,
nicks, states and since when; totals. Commands as the module documents them
(lua/shell.lib.lua): muc_joins:list(jid), muc_joins:stats([host])."""

import re
import subprocess
import time

import pytest

from harness import PROSODYCTL, Client, HarnessError, joined, sroom, start_join, tracker_stats

# test_loaded_globally_is_refused_and_the_virtualhost_keeps_it
EXPECTED_ERRORS = [r"Error initializing module 'track_muc_joins' on '\*': Not loaded globally",
                   r"Error initializing module 'test_depends_on_tracker' on '\*': "
                   r".*Unable to load required module, mod_track_muc_joins: Not loaded globally"]

CHURN = 60        # sessions connected and disconnected by the leak test
CHURN_BUDGET = 90  # seconds it may take


def test_list_shows_sessions_rooms_nicks_and_states(connect, component, server, room):
    a = connect("alice")
    r_local = room()
    a.join(r_local, "Alice")
    r_joined, r_pending = sroom(room), sroom(room)
    joined(a, component, r_joined, "Scripted Alice")
    start_join(a, component, r_pending, "Waiting")
    rc, out = server.admin(f"muc_joins:list({a.bare!r})")
    assert rc == 0, f"muc_joins:list failed ({rc}):\n{out}"
    missing = [w for w in (a.jid, r_local, "Alice", r_joined, "Scripted Alice", r_pending,
                           "Waiting", "joined", "pending", "since") if w not in out]
    assert not missing, f"muc_joins:list({a.bare!r}) lacks {missing}:\n{out}"
    rc, out = server.admin(f"muc_joins:list({a.jid!r})")
    assert rc == 0 and r_local in out, f"muc_joins:list of one full JID:\n{out}"


def test_stats_totals(connect, server, room):
    a = connect("alice")
    a.join(room(), "Alice")
    rc, out = server.admin("muc_joins:stats()")
    assert rc == 0, f"muc_joins:stats failed ({rc}):\n{out}"
    assert "localhost" in out and "room" in out, f"muc_joins:stats():\n{out}"


def test_odd_arguments_give_a_clear_answer(server):
    """Not a JID, a host in capitals: an answer, not a raw Lua error."""
    for call in ("muc_joins:list(123)", "muc_joins:list({})", "muc_joins:list()"):
        rc, out = server.admin(call)
        assert "Invalid JID" in out and "util/jid" not in out, f"{call}:\n{out}"
    rc, out = server.admin("muc_joins:list()")
    assert "none given" in out, f"muc_joins:list():\n{out}"
    # with a dot, the JID comes as self: said so, not "none given"
    rc, out = server.admin("muc_joins.list('alice@localhost')")
    assert "with a colon: muc_joins:list(\"alice@localhost\")" in out, out
    rc, out = server.admin("muc_joins.stats('localhost')")
    assert "with a colon: muc_joins:stats(\"localhost\")" in out, out
    # not a string: not "No such host: table: 0x..."; a long argument
    # quoted in part only
    for arg in ("{}", "true", "42"):
        rc, out = server.admin(f"muc_joins:stats({arg})")
        assert "Invalid host: " in out and "No such host" not in out, f"stats({arg}):\n{out}"
    rc, out = server.admin("muc_joins:list('alice@localhost/' .. ('x'):rep(5000))")
    assert "Invalid JID: alice@localhost/xxx" in out and "(5016 bytes)" in out \
        and len(out) < 300, out
    rc, out = server.admin("muc_joins:stats('LOCALHOST')")
    assert rc == 0 and "on 1 host" in out, f"muc_joins:stats('LOCALHOST'):\n{out}"
    rc, out = server.admin("muc_joins:stats('a@b')")
    assert "Invalid host" in out, f"muc_joins:stats('a@b'):\n{out}"
    # a host the server does not serve: said so, not "0 rooms on 0 hosts",
    # and a bare word given to list() is no host either
    rc, out = server.admin("muc_joins:stats('nohost.example')")
    assert "No such host: nohost.example" in out and "0 hosts" not in out, \
        f"muc_joins:stats('nohost.example'):\n{out}"
    rc, out = server.admin("muc_joins:list('nobody')")
    assert "No such host: nobody" in out, f"muc_joins:list('nobody'):\n{out}"
    # a served host without a user: no "0 sessions, 0 rooms" (read as
    # "nobody there is in a room"), with or without a resource
    for arg in ("localhost", "localhost/res"):
        rc, out = server.admin(f"muc_joins:list({arg!r})")
        assert "Not a user's JID" in out and "0 sessions" not in out, \
            f"muc_joins:list({arg!r}):\n{out}"


def restore_rooms(server, full_jid, n, prefix):
    """n rooms put straight into the tracker for full_jid (a session of
    the server), as a reload restores them: t:restore() through the admin
    shell's Lua (a thousand real joins would take minutes)."""
    rc, out = server.admin(
        ">local env = prosody.hosts.localhost.modules.track_muc_joins; "
        "local t = env.module:shared('/*/track_muc_joins/trackers').localhost(); "
        f"for i = 1, {n} do assert(t:restore({full_jid!r}, "
        f"'{prefix}' .. i .. '@scripted.localhost', 'joined', 'N' .. i, nil, 0)) end "
        "return 'restored'")
    assert "restored" in out, f"restoring {n} rooms:\n{out}"


def room_lines(out):
    return [ln for ln in out.splitlines() if re.match(r"^\s+joined\s", ln)]


def test_list_prints_at_most_the_lines_asked(connect, server, room):
    """An account may have any number of sessions (Prosody sets no bound),
    each up to max_rooms + max_pending rooms, and every line printed costs
    the server ~40 us while every client waits: list() printed them all
    (a user's 100 sessions of 2000 rooms: 8 s, 18 MB). It prints at most
    1000 lines unless given more, says what it left out and how to see
    more; a bad number of lines is an answer, not a Lua error."""
    a1 = connect("alice", "lines-1")
    a2 = connect("alice", "lines-2")
    assert a1.jid < a2.jid  # list() shows them in this order
    restore_rooms(server, a1.jid, 3, "few")
    restore_rooms(server, a2.jid, 1500, "many")
    rc, out = server.admin(f"muc_joins:list({a1.bare!r})")
    assert rc == 0 and len(room_lines(out)) == 998, f"muc_joins:list({a1.bare!r}):\n{out[-2000:]}"
    # the way to see more, as typed: the call, or words on 13's command line
    assert f"505 more rooms of {a2.jid} not shown" in out \
        and (f"muc_joins:list({a1.bare!r}, 10000)".replace("'", '"') in out
             or f"muc_joins list {a1.bare} 10000" in out), out[-2000:]
    rc, out = server.admin(f"muc_joins:list({a1.bare!r}, 5000)")
    assert rc == 0 and len(room_lines(out)) == 1503 and "2 sessions, 1503 rooms" in out, \
        f"muc_joins:list({a1.bare!r}, 5000):\n{out[-2000:]}"
    # cut between two sessions: the second one not even read
    rc, out = server.admin(f"muc_joins:list({a1.bare!r}, 4)")
    assert rc == 0 and len(room_lines(out)) == 3 and a2.jid not in out \
        and "2 sessions, 4 lines shown (the rooms of the first 1)" in out, \
        f"muc_joins:list(.., 4):\n{out}"
    rc, out = shell_words(server, "muc_joins", "list", a1.bare, "2")
    assert rc == 0 and len(room_lines(out)) == 1 and f"2 more rooms of {a1.jid}" in out, \
        f"muc_joins list {a1.bare} 2:\n{out}"
    for bad in ("0", "-1", "1.5", "'many'", "{}", "0/0"):
        rc, out = server.admin(f"muc_joins:list({a1.bare!r}, {bad})")
        assert "Invalid number of lines" in out and "traceback" not in out, \
            f"muc_joins:list(.., {bad}):\n{out}"
    rc, out = server.admin(f"muc_joins:list({a1.bare!r}, 1/0)")
    assert rc == 0 and len(room_lines(out)) == 1503, f"muc_joins:list(.., 1/0):\n{out[-2000:]}"


def test_room_lists_the_sessions_in_a_room(connect, component, server, room):
    """muc_joins:room(room): who of this server is in a room, with nicks,
    without walking every session's rooms (list() is per user); a join in
    flight is not shown (rooms_joined does not show it)."""
    a1 = connect("alice", "room-1")
    a2 = connect("alice", "room-2")
    b = connect("bob")
    r = room()
    a1.join(r, "Alice")
    b.join(r, "Bob")
    a2.join(room(), "Elsewhere")
    s = sroom(room)
    joined(a1, component, s, "Scripted Alice")
    start_join(a2, component, s, "Waiting")
    rc, out = server.admin(f"muc_joins:room({r!r})")
    assert rc == 0 and f"2 sessions in {r}" in out, f"muc_joins:room({r!r}):\n{out}"
    lines = [ln.split() for ln in out.splitlines() if ln.startswith(("alice@", "bob@"))]
    assert lines == [[a1.jid, "Alice"], [b.jid, "Bob"]], f"muc_joins:room({r!r}):\n{out}"
    # any spelling of the room, and an occupant's JID names its room
    rc, out = server.admin(f"muc_joins:room({(r.upper() + '/Someone')!r})")
    assert rc == 0 and f"2 sessions in {r}" in out, out
    rc, out = server.admin(f"muc_joins:room({s!r})")
    assert rc == 0 and f"1 session in {s}" in out and a1.jid in out and a2.jid not in out, out
    rc, out = server.admin(f"muc_joins:room({r!r}, 1)")
    assert rc == 0 and a1.jid in out and b.jid not in out and "1 more sessions not shown" in out \
        and "2 sessions in" in out, out
    rc, out = shell_words(server, "muc_joins", "room", r, "1")
    assert rc == 0 and "1 more sessions not shown" in out, out
    rc, out = server.admin("muc_joins:room('nobody-here@conference.localhost')")
    assert rc == 0 and "0 sessions in nobody-here@conference.localhost" in out, out
    for call in ("muc_joins:room()", "muc_joins:room(42)", "muc_joins:room('conference.localhost')",
                 "muc_joins:room('a@b@c')"):
        rc, out = server.admin(call)
        assert "Invalid room JID" in out and "traceback" not in out, f"{call}:\n{out}"
    rc, out = server.admin(f"muc_joins:room({r!r}, 0)")
    assert "Invalid number of lines" in out, out
    rc, out = server.admin("help muc_joins")
    assert "muc_joins:room(room" in out or "muc_joins room <room>" in out, out


def test_a_reload_after_an_upgrade_adds_the_new_commands(connect, server, room):
    """Prosody 13: the commands are items added once, by the first load;
    a reload keeps them (open shell sessions hold them). A reload after
    an upgrade that brings a command must add it: here the items as an
    earlier version left them, without room(). (0.12 writes its shared
    environment at every load.)"""
    rc, out = server.admin(
        ">local s = prosody.hosts.localhost.modules.track_muc_joins.module:shared("
        "'/*/track_muc_joins/shell'); if not s.items then return 'no items' end; "
        "for i, item in ipairs(s.items) do if item.name == 'room' then "
        "s.ctx:remove_item('shell-command', item); table.remove(s.items, i); "
        "return 'removed' end end")
    assert "removed" in out or "no items" in out, out
    rc, out = server.admin("module:reload('track_muc_joins', 'localhost')")
    assert rc == 0, out
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    rc, out = shell_words(server, "muc_joins", "room", r)
    assert rc == 0 and a.jid in out and f"1 session in {r}" in out, out


def help_lists(server, out):
    """Whether out is the module's help of its section, in the form
    Prosody's own help takes on this command line: Prosody 13 writes the
    commands as they are typed there (`c2s show <jid>`, not `c2s:show(jid)`,
    as 0.12 does everywhere)."""
    rc, own = server.admin("help c2s")
    if "c2s show <jid>" in own:
        return "muc_joins list <jid>" in out and "muc_joins stats [<host>]" in out \
            and "muc_joins:list(" not in out
    assert "c2s:show(" in own, f"help c2s:\n{own}"
    return "muc_joins:list(jid" in out and "muc_joins:stats([host])" in out


def test_help_names_the_commands(server):
    """`help muc_joins`: Prosody's own help reads its topic with %w+ and
    showed the `muc` section (0.12 and 13); the module answers it."""
    rc, out = server.admin("help muc_joins")
    assert rc == 0 and help_lists(server, out) \
        and "muc:create" not in out and "Help: muc\n" not in out, f"help muc_joins:\n{out}"
    rc, out = server.admin("help muc")
    assert "muc_joins:list" not in out and "muc_joins list" not in out and "muc" in out, \
        f"help muc:\n{out}"


def shell_words(server, *words):
    """`prosodyctl shell word word ...`, each word its own argument: (exit
    code, output)."""
    r = subprocess.run([PROSODYCTL, "--config", str(server.config_path), "shell", *words],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def test_commands_as_separate_words_on_the_command_line(connect, server, room):
    """`prosodyctl shell muc_joins list alice@localhost`, the words unquoted:
    Prosody 0.12's prosodyctl sends the call muc_joins:list("alice@localhost")
    (help:muc_joins() for `help muc_joins`), Prosody 13's a table constructor
    {"muc_joins", "list", "alice@localhost"}, which its shell dispatches to
    the shell-command items; the same answers either way."""
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    rc, out = shell_words(server, "muc_joins", "list", a.bare)
    assert rc == 0 and a.jid in out and r in out and "Alice" in out, \
        f"muc_joins list {a.bare}:\n{out}"
    rc, out = shell_words(server, "muc_joins", "list", a.jid)
    assert rc == 0 and r in out and "OK: 1 session" in out, f"muc_joins list {a.jid}:\n{out}"
    rc, out = shell_words(server, "muc_joins", "stats", "localhost")
    assert rc == 0 and "on 1 host" in out, f"muc_joins stats localhost:\n{out}"
    rc, out = shell_words(server, "muc_joins", "stats")
    assert rc == 0 and "rooms_shown" in out, f"muc_joins stats:\n{out}"
    rc, out = shell_words(server, "help", "muc_joins")
    assert rc == 0 and help_lists(server, out) and "muc:create" not in out, \
        f"help muc_joins:\n{out}"


def test_help_with_a_command_name_and_on_the_command_line(server):
    """`help muc_joins list` shows the section, as `help c2s show` shows c2s
    (Prosody's help reads the first word: it showed the `muc` section), in
    every form: typed, quoted on the command line, as separate words
    (0.12's prosodyctl sends help:muc_joins("list"), 13's a table
    constructor). On the command line, Prosody 13 writes its commands as
    they are typed there (`c2s show <jid>`, not `c2s:show(jid)`): the
    module's help takes the same form (help_lists())."""
    for call in (lambda: server.admin("help muc_joins list"),
                 lambda: shell_words(server, "help", "muc_joins", "list"),
                 lambda: server.admin("help:muc_joins('list')")):
        rc, out = call()
        assert rc == 0 and help_lists(server, out) and "muc:create" not in out \
            and "muc create" not in out and "Help: muc\n" not in out, f"help muc_joins list:\n{out}"


def test_no_jid_on_the_command_line_names_the_command_as_typed_there(server):
    """`prosodyctl shell muc_joins list` without a JID: the answer names the
    command as it is typed where it was (Prosody 13's command line sends the
    words, marked repl="0": `muc_joins list user@host`; 0.12's sends the
    call muc_joins:list())."""
    rc, own = server.admin("help c2s")
    rc, out = shell_words(server, "muc_joins", "list")
    assert "none given" in out, f"muc_joins list:\n{out}"
    if "c2s show <jid>" in own:  # Prosody 13
        assert "muc_joins list user@host" in out and "muc_joins:list(" not in out, \
            f"muc_joins list:\n{out}"
    else:
        assert 'muc_joins:list("user@host")' in out, f"muc_joins list:\n{out}"


stats = tracker_stats  # muc_joins:stats('localhost')


def test_connects_and_disconnects_leave_no_session(lt, connect, component, server, room):
    """After resource-unbind closed a session in the
    tracker, Prosody's mod_presence sends its unavailable from the same
    session; that must not create a new, empty session nothing closes.
    Real clients join rooms (Prosody's MUC and the scripted one), or only
    send presence, or nothing, then disconnect (stream close, or the TCP
    connection lost); afterwards the tracker holds no session and no
    room."""
    rooms = [room() for _ in range(3)]
    t0 = time.monotonic()
    for i in range(CHURN):
        c = Client(lt, server, "alice", f"churn-{i}").connect(initial_presence=i % 4 != 3)
        try:
            if i % 4 == 0:
                c.join(rooms[i % 3], f"Churn{i}")
            elif i % 4 == 1:
                c.join(rooms[i % 3], f"Churn{i}")
                joined(c, component, sroom(room), f"Scripted{i}")
            elif i % 4 == 3:
                # no broadcast presence: only the directed one to the room
                c.join(rooms[i % 3], f"Quiet{i}")
        finally:
            if i % 5 == 4:
                c.drop()  # connection lost, no stream close
            else:
                c.disconnect()
        assert time.monotonic() - t0 < CHURN_BUDGET, f"{i + 1} connects took too long"
    # a dropped connection is noticed when Prosody reads the closed socket
    deadline = time.monotonic() + 15
    while True:
        s = stats(server)
        if s["sessions"] == 0 and s["rooms_shown"] == 0:
            break
        if time.monotonic() > deadline:
            raise HarnessError(f"after {CHURN} connects and disconnects the tracker still "
                               f"holds {s['sessions']} sessions and {s['rooms_shown']} rooms "
                               f"(expected 0 and 0): stats {s}")
        time.sleep(0.5)
    assert s["joins"] >= CHURN * 3 // 4, s
    print(f"{CHURN} sessions in {time.monotonic() - t0:.1f}s: stats {s}")


def one_shell_session(server, script):
    """The lines of script typed into one `prosodyctl shell` session: its
    output (stdout and stderr)."""
    r = subprocess.run([PROSODYCTL, "--config", str(server.config_path), "shell"],
                       input=script, capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def test_commands_survive_a_reload_in_an_open_shell_session(server):
    """One admin shell session across a reload of the module: the commands
    still answer (Prosody 13's shell keeps the section table it started
    with: the reload must not remove and re-add the commands)."""
    out = one_shell_session(server, "muc_joins:stats()\n"
                                    "module:reload('track_muc_joins', 'localhost')\n"
                                    "muc_joins:stats()\n")
    assert out.count("rooms shown on 1 host") == 2, out


def test_an_upgrade_reload_in_an_open_shell_session_keeps_the_commands(server):
    """The shell session an operator reloads the module in, after an
    upgrade that brings a command (here the commands as an earlier version
    left them, without room()): it has every command of the new version
    after the reload, not none (Prosody 13: removing the earlier items
    first deleted the section table the session holds) nor the earlier
    ones only (0.12: a new table in the shared environment, the session
    holding the earlier one)."""
    rc, out = server.admin(
        ">local m = prosody.hosts.localhost.modules.track_muc_joins.module; "
        "local s = m:shared('/*/track_muc_joins/shell'); "
        "if not s.items then local env = m:shared('/*/admin_shell/env'); "
        "env.muc_joins = { list = env.muc_joins.list, stats = env.muc_joins.stats }; "
        "return 'replaced' end; "
        "for i, item in ipairs(s.items) do if item.name == 'room' then "
        "s.ctx:remove_item('shell-command', item); table.remove(s.items, i); "
        "return 'removed' end end")
    assert "removed" in out or "replaced" in out, out
    out = one_shell_session(server, "module:reload('track_muc_joins', 'localhost')\n"
                                    "muc_joins:stats()\n"
                                    "muc_joins:room('room@conference.localhost')\n")
    assert "rooms shown on 1 host" in out and "0 sessions in room@conference.localhost" in out, out


# The commands as an earlier version left them, as many as now (Prosody 13:
# the items; 0.12: the shared environment's section): room() named
# rooms(), or list() without its lines argument.
EARLIER_COMMANDS = {
    "renamed": (
        "local old = {}; for k, v in pairs(item) do old[k] = v end; old.name = 'rooms'; ",
        "room"),
    "args": (
        "local old = {}; for k, v in pairs(item) do old[k] = v end; "
        "old.args = { { name = 'jid', type = 'string' } }; ",
        "list"),
    # the same command, another version's handler (only its code differs)
    "version": (
        "local old = {}; for k, v in pairs(item) do old[k] = v end; "
        "old.mucjoins_version = '0.0.1'; "
        "old.handler = function() return true, 'an earlier handler' end; ",
        "room"),
}


@pytest.mark.parametrize("change", sorted(EARLIER_COMMANDS))
def test_an_upgrade_reload_replaces_as_many_commands_that_differ(server, change):
    """A reload after an upgrade whose commands are as many as the earlier
    version's but differ (a command renamed, an argument added, only the
    handler's code): Prosody 13 keeps the items of the first load across
    reloads, and the earlier ones were replaced only when their count
    changed; they are now compared by name, arguments, help line and the
    version that made them. (0.12 fills its section in again at every
    load.)"""
    copy, name = EARLIER_COMMANDS[change]
    rc, out = server.admin(
        ">local m = prosody.hosts.localhost.modules.track_muc_joins.module; "
        "local s = m:shared('/*/track_muc_joins/shell'); "
        "if not s.items then local env = m:shared('/*/admin_shell/env'); "
        "env.muc_joins = { list = env.muc_joins.list, stats = env.muc_joins.stats, "
        "rooms = env.muc_joins.room }; return 'environment' end; "
        f"for i, item in ipairs(s.items) do if item.name == {name!r} then {copy}"
        "s.ctx:remove_item('shell-command', item); s.ctx:add_item('shell-command', old); "
        "s.items[i] = old; return 'items' end end")
    assert "items" in out or "environment" in out, out
    items = "items" in out
    # the section in mod_admin_shell's environment (shared on both versions)
    section = ("local e = prosody.hosts.localhost.modules.track_muc_joins.module:shared("
               "'/*/admin_shell/env').muc_joins; ")
    shown = (">" + section + "return 'rooms=' .. tostring(e.rooms ~= nil) .. "
             "' room=' .. tostring(e.room ~= nil)")
    rc, out = server.admin(shown)
    if change == "renamed":
        assert "rooms=true room=false" in out, f"the earlier commands are not in place: {out}"
    rc, out = server.admin("module:reload('track_muc_joins', 'localhost')")
    assert rc == 0, out
    rc, out = server.admin(shown)
    assert "rooms=false room=true" in out, f"rooms() and room() after the reload: {out}"
    rc, out = server.admin("muc_joins:room('room@conference.localhost')")
    assert "0 sessions in room@conference.localhost" in out, out
    if items:
        rc, out = server.admin(">" + section + "local n = {}; for _, a in ipairs("
                               "getmetatable(e).help.commands.list.args) do n[#n + 1] = a.name end; "
                               "return 'list args: ' .. table.concat(n, ',')")
        assert "list args: jid,lines" in out, out
        rc, out = server.admin(
            ">local s = prosody.hosts.localhost.modules.track_muc_joins.module:shared("
            "'/*/track_muc_joins/shell'); local n = {}; for _, item in ipairs(s.items) do "
            "n[#n + 1] = item.name .. '/' .. #item.args end; return 'items: ' .. table.concat(n, ' ')")
        assert "items: list/2 room/2 stats/1" in out, out


def test_loaded_on_a_component_says_it_tracks_nothing_there(server):
    """The module follows VirtualHosts' client sessions: loaded on the MUC
    component it would track nothing while its load line says it tracks;
    it warns and sets nothing up (muc_joins:stats() listed the component
    as a host), and unloading it there leaves the VirtualHost's alone."""
    offset = server.log_size()
    rc, out = server.admin('module:load("track_muc_joins", "conference.localhost")')
    assert rc == 0, f"module:load on the component:\n{out}"
    try:
        log = server.wait_log("tracks nothing here", offset=offset)
        assert "Loaded on conference.localhost, a component" in log, server.log_tail(40, offset)
        rc, out = server.admin("muc_joins:stats()")
        assert rc == 0 and "rooms shown on 1 host" in out, f"muc_joins:stats():\n{out}"
        for call in ("muc_joins:stats('conference.localhost')",
                     "muc_joins:list('room@conference.localhost')"):
            rc, out = server.admin(call)
            assert "conference.localhost is not a VirtualHost (a component)" in out, \
                f"{call}:\n{out}"
    finally:
        rc, out = server.admin('module:unload("track_muc_joins", "conference.localhost")')
        assert rc == 0, f"module:unload on the component:\n{out}"
    rc, out = server.admin("muc_joins:stats('localhost')")
    assert rc == 0 and "localhost" in out, f"the VirtualHost's module after the unload:\n{out}"
    assert not server.errors_in_log(offset), server.errors_in_log(offset)


def test_loaded_globally_is_refused_and_the_virtualhost_keeps_it(server):
    """module:load on "*": a global load sees no client session, and while
    it is loaded there Prosody loads the module on no VirtualHost
    (global-module-already-loaded: a reload of the VirtualHost's ended
    it). Refused, in one line that says why and where to load it; the
    VirtualHost's load goes on and reloads."""
    offset = server.log_size()
    rc, out = server.admin('module:load("track_muc_joins", "*")')
    assert rc != 0 and "Not loaded globally (on *)" in out, f"module:load on *:\n{out}"
    log = server.wait_log("Not loaded globally", offset=offset)
    lines = [ln for ln in log.splitlines() if "Not loaded globally" in ln]
    assert len(lines) == 1 and "modules_enabled" in lines[0], log[-3000:]
    assert "stack traceback" not in log, log[-3000:]
    rc, out = server.admin('module:reload("track_muc_joins", "localhost")')
    assert rc == 0, f"module:reload on the VirtualHost after the load on *:\n{out}"
    rc, out = server.admin("muc_joins:stats()")
    assert rc == 0 and "rooms shown on 1 host" in out, f"muc_joins:stats():\n{out}"


def test_a_module_that_depends_on_it_globally_gets_the_reason(server):
    """A module loaded on * that needs the tracker (module:depends, a
    global module's): the tracker's load is refused, and Prosody's
    depends() builds its own error from the refusal with string methods
    (err:gsub): the refusal must read as its text there, not raise
    'attempt to call a nil value (method 'gsub')' in the other module's
    load, which hid the reason."""
    offset = server.log_size()
    rc, out = server.admin('module:load("test_depends_on_tracker", "*")')
    assert rc != 0, f"module:load of the dependent on *:\n{out}"
    assert "Unable to load required module, mod_track_muc_joins: Not loaded globally" in out, \
        f"module:load of the dependent on *:\n{out}"
    log = server.wait_log("Error initializing module 'test_depends_on_tracker'", offset=offset)
    assert "gsub" not in log and "Not loaded globally" in log, log[-3000:]
    rc, out = server.admin("muc_joins:stats()")
    assert rc == 0 and "rooms shown on 1 host" in out, f"muc_joins:stats():\n{out}"
    assert not server.errors_in_log(offset), server.errors_in_log(offset)


def test_commands_answer_in_a_shell_session_opened_before_the_load(server):
    """An admin shell session opened before the module was loaded (the
    admin types module:load and then the command): Prosody gives a
    session its own copy of each command section only when it starts, so
    the handlers get no shell session of their own; they answer anyway,
    with the lines in the result (they raised "attempt to index a nil value
    (field 'session')"). Last in the file: the tracker starts afresh."""
    rc, out = server.admin("module:unload('track_muc_joins', 'localhost')")
    assert rc == 0, out
    out = one_shell_session(server, "module:load('track_muc_joins', 'localhost')\n"
                                    "muc_joins:stats()\n"
                                    "muc_joins:list('nobody@localhost')\n")
    assert "attempt to index" not in out, out
    assert "rooms shown on 1 host" in out, out
    assert "OK: 0 sessions, 0 rooms" in out, out
    # unloaded in a session that started with the commands: said so (0.12,
    # where the session keeps them), not "0 rooms shown on 0 hosts"; or
    # gone from it (13); loaded again for what follows
    out = one_shell_session(server, "module:unload('track_muc_joins', 'localhost')\n"
                                    "muc_joins:stats()\n"
                                    "module:load('track_muc_joins', 'localhost')\n")
    assert "0 hosts" not in out, out
    assert "not loaded on any host" in out or "nil value" in out, out

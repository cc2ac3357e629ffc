"""A reload after mucjoins.so was replaced (make, make install, a new
file at the same path): Lua keeps the library it loaded first, by path,
so the reloaded module runs the old mucjoins.so with the new Lua files
(README.md, "Upgrading": restart Prosody). The load says so, at warn; a
reload of the same file says nothing. The plugin folder is a private
copy (test_incomplete_plugin_folder.py's server, with every file)."""

import contextlib
import os
import shutil

import harness
from test_incomplete_plugin_folder import IncompleteServer

WARNING = "was replaced since Prosody loaded it"


def test_a_reload_after_the_binding_was_replaced_says_restart(lt):
    srv = IncompleteServer(())
    try:
        srv.start()
        off = srv.log_size()
        rc, out = srv.admin('module:reload("track_muc_joins", "localhost")')
        assert rc == 0, f"module:reload:\n{out}"
        log = srv.wait_log("tracking MUC joins", offset=off)
        assert WARNING not in log, "a reload of the same file warned:\n" + log[-2000:]
        # replaced as make install does it: a new file, renamed over the old
        so = srv.folder / "mucjoins.so"
        shutil.copyfile(so, str(so) + ".new")
        os.rename(str(so) + ".new", so)
        off = srv.log_size()
        rc, out = srv.admin('module:reload("track_muc_joins", "localhost")')
        assert rc == 0, f"module:reload after the file was replaced:\n{out}"
        log = srv.wait_log(WARNING, offset=off)
        lines = [ln for ln in log.splitlines() if WARNING in ln]
        assert len(lines) == 1 and "\twarn\t" in lines[0], log[-2000:]
        assert str(so) in lines[0] and "restart Prosody" in lines[0], lines[0]
        assert "tracking MUC joins" in srv.wait_log("tracking MUC joins", offset=off), \
            "the reload did not load"
    finally:
        srv.stop()
        srv.cleanup()


def _join_is_tracked(lt, srv, room, user, nick, res):
    """A new session of user joins a new room as nick: rooms_joined shows it."""
    c = harness.Client(lt, srv, user, res).connect()
    try:
        r = room()
        c.join(r, nick)
        assert dict(c.rooms()) == {r: nick}, c.rooms().describe()
    finally:
        c.disconnect()


OLD_MODULE = """-- an earlier version of the module, as far as this test needs: it loads
-- its mucjoins.so (one without an interface number) and says so
local open = assert(package.loadlib(module:get_directory() .. "/mucjoins.so", "luaopen_mucjoins"))
local mj = open()
module:log("info", "earlier version %s loaded", mj.version)
"""


def test_an_upgrade_reloaded_without_a_restart_is_refused_until_the_restart(lt, room):
    """Prosody runs an earlier version (its mucjoins.so has no interface
    number, tests/lua/old_binding.c); the folder is upgraded in place and
    the module reloaded: Lua gives the new Lua files the library it loaded
    first. The load is refused in one line that says to restart, nothing
    is hooked, the server goes on; after the restart the module tracks."""
    srv = IncompleteServer(())
    real = srv.folder / "mucjoins.so"
    saved = srv.folder.parent / "new"
    saved.mkdir()
    for f in srv.folder.iterdir():
        shutil.copy2(f, saved / f.name)
    # the earlier version: its own Lua file and library
    old_so = harness.REPO / "build" / "tests" / "old-binding" / "none" / "mucjoins.so"
    shutil.copyfile(old_so, real)
    (srv.folder / "mod_track_muc_joins.lua").write_text(OLD_MODULE)
    try:
        srv.start()
        assert "earlier version 0.0.1 loaded" in srv.wait_log("earlier version 0.0.1 loaded")
        # make install: new files renamed over the old ones
        for f in saved.iterdir():
            shutil.copy2(f, str(srv.folder / f.name) + ".new")
            os.rename(str(srv.folder / f.name) + ".new", srv.folder / f.name)
        off = srv.log_size()
        rc, out = srv.admin('module:reload("track_muc_joins", "localhost")')
        log = srv.wait_log("Error initializing module 'track_muc_joins'", offset=off)
        lines = [ln for ln in log.splitlines() if "track_muc_joins" in ln and "\tdebug\t" not in ln]
        refusal = [ln for ln in lines if "Error initializing module" in ln]
        assert len(refusal) == 1, "expected one refusal:\n" + "\n".join(lines)
        line = refusal[0]
        assert "interface none, they need 1" in line and "restart Prosody" in line, line
        assert "stack traceback" not in log, "a traceback was logged:\n" + log[-3000:]
        a = harness.Client(lt, srv, "alice", "upgrade").connect()
        try:
            r = room()
            a.join(r, "Alice")
            got = a.rooms()
            assert not got.tracker_loaded and dict(got) == {}, got.describe()
        finally:
            a.disconnect()
        # the restart loads the new library
        srv.stop()
        off = srv.log_size()
        srv.launch()
        assert "tracking MUC joins" in srv.wait_log("tracking MUC joins", offset=off), \
            srv.log_tail(offset=off)
        _join_is_tracked(lt, srv, room, "alice", "Alice", "restarted")
    finally:
        srv.stop()
        srv.cleanup()
        shutil.rmtree(saved, ignore_errors=True)


ABORTED = "Not reloaded, the loaded version goes on running: "


def _reload_is_aborted(srv, off):
    """The reload since off was aborted by the running module's save():
    Prosody's two warnings, the first with the reason; the reason line."""
    log = srv.wait_log("Aborting reload due to error", offset=off)
    lines = [ln for ln in log.splitlines() if ABORTED in ln]
    assert len(lines) == 1 and "\twarn\t" in lines[0], "no refusal of the reload:\n" + log[-3000:]
    assert "Aborting reload due to error" in log, log[-3000:]
    assert "stack traceback" not in log, "a traceback was logged:\n" + log[-3000:]
    assert "Error initializing module" not in log, "the reload loaded:\n" + log[-3000:]
    return lines[0]


@contextlib.contextmanager
def _alice_in_a_room(lt, room, res):
    """A server with a private plugin folder, and a session of alice in a
    room: (server, client, room)."""
    srv = IncompleteServer(())
    try:
        srv.start()
        a = harness.Client(lt, srv, "alice", res).connect()
        try:
            r = room()
            a.join(r, "Alice")
            yield srv, a, r
        finally:
            a.disconnect()
    finally:
        srv.stop()
        srv.cleanup()


def _reload(srv):
    """module:reload on localhost; the log's offset before it, the shell's
    exit code and output."""
    off = srv.log_size()
    rc, out = srv.admin('module:reload("track_muc_joins", "localhost")')
    return off, rc, out


def _refused_reload(srv):
    """A reload the running module refuses: the refusal's line."""
    off, rc, out = _reload(srv)
    assert rc != 0 and "save-state-failed" in out, f"module:reload:\n{out}"
    return _reload_is_aborted(srv, off)


def _still_tracks(lt, srv, room, a, joined, res):
    """The module still runs: the first session's rooms are still shown
    and a new session's join is tracked."""
    assert dict(a.rooms()) == joined, a.rooms().describe()
    _join_is_tracked(lt, srv, room, "bob", "Bob", res)


def _reload_is_aborted_and_tracking_goes_on(lt, room, res, damage):
    """damage(srv) spoils the folder and returns the texts the refusal
    must hold and a function that repairs it. The reload is aborted, the
    module goes on; once repaired, the reload goes through, the room
    kept."""
    with _alice_in_a_room(lt, room, res) as (srv, a, r):
        said, repair = damage(srv)
        line = _refused_reload(srv)
        for text in said:
            assert text in line, f"{text!r} not in:\n{line}"
        _still_tracks(lt, srv, room, a, {r: "Alice"}, res)
        repair()
        off, rc, out = _reload(srv)
        assert rc == 0, f"module:reload after the repair:\n{out}"
        assert "tracking MUC joins" in srv.wait_log("tracking MUC joins", offset=off)
        assert dict(a.rooms()) == {r: "Alice"}, a.rooms().describe()


def test_a_reload_of_lua_files_for_another_library_is_aborted_and_tracking_goes_on(lt, room):
    """The folder's Lua files replaced by ones written for another
    mucjoins.so (here: interface 2) while Prosody runs this one: the
    running module refuses to save, Prosody aborts the reload, the module
    goes on tracking (the new load would have been refused, and the host
    left without the module)."""
    def damage(srv):
        lua = srv.folder / "mod_track_muc_joins.lua"
        text = lua.read_text()
        assert "local BINDING_INTERFACE = 1;" in text
        lua.write_text(text.replace("local BINDING_INTERFACE = 1;", "local BINDING_INTERFACE = 2;"))
        said = (f"{lua} is written for another mucjoins.so (interface 2)", "(interface 1)",
                "restart Prosody")
        return said, lambda: lua.write_text(text)
    _reload_is_aborted_and_tracking_goes_on(lt, room, "aborted", damage)


def test_a_reload_from_an_incomplete_folder_is_aborted_and_tracking_goes_on(lt, room):
    """A file gone from the folder (an operator copying a new version file
    by file): the reload is refused by the running module, which goes on;
    before, Prosody unloaded it, the new load was refused, and the saved
    state was lost."""
    def damage(srv):
        gone = srv.folder / "wake.lib.lua"
        kept = gone.read_bytes()
        gone.unlink()
        return (f"the plugin folder {srv.folder} lacks wake.lib.lua.",), lambda: gone.write_bytes(kept)
    _reload_is_aborted_and_tracking_goes_on(lt, room, "incomplete", damage)


def test_a_reload_to_a_version_needing_another_file_is_aborted(lt, room):
    """The version a reload would load needs a file this one does not
    (its own list in its folder check) and the folder lacks it: the
    running module refuses to save, naming that file (it checked its own
    list, passed the reload, and the new load was refused)."""
    def damage(srv):
        lua = srv.folder / "mod_track_muc_joins.lua"
        text = lua.read_text()
        own = '"shell.lib.lua" };'
        assert text.count(own) == 1, "the folder check's list is not where the test expects it"
        lua.write_text(text.replace(own, '"shell.lib.lua", "extra.lib.lua" };'))
        return (f"the plugin folder {srv.folder} lacks extra.lib.lua.",), lambda: lua.write_text(text)
    _reload_is_aborted_and_tracking_goes_on(lt, room, "newfile", damage)


def _loaded_from(srv, off, folder):
    """The reload since off loaded the module from folder."""
    srv.wait_log("tracking MUC joins", offset=off)
    rc, out = srv.admin(">return require'core.modulemanager'.get_module('localhost', "
                        "'track_muc_joins').module.path")
    assert str(folder) in out, f"loaded from elsewhere than {folder}:\n{out}"


def _replace_by_interface_2(so):
    """A mucjoins.so of interface 2 (tests/lua/old_binding.c) put in so's
    place, as make install does: a new file renamed over the old one."""
    shutil.copyfile(harness.REPO / "build" / "tests" / "old-binding" / "2" / "mucjoins.so",
                    str(so) + ".new")
    os.rename(str(so) + ".new", so)


def test_a_reload_back_to_a_folder_whose_library_lua_kept_is_aborted(lt, room):
    """The module ran from plugin_paths (A), a rock was installed into
    installer_plugin_path (B, searched first) and reloaded to; then A was
    upgraded to a version of another interface and the rock removed. The
    next reload loads from A again, where Lua gives the new Lua files the
    library it loaded from A first: the running module refuses to save,
    and goes on (it passed the reload, the load was refused and the host
    was left without the module)."""
    with _alice_in_a_room(lt, room, "back") as (srv, a, r):
        copy = harness.install_other_copy(srv, src=srv.folder)
        off, rc, out = _reload(srv)
        assert rc == 0, out
        _loaded_from(srv, off, copy)
        # A upgraded: Lua files and library of interface 2
        lua = srv.folder / "mod_track_muc_joins.lua"
        lua.write_text(lua.read_text().replace("local BINDING_INTERFACE = 1;",
                                               "local BINDING_INTERFACE = 2;"))
        so = srv.folder / "mucjoins.so"
        _replace_by_interface_2(so)
        shutil.rmtree(copy)
        line = _refused_reload(srv)
        assert f"{lua} is written for another mucjoins.so (interface 2)" in line, line
        assert f"runs from {so} (interface 1)" in line and "restart Prosody" in line, line
        _still_tracks(lt, srv, room, a, {r: "Alice"}, "back")


def test_a_reload_to_a_folder_whose_library_cannot_load_is_aborted(lt, room):
    """A rock installed into installer_plugin_path whose mucjoins.so
    cannot be loaded (built elsewhere, for another Lua, a file cut
    short): the running module refuses to save and goes on."""
    with _alice_in_a_room(lt, room, "broken") as (srv, a, r):
        copy = harness.install_other_copy(srv, src=srv.folder)
        (copy / "mucjoins.so").write_bytes(b"\x7fELF cut short")
        line = _refused_reload(srv)
        assert f"{copy}/mucjoins.so cannot be loaded" in line, line
        _still_tracks(lt, srv, room, a, {r: "Alice"}, "broken")


def test_a_reload_to_a_folder_mixing_builds_is_aborted_then_says_restart(lt, room):
    """A rock whose mucjoins.so is of another interface than its Lua
    files (a folder mixing builds): the running module's save() loads
    that library to ask, and refuses: copy one build. Lua keeps it: once
    the folder is whole again, the reload is still refused, now saying to
    restart (not to copy the folder again)."""
    with _alice_in_a_room(lt, room, "mixed") as (srv, a, r):
        copy = harness.install_other_copy(srv, src=srv.folder)
        so = copy / "mucjoins.so"
        good = so.read_bytes()
        _replace_by_interface_2(so)
        line = _refused_reload(srv)
        assert f"{so} is of another version than the folder's Lua files (interface 2, they need 1)" \
            in line and "copy the whole folder of one build" in line, line
        # the folder made whole: a new file
        so.unlink()
        so.write_bytes(good)
        line = _refused_reload(srv)
        assert f"runs from {so} (interface 2)" in line and "restart Prosody" in line, line
        _still_tracks(lt, srv, room, a, {r: "Alice"}, "mixed")


def test_with_force_module_reload_the_refusal_does_not_say_the_module_goes_on(lt, room):
    """force_module_reload = true: Prosody goes on with a reload whose
    save() raised, the new load is refused and the host is left without
    the module. The line save() gives says so, not that the loaded
    version goes on running."""
    srv = IncompleteServer(())
    srv.options["force_module_reload"] = True
    try:
        srv.start()
        srv.wait_log("tracking MUC joins")
        gone = srv.folder / "wake.lib.lua"
        gone.unlink()
        off = srv.log_size()
        srv.admin('module:reload("track_muc_joins", "localhost")')
        log = srv.wait_log("Error initializing module 'track_muc_joins'", offset=off)
        assert "Continuing with reload (using the force)" in log, log[-3000:]
        assert ABORTED not in log, "said the loaded version goes on:\n" + log[-3000:]
        lines = [ln for ln in log.splitlines() if "Error saving module" in ln]
        assert len(lines) == 1 and "force_module_reload is set" in lines[0] \
            and "left without the module" in lines[0] and "lacks wake.lib.lua" in lines[0], log[-3000:]
    finally:
        srv.stop()
        srv.cleanup()

"""A plugin folder without some of the module's files (an operator who
copied only mod_track_muc_joins.lua, README.md "Installing the module
into an existing Prosody"): the load stops before anything is hooked, with
one error line naming the files missing and the folder, and no Lua
traceback. Before, Prosody logged a traceback from inside its plugin
loader (naming a path under /usr/lib/prosody where the file never was),
and the hooks registered before the failing line stayed on: the module
tracked rooms_joined with no timer (no timeout, no self-ping, no shell).
The same for every combination of files, in a stub Prosody:
tests/lua/test_module_load.lua."""

import re
import shutil
import tempfile
from pathlib import Path

import harness
from harness import DOMAIN, ProsodyServer, module_dir

MISSING = ("selfping.lib.lua", "wake.lib.lua")


class IncompleteServer(ProsodyServer):
    """A Prosody whose plugin path holds a copy of the plugin folder
    without the files in `missing`."""

    def __init__(self, missing):
        super().__init__(name="incomplete",
                         expected_errors=[r"Error initializing module 'track_muc_joins'"])
        self.plugins = Path(tempfile.mkdtemp(prefix="mucjoins-it-plugins-"))
        self.folder = self.plugins / "mod_track_muc_joins"
        shutil.copytree(module_dir() / "mod_track_muc_joins", self.folder)
        for name in missing:
            (self.folder / name).unlink()

    def write_config(self):
        saved = harness.module_dir
        harness.module_dir = lambda: self.plugins
        try:
            super().write_config()
        finally:
            harness.module_dir = saved

    def cleanup(self):
        super().cleanup()
        shutil.rmtree(self.plugins, ignore_errors=True)


def test_a_folder_missing_files_stops_the_load_with_one_clear_line(lt, room):
    srv = IncompleteServer(MISSING)
    try:
        srv.start()
        log = srv.wait_log("Error initializing module 'track_muc_joins'")
        lines = [ln for ln in log.splitlines()
                 if "track_muc_joins" in ln and "\tdebug\t" not in ln]
        assert len(lines) == 1, "expected one line about the module:\n" + "\n".join(lines)
        line = lines[0]
        assert f"Error initializing module 'track_muc_joins' on '{DOMAIN}'" in line, line
        lacks = re.search(r"lacks (.*?)\. ", line)
        assert lacks and lacks.group(1) == ", ".join(MISSING), \
            f"the files missing are not named as {MISSING}:\n{line}"
        assert str(srv.folder) in line, f"the folder not named:\n{line}"
        assert "stack traceback" not in log and not re.search(r"^\t", log, re.M), \
            "a traceback was logged:\n" + log[-3000:]
        # nothing of the failed load stays hooked: a join is not tracked
        a = harness.Client(lt, srv, "alice", "incomplete").connect()
        try:
            r = room()
            a.join(r, "Alice")
            got = a.rooms()
            assert not got.tracker_loaded, got.describe()
            assert dict(got) == {} and got.table != "table", \
                f"rooms_joined written by a load that failed: {got.describe()}"
        finally:
            a.disconnect()
    finally:
        srv.stop()
        srv.cleanup()

"""A reload after mucjoins.so was replaced (make, make install, a new
file at the same path): Lua keeps the library it loaded first, by path,
so the reloaded module runs the old mucjoins.so with the new Lua files
(README.md, "Upgrading": restart Prosody). The load says so, at warn; a
reload of the same file says nothing. The plugin folder is a private
copy (test_incomplete_plugin_folder.py's server, with every file)."""

import os
import shutil

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

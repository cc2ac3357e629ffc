"""Replacing the community mod_track_muc_joins (same name, Debian's
prosody-modules) by this module with a reload: the rooms the community
module recorded in rooms_joined are adopted and kept up to date."""

import shutil
import subprocess
import tempfile
from pathlib import Path

from harness import assert_rooms, install_other_copy
from test_push import _deb  # Debian's prosody-modules .deb, cached under build/cache
from test_unload_load import wait_rooms

# short self-ping delays: the adopted rooms are checked quickly
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 0.5,
    "track_muc_joins_ping_backoff": 1,
}


def community_module_dir():
    """Debian's community mod_track_muc_joins (prosody-modules), unpacked
    privately (the .deb is downloaded once and cached, as for test_push.py)."""
    deb = _deb()
    tmp = Path(tempfile.mkdtemp(prefix="mucjoins-community-"))
    subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
    found = list(tmp.rglob("mod_track_muc_joins/mod_track_muc_joins.lua"))
    assert found, "the .deb has no community mod_track_muc_joins"
    return tmp, found[0].parent


def test_reload_from_the_community_module_adopts_its_rooms(server, connect, room):
    """The README's drop-in: the community module (same name) is running,
    its files are replaced by this module's and the operator reloads
    track_muc_joins. The community module has no module.save(), so
    Prosody calls module.restore({}): there is no tracker to take, the
    sessions' rooms_joined tables are what the community module recorded,
    and they must be adopted as after an unload/load. Otherwise they are
    never updated again: a room left stays in rooms_joined for ever."""
    tmp, src = community_module_dir()
    a = connect("alice")
    r1, r2 = room(), room()
    copy = install_other_copy(server, src)
    try:
        a.reload_module()  # now the community module runs
        a.join(r1, "Alice")
        a.join(r2, "Alice")
        got = dict(a.rooms())
        assert got == {r1: "Alice", r2: "Alice"}, (
            f"the community module did not record the joins: the test proves nothing: {got}")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    a.reload_module()  # this module again, replacing the community one
    a.leave(r1, "Alice")
    got = wait_rooms(a, {r2: "Alice"}, timeout=10)
    assert got == {r2: "Alice"}, (
        f"after replacing the community module by a reload, {r1} was left but "
        f"rooms_joined is {got}: the community module's entries were not adopted")
    assert_rooms(a, {r2: "Alice"}, when="after the leave following the reload")
    a.leave(r2, "Alice")
    assert_rooms(a, {}, when="after leaving the other room")


def test_reload_to_the_community_module_removes_the_shell_commands(server, connect, room):
    """The other way round: a reload whose next load is another module of
    the same name (the community one, found first in the plugin paths)
    ends this module on the host. Its unload was told it was a reload
    (module.save() ran) and kept the admin shell commands for its next
    load; with no such load they must go, not answer for a tracker that
    no longer exists. Reloading this module brings them back."""
    a = connect("alice")
    a.join(room(), "Alice")
    rc, out = server.admin("muc_joins:stats()")
    assert rc == 0 and " shown on 1 host" in out, out
    tmp, src = community_module_dir()
    copy = install_other_copy(server, src)
    try:
        a.reload_module()  # now the community module runs
        rc, out = server.admin("muc_joins:stats()")
        assert " shown on " not in out, (
            "mod_track_muc_joins was replaced by the community module, but its "
            f"shell command is still registered and answers:\n{out}")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    a.reload_module()  # this module again: the commands are back
    rc, out = server.admin("muc_joins:stats()")
    assert rc == 0 and " shown on 1 host" in out, out

"""Debian's mod_csi_battery_saver (prosody-modules) next to the module,
in a real Prosody (README "Mentions, CSI and push"; docs/semantics.md §7):
it asks csi-is-stanza-important about groupchat messages with a body and
follows any answer. With the community module nobody answered for
chatter and it delivered it at once: a drop-in keeps that unless the
operator sets track_muc_joins_csi_hold_chatter; a mention is delivered at
once either way. Only lua/tests/test_wake.lua checked this, outside
Prosody, with a stand-in for the module."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness import TEST_PLUGINS, ProsodyServer, module_dir, new_id, xa, xt
from test_push import _deb


@pytest.fixture(scope="module")
def battery_saver_dir():
    deb = _deb()
    tmp = Path(tempfile.mkdtemp(prefix="mucjoins-battery-saver-"))
    try:
        x = tmp / "x"
        r = subprocess.run(["dpkg", "-x", str(deb), str(x)], capture_output=True, text=True,
                           timeout=60)
        src = x / "usr" / "lib" / "prosody" / "modules" / "mod_csi_battery_saver"
        if r.returncode != 0 or not (src / "mod_csi_battery_saver.lua").is_file():
            pytest.fail(f"dpkg -x {deb} gave no mod_csi_battery_saver", pytrace=False)
        plugins = tmp / "plugins"
        plugins.mkdir()
        shutil.copytree(src, plugins / "mod_csi_battery_saver")
        shutil.rmtree(x)
        yield plugins
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module", params=[None, True], ids=["option_unset", "hold_chatter_set"])
def server(request, lt, battery_saver_dir):
    options = {"plugin_paths": [str(module_dir()), str(TEST_PLUGINS), str(battery_saver_dir)]}
    if request.param is not None:
        options["track_muc_joins_csi_hold_chatter"] = request.param
    srv = ProsodyServer(options=options, extra_host_modules=["csi_battery_saver"],
                        name="test_battery_saver_" + ("set" if request.param else "unset"))
    srv.hold_chatter = request.param is True
    srv.start()
    yield srv
    srv.stop()
    srv.cleanup()


def say(c, r, body):
    mid = new_id("msg")
    m = c.mark()
    c.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}><body>{xt(body)}</body></message>")
    c.wait(lambda s: s.name == "message" and s.id == mid and s.type == "groupchat", m,
           what=f"the room's reflection of {body!r}")
    return mid


def test_chatter_and_mention_to_an_inactive_client(server, connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    a.event_seq()  # an iq round trip: the server has taken the inactive
    time.sleep(0.3)
    m = a.mark()
    chatter = say(b, r, "just chatting, nobody in particular")
    is_chatter = lambda s: s.name == "message" and s.id == chatter  # noqa: E731
    if server.hold_chatter:
        a.assert_none(is_chatter, m, duration=0.8,
                      what="chatter delivered to an inactive client with csi_hold_chatter = true")
    else:
        a.wait(is_chatter, m, what="chatter delivered at once, as with the community module")
    mention = say(b, r, "Alice: this one is for you")
    a.wait(lambda s: s.name == "message" and s.id == mention, m, what="the mention, at once")
    assert a.find(is_chatter, m), "the held chatter comes with the mention"
    assert a.rooms().get(r) == "Alice"

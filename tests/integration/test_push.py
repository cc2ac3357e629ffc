"""Push (README "Mentions, CSI and push"): mod_cloud_notify (XEP-0357;
Debian's, or Prosody 13's own) next to the module, with
track_muc_joins_push_mentions_only = true, and a control server with the
option off.

mod_cloud_notify pushes for offline messages, for groupchat messages to a
bare JID when no device is connected, for MAM-archived messages when the
push device has no session, and for stanzas queued for a hibernating
XEP-0198 session (a 1 s timer batches them; per batch one push per kind).
Here: alice enables push to the scripted component (the "app server"),
loses her connection (smacks, so the session hibernates), and bob talks in
their room. With the option on, chatter is not pushed (the module's
cloud_notify/push handler blocks it: mod_cloud_notify logs "Push was
blocked by event handler"), a mention by nick is, and so is a private
message; with the option off chatter is pushed too.

On Prosody 0.12, mod_cloud_notify comes from Debian's prosody-modules
package, fetched at test time with `apt-get download` (cached under
build/cache/) and unpacked with `dpkg -x`; only a temp dir holding a copy
of its mod_cloud_notify/ is added to plugin_paths (the package also ships
a community mod_track_muc_joins that must not shadow the module under
test). Prosody 13 ships its own mod_cloud_notify, which servers on 13 run:
when the Prosody under test has one in its plugin directory, that one is
tested (a copy added to plugin_paths would shadow it)."""

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness import (
    NS_MUC_USER, PROSODY, REPO, SCRIPTED, TEST_PLUGINS, WAIT, ProsodyServer,
    module_dir, new_id, xa, xt)

NS_PUSH = "urn:xmpp:push:0"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_DATA = "jabber:x:data"
NS_REF = "urn:xmpp:reference:0"
PUSH_TIMER = 1.0  # mod_cloud_notify batches a hibernating session's stanzas for 1 s
NO_PUSH_WAIT = PUSH_TIMER + 1.5
CACHE = REPO / "build" / "cache"
BLOCKED_LOG = "Push was blocked by event handler"


# --------------------------------------------------------------------------
# mod_cloud_notify from Debian's prosody-modules, without installing it


def _deb():
    cached = sorted(glob.glob(str(CACHE / "prosody-modules_*.deb")))
    if cached:
        return Path(cached[-1])
    if not shutil.which("apt-get"):
        pytest.skip("mod_cloud_notify: no apt-get to download Debian's prosody-modules")
    tmp = Path(tempfile.mkdtemp(prefix="mucjoins-deb-"))
    try:
        try:
            r = subprocess.run(["apt-get", "download", "prosody-modules"], cwd=tmp,
                               capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.skip("mod_cloud_notify: `apt-get download prosody-modules` timed out "
                        "(no network?)")
        debs = sorted(tmp.glob("prosody-modules_*.deb"))
        if r.returncode != 0 or not debs:
            pytest.skip(f"mod_cloud_notify: `apt-get download prosody-modules` failed "
                        f"(no network or no apt source?), exit {r.returncode}: "
                        f"{(r.stderr or r.stdout).strip()[-300:]}")
        CACHE.mkdir(parents=True, exist_ok=True)
        dest = CACHE / debs[-1].name
        part = CACHE / (debs[-1].name + f".part{os.getpid()}")
        shutil.copyfile(debs[-1], part)
        os.replace(part, dest)  # a concurrent run never sees half a .deb
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bundled_cloud_notify():
    """The Prosody under test's own mod_cloud_notify.lua (13 bundles it),
    found in the plugin directory its launcher script names
    (CFG_PLUGINDIR), or None."""
    launcher = shutil.which(PROSODY)
    if not launcher:
        return None
    try:
        text = Path(launcher).read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r"^CFG_PLUGINDIR\s*=\s*'([^']*)'", text, re.M)
    path = m and Path(m.group(1)) / "mod_cloud_notify.lua"
    return path if path and path.is_file() else None


@pytest.fixture(scope="module")
def cloud_notify_dir():
    """A temp plugin dir holding only mod_cloud_notify/; None when the
    Prosody under test bundles its own (13)."""
    if _bundled_cloud_notify():
        yield None
        return
    deb = _deb()
    tmp = Path(tempfile.mkdtemp(prefix="mucjoins-cloud-notify-"))
    try:
        x = tmp / "x"
        r = subprocess.run(["dpkg", "-x", str(deb), str(x)], capture_output=True, text=True,
                           timeout=60)
        src = x / "usr" / "lib" / "prosody" / "modules" / "mod_cloud_notify"
        if r.returncode != 0 or not (src / "mod_cloud_notify.lua").is_file():
            pytest.fail(f"dpkg -x {deb} gave no mod_cloud_notify/mod_cloud_notify.lua "
                        f"(exit {r.returncode}: {r.stderr.strip()})", pytrace=False)
        plugins = tmp / "plugins"
        plugins.mkdir()
        shutil.copytree(src, plugins / "mod_cloud_notify")
        shutil.rmtree(x)
        yield plugins
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module", params=[True, False],
                ids=["mentions_only", "control_option_off"])
def server(request, lt, cloud_notify_dir):
    """This file's own server (overrides conftest's): mod_smacks and
    mod_cloud_notify on the VirtualHost, push_mentions_only on or off."""
    options = {
        "plugin_paths": [str(module_dir()), str(TEST_PLUGINS)]
        + ([str(cloud_notify_dir)] if cloud_notify_dir else []),
        "track_muc_joins_push_mentions_only": request.param,
        "smacks_hibernation_time": 60,
        "push_max_hibernation_timeout": 60,
        # the push carries the message body: each push is matched to its message
        "push_notification_with_body": True,
    }
    srv = ProsodyServer(options=options, extra_host_modules=["smacks", "cloud_notify"],
                        name="test_push_" + ("on" if request.param else "off"))
    srv.push_mentions_only = request.param
    srv.start()
    yield srv
    srv.stop()
    srv.cleanup()


# --------------------------------------------------------------------------
# Helpers


def push_body(s):
    """last-message-body of a push; None when it has none (a push for a
    presence: the form field is there, without a value)."""
    for f in s.elem.iter(f"{{{NS_DATA}}}field"):
        if f.get("var") == "last-message-body":
            v = f.find(f"{{{NS_DATA}}}value")
            return (v.text or None) if v is not None else None
    return None


def is_push(node, body=...):
    """A push to node; with body, one for the message with that body."""
    def pred(s):
        if s.name != "iq" or s.type != "set":
            return False
        pub = s.elem.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}publish")
        if pub is None or pub.get("node") != node:
            return False
        return body is ... or push_body(s) == body
    return pred


def answer(component, iq):
    """The app server acknowledges the push, as a real one does (error
    replies count towards push_max_errors: the endpoint would be disabled)."""
    component.send(f"<iq type='result' id={xa(iq.id)} from={xa(iq.to)} to={xa(iq.frm)}/>")


def answer_all(component, node, since=0):
    for iq in component.find(is_push(node), since):
        answer(component, iq)


def wait_hibernating(watcher, jid):
    deadline = time.monotonic() + WAIT
    while True:
        r = watcher.rooms(jid)
        assert r.session == "present", f"{jid} must survive as a hibernating session"
        if r.hibernating:
            return
        assert time.monotonic() < deadline, f"{jid} did not hibernate in {WAIT}s"
        time.sleep(0.1)


def say(c, r, body, extra=""):
    mid = new_id("msg")
    m = c.mark()
    c.send(f"<message type='groupchat' to={xa(r)} id={xa(mid)}><body>{xt(body)}</body>"
           f"{extra}</message>")
    c.wait(lambda s: s.name == "message" and s.id == mid and s.type == "groupchat", m,
           what=f"the room's reflection of {body!r}")
    return mid


class Scene:
    """alice (push enabled, hibernating) and bob in room r."""

    def __init__(self, server, connect, component, room):
        self.server, self.comp = server, component
        self.a = connect("alice", smacks=True)
        self.b = connect("bob")
        self.r = room()
        self.a.join(self.r, "Alice")
        self.b.join(self.r, "Bob")
        self.node = new_id("node")
        # to the own bare JID: mod_cloud_notify hooks iq-set/self
        self.a.iq(f"<enable xmlns='{NS_PUSH}' jid='{SCRIPTED}' node={xa(self.node)}/>",
                  to=self.a.bare, type_="set")
        self.jid = self.a.jid
        self.a.drop()
        wait_hibernating(self.b, self.jid)
        # what was unacked at hibernation may be pushed at once: not ours
        time.sleep(0.5)
        answer_all(component, self.node)
        assert self.b.rooms(self.jid).get(self.r) == "Alice", (
            f"the hibernating session is still in {self.r}: {self.b.rooms(self.jid).describe()}")

    def expect_push(self, send, body, what):
        """send() makes a message with this body reach the hibernating
        session: mod_cloud_notify must push it (with its body)."""
        m = self.comp.mark()
        log = self.server.log_size()
        send(body)
        iq = self.comp.wait(is_push(self.node, body), m, timeout=WAIT + PUSH_TIMER,
                            what=f"a push to node {self.node} with body {body!r} for {what}")
        answer(self.comp, iq)
        assert iq.frm == self.server.domain, f"the push comes from the user's host: {iq}"
        assert BLOCKED_LOG not in self.server.log_text(log), (
            f"mod_cloud_notify logged {BLOCKED_LOG!r} although {what} was pushed")
        time.sleep(PUSH_TIMER / 2)  # the next stanza lands in a new batch
        return iq

    def expect_no_push(self, send, body, what):
        """mod_cloud_notify considers pushing it (and logs that a handler
        blocked it) but sends no push carrying a message body."""
        m = self.comp.mark()
        log = self.server.log_size()
        send(body)
        with_body = lambda x: is_push(self.node)(x) and push_body(x) is not None  # noqa: E731
        deadline = time.monotonic() + WAIT
        while BLOCKED_LOG not in self.server.log_text(log):
            pushed = self.comp.find(with_body, m)
            assert not pushed, (f"{what} (body {body!r}) was pushed:\n" +
                                "\n".join(f"    {p}" for p in pushed))
            assert time.monotonic() < deadline, (
                f"mod_cloud_notify never considered pushing {what} within {WAIT:.0f}s "
                f"(no {BLOCKED_LOG!r} in the log, no push): the test proves nothing")
            time.sleep(0.1)
        self.comp.inbox.assert_none(with_body, m, duration=NO_PUSH_WAIT,
                                    what=f"push of a message for {what} (body {body!r})")
        answer_all(self.comp, self.node, m)

    def chatter(self, body, extra=""):
        say(self.b, self.r, body, extra)

    def private(self, body):
        self.b.send(f"<message type='chat' to={xa(self.r + '/Alice')} id={xa(new_id('pm'))}>"
                    f"<body>{xt(body)}</body><x xmlns='{NS_MUC_USER}'/></message>")


# --------------------------------------------------------------------------
# Tests

CHATTER = "just chatting, nobody in particular"


def test_chatter(server, connect, component, room):
    s = Scene(server, connect, component, room)
    if server.push_mentions_only:
        s.expect_no_push(s.chatter, CHATTER, "groupchat chatter (push_mentions_only = true)")
        s.expect_no_push(s.chatter, "Alicia and Malice talk",
                         "chatter naming Alicia and Malice (not whole-word Alice)")
    else:
        s.expect_push(s.chatter, CHATTER, "groupchat chatter (option off: pushed as before)")


def test_mention_is_pushed(server, connect, component, room):
    s = Scene(server, connect, component, room)
    if server.push_mentions_only:
        s.expect_no_push(s.chatter, CHATTER, "chatter before the mention")
    s.expect_push(s.chatter, "hey @ALICE: are you there?",
                  "a mention by nick (other case, punctuation around)")
    s.expect_push(s.chatter, "alice! once more", "a second mention")
    ref = (f"<reference xmlns='{NS_REF}' type='mention' "
           f"uri={xa('xmpp:' + s.r + '/Alice')}/>")
    s.expect_push(lambda body: s.chatter(body, ref), "look at this",
                  "an XEP-0372 reference to room/Alice (nick not in the body)")
    if server.push_mentions_only:
        s.expect_no_push(s.chatter, "and back to chatting", "chatter after the mention")


def test_private_message_is_pushed(server, connect, component, room):
    s = Scene(server, connect, component, room)
    s.expect_push(s.private, "psst, a private word", "a private message through the room")


def test_encrypted_chatter_is_pushed(server, connect, component, room):
    """With push_mentions_only, chatter whose content the module cannot
    read (OMEMO: the body is a fallback, a mention would be in the
    encrypted payload) is pushed, not judged by its fallback body."""
    s = Scene(server, connect, component, room)
    omemo = ("<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted>"
             "<encryption xmlns='urn:xmpp:eme:0' namespace='eu.siacs.conversations.axolotl'/>")
    s.expect_push(lambda body: s.chatter(body, omemo), "I sent you an OMEMO encrypted message",
                  "encrypted chatter")


def test_bodyless_groupchat_is_not_pushed(server, connect, component, room):
    """With push_mentions_only, a groupchat message without a body (a chat
    state here; markers and reactions alike) is not pushed either: it
    mentions nobody, and in a busy room such messages woke the phone at
    nearly every batch. With the option off it is pushed, as before."""
    s = Scene(server, connect, component, room)
    m = s.comp.mark()
    log = server.log_size()
    s.b.send(f"<message type='groupchat' to={xa(s.r)} id={xa(new_id('cs'))}>"
             "<active xmlns='http://jabber.org/protocol/chatstates'/></message>")
    if server.push_mentions_only:
        deadline = time.monotonic() + WAIT
        while BLOCKED_LOG not in server.log_text(log):
            pushed = s.comp.find(is_push(s.node), m)
            assert not pushed, "a chat state was pushed:\n" + "\n".join(f"    {p}" for p in pushed)
            assert time.monotonic() < deadline, (
                f"mod_cloud_notify never considered pushing the chat state within {WAIT:.0f}s "
                f"(no {BLOCKED_LOG!r} in the log, no push): the test proves nothing")
            time.sleep(0.1)
        s.comp.inbox.assert_none(is_push(s.node), m, duration=NO_PUSH_WAIT,
                                 what="push of a groupchat chat state")
    else:
        iq = s.comp.wait(is_push(s.node), m, timeout=WAIT + PUSH_TIMER,
                         what="a push for a groupchat chat state (option off)")
        answer(s.comp, iq)


def test_groupchat_to_a_closed_sessions_full_jid_is_not_pushed(server, connect, component, room):
    """A room that still counts a closed session as an occupant (its
    unavailable lost on a broken link: a ghost) goes on sending groupchat
    to that full JID. Prosody's mod_message hands a groupchat message to a
    full JID without a session to message/bare/groupchat, where
    mod_cloud_notify pushes each one (no batching). With
    push_mentions_only the module says it blocks groupchat messages from
    rooms the session is not in; there is no session at all here: chatter
    from such a room must not wake the device either."""
    a = connect("alice")
    node = new_id("node")
    a.iq(f"<enable xmlns='{NS_PUSH}' jid='{SCRIPTED}' node={xa(node)}/>",
         to=a.bare, type_="set")
    gone = a.jid
    a.disconnect()
    b = connect("bob")  # a watcher: alice has no session left
    deadline = time.monotonic() + WAIT
    while b.rooms(gone).session == "present":
        assert time.monotonic() < deadline, f"{gone} still has a session"
        time.sleep(0.1)
    r = f"s-ghost-{new_id('r')}@{SCRIPTED}"
    m = component.mark()
    log = server.log_size()
    component.send(f"<message type='groupchat' from={xa(r + '/Bob')} to={xa(gone)} "
                   f"id={xa(new_id('gc'))}><body>{xt(CHATTER)}</body></message>")
    if server.push_mentions_only:
        deadline = time.monotonic() + WAIT
        while BLOCKED_LOG not in server.log_text(log):
            pushed = component.find(is_push(node), m)
            assert not pushed, ("groupchat chatter to a full JID without a session was pushed "
                                "with push_mentions_only = true:\n" +
                                "\n".join(f"    {p}" for p in pushed))
            assert time.monotonic() < deadline, "neither pushed nor blocked: the test proves nothing"
            time.sleep(0.1)
    else:
        iq = component.wait(is_push(node), m, timeout=WAIT + PUSH_TIMER,
                            what="a push for groupchat to a closed session (option off)")
        answer(component, iq)

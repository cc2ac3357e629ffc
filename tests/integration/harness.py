"""Integration harness: a real Prosody 0.12 on free loopback ports, real XMPP
clients (slixmpp) and a scripted XEP-0114 component, all driven from plain
synchronous pytest code.

* ProsodyServer: its own config, data dir, pid file, log and admin socket in
  a temp dir; started in the foreground (`prosody -F --config`), stopped by
  PID (SIGTERM, then SIGKILL).
* LoopThread: one asyncio loop in a daemon thread; every slixmpp client and
  the scripted component live on it. Tests call synchronous wrappers that
  wait with bounded timeouts, so a hung scenario fails instead of hanging.
* Client: a slixmpp ClientXMPP that records every stanza it receives and
  sends raw XML exactly as written. It reads the server's view of
  session.rooms_joined through mod_test_rooms_joined (never through logs).
* ScriptedComponent: a raw-socket XEP-0114 component; it records what it
  receives and sends byte for byte the XML a test prescribes.
"""

import asyncio
import atexit
import copy
import ctypes
import hashlib
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import quoteattr

import slixmpp
from slixmpp.xmlstream import tostring as slix_tostring

REPO = Path(__file__).resolve().parents[2]
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"

NS_CLIENT = "jabber:client"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = NS_MUC + "#user"
NS_MUC_ADMIN = NS_MUC + "#admin"
NS_MUC_OWNER = NS_MUC + "#owner"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TEST = "urn:mucjoins:test"
NS_DATA = "jabber:x:data"

DOMAIN = "localhost"
MUC = "conference.localhost"
SCRIPTED = "scripted.localhost"
SCRIPTED2 = "scripted2.localhost"  # for tests that disconnect their component
COMPONENT_SECRET = "scripted-secret"
PASSWORD = "pass"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "owner")

LOG_HEADER = re.compile(r"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d ")

WAIT = float(os.environ.get("MUCJOINS_IT_WAIT", "8"))

# The Prosody under test: Debian's (on PATH) unless MUCJOINS_PROSODY names
# another one's `prosody` (e.g. /opt/prosody13/bin/prosody); its prosodyctl
# is the one next to it unless MUCJOINS_PROSODYCTL says otherwise.
PROSODY = os.environ.get("MUCJOINS_PROSODY", "prosody")
PROSODYCTL = os.environ.get(
    "MUCJOINS_PROSODYCTL",
    str(Path(PROSODY).with_name("prosodyctl")) if os.sep in PROSODY else "prosodyctl")

_ids = itertools.count(1)


def new_id(prefix="t"):
    return f"{prefix}{next(_ids)}"


def xa(value):
    """An XML attribute value, quoted and escaped (quotes included)."""
    return quoteattr(str(value))


def xt(text):
    """XML character data, escaped."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def bare(jid):
    return jid.split("/", 1)[0]


def resource(jid):
    parts = jid.split("/", 1)
    return parts[1] if len(parts) == 2 else None


class HarnessError(AssertionError):
    """A scenario could not proceed (timeout, refused connection...)."""


# --------------------------------------------------------------------------
# Stanzas as received


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _ns(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


class Stanza:
    """A received stanza (an ElementTree element) with small accessors."""

    def __init__(self, elem, default_ns=NS_CLIENT):
        self.elem = elem
        self.name = _local(elem.tag)
        self.ns = _ns(elem.tag) or default_ns
        self.received_at = time.monotonic()

    def get(self, attr, default=None):
        return self.elem.get(attr, default)

    @property
    def type(self):
        return self.elem.get("type")

    @property
    def frm(self):
        return self.elem.get("from")

    @property
    def to(self):
        return self.elem.get("to")

    @property
    def id(self):
        return self.elem.get("id")

    def child(self, name, ns):
        return self.elem.find(f"{{{ns}}}{name}")

    def children(self, name, ns):
        return self.elem.findall(f"{{{ns}}}{name}")

    @property
    def muc_user(self):
        return self.child("x", NS_MUC_USER)

    @property
    def status_codes(self):
        x = self.muc_user
        if x is None:
            return set()
        return {s.get("code") for s in x.findall(f"{{{NS_MUC_USER}}}status")}

    @property
    def is_self(self):
        return "110" in self.status_codes

    @property
    def error_condition(self):
        err = self.child("error", self.ns)
        if err is None:
            return None
        for c in err:
            if _ns(c.tag) == NS_STANZAS and _local(c.tag) != "text":
                return _local(c.tag)
        return None

    def __str__(self):
        try:
            return slix_tostring(self.elem)
        except Exception:  # pragma: no cover - display only
            return ET.tostring(self.elem, encoding="unicode")

    __repr__ = __str__


def is_presence(s, frm=None, frm_bare=None, type_=..., self_=None, id_=None):
    """Predicate helper. frm/frm_bare compare case-insensitively on the
    bare part; type_ ... means any, None means available."""
    if s.name != "presence":
        return False
    if frm is not None and not _jid_eq(s.frm, frm):
        return False
    if frm_bare is not None and (s.frm is None or not room_eq(bare(s.frm), frm_bare)):
        return False
    if type_ is not ... and s.type != type_:
        return False
    if self_ is not None and s.is_self != self_:
        return False
    if id_ is not None and s.id != id_:
        return False
    return True


def room_eq(a, b):
    """Bare JIDs equal as routed (a rough prep: case, one trailing dot)."""
    def norm(j):
        node, _, dom = j.rpartition("@")
        return f"{node.lower()}@{dom.lower().rstrip('.')}" if node else dom.lower().rstrip(".")
    return norm(a) == norm(b)


def _jid_eq(a, b):
    if a is None or b is None:
        return a == b
    return bare(a).lower() == bare(b).lower() and resource(a) == resource(b)


# --------------------------------------------------------------------------
# Inbox: what a client or the component received, waitable from tests


class Inbox:
    def __init__(self, owner):
        self.owner = owner
        self.items = []
        self.cond = threading.Condition()
        self.closed = None

    def add(self, stanza):
        with self.cond:
            self.items.append(stanza)
            self.cond.notify_all()

    def close(self, why):
        with self.cond:
            self.closed = why
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.items)

    def since(self, mark=0):
        with self.cond:
            return list(self.items[mark:])

    def find(self, pred, since=0):
        return [s for s in self.since(since) if pred(s)]

    def wait(self, pred, since=0, timeout=None, what="a matching stanza"):
        timeout = WAIT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pos = since
        with self.cond:
            while True:
                while pos < len(self.items):
                    s = self.items[pos]
                    pos += 1
                    if pred(s):
                        return s
                if self.closed:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            got = self.items[since:]
        lines = "\n".join(f"    {s}" for s in got[-25:]) or "    (nothing)"
        extra = f" (stream closed: {self.closed})" if self.closed else ""
        raise HarnessError(
            f"{self.owner}: waited {timeout:.0f}s for {what}{extra}; "
            f"received since then ({len(got)} stanzas, last 25 shown):\n{lines}")

    def assert_none(self, pred, since=0, duration=0.5, what="a matching stanza"):
        """The point is that nothing happens: a small bounded sleep."""
        time.sleep(duration)
        bad = self.find(pred, since)
        assert not bad, (f"{self.owner}: expected no {what}, got:\n" +
                         "\n".join(f"    {s}" for s in bad))


# --------------------------------------------------------------------------
# The event loop thread


class LoopThread:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="xmpp-loop",
                                       daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro, timeout=None):
        timeout = WAIT + 2 if timeout is None else timeout
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise HarnessError(f"operation timed out after {timeout}s")
        except asyncio.TimeoutError:
            fut.cancel()
            raise HarnessError(f"operation timed out after {timeout}s")

    def call(self, fn, *args):
        """Run fn(*args) on the loop, in order with other calls, and wait
        until it has run (so what it sent is written to the socket)."""
        done = threading.Event()
        box = {}

        def wrapper():
            try:
                box["result"] = fn(*args)
            except BaseException as e:  # re-raised in the caller
                box["error"] = e
            finally:
                done.set()

        self.loop.call_soon_threadsafe(wrapper)
        if not done.wait(WAIT):
            raise HarnessError("event loop did not run a call in time")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def stop(self):
        async def _cancel_all():
            tasks = [t for t in asyncio.all_tasks(self.loop)
                     if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(_cancel_all(), timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# --------------------------------------------------------------------------
# Prosody


# Ports for the servers under test. A port the kernel picks for bind(0) is
# in its ephemeral range: between the pick and the server's own bind, any
# outgoing connection (a client, an s2s link, another test run) may take
# it as its local port, and two picks may even return the same port (a
# fresh Debian 12 run failed so: "Failed to open server port ... in use").
# So ports are drawn at random below the ephemeral range, where no
# outgoing connection goes, each checked free, and never handed out twice
# by this process.
_handed_out = set()
_rng = random.Random(int.from_bytes(os.urandom(8), "little"))


def _listen_range():
    """(low, high) of ports below the kernel's ephemeral range, or None."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    low, high = 10000, eph_low - 1
    return (low, high) if high - low >= 1000 else None


def _bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(n):
    ports = []
    span = _listen_range()
    tries = 0
    while span is not None and len(ports) < n and tries < 5000:
        tries += 1
        p = _rng.randint(*span)
        if p not in _handed_out and p not in ports and _bindable(p):
            ports.append(p)
    socks = []
    try:  # no such range (a tuned kernel): the kernel's picks
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            p = s.getsockname()[1]
            if p not in _handed_out and p not in ports:
                ports.append(p)
    finally:
        for s in socks:
            s.close()
    _handed_out.update(ports)
    return ports


def lua_value(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "{ " + ", ".join(lua_value(x) for x in v) + " }"
    if isinstance(v, dict):
        return "{ " + " ".join(f"[{lua_value(k)}] = {lua_value(x)};"
                               for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as Lua")


def module_dir():
    """Where mod_track_muc_joins/ is: $MUCJOINS_MODULE_DIR (for developing
    the suite against a stand-in) or the repository's build/plugins."""
    return Path(os.environ.get("MUCJOINS_MODULE_DIR", REPO / "build" / "plugins"))


def check_module_built():
    d = module_dir() / "mod_track_muc_joins"
    if not (d / "mod_track_muc_joins.lua").is_file():
        return (f"{d}/mod_track_muc_joins.lua is missing: run `make` in "
                f"{REPO} first (or set MUCJOINS_MODULE_DIR)")
    return None


_live_servers = set()


def _die_with_parent():
    """In the child: SIGTERM when the test process dies, however it dies,
    so no server outlives the suite (prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


@atexit.register
def _stop_live_servers():
    for srv in list(_live_servers):
        srv.stop()


class ProsodyServer:
    """A private Prosody. options: global options (module options of
    track_muc_joins go here); muc_modules: extra modules on the MUC.
    s2s_zones: {domain: server} whose s2s port this server must find
    through libunbound (two Prosodys talking s2s on loopback, see
    tests/integration/README.md, "Two servers on loopback"); at most two.
    expected_errors: regexes of error lines a test provokes on purpose
    (errors_in_log() leaves out the messages they match).
    extra_hosts: more VirtualHosts with the same modules and users (for
    s2s, name them under domain, e.g. two.a.localhost: the redirect zone
    of domain answers for them too)."""

    def __init__(self, options=None, muc_options=None, muc_modules=("test_nick_rewrite",),
                 host_modules=("track_muc_joins", "test_rooms_joined"),
                 extra_host_modules=(), name="prosody", domain=DOMAIN, muc_domain=MUC,
                 components=(SCRIPTED, SCRIPTED2), expected_errors=(), extra_hosts=()):
        self.expected_errors = [re.compile(e) for e in expected_errors]
        self.options = dict(options or {})
        self.muc_options = dict(muc_options or {})
        self.muc_modules = list(muc_modules)
        self.host_modules = list(host_modules) + list(extra_host_modules)
        self.name = name
        self.domain = domain
        self.muc_domain = muc_domain
        self.extra_hosts = list(extra_hosts)
        self.components = list(components)
        self.s2s_zones = {}
        self.proc = None
        self.dir = None

    # paths
    @property
    def config_path(self):
        return self.dir / "prosody.cfg.lua"

    @property
    def log_path(self):
        return self.dir / "prosody.log"

    def _unbound(self):
        if not self.s2s_zones:
            return {}
        assert len(self.s2s_zones) <= 2, "a Lua table cannot repeat a key: two zones at most"
        (self.dir / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        opts = {}
        for colon, (dom, srv) in zip((":", ""), self.s2s_zones.items()):
            opts["local-zone" + colon] = f"{dom}. redirect"
            opts["local-data" + colon] = f"{dom}. 60 IN SRV 0 0 {srv.s2s_port} localhost."
        return {"unbound": {"resolvconf": str(self.dir / "resolv.conf"), "hoststxt": False,
                            "options": opts},
                "s2s_secure_auth": False}

    def write_config(self):
        plugin_paths = [str(module_dir()), str(TEST_PLUGINS)]
        g = {
            "run_as_root": True,  # tests run as root; Prosody refuses otherwise
            "pidfile": str(self.dir / "prosody.pid"),
            "data_path": str(self.dir / "data"),
            "certificates": str(self.dir / "certs"),
            "plugin_paths": plugin_paths,
            # Prosody searches installer_plugin_path first; its default
            # (/var/lib/prosody/custom_plugins) is shared by every Prosody
            # on the machine, and a module installed there would shadow
            # the one under test
            "installer_plugin_path": str(self.dir / "custom_plugins"),
            "use_ipv6": False,
            "interfaces": ["127.0.0.1"],
            "c2s_ports": [self.c2s_port],
            "s2s_ports": [self.s2s_port],
            "component_ports": [self.component_port],
            "component_interfaces": ["127.0.0.1"],
            "c2s_direct_tls_ports": [],
            "s2s_direct_tls_ports": [],
            "legacy_ssl_ports": [],
            "admin_socket": str(self.dir / "admin.sock"),
            "log": {"debug": str(self.log_path)},
            "authentication": "internal_plain",
            "storage": "internal",
            "c2s_require_encryption": False,
            "s2s_require_encryption": False,
            "allow_unencrypted_plain_auth": True,
            "modules_enabled": ["roster", "saslauth", "disco", "posix",
                                "admin_shell", "ping"] + (["dialback"] if self.s2s_zones else []),
        }
        g.update(self._unbound())
        g.update(self.options)
        lines = ["-- generated by tests/integration/harness.py"]
        for k, v in g.items():
            lines.append(f"{k} = {lua_value(v)}")
        lines.append("")
        for host in [self.domain] + self.extra_hosts:
            lines.append(f"VirtualHost {lua_value(host)}")
            lines.append(f"  modules_enabled = {lua_value(self.host_modules)}")
            lines.append("")
        lines.append(f"Component {lua_value(self.muc_domain)} \"muc\"")
        muc = {"restrict_room_creation": False, "muc_room_locking": False,
               "modules_enabled": self.muc_modules}
        muc.update(self.muc_options)
        for k, v in muc.items():
            lines.append(f"  {k} = {lua_value(v)}")
        lines.append("")
        for comp in self.components:
            lines.append(f"Component {lua_value(comp)}")
            lines.append(f"  component_secret = {lua_value(COMPONENT_SECRET)}")
        self.config_path.write_text("\n".join(lines) + "\n")

    def register(self, user, password=PASSWORD, host=None):
        host = host or self.domain
        r = subprocess.run([PROSODYCTL, "--config", str(self.config_path),
                            "register", user, host, password],
                           capture_output=True, text=True, timeout=30)
        acct = self.dir / "data" / host.replace(".", "%2e") / "accounts" / f"{user}.dat"
        if r.returncode != 0 or not acct.exists():
            raise HarnessError(f"prosodyctl register {user} {host} failed "
                               f"({r.returncode}): {r.stdout}{r.stderr}")

    def prepare(self):
        """Temp dir and ports (before start, so peers can learn them)."""
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"mucjoins-it-{self.name}-"))
            (self.dir / "data").mkdir()
            (self.dir / "certs").mkdir()
            self.c2s_port, self.s2s_port, self.component_port = free_ports(3)
        return self

    def start(self, users=USERS):
        self.prepare()
        self.write_config()
        for u in users:
            for host in [self.domain] + self.extra_hosts:
                self.register(u, host=host)
        return self.launch()

    def launch(self):
        """Run prosody on the prepared dir and wait for its ports."""
        start_offset = self.log_size()
        self.stdout = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(
            [PROSODY, "-F", "--config", str(self.config_path)],
            cwd=str(self.dir), stdin=subprocess.DEVNULL,
            stdout=self.stdout, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        _live_servers.add(self)
        deadline = time.monotonic() + 20
        waiting = [self.c2s_port, self.s2s_port] + ([self.component_port] if self.components else [])
        while waiting:
            if self.proc.poll() is not None:
                out = (self.dir / "stdout.log").read_text(errors="replace")
                raise HarnessError(
                    f"prosody exited with {self.proc.returncode} during start\n"
                    f"stdout:\n{out}\nlog:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise HarnessError("prosody did not open its ports in 20 s\n" +
                                   self.log_tail())
            try:
                with socket.create_connection(("127.0.0.1", waiting[0]), 0.5):
                    waiting.pop(0)
            except OSError:
                time.sleep(0.05)
        errors = self.errors_in_log(start_offset)
        if errors:
            self.stop()
            raise HarnessError("Prosody logged errors while starting (a module that "
                               "failed to load?):\n" + "\n".join(errors[:60]))
        return self

    def crash(self):
        """SIGKILL: occupants of its rooms are lost (a graceful stop would
        save and restore them)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.stop()

    def admin(self, command, timeout=30):
        """Run a command in Prosody's admin shell (its own admin_socket);
        returns (exit code: the number of errors, output)."""
        r = subprocess.run([PROSODYCTL, "--config", str(self.config_path), "shell", command],
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, offset=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, text, timeout=10.0, offset=0):
        """The log (from offset) once it holds text (Prosody writes its log
        file through a buffer: what a host logged at start may reach the
        file after the ports answer); the log as it is after timeout
        seconds otherwise."""
        deadline = time.monotonic() + timeout
        log = self.log_text(offset)
        while text not in log and time.monotonic() < deadline:
            time.sleep(0.05)
            log = self.log_text(offset)
        return log

    def log_tail(self, lines=200, offset=0):
        text = self.log_text(offset).splitlines()
        return "\n".join(text[-lines:])

    def errors_in_log(self, offset=0):
        """Lines logged at error level with their continuation lines (a Lua
        traceback is logged as one multi-line message)."""
        out = []
        in_error = False
        for line in self.log_text(offset).splitlines():
            parts = line.split("\t")
            if LOG_HEADER.match(line) and len(parts) >= 3:
                in_error = parts[1] == "error" and not any(
                    e.search(parts[2]) for e in self.expected_errors)
            if in_error:
                out.append(line)
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self.stdout.close()
        self.proc = None
        _live_servers.discard(self)

    def cleanup(self):
        if self.dir and not os.environ.get("MUCJOINS_IT_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# Clients


def two_prosodys(a, b):
    """The body of a module-scoped fixture for two private Prosodys talking
    s2s on loopback (README.md, "Two servers on loopback"): a runs the
    module, b hosts the rooms. Checks the module is built and lua-unbound
    installed (Prosody would otherwise ask the machine's resolver), starts
    b then a, yields (a, b); at the end resumes a process a test stopped
    (SIGSTOP) and stops and cleans up both. Use: `yield from
    two_prosodys(ProsodyServer(...), ProsodyServer(...))`."""
    import pytest
    problem = check_module_built()
    if problem:
        pytest.fail(problem, pytrace=False)
    if subprocess.run(["lua5.4", "-e", "require 'lunbound'"],
                      capture_output=True).returncode != 0:
        pytest.fail("lua-unbound is missing: Prosody would ask the machine's resolver "
                    "(traffic leaving loopback); install lua-unbound", pytrace=False)
    a.prepare()
    b.prepare()
    a.s2s_zones = b.s2s_zones = {a.domain: a, b.domain: b}
    try:
        b.start()
        a.start()
        yield a, b
    finally:
        for s in (a, b):
            if s.proc is not None and s.proc.poll() is None:
                try:
                    os.kill(s.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
            s.stop()
            s.cleanup()


class _SlixClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password, inbox):
        super().__init__(jid, password, plugin_config={
            "feature_mechanisms": {"unencrypted_plain": True}})
        self._inbox = inbox
        self.whitespace_keepalive = False

    def incoming_filter(self, xml):
        if _ns(xml.tag) == NS_CLIENT and _local(xml.tag) in ("presence", "message", "iq"):
            self._inbox.add(Stanza(copy.deepcopy(xml)))
        return xml


class Rooms(dict):
    """session.rooms_joined as the server reports it: {room: nick}."""

    def __init__(self, q):
        super().__init__()
        self.jid = q.get("jid")
        self.session = q.get("session")
        self.table = q.get("table")
        self.joined_rooms = q.get("joined_rooms")
        self.hibernating = q.get("hibernating") == "true"
        self.tracker_loaded = q.get("tracker_loaded") == "true"
        self.out_filters = int(q.get("out_filters") or 0)
        self.types = {}
        self.keytypes = {}
        for r in q.findall(f"{{{NS_TEST}}}room"):
            self[r.get("jid")] = r.get("nick")
            self.types[r.get("jid")] = r.get("type")
            self.keytypes[r.get("jid")] = r.get("keytype")

    def describe(self):
        return (f"session={self.session} rooms_joined type={self.table} "
                f"joined_rooms={self.joined_rooms} entries={dict(self)!r} "
                f"value types={self.types!r}")


def _settlers(fut, who):
    """slixmpp event handlers settling fut once: ok(ev) with True,
    bad(what)(ev) with a HarnessError naming who and what."""
    def ok(_):
        if not fut.done():
            fut.set_result(True)

    def bad(what):
        def h(ev):
            if not fut.done():
                fut.set_exception(HarnessError(f"{who}: {what}: {ev}"))
        return h

    return ok, bad


class Client:
    def __init__(self, lt, server, user, res, password=PASSWORD, domain=None):
        self.lt = lt
        self.server = server
        self.user = user
        self.domain = domain or server.domain
        self.requested = f"{user}@{self.domain}/{res}"
        self.jid = None
        self.inbox = Inbox(self.requested)
        self.x = None
        self.dropped = None

    def __repr__(self):
        return f"<Client {self.jid or self.requested}>"

    @property
    def bare(self):
        return f"{self.user}@{self.domain}"

    def connect(self, initial_presence=True, smacks=False):
        """Connect and bind; with smacks, enable XEP-0198 stream management
        (resumable) before returning."""
        async def go():
            x = _SlixClient(self.requested, PASSWORD, self.inbox)
            self.x = x
            fut = asyncio.get_running_loop().create_future()
            if smacks:
                x.register_plugin("xep_0198")
                sm = asyncio.get_running_loop().create_future()
                x.add_event_handler("sm_enabled", lambda _: sm.done() or sm.set_result(True))

            ok, bad = _settlers(fut, self.requested)
            x.add_event_handler("session_start", ok)
            x.add_event_handler("failed_auth", bad("authentication failed"))
            x.add_event_handler("connection_failed", bad("connection failed"))
            x.add_event_handler("disconnected", lambda r: self.inbox.close(f"disconnected {r}"))
            self._connect_stream(x)
            await asyncio.wait_for(fut, WAIT)
            if smacks:
                await asyncio.wait_for(sm, WAIT)
            return str(x.boundjid)

        self.jid = self.lt.run(go())
        if self.jid != self.requested:
            raise HarnessError(f"bound {self.jid}, asked for {self.requested}")
        if initial_presence:
            m = self.mark()
            self.send("<presence/>")
            # mod_presence reflects the initial presence to the session
            self.wait(lambda s: is_presence(s, frm=self.jid, type_=None), m,
                      what="the reflection of the initial presence")
        return self

    def _connect_stream(self, x):
        """Open x's connection to this server's c2s port (plain TCP)."""
        x.connect(address=("127.0.0.1", self.server.c2s_port),
                  force_starttls=False, disable_starttls=True)

    def drop(self):
        """Lose the TCP connection without closing the stream (a client
        going out of coverage): with stream management the server keeps
        the session, hibernating."""
        if self.x is None:
            return
        x = self.x

        def kill():
            x.end_session_on_disconnect = False
            if x.transport:
                x.transport.abort()
            if x._run_out_filters is not None:
                x._run_out_filters.cancel()

        self.lt.call(kill)
        self.dropped = x
        self.x = None

    def resume(self):
        """Reconnect after drop() and resume the stream (XEP-0198): the
        server moves the new connection into the hibernating session."""
        x = self.dropped
        if x is None:
            raise HarnessError(f"{self.jid}: resume() without drop()")

        async def go():
            fut = asyncio.get_running_loop().create_future()
            done, bad = _settlers(fut, self.jid)
            x.add_event_handler("session_resumed", done, disposable=True)
            x.add_event_handler("session_start", bad("a new session, not resumed"), disposable=True)
            x.add_event_handler("sm_failed", bad("resumption refused"), disposable=True)
            with self.inbox.cond:
                self.inbox.closed = None
            self._connect_stream(x)
            await asyncio.wait_for(fut, WAIT)

        self.x = x  # disconnect() closes it whatever happens below
        self.dropped = None
        self.lt.run(go())
        return self

    def disconnect(self, wait=2.0):
        if self.x is None:
            return

        async def go():
            x = self.x
            try:
                await asyncio.wait_for(x.disconnect(wait=wait), wait + 3)
            except Exception:
                x.abort()
            # slixmpp leaves its outgoing filter task running
            if x._run_out_filters is not None:
                x._run_out_filters.cancel()

        try:
            self.lt.run(go(), timeout=wait + 5)
        except Exception:
            pass
        self.x = None

    # sending and receiving

    def send(self, xml):
        """Send exactly this XML on the stream."""
        if self.x is None:
            raise HarnessError(f"{self}: not connected")
        self.lt.call(self.x.send_raw, xml)

    def mark(self):
        return self.inbox.mark()

    def wait(self, pred, since=0, timeout=None, what="a matching stanza"):
        return self.inbox.wait(pred, since, timeout, what)

    def received(self, since=0):
        return self.inbox.since(since)

    def find(self, pred, since=0):
        return self.inbox.find(pred, since)

    def assert_none(self, pred, since=0, duration=0.5, what="a matching stanza"):
        self.inbox.assert_none(pred, since, duration, what)

    def iq(self, payload, to=None, type_="get", timeout=None, check=True):
        to = to or self.domain
        iq_id = new_id("iq")
        m = self.mark()
        self.send(f"<iq type={xa(type_)} to={xa(to)} id={xa(iq_id)}>{payload}</iq>")
        r = self.wait(lambda s: s.name == "iq" and s.id == iq_id and
                      s.type in ("result", "error"), m, timeout,
                      what=f"the answer to iq {iq_id} ({payload[:80]})")
        if check and r.type == "error":
            raise HarnessError(f"{self}: iq {payload!r} to {to} failed: {r}")
        return r

    # the test module

    def rooms(self, jid=None):
        """session.rooms_joined of jid (default: this session)."""
        attr = f" jid={xa(jid)}" if jid else ""
        r = self.iq(f"<query xmlns='{NS_TEST}'{attr}/>")
        q = r.child("query", NS_TEST)
        if q is None:
            raise HarnessError(f"test module answered without <query/>: {r}")
        return Rooms(q)

    def events(self, since=0, room=None, session=None, name=None):
        r = self.iq(f"<events xmlns='{NS_TEST}' since='{since}'/>")
        evs = []
        for e in r.child("events", NS_TEST).findall(f"{{{NS_TEST}}}event"):
            d = dict(e.attrib)
            if room is not None and d.get("room", "").lower() != room.lower():
                continue
            if session is not None and d.get("session") != session:
                continue
            if name is not None and d.get("name") != name:
                continue
            evs.append(d)
        return evs

    def event_seq(self):
        r = self.iq(f"<events xmlns='{NS_TEST}' since='{10**12}'/>")
        return int(r.child("events", NS_TEST).get("last"))

    def reload_module(self, name="track_muc_joins"):
        return self.iq(f"<reload xmlns='{NS_TEST}' module={xa(name)}/>", type_="set")

    def unload_module(self, name="track_muc_joins"):
        return self.iq(f"<unload xmlns='{NS_TEST}' module={xa(name)}/>", type_="set")

    def load_module(self, name="track_muc_joins"):
        return self.iq(f"<load xmlns='{NS_TEST}' module={xa(name)}/>", type_="set")

    # MUC operations (raw XML; return what the room answered)

    def join(self, room, nick, *, x=True, extra="", id_=None, wait=True,
             password=None):
        """Send a join to room/nick. With wait, return the room's answer:
        the self-presence (110) or the presence error, matched by the id
        Prosody reflects."""
        id_ = id_ or new_id("join")
        inner = ""
        if x:
            pw = f"<password>{xt(password)}</password>" if password else ""
            inner = f"<x xmlns='{NS_MUC}'>{pw}</x>"
        m = self.mark()
        self.send(f"<presence to={xa(room + '/' + nick)} id={xa(id_)}>{inner}{extra}</presence>")
        if not wait:
            return m
        return self.wait(
            lambda s: s.name == "presence" and s.frm is not None and
            room_eq(bare(s.frm), bare(room)) and
            (s.type == "error" or (s.id == id_ and s.is_self)),
            m, what=f"the answer of {room} to the join as {nick!r}")

    def leave(self, room, nick, wait=True, status=None):
        m = self.mark()
        st = f"<status>{xt(status)}</status>" if status else ""
        self.send(f"<presence type='unavailable' to={xa(room + '/' + nick)}>{st}</presence>")
        if not wait:
            return m
        return self.wait(lambda s: is_presence(s, frm_bare=room, type_="unavailable", self_=True),
                         m, what=f"the unavailable self-presence from {room}")

    def change_nick(self, room, new_nick, wait=True):
        m = self.mark()
        self.send(f"<presence to={xa(room + '/' + new_nick)}/>")
        if not wait:
            return m
        return self.wait(lambda s: is_presence(s, frm_bare=room, type_=None, self_=True)
                         and resource(s.frm) is not None, m,
                         what=f"the available self-presence after the nick change in {room}")

    def owner_iq(self, room, payload, type_="set"):
        return self.iq(f"<query xmlns='{NS_MUC_OWNER}'>{payload}</query>", to=room, type_=type_)

    def admin_iq(self, room, items, type_="set"):
        return self.iq(f"<query xmlns='{NS_MUC_ADMIN}'>{items}</query>", to=room, type_=type_)

    def configure(self, room, fields):
        """Submit the room configuration form with these fields."""
        f = "".join(
            f"<field var={xa(k)}><value>{xt(v)}</value></field>" for k, v in fields.items())
        form = (f"<x xmlns='{NS_DATA}' type='submit'><field var='FORM_TYPE'>"
                f"<value>http://jabber.org/protocol/muc#roomconfig</value></field>{f}</x>")
        return self.owner_iq(room, form)


# --------------------------------------------------------------------------
# The scripted MUC: a raw XEP-0114 component


class ScriptedComponent:
    def __init__(self, lt, server, domain=SCRIPTED, secret=COMPONENT_SECRET):
        self.lt = lt
        self.server = server
        self.domain = domain
        self.secret = secret
        self.inbox = Inbox(f"component {domain}")
        self.writer = None
        self.reader_task = None

    def start(self):
        async def go():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.server.component_port)
            self.writer = writer
            writer.write((f"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                          f"xmlns:stream='http://etherx.jabber.org/streams' to={xa(self.domain)}>")
                         .encode())
            parser = ET.XMLPullParser(events=("start", "end"))
            depth = 0
            root = None
            handshake = asyncio.get_running_loop().create_future()

            async def read():
                nonlocal depth, root
                try:
                    while True:
                        data = await reader.read(65536)
                        if not data:
                            self.inbox.close("connection closed")
                            if not handshake.done():
                                handshake.set_exception(HarnessError("component: closed before handshake"))
                            return
                        parser.feed(data)
                        for ev, el in parser.read_events():
                            if ev == "start":
                                depth += 1
                                if depth == 1:
                                    root = el
                                    sid = el.get("id")
                                    digest = hashlib.sha1((sid + self.secret).encode()).hexdigest()
                                    writer.write(f"<handshake>{digest}</handshake>".encode())
                            else:
                                depth -= 1
                                if depth == 1:
                                    root.remove(el)
                                    name = _local(el.tag)
                                    if name == "handshake" and not handshake.done():
                                        handshake.set_result(True)
                                    elif name == "error" and not handshake.done():
                                        handshake.set_exception(HarnessError(
                                            "component: stream error " + ET.tostring(el, encoding="unicode")))
                                    else:
                                        self.inbox.add(Stanza(el, "jabber:component:accept"))
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # parser errors: report, stop reading
                    self.inbox.close(f"read error: {e!r}")
                    if not handshake.done():
                        handshake.set_exception(e)

            self.reader_task = asyncio.ensure_future(read())
            await asyncio.wait_for(handshake, WAIT)

        self.lt.run(go())
        return self

    def stop(self):
        async def go():
            if self.writer:
                try:
                    self.writer.write(b"</stream:stream>")
                    self.writer.close()
                except Exception:
                    pass
            if self.reader_task:
                self.reader_task.cancel()

        try:
            self.lt.run(go(), timeout=5)
        except Exception:
            pass

    def send(self, xml):
        """Send exactly this XML."""
        self.lt.call(self.writer.write, xml.encode("utf-8"))

    def mark(self):
        return self.inbox.mark()

    def wait(self, pred, since=0, timeout=None, what="a matching stanza"):
        return self.inbox.wait(pred, since, timeout, what)

    def find(self, pred, since=0):
        return self.inbox.find(pred, since)

    def deliver(self, client, xml):
        """Send exactly `xml`, then a marker message to client, and wait
        until the client has the marker: Prosody processed what came before
        it (whatever it did with it). Returns the client's mark from before,
        to look at what the client received."""
        mk = new_id("sync")
        m = client.mark()
        self.send(xml + f"<message from='sync@{self.domain}' to={xa(client.jid)} "
                        f"id={xa(mk)} type='headline'/>")
        client.wait(lambda s: s.name == "message" and s.id == mk, m,
                    what=f"the marker sent after {xml[:200]}")
        return m

    def wait_presence(self, since, frm, to_bare=None, type_=..., what=None):
        """Wait for a presence the component receives from frm (full JID)."""
        return self.wait(
            lambda s: s.name == "presence" and s.frm == frm and
            (to_bare is None or (s.to and bare(s.to).lower() == to_bare.lower())) and
            (type_ is ... or s.type == type_),
            since, what=what or f"a presence from {frm} to {to_bare}")


# --------------------------------------------------------------------------
# Assertions with messages that say what was expected and what was there


def assert_rooms(client, expected, jid=None, when=""):
    """session.rooms_joined of jid (default: client's own session) must be
    exactly `expected` ({room: nick}); every value a string, and
    session.joined_rooms the same table."""
    r = client.rooms(jid)
    who = jid or client.jid
    ctx = f" {when}" if when else ""
    assert r.session == "present", f"{who}: no such session on the server{ctx}"
    assert r.tracker_loaded, f"mod_track_muc_joins is not loaded on the server{ctx}"
    assert dict(r) == expected, (
        f"rooms_joined of {who}{ctx}:\n    expected {expected!r}\n    got      {dict(r)!r}"
        f"\n    ({r.describe()})")
    bad = {k: t for k, t in r.types.items() if t != "string"}
    assert not bad, f"rooms_joined of {who}{ctx}: values must be strings, got types {bad!r}"
    badk = {k: t for k, t in r.keytypes.items() if t != "string"}
    assert not badk, f"rooms_joined of {who}{ctx}: keys must be strings, got {badk!r}"
    if expected:
        assert r.joined_rooms == "same", (
            f"{who}{ctx}: session.joined_rooms must be the same table as "
            f"session.rooms_joined, it is {r.joined_rooms!r}")
    return r


def ev_str(evs):
    if not evs:
        return "    (none)"
    return "\n".join("    " + " ".join(f"{k}={v!r}" for k, v in sorted(e.items())
                                      if k != "seq") for e in evs)


def assert_events(client, since, expected, room=None, session=None, names=None):
    """The muc-joins/* events fired since `since` (filtered by room and
    session), in order, must match `expected`: a list of dicts whose items
    must all be present in the event (other fields are free)."""
    evs = client.events(since, room=room, session=session)
    if names is not None:
        evs = [e for e in evs if e["name"] in names]
    ok = len(evs) == len(expected) and all(
        all(e.get(k) == v for k, v in want.items()) for e, want in zip(evs, expected))
    assert ok, (f"muc-joins events for room={room} session={session}:\n  expected\n" +
                ev_str(expected) + "\n  got\n" + ev_str(evs))
    return evs


def wait_events(client, since, pred, count=1, timeout=None, room=None, what="events"):
    """Poll the test module until `count` events matching pred fired (for
    timers inside the server, which no stanza announces)."""
    timeout = WAIT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        evs = [e for e in client.events(since, room=room) if pred(e)]
        if len(evs) >= count:
            return evs
        if time.monotonic() > deadline:
            raise HarnessError(f"waited {timeout:.0f}s for {what}; events since then:\n" +
                               ev_str(client.events(since, room=room)))
        time.sleep(0.2)


def self_presence(room_nick, to, codes=("110",), type_=None, id_=None,
                  item="<item affiliation='none' role='participant'/>", extra=""):
    """XML of a MUC presence as a room sends it: muc#user <x/> with item
    and status codes (110 by default)."""
    t = f" type={xa(type_)}" if type_ else ""
    i = f" id={xa(id_)}" if id_ else ""
    st = "".join(f"<status code='{c}'/>" for c in codes)
    return (f"<presence from={xa(room_nick)} to={xa(to)}{t}{i}>"
            f"<x xmlns='{NS_MUC_USER}'>{item}{st}</x>{extra}</presence>")


# --------------------------------------------------------------------------
# Scenario steps with the scripted MUC


def install_other_copy(server, src=None):
    """Copy the plugin folder under test (or src, another module's folder
    of the same name) into the server's installer_plugin_path, which
    Prosody searches first: the next reload loads that copy, another
    mucjoins.so (as after `prosodyctl install` of the rock while the module
    ran from plugin_paths). Returns the copy's folder: remove it and reload
    to go back."""
    custom = server.dir / "custom_plugins"
    copy = custom / "mod_track_muc_joins"
    shutil.copytree(src or module_dir() / "mod_track_muc_joins", copy)
    # an empty LuaRocks manifest: Prosody looks one up for a module found there
    manifest = custom / "lib" / "luarocks" / "rocks-5.4" / "manifest"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("modules = {}\n")
    return copy


def parse_stats(out):
    """The figures muc_joins:stats() printed, as {name: int}."""
    return {k: int(v) for k, v in re.findall(r"^\s+(\w+)\s+(\d+)\s*$", out, re.M)}


def tracker_stats(server, host="localhost"):
    """muc_joins:stats(host) of the admin shell, as {name: int}."""
    rc, out = server.admin(f"muc_joins:stats({host!r})")
    assert rc == 0, f"muc_joins:stats failed ({rc}):\n{out}"
    return parse_stats(out)


def sroom(room):
    return room("s", SCRIPTED)


def start_join(a, comp, r, nick, extra=""):
    """The client sends a MUC join to r/nick; returns the join as the
    scripted room received it."""
    m = comp.mark()
    a.join(r, nick, wait=False, extra=extra)
    p = comp.wait_presence(m, frm=a.jid, to_bare=r, what=f"the join of {a.jid} to {r}/{nick}")
    assert p.child("x", NS_MUC) is not None, f"join without MUC <x/>: {p}"
    return p


def joined(a, comp, r, nick):
    """Join r as nick; the room confirms with a self-presence."""
    j = start_join(a, comp, r, nick)
    comp.deliver(a, self_presence(f"{r}/{nick}", a.jid, id_=j.id))
    got = a.rooms()
    assert got.get(r) == nick, (f"rooms_joined of {a.jid} after {r} confirmed the join "
                                f"as {nick!r}: {got.describe()}")
    return j

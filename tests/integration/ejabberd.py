"""A private ejabberd (Debian 12's package, 23.01) for the integration suite,
on free loopback ports, talking s2s with a private Prosody (harness.py).

Nothing of the system installation is used but the code in
/usr/lib/x86_64-linux-gnu/ejabberd-*: the config, Mnesia spool, log, crash
dump, Erlang cookie and inetrc are in a temp dir; the Erlang VM is started
directly (`erl ... -s ejabberd`, what `ejabberdctl foreground` runs, without
its switch to the ejabberd user and without /etc/ejabberd). The system
service is never started (scripts/deps.sh installs the package behind a
policy-rc.d that denies it).

* Name resolution: ejabberd resolves s2s names with the Erlang runtime's
  DNS client (inet_res), which reads neither /etc/hosts nor an inetrc
  `host` entry for SRV and A lookups. ERL_INETRC points the runtime at a
  file that loads no resolv.conf and no hosts file and names one
  nameserver: LoopbackDNS below, a few lines of Python on a free loopback
  UDP port, answering only the test domains (SRV to the peer's s2s port on
  target `127.0.0.1`, an address literal that ejabberd's getaddrinfo
  takes as it is: a minimal Debian root has no /etc/hosts, so not even
  `localhost` resolves there) and NXDOMAIN for anything else. No query
  leaves loopback.
* No TLS: `s2s_use_starttls: false`, dialback (mod_s2s_dialback) on both
  sides; no certificate is read from /etc.
* Control: the node is distributed on a private port without epmd
  (`-erl_epmd_port`, `-start_epmd false`) with a random cookie in
  $HOME/.erlang.cookie (HOME is the temp dir); `rpc()`
  runs an Erlang expression in it from a hidden node started the same way
  (closing s2s links, asking what the MUC holds).
* Faults: stop() is SIGTERM (Erlang's graceful init:stop(): ejabberd
  shuts its MUC down), crash() SIGKILL, freeze()/thaw() SIGSTOP/SIGCONT.
"""

import glob
import os
import struct
import threading
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness import HarnessError, PASSWORD, _die_with_parent, _live_servers, free_ports

# where Debian puts ejabberd-*/ and the libraries it needs (ERL_LIBS)
EJABBERD_LIBS = os.environ.get("MUCJOINS_EJABBERD_LIBS", "/usr/lib/x86_64-linux-gnu")


def ejabberd_missing():
    """Why a private ejabberd cannot run here, or None."""
    if not glob.glob(f"{EJABBERD_LIBS}/ejabberd-*/ebin/ejabberd.app"):
        return ("Debian's ejabberd package is not installed (scripts/deps.sh test "
                "installs it)")
    if shutil.which("erl") is None:
        return "erl (erlang-base) is missing"
    return None


class LoopbackDNS:
    """A DNS server for the test domains only, on 127.0.0.1:<free port>
    (UDP): SRV _xmpp-server._tcp.<domain> -> (port, "127.0.0.1"), A
    <domain> -> 127.0.0.1; NXDOMAIN for every other name, no answer for
    other types. ejabberd resolves the SRV target with the C library's
    getaddrinfo (net:getaddrinfo): an address literal needs no /etc/hosts
    (a minimal Debian root has none, and then "localhost" does not
    resolve)."""

    def __init__(self):
        self.srv = {}  # domain -> s2s port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _name(labels):
        return b"".join(bytes([len(x)]) + x for x in labels) + b"\0"

    def _answer(self, q):
        qid, flags = struct.unpack(">HH", q[:4])
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]])
            i += 1 + q[i]
        qtype, qclass = struct.unpack(">HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = b".".join(labels).decode("ascii", "replace").lower()
        self.queries.append((name, qtype))
        rrs = []
        known = name in self.srv
        if name.startswith("_xmpp-server._tcp."):
            dom = name[len("_xmpp-server._tcp."):]
            known = dom in self.srv
            if known and qtype == 33:
                target = self._name([b"127", b"0", b"0", b"1"])
                rrs.append((33, struct.pack(">HHH", 0, 0, self.srv[dom]) + target))
        elif known and qtype == 1:
            rrs.append((1, bytes([127, 0, 0, 1])))
        rcode = 0 if known else 3
        head = struct.pack(">HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1, len(rrs), 0, 0)
        body = b"".join(struct.pack(">HHHIH", 0xC00C, t, 1, 60, len(d)) + d for t, d in rrs)
        return head + question + body

    def _run(self):
        while True:
            try:
                q, addr = self.sock.recvfrom(512)
                self.sock.sendto(self._answer(q), addr)
            except OSError:
                return
            except Exception:
                continue


def _yaml(v, indent=0):
    pad = "  " * indent
    if isinstance(v, dict):
        out = []
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                out.append(f"{pad}{k}:\n{_yaml(x, indent + 1)}")
            else:
                out.append(f"{pad}{k}: {_scalar(x)}")
        return "\n".join(out)
    if isinstance(v, list):
        out = []
        for x in v:
            if isinstance(x, dict):
                body = _yaml(x, indent + 1).lstrip()
                out.append(f"{pad}- {body}")
            else:
                out.append(f"{pad}- {_scalar(x)}")
        return "\n".join(out)
    return pad + _scalar(v)


def _scalar(x):
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, dict):
        return "{}"
    if isinstance(x, list):
        return "[]"
    return '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"'


class EjabberdServer:
    """A private ejabberd serving `domain` (c2s users) and `muc_domain`
    (mod_muc). peer: the ProsodyServer it talks s2s with (its domain must
    resolve to 127.0.0.1 and its s2s port is ejabberd's outgoing port)."""

    def __init__(self, name="ejabberd", domain="e.localhost", muc_domain=None,
                 muc_options=None):
        self.name = name
        self.domain = domain
        self.muc_domain = muc_domain or f"conference.{domain}"
        self.muc_options = dict(muc_options or {})
        self.peer = None
        self.dns = None
        self.dir = None
        self.proc = None
        self.node = None
        self.cookie = secrets.token_hex(16)

    @property
    def log_path(self):
        return self.dir / "ejabberd.log"

    def prepare(self):
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"mucjoins-it-{self.name}-"))
            (self.dir / "spool").mkdir()
            cookie = self.dir / ".erlang.cookie"  # not on a command line
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)
            self.c2s_port, self.s2s_port, self.dist_port = free_ports(3)
            self.node = f"mj{self.dist_port}@127.0.0.1"
        return self

    def write_config(self):
        peer = self.peer
        muc = {
            "host": self.muc_domain,
            "access": "all",
            "access_create": "all",
            "access_persistent": "all",
            "access_admin": "admin",
            "history_size": 20,
            "max_users_admin_threshold": 5,
            "default_room_options": {"persistent": False, "allow_query_users": True},
        }
        muc.update(self.muc_options)
        cfg = {
            "hosts": [self.domain],
            "loglevel": "debug",
            "log_rotate_count": 0,
            "hide_sensitive_log_data": False,
            "listen": [
                {"port": self.c2s_port, "ip": "127.0.0.1", "module": "ejabberd_c2s",
                 "starttls": False},
                {"port": self.s2s_port, "ip": "127.0.0.1", "module": "ejabberd_s2s_in"},
            ],
            "s2s_use_starttls": False,
            "s2s_access": "all",
            "outgoing_s2s_port": peer.s2s_port,
            "outgoing_s2s_timeout": 5,
            "s2s_dns_timeout": 2,
            "s2s_dns_retries": 1,
            "auth_method": "internal",
            "auth_password_format": "plain",
            "acl": {"admin": {"user": f"owner@{self.domain}"}},
            "access_rules": {"local": {"allow": "all"}, "c2s": {"allow": "all"},
                             "s2s": {"allow": "all"}},
            "shaper_rules": {"c2s_shaper": "none", "s2s_shaper": "none"},
            "modules": {
                "mod_disco": {},
                "mod_ping": {},
                "mod_s2s_dialback": {},
                "mod_muc": muc,
            },
        }
        (self.dir / "ejabberd.yml").write_text("# generated by tests/integration/ejabberd.py\n"
                                               + _yaml(cfg) + "\n")
        if self.dns is None:
            self.dns = LoopbackDNS()
        for d in (peer.domain, peer.muc_domain):
            self.dns.srv[d] = peer.s2s_port
        (self.dir / "inetrc").write_text(
            "%% generated by tests/integration/ejabberd.py: the test DNS only\n"
            "{resolv_conf, \"\"}.\n{hosts_file, \"\"}.\n{lookup, [dns]}.\n"
            f"{{nameserver, {{127,0,0,1}}, {self.dns.port}}}.\n")

    def _env(self):
        env = dict(os.environ)
        env.update({
            "HOME": str(self.dir),  # its .erlang.cookie
            "ERL_LIBS": EJABBERD_LIBS,
            "EJABBERD_CONFIG_PATH": str(self.dir / "ejabberd.yml"),
            "EJABBERD_LOG_PATH": str(self.log_path),
            "EJABBERD_PID_PATH": str(self.dir / "ejabberd.pid"),
            "ERL_INETRC": str(self.dir / "inetrc"),
            "ERL_CRASH_DUMP": str(self.dir / "erl_crash.dump"),
            "ERL_CRASH_DUMP_BYTES": "0",
            "CONTRIB_MODULES_PATH": str(self.dir / "contrib"),
            "CONTRIB_MODULES_CONF_DIR": str(self.dir / "modules.d"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    def _erl_dist(self, name, port):
        return ["-name", f"{name}@127.0.0.1", "-erl_epmd_port", str(port),
                "-start_epmd", "false", "-kernel", "inet_dist_use_interface", "{127,0,0,1}"]

    def start(self, users=("owner", "eve", "mallory")):
        self.prepare()
        self.write_config()
        self.users = users
        return self.launch()

    def launch(self):
        ready = self.dir / "ready"
        if ready.exists():
            ready.unlink()
        reg = ",".join(
            f"ejabberd_auth:try_register(<<\"{u}\">>, <<\"{self.domain}\">>, <<\"{PASSWORD}\">>)"
            for u in self.users)
        boot = (f"{reg}, file:write_file(\"{ready}\", <<\"ok\">>).")
        self.stdout = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(
            ["erl", "-noinput", "+K", "true", "-env", "ERL_CRASH_DUMP_BYTES", "0",
             *self._erl_dist(self.node.split("@")[0], self.dist_port),
             "-mnesia", "dir", f"\"{self.dir / 'spool'}\"",
             "-s", "ejabberd", "-eval", boot],
            cwd=str(self.dir), env=self._env(), stdin=subprocess.DEVNULL,
            stdout=self.stdout, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)
        _live_servers.add(self)
        deadline = time.monotonic() + 30
        waiting = [self.c2s_port, self.s2s_port]
        while waiting or not ready.exists():
            if self.proc.poll() is not None:
                raise HarnessError(f"ejabberd exited with {self.proc.returncode} during start\n"
                                   + self.log_tail())
            if time.monotonic() > deadline:
                self.stop()
                raise HarnessError("ejabberd did not start in 30 s\n" + self.log_tail())
            if waiting:
                try:
                    with socket.create_connection(("127.0.0.1", waiting[0]), 0.5):
                        waiting.pop(0)
                except OSError:
                    time.sleep(0.1)
            else:
                time.sleep(0.1)
        return self

    def rpc(self, expr, timeout=30):
        """Evaluate an Erlang expression (ending without a dot) in the
        running node; returns what it printed (io_lib ~p of the value)."""
        port = self.dist_port
        ctl = f"ctl{secrets.token_hex(3)}"
        code = (f"R = rpc:call('{self.node}', erlang, apply, [fun() -> {expr} end, []], 20000),"
                f" io:format(\"~p~n\", [R]), halt().")
        r = subprocess.run(
            ["erl", "-noinput", "-hidden", *self._erl_dist(ctl, port), "-dist_listen", "false",
             "-eval", code],
            env=self._env(), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise HarnessError(f"rpc {expr!r} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r.stdout.strip()

    def close_s2s(self):
        """Close every s2s connection from ejabberd's side (a stream close,
        as `ejabberdctl stop_s2s_connections` does)."""
        return self.rpc("ejabberd_s2s:stop_s2s_connections()")

    def persist_room(self, room, timeout=10):
        """Wait until ejabberd has stored the persistent room (it does so
        asynchronously) and make Mnesia write its log to disk: a kill
        before that loses the room (seen 1.5 s after the configuration)."""
        name, host = room.split("@")
        key = f'{{<<"{name}">>, <<"{host}">>}}'
        deadline = time.monotonic() + timeout
        while self.rpc(f"mnesia:dirty_read(muc_room, {key})") == "[]":
            if time.monotonic() > deadline:
                raise HarnessError(f"ejabberd never stored {room}")
            time.sleep(0.2)
        self.rpc("mnesia:dump_log()")

    def freeze(self):
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        os.killpg(self.proc.pid, signal.SIGCONT)

    def crash(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.stop()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc:
            self.stdout.close()
        self.proc = None
        _live_servers.discard(self)

    def cleanup(self):
        if self.dir and not os.environ.get("MUCJOINS_IT_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

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

    def errors_in_log(self, offset=0):
        """What ejabberd logs as errors is not the module's doing: the
        suite attaches the log to a failure but does not fail on it."""
        return []

    def log_tail(self, lines=120, offset=0):
        text = self.log_text(offset).splitlines()
        out = (self.dir / "stdout.log").read_text(errors="replace") if self.dir else ""
        return "\n".join(text[-lines:]) + "\nstdout:\n" + out[-3000:]

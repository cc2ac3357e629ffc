"""pytest fixtures for the integration suite (see harness.py).

* lt         (session) the asyncio loop thread all XMPP connections live on
* server     (module)  a private Prosody; a test file may set
                       PROSODY_OPTIONS = {...} (global options, e.g.
                       track_muc_joins_pending_timeout), MUC_OPTIONS,
                       HOST_MODULES (more modules on the VirtualHost) and
                       EXPECTED_ERRORS (regexes of error lines the file
                       provokes on purpose)
* component  (module)  the scripted MUC scripted.localhost (XEP-0114)
* connect    (test)    connect("alice") -> a Client with a fresh resource;
                       every client is disconnected at the end of the test
Tests must not depend on each other: every test uses its own rooms (see
room()) and resources.

On failure the Prosody log written during the test is attached to the report.
A test during which Prosody logged an error (a Lua traceback in the module,
say) fails at teardown with those lines.
"""

import itertools
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import (  # noqa: E402
    PROSODY, PROSODYCTL, Client, LoopThread, ProsodyServer, ScriptedComponent,
    check_module_built, module_dir)

_room_counter = itertools.count(1)


def pytest_report_header(config):
    d = module_dir() / "mod_track_muc_joins"
    return [f"mucjoins: module under test from {d}",
            f"mucjoins: module built: {check_module_built() is None}",
            f"mucjoins: Prosody under test: {PROSODY} ({PROSODYCTL})"]


@pytest.fixture(scope="session")
def lt():
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture(scope="module")
def server(request, lt):
    problem = check_module_built()
    if problem:
        pytest.fail(problem, pytrace=False)
    mod = request.module
    srv = ProsodyServer(options=getattr(mod, "PROSODY_OPTIONS", None),
                        muc_options=getattr(mod, "MUC_OPTIONS", None),
                        extra_host_modules=getattr(mod, "HOST_MODULES", ()),
                        expected_errors=getattr(mod, "EXPECTED_ERRORS", ()),
                        extra_hosts=getattr(mod, "EXTRA_HOSTS", ()),
                        name=mod.__name__.rsplit(".", 1)[-1])
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        srv.cleanup()


@pytest.fixture(scope="module")
def component(server, lt):
    comp = ScriptedComponent(lt, server).start()
    yield comp
    comp.stop()


def _short(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]


@pytest.fixture
def connect(server, lt, request):
    clients = []
    n = itertools.count(1)
    base = _short(request.node.name)

    def factory(user, res=None, initial_presence=True, smacks=False, domain=None):
        res = res or f"{base}-{next(n)}"
        c = Client(lt, server, user, res, domain=domain).connect(initial_presence, smacks)
        clients.append(c)
        return c

    yield factory
    for c in clients:
        c.disconnect()


@pytest.fixture
def room(request):
    """room(prefix="r", service=MUC) -> a room JID no other test uses."""
    base = _short(request.node.name)

    def make(prefix="r", service="conference.localhost"):
        return f"{prefix}-{base}-{next(_room_counter)}@{service}"

    return make


# Prosody log: attach on failure, fail on logged errors

LOGGED_SERVERS = ("server", "server_b")


@pytest.fixture(autouse=True)
def _prosody_log(request):
    watched = []
    for name in LOGGED_SERVERS:
        if name in request.fixturenames:
            srv = request.getfixturevalue(name)
            watched.append((name, srv, srv.log_size()))
    request.node._prosody = watched
    yield
    errors = []
    for name, srv, start in watched:
        errors += [f"[{name}] {line}" for line in srv.errors_in_log(start)]
    if errors:
        pytest.fail("Prosody logged errors during this test:\n" + "\n".join(errors[:40]),
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    keep = int(os.environ.get("MUCJOINS_IT_LOG_LINES", "300"))
    for name, srv, start in getattr(item, "_prosody", ()):
        lines = srv.log_text(start).splitlines()
        head = (f"{srv.log_path} (last {min(keep, len(lines))} of {len(lines)} lines written "
                f"during this test; MUCJOINS_IT_KEEP=1 keeps the file)\n")
        if keep > 0:
            rep.sections.append((f"prosody log ({name})", head + "\n".join(lines[-keep:])))

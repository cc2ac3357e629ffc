"""Another module's muc-joins/* handler that waits (util.async): Prosody
runs a client's stanzas in an async runner, where a handler may yield.
The module's events are fired from inside its C hook, which lets the
yield through (lua_pcallk with a continuation): the wait works, and
nothing of the session's stanza processing breaks (without it the wait
failed with "attempt to yield across a C-call boundary" and the runner
was later resumed with no stanza, an error in mod_c2s).

Not every event comes from a runner (README.md, "The contract for
consumers"): those caused by an external component's stanzas (XEP-0114:
mod_component has no runner), by the module's timer (a timeout; the
server's own MUC answering a self-ping sent from it) and by a lost client
connection are fired outside one; a wait there raises
util.async's "Not running in an async context", which the module logs
as that handler's failure, and the tracking goes on."""

import time

from harness import assert_rooms, joined, sroom, start_join

TIMEOUT = 2
PROSODY_OPTIONS = {"track_muc_joins_pending_timeout": TIMEOUT,
                   "track_muc_joins_ping_start_delay": 1,
                   "test_async_consumer_unprotected": True}
HOST_MODULES = ["test_async_consumer"]
EXPECTED_ERRORS = [r"^a muc-joins/join-failed handler failed \(tracking not affected\): "
                   r".*Not running in an async context"]


def consumer_line(server, off, prefix, timeout=5):
    """The consumer's log line starting with prefix, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = next((ln for ln in server.log_text(off).splitlines()
                     if f"test_async_consumer: {prefix}" in ln), None)
        if line is not None:
            return line
        time.sleep(0.1)
    return None


def test_an_event_handler_may_wait(server, connect, room):
    a = connect("alice")
    r = room()
    off = server.log_size()
    a.join(r, "Alice")
    line = consumer_line(server, off, f"joined {r}")
    assert line is not None, "the muc-joins/joined handler did not run"
    assert "runner=true" in line and "wait ok=true" in line, f"the handler could not wait: {line}"
    # the session's runner goes on: more stanzas, still tracked
    a.send("<message to='localhost' type='chat'><body>x</body></message>")
    r2 = room()
    a.join(r2, "Alice")
    a.leave(r, "Alice")
    assert_rooms(a, {r2: "Alice"}, when="after the handler waited")


def test_events_from_an_external_component_come_outside_a_runner(server, connect, component, room):
    a = connect("alice")
    r = sroom(room)
    off = server.log_size()
    joined(a, component, r, "Alice")
    line = consumer_line(server, off, f"joined {r}")
    assert line is not None, "the muc-joins/joined handler did not run"
    assert "runner=false" in line and "stanza=true" in line, line
    assert "wait ok=false" in line and "Not running in an async context" in line, line
    assert_rooms(a, {r: "Alice"}, when="after the handler's wait failed")


def test_a_wait_in_an_event_from_the_tick_fails_alone(server, connect, component, room):
    a = connect("alice")
    r = sroom(room)
    off = server.log_size()
    start_join(a, component, r, "Alice")  # never answered: times out at a tick
    log = server.wait_log("a muc-joins/join-failed handler failed", offset=off, timeout=TIMEOUT + 5)
    assert "a muc-joins/join-failed handler failed (tracking not affected)" in log, log[-2000:]
    assert "Not running in an async context" in log, log[-2000:]
    # the tracking went on: the next join is tracked
    r2 = room()
    a.join(r2, "Alice")
    assert_rooms(a, {r2: "Alice"}, when="after the tick's handler failed")


def test_events_of_a_lost_connection_come_outside_a_runner(server, connect, room):
    """A stream the client closes is closed in its runner; a connection
    lost without it (no stream management) ends the session from
    Prosody's network listener, outside any runner."""
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    off = server.log_size()
    a.drop()
    line = consumer_line(server, off, f"left {r}")
    assert line is not None, "the muc-joins/left handler did not run"
    assert "reason=session-closed" in line and "runner=false" in line, line
    assert "wait ok=false" in line, line


def test_a_local_rooms_answer_to_a_self_ping_from_the_tick_comes_outside_a_runner(
        server, connect, room):
    """The room a session left while the module was unloaded is found by
    the load's self-ping, sent from the tick after ping_start_delay; the
    server's own MUC answers it at once, from there: the ghost's left
    event carries the answer as its stanza, outside any runner. Last in
    the file: it unloads and loads the module."""
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    a.unload_module()
    a.leave(r, "Alice")
    off = server.log_size()
    a.load_module()
    line = consumer_line(server, off, f"left {r}", timeout=10)
    assert line is not None, "the muc-joins/left handler did not run"
    assert "reason=ghost" in line and "stanza=true" in line and "runner=false" in line, line
    assert "wait ok=false" in line, line

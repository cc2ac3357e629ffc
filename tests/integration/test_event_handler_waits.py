"""Another module's muc-joins/* handler that waits (util.async): Prosody
runs a session's stanzas in an async runner, where a handler may yield.
The module's events are fired from inside its C hook, which lets the
yield through (lua_pcallk with a continuation): the wait works, and
nothing of the session's stanza processing breaks (without it the wait
failed with "attempt to yield across a C-call boundary" and the runner
was later resumed with no stanza, an error in mod_c2s)."""

import time

from harness import assert_rooms

HOST_MODULES = ["test_async_consumer"]


def test_an_event_handler_may_wait(server, connect, room):
    a = connect("alice")
    r = room()
    off = server.log_size()
    a.join(r, "Alice")
    deadline = time.monotonic() + 5
    line = None
    while line is None and time.monotonic() < deadline:
        line = next((ln for ln in server.log_text(off).splitlines()
                     if "test_async_consumer: joined" in ln), None)
        time.sleep(0.1)
    assert line is not None, "the muc-joins/joined handler did not run"
    assert "wait ok=true" in line, f"the handler could not wait: {line}"
    # the session's runner goes on: more stanzas, still tracked
    a.send("<message to='localhost' type='chat'><body>x</body></message>")
    r2 = room()
    a.join(r2, "Alice")
    a.leave(r, "Alice")
    assert_rooms(a, {r2: "Alice"}, when="after the handler waited")

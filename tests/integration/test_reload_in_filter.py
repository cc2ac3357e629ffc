"""A muc-joins/* handler that reloads the module while the event comes
from the join-error filter: a local MUC sends its join errors with
origin.send(), so the module sees them in the session's outgoing filter,
and the reload's unload must not take the filter off the list Prosody is
walking (it read the list's length once: the next filter would be skipped
and a missing one called, losing the error). The filter after ours here
is mod_smacks's."""

from harness import assert_rooms

HOST_MODULES = ["smacks", "test_on_event"]


def test_reload_from_a_join_failed_handler_in_the_filter(server, connect, room):
    a = connect("alice")
    b = connect("bob", smacks=True)
    r = room()
    a.join(r, "Alice")
    # the nick is taken: the local MUC answers with a conflict error,
    # which the client receives (the stanza is not lost), the reload done
    ans = b.join(r, "Alice")
    assert ans.type == "error", ans
    log = server.wait_log("reloaded track_muc_joins from a join-failed handler")
    assert "reloaded track_muc_joins from a join-failed handler: table" in log, log[-2000:]
    # the module goes on after the reload: a join of another nick is tracked
    assert b.join(r, "Bob").type != "error"
    assert_rooms(b, {r: "Bob"}, when="after the reload")

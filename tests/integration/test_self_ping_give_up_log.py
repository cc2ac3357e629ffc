"""A round of self-pings that gives up keeps the entry (nothing said the
session is not in the room): logged at info, where an operator sees it
(it was at debug), naming the session, the room, the option and when the
room is asked again (docs/semantics.md §5); one line per round, none per
retry."""

import re
import time

from harness import joined, sroom
from test_self_ping import ask_ping

PING_TIMEOUT = 2
PROSODY_OPTIONS = {
    "track_muc_joins_ping_timeout": PING_TIMEOUT,
    "track_muc_joins_ping_backoff": 1,
    "track_muc_joins_ping_retries": 1,
}


def test_a_self_ping_that_gives_up_is_logged_at_info(server, connect, component, room):
    off = server.log_size()
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    ask_ping(component, a, r)  # the room answers neither this ping nor its retry
    domain = r.split("@", 1)[1]
    text = f"{a.jid}: self-ping of {r} unanswered 2 times"
    log = server.wait_log(text, timeout=2 * PING_TIMEOUT + 12, offset=off)
    lines = [line for line in log.splitlines() if "self-ping of" in line]
    assert len(lines) == 1, "one line for the round, none for its retry:\n" + "\n".join(lines)
    fields = lines[0].split("\t")
    assert len(fields) >= 3 and fields[1] == "info", lines[0]
    assert re.search(r"\(no answer said whether the session is in it; "
                     r"track_muc_joins_ping_retries = 1\): keeping the entry, asked again "
                     rf"when a link to {re.escape(domain)} comes up$", fields[2]), lines[0]
    time.sleep(1)
    assert dict(a.rooms()) == {r: "Alice"}, "the entry is kept"

"""The self_pings{outcome} metric against the tracker's own
counts. A self-ping nobody answers within ping_timeout is an "unknown"
outcome (docs/semantics.md §5: "no answer within ping_timeout: unknown";
the core counts it in stats().pings_unknown, muc_joins:stats() shows it),
and it is THE outcome of the ghost check's main case, a frozen or
unreachable remote server. The metric must count it too."""

import time

import test_metrics
from harness import joined, sroom, tracker_stats
from test_metrics import http_up, scrape, wait_scrape  # noqa: F401 (fixture)
from test_self_ping import ask_ping

PING_TIMEOUT = 2
PROSODY_OPTIONS = dict(
    test_metrics.PROSODY_OPTIONS,
    track_muc_joins_ping_start_delay=1,
    track_muc_joins_ping_timeout=PING_TIMEOUT,
    track_muc_joins_ping_backoff=600,  # no retry during the test
)


core_stats = tracker_stats  # muc_joins:stats('localhost')


def test_unanswered_self_ping_counts_as_unknown(server, connect, component, room):
    a = connect("alice")
    r = sroom(room)
    joined(a, component, r, "Alice")
    base = scrape().value("self_pings_total", outcome="unknown")
    st0 = core_stats(server)
    ask_ping(component, a, r)  # the room never answers it
    deadline = time.monotonic() + PING_TIMEOUT + 5
    st1 = core_stats(server)
    while st1["pings_unknown"] == st0["pings_unknown"] and time.monotonic() < deadline:
        time.sleep(0.25)
        st1 = core_stats(server)
    assert st1["pings_unknown"] == st0["pings_unknown"] + 1, (
        f"the tracker did not time the ping out: the test proves nothing: {st1}")
    s = wait_scrape(lambda s: s.value("self_pings_total", outcome="unknown") >= base + 1,
                    "self_pings{outcome=unknown} to count the unanswered ping "
                    f"(muc_joins:stats() shows pings_unknown={st1['pings_unknown']})",
                    timeout=5)
    assert s.value("self_pings_total", outcome="unknown") == base + 1, s.ours()

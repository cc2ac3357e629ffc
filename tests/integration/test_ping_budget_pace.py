"""Self-pings waiting for their domain's budget (ping_budget) go as soon as
answers free it, not at the module's next tick (every 5 s with the
defaults): the budget bounds the pings out at once, and a room that
answers fast is asked fast. Before, each tick sent at most ping_budget
pings, so a lost link's check of 1,000 rooms on one domain took four
minutes however fast the room answered."""

import time

from harness import NS_MUC_USER, joined, sroom, xa

# ping_budget 2; the other options keep their defaults, so the tick runs
# every 5 s
PROSODY_OPTIONS = {
    "track_muc_joins_ping_budget": 2,
}
NS_PING = "urn:xmpp:ping"
ROOMS = 6


def ambiguous_unavailable(r, nick, to):
    """Unavailable from the session's own nick with no valid 110."""
    return (f"<presence from={xa(r + '/' + nick)} to={xa(to)} type='unavailable'>"
            f"<x xmlns='{NS_MUC_USER}'><item affiliation='none' role='none'/>"
            f"<status code='11O'/></x></presence>")


def is_ping(s, a):
    return (s.name == "iq" and s.type == "get" and s.frm == a.jid
            and s.child("ping", NS_PING) is not None)


def test_answers_free_the_budget_for_the_waiting_pings_at_once(connect, component, room):
    a = connect("alice")
    rooms = [sroom(room) for _ in range(ROOMS)]
    for r in rooms:
        joined(a, component, r, "Alice")
    mc = component.mark()
    for r in rooms:
        component.deliver(a, ambiguous_unavailable(r, "Alice", a.jid))
    # the first two go at once (direct signs); the others wait for the budget
    seen = []
    first = component.wait(lambda s: is_ping(s, a), mc, what="the first self-ping")
    seen.append(first)
    second = component.wait(lambda s: is_ping(s, a) and s.id != first.id, mc,
                            what="the second self-ping")
    seen.append(second)
    time.sleep(0.5)
    extra = component.find(lambda s: is_ping(s, a) and s.id not in (first.id, second.id), mc)
    assert extra == [], f"more than the budget out: {extra}"
    while len(seen) < ROOMS:
        out = seen[-2:]
        m2 = component.mark()
        for p in out:
            component.send(f"<iq type='result' from={xa(p.to)} to={xa(p.frm)} id={xa(p.id)}/>")
        t0 = time.monotonic()
        nxt = component.wait(lambda s: is_ping(s, a), m2, timeout=2.0,
                             what=f"a waiting self-ping after two answers ({len(seen)} sent so far)")
        nxt2 = component.wait(lambda s: is_ping(s, a) and s.id != nxt.id, m2, timeout=2.0,
                              what="the second waiting self-ping")
        assert time.monotonic() - t0 < 2.0
        seen += [nxt, nxt2]
    assert len({p.to for p in seen}) == ROOMS, [p.to for p in seen]

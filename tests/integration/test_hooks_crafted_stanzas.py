"""Random crafted stanzas from a room (the scripted component)
and from the client through the module's Lua hooks in a real Prosody, and
random answers to its real self-pings and disco#info requests; no error
may be logged (the harness fails a test whose Prosody logged one) and the
server keeps answering. Seeded: AP_FUZZ_SEED, AP_FUZZ_N (stanzas each
way), AP_FUZZ_SECONDS (of self-ping answers). Nicks are never empty: a
component's stanza from "room/" makes Prosody 0.12.3's own stanza_router
raise (origin.send of the component session is nil there)."""

import os
import random
import time

from harness import NS_MUC, NS_MUC_USER, NS_STANZAS, SCRIPTED, joined, self_presence, sroom, xa

SEED = int(os.environ.get("AP_FUZZ_SEED", "1"))
N = int(os.environ.get("AP_FUZZ_N", "2000"))
PROSODY_OPTIONS = {
    "track_muc_joins_ping_start_delay": 1,
    "track_muc_joins_ping_backoff": 1,
    "track_muc_joins_ping_timeout": 4,
}


def pick(rnd, xs):
    return xs[rnd.randrange(len(xs))]


def nick(rnd):
    return pick(rnd, ["alice", "Alice", "bob", "a" * 300, "\u0301" * 40, "x y", "alice2"])


def child(rnd, r):
    kinds = [
        lambda: f"<x xmlns='{NS_MUC_USER}'>" + "".join(
            pick(rnd, [f"<status code='{pick(rnd, ['110', '303', '307', '210', '201', '333', 'abc', '', '99999999999'])}'/>",
                       f"<item nick={xa(nick(rnd))} affiliation='{pick(rnd, ['none', 'owner', 'x'])}' role='{pick(rnd, ['none', 'participant', 'moderator'])}'/>",
                       f"<destroy jid={xa(r)}><reason>r</reason></destroy>",
                       "<status/>", "<item/>"]) for _ in range(rnd.randrange(6))) + "</x>",
        lambda: f"<x xmlns='{NS_MUC}'/>",
        lambda: f"<error type='{pick(rnd, ['cancel', 'modify', 'auth', 'wait', ''])}' by={xa(r)}>"
                f"<{pick(rnd, ['not-acceptable', 'item-not-found', 'conflict', 'remote-server-not-found', 'forbidden', 'service-unavailable'])} "
                f"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                f"{pick(rnd, ['', '<text>t</text>'])}</error>",
        lambda: f"<body>{pick(rnd, ['alice', 'hi alice!', 'x', '', 'ALICE', '@alice'])}</body>",
        lambda: f"<subject>{pick(rnd, ['', 's'])}</subject>",
        lambda: f"<delay xmlns='urn:xmpp:delay' from={xa(pick(rnd, [r, 'x@y', '']))} stamp='2020-01-01T00:00:00Z'/>",
        lambda: f"<reference xmlns='urn:xmpp:reference:0' type='mention' uri={xa('xmpp:' + r + '/' + nick(rnd))}/>",
        lambda: "<ping xmlns='urn:xmpp:ping'/>",
        lambda: "<query xmlns='http://jabber.org/protocol/disco#info'><feature var='http://jabber.org/protocol/muc#self-ping-optimization'/></query>",
    ]
    return pick(rnd, kinds)()


def stanza(rnd, frm, to, rooms):
    name = pick(rnd, ["presence", "presence", "message", "iq"])
    types = {"presence": [None, "unavailable", "error"],
             "message": ["groupchat", "error", "chat", None],
             "iq": ["result", "error", "get", "set"]}[name]
    t = pick(rnd, types)
    ta = f" type='{t}'" if t else ""
    idv = pick(rnd, [None, "x", f"mjping-{rnd.randrange(1, 50)}-zz", f"mjdisco-{rnd.randrange(50)}-zz", "join1"])
    ia = f" id={xa(idv)}" if idv else (" id='i'" if name == "iq" else "")
    kids = "".join(child(rnd, pick(rnd, rooms)) for _ in range(rnd.randrange(4)))
    fa = f" from={xa(frm)}" if frm else ""
    return f"<{name}{fa} to={xa(to)}{ta}{ia}>{kids}</{name}>"


def test_fuzz_from_room_and_client(connect, component, server, room):
    rnd = random.Random(SEED)
    a = connect("alice")
    rooms = [sroom(room) for _ in range(4)]
    for r in rooms[:2]:
        joined(a, component, r, "alice")
    batch = []
    for i in range(N):
        r = pick(rnd, rooms)
        frm = pick(rnd, [f"{r}/{nick(rnd)}", r, SCRIPTED, f"{r}/alice"])
        batch.append(stanza(rnd, frm, a.jid, rooms))
        if len(batch) == 200:
            component.send("".join(batch))
            batch = []
    component.deliver(a, "".join(batch))
    out = []
    for i in range(N):
        r = pick(rnd, rooms)
        to = pick(rnd, [f"{r}/{nick(rnd)}", r, f"{r}/alice"])
        out.append(stanza(rnd, None, to, rooms))
    for k in range(0, len(out), 200):
        a.send("".join(out[k:k + 200]))
    a.iq("<ping xmlns='urn:xmpp:ping'/>", timeout=120)
    component.deliver(a, "")
    a.rooms()


def test_fuzz_self_ping_answers(connect, component, server, room):
    """The room answers the module's real self-pings and disco#info
    requests at random (results, errors of every kind, errors without
    <error/>, twice, late, from elsewhere, not at all) while link losses
    keep asking; no error may be logged."""
    rnd = random.Random(SEED)
    a = connect("alice")
    rooms = [sroom(room) for _ in range(8)]
    for r in rooms:
        joined(a, component, r, "alice")
    lose = (">prosody.hosts['scripted.localhost'].events.fire_event('component-disconnected', "
            "{ session = { type = 'component' } }); return 'ok'")
    server.admin(lose)
    seen = component.mark()
    end = time.monotonic() + float(os.environ.get("AP_FUZZ_SECONDS", "12"))
    held = []
    answered = 0
    last_loss = time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.2)
        got = component.inbox.since(seen)
        seen = component.mark()
        for s in got:
            if s.name != "iq" or s.type != "get":
                continue
            frm, to, idv = s.frm, s.to, s.id
            is_disco = s.child("query", "http://jabber.org/protocol/disco#info") is not None
            cond = pick(rnd, ["item-not-found", "not-acceptable", "service-unavailable",
                              "feature-not-implemented", "remote-server-not-found",
                              "remote-server-timeout", "bad-request", "conflict"])
            by = pick(rnd, ["", f" by={xa(to.split('/')[0])}", f" by={xa(SCRIPTED)}", " by='localhost'"])
            choices = [
                f"<iq type='result' from={xa(to)} to={xa(frm)} id={xa(idv)}/>",
                f"<iq type='error' from={xa(to)} to={xa(frm)} id={xa(idv)}><error type='cancel'{by}>"
                f"<{cond} xmlns='{NS_STANZAS}'/></error></iq>",
                f"<iq type='error' from={xa(to)} to={xa(frm)} id={xa(idv)}/>",
                f"<iq type='result' from={xa(to + 'x')} to={xa(frm)} id={xa(idv)}/>",
                "",
            ]
            if is_disco:
                feat = pick(rnd, ["", "<feature var='http://jabber.org/protocol/muc#self-ping-optimization'/>",
                                  "<feature var='http://jabber.org/protocol/muc'/>"])
                choices.append(f"<iq type='result' from={xa(to)} to={xa(frm)} id={xa(idv)}>"
                               f"<query xmlns='http://jabber.org/protocol/disco#info'>{feat}</query></iq>")
            x = pick(rnd, choices)
            if rnd.random() < 0.3:
                held.append(x)
            else:
                component.send(x + (x if rnd.random() < 0.1 else ""))
                answered += 1
        if held and rnd.random() < 0.2:
            component.send(held.pop(0))
        if time.monotonic() - last_loss > 4:
            server.admin(lose)
            last_loss = time.monotonic()
            for r in rooms:
                if rnd.random() < 0.3:
                    component.send(self_presence(f"{r}/alice", a.jid))
    component.send("".join(held))
    component.deliver(a, "")
    a.iq("<ping xmlns='urn:xmpp:ping'/>")
    print(f"\nAP self-ping fuzz: {answered} answers")
    assert answered > 3

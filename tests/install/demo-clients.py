#!/usr/bin/python3
"""Two real clients on `make run`'s demo (tests/install/test-demo.sh):
alice and bob log in (the demo's plain authentication without TLS), join
lobby@conference.localhost, bob writes a message that mentions alice and
alice receives it. What the demo logs of it is for the caller to check;
with METRICS_URL, the demo's metrics must count the joins, the mention
and the two rooms tracked (within a few seconds: the module adds its
counts to Prosody's at its timer or a collection).

Usage: /usr/bin/python3 demo-clients.py PORT ALICE_PASSWORD BOB_PASSWORD [METRICS_URL]
Exit status 0 when all that holds; 1 otherwise (the reason on stderr)."""
import asyncio
import re
import sys
import time
import urllib.request

import slixmpp

ROOM = "lobby@conference.localhost"
MUC_USER = "{http://jabber.org/protocol/muc#user}"
WAIT = 20


def self_presence(p):
    """Whether presence p is a room's self-presence (status 110)."""
    x = p.xml.find(MUC_USER + "x")
    if x is None:
        return False
    return any(s.get("code") == "110" for s in x.findall(MUC_USER + "status"))


async def login(port, user, password):
    loop = asyncio.get_running_loop()
    x = slixmpp.ClientXMPP(f"{user}@localhost/demo", password)
    started = loop.create_future()
    joined = loop.create_future()
    said = loop.create_future()

    def settle(fut, value):
        if not fut.done():
            fut.set_result(value)

    x.add_event_handler("session_start", lambda _: settle(started, True))
    x.add_event_handler("failed_auth", lambda _: settle(started, False))
    x.add_event_handler("connection_failed", lambda _: settle(started, False))
    x.add_event_handler("presence", lambda p: p["from"].bare == ROOM and self_presence(p) and settle(joined, True))
    x.add_event_handler("message", lambda m: m["type"] == "groupchat" and "alice" in m["body"] and settle(said, True))
    x.connect(address=("127.0.0.1", port), force_starttls=False, disable_starttls=True)
    if not await asyncio.wait_for(started, WAIT):
        raise RuntimeError(f"{user} could not log in")
    x.send_presence()
    x.send_raw(f"<presence to='{ROOM}/{user}'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await asyncio.wait_for(joined, WAIT)
    return x, said


PREFIX = "prosody_mod_track_muc_joins__"
WANT = {"joins_total": 2, "mentions_total": 1, "rooms_tracked": 2}


def metrics(url):
    """The module's samples without labels in a scrape of url: {name: value}."""
    with urllib.request.urlopen(url, timeout=WAIT) as r:
        text = r.read().decode()
    found = {}
    for m in re.finditer(r"^" + PREFIX + r"(\w+)(?:\{[^}]*\})? (\S+)", text, re.M):
        found[m.group(1)] = found.get(m.group(1), 0) + float(m.group(2))
    return found


def check_metrics(url):
    deadline = time.monotonic() + WAIT
    while True:
        found = metrics(url)
        if all(found.get(k, 0) >= v for k, v in WANT.items()):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"metrics at {url}: wanted at least {WANT}, got {found}")
        time.sleep(0.5)


async def main(port, alice_password, bob_password, url=None):
    alice, said = await login(port, "alice", alice_password)
    bob, _ = await login(port, "bob", bob_password)
    bob.send_message(mto=ROOM, mbody="hi alice, the demo works", mtype="groupchat")
    await asyncio.wait_for(said, WAIT)
    if url:
        await asyncio.get_running_loop().run_in_executor(None, check_metrics, url)
    # slixmpp's disconnect() gives a future: the stream closed
    await asyncio.wait_for(asyncio.gather(alice.disconnect(), bob.disconnect()), WAIT)


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1]), *sys.argv[2:5]))
    except Exception as e:  # noqa: BLE001 - any failure is the test's
        print(f"demo-clients: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)

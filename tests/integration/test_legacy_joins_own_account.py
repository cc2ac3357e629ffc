"""track_muc_joins_legacy_joins = true next to Prosody's mod_presence: a
session's presence is sent to its account's other resources (at their
login, and each time it changes) through the hook that sees joins, as an
available presence to user@host/other without the MUC <x/>. That is no
join: nothing of the user's own account is tracked."""

import time

from harness import assert_rooms

PROSODY_OPTIONS = {"track_muc_joins_legacy_joins": True,
                   "track_muc_joins_pending_timeout": 2}


def test_presence_to_own_resources_is_no_join(connect):
    phone = connect("alice")
    seq = phone.event_seq()
    laptop = connect("alice")  # each one's presence goes to the other
    phone.send("<presence><show>away</show></presence>")
    laptop.send("<presence><show>dnd</show></presence>")
    time.sleep(4)  # twice pending_timeout: a join would have failed by now
    for c in (phone, laptop):
        evs = phone.events(seq, session=c.jid)
        assert evs == [], f"events of {c.jid}: {evs}"
        assert_rooms(c, {}, when="after presence updates between own resources")


def test_answer_to_a_contacts_probe_is_no_join(connect):
    # bob is subscribed to alice's presence
    alice = connect("alice")
    bob = connect("bob")
    bob.send("<presence to='alice@localhost' type='subscribe'/>")
    time.sleep(0.5)
    alice.send("<presence to='bob@localhost' type='subscribed'/>")
    time.sleep(0.5)
    seq = alice.event_seq()
    # a new client of bob's probes alice from its full JID; Prosody answers
    # with alice's presence, sent on her session's behalf to that JID
    connect("bob")
    time.sleep(4)  # twice pending_timeout: a join would have failed by now
    evs = alice.events(seq, session=alice.jid)
    assert evs == [], f"events of {alice.jid}: {evs}"

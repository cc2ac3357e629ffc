"""Groupchat chatter that carries a payload worth waking the device for
is not held: encrypted chatter (a mention would be in what the module
cannot read), and chatter carrying a payload the operator lists in
mod_csi_simple's csi_important_payloads. The module's
csi-is-stanza-important handler (priority -0.5) held them like any
chatter; it now gives no opinion, and mod_csi_simple's rule at -1
delivers them (it delivers every message with a body)."""

from test_mentions_and_csi import RESUME_DELAY, go_inactive, got_message, held, say, two_in_room

PROSODY_OPTIONS = {"csi_resume_inactive_delay": RESUME_DELAY,
                   "csi_important_payloads": ["{urn:example:alerts}alert"]}
HOST_MODULES = ["csi_simple"]


def test_plain_chatter_is_still_held(connect, room):
    a, b, r = two_in_room(connect, room)
    go_inactive(a)
    m = a.mark()
    mid = say(b, r, "just chatting, nobody in particular")
    held(a, mid, m, "plain chatter to an inactive client")


def test_payload_the_operator_lists_is_delivered(connect, room):
    a, b, r = two_in_room(connect, room)
    go_inactive(a)
    m = a.mark()
    mid = say(b, r, "the build is red", "<alert xmlns='urn:example:alerts'/>")
    got_message(a, mid, m)


def test_encrypted_chatter_is_delivered(connect, room):
    """OMEMO: the body is a fallback text, the mention (if any) is in the
    encrypted payload, which the module cannot read."""
    a, b, r = two_in_room(connect, room)
    go_inactive(a)
    m = a.mark()
    mid = say(b, r, "I sent you an OMEMO encrypted message",
              "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted>"
              "<encryption xmlns='urn:xmpp:eme:0' namespace='eu.siacs.conversations.axolotl'/>")
    got_message(a, mid, m)

"""Answers in flight: a join whose answer arrives behind the answers to
stanzas the client sent before it.

A room answers the stanzas of a session in the order it got them, and a
remote room answers late (the scripted MUC, scripted.localhost, stands for
one: each test delivers the answers when it chooses). A client may send a
presence update, a leave and a rejoin, a join, a leave and a join again,
or a join and a retried join, before
the room answered any of them; or the room kicks the session while its
leave and rejoin are on their way. While the rejoin waits (PENDING), the
answers to the earlier stanzas reach the session first, and they look like
a join's answer: a self-presence (110) from room/nick, or a presence error.
Taking the first of them as the join's answer makes the later answers
wrong too: the echo of an update "confirms" the join, the leave's
confirmation then removes the room, and the real answer is refused as
forged -- rooms_joined ends empty while the session is in the room.

What tells them apart is the presence `id`. An error carries the id of the
stanza it refuses (RFC 6120 8.2.3), on any service: an error with another
id than the pending join's answers another stanza. A self-presence is held
to the join's id only while the leave of the previous occupancy waits for
its confirmation (a rejoin), and only on a service already seen to reflect
ids (a join sent with an id answered by a 110 with the same id): Prosody's
MUC copies the id of the presence it answers into the self-presence, but
not every service does, and ejabberd answers some joins with the id of
another stanza. The tests that need that learned first join one room on
scripted.localhost (`learned_service`, the anchor) and keep it joined
throughout: what was learned lives with the service's record, which goes
when no session has a room there. scripted2.localhost, which no other test
of this file uses, is a service never seen to reflect anything.
"""

import pytest

from harness import (
    NS_MUC, NS_STANZAS, SCRIPTED2, ScriptedComponent, assert_events, assert_rooms,
    bare, ev_str, joined, self_presence, sroom, xa)

VOLUNTARY = "voluntary"
MUC_JOIN = f"<x xmlns='{NS_MUC}'/>"
NO_ROLE = "<item affiliation='none' role='none'/>"


@pytest.fixture(scope="module")
def scripted2(server, lt):
    """A scripted MUC at scripted2.localhost: no room of it is ever joined
    before the one test that uses it, so the tracker has not learned it."""
    comp = ScriptedComponent(lt, server, domain=SCRIPTED2).start()
    yield comp
    comp.stop()


# --------------------------------------------------------------------------
# What the client sends: the presence as the room received it


def send(a, comp, to, id_, type_=None, inner=""):
    """The client sends a presence to `to` (room/nick) with this id (None:
    no id attribute); returns it once the room has it."""
    attrs = f" to={xa(to)}"
    attrs += f" id={xa(id_)}" if id_ else ""
    attrs += f" type={xa(type_)}" if type_ else ""
    m = comp.mark()
    a.send(f"<presence{attrs}>{inner}</presence>")
    p = comp.wait_presence(m, frm=a.jid, to_bare=bare(to), type_=type_,
                           what=f"the presence {id_!r} ({type_ or 'available'}) to {to}")
    assert p.id == id_, f"the room got {p}, the client sent it with id {id_!r}"
    return p


def join(a, comp, r, nick, id_):
    return send(a, comp, f"{r}/{nick}", id_, inner=MUC_JOIN)


def leave(a, comp, r, nick, id_):
    return send(a, comp, f"{r}/{nick}", id_, type_="unavailable")


def update(a, comp, r, nick, id_, show="away"):
    return send(a, comp, f"{r}/{nick}", id_, inner=f"<show>{show}</show>")


# --------------------------------------------------------------------------
# What the room answers


def present(a, r, nick, id_, extra=""):
    """An available self-presence (110): a join's answer, or the echo of an
    update (Prosody copies the presence's id into both)."""
    return self_presence(f"{r}/{nick}", a.jid, id_=id_, extra=extra)


def gone(a, r, nick, id_=None, codes=("110",)):
    """An unavailable self-presence: a leave's confirmation (with the
    leave's id), or a removal (307 kick: no id, the room sends it alone)."""
    return self_presence(f"{r}/{nick}", a.jid, type_="unavailable", id_=id_, codes=codes,
                         item=NO_ROLE)


def refused(a, r, nick, id_, condition="conflict"):
    """The room's error to a join, with the join's id."""
    return (f"<presence from={xa(r + '/' + nick)} to={xa(a.jid)} type='error' id={xa(id_)}>"
            f"{MUC_JOIN}<error type='cancel'><{condition} xmlns='{NS_STANZAS}'/></error>"
            f"</presence>")


def answer_in_order(a, comp, r, steps):
    """Deliver the room's answers one by one, in order; after each,
    rooms_joined[r] must be the step's expected nick (None: no entry).
    Every answer is delivered before the comparison, so a failure shows
    the whole sequence, and the events the answers fired."""
    seq = a.event_seq()
    got = []
    for _, xml, _ in steps:
        comp.deliver(a, xml)
        got.append(a.rooms().get(r))
    want = [nick for _, _, nick in steps]
    table = "\n".join(f"    {label:<40} expected {w!r:<8} got {g!r}"
                      for (label, _, w), g in zip(steps, got))
    assert got == want, (f"rooms_joined[{r}] after each answer of the room:\n{table}\n"
                         f"  events they fired:\n{ev_str(a.events(seq, room=r))}")


def learned_service(a, comp, room):
    """Join an anchor room on scripted.localhost answered with the join's
    id: the tracker learns that the service reflects ids. The anchor stays
    joined for the whole test; returns rooms_joined's entry for it."""
    anchor = sroom(room)
    joined(a, comp, anchor, "Anchor")
    return {anchor: "Anchor"}


# --------------------------------------------------------------------------


def test_refresh_rejoin_takes_the_join_answer_not_the_echoes(connect, component, room):
    """Update, leave, rejoin sent before the room answered any: the echo of
    the update and the leave's confirmation are not the rejoin's answer."""
    a = connect("alice")
    anchor = learned_service(a, component, room)
    r = sroom(room)
    joined(a, component, r, "o")
    seq = a.event_seq()
    update(a, component, r, "o", "u1")
    leave(a, component, r, "o", "l1")
    join(a, component, r, "o", "j2")
    assert_rooms(a, anchor, when="while the rejoin waits for its answer (PENDING: not shown)")
    assert_events(a, seq, [{"name": "left", "reason": VOLUNTARY}], room=r)
    answer_in_order(a, component, r, [
        ("echo of the update u1", present(a, r, "o", "u1", extra="<show>away</show>"), None),
        ("confirmation of the leave l1", gone(a, r, "o", "l1"), None),
        ("answer to the rejoin j2", present(a, r, "o", "j2"), "o"),
    ])
    assert_rooms(a, {**anchor, r: "o"}, when="after the three answers")
    assert_events(a, seq, [{"name": "left", "reason": VOLUNTARY},
                           {"name": "joined", "nick": "o"}], room=r)


def test_kick_in_flight_is_not_the_rejoin_answer(connect, component, room):
    """The room kicks the session (307, no id, as Prosody sends it) while
    the client's leave and rejoin are on their way; the room then answers
    the rejoin. The leave is never confirmed: nobody was left to leave."""
    a = connect("alice")
    anchor = learned_service(a, component, room)
    r = sroom(room)
    joined(a, component, r, "o")
    seq = a.event_seq()
    leave(a, component, r, "o", "l1")
    join(a, component, r, "o", "j2")
    answer_in_order(a, component, r, [
        ("kick (110 + 307, no id)", gone(a, r, "o", codes=("110", "307")), None),
        ("answer to the rejoin j2", present(a, r, "o", "j2"), "o"),
    ])
    assert_rooms(a, {**anchor, r: "o"}, when="after the kick and the rejoin's answer")
    assert_events(a, seq, [{"name": "left", "reason": VOLUNTARY},
                           {"name": "joined", "nick": "o"}], room=r)


def retry_after_error(a, comp, r, others):
    """Join as a (id A), then as b (id B) before any answer; the room
    refuses a (conflict, id A) and admits b (id B). The error answers the
    first join, not the retry: no join-failed."""
    seq = a.event_seq()
    join(a, comp, r, "a", "A")
    join(a, comp, r, "b", "B")
    answer_in_order(a, comp, r, [
        ("conflict error to the join A", refused(a, r, "a", "A"), None),
        ("answer to the join B", present(a, r, "b", "B"), "b"),
    ])
    assert_rooms(a, {**others, r: "b"}, when="after the error to a and the answer to b")
    assert_events(a, seq, [{"name": "joined", "nick": "b"}], room=r)


def test_retry_after_error_on_an_unlearned_service(connect, scripted2, room):
    """The error rule needs no learning: the session's first join to a
    service the tracker has never seen."""
    a = connect("alice")
    retry_after_error(a, scripted2, room("s", SCRIPTED2), {})


def test_retry_after_error_on_a_learned_service(connect, component, room):
    a = connect("alice")
    anchor = learned_service(a, component, room)
    retry_after_error(a, component, sroom(room), anchor)


def test_cancelled_join_then_rejoin_takes_the_rejoin_answer(connect, component, room):
    """Join (j1), leave (l1), join again (j2) before any answer: the first
    join's answer and the leave's confirmation are not the rejoin's."""
    a = connect("alice")
    anchor = learned_service(a, component, room)
    r = sroom(room)
    seq = a.event_seq()
    join(a, component, r, "o", "j1")
    leave(a, component, r, "o", "l1")
    join(a, component, r, "o", "j2")
    assert_rooms(a, anchor, when="while the rejoin waits for its answer (PENDING: not shown)")
    answer_in_order(a, component, r, [
        ("answer to the first join j1", present(a, r, "o", "j1"), None),
        ("confirmation of the leave l1", gone(a, r, "o", "l1"), None),
        ("answer to the rejoin j2", present(a, r, "o", "j2"), "o"),
    ])
    assert_rooms(a, {**anchor, r: "o"}, when="after the three answers")
    assert_events(a, seq, [{"name": "joined", "nick": "o"}], room=r)


def test_error_for_an_earlier_nick_change_does_not_end_the_leave(connect, scripted2, room):
    """A nick change to a taken nick, then a leave, sent before the room
    answered: the conflict (with the nick change's id) refuses the nick
    change, not the leave, whose confirmation is still coming. Any
    service: an error carries the id of what it refuses."""
    a = connect("alice")
    r = room("leave", SCRIPTED2)
    joined(a, scripted2, r, "o")
    seq = a.event_seq()
    send(a, scripted2, f"{r}/taken", "c1")
    leave(a, scripted2, r, "o", "l1")
    answer_in_order(a, scripted2, r, [
        ("conflict error to the nick change c1", refused(a, r, "taken", "c1"), "o"),
        ("confirmation of the leave l1", gone(a, r, "o", "l1"), None),
    ])
    assert_events(a, seq, [{"name": "left", "reason": VOLUNTARY}], room=r)


def test_rejoin_after_a_nick_change_and_a_leave_without_ids(connect, scripted2, room):
    """A nick change, a leave and a rejoin sent before the room answered,
    by a client that puts no id on its presences (nothing tells the
    answers apart by id, on any service): the room answers the change
    (303 from the old nick, then the self-presence from the new one),
    confirms the leave from the new nick, then answers the rejoin. The
    self-presence that follows the 303 is the old occupancy's, renamed,
    not the rejoin's answer: taken for it, the room was shown under the
    new nick, the leave's confirmation then ended it, and the rejoin's
    own answer was refused as forged."""
    a = connect("alice")
    r = room("rename", SCRIPTED2)
    join(a, scripted2, r, "o", None)
    scripted2.deliver(a, present(a, r, "o", None))
    assert a.rooms().get(r) == "o"
    seq = a.event_seq()
    send(a, scripted2, f"{r}/n", None)
    leave(a, scripted2, r, "n", None)
    join(a, scripted2, r, "o", None)
    answer_in_order(a, scripted2, r, [
        ("303 of the nick change",
         self_presence(f"{r}/o", a.jid, codes=("303", "110"), type_="unavailable",
                       item="<item affiliation='none' nick='n' role='participant'/>"), None),
        ("self-presence from n", present(a, r, "n", None), None),
        ("confirmation of the leave", gone(a, r, "n"), None),
        ("answer to the rejoin", present(a, r, "o", None), "o"),
    ])
    assert_events(a, seq, [{"name": "left", "reason": VOLUNTARY},
                           {"name": "joined", "nick": "o"}], room=r)


def test_removal_crossing_a_join_sent_again(connect, scripted2, room):
    """In the room, the client sends its join again (XEP-0410 recovery)
    while the room's removal of the old occupancy (333) is on its way:
    the removal is shown (left), the join's answer shows the room again
    (it used to be refused as forged)."""
    a = connect("alice")
    r = room("again", SCRIPTED2)
    joined(a, scripted2, r, "o")
    seq = a.event_seq()
    join(a, scripted2, r, "o", "j2")
    answer_in_order(a, scripted2, r, [
        ("removal (110 + 333, no id)", gone(a, r, "o", codes=("110", "333")), None),
        ("answer to the join j2", present(a, r, "o", "j2"), "o"),
    ])
    assert_events(a, seq, [{"name": "left", "reason": "technical"},
                           {"name": "joined", "nick": "o"}], room=r)


# Controls: on a learned service, plain joins still work


@pytest.mark.parametrize("id_,answer_id", [("j1", "j1"), (None, None), ("j1", "desktop-7")],
                         ids=["join-with-id", "join-without-id", "answer-with-another-id"])
def test_learned_service_join_answered_plainly(id_, answer_id, connect, component, room):
    """A join answered with its own id; a join sent without an id answered
    without one; a join answered with an id of another stanza (ejabberd
    answers a second session of an occupant with the first one's presence):
    nothing was owed before this join, so its first self-presence answers it."""
    a = connect("alice")
    anchor = learned_service(a, component, room)
    r = sroom(room)
    seq = a.event_seq()
    join(a, component, r, "o", id_)
    answer_in_order(a, component, r, [
        (f"answer to the join (id {answer_id!r})", present(a, r, "o", answer_id), "o"),
    ])
    assert_rooms(a, {**anchor, r: "o"}, when=f"after the join's answer (id {answer_id!r})")
    assert_events(a, seq, [{"name": "joined", "nick": "o"}], room=r)


@pytest.mark.parametrize("learned", [True, False], ids=["with-anchor", "scripted2-alone"])
def test_removal_crossing_a_join_to_another_nick(learned, connect, component, scripted2, room):
    """In the room as o, the client sends a join (with the MUC <x/>) to
    another nick, n (a client rejoining under another nick, say after a
    failed self-ping), while the room's kick of o is on its way. The room
    removes o first, then takes the presence to room/n from someone who is
    not an occupant as a join and answers it with a self-presence from n
    carrying the join's id: the session is in the room as n. Seen with
    Prosody 0.12 over s2s (tests/integration/differential_remote_muc.py,
    seed 41 with SETTLE=0.3: a join to another nick in the same burst as
    the owner's kick). The tracker took the presence for a nick change,
    the kick ended the entry, and the join's answer was refused as forged:
    rooms_joined lacked the room for the rest of the session. As for a
    join sent again to the same nick (test above), the join's answer is
    still coming."""
    a = connect("alice")
    if learned:
        anchor = learned_service(a, component, room)
        comp, r = component, sroom(room)
    else:
        anchor = {}
        comp, r = scripted2, room("again2", SCRIPTED2)
    joined(a, comp, r, "o")
    seq = a.event_seq()
    join(a, comp, r, "n", "jn")
    answer_in_order(a, comp, r, [
        ("kick of o (110 + 307, no id)", gone(a, r, "o", codes=("110", "307")), None),
        ("answer to the join jn, from n", present(a, r, "n", "jn"), "n"),
    ])
    assert_rooms(a, {**anchor, r: "n"}, when="after the kick and the join's answer")
    assert_events(a, seq, [{"name": "left", "reason": "kicked"},
                           {"name": "joined", "nick": "n"}], room=r)

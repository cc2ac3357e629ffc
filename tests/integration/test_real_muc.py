"""Prosody's own MUC (conference.localhost): what a session's rooms_joined
shows after joins, leaves, nick changes and removals the real service performs
(docs/semantics.md §1-2). The local MUC answers synchronously, inside the
processing of the client's stanza."""

from harness import (
    assert_events, assert_rooms, is_presence, resource, wait_events, xa)

# Left reasons as the module names them (mj_reason_name, docs/semantics.md §2).
VOLUNTARY, KICKED, BANNED = "voluntary", "kicked", "banned"
AFFILIATION, MEMBERS_ONLY, DESTROYED = "affiliation", "members-only", "destroyed"
SESSION_CLOSED = "session-closed"


def test_join_records_room_and_nick(connect, room):
    a = connect("alice")
    r = room()
    seq = a.event_seq()
    p = a.join(r, "Alice")
    assert p.is_self and p.type is None, f"expected the self-presence, got {p}"
    assert_rooms(a, {r: "Alice"}, when="after joining")
    assert_events(a, seq, [{"name": "joined", "room": r, "nick": "Alice",
                            "session": a.jid}], room=r)


def test_rooms_joined_absent_or_empty_before_any_join(connect):
    a = connect("alice")
    assert_rooms(a, {}, when="before any join")


def test_leave_removes_entry(connect, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    seq = a.event_seq()
    p = a.leave(r, "Alice")
    assert p.type == "unavailable"
    assert_rooms(a, {}, when="after the leave was confirmed")
    assert_events(a, seq, [{"name": "left", "room": r, "nick": "Alice",
                            "reason": VOLUNTARY}], room=r)


def test_leave_to_bare_room_jid_removes_entry(connect, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    m = a.mark()
    a.send(f"<presence type='unavailable' to={xa(r)}/>")
    a.wait(lambda s: is_presence(s, frm_bare=r, type_="unavailable", self_=True), m,
           what="the unavailable self-presence")
    assert_rooms(a, {}, when="after leaving via the bare room JID")


def test_presence_update_to_own_nick_changes_nothing(connect, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    seq = a.event_seq()
    m = a.mark()
    a.send(f"<presence to={xa(r + '/Alice')}><show>away</show></presence>")
    a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_=None, self_=True), m,
           what="the reflected presence update")
    assert_rooms(a, {r: "Alice"}, when="after a presence update")
    assert_events(a, seq, [], room=r)


def test_rejoin_after_leave(connect, room):
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    a.leave(r, "Alice")
    a.join(r, "Alice2")
    assert_rooms(a, {r: "Alice2"}, when="after leaving and joining again")


def test_nick_change_303(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    seq = a.event_seq()
    m = a.mark()
    a.send(f"<presence to={xa(r + '/Alicia')}/>")
    gone = a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable", self_=True), m,
                  what="the unavailable 303 self-presence")
    assert "303" in gone.status_codes, f"expected status 303: {gone}"
    a.wait(lambda s: is_presence(s, frm=r + "/Alicia", type_=None, self_=True), m,
           what="the self-presence under the new nick")
    assert_rooms(a, {r: "Alicia"}, when="after the nick change")
    assert_events(a, seq, [{"name": "nick-changed", "room": r, "nick": "Alicia",
                            "old_nick": "Alice"}], room=r, session=a.jid)
    # Bob saw Alice change nick; his own entry is untouched
    assert_rooms(b, {r: "Bob"}, when="after another occupant changed nick")


def test_nick_change_refused_by_conflict_keeps_old_nick(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    m = a.mark()
    a.send(f"<presence to={xa(r + '/Bob')}/>")
    err = a.wait(lambda s: is_presence(s, frm_bare=r, type_="error"), m,
                 what="the conflict error")
    assert err.error_condition == "conflict", f"expected a conflict error: {err}"
    assert_rooms(a, {r: "Alice"}, when="after a refused nick change")


def test_nick_rewritten_by_real_muc_status_210(connect, room):
    a = connect("alice")
    r = room("rewrite")  # mod_test_nick_rewrite appends "-x"
    seq = a.event_seq()
    p = a.join(r, "Alice")
    assert p.type is None and resource(p.frm) == "Alice-x" and "210" in p.status_codes, (
        f"expected the MUC to rewrite the nick to Alice-x with 210, got {p}")
    assert_rooms(a, {r: "Alice-x"}, when="after a join answered with 210")
    evs = a.events(seq, room=r)
    names = [e["name"] for e in evs]
    assert "joined" in names and "left" not in names and "join-failed" not in names, evs
    rew = [e for e in evs if e["name"] == "nick-rewritten"]
    assert len(rew) == 1 and rew[0].get("nick") == "Alice-x" and rew[0].get("old_nick") == "Alice", (
        f"expected one nick-rewritten event Alice -> Alice-x, got {evs}")


def test_kick_307_removes_entry(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")  # creator: owner, moderator
    b.join(r, "Bob")
    seq = a.event_seq()
    m = b.mark()
    a.admin_iq(r, "<item nick='Bob' role='none'><reason>out</reason></item>")
    p = b.wait(lambda s: is_presence(s, frm=r + "/Bob", type_="unavailable", self_=True), m,
               what="the unavailable 307 self-presence")
    assert "307" in p.status_codes, f"expected 307: {p}"
    assert_rooms(b, {}, when="after being kicked")
    assert_events(a, seq, [{"name": "left", "nick": "Bob", "reason": KICKED}],
                  room=r, session=b.jid)
    assert_rooms(a, {r: "Alice"}, when="after kicking someone else")


def test_ban_301_removes_entry(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    seq = a.event_seq()
    m = b.mark()
    a.admin_iq(r, f"<item jid='{b.bare}' affiliation='outcast'/>")
    p = b.wait(lambda s: is_presence(s, frm=r + "/Bob", type_="unavailable", self_=True), m,
               what="the unavailable 301 self-presence")
    assert "301" in p.status_codes, f"expected 301: {p}"
    assert_rooms(b, {}, when="after being banned")
    assert_events(a, seq, [{"name": "left", "nick": "Bob", "reason": BANNED}],
                  room=r, session=b.jid)
    # a banned user's join is refused: no entry
    err = b.join(r, "Bob")
    assert err.type == "error" and err.error_condition == "forbidden", err
    assert_rooms(b, {}, when="after a refused join of a banned user")


def test_destroy_by_owner_removes_every_occupant(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    seq = a.event_seq()
    ma, mb = a.mark(), b.mark()
    alt = room("venue")
    a.owner_iq(r, f"<destroy jid={xa(alt)}><reason>moving</reason></destroy>")
    for c, m, nick in ((a, ma, "Alice"), (b, mb, "Bob")):
        p = c.wait(lambda s: is_presence(s, frm=r + "/" + nick, type_="unavailable"), m,
                   what="the unavailable presence of the destroyed room")
        x = p.muc_user
        assert x is not None and x.find("{http://jabber.org/protocol/muc#user}destroy") is not None, p
        assert_rooms(c, {}, when="after the room was destroyed")
    for c, nick in ((a, "Alice"), (b, "Bob")):
        assert_events(a, seq, [{"name": "left", "nick": nick, "reason": DESTROYED}],
                      room=r, session=c.jid)


def test_rejoin_of_a_destroyed_persistent_room(connect, room):
    """A destroyed persistent room, joined again: Prosody's MUC (0.12 and
    13) keeps a tombstone of it (muc_tombstones, on by default, for
    muc_tombstone_expiry, 31 days), which refuses the join with <gone/>
    (cancel): the join fails (join-failed, condition gone), no entry is
    left."""
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    a.configure(r, {"muc#roomconfig_persistentroom": "1"})
    b.join(r, "Bob")
    mb = b.mark()
    a.owner_iq(r, "<destroy><reason>closing</reason></destroy>")
    b.wait(lambda s: is_presence(s, frm=r + "/Bob", type_="unavailable"), mb,
           what="the unavailable presence of the destroyed room")
    assert_rooms(b, {}, when="after the room was destroyed")
    seq = b.event_seq()
    p = b.join(r, "Bob")
    assert p.type == "error" and p.error_condition == "gone", \
        f"expected the tombstone's <gone/>, got {p}"
    assert_rooms(b, {}, when="after the tombstone refused the join")
    assert_events(b, seq, [{"name": "join-failed", "condition": "gone"}],
                  room=r, session=b.jid)


def test_members_only_join_refused_407(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    a.configure(r, {"muc#roomconfig_membersonly": "1"})
    seq = a.event_seq()
    err = b.join(r, "Bob")
    assert err.type == "error" and err.error_condition == "registration-required", (
        f"expected registration-required, got {err}")
    assert_rooms(b, {}, when="after a refused join (407)")
    assert_events(a, seq, [{"name": "join-failed", "condition": "registration-required"}],
                  room=r, session=b.jid)


def test_nick_conflict_409_then_retry_with_other_nick(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Same")
    seq = a.event_seq()
    err = b.join(r, "Same")
    assert err.type == "error" and err.error_condition == "conflict", f"expected conflict: {err}"
    assert_rooms(b, {}, when="after a join refused with conflict")
    assert_events(a, seq, [{"name": "join-failed", "condition": "conflict"}],
                  room=r, session=b.jid)
    p = b.join(r, "Other")
    assert p.is_self, p
    assert_rooms(b, {r: "Other"}, when="after retrying with another nick")
    assert_rooms(a, {r: "Same"}, when="after someone else's conflict")


def test_affiliation_change_321_removes_entry(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    a.configure(r, {"muc#roomconfig_membersonly": "1"})
    a.admin_iq(r, f"<item jid='{b.bare}' affiliation='member'/>")
    b.join(r, "Bob")
    assert_rooms(b, {r: "Bob"}, when="after a member joined")
    seq = a.event_seq()
    m = b.mark()
    a.admin_iq(r, f"<item jid='{b.bare}' affiliation='none'/>")
    p = b.wait(lambda s: is_presence(s, frm=r + "/Bob", type_="unavailable", self_=True), m,
               what="the unavailable 321 self-presence")
    assert "321" in p.status_codes, f"expected 321: {p}"
    assert_rooms(b, {}, when="after losing membership (321)")
    assert_events(a, seq, [{"name": "left", "nick": "Bob", "reason": AFFILIATION}],
                  room=r, session=b.jid)


def test_room_made_members_only_322_removes_entry(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    seq = a.event_seq()
    m = b.mark()
    a.configure(r, {"muc#roomconfig_membersonly": "1"})
    p = b.wait(lambda s: is_presence(s, frm=r + "/Bob", type_="unavailable", self_=True), m,
               what="the unavailable 322 self-presence")
    assert "322" in p.status_codes, f"expected 322: {p}"
    assert_rooms(b, {}, when="after the room became members-only (322)")
    assert_events(a, seq, [{"name": "left", "nick": "Bob", "reason": MEMBERS_ONLY}],
                  room=r, session=b.jid)
    assert_rooms(a, {r: "Alice"}, when="(the owner stays)")


def test_two_resources_in_different_rooms(connect, room):
    a1 = connect("alice")
    a2 = connect("alice")
    r1, r2 = room(), room()
    a1.join(r1, "One")
    a2.join(r2, "Two")
    assert_rooms(a1, {r1: "One"}, when="(first resource)")
    assert_rooms(a2, {r2: "Two"}, when="(second resource)")
    a1.leave(r1, "One")
    assert_rooms(a1, {}, when="after the first resource left its room")
    assert_rooms(a2, {r2: "Two"}, when="after the other resource left another room")


def test_two_resources_same_room_same_nick(connect, room):
    a1 = connect("alice")
    a2 = connect("alice")
    r = room()
    seq = a1.event_seq()
    a1.join(r, "Al")
    m1 = a1.mark()
    p = a2.join(r, "Al")  # Prosody multi-session: both share the occupant
    assert p.is_self, p
    # a1 gets a 110 again for the shared occupant: a duplicate
    a1.wait(lambda s: is_presence(s, frm=r + "/Al", type_=None, self_=True), m1,
            what="the shared occupant's self-presence to the first session")
    assert_rooms(a1, {r: "Al"}, when="(first session, shared nick)")
    assert_rooms(a2, {r: "Al"}, when="(second session, shared nick)")
    assert_events(a1, seq, [{"name": "joined", "nick": "Al"}], room=r, session=a1.jid)
    assert_events(a1, seq, [{"name": "joined", "nick": "Al"}], room=r, session=a2.jid)
    seq = a1.event_seq()
    m2 = a2.mark()
    a1.leave(r, "Al")
    a2.wait(lambda s: is_presence(s, frm=r + "/Al", type_=None, self_=True), m2,
            what="the available self-presence to the session that stays")
    assert_rooms(a1, {}, when="after the first session left the shared nick")
    assert_rooms(a2, {r: "Al"}, when="after the other session left the shared nick")
    assert_events(a1, seq, [{"name": "left", "nick": "Al", "reason": VOLUNTARY}],
                  room=r, session=a1.jid)
    assert_events(a1, seq, [], room=r, session=a2.jid)


def test_two_resources_same_room_different_nicks(connect, room):
    a1 = connect("alice")
    a2 = connect("alice")
    r = room()
    a1.join(r, "First")
    a2.join(r, "Second")
    assert_rooms(a1, {r: "First"})
    assert_rooms(a2, {r: "Second"})
    a2.leave(r, "Second")
    assert_rooms(a1, {r: "First"}, when="after the other resource left")
    assert_rooms(a2, {})


def test_session_changes_away_from_shared_nick(connect, room):
    a1 = connect("alice")
    a2 = connect("alice")
    r = room()
    a1.join(r, "Al")
    a2.join(r, "Al")
    seq = a1.event_seq()
    m2 = a2.mark()
    a2.send(f"<presence to={xa(r + '/Al2')}/>")
    a2.wait(lambda s: is_presence(s, frm=r + "/Al2", type_=None, self_=True), m2,
            what="the self-presence under the new nick")
    assert_rooms(a2, {r: "Al2"}, when="after changing away from the shared nick")
    assert_rooms(a1, {r: "Al"}, when="after the other session changed away")
    assert_events(a1, seq, [{"name": "nick-changed", "old_nick": "Al", "nick": "Al2"}],
                  room=r, session=a2.jid)
    assert_events(a1, seq, [], room=r, session=a1.jid)


def test_broadcast_unavailable_leaves_every_room(connect, room):
    a = connect("alice")
    r1, r2 = room(), room()
    a.join(r1, "Alice")
    a.join(r2, "Ali")
    seq = a.event_seq()
    m = a.mark()
    a.send("<presence type='unavailable'/>")
    for r in (r1, r2):
        a.wait(lambda s, r=r: is_presence(s, frm_bare=r, type_="unavailable", self_=True), m,
               what=f"the unavailable self-presence from {r}")
    assert_rooms(a, {}, when="after a broadcast unavailable")
    evs = a.events(seq, session=a.jid)
    got = sorted((e["name"], e["room"], e.get("reason")) for e in evs)
    assert got == sorted([("left", r1, VOLUNTARY), ("left", r2, VOLUNTARY)]), (
        f"expected two voluntary leaves, got {evs}")


def test_room_jid_in_upper_case(connect, room):
    a = connect("alice")
    r = room()
    upper = r.upper()
    p = a.join(upper, "Mixed-Case")
    assert p.is_self, p
    assert_rooms(a, {r: "Mixed-Case"}, when=f"after joining {upper} (key: the prepped JID)")
    a.leave(upper, "Mixed-Case")
    assert_rooms(a, {}, when="after leaving via the upper-case JID")


def test_non_ascii_nick(connect, room):
    a = connect("alice")
    r = room()
    nick = "Zoë Łukasz 名前"
    p = a.join(r, nick)
    assert p.is_self and resource(p.frm) == nick, p
    assert_rooms(a, {r: nick}, when="with a non-ASCII nick")


def test_xml_special_characters_in_nick(connect, room):
    a = connect("alice")
    r = room()
    nick = "<&'\">"
    p = a.join(r, nick)
    assert p.is_self and resource(p.frm) == nick, p
    assert_rooms(a, {r: nick}, when="with a nick of XML special characters")
    a.leave(r, nick)
    assert_rooms(a, {}, when="after leaving")


def test_300_character_nick(connect, room):
    a = connect("alice")
    r = room()
    nick = ("n" * 99 + "-") * 3
    assert len(nick) == 300
    p = a.join(r, nick)
    assert p.is_self, p
    assert_rooms(a, {r: nick}, when="with a 300-character nick")


def test_many_rooms_one_session(connect, room):
    a = connect("alice")
    rooms = {room(): f"Nick{i}" for i in range(20)}
    for r, n in rooms.items():
        a.join(r, n)
    assert_rooms(a, rooms, when="after joining 20 rooms")


def test_join_without_muc_x_is_not_tracked(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    b.join(r, "Bob")  # the room exists
    m = a.mark()
    a.join(r, "Alice", x=False, wait=False)
    err = a.wait(lambda s: is_presence(s, frm_bare=r, type_="error"), m,
                 what="Prosody's refusal of a join without <x/>")
    assert err.error_condition == "item-not-found", err
    assert_rooms(a, {}, when="after a groupchat-1.0 join (no MUC <x/>)")


def test_session_end_clears_rooms(connect, room):
    a = connect("alice")
    watcher = connect("bob")
    r1, r2 = room(), room()
    a.join(r1, "Alice")
    a.join(r2, "Alice")
    jid = a.jid
    seq = watcher.event_seq()
    a.disconnect()
    # resource-unbind runs as the server closes the stream: poll for it
    evs = wait_events(watcher, seq, lambda e: e["name"] == "left" and e.get("session") == jid,
                      count=2, what=f"left events of {jid} after it disconnected")
    got = sorted((e["room"], e.get("reason")) for e in evs)
    assert got == sorted([(r1, SESSION_CLOSED), (r2, SESSION_CLOSED)]), (
        f"expected left/session-closed for both rooms, got {evs}")
    r = watcher.rooms(jid)
    assert r.session == "absent", f"{jid} should be gone after disconnecting: {r.describe()}"


def test_presence_error_sent_to_room_ends_membership(connect, room):
    """Prosody's MUC kicks an occupant that sends it a presence error
    (handle_kickable): unavailable 110 + 333."""
    a = connect("alice")
    r = room()
    a.join(r, "Alice")
    seq = a.event_seq()
    m = a.mark()
    a.send(f"<presence type='error' to={xa(r + '/Alice')}><error type='cancel'>"
           f"<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
    p = a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable", self_=True), m,
               what="the unavailable 333 self-presence")
    assert "333" in p.status_codes, p
    assert_rooms(a, {}, when="after sending a presence error to the room")
    assert_events(a, seq, [{"name": "left", "reason": "technical"}], room=r)


def test_kickable_message_error_sent_to_room_ends_membership(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    seq = a.event_seq()
    m = a.mark()
    a.send(f"<message type='error' to={xa(r + '/Bob')}><error type='cancel'>"
           f"<recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    a.wait(lambda s: is_presence(s, frm=r + "/Alice", type_="unavailable", self_=True), m,
           what="the unavailable 333 self-presence")
    assert_rooms(a, {}, when="after sending a kickable message error into the room")
    assert_events(a, seq, [{"name": "left", "reason": "technical"}], room=r)
    assert_rooms(b, {r: "Bob"})


def test_non_kickable_message_error_changes_nothing(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    b.join(r, "Bob")
    m = b.mark()
    a.send(f"<message type='error' to={xa(r + '/Bob')}><error type='cancel'>"
           f"<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    # Prosody forwards it to Bob as a private message error: wait for that
    b.wait(lambda s: s.name == "message" and s.type == "error", m,
           what="the forwarded error message")
    assert_rooms(a, {r: "Alice"}, when="after a non-kickable message error")


def test_session_swaps_into_shared_nick(connect, room):
    """a2 moves from its own nick into a1's: Prosody sends a2 an unavailable
    from room/Al *without* 110 ("you are joining pre-existing session"),
    then 303+110 from room/Al2, then 110 from room/Al."""
    a1 = connect("alice")
    a2 = connect("alice")
    r = room()
    a1.join(r, "Al")
    a2.join(r, "Al2")
    seq = a1.event_seq()
    m1, m2 = a1.mark(), a2.mark()
    a2.send(f"<presence to={xa(r + '/Al')}/>")
    a2.wait(lambda s: is_presence(s, frm=r + "/Al", type_=None, self_=True), m2,
            what="the self-presence under the shared nick")
    a1.wait(lambda s: is_presence(s, frm=r + "/Al2", type_="unavailable"), m1,
            what="the other session's old nick leaving")
    assert_rooms(a2, {r: "Al"}, when="after swapping into the shared nick")
    assert_rooms(a1, {r: "Al"}, when="after the other session swapped in")
    assert_events(a1, seq, [{"name": "nick-changed", "old_nick": "Al2", "nick": "Al"}],
                  room=r, session=a2.jid)
    assert_events(a1, seq, [], room=r, session=a1.jid)


def test_non_ascii_room_jid_key_is_nodeprepped(connect, room):
    a = connect("alice")
    r = room()
    local, domain = r.split("@")
    asked = f"ÜNÏ-{local}@{domain}"
    p = a.join(asked, "Alice")
    assert p.is_self, p
    key = f"ünï-{local}@{domain}"
    assert_rooms(a, {key: "Alice"}, when=f"after joining {asked} (key: the prepped JID)")


def test_trailing_dot_in_room_domain(connect, room):
    a = connect("alice")
    r = room()
    p = a.join(r + ".", "Alice")
    assert p.is_self, p
    assert_rooms(a, {r: "Alice"}, when="after joining with a trailing dot on the domain")


def test_nick_normalised_by_resourceprep_is_not_a_rewrite(connect, room):
    """U+FB01 (ﬁ) becomes "fi" under Resourceprep (NFKC); Prosody preps the
    join's address before routing, so the room answers as "fish"."""
    a = connect("alice")
    r = room()
    seq = a.event_seq()
    p = a.join(r, "\ufb01sh")
    assert p.is_self and resource(p.frm) == "fish", p
    assert_rooms(a, {r: "fish"}, when="after joining as \\ufb01sh")
    names = [e["name"] for e in a.events(seq, room=r)]
    assert names == ["joined"], f"expected only 'joined' (no nick-rewritten): {names}"


def test_password_protected_room_refused_then_joined(connect, room):
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    a.configure(r, {"muc#roomconfig_passwordprotectedroom": "1",
                    "muc#roomconfig_roomsecret": "sesame"})
    seq = a.event_seq()
    err = b.join(r, "Bob")
    assert err.type == "error" and err.error_condition == "not-authorized", err
    assert_rooms(b, {}, when="after a join without the password")
    assert_events(a, seq, [{"name": "join-failed", "condition": "not-authorized"}],
                  room=r, session=b.jid)
    p = b.join(r, "Bob", password="sesame")
    assert p.is_self, p
    assert_rooms(b, {r: "Bob"}, when="after joining with the password")


def test_kick_of_shared_occupant_removes_both_sessions(connect, room):
    owner = connect("bob")
    a1 = connect("alice")
    a2 = connect("alice")
    r = room()
    owner.join(r, "Bob")
    a1.join(r, "Al")
    m1 = a1.mark()
    a2.join(r, "Al")
    a1.wait(lambda s: is_presence(s, frm=r + "/Al", type_=None, self_=True), m1,
            what="the duplicate self-presence")
    seq = owner.event_seq()
    m1, m2 = a1.mark(), a2.mark()
    owner.admin_iq(r, "<item nick='Al' role='none'/>")
    for c, m in ((a1, m1), (a2, m2)):
        c.wait(lambda s: is_presence(s, frm=r + "/Al", type_="unavailable", self_=True), m,
               what="the unavailable 307 self-presence")
        assert_rooms(c, {}, when="after the shared occupant was kicked")
        assert_events(owner, seq, [{"name": "left", "reason": KICKED}], room=r, session=c.jid)


PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
           "60e6kgAAAABJRU5ErkJggg==")


def is_avatar_presence(s, r):
    return (s.name == "presence" and s.frm == r and s.type is None
            and s.child("x", "vcard-temp:x:update") is not None)


def test_room_avatar_presences_change_nothing(connect, room):
    """Prosody 13's MUC (muc_vcard, on by default) announces the avatar an
    owner gives the room: a presence from the room's bare JID carrying
    vcard-temp:x:update, to every occupant when it is set (with a status
    104 groupchat message from the room) and to each occupant that joins
    after. No self-presence: nothing changes and nothing is asked (no
    self-ping). On 0.12 the room has no vCard (the iq is refused)."""
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    seq = a.event_seq()
    m = a.mark()
    res = a.iq(f"<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE>"
               f"<BINVAL>{PNG_1PX}</BINVAL></PHOTO></vCard>", to=r, type_="set", check=False)
    has_avatar = res.type == "result"
    if has_avatar:
        a.wait(lambda s: is_avatar_presence(s, r), m, what="the room's avatar presence")
        a.wait(lambda s: s.name == "message" and s.frm == r and "104" in s.status_codes, m,
               what="the room's status 104 message")
    m = b.mark()
    b.join(r, "Bob")
    if has_avatar:
        b.wait(lambda s: is_avatar_presence(s, r), m, what="the avatar presence after the join")
    assert_rooms(a, {r: "Alice"}, when="after the room's avatar was set")
    assert_rooms(b, {r: "Bob"}, when="after joining a room with an avatar")
    assert_events(a, seq, [{"name": "joined", "session": b.jid, "nick": "Bob"}], room=r)


def test_private_message_refused_by_the_room_changes_nothing(connect, room):
    """Prosody 13's MUC refuses private messages the room's configuration
    does not allow (muc#roomconfig_allowpm): an error policy-violation from
    the other occupant's nick, to every session of the sender. Not the
    room saying the sender is no occupant: nothing changes and nothing is
    asked. (0.12 has no such option and delivers the message.)"""
    a = connect("alice")
    b = connect("bob")
    r = room()
    a.join(r, "Alice")
    restricts = "muc#roomconfig_allowpm" in str(a.owner_iq(r, "", type_="get"))
    form = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
            "<value>http://jabber.org/protocol/muc#roomconfig</value></field>"
            "<field var='muc#roomconfig_allowpm'><value>none</value></field></x>")
    a.owner_iq(r, form)
    b.join(r, "Bob")
    seq = b.event_seq()
    ma, mb = a.mark(), b.mark()
    b.send(f"<message type='chat' to={xa(r + '/Alice')} id='pm-1'><body>hello</body></message>")
    if restricts:
        err = b.wait(lambda s: s.name == "message" and s.type == "error" and s.id == "pm-1", mb,
                     what="the room's refusal of the private message")
        assert err.frm == r + "/Alice" and err.error_condition == "policy-violation", err
    else:
        a.wait(lambda s: s.name == "message" and s.frm == r + "/Bob", ma,
               what="the private message")
    assert_rooms(b, {r: "Bob"}, when="after a private message the room refused")
    assert_events(b, seq, [], room=r)

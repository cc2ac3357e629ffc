-- Tests of the Lua binding (lua/mucjoins_lua.c) with Prosody's own
-- util.stanza. Run from the repository root:
--   lua5.4 tests/lua/test_binding.lua build/plugins/mod_track_muc_joins/mucjoins.so
-- One line per test, then "lua-binding: N passed, N failed"; exits 1 on a
-- failure.
local so_path = arg[1] or "build/plugins/mod_track_muc_joins/mucjoins.so"

package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local st = require "util.stanza"
local jid_split = require "util.jid".split
local has_xml, xml = pcall(require, "util.xml")

local NS_MUC = "http://jabber.org/protocol/muc"
local NS_MUC_USER = "http://jabber.org/protocol/muc#user"
local NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

local opener = assert(package.loadlib(so_path, "luaopen_mucjoins"))
local mj = opener()

---------------------------------------------------------------------------
-- harness

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")("lua-binding")
local test, eq, show = h.test, h.eq, h.show

local function truthy(v, what)
	if not v then error((what or "condition") .. " is false", 2) end
end

local function raises(pattern, fn, ...)
	local ok, err = pcall(fn, ...)
	if ok then error("expected an error matching " .. show(pattern), 2) end
	if pattern and not tostring(err):find(pattern, 1, true) then
		error("error " .. show(tostring(err)) .. " does not contain " .. show(pattern), 2)
	end
end

-- Events of one type (logs excluded).
local function of_type(events, ty)
	local r = {}
	for _, ev in ipairs(events or {}) do
		if ev.type == ty then r[#r + 1] = ev end
	end
	return r
end

local function non_log(events)
	local r = {}
	for _, ev in ipairs(events or {}) do
		if ev.type ~= "log" then r[#r + 1] = ev end
	end
	return r
end

---------------------------------------------------------------------------
-- stanzas as Prosody builds them

local ROOM = "room@muc.example.org"
local SESS = "user@example.org/phone"

local function join(to, id)
	return st.presence({ to = to, id = id or "join1" }):tag("x", { xmlns = NS_MUC }):up()
end

-- A self-presence: from room/nick, muc#user x with item and status codes.
local function self_presence(from, codes, attrs)
	local p = st.presence({ from = from, to = SESS, id = attrs and attrs.id or "join1", type = attrs and attrs.type })
	p:tag("x", { xmlns = NS_MUC_USER })
	p:tag("item", { affiliation = "member", role = "participant", nick = attrs and attrs.item_nick }):up()
	for _, c in ipairs(codes or { "110" }) do
		p:tag("status", { code = c }):up()
	end
	p:up()
	return p
end

local function joined_tracker(nick, opts)
	local t = mj.new(opts)
	local out = t:outgoing(SESS, join(ROOM .. "/" .. nick))
	eq(out, "changed", "outcome of the join")
	local oc, ev = t:incoming(SESS, self_presence(ROOM .. "/" .. nick))
	eq(oc, "changed", "outcome of the self-presence")
	eq(#of_type(ev, "joined"), 1, "joined events")
	return t
end

---------------------------------------------------------------------------
-- module

test("version is MJ_VERSION", function()
	eq(type(mj.version), "string", "type")
	truthy(mj.version:match("^%d+%.%d+%.%d+"), "version looks like x.y.z")
	eq(mj.version, "0.1.0", "version")
end)

test("new accepts nothing, an empty table and every field", function()
	truthy(mj.new(), "new()")
	truthy(mj.new({}), "new{}")
	truthy(mj.new({ max_rooms = 10, max_pending = 2, pending_timeout = 1.5, legacy_joins = true }), "all fields")
	truthy(mj.new({ max_rooms = 10.0 }), "integral float")
	truthy(tostring(mj.new()):match("^mucjoins%.tracker: "), "__tostring")
end)

test("mj.options lists the library's options, each accepted by new", function()
	local opts = mj.options()
	eq(#opts, 10, "number of options")
	local by_name = {}
	for _, o in ipairs(opts) do
		by_name[o.name] = o
		truthy(o.type == "number" or o.type == "boolean", o.name .. " type")
		eq(type(o.default), o.type, o.name .. " default's type")
		eq(type(o.doc), "string", o.name .. " doc")
		truthy(mj.new({ [o.name] = o.default }), o.name .. " = its default")
		if o.type == "number" then
			raises(o.name, mj.new, { [o.name] = "x" })
		else
			raises(o.name, mj.new, { [o.name] = 1 })
		end
	end
	eq(by_name.max_rooms.default, 1000, "max_rooms default")
	eq(math.type(by_name.max_rooms.default), "integer", "max_rooms is whole")
	eq(by_name.max_rooms.integer, true, "max_rooms integer")
	eq(by_name.pending_timeout.default, 120, "pending_timeout default")
	eq(by_name.pending_timeout.integer, false, "pending_timeout integer")
	eq(by_name.self_ping.default, true, "self_ping default")
	eq(by_name.legacy_joins.default, false, "legacy_joins default")
	eq(by_name.ping_retries.max, 1000, "ping_retries has a maximum")
	eq(by_name.max_rooms.max, nil, "max_rooms has none")
	eq(by_name.max_rooms.positive, true, "max_rooms: 0 switches it off")
	eq(by_name.ping_budget.positive, true, "ping_budget: 0 switches it off")
	eq(by_name.ping_start_delay.positive, false, "ping_start_delay may be 0")
	eq(by_name.legacy_joins.positive, false, "a boolean is not positive")
	local t = mj.new({ ping_retries = 5000 })
	truthy(t, "a retry count over the maximum is accepted")
	eq(opts[1].name, "max_rooms", "first, in mj_config's order")
end)

test("new rejects bad field types with an argument error", function()
	raises("max_rooms", mj.new, { max_rooms = "10" })
	raises("max_rooms", mj.new, { max_rooms = 1.5 })
	raises("max_pending", mj.new, { max_pending = -1 })
	raises("pending_timeout", mj.new, { pending_timeout = "soon" })
	raises("legacy_joins", mj.new, { legacy_joins = 1 })
	raises("bad argument #1", mj.new, 42)
end)

test("methods check their arguments", function()
	local t = mj.new()
	raises("mucjoins.tracker expected", t.rooms, {}, SESS)
	raises("mucjoins.tracker expected", t.tick, nil)
	raises("bad argument #2", t.outgoing, t, nil, st.presence())
	raises("bad argument #3", t.outgoing, t, SESS, "<presence/>")
	raises("bad argument #3", t.incoming, t, SESS, nil)
	raises("max_rooms", t.configure, t, { max_rooms = false })
	raises("bad argument #4", t.restore, t, SESS, ROOM, nil, "n", nil, 0)
end)

---------------------------------------------------------------------------
-- joining

test("join then self-presence fires joined with room, nick and session jid", function()
	local t = mj.new()
	local oc, ev = t:outgoing(SESS, join(ROOM .. "/Alice"))
	eq(oc, "changed", "join outcome")
	eq(#non_log(ev), 0, "no event while pending")
	oc, ev = t:incoming(SESS, self_presence(ROOM .. "/Alice"))
	eq(oc, "changed", "self-presence outcome")
	local j = of_type(ev, "joined")
	eq(#j, 1, "joined events")
	eq(j[1].room, ROOM, "room")
	eq(j[1].nick, "Alice", "nick")
	eq(j[1].jid, SESS, "jid")
	eq(j[1].reason, nil, "no reason on joined")
	eq(j[1].old_nick, nil, "no old_nick")
	eq(t:nick(SESS, ROOM), "Alice", "t:nick")
end)

test("the nick is the resource of from, byte for byte, as Prosody sees it", function()
	local t = mj.new()
	local from = "Ünïcode.Room@muc.example.org/Ünïcode Nick ☕"
	local _, _, resource = jid_split(from)
	t:outgoing(SESS, join(from))
	local _, ev = t:incoming(SESS, self_presence(from))
	local j = of_type(ev, "joined")
	eq(#j, 1, "joined events")
	eq(j[1].nick, resource, "event nick")
	eq(j[1].room, "ünïcode.room@muc.example.org", "prepped room")
	eq(t:nick(SESS, "ünïcode.room@muc.example.org"), resource, "t:nick")
	eq(t:nick(SESS, "ÜNÏCODE.ROOM@MUC.EXAMPLE.ORG"), resource, "t:nick, other spelling")
	local rooms = t:rooms(SESS)
	eq(#rooms, 1, "rooms")
	eq(rooms[1].nick, resource, "rooms nick")
end)

test("nick rewritten by the room: the room's nick wins", function()
	local t = mj.new()
	t:outgoing(SESS, join(ROOM .. "/asked"))
	local _, ev = t:incoming(SESS, self_presence(ROOM .. "/given", { "110", "210" }))
	eq(#of_type(ev, "joined"), 1, "joined")
	local rw = of_type(ev, "nick-rewritten")
	eq(#rw, 1, "nick-rewritten")
	eq(rw[1].nick, "given", "nick")
	eq(rw[1].old_nick, "asked", "old_nick")
end)

test("t:rooms lists state, nick, pending_nick and since", function()
	local t = mj.new()
	eq(#t:rooms(SESS), 0, "unknown session: empty table")
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	local r = t:rooms(SESS)
	eq(#r, 1, "one room while pending")
	eq(r[1].room, ROOM, "room")
	eq(r[1].state, "pending", "state")
	eq(r[1].nick, nil, "no nick while pending")
	eq(r[1].pending_nick, "Alice", "pending_nick")
	eq(type(r[1].since), "number", "since")
	t:incoming(SESS, self_presence(ROOM .. "/Alice"))
	r = t:rooms(SESS)
	eq(#r, 1, "one room joined")
	eq(r[1].state, "joined", "state")
	eq(r[1].nick, "Alice", "nick")
	eq(r[1].pending_nick, nil, "pending_nick")
end)

test("t:close fires left session-closed and forgets the session", function()
	local t = joined_tracker("Alice")
	eq(#t:sessions(), 1, "one session")
	eq(t:sessions()[1], SESS, "session jid")
	local ev = t:close(SESS)
	local l = of_type(ev, "left")
	eq(#l, 1, "left events")
	eq(l[1].reason, "session-closed", "reason")
	eq(l[1].room, ROOM, "room")
	eq(l[1].nick, "Alice", "nick")
	eq(l[1].jid, SESS, "jid")
	eq(#t:sessions(), 0, "no session left")
	eq(#t:rooms(SESS), 0, "no rooms")
	eq(t:nick(SESS, ROOM), nil, "no nick")
	eq(t:close(SESS), nil, "closing again: nil")
end)

-- A session the tracker does not hold is one with state in no room: a
-- self-presence to it is refused as forged (counted), as for a room a held
-- session never joined, and no session is created.
test("incoming for an unknown session changes nothing and opens nothing", function()
	local t = mj.new()
	local oc, ev = t:incoming(SESS, self_presence(ROOM .. "/Alice"))
	eq(oc, "forged", "outcome")
	eq(t:stats().forged, 1, "counted as forged")
	eq(t:incoming(SESS, st.presence({ from = ROOM .. "/Bob", to = SESS })), "ignored",
		"outcome of another presence")
	eq(ev, nil, "events")
	eq(#t:sessions(), 0, "sessions")
end)

test("nothing changed: outgoing and incoming return the outcome alone", function()
	local t = joined_tracker("Alice")
	local other = st.presence({ from = ROOM .. "/Bob", to = SESS })
		:tag("x", { xmlns = NS_MUC_USER }):tag("item", { affiliation = "member", role = "participant" }):up():up()
	eq(select("#", t:incoming(SESS, other)), 1, "another occupant: one value")
	eq(t:incoming(SESS, other), "unchanged", "outcome")
	eq(select("#", t:incoming("nobody@example.org/x", other)), 1, "unknown session: one value")
	eq(select("#", t:outgoing(SESS, st.presence({ to = "elsewhere@example.org/x" }))), 1, "untracked: one value")
end)

-- Session handles are cached by JID in the tracker: closing must drop the
-- entry, whatever spelling closed it. Run under valgrind to see a stale one.
test("cached session handles: closed sessions are never used again", function()
	local t = mj.new()
	for i = 1, 50 do
		local room = "r" .. i .. "@muc.example.org"
		eq(t:outgoing(SESS, join(room .. "/n")), "changed", "join " .. i)
		eq(#of_type(select(2, t:incoming(SESS, self_presence(room .. "/n"))), "joined"), 1, "joined " .. i)
		eq(#of_type(t:close(SESS), "left"), 1, "left on close " .. i)
		eq(t:incoming(SESS, self_presence(room .. "/n")), "forged", "after close: no session")
	end
end)

test("cached session handles: closing under another spelling forgets the cached one", function()
	local t = mj.new()
	local SPELL = "User@Example.org/phone" -- prepares to SESS
	for i = 1, 20 do
		eq(t:outgoing(SPELL, join(ROOM .. "/Alice")), "changed", "join under the first spelling")
		eq(t:incoming(SPELL, self_presence(ROOM .. "/Alice")), "changed", "cached handle")
		eq(t:incoming(SESS, self_presence(ROOM .. "/Alice")), "unchanged", "found under the prepared spelling")
		local ev = t:close(SESS)
		eq(#of_type(ev, "left"), 1, "closed " .. i)
		eq(#t:sessions(), 0, "no session")
		eq(t:incoming(SPELL, self_presence(ROOM .. "/Alice")), "forged", "the old spelling finds nothing")
		eq(t:nick(SPELL, ROOM), nil, "no nick")
	end
end)

-- The cache is a C table that grows with the sessions (several
-- doublings here) and replaces an entry only when its probe window is
-- full: every session keeps being found, closed ones are never found.
test("cached session handles: thousands of sessions, closed half, reopened", function()
	local t = mj.new()
	local N = 3000
	local function jid(i) return "user" .. i .. "@example.org/res" .. (i % 7) end
	local bytes0 = t:stats().bytes
	for i = 1, N do
		eq(t:outgoing(jid(i), join(ROOM .. "/n" .. i)), "changed", "join " .. i)
	end
	truthy(t:stats().bytes >= bytes0 + N * 16, "the cache's bytes are counted")
	for i = 1, N do
		eq(t:incoming(jid(i), self_presence(ROOM .. "/n" .. i)), "changed", "self-presence " .. i)
	end
	for i = 1, N, 2 do
		eq(#of_type(t:close(jid(i)), "left"), 1, "closed " .. i)
	end
	for i = 1, N do
		local want = i % 2 == 1 and "forged" or "unchanged"
		eq(t:incoming(jid(i), self_presence(ROOM .. "/n" .. i)), want, "after the closes " .. i)
	end
	for i = 1, N, 2 do
		eq(t:outgoing(jid(i), join(ROOM .. "/m" .. i)), "changed", "rejoin " .. i)
		eq(t:incoming(jid(i), self_presence(ROOM .. "/m" .. i)), "changed", "rejoined " .. i)
	end
	eq(#t:sessions(), N, "every session")
	for i = 1, N do
		eq(t:nick(jid(i), ROOM), (i % 2 == 1 and "m" or "n") .. i, "nick " .. i)
	end
end)

-- The cache follows the sessions down as the core's tables do: a peak of
-- sessions left its table at the peak's size for the tracker's life,
-- across reloads (the module keeps the tracker).
test("cached session handles: the cache shrinks as the sessions close", function()
	-- (what the closed sessions are owed expires after pending_timeout)
	local t = mj.new({ pending_timeout = 0.01 })
	local N = 20000
	local function jid(i) return "user" .. i .. "@example.org/r" end
	eq(t:outgoing(jid(0), join(ROOM .. "/n0")), "changed", "a first session")
	local bytes0 = t:stats().bytes
	for i = 1, N do
		t:outgoing(jid(i), join(ROOM .. "/n" .. i))
	end
	local peak = t:stats().bytes
	for i = 1, N do
		t:close(jid(i))
	end
	eq(#t:sessions(), 1, "one session left")
	local until_ = os.clock() + 0.05
	repeat until os.clock() > until_
	t:tick()
	eq(t:outgoing(jid(0), join(ROOM .. "/n0")), "changed", "the first session, its join again")
	eq(t:incoming(jid(0), self_presence(ROOM .. "/n0")), "changed", "still found")
	local left = t:stats().bytes - bytes0
	truthy(left < 4096, "bytes back to the first session's (" .. left .. " more; the peak "
		.. (peak - bytes0) .. " more)")
	for i = 1, 100 do
		eq(t:outgoing(jid(i), join(ROOM .. "/m" .. i)), "changed", "a new session " .. i)
	end
	eq(#t:sessions(), 101, "the new ones")
	for i = 1, 100 do
		eq(t:incoming(jid(i), self_presence(ROOM .. "/m" .. i)), "changed", "found again " .. i)
	end
end)

test("a stanza that is not presence/message/iq is ignored without a session", function()
	local t = mj.new()
	for _, s in ipairs({ st.stanza("foo", { to = ROOM .. "/x" }), { name = 5 }, {}, { name = "presence " } }) do
		local oc, ev = t:outgoing(SESS, s)
		eq(oc, "ignored", "outcome")
		eq(ev, nil, "events")
	end
	eq(#t:sessions(), 0, "sessions")
end)

test("outgoing with a session JID that does not prepare returns nil, message", function()
	local t = mj.new()
	local oc, err = t:outgoing("a@b@c/r", join(ROOM .. "/x"))
	eq(oc, nil, "outcome")
	eq(err, "malformed JID", "message (the module logs it at warn, once per session)")
end)

test("join error: join-failed with the condition", function()
	local t = mj.new()
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	local e = st.presence({ from = ROOM .. "/Alice", to = SESS, type = "error" })
		:tag("x", { xmlns = NS_MUC }):up()
		:tag("error", { type = "cancel", by = ROOM })
		:tag("text", { xmlns = NS_STANZAS }):text("nick taken"):up()
		:tag("conflict", { xmlns = NS_STANZAS }):up()
	local oc, ev = t:incoming(SESS, e)
	eq(oc, "changed", "outcome")
	local f = of_type(ev, "join-failed")
	eq(#f, 1, "join-failed")
	eq(f[1].condition, "conflict", "condition (the <text/> before it is skipped)")
	eq(f[1].reason, "error", "reason")
	eq(#t:rooms(SESS), 0, "nothing left")
end)

test("error_reply built by util.stanza gives the condition", function()
	local t = mj.new()
	local j = join(ROOM .. "/Alice")
	t:outgoing(SESS, j)
	local e = st.error_reply(j, "auth", "registration-required")
	e.attr.from, e.attr.to = ROOM .. "/Alice", SESS
	local _, ev = t:incoming(SESS, e)
	local f = of_type(ev, "join-failed")
	eq(#f, 1, "join-failed")
	eq(f[1].condition, "registration-required", "condition")
end)

test("parsed stanzas (util.xml: every element carries its xmlns)", function()
	if not has_xml then print("     (util.xml unavailable, skipped)") return end
	local t = mj.new()
	t:outgoing(SESS, xml.parse([[<presence xmlns='jabber:client' to='room@muc.example.org/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>]]))
	local _, ev = t:incoming(SESS, xml.parse([[<presence xmlns='jabber:client' from='room@muc.example.org/Bob'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>]]))
	eq(#of_type(ev, "joined"), 1, "joined")
	t:outgoing(SESS, xml.parse([[<presence xmlns='jabber:client' to='other@muc.example.org/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>]]))
	_, ev = t:incoming(SESS, xml.parse([[<presence xmlns='jabber:client' type='error' from='other@muc.example.org/Bob'><error xmlns='jabber:client' type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>]]))
	local f = of_type(ev, "join-failed")
	eq(#f, 1, "join-failed")
	eq(f[1].condition, "item-not-found", "condition")
end)

test("status 110 counts only inside the first muc#user x, in its namespace", function()
	local t = mj.new()
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	-- 110 in the muc namespace x
	local p = st.presence({ from = ROOM .. "/Alice" }):tag("x", { xmlns = NS_MUC }):tag("status", { code = "110" }):up():up()
	local _, ev = t:incoming(SESS, p)
	eq(#of_type(ev, "joined"), 0, "110 in muc x")
	-- 110 in a second muc#user x
	p = st.presence({ from = ROOM .. "/Alice" })
		:tag("x", { xmlns = NS_MUC_USER }):tag("item", { role = "participant" }):up():up()
		:tag("x", { xmlns = NS_MUC_USER }):tag("status", { code = "110" }):up():up()
	_, ev = t:incoming(SESS, p)
	eq(#of_type(ev, "joined"), 0, "110 in the second x")
	-- status child in a foreign namespace
	p = st.presence({ from = ROOM .. "/Alice" })
		:tag("x", { xmlns = NS_MUC_USER }):tag("status", { code = "110", xmlns = "urn:example" }):up():up()
	_, ev = t:incoming(SESS, p)
	eq(#of_type(ev, "joined"), 0, "status in a foreign namespace")
	-- children explicitly in the muc#user namespace, as the stream parser makes them
	p = st.presence({ from = ROOM .. "/Alice" })
		:tag("x", { xmlns = NS_MUC_USER }):tag("status", { code = "110", xmlns = NS_MUC_USER }):up():up()
	_, ev = t:incoming(SESS, p)
	eq(#of_type(ev, "joined"), 1, "status with the parent's xmlns")
end)

test("many status codes: the first MJ_MAX_STATUS are kept", function()
	local t = mj.new()
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	local codes = {}
	for i = 1, 15 do codes[i] = "100" end
	codes[16] = "110"
	local _, ev = t:incoming(SESS, self_presence(ROOM .. "/Alice", codes))
	eq(#of_type(ev, "joined"), 1, "110 as the 16th code")
end)

test("leave by the room with destroy: reason text and alternate venue", function()
	local t = joined_tracker("Alice")
	local p = st.presence({ from = ROOM .. "/Alice", type = "unavailable" })
		:tag("x", { xmlns = NS_MUC_USER })
		:tag("item", { role = "none" }):up()
		:tag("destroy", { jid = "new@muc.example.org" })
		:tag("reason"):text("moved "):text("to "):text("new"):up():up()
		:tag("status", { code = "110" }):up()
	local _, ev = t:incoming(SESS, p)
	local l = of_type(ev, "left")
	eq(#l, 1, "left")
	eq(l[1].reason, "destroyed", "reason")
	eq(l[1].text, "moved to new", "text, concatenated")
	eq(l[1].alt_venue, "new@muc.example.org", "alt_venue")
end)

test("destroy with a single text child and no jid", function()
	local t = joined_tracker("Alice")
	local p = st.presence({ from = ROOM .. "/Alice", type = "unavailable" })
		:tag("x", { xmlns = NS_MUC_USER }):tag("destroy"):tag("reason"):text("bye"):up():up()
	local _, ev = t:incoming(SESS, p)
	local l = of_type(ev, "left")
	eq(#l, 1, "left (destroy without 110)")
	eq(l[1].text, "bye", "text")
	eq(l[1].alt_venue, nil, "no alt_venue")
end)

test("nick change via 303 and item nick", function()
	local t = joined_tracker("Alice")
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Alicia" }))
	local oc = t:incoming(SESS, self_presence(ROOM .. "/Alice", { "303", "110" },
		{ type = "unavailable", item_nick = "Alicia" }))
	eq(oc, "changed", "303 outcome")
	eq(t:nick(SESS, ROOM), "Alice", "old nick shown while expecting")
	local _, ev = t:incoming(SESS, self_presence(ROOM .. "/Alicia"))
	local c = of_type(ev, "nick-changed")
	eq(#c, 1, "nick-changed")
	eq(c[1].old_nick, "Alice", "old_nick")
	eq(c[1].nick, "Alicia", "nick")
	eq(t:nick(SESS, ROOM), "Alicia", "t:nick")
end)

test("303: the nick of the first item in the muc#user namespace, wherever it is", function()
	local t = joined_tracker("Alice")
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Alicia" }))
	local p = st.presence({ from = ROOM .. "/Alice", to = SESS, type = "unavailable" })
		:tag("x", { xmlns = NS_MUC_USER })
		:tag("status", { code = "303" }):up()
		:tag("item", { xmlns = "urn:example:other", nick = "Mallory" }):up()
		:tag("status", { code = "110" }):up()
		:tag("item", { nick = "Alicia" }):up()
		:tag("item", { nick = "Second" }):up()
	eq(t:incoming(SESS, p), "changed", "303")
	eq(t:rooms(SESS)[1].pending_nick, "Alicia", "the announced nick")
end)

test("voluntary leave", function()
	local t = joined_tracker("Alice")
	t:outgoing(SESS, st.presence({ type = "unavailable" }))
	eq(t:rooms(SESS)[1].state, "leaving", "leaving")
	local _, ev = t:incoming(SESS, self_presence(ROOM .. "/Alice", { "110" }, { type = "unavailable" }))
	local l = of_type(ev, "left")
	eq(#l, 1, "left")
	eq(l[1].reason, "voluntary", "reason")
	eq(#t:rooms(SESS), 0, "no rooms")
end)

test("mj.reads says which stanzas outgoing/incoming read at all", function()
	eq(mj.reads("message", "chat", false), false, "chat received")
	eq(mj.reads("message", nil, false), false, "normal received")
	eq(mj.reads("message", "groupchat", false), true, "groupchat received")
	eq(mj.reads("message", "groupchat", true), true, "groupchat sent (to watch for a ghost's refusal)")
	eq(mj.reads("message", "error", true), true, "error sent")
	eq(mj.reads("presence", nil, false), true, "presence received")
	eq(mj.reads("iq", "get", false), false, "iq")
	eq(mj.reads("foo", nil, false), false, "not a stanza")
	-- and a stanza it says is not read gives "ignored" without a session
	local t = mj.new({})
	eq(t:incoming("nobody@example.org/x", st.message({ type = "chat", from = ROOM .. "/Bob" })), "ignored", "chat")
	eq(#t:sessions(), 0, "no session opened")
end)

test("given the session table: rooms_joined written by the binding, events only when wanted", function()
	local t = mj.new({})
	local session = { full_jid = SESS }
	eq(t:outgoing(session, join(ROOM .. "/Alice")), "changed", "join")
	local oc, ev = t:incoming(session, self_presence(ROOM .. "/Alice"))
	eq(oc, "changed", "self-presence")
	eq(ev, nil, "no events when nobody wants them")
	eq(session.rooms_joined[ROOM], "Alice", "rooms_joined")
	eq(session.joined_rooms, session.rooms_joined, "joined_rooms is the same table")
	-- a nick change, events wanted: returned, marked applied
	t:outgoing(session, st.presence({ to = ROOM .. "/Alicia" }), true)
	eq(t:incoming(session, self_presence(ROOM .. "/Alice", { "303", "110" },
		{ type = "unavailable", item_nick = "Alicia" }), true), "changed", "303")
	oc, ev = t:incoming(session, self_presence(ROOM .. "/Alicia"), true)
	local c = of_type(ev, "nick-changed")
	eq(#c, 1, "nick-changed returned")
	eq(c[1].applied, true, "marked applied")
	eq(c[1].jid, SESS, "jid")
	eq(session.rooms_joined[ROOM], "Alicia", "new nick written")
	-- the leave
	t:outgoing(session, st.presence({ type = "unavailable" }))
	oc, ev = t:incoming(session, self_presence(ROOM .. "/Alicia", { "110" }, { type = "unavailable" }))
	eq(oc, "changed", "leave confirmed")
	eq(ev, nil, "no events")
	eq(session.rooms_joined[ROOM], nil, "room gone")
	-- a session table without full_jid, or with another type, is ignored
	eq(t:incoming({}, self_presence(ROOM .. "/Alicia")), "ignored", "no full_jid")
	eq(t:incoming({ full_jid = 42 }, self_presence(ROOM .. "/Alicia")), "ignored", "full_jid not a string")
	-- counted
	local n = t:counts()
	eq(n.joined, 1, "joins counted")
	eq(n.left.voluntary, 1, "leaves counted by reason")
	eq(n.mention, 0, "mentions counted")
end)

test("given the session table: a join failure is counted and shows nothing", function()
	local t = mj.new({})
	local session = { full_jid = SESS }
	t:outgoing(session, join(ROOM .. "/Alice"))
	t:incoming(session, self_presence(ROOM .. "/Alice"))
	-- a join error for another room (with the join's id, as Prosody copies it) is a record
	-- the module must see (join-failed counted either way)
	t:outgoing(session, join("other@muc.example.org/Alice"))
	local err = st.presence({ from = "other@muc.example.org/Alice", to = SESS, type = "error", id = "join1" })
		:tag("error", { type = "cancel" }):tag("conflict", { xmlns = NS_STANZAS }):up():up()
	local oc = t:incoming(session, err)
	eq(oc, "changed", "join failed")
	eq(t:counts()["join-failed"].error, 1, "failure counted by reason")
	eq(session.rooms_joined["other@muc.example.org"], nil, "never shown")
	eq(session.rooms_joined[ROOM], "Alice", "the other room stays")
end)

test("mentions: body, references and history delays reach the core", function()
	local t = joined_tracker("Alice")
	local function msg(body)
		return st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "m" })
			:tag("body"):text(body):up()
	end
	local _, ev = t:incoming(SESS, msg("hello "):tag("body"):text("ignored"):up())
	eq(#of_type(ev, "mention"), 0, "no mention without the nick")
	_, ev = t:incoming(SESS, msg("hi Alice!"))
	local m = of_type(ev, "mention")
	if #m == 0 and t:stats().mentions == 0 then
		print("     (the core reports no mentions yet: skipped)")
		return
	end
	eq(#m, 1, "mention by nick in the body")
	eq(m[1].room, ROOM, "room")
	eq(m[1].nick, "Alice", "nick")
	eq(m[1].from_nick, "Bob", "from_nick")
	eq(m[1].jid, SESS, "jid")
	-- a body in several text nodes, as the parser may split it
	_, ev = t:incoming(SESS, st.message({ from = ROOM .. "/Bob", type = "groupchat" })
		:tag("body"):text("hey Al"):text("ice, look"):up())
	eq(#of_type(ev, "mention"), 1, "body from several text nodes")
	-- XEP-0372 reference
	_, ev = t:incoming(SESS, msg("look at this")
		:tag("reference", { xmlns = "urn:xmpp:reference:0", type = "mention", uri = "xmpp:" .. ROOM .. "/Alice" }):up())
	eq(#of_type(ev, "mention"), 1, "reference mention")
	-- room history: delay from the room's bare JID
	_, ev = t:incoming(SESS, msg("hi Alice")
		:tag("delay", { xmlns = "urn:xmpp:delay", from = ROOM, stamp = "2020-01-01T00:00:00Z" }):up())
	eq(#of_type(ev, "mention"), 0, "history is no mention")
	_, ev = t:incoming(SESS, msg("hi Alice")
		:tag("x", { xmlns = "jabber:x:delay", from = ROOM, stamp = "20200101T00:00:00" }):up())
	eq(#of_type(ev, "mention"), 0, "legacy-delay history is no mention")
	-- a <subject/> with a <thread/> is no subject change (XEP-0045 8.1)
	local function hist()
		return msg("hi Alice")
			:tag("delay", { xmlns = "urn:xmpp:delay", from = ROOM, stamp = "2020-01-01T00:00:00Z" }):up()
	end
	t:incoming(SESS, st.message({ from = ROOM .. "/Bob", type = "groupchat" })
		:tag("subject"):text("s"):up():tag("thread"):text("t"):up())
	_, ev = t:incoming(SESS, hist())
	eq(#of_type(ev, "mention"), 0, "subject with a thread: still history")
	t:incoming(SESS, st.message({ from = ROOM, type = "groupchat" }):tag("subject"):text("s"):up())
	_, ev = t:incoming(SESS, hist())
	eq(#of_type(ev, "mention"), 1, "after the subject a delay from the room is forged")
	truthy(t:stats().mentions >= 3, "mentions counted")
end)

test("a body of several text nodes is joined only as far as the core reads it", function()
	-- The core reads a body's first 64 KiB and the byte after them
	-- (mucjoins.h, MJ_MAX_BODY); a body whose text the parser split
	-- (<body>a<x/>b</body>) was joined whole for every recipient: a 512 KB
	-- body in two texts cost each local occupant of the room ~9 times the
	-- same message in one text, and a copy of it all.
	local t = joined_tracker("Alice")
	local function body_of(texts)
		local m = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat" }):tag("body")
		for i, text in ipairs(texts) do
			if i > 1 then
				m:tag("br"):up()
			end
			m:text(text)
		end
		return m:up()
	end
	local function mentions(texts)
		local _, ev = t:incoming(SESS, body_of(texts))
		return #of_type(ev, "mention")
	end
	local x = string.rep("x", 65530)
	-- each as the same bytes in one text (which the core cuts itself)
	for _, case in ipairs({
		{ { "hi ", "Alice " .. string.rep("x", 100000) } },
		{ { string.rep("x", 100000), " Alice" } },
		{ { x .. " ", "Alice" } }, -- 65536 bytes: not cut
		{ { x .. " ", "Alice!" } }, -- the nick runs up to the cut
		{ { x .. " ", "Alic", "e", " and more" } },
		{ { x, " ", "Al", "ice" .. string.rep("y", 70000) } },
	}) do
		local texts = case[1]
		eq(mentions(texts), mentions({ table.concat(texts) }),
			"mentions of a body of " .. #texts .. " texts (" .. #table.concat(texts) .. " bytes)")
	end
	local big = string.rep("z", 200000)
	t:incoming(SESS, body_of({ big, big }))
	collectgarbage("collect")
	collectgarbage("stop")
	local before = collectgarbage("count")
	t:incoming(SESS, body_of({ big, big }))
	local kib = collectgarbage("count") - before
	collectgarbage("restart")
	truthy(kib < 100, "a body of two 200 KB texts costs no more than the 64 KiB read ("
		.. math.floor(kib) .. " KiB)")
end)

test("history: the room's delay is seen after an occupant's own delays", function()
	-- Prosody's MUC strips only an occupant's delays claiming to be from
	-- the room; its history replays the occupant's stanza with the room's
	-- delay appended after them (history.lib.lua)
	local t = joined_tracker("Alice")
	local m = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "m" })
		:tag("body"):text("hi Alice"):up()
	for i = 1, 6 do
		m:tag("delay", { xmlns = "urn:xmpp:delay", from = "x" .. i .. "@evil.example", stamp = "2020-01-01T00:00:00Z" }):up()
	end
	m:tag("delay", { xmlns = "urn:xmpp:delay", from = ROOM, stamp = "2020-01-01T00:00:00Z" }):up()
	m:tag("delay", { xmlns = "urn:xmpp:delay", from = "example.org", stamp = "2020-01-01T00:00:00Z" }):up()
	eq(t:importance(SESS, m, true), false, "history is held")
	local _, ev = t:incoming(SESS, m)
	eq(#of_type(ev, "mention"), 0, "history is no mention")
end)

test("importance: chatter with a wake payload, or one the server lists, gets no opinion", function()
	local t = joined_tracker("Alice")
	local function chatter()
		return st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "m" })
			:tag("body"):text("I sent you an OMEMO encrypted message"):up()
	end
	eq(t:importance(SESS, chatter(), true), false, "plain chatter is held")
	local m = chatter():tag("encryption", { xmlns = "urn:xmpp:eme:0", namespace = "eu.siacs.conversations.axolotl" }):up()
	eq(t:importance(SESS, m, true), nil, "encrypted: no opinion")
	m = chatter():tag("encrypted", { xmlns = "eu.siacs.conversations.axolotl" }):up()
	eq(t:importance(SESS, m, true), nil, "OMEMO: no opinion")
	m = chatter():tag("propose", { xmlns = "urn:xmpp:jingle-message:0", id = "c" }):up()
	eq(t:importance(SESS, m, true), nil, "a call: no opinion")
	m = chatter():tag("encryption", { xmlns = "urn:xmpp:eme:1" }):up()
	eq(t:importance(SESS, m, true), false, "another namespace: held")
	eq(t:importance(SESS, chatter(), true, true), nil, "a listed payload: no opinion")
	local mine = st.message({ from = ROOM .. "/Alice", to = SESS, type = "groupchat", id = "m" })
		:tag("body"):text("mine"):up():tag("encrypted", { xmlns = "urn:xmpp:omemo:2" }):up()
	eq(t:importance(SESS, mine, true), false, "the session's own: held")
	local state = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "s" })
		:tag("active", { xmlns = "http://jabber.org/protocol/chatstates" }):up()
	eq(t:importance(SESS, state, true), nil, "CSI: a body-less groupchat message, no opinion")
	eq(t:importance(SESS, state, "groupchat"), false, "push of mentions only: held")
	local call = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "c" })
		:tag("propose", { xmlns = "urn:xmpp:jingle-message:0", id = "c1" }):up()
	eq(t:importance(SESS, call, "groupchat"), nil, "push of mentions only: a call is pushed")
end)

test("history: a subject with a hint or marker, of any name, does not end it", function()
	-- Prosody's MUC keeps a body-less message in its history for any
	-- child in urn:xmpp:chat-markers:0, whatever its name (get_child(nil,
	-- ns)): a marker named body, x, ping... must count as well as a store
	-- hint after many other children, before or after the <subject/>
	local NS_MARKERS = "urn:xmpp:chat-markers:0"
	local t = joined_tracker("Alice")
	local function hist()
		return st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat" })
			:tag("body"):text("hi Alice"):up()
			:tag("delay", { xmlns = "urn:xmpp:delay", from = ROOM, stamp = "2020-01-01T00:00:00Z" }):up()
	end
	local function forged(name, xmlns, before, subject_last)
		local m = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat" })
		if not subject_last then m:tag("subject"):text("x"):up() end
		for i = 1, before or 0 do m:tag("k" .. i, { xmlns = "urn:example:" .. (i % 3) }):up() end
		m:tag(name, { xmlns = xmlns }):up()
		if subject_last then m:tag("subject"):text("x"):up() end
		return m:tag("delay", { xmlns = "urn:xmpp:delay", from = ROOM, stamp = "2020-01-01T00:00:00Z" }):up()
	end
	for _, name in ipairs { "body", "x", "ping", "thread", "delay", "reference", "error", "subject", "displayed" } do
		t:incoming(SESS, forged(name, NS_MARKERS))
		local _, ev = t:incoming(SESS, hist())
		eq(#of_type(ev, "mention"), 0, "marker <" .. name .. "/>: still history")
	end
	t:incoming(SESS, forged("store", "urn:xmpp:hints", 300))
	local _, ev = t:incoming(SESS, hist())
	eq(#of_type(ev, "mention"), 0, "store hint after 300 children: still history")
	t:incoming(SESS, forged("encryption", "urn:xmpp:eme:0", 300, true))
	_, ev = t:incoming(SESS, hist())
	eq(#of_type(ev, "mention"), 0, "encryption before the subject: still history")
	-- a store element in another namespace is no hint: the subject counts
	t:incoming(SESS, forged("store", "urn:example:hints", 20))
	_, ev = t:incoming(SESS, hist())
	eq(#of_type(ev, "mention"), 1, "no hint: the subject ends the history")
end)

test("a body counts in the namespace the client reads it in, read lazily", function()
	-- the stanza's attr.xmlns is read only for a child naming one, kept in
	-- an anchor slot below the loop's (many children before the body)
	local t = joined_tracker("Alice")
	t:incoming(SESS, st.message({ from = ROOM, type = "groupchat" }):tag("subject"):text("s"):up())
	local function try(sns, bns)
		local m = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", xmlns = sns })
		for i = 1, 20 do m:tag("x" .. i, { xmlns = "urn:example:" .. i }):up() end
		m:tag("body", { xmlns = bns }):text("hi Alice"):up()
		local _, ev = t:incoming(SESS, m)
		return #of_type(ev, "mention")
	end
	eq(try(nil, nil), 1, "no xmlns on either")
	eq(try("jabber:client", nil), 1, "the stanza's, inherited")
	eq(try("jabber:client", "jabber:client"), 1, "the stanza's, named")
	eq(try("jabber:client", "jabber:server"), 0, "another")
	eq(try(nil, "jabber:server"), 0, "jabber:server in a stanza without xmlns")
	eq(try(nil, "jabber:client"), 1, "jabber:client kept from another server's stream: the client's")
	eq(try("jabber:client", ""), 0, "no namespace")
end)

---------------------------------------------------------------------------
-- garbage in

test("malformed stanzas never raise", function()
	local t = joined_tracker("Alice")
	local boom = setmetatable({}, { __index = function() error("metamethod called") end,
		__len = function() error("__len called") end })
	local huge = st.presence({ from = ROOM .. "/Alice" }):tag("x", { xmlns = NS_MUC_USER })
	for i = 1, 20000 do huge:tag("status", { code = tostring(100 + i % 900) }):up() end
	local chatty = st.message({ from = ROOM .. "/Bob", type = "groupchat" })
	for i = 1, 5000 do
		chatty:tag("delay", { xmlns = "urn:xmpp:delay", from = "d" .. i }):up()
		chatty:tag("reference", { xmlns = "urn:xmpp:reference:0", type = "mention", uri = "xmpp:r" .. i }):up()
		chatty:tag("body"):text("b" .. i):text("c"):up()
	end
	huge:tag("status", { code = "11O" }):up():tag("status"):up()
	table.insert(huge.tags[1].tags, { name = "status", attr = { code = 110 } }) -- util.stanza refuses it
	local bad = {
		{ name = "presence", attr = "to=room" },
		{ name = "presence", attr = { to = 5, from = {}, type = true, id = 1.5 } },
		{ name = "presence", attr = { from = ROOM .. "/Alice" }, tags = "x" },
		{ name = "presence", attr = { from = ROOM .. "/Alice" }, tags = { 1, "x", true, {}, { name = {} } } },
		{ name = "presence", attr = { from = ROOM .. "/Alice" } }, -- no tags
		{ name = "presence", attr = { from = ROOM .. "/Alice" }, tags = {
			{ name = "x", attr = { xmlns = NS_MUC_USER }, tags = { { name = "status", attr = 5 },
				{ name = "status", attr = { code = 110 } }, { name = "item", attr = { nick = 7 } },
				{ name = "destroy", attr = { jid = false }, tags = { { name = "reason", 1, false, {} } } } } } } },
		{ name = "presence", attr = { from = ROOM .. "/Alice", type = "error" }, tags = {
			{ name = "error", tags = { { name = "conflict" }, { name = 5, attr = { xmlns = NS_STANZAS } },
				{ attr = { xmlns = NS_STANZAS } } } } } },
		{ name = "presence", attr = { from = ROOM .. "/Alice", type = "error" }, tags = { { name = "error", attr = { type = {} }, tags = 3 } } },
		{ name = "message", attr = boom, tags = boom },
		{ name = "iq", attr = { type = "error" }, tags = { boom } },
		setmetatable({ name = "presence" }, { __index = function() error("metamethod called") end }),
		{ name = "presence", attr = { to = ROOM .. "/x\0y" }, tags = { { name = "x", attr = { xmlns = NS_MUC } } } },
		{ name = "message", attr = { from = ROOM .. "/Bob", type = "groupchat" }, tags = {
			{ name = "body", attr = { xmlns = 5 }, "a", 7, {}, "b" }, { name = "subject", attr = "x" },
			{ name = "delay", attr = { xmlns = "urn:xmpp:delay", from = 5 } },
			{ name = "x", attr = { xmlns = "jabber:x:delay", from = {} } },
			{ name = "reference", attr = { xmlns = "urn:xmpp:reference:0", type = "mention", uri = false } },
			{ name = "reference", attr = { xmlns = "urn:xmpp:reference:0", type = {}, uri = "xmpp:x" } } } },
		huge,
		chatty,
	}
	for i, s in ipairs(bad) do
		for _, method in ipairs({ "incoming", "outgoing" }) do
			local ok, oc, ev = pcall(t[method], t, SESS, s)
			if not ok then error(("stanza #%d (%s) raised: %s"):format(i, method, oc)) end
			eq(type(oc), "string", ("stanza #%d (%s) outcome"):format(i, method))
			if ev ~= nil then eq(type(ev), "table", "events") end
		end
	end
	truthy(t.sessions(t), "tracker still usable")
end)

test("long child lists at every level: read right, the stack stays bounded", function()
	-- the reading leaves what it reads on the stack and drops it every few
	-- children: junk children (not tables, no name, skipped names) at every
	-- level, before what counts (run under valgrind by the test suite)
	local function junk(list, n)
		for i = 1, n do
			table.insert(list, i % 3 == 0 and { name = "other" .. i, attr = { xmlns = "urn:x" } }
				or i % 3 == 1 and "text" or { attr = {} })
		end
		return list
	end
	local t = mj.new()
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	local reason = { name = "reason", tags = {}, "gone", " for good" }
	local destroy = { name = "destroy", attr = { xmlns = NS_MUC_USER, jid = "new@muc.example.org" },
		tags = junk({}, 500) }
	table.insert(destroy.tags, reason)
	local x = { name = "x", attr = { xmlns = NS_MUC_USER }, tags = junk({}, 500) }
	table.insert(x.tags, { name = "item", attr = { nick = "Alice" }, tags = {} })
	table.insert(x.tags, { name = "status", attr = { code = "110" }, tags = {} })
	local p = { name = "presence", attr = { from = ROOM .. "/Alice", to = SESS }, tags = junk({}, 500) }
	table.insert(p.tags, x)
	eq(t:incoming(SESS, p), "changed", "self-presence after 500 junk children at two levels")
	eq(t:nick(SESS, ROOM), "Alice", "joined")
	table.insert(x.tags, destroy)
	x.tags[#x.tags - 1] = { name = "status", attr = { code = "110" } }
	p.attr.type = "unavailable"
	local _, ev = t:incoming(SESS, p)
	local left = of_type(ev, "left")
	eq(#left, 1, "destroyed after junk at three levels")
	eq(left[1] and left[1].alt_venue, "new@muc.example.org", "destroy jid")
	eq(left[1] and left[1].text, "gone for good", "reason text from two text nodes")
	-- an error with its condition after junk
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	local e = { name = "error", attr = { type = "cancel" }, tags = junk({}, 500) }
	table.insert(e.tags, { name = "conflict", attr = { xmlns = NS_STANZAS }, tags = {} })
	_, ev = t:incoming(SESS, { name = "presence", attr = { from = ROOM .. "/Alice", type = "error" },
		tags = junk({ e }, 500) })
	local failed = of_type(ev, "join-failed")
	eq(#failed, 1, "join failed")
	eq(failed[1] and failed[1].condition, "conflict", "condition after 500 junk children")
	-- a session table without full_jid is ignored by outgoing too
	eq(t:outgoing({ type = "c2s" }, join(ROOM .. "/Alice")), "ignored", "outgoing, no full_jid")
end)

test("a malformed status code is not read as 110", function()
	local t = mj.new()
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	for _, code in ipairs({ "110 ", " 110", "0110", "11", "11O", "+10", "099" }) do
		local _, ev = t:incoming(SESS, self_presence(ROOM .. "/Alice", { code }))
		eq(#of_type(ev, "joined"), 0, "code " .. show(code))
	end
	-- util.stanza refuses a number attribute: build the table by hand
	local status = { name = "status", attr = { code = 110 }, tags = {} }
	local x = { name = "x", attr = { xmlns = NS_MUC_USER }, tags = { status }, status }
	local p = { name = "presence", attr = { from = ROOM .. "/Alice" }, tags = { x }, x }
	local _, ev = t:incoming(SESS, p)
	eq(#of_type(ev, "joined"), 0, "numeric code")
end)

---------------------------------------------------------------------------
-- configuration, restore, stats, tick

test("configure changes limits; unspecified fields keep their values", function()
	local t = mj.new({ max_pending = 5 })
	t:configure({ max_pending = 1 })
	eq(t:outgoing(SESS, join("a@muc.example.org/x")), "changed", "first join")
	eq(t:outgoing(SESS, join("b@muc.example.org/x")), "limit", "second join over max_pending=1")
	t:configure({ max_rooms = 3 }) -- max_pending stays 1
	eq(t:outgoing(SESS, join("c@muc.example.org/x")), "limit", "still max_pending=1")
	t:configure({ max_pending = 10 })
	eq(t:outgoing(SESS, join("d@muc.example.org/x")), "changed", "after raising it")
	eq(t:stats().limits >= 2, true, "limits counted")
end)

test("restore puts a room back; bad state names give nil, message", function()
	local t = mj.new()
	eq(t:restore(SESS, ROOM, "joined", "Alice", nil, 0), true, "restore joined")
	eq(t:nick(SESS, ROOM), "Alice", "nick")
	eq(t:restore(SESS, "p@muc.example.org", "pending", nil, "Bob", 1.5), true, "restore pending")
	local seen = {}
	for _, r in ipairs(t:rooms(SESS)) do seen[r.room] = r end
	eq(seen[ROOM].state, "joined", "joined room")
	eq(seen["p@muc.example.org"].pending_nick, "Bob", "pending nick")
	eq(seen["p@muc.example.org"].since, 1.5, "since")
	local ok, err = t:restore(SESS, ROOM, "sleeping", "Alice", nil, 0)
	eq(ok, nil, "bad state")
	eq(type(err), "string", "message")
	ok, err = t:restore("other@example.org/r", "a@b@c", "joined", "x", nil, 0)
	eq(ok, nil, "bad room")
	eq(type(err), "string", "message")
	eq(#t:sessions(), 1, "a failed restore leaves no new session behind")
end)

test("stats has every mj_stats field as an integer", function()
	local t = joined_tracker("Alice")
	local s = t:stats()
	for _, f in ipairs({ "sessions", "rooms_shown", "pending", "changing", "leaving", "distinct_rooms",
		"bytes", "joins", "leaves", "join_failures", "forged", "limits", "bad_jids", "ambiguous",
		"mentions", "leaves_owed", "leaves_resent", "leaves_waiting", "leaves_answerable", "dropped_events" }) do
		eq(math.type(s[f]), "integer", f)
	end
	eq(s.sessions, 1, "sessions")
	eq(s.rooms_shown, 1, "rooms_shown")
	eq(s.joins, 1, "joins")
	truthy(s.bytes > 0, "bytes > 0 (Lua allocator in use)")
end)

test("tick: nil when nothing is due, join-failed timeout when it is", function()
	local t = mj.new({ pending_timeout = 0.01 })
	eq(t:tick(), nil, "nothing to do")
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	local t0 = os.clock()
	while os.clock() - t0 < 0.05 do end
	local ev = t:tick()
	local f = of_type(ev, "join-failed")
	eq(#f, 1, "join-failed")
	eq(f[1].reason, "timeout", "reason")
	eq(f[1].jid, SESS, "jid")
end)

test("log records, when present, have level and msg", function()
	local t = mj.new({ max_pending = 1 })
	local all = {}
	for _, r in ipairs({ "a", "b", "c" }) do
		local _, ev = t:outgoing(SESS, join(r .. "@muc.example.org/x"))
		for _, e in ipairs(ev or {}) do all[#all + 1] = e end
	end
	for _, e in ipairs(all) do
		if e.type == "log" then
			truthy(({ debug = 1, info = 1, warn = 1, error = 1 })[e.level], "level " .. show(e.level))
			eq(type(e.msg), "string", "msg")
		end
	end
end)

test("option_prefix: the log names an option as the embedder sets it; kept across configure", function()
	local function limit_lines(t, sess)
		local lines = {}
		for _, r in ipairs({ "a", "b" }) do
			local _, ev = t:outgoing(sess, join(r .. "@muc.example.org/x"))
			for _, e in ipairs(ev or {}) do
				if e.type == "log" and e.msg:find("limit", 1, true) then lines[#lines + 1] = e.msg end
			end
		end
		return lines
	end
	local prefix = "track_muc_" .. "joins_" -- a string made at run time, collected below
	local t = mj.new({ max_pending = 1, option_prefix = prefix })
	prefix = nil
	collectgarbage()
	local lines = limit_lines(t, SESS)
	eq(#lines, 1, "one bound line")
	truthy(lines[1]:find(": track_muc_joins_max_pending limit (1) reached", 1, true), lines[1])
	t:configure({ max_rooms = 5 }) -- without option_prefix: the prefix stays
	lines = limit_lines(t, "bob@example.org/r")
	truthy(lines[1] and lines[1]:find("track_muc_joins_max_pending limit", 1, true), show(lines[1]))
	t:configure({ option_prefix = "--" })
	lines = limit_lines(t, "carol@example.org/r")
	truthy(lines[1] and lines[1]:find(": --max-pending limit (1)", 1, true), show(lines[1]))
	t:configure({ option_prefix = "" })
	lines = limit_lines(t, "dave@example.org/r")
	truthy(lines[1] and lines[1]:find(": max_pending limit (1)", 1, true), show(lines[1]))
	raises("option_prefix", mj.new, { option_prefix = 1 })
	raises("option_prefix", mj.new, { option_prefix = string.rep("x", 33) })
	raises("option_prefix", t.configure, t, { option_prefix = "a\0b" })
	truthy(mj.new({ option_prefix = string.rep("x", 32) }), "32 bytes")
end)

---------------------------------------------------------------------------
-- lifetime

test("loading the module again keeps old trackers working", function()
	local t = joined_tracker("Alice")
	local mj2 = assert(package.loadlib(so_path, "luaopen_mucjoins"))()
	truthy(mj2 ~= mj, "a new module table")
	eq(getmetatable(mj2.new()), getmetatable(t), "same metatable reused")
	eq(t:nick(SESS, ROOM), "Alice", "old tracker after reload")
	local ev = t:close(SESS)
	eq(#of_type(ev, "left"), 1, "old tracker still fires events")
	local t2 = mj2.new()
	t2:outgoing(SESS, join(ROOM .. "/Bob"))
	eq(#of_type(select(2, t2:incoming(SESS, self_presence(ROOM .. "/Bob"))), "joined"), 1, "new tracker works")
end)

test("a second copy loaded from another path keeps to its own trackers", function()
	local src = io.open(so_path, "rb")
	if not src then error("cannot read " .. so_path) end
	local bytes = src:read("a")
	src:close()
	local copy = os.tmpname()
	local f = assert(io.open(copy, "wb"))
	f:write(bytes)
	f:close()
	local open2, err = package.loadlib(copy, "luaopen_mucjoins")
	os.remove(copy)
	assert(open2, err)
	local mjb = open2()
	local ta, tb = joined_tracker("Alice"), mjb.new()
	truthy(getmetatable(ta) ~= getmetatable(tb), "separate metatables")
	tb:outgoing(SESS, join(ROOM .. "/Bob"))
	eq(#of_type(select(2, tb:incoming(SESS, self_presence(ROOM .. "/Bob"))), "joined"), 1, "copy's tracker works")
	eq(ta:nick(SESS, ROOM), "Alice", "first copy's tracker works")
	raises("mucjoins.tracker expected", ta.rooms, tb, SESS)
	raises("mucjoins.tracker expected", tb.rooms, ta, SESS)
	ta, tb = nil, nil
	collectgarbage("collect")
end)

test("__gc frees trackers; a freed tracker raises instead of crashing", function()
	for _ = 1, 200 do
		local t = mj.new()
		t:outgoing(SESS, join(ROOM .. "/Alice"))
		t:incoming(SESS, self_presence(ROOM .. "/Alice"))
	end
	collectgarbage("collect")
	collectgarbage("collect")
	local t = joined_tracker("Alice")
	local gc = getmetatable(t).__gc
	gc(t)
	gc(t) -- twice is harmless
	truthy(tostring(t):find("freed", 1, true), "__tostring says freed")
	raises("freed", t.rooms, t, SESS)
	raises("freed", t.outgoing, t, SESS, join(ROOM .. "/x"))
	raises("freed", t.tick, t)
	t = nil
	collectgarbage("collect")
end)

test("t:feeders(): outgoing and incoming bound to the tracker", function()
	local t = mj.new({})
	local outgoing, incoming = t:feeders()
	eq(type(outgoing), "function", "outgoing")
	eq(type(incoming), "function", "incoming")
	local session = { full_jid = SESS }
	eq(outgoing(session, join(ROOM .. "/Alice")), "changed", "join")
	local oc, ev = incoming(session, self_presence(ROOM .. "/Alice"))
	eq(oc, "changed", "self-presence")
	eq(ev, nil, "no events when nobody wants them")
	eq(session.rooms_joined[ROOM], "Alice", "rooms_joined written")
	eq(t:nick(SESS, ROOM), "Alice", "the same tracker")
	-- events wanted, by JID, and what the methods refuse
	outgoing(session, st.presence({ to = ROOM .. "/Alicia" }))
	incoming(SESS, self_presence(ROOM .. "/Alice", { "303", "110" }, { type = "unavailable", item_nick = "Alicia" }))
	oc, ev = incoming(SESS, self_presence(ROOM .. "/Alicia"))
	eq(oc, "changed", "nick change by JID")
	eq(#of_type(ev, "nick-changed"), 1, "events returned by JID")
	eq(incoming({}, self_presence(ROOM .. "/Alicia")), "ignored", "no full_jid")
	eq(outgoing(session, { name = "presence", attr = 5, tags = 7 }), "ignored", "malformed: no raise")
	raises("table expected", incoming, session, "not a stanza")
	raises("string expected", incoming, true, self_presence(ROOM .. "/Alicia"))
	-- a second pair works on the same tracker; a freed tracker raises
	local out2 = t:feeders()
	eq(out2(session, st.presence({ type = "unavailable", to = ROOM .. "/Alicia" })), "changed", "second pair")
	getmetatable(t).__gc(t)
	raises("freed", outgoing, session, join(ROOM .. "/x"))
	raises("freed", incoming, SESS, self_presence(ROOM .. "/x"))
	raises("mucjoins.tracker expected", t.feeders, {})
end)

-- The hooks of t:hooks(): what they return (a count: Prosody's util.events
-- stops at a handler returning a value) and whether they raised.
local function hook_returns(fn, ...)
	local r = table.pack(pcall(fn, ...))
	truthy(r[1], "the hook did not raise: " .. tostring(r[2]))
	return r.n - 1
end

local function hooked_session(full_sessions, jid)
	local session = { full_jid = jid, host = "example.org", type = "c2s" }
	full_sessions[jid] = session
	return session
end

-- Prosody's mod_presence sends a session's last broadcast presence
-- (session.presence) again on its behalf: to a contact that probes it from
-- a full JID, to another resource of the account at its login. The client
-- sent it to no room: with legacy joins it was taken for a join of the
-- contact's JID (a PENDING entry, then a failed join).
test("t:hooks(): outgoing does not feed the session's own broadcast presence sent again", function()
	local t = mj.new({ legacy_joins = true })
	local full_sessions = {}
	local hooks = t:hooks(full_sessions, "example.org", setmetatable({}, { __mode = "k" }), function() end)
	local session = hooked_session(full_sessions, SESS)
	session.presence = st.presence():tag("show"):text("away"):up()
	session.presence.attr.to = "bob@example.net/pc"
	eq(hook_returns(hooks.outgoing, { origin = session, stanza = session.presence }), 0, "probe's answer")
	eq(#t:rooms(SESS), 0, "rooms after the probe's answer")
	-- the same presence as a stanza of its own (a client's directed presence)
	local directed = st.clone(session.presence)
	eq(hook_returns(hooks.outgoing, { origin = session, stanza = directed }), 0, "directed presence")
	eq(#t:rooms(SESS), 1, "rooms after a directed presence (a legacy join)")
end)

-- A broadcast (a presence without to) reaches a room only as the copy
-- mod_presence sends it, through the same hooks, to each JID the session
-- sent presence to; a module may stop one copy (mod_blocklist bounces the
-- one to a blocked room), and that room never gets the leave. The hooks
-- read the copies, not the broadcast.
test("t:hooks(): outgoing reads a broadcast unavailable's copies, not the broadcast", function()
	local t = mj.new({})
	local full_sessions = {}
	local hooks = t:hooks(full_sessions, "example.org", setmetatable({}, { __mode = "k" }), function() end)
	local session = hooked_session(full_sessions, SESS)
	local OTHER = "other@muc.example.org"
	for _, r in ipairs({ ROOM, OTHER }) do
		hook_returns(hooks.outgoing, { origin = session, stanza = join(r .. "/Alice") })
		hook_returns(hooks.incoming, { stanza = self_presence(r .. "/Alice") })
	end
	local broadcast = st.presence({ type = "unavailable" })
	eq(hook_returns(hooks.outgoing, { origin = session, stanza = broadcast }), 0, "broadcast")
	for _, info in ipairs(t:rooms(SESS)) do
		eq(info.state, "joined", "state of " .. info.room .. " after the broadcast alone")
	end
	-- the copy to OTHER, as mod_presence sends it (the same stanza); the
	-- one to ROOM was bounced
	broadcast.attr.to = OTHER .. "/Alice"
	hook_returns(hooks.outgoing, { origin = session, stanza = broadcast })
	local states = {}
	for _, info in ipairs(t:rooms(SESS)) do
		states[info.room] = info.state
	end
	eq(states[ROOM], "joined", "the room whose copy was stopped")
	eq(states[OTHER], "leaving", "the room the copy went to")
	-- a to of another type than a string (another module's stanza) is no JID
	local odd = st.presence({ type = "unavailable" })
	odd.attr.to = 42
	hook_returns(hooks.outgoing, { origin = session, stanza = odd })
	eq(#t:rooms(SESS), 2, "rooms after a to that is not a string")
	for _, info in ipairs(t:rooms(SESS)) do
		if info.room == ROOM then
			eq(info.state, "joined", "state after a to that is not a string")
		end
	end
	-- t:outgoing() itself still takes a broadcast for a leave of every room
	t:outgoing(SESS, st.presence({ type = "unavailable" }))
	for _, info in ipairs(t:rooms(SESS)) do
		eq(info.state, "leaving", "t:outgoing() of a broadcast: " .. info.room)
	end
end)

test("t:hooks(): the module's hooks feed the tracker and return nothing", function()
	local t = mj.new({})
	local full_sessions, seen, calls = {}, setmetatable({}, { __mode = "k" }), {}
	local function applied(...)
		calls[#calls + 1] = table.pack(...)
	end
	local hooks = t:hooks(full_sessions, "example.org", seen, applied)
	for _, name in ipairs({ "outgoing", "outgoing_message", "incoming", "incoming_message", "listen", "bind" }) do
		eq(type(hooks[name]), "function", name)
	end
	hooks.listen(false)
	local session = hooked_session(full_sessions, SESS)
	eq(hook_returns(hooks.outgoing, { origin = session, stanza = join(ROOM .. "/Alice") }), 0, "join")
	eq(hook_returns(hooks.incoming, { origin = {}, stanza = self_presence(ROOM .. "/Alice") }), 0, "self")
	eq(session.rooms_joined[ROOM], "Alice", "rooms_joined written")
	eq(#calls, 0, "applied not called: nothing to tell")
	-- the kind comes from the hook (Prosody's event names are made of the
	-- stanza's name): stanza.name is not read
	local THIRD = "third@muc.example.org"
	local j3, s3 = join(THIRD .. "/Al"), self_presence(THIRD .. "/Al")
	j3.name, s3.name = nil, nil
	hook_returns(hooks.outgoing, { origin = session, stanza = j3 })
	hook_returns(hooks.incoming, { stanza = s3 })
	eq(session.rooms_joined[THIRD], "Al", "joined without stanza.name")
	-- listening: the events go to applied("incoming", session, stanza, outcome, events)
	hooks.listen(true)
	hook_returns(hooks.outgoing, { origin = session, stanza = st.presence({ to = ROOM .. "/Alicia" }) })
	local p303 = self_presence(ROOM .. "/Alice", { "303", "110" }, { type = "unavailable", item_nick = "Alicia" })
	eq(hook_returns(hooks.incoming, { origin = {}, stanza = p303 }), 0, "303")
	local p = self_presence(ROOM .. "/Alicia")
	eq(hook_returns(hooks.incoming, { origin = {}, stanza = p }), 0, "new self-presence")
	local last = calls[#calls]
	eq(last[1], "incoming", "method")
	eq(last[2], session, "session")
	eq(last[3], p, "stanza")
	eq(last[4], "changed", "outcome")
	eq(#of_type(last[5], "nick-changed"), 1, "events")
	eq(session.rooms_joined[ROOM], "Alicia", "new nick written")
	-- an error presence is marked in seen (the module's join-error filter)
	hooks.listen(false)
	hook_returns(hooks.outgoing, { origin = session, stanza = join("other@muc.example.org/Alice") })
	local err = st.presence({ from = "other@muc.example.org/Alice", to = SESS, type = "error", id = "join1" })
		:tag("error", { type = "cancel" }):tag("conflict", { xmlns = NS_STANZAS }):up():up()
	eq(hook_returns(hooks.incoming, { origin = {}, stanza = err }), 0, "error presence")
	eq(seen[err], true, "marked seen")
	eq(seen[SESS], err, "the last error fed to the session (a copy of it is known by it)")
	eq(t:counts()["join-failed"].error, 1, "join failure counted")
	eq(seen[p], nil, "other presences are not marked")
	-- messages: groupchat read, chat skipped
	local gc = st.message({ from = ROOM .. "/bob", to = SESS, type = "groupchat" }):text_tag("body", "Alicia: hi")
	eq(hook_returns(hooks.incoming_message, { origin = {}, stanza = gc }), 0, "groupchat")
	eq(t:counts().mention, 1, "the mention reached the core")
	local chat = st.message({ from = "bob@example.net/x", to = SESS, type = "chat" }):text_tag("body", "Alicia")
	eq(hook_returns(hooks.incoming_message, { origin = {}, stanza = chat }), 0, "chat")
	eq(hook_returns(hooks.outgoing_message, { origin = session, stanza = chat }), 0, "chat sent")
	-- the core failing: applied(method, session, stanza, nil, message)
	local bad = hooked_session(full_sessions, "a@b@c/r")
	local before = #calls
	eq(hook_returns(hooks.outgoing, { origin = bad, stanza = join(ROOM .. "/x") }), 0, "failure")
	eq(#calls, before + 1, "applied called")
	eq(calls[#calls][1], "outgoing", "method")
	eq(calls[#calls][4], nil, "no outcome")
	eq(type(calls[#calls][5]), "string", "the message")
end)

test("t:hooks(): ignored, malformed and failing paths return nothing and never raise", function()
	local t = mj.new({})
	local full_sessions, seen = {}, setmetatable({}, { __mode = "k" })
	local calls = 0
	local hooks = t:hooks(full_sessions, "example.org", seen, function()
		calls = calls + 1
		error("applied raising")
	end)
	local session = hooked_session(full_sessions, SESS)
	local other_host = hooked_session(full_sessions, "u@elsewhere.org/r")
	other_host.host = "elsewhere.org"
	local retired = setmetatable({ full_jid = SESS }, { __index = { type = "c2s", destroyed = true } })
	local p = self_presence(ROOM .. "/Alice")
	local events = {
		"not a table", 42, nil, {}, { stanza = "x" }, { stanza = {} }, { stanza = { attr = 5 } },
		{ stanza = { attr = {} } }, { stanza = { name = "presence", attr = { to = SESS } } },
		{ stanza = { name = "presence", attr = { to = SESS, type = "error" }, tags = 3 } },
		{ stanza = { name = "message", attr = { to = SESS, type = "groupchat" }, tags = { 1, "x", {} } } },
		{ stanza = { name = 7, attr = { to = {}, type = {} } } },
		{ stanza = st.presence({ to = "nobody@example.org/r" }) },
		{ stanza = st.presence({ to = "u@elsewhere.org/r" }) },
		{ origin = "not a table", stanza = join(ROOM .. "/A") },
		{ origin = { type = "s2sin" }, stanza = join(ROOM .. "/A") },
		{ origin = { type = "c2s", full_jid = SESS, destroyed = true }, stanza = join(ROOM .. "/A") },
		{ origin = retired, stanza = join(ROOM .. "/A") },
		{ origin = { type = "c2s" }, stanza = join(ROOM .. "/A") },
		{ origin = session },
		{ origin = session, stanza = 5 },
		{ origin = session, stanza = { name = "message", attr = 5 } },
		{ origin = {}, stanza = p },
	}
	for _, name in ipairs({ "outgoing", "outgoing_message", "incoming", "incoming_message" }) do
		for i = 1, #events + 1 do -- #events + 1: no argument at all
			local n
			if i <= #events then
				n = hook_returns(hooks[name], events[i])
			else
				n = hook_returns(hooks[name])
			end
			eq(n, 0, name .. " with event " .. i)
		end
	end
	eq(other_host.rooms_joined, nil, "a session of another host is not tracked")
	-- applied raising (a failing core call) is contained
	local bad = hooked_session(full_sessions, "a@b@c/r")
	eq(hook_returns(hooks.outgoing, { origin = bad, stanza = join(ROOM .. "/x") }), 0, "applied raised")
	truthy(calls >= 1, "applied was called")
	-- bind: the hooks feed another tracker from now on
	local t2 = mj.new({})
	hooks.bind(t2)
	hooks.listen(false)
	hook_returns(hooks.outgoing, { origin = session, stanza = join(ROOM .. "/Bob") })
	hook_returns(hooks.incoming, { stanza = self_presence(ROOM .. "/Bob") })
	eq(t2:nick(SESS, ROOM), "Bob", "fed to the bound tracker")
	eq(t:nick(SESS, ROOM), nil, "not to the first")
	raises("mucjoins.tracker expected", hooks.bind, {})
	-- a freed tracker: nothing, no error
	getmetatable(t2).__gc(t2)
	eq(hook_returns(hooks.outgoing, { origin = session, stanza = join(ROOM .. "/C") }), 0, "freed tracker")
	eq(hook_returns(hooks.incoming, { stanza = p }), 0, "freed tracker, incoming")
	-- t:hooks checks its arguments (at load, not in a hook)
	raises("table expected", t.hooks, t, nil, "example.org", {}, print)
	raises("string expected", t.hooks, t, {}, nil, {}, print)
	raises("function expected", t.hooks, t, {}, "example.org", {}, nil)
end)

-- A session the tracker caches is one of this host's in full_sessions
-- (from its first join to its resource-unbind): its presences go straight
-- to the core, and full_sessions is read only when the core reports
-- something, to write rooms_joined and call applied with it.
-- A refresh rejoin (an update, a leave and a rejoin sent before the room
-- answered): the answers come in that order, each with the id of what it
-- answers. feed(session, stanza) sends the client's stanzas, take(stanza)
-- the room's answers.
local function refresh_rejoin(feed, take, rooms)
	feed(join(ROOM .. "/Alice", "j1"))
	take(self_presence(ROOM .. "/Alice", nil, { id = "j1" }))
	eq(rooms()[ROOM], "Alice", "joined, its answer with the join's id")
	feed(st.presence({ to = ROOM .. "/Alice", id = "u1" }):text_tag("show", "away"))
	feed(st.presence({ to = ROOM .. "/Alice", id = "l1", type = "unavailable" }))
	feed(join(ROOM .. "/Alice", "j2"))
	take(self_presence(ROOM .. "/Alice", nil, { id = "u1" }))
	take(self_presence(ROOM .. "/Alice", nil, { id = "l1", type = "unavailable" }))
	eq(rooms()[ROOM], nil, "the echo and the leave's confirmation do not answer the rejoin")
	take(self_presence(ROOM .. "/Alice", nil, { id = "j2" }))
	eq(rooms()[ROOM], "Alice", "the rejoin's own answer")
end

test("a rejoin's answer is told from the room's answers to earlier stanzas by the id", function()
	-- the hooks: the received presence's id is read after the session is
	-- found, only while one of its joins waits
	local t = mj.new({})
	local full_sessions = {}
	local hooks = t:hooks(full_sessions, "example.org", setmetatable({}, { __mode = "k" }), function() end)
	hooks.listen(false)
	local session = hooked_session(full_sessions, SESS)
	refresh_rejoin(function(stanza)
		hook_returns(hooks.outgoing, { origin = session, stanza = stanza })
	end, function(stanza)
		hook_returns(hooks.incoming, { origin = {}, stanza = stanza })
	end, function()
		return session.rooms_joined or {}
	end)
	-- the methods, by JID: the id read with the rest
	local t2 = mj.new({})
	refresh_rejoin(function(stanza)
		t2:outgoing(SESS, stanza)
	end, function(stanza)
		t2:incoming(SESS, stanza)
	end, function()
		local rooms = {}
		for _, r in ipairs(t2:rooms(SESS)) do
			rooms[r.room] = r.nick
		end
		return rooms
	end)
end)

test("t:hooks(): a tracked session's presences read full_sessions only for what the core reports", function()
	local t = mj.new({})
	local full_sessions, calls = {}, {}
	local hooks = t:hooks(full_sessions, "example.org", {}, function(...)
		calls[#calls + 1] = table.pack(...)
	end)
	hooks.listen(false)
	local session = hooked_session(full_sessions, SESS)
	hook_returns(hooks.outgoing, { origin = session, stanza = join(ROOM .. "/Alice") })
	full_sessions[SESS] = nil -- as if gone without its resource-unbind
	local other = st.presence({ from = ROOM .. "/bob", to = SESS })
		:tag("x", { xmlns = NS_MUC_USER }):tag("item", { role = "participant" }):up():up()
	eq(hook_returns(hooks.incoming, { stanza = other }), 0, "another occupant")
	eq(#calls, 0, "nothing reported")
	eq(hook_returns(hooks.incoming, { stanza = self_presence(ROOM .. "/Alice") }), 0, "self-presence")
	eq(#calls, 1, "applied called: no session table to write to")
	eq(calls[1][2], nil, "without a session")
	eq(#of_type(calls[1][5], "joined"), 1, "the joined event")
	eq(session.rooms_joined, nil, "nothing written")
	eq(t:nick(SESS, ROOM), "Alice", "tracked")
	full_sessions[SESS] = session
	local ROOM2 = "second@muc.example.org"
	hook_returns(hooks.outgoing, { origin = session, stanza = join(ROOM2 .. "/Al") })
	eq(hook_returns(hooks.incoming, { stanza = self_presence(ROOM2 .. "/Al") }), 0, "joined another room")
	eq(session.rooms_joined[ROOM2], "Al", "written once the session is there")
	eq(#calls, 1, "applied not called again")
end)

-- watch(session): the module watches what a session is sent (join
-- errors from a local MUC) while a presence it sends to a room the
-- tracker follows is answered; once per session and watch epoch (t:tick()
-- and hooks.bind() start one).
test("t:hooks(): watch(session) once per watch epoch for presences the tracker follows and groupchat to its rooms", function()
	local t = mj.new({})
	local full_sessions, told = {}, {}
	local raise = false
	local hooks = t:hooks(full_sessions, "example.org", {}, function() end, function(session)
		told[#told + 1] = session
		if raise then
			error("watch raising is contained")
		end
	end)
	hooks.listen(false)
	local session = hooked_session(full_sessions, SESS)
	local function out(stanza)
		eq(hook_returns(hooks.outgoing, { origin = session, stanza = stanza }), 0, "returns nothing")
	end
	out(st.presence({ to = ROOM .. "/Alice" }))
	eq(#told, 0, "a presence that is not a join, to a room without state: not told")
	out(join(ROOM .. "/Alice"))
	eq(#told, 1, "a join: told")
	eq(told[1], session, "the session table")
	hook_returns(hooks.incoming, { stanza = self_presence(ROOM .. "/Alice") })
	eq(session.rooms_joined[ROOM], "Alice", "tracking went on")
	out(st.presence({ to = ROOM .. "/Alice" }):tag("show"):text("away"):up())
	eq(#told, 1, "an update in the same epoch: not told again")
	t:tick()
	out(st.presence({ to = "friend@example.net" }))
	local function msg(stanza)
		eq(hook_returns(hooks.outgoing_message, { origin = session, stanza = stanza }), 0, "returns nothing")
	end
	msg(st.message({ to = ROOM .. "/Bob", type = "chat" }):tag("body"):text("hi"):up())
	msg(st.message({ to = "other@muc.example.org", type = "groupchat" }):tag("body"):text("hi"):up())
	eq(#told, 1, "a presence to a contact, a private message, a groupchat message to another room: not told")
	msg(st.message({ to = ROOM, type = "groupchat" }):tag("body"):text("hi"):up())
	eq(#told, 2, "a groupchat message to a room the session is in: told (a ghost's is refused)")
	msg(st.message({ to = ROOM, type = "groupchat" }):tag("body"):text("again"):up())
	eq(#told, 2, "another in the same epoch: not told")
	t:tick()
	out(st.presence({ to = ROOM .. "/Alice" }):tag("show"):text("dnd"):up())
	eq(#told, 3, "an update to a joined room (unchanged) after a tick: told")
	out(st.presence({ to = ROOM .. "/Al" }))
	eq(#told, 3, "a nick change in the same epoch: not told")
	hooks.bind(t)
	out(st.presence({ to = ROOM .. "/Al", type = "unavailable" }))
	eq(#told, 4, "a leave after hooks.bind(): told")
	t:tick()
	out(st.presence({ to = "other@muc.example.org/Alice", type = "unavailable" }))
	eq(#told, 4, "a leave of a room without state: not told")
	-- a watch() that raised is asked again in the same epoch, until one
	-- returns
	raise = true
	out(join(ROOM .. "/Alice"))
	eq(#told, 5, "a join after a tick: told (and it raised)")
	eq(hook_returns(hooks.incoming, { stanza = self_presence(ROOM .. "/Alice") }), 0, "the join goes on")
	eq(session.rooms_joined[ROOM], "Alice", "tracking went on after watch() raised")
	raise = false
	out(st.presence({ to = ROOM .. "/Alice" }):tag("show"):text("away"):up())
	eq(#told, 6, "the next presence in the same epoch: told again")
	out(st.presence({ to = ROOM .. "/Alice" }):tag("show"):text("dnd"):up())
	eq(#told, 6, "once watch() returned: not again in the epoch")
	-- without watch: nothing to call
	local t2 = mj.new({})
	local hooks2 = t2:hooks({}, "example.org", {}, function() end)
	eq(hook_returns(hooks2.outgoing, { origin = session, stanza = join(ROOM .. "/Bob") }), 0, "no watch")
	raises("function expected", t.hooks, t, {}, "example.org", {}, print, 42)
end)

-- A tracker with hooks (nobody listening) and one session, b, in ROOM as n.
local function joined_hooked_session()
	local full_sessions = {}
	local t = mj.new({})
	local hooks = t:hooks(full_sessions, "example.org", setmetatable({}, { __mode = "k" }), function() end)
	hooks.listen(false)
	local b = hooked_session(full_sessions, "b@example.org/r")
	hook_returns(hooks.outgoing, { origin = b, stanza = join(ROOM .. "/n") })
	local p = self_presence(ROOM .. "/n")
	p.attr.to = b.full_jid
	hook_returns(hooks.incoming, { stanza = p })
	eq(b.rooms_joined[ROOM], "n", "b joined")
	return t, hooks, b
end

-- Call hook(ev) until a finalizer running fin() fires inside one of the
-- calls (every allocation may step the collector); before(), if given,
-- runs before each call.
local function finalizer_inside(hook, ev, fin, before)
	local calling, fired_inside = false, nil
	setmetatable({}, { __gc = function()
		fired_inside = calling
		fin()
	end })
	collectgarbage("incremental", 0, 100)
	for _ = 1, 50 do
		if before then
			before()
		end
		calling = true
		hook_returns(hook, ev)
		calling = false
		if fired_inside ~= nil then
			break
		end
	end
	collectgarbage("incremental", 200, 100)
	collectgarbage()
	eq(fired_inside, true, "the finalizer ran inside the hook")
end

-- A groupchat message to b mentioning n, its body two texts (joined
-- under lua_pcall, where the collector may run finalizers).
local function two_text_mention(b)
	local gc = st.message({ from = ROOM .. "/bob", to = b.full_jid, type = "groupchat" })
	gc:tag("body"):text("n: hi "):text(string.rep("y", 100000)):up()
	return { stanza = gc }
end

test("t:hooks(): a finalizer rebinding the hooks during a hook leaves that call on its tracker", function()
	-- The hook's tracker stays the one it started with until it returns:
	-- a rebind from a finalizer (run while a body's texts are joined) must
	-- not mix the two trackers (once, the old tracker's session handle
	-- landed in the new one's cache, and was used after the old one was
	-- freed).
	local full_sessions, seen = {}, setmetatable({}, { __mode = "k" })
	local t1 = mj.new({})
	local hooks = t1:hooks(full_sessions, "example.org", seen, function() end)
	hooks.listen(false)
	local a = hooked_session(full_sessions, "a@example.org/r")
	local b = hooked_session(full_sessions, "b@example.org/r")
	for _, s in ipairs({ b, a }) do -- a last: b is not the tracker's last session
		hook_returns(hooks.outgoing, { origin = s, stanza = join(ROOM .. "/n") })
		local p = self_presence(ROOM .. "/n")
		p.attr.to = s.full_jid
		hook_returns(hooks.incoming, { stanza = p })
	end
	eq(b.rooms_joined[ROOM], "n", "b joined")
	local t2 = mj.new({})
	local gc = st.message({ from = ROOM .. "/bob", to = b.full_jid, type = "groupchat" })
	gc:tag("body"):text(string.rep("x", 100000)):text(string.rep("y", 100000)):up()
	finalizer_inside(hooks.incoming_message, { stanza = gc }, function()
		hooks.bind(t2)
	end)
	local mentions = t1:counts().mention
	local hi = st.message({ from = ROOM .. "/bob", to = b.full_jid, type = "groupchat" }):text_tag("body", "n: hi")
	hook_returns(hooks.incoming_message, { stanza = hi })
	eq(t1:counts().mention, mentions, "the first tracker is no longer fed")
	eq(t2:counts().mention, 0, "the second has no session of b: nothing to mention")
end)

test("t:hooks(): a finalizer closing the session during a hook leaves its handle unused", function()
	-- The hook looks the session up by attr.to before it reads the
	-- stanza, and feed() takes that handle unless a handle was closed
	-- since: a finalizer (run while a body's texts are joined) that closes
	-- the session must not leave the call with a freed handle (valgrind's
	-- run of this file sees a read of freed memory).
	local t, hooks, b = joined_hooked_session()
	local before
	finalizer_inside(hooks.incoming_message, two_text_mention(b), function()
		t:close(b.full_jid)
	end, function()
		before = t:counts().mention -- each call before mentions n
	end)
	eq(t:stats().sessions, 0, "closed")
	eq(t:counts().mention, before, "no mention for the closed session")
end)

test("t:hooks(): a finalizer freeing the tracker (__gc) during a hook leaves the cached handle unused", function()
	-- Like the test above, but the finalizer frees the whole tracker
	-- (getmetatable(t).__gc(t), as a module unload may): l_gc frees
	-- every session without cache_forget(), so it counts in u->closes
	-- too, and feed() must not take the handle the hook looked up
	-- (valgrind's or ASan's run sees a read of freed memory).
	local t, hooks, b = joined_hooked_session()
	finalizer_inside(hooks.incoming_message, two_text_mention(b), function()
		getmetatable(t).__gc(t)
	end)
	truthy(tostring(t):find("freed", 1, true), "freed")
	eq(b.rooms_joined[ROOM], "n", "nothing applied after the free")
end)

test("t:hooks(): a finalizer freeing the tracker (__gc) while a presence's destroy reason is joined leaves the cached handle unused", function()
	-- The same for a presence (the destroy reason's texts are joined):
	-- feed() would read the freed handle for the id (mj_session_needs())
	-- and feed it to the core.
	local t, hooks, b = joined_hooked_session()
	local d = st.presence({ from = ROOM .. "/n", to = b.full_jid, type = "unavailable" })
	d:tag("x", { xmlns = NS_MUC_USER })
	d:tag("item", { affiliation = "none", role = "none" }):up()
	d:tag("destroy", { jid = "other@muc.example.org" })
	d:tag("reason"):text("gone "):text(string.rep("y", 100000)):up()
	d:up():up()
	finalizer_inside(hooks.incoming, { stanza = d }, function()
		getmetatable(t).__gc(t)
	end)
	truthy(tostring(t):find("freed", 1, true), "freed")
end)

test("finalizers touching a tracker while it builds results do not break it", function()
	local t = mj.new()
	local reentered, refused = 0, 0
	local function make_garbage()
		for _ = 1, 50 do
			setmetatable({}, { __gc = function()
				local ok = pcall(t.tick, t)
				if ok then reentered = reentered + 1 else refused = refused + 1 end
			end })
		end
	end
	for i = 1, 300 do
		make_garbage()
		local room = "r" .. i .. "@muc.example.org"
		t:outgoing(SESS, join(room .. "/n"))
		local _, ev = t:incoming(SESS, self_presence(room .. "/n"))
		eq(#of_type(ev, "joined"), 1, "joined " .. room)
		if i % 50 == 0 then
			eq(#t:rooms(SESS), i, "rooms")
		end
	end
	collectgarbage("collect")
	eq(t:stats().rooms_shown, 300, "rooms_shown")
	if os.getenv("MJ_DEBUG") then print("     reentered", reentered, "refused", refused) end
end)

test("what a closed session still sends creates no session", function()
	local t = joined_tracker("Alice")
	eq(t:stats().sessions, 1, "sessions while joined")
	eq(#of_type(t:close(SESS), "left"), 1, "close leaves the room")
	-- Prosody's mod_presence, after resource-unbind: the broadcast unavailable
	local outcome = t:outgoing(SESS, st.presence({ type = "unavailable" }))
	eq(outcome, "ignored", "outcome of the unavailable after close")
	t:outgoing(SESS, st.presence({ type = "unavailable", to = ROOM .. "/Alice" }))
	t:outgoing(SESS, st.message({ type = "chat", to = "friend@example.org" }):tag("body"):text("hi"))
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Alice" })) -- no MUC <x/>
	eq(t:stats().sessions, 0, "sessions after close and what followed")
	eq(#t:sessions(), 0, "t:sessions()")
	-- 1000 connects and disconnects of sessions that never joined a room
	for i = 1, 1000 do
		local jid = "user@example.org/r" .. i
		t:outgoing(jid, st.presence())
		t:close(jid)
		t:outgoing(jid, st.presence({ type = "unavailable" }))
	end
	eq(t:stats().sessions, 0, "sessions after 1000 connects/disconnects")
	-- a join still opens the session, and it is cached as before
	t:outgoing(SESS, join(ROOM .. "/Alice"))
	eq(#of_type(select(2, t:incoming(SESS, self_presence(ROOM .. "/Alice"))), "joined"), 1, "rejoined")
	eq(t:stats().sessions, 1, "sessions after a join")
end)

test("link_up: a domain where a check gave up is asked again; bad domains are errors", function()
	-- a rest of 1 s: the tick right after the link up comes well within it,
	-- even on a loaded machine (0.01 s was passed by the time it came)
	local t = joined_tracker("Alice", { ping_start_delay = 0, ping_retries = 0, ping_backoff = 1 })
	eq(t:link_up("muc.example.org"), true, "nothing gave up: true")
	eq(#of_type(t:tick(), "ping-needed"), 0, "nothing asked")
	truthy(t:link_lost("muc.example.org"), "link_lost")
	local pings = of_type(t:tick(), "ping-needed")
	eq(#pings, 1, "ping-needed events")
	local bounce = st.iq({ type = "error", from = ROOM .. "/Alice", to = SESS, id = "p" })
		:tag("error", { type = "cancel", by = "example.com" })
		:tag("remote-server-not-found", { xmlns = NS_STANZAS })
	eq(t:ping_answer(SESS, bounce, pings[1].ping_id), "unknown", "a bounce says nothing")
	eq(t:link_up("MUC.example.org"), true, "link_up")
	eq(#of_type(t:tick() or {}, "ping-needed"), 0, "not while the give-up rests")
	local t0 = os.clock()
	while os.clock() - t0 < 1.1 do end
	eq(#of_type(t:tick(), "ping-needed"), 1, "asked again once the rest is over")
	local ok, err = t:link_up(string.rep("a", 1024))
	eq(ok, nil, "a domain longer than 1023 bytes")
	eq(type(err), "string", "with a message")
	raises("string expected", t.link_up, t, {})
end)

test("link_up: a leave our server bounced comes back as leave-needed, once", function()
	local t = joined_tracker("Alice")
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Alice", type = "unavailable" }))
	local bounce = st.presence({ type = "error", from = ROOM .. "/Alice", to = SESS })
		:tag("error", { type = "cancel" })
		:tag("remote-server-not-found", { xmlns = NS_STANZAS })
	local left = of_type(select(2, t:incoming(SESS, bounce)), "left")
	eq(#left, 1, "the session left")
	eq(left[1].reason, "left-unconfirmed", "reason")
	eq(t:stats().leaves_owed, 1, "leaves_owed")
	local ok, events = t:link_up("muc.example.org")
	eq(ok, true, "link_up")
	local leaves = of_type(events, "leave-needed")
	eq(#leaves, 1, "leave-needed events")
	eq(leaves[1].jid, SESS, "from the session")
	eq(leaves[1].room, ROOM, "to the room")
	eq(leaves[1].nick, "Alice", "under the nick it knew")
	local infos = {};
	for _, log in ipairs(of_type(events, "log")) do
		if log.level == "info" then
			table.insert(infos, log.msg);
		end
	end
	eq(#infos, 1, "one line at info per link up")
	truthy(infos[1]:find("sending 1 leave our server bounced", 1, true), "how many: " .. tostring(infos[1]))
	eq(t:stats().leaves_owed, 0, "leaves_owed after")
	eq(t:stats().leaves_resent, 1, "leaves_resent")
	ok, events = t:link_up("muc.example.org")
	eq(ok, true, "link_up again")
	eq(events, nil, "nothing more to send")
end)

-- A leave sent again carries an id of the core's (new at every send):
-- an answer with it (our server's bounce, a room that reflects ids) is
-- the module's own traffic; hooks.incoming marks it (returning nothing,
-- as every tracking hook), hooks.own_answers, run next, stops it (returns
-- true) and t:incoming says "answered". Every other presence goes on.
test("t:hooks(): own_answers stops the answer to a leave sent again that carries its id", function()
	local t = joined_tracker("Alice")
	local full_sessions = {}
	local hooks = t:hooks(full_sessions, "example.org", setmetatable({}, { __mode = "k" }), function() end)
	hooked_session(full_sessions, SESS)
	local function bounce(id)
		return st.presence({ type = "error", from = ROOM .. "/Alice", to = SESS, id = id })
			:tag("error", { type = "cancel" })
			:tag("remote-server-not-found", { xmlns = NS_STANZAS }):up():up()
	end
	local function confirmation(id)
		return st.presence({ type = "unavailable", from = ROOM .. "/Alice", to = SESS, id = id })
			:tag("x", { xmlns = "http://jabber.org/protocol/muc#user" })
			:tag("status", { code = "110" }):up():up()
	end
	-- both hooks, as Prosody runs them: what own_answers returns
	local function deliver(stanza)
		local event = { stanza = stanza }
		eq(hook_returns(hooks.incoming, event), 0, "the tracking hook returns nothing")
		local r = table.pack(pcall(hooks.own_answers, event))
		truthy(r[1], "own_answers did not raise: " .. tostring(r[2]))
		return r.n - 1, r[2]
	end
	local function resend()
		local ok, events = t:link_up("muc.example.org")
		eq(ok, true, "link_up")
		local leaves = of_type(events, "leave-needed")
		eq(#leaves, 1, "leave-needed events")
		return leaves[1].id
	end
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Alice", type = "unavailable" }))
	eq(deliver(bounce("c1")), 0, "the client's leave bounced: delivered")
	local id = resend()
	eq(type(id), "string", "the leave's id")
	truthy(id:match("^mjleave%-%x+$"), "its form: " .. tostring(id))
	-- bounced again: stopped, owed again; the next send has another id
	local n, stop = deliver(bounce(id))
	truthy(n == 1 and stop == true, "the bounce of the resend is stopped: " .. tostring(stop))
	eq(t:stats().leaves_owed, 1, "owed again")
	eq(t:stats().leaves_waiting, 0, "waiting for no answer")
	local id2 = resend()
	eq(t:stats().leaves_waiting, 1, "waiting for its answer")
	truthy(id2 ~= id, "a new id at every send")
	-- the room's confirmation without the id: the answer, delivered
	eq(deliver(confirmation(nil)), 0, "a confirmation without the id")
	eq(t:stats().leaves_owed, 0, "answered")
	eq(t:stats().forged, 0, "not forged")
	-- joined and left again (bounced), sent again
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Alice" }):tag("x", { xmlns = "http://jabber.org/protocol/muc" }):up())
	t:incoming(SESS, st.presence({ from = ROOM .. "/Alice", to = SESS })
		:tag("x", { xmlns = "http://jabber.org/protocol/muc#user" }):tag("status", { code = "110" }):up():up())
	eq(t:rooms(SESS)[1].state, "joined", "joined again")
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Alice", type = "unavailable" }))
	t:incoming(SESS, bounce("c2"))
	local id3 = resend()
	-- marked, but another presence passes the tracking hook before
	-- own_answers runs (a module between them stopped it): the mark goes
	local answer = confirmation(id3)
	hook_returns(hooks.incoming, { stanza = answer })
	hook_returns(hooks.incoming, { stanza = st.presence({ from = "bob@example.net/pc", to = SESS }) })
	eq(hook_returns(hooks.own_answers, { stanza = answer }), 0, "a mark lasts until the next presence")
	eq(hook_returns(hooks.own_answers, { stanza = answer }), 0, "and only once")
	-- t:incoming says so (joined and left again first)
	eq(t:outgoing(SESS, st.presence({ to = ROOM .. "/Alice" }):tag("x", { xmlns = "http://jabber.org/protocol/muc" }):up()), "changed", "joined again")
	t:incoming(SESS, st.presence({ from = ROOM .. "/Alice", to = SESS })
		:tag("x", { xmlns = "http://jabber.org/protocol/muc#user" }):tag("status", { code = "110" }):up():up())
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Alice", type = "unavailable" }))
	t:incoming(SESS, bounce("c3"))
	local id4 = resend()
	eq(t:incoming(SESS, confirmation(id4)), "answered", "t:incoming's outcome")
	eq(t:stats().leaves_owed, 0, "ended")
	-- the same again: no record, a forged self-presence, delivered
	eq(deliver(confirmation(id4)), 0, "no record: delivered")
	-- own_answers alone, on whatever it is given: nothing, never raises
	for _, ev in ipairs({ {}, { stanza = 1 }, { stanza = {} } }) do
		eq(hook_returns(hooks.own_answers, ev), 0, "nothing to stop")
	end
	eq(hook_returns(hooks.own_answers, nil), 0, "no event")
end)

test("a ghost's left event describes the notice to send; other leaves have none", function()
	local t = joined_tracker("Alice", { ping_start_delay = 0 })
	truthy(t:link_lost("muc.example.org"), "link_lost")
	local pings = of_type(t:tick(), "ping-needed")
	eq(#pings, 1, "ping-needed events")
	local answer = st.iq({ type = "error", from = ROOM .. "/Alice", to = SESS, id = "p" })
		:tag("error", { type = "cancel" })
		:tag("not-acceptable", { xmlns = NS_STANZAS })
	local verdict, events = t:ping_answer(SESS, answer, pings[1].ping_id)
	eq(verdict, "not-joined", "verdict")
	local left = of_type(events, "left")
	eq(#left, 1, "left events")
	eq(left[1].reason, "ghost", "reason")
	local notice = left[1].notice
	truthy(notice, "the ghost's left has a notice")
	eq(table.concat(notice.status, " "), "110 333", "notice status codes")
	eq(notice.affiliation, "none", "notice affiliation")
	eq(notice.role, "none", "notice role")
	eq(notice.nick, "Alice", "the notice comes from the nick shown")
	-- after a 303 whose new self-presence never came, from the nick the
	-- room announced (the client follows it; it saw Alice leave)
	local t3 = joined_tracker("Alice", { ping_start_delay = 0 })
	t3:incoming(SESS, self_presence(ROOM .. "/Alice", { "303", "110" },
		{ type = "unavailable", item_nick = "Alicia" }))
	truthy(t3:link_lost("muc.example.org"), "link_lost")
	pings = of_type(t3:tick(), "ping-needed")
	eq(#pings, 1, "ping-needed events while expecting")
	eq(pings[1].nick, "Alicia", "the ping goes to the announced nick")
	answer.attr.from = ROOM .. "/Alicia"
	verdict, events = t3:ping_answer(SESS, answer, pings[1].ping_id)
	eq(verdict, "not-joined", "verdict while expecting")
	left = of_type(events, "left")
	eq(left[1].nick, "Alice", "left names the nick rooms_joined showed")
	eq(left[1].notice.nick, "Alicia", "the notice comes from the announced nick")
	local t2 = joined_tracker("Alice")
	local closed = of_type(t2:close(SESS), "left")
	eq(closed[1].reason, "session-closed", "reason")
	eq(closed[1].notice, nil, "no notice for a session's own close")
end)

test("a finalizer cannot close a session while close() drops it from the cache", function()
	-- close() with another spelling of the JID makes a new key string: a
	-- collector step, whose finalizers must not reach the tracker
	local t = mj.new()
	local closing, reached = false, 0
	local function make_garbage(jid)
		for _ = 1, 200 do
			setmetatable({}, { __gc = function()
				-- one that closes the session (events: its left) while the
				-- test's close() is under way; a collector step after
				-- close() returned (closing still true) finds it closed
				if not closing then
					return
				end
				local ok, events = pcall(t.close, t, jid)
				if ok and events ~= nil then
					reached = reached + 1
				end
			end })
		end
	end
	-- a collector step at every allocation; a JID over 40 bytes is a long
	-- string in Lua, so making the key always allocates
	collectgarbage("incremental", 0, 100, 0)
	local long = ("x"):rep(40)
	for i = 1, 300 do
		local jid = "user@example.org/" .. long .. i
		t:outgoing(jid, join(ROOM .. "/n"))
		t:incoming(jid, self_presence(ROOM .. "/n"))
		make_garbage(jid)
		-- made before closing is set: the concatenation allocates, and a
		-- finalizer run there closes the session before close() starts
		local other = "USER@example.org/" .. long .. i
		closing = true
		local ok, events = pcall(t.close, t, other)
		closing = false
		truthy(ok, "close: " .. tostring(events))
	end
	collectgarbage("incremental", 200, 100, 13)
	collectgarbage("collect")
	eq(reached, 0, "finalizers that reached the tracker during close()")
	eq(t:stats().sessions, 0, "sessions")
end)

---------------------------------------------------------------------------
-- the shared object

local function run(cmd)
	local p = io.popen(cmd .. " 2>/dev/null")
	if not p then return nil end
	local out = p:read("a")
	local ok = p:close()
	return ok and out or nil
end

-- A self-ping whose answer needs the room's disco#info: the reply (result
-- or error) or nil (none came) goes to the core, which reads the features.
local NS_DISCO = "http://jabber.org/protocol/disco#info"
local function ping_then_answer(cond, by, info)
	local t = joined_tracker("Alice")
	local _, ev = t:incoming(SESS, st.presence({ from = ROOM .. "/Alice", to = SESS, type = "unavailable" }))
	local p = of_type(ev, "ping-needed")
	eq(#p, 1, "ping-needed events")
	local id = p[1].ping_id
	local ans = st.iq({ type = "error", from = ROOM .. "/Alice", to = SESS, id = "mjping-" .. id })
		:tag("ping", { xmlns = "urn:xmpp:ping" }):up()
		:tag("error", { type = "cancel", by = by }):tag(cond, { xmlns = NS_STANZAS }):up():up()
	eq(t:ping_needs_features(SESS, ans, id), true, "needs disco#info")
	local verdict, events = t:ping_answer_info(SESS, ans, id, info)
	return verdict, events, t
end

local function disco_result(features)
	local r = st.iq({ type = "result", from = ROOM, to = SESS, id = "mjdisco-1" }):query(NS_DISCO)
	r:tag("identity", { category = "conference", type = "text" }):up()
	for _, f in ipairs(features) do r:tag("feature", { var = f }):up() end
	return r
end

test("ping_answer_info: item-not-found without by is settled by the room's disco#info", function()
	local v, ev, t = ping_then_answer("item-not-found", nil, disco_result({ NS_MUC }))
	eq(v, "joined", "a result: the room exists, the nick is stale")
	eq(#t:rooms(SESS), 1, "entry kept")
	local gone = st.iq({ type = "error", from = ROOM, to = SESS, id = "mjdisco-1" })
		:tag("error", { type = "cancel" }):tag("item-not-found", { xmlns = NS_STANZAS }):up():up()
	v, ev, t = ping_then_answer("item-not-found", nil, gone)
	eq(v, "not-joined", "an error from the room: it does not exist")
	local left = of_type(ev, "left")
	eq(#left, 1, "left events")
	eq(left[1].reason, "ghost", "reason")
	eq(#t:rooms(SESS), 0, "entry gone")
	v = ping_then_answer("item-not-found", nil, nil)
	eq(v, "unknown", "no reply")
	local wait = st.iq({ type = "error", from = ROOM, to = SESS, id = "mjdisco-1" })
		:tag("error", { type = "wait", by = "home.example" }):tag("remote-server-timeout", { xmlns = NS_STANZAS }):up():up()
	v = ping_then_answer("item-not-found", nil, wait)
	eq(v, "unknown", "an error of the path")
end)

test("ping_answer_info: the core reads the self-ping-optimization feature", function()
	local v = ping_then_answer("service-unavailable", ROOM, disco_result({ NS_MUC }))
	eq(v, "joined", "plain room")
	v = ping_then_answer("service-unavailable", ROOM,
		disco_result({ NS_MUC, "http://jabber.org/protocol/muc#self-ping-optimization" }))
	eq(v, "unknown", "optimized room")
end)

test("ping_answer_info: a disco#info reply with long junk lists is read right", function()
	-- junk before the query and before the feature (not tables, no name,
	-- other elements): the reading drops what it left every few children
	local function junk(list, n)
		for i = 1, n do
			table.insert(list, i % 3 == 0 and { name = "x" .. i, attr = {}, tags = {} } or i % 3 == 1 and "t" or {})
		end
		return list
	end
	local r = disco_result({ NS_MUC })
	local query = r.tags[1]
	query.tags = junk({}, 300)
	table.insert(query.tags, { name = "feature", attr = { var = "http://jabber.org/protocol/muc#self-ping-optimization" },
		tags = {} })
	r.tags = junk({}, 300)
	table.insert(r.tags, query)
	local v = ping_then_answer("service-unavailable", ROOM, r)
	eq(v, "unknown", "the optimization feature found after 300 junk children at two levels")
end)

test("ping_answer_info: a finalizer closing the session while the info is read", function()
	-- The room's disco#info reply is read with the session at hand, and
	-- reading it may run the collector (a body's texts are joined): a
	-- finalizer closing the session then must not leave the call with a
	-- freed session (once: invalid read in mj_session_ping_answer_info,
	-- under valgrind; a crash without).
	local info = disco_result({ NS_MUC })
	info:reset():tag("body"):text(string.rep("x", 100000)):text(string.rep("y", 100000)):up()
	local t = joined_tracker("Alice")
	local _, ev = t:incoming(SESS, st.presence({ from = ROOM .. "/Alice", to = SESS, type = "unavailable" }))
	local id = of_type(ev, "ping-needed")[1].ping_id
	local ans = st.iq({ type = "error", from = ROOM .. "/Alice", to = SESS, id = "mjping-" .. id })
		:tag("ping", { xmlns = "urn:xmpp:ping" }):up()
		:tag("error", { type = "cancel" }):tag("item-not-found", { xmlns = NS_STANZAS }):up():up()
	local calling, closed = false, nil
	setmetatable({}, { __gc = function()
		if calling then
			closed = pcall(t.close, t, SESS)
		end
	end })
	collectgarbage("incremental", 0, 100) -- every allocation may step
	local ok, v, events
	for _ = 1, 50 do
		calling = true
		ok, v, events = pcall(t.ping_answer_info, t, SESS, ans, id, info)
		calling = false
		truthy(ok, "ping_answer_info: " .. tostring(v))
		if closed ~= nil then
			break
		end
	end
	collectgarbage("incremental", 200, 100)
	collectgarbage()
	eq(closed, true, "a finalizer closed the session during the call")
	eq(v, "stale", "the verdict once the session is gone")
	eq(events, nil, "no events")
	eq(t:stats().sessions, 0, "sessions")
end)

test("only luaopen_mucjoins is exported", function()
	local out = run("nm -D --defined-only " .. so_path)
	if not out then print("     (nm unavailable, skipped)") return end
	local syms = {}
	for name in out:gmatch("%x+ [A-Za-z] ([^\n]+)") do syms[#syms + 1] = name end
	eq(#syms, 1, "exported symbols (" .. table.concat(syms, ", ") .. ")")
	eq(syms[1], "luaopen_mucjoins", "the export")
end)

test("liblua is not linked", function()
	local out = run("ldd " .. so_path)
	if not out then print("     (ldd unavailable, skipped)") return end
	truthy(not out:find("liblua", 1, true), "no liblua in ldd output")
end)

-- A room the session is leaving: chatter, and the session's own reflected
-- message, are held under CSI (nil would let mod_csi_simple deliver any
-- message with a body at once).
test("chatter from a room being left is held, not handed to mod_csi_simple", function()
	local t = joined_tracker("Alice")
	eq(t:outgoing(SESS, st.presence({ to = ROOM .. "/Alice", type = "unavailable" })), "changed", "the leave")
	local chatter = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "m" })
		:tag("body"):text("lunch anyone, Alice?"):up()
	eq(t:importance(SESS, chatter, true), false, "CSI: chatter (naming the user) while leaving is held")
	local mine = st.message({ from = ROOM .. "/Alice", to = SESS, type = "groupchat", id = "m2" })
		:tag("body"):text("bye"):up()
	eq(t:importance(SESS, mine, true), false, "CSI: the session's own reflected message while leaving is held")
end)

-- A groupchat message sent to a to the library cannot use is let go:
-- nothing counted as refused.
test("a sent groupchat message with an unusable to counts no refusal", function()
	local t = joined_tracker("Alice")
	local before = t:stats().bad_jids
	local m = st.message({ to = ROOM .. "/", type = "groupchat", id = "g" }):tag("body"):text("hi"):up()
	eq(t:outgoing(SESS, m), "ignored", "outcome")
	eq(t:stats().bad_jids, before, "bad_jids")
end)

-- Another module's rooms_joined proxy whose __newindex raises costs that
-- one write, not the batch: the outcome and the events still reach the
-- module's applied() (which applies, and logs, what the binding could
-- not), and a plain table is written raw (a review's finding: the whole
-- call failed as if the core had).
test("t:hooks(): a rooms_joined whose __newindex raises loses only its writes", function()
	local t = mj.new({})
	local full_sessions, calls = {}, {}
	local hooks = t:hooks(full_sessions, "example.org", {}, function(...)
		calls[#calls + 1] = table.pack(...)
	end)
	hooks.listen(false)
	local session = hooked_session(full_sessions, SESS)
	session.rooms_joined = setmetatable({}, { __newindex = function() error("read-only") end })
	hook_returns(hooks.outgoing, { origin = session, stanza = join(ROOM .. "/Alice") })
	hook_returns(hooks.incoming, { stanza = self_presence(ROOM .. "/Alice") })
	eq(#calls, 1, "applied() called")
	eq(calls[1][4], "changed", "the outcome")
	eq(type(calls[1][5]), "table", "the events")
	eq(#of_type(calls[1][5], "joined"), 1, "the joined event, not applied")
	eq(t:nick(SESS, ROOM), "Alice", "the core")
	eq(rawget(session.rooms_joined, ROOM), nil, "nothing written around the proxy")
end)

-- A list of children ends at its first hole, as ipairs() and
-- util.stanza's get_child() read it, not at its raw length (a border:
-- 64 children at 1, 2, 4, ... 2^62 have one of 2^62, and a loop up to it
-- held the server's thread for good)
test("children behind a hole are not read, as get_child() does not see them", function()
	local t = mj.new()
	eq(t:outgoing(SESS, join(ROOM .. "/Alice")), "changed", "join")
	local x = self_presence(ROOM .. "/Alice").tags[1]
	local caps = st.stanza("c", { xmlns = "http://jabber.org/protocol/caps" })
	local p = st.presence({ from = ROOM .. "/Alice", to = SESS, id = "join1" })
	p.tags = { caps, nil, x }
	p[1], p[2], p[3] = caps, nil, x
	eq(p:get_child("x", NS_MUC_USER), nil, "util.stanza")
	eq(t:incoming(SESS, p), "unchanged", "the binding")
	eq(t:stats().pending, 1, "still pending")
end)

test("a list with a huge raw length costs what its elements cost", function()
	local t = mj.new()
	eq(t:outgoing(SESS, join(ROOM .. "/Alice")), "changed", "join")
	local function sparse(make, top)
		local list = {}
		for k = top or 62, 0, -1 do list[1 << k] = make() end
		return list
	end
	local p = st.presence({ from = ROOM .. "/Bob", to = SESS })
	-- first a raw length of 2^29: without the ends, seconds (not forever)
	p.tags = sparse(function() return st.stanza("c") end, 29)
	local t1 = os.clock()
	eq(t:incoming(SESS, p), "unchanged", "presence")
	truthy(os.clock() - t1 < 1, "a stanza of 30 children in under 1 s of CPU")
	p.tags = sparse(function() return st.stanza("x", { xmlns = NS_MUC_USER }) end)
	local x = st.stanza("x", { xmlns = NS_MUC_USER })
	x.tags = sparse(function() return st.stanza("status", { code = "100" }) end)
	local m = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat" })
	local body = st.stanza("body")
	for k = 62, 0, -1 do body[1 << k] = "Alice" end
	m.tags = { body }
	m[1] = body
	local t0 = os.clock()
	for _ = 1, 100 do
		eq(t:incoming(SESS, p), "unchanged", "presence")
		p.tags[1] = x
		t:incoming(SESS, p)
		p.tags[1] = x
		t:message(SESS, m)
		t:importance(SESS, m, true)
	end
	-- a bound on the work, not a timing: without the ends, one stanza
	-- took seconds at a raw length of 2^30 and never ended at 2^62
	truthy(os.clock() - t0 < 5, "300 stanzas in under 5 s of CPU")
end)

test("t:resync() does nothing while no record was lost", function()
	local t = joined_tracker("Alice")
	local session = { full_jid = SESS, rooms_joined = { ["other@conference.example.org"] = "x" } }
	eq(t:resync({ [SESS] = session }), 0, "entries corrected")
	eq(session.rooms_joined["other@conference.example.org"], "x", "an entry the core does not show, left")
	eq(session.rooms_joined[ROOM], nil, "a room the core shows, not written")
	raises("table expected", t.resync, t, nil)
end)

h.finish()

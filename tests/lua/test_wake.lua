-- The module's CSI and push wiring (lua/wake.lib.lua) outside Prosody,
-- over the real binding: the verdicts its two hooks return. Run from the
-- repository root:
--   lua5.4 tests/lua/test_wake.lua build/plugins/mod_track_muc_joins/mucjoins.so
-- Prints "ok NAME" / "FAIL NAME", then "wake: N passed, N failed"; exits 1
-- on a failure. A stand-in for `module` records the hooks (the
-- integration tests check them inside Prosody: test_csi*.py, test_push.py).
local so_path = arg[1] or "build/plugins/mod_track_muc_joins/mucjoins.so"
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
-- which modules are loaded on the host (wake.lib.lua asks for
-- mod_csi_battery_saver)
local loaded = {}
package.preload["core.modulemanager"] = function()
	return { is_loaded = function(_, name) return loaded[name] == true end }
end
local st = require "util.stanza"
local set = require "util.set"
local mj = assert(package.loadlib(so_path, "luaopen_mucjoins"))()

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")("wake")
local test = h.test
local eq = h.eq

local ROOM, SESS = "room@muc.example.org", "user@example.org/phone"

-- a tracker with SESS in ROOM as Ann, its history over (the subject came)
local function joined()
	local t = mj.new()
	t:outgoing(SESS, st.presence({ to = ROOM .. "/Ann", id = "j" })
		:tag("x", { xmlns = "http://jabber.org/protocol/muc" }):up())
	t:incoming(SESS, st.presence({ from = ROOM .. "/Ann", to = SESS, id = "j" })
		:tag("x", { xmlns = "http://jabber.org/protocol/muc#user" })
		:tag("item", { affiliation = "member", role = "participant" }):up()
		:tag("status", { code = "110" }):up():up())
	t:incoming(SESS, st.message({ from = ROOM, to = SESS, type = "groupchat" })
		:tag("subject"):text("s"):up())
	return t
end

-- wake.lib.lua's hooks, with csi_hold_chatter and push_mentions_only on
local function load_wake(tracker, opts)
	local hooks = {}
	_G.prosody = { full_sessions = { [SESS] = { full_jid = SESS } } }
	_G.module = {
		get_option_set = function(_, name, default)
			return set.new(opts[name] or default or {})
		end,
		host = "example.org",
		hook = function(_, name, fn)
			hooks[name] = fn
		end,
	}
	local chunk = assert(loadfile("lua/wake.lib.lua"))
	chunk()({ tracker = function() return tracker end, csi_hold_chatter = true,
		csi_hold_chatter_set = opts.csi_hold_chatter_set, push_mentions_only = true })
	return hooks
end

local function csi(hooks, m)
	return hooks["csi-is-stanza-important"]({ stanza = m, session = { full_jid = SESS } })
end

local function push_blocked(hooks, m)
	return hooks["cloud_notify/push"]({ original_stanza = m, username = "user" })
end

test("a group call's invite (XEP-0482) is pushed and not held", function()
	local hooks = load_wake(joined(), {})
	local inv = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "c1" })
		:tag("invite", { xmlns = "urn:xmpp:call-invites:0", id = "call1" })
		:tag("muji", { xmlns = "urn:xmpp:jingle:muji:0", room = "call@muc.example.org" }):up():up()
	eq(push_blocked(hooks, inv), nil, "push blocked")
	eq(csi(hooks, inv), nil, "CSI")
end)

test("a payload listed in csi_important_payloads is pushed and not held", function()
	local hooks = load_wake(joined(), { csi_important_payloads = { "{urn:example:alerts}alert" } })
	local m = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "a1" })
		:tag("alert", { xmlns = "urn:example:alerts" }):up()
	eq(csi(hooks, m), nil, "CSI")
	eq(push_blocked(hooks, m), nil, "push blocked")
	local plain = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "a2" })
		:tag("body"):text("lunch?"):up()
	eq(push_blocked(hooks, plain), true, "push of chatter blocked")
	eq(csi(hooks, plain), false, "chatter held")
end)

test("a message with a body from the room itself is held and not pushed", function()
	local hooks = load_wake(joined(), {})
	local m = st.message({ from = ROOM, to = SESS, type = "groupchat", id = "r1" })
		:tag("body"):text("*** Notice: Ann, the server restarts"):up()
	eq(csi(hooks, m), false, "CSI")
	eq(push_blocked(hooks, m), true, "push blocked")
end)

test("a correction (XEP-0308) that mentions the user is a mention", function()
	local hooks = load_wake(joined(), {})
	local m = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "m2" })
		:tag("body"):text("Ann: lunch at noon"):up()
		:tag("replace", { xmlns = "urn:xmpp:message-correct:0", id = "m1" }):up()
	eq(csi(hooks, m), true, "CSI")
	eq(push_blocked(hooks, m), nil, "push blocked")
end)

-- mod_cloud_notify pushes groupchat sent to a full JID whose session is
-- gone (message/bare/groupchat: a room that still counts it in, a ghost)
-- and groupchat a session the tracker holds nothing for receives (a bare
-- JID's: the next test): with
-- push_mentions_only its chatter is blocked, its wake payloads are not.
test("groupchat to a JID the tracker holds nothing for: chatter blocked, a call pushed", function()
	local hooks = load_wake(joined(), {})
	for _, to in ipairs({ "user@example.org/gone", "user@example.org/never-joined" }) do
		local m = st.message({ from = ROOM .. "/Bob", to = to, type = "groupchat", id = "g1" })
			:tag("body"):text("Ann: chatter from a ghost occupancy"):up()
		eq(push_blocked(hooks, m), true, "push to " .. to .. " blocked")
		local inv = st.message({ from = ROOM .. "/Bob", to = to, type = "groupchat", id = "g2" })
			:tag("invite", { xmlns = "urn:xmpp:call-invites:0", id = "call1" }):up()
		eq(push_blocked(hooks, inv), nil, "call to " .. to .. " blocked")
		local pm = st.message({ from = ROOM .. "/Bob", to = to, type = "chat", id = "g3" })
			:tag("body"):text("psst"):up()
		eq(push_blocked(hooks, pm), nil, "private message to " .. to .. " blocked")
	end
end)

-- Groupchat to a bare JID is what
-- mod_muc_offline_delivery sends an affiliated member who is not in the
-- room (a clone of the room's message, to= the bare JID), and what
-- mod_cloud_notify pushes through message/bare/groupchat ("MUC messages
-- when there are no devices connected"). No session is in that room, and
-- no nick is known there to tell a mention by: blocking all of it (as
-- the change for ghosts' full JIDs does) drops every mention push of an
-- account with no device connected; before, it had no opinion (pushed).
test("groupchat to a bare JID (offline delivery) is not blocked: a mention may be in it", function()
	local hooks = load_wake(joined(), {})
	local m = st.message({ from = ROOM .. "/Bob", to = "user@example.org", type = "groupchat", id = "o1" })
		:tag("body"):text("Ann: are you there?"):up()
	eq(push_blocked(hooks, m), nil, "push of an offline-delivered mention blocked")
end)

-- Debian's mod_csi_battery_saver asks csi-is-stanza-important too and
-- follows any answer: with the community module, chatter was delivered.
-- Next to it, chatter gets no opinion unless the operator
-- set csi_hold_chatter; mentions stay important.
test("next to mod_csi_battery_saver chatter gets no opinion unless csi_hold_chatter is set", function()
	local chatter = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "b1" })
		:tag("body"):text("lunch?"):up()
	local mention = st.message({ from = ROOM .. "/Bob", to = SESS, type = "groupchat", id = "b2" })
		:tag("body"):text("Ann: lunch?"):up()
	loaded.csi_battery_saver = true
	local hooks = load_wake(joined(), {})
	eq(csi(hooks, chatter), nil, "chatter, battery_saver loaded")
	eq(csi(hooks, mention), true, "mention, battery_saver loaded")
	hooks = load_wake(joined(), { csi_hold_chatter_set = true })
	eq(csi(hooks, chatter), false, "chatter, battery_saver loaded, option set")
	loaded.csi_battery_saver = nil
	hooks = load_wake(joined(), {})
	eq(csi(hooks, chatter), false, "chatter, without battery_saver")
end)

h.finish()

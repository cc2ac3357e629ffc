-- The module's join-error filter (out_filter in lua/mod_track_muc_joins.lua)
-- on what Prosody's session.send hands the "stanzas/out" filters: mod_bosh
-- passes its buffered output as strings, and a copy (st.clone, xmlns set)
-- of every stanza without xmlns. The filter returns what it gets, never
-- raises, and feeds the core an error only once: one the binding's hooks
-- fed at presence/full is not fed again, as itself or as mod_bosh's copy.
-- Run from the repository root:
--   lua5.4 tests/lua/test_out_filter.lua
-- Prints "ok NAME" / "FAIL NAME", then "out-filter: N passed, N failed";
-- exits 1 on a failure.
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local st = require "util.stanza"

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")("out-filter")
local test, eq = h.test, h.eq

local JID = "alice@example.org/phone"

-- fed_at_full() and out_filter(), cut out of the module, over stand-ins
-- for what they close over; calls: what out_filter fed the core
local function module_filter()
	local src = assert(io.open("lua/mod_track_muc_joins.lua")):read("a")
	local body = assert(src:match("\n(local function fed_at_full%(.-\nlocal function out_filter%(.-\n"
		.. "local function watch%(.-\nend)\n"),
		"fed_at_full / out_filter / watch not found in lua/mod_track_muc_joins.lua")
	local env = setmetatable({}, { __index = _G })
	env.filters = { add_filter = function() end }
	env.monotonic = os.clock
	env.seen_at_presence_full = setmetatable({}, { __mode = "kv" })
	env.in_filter = setmetatable({}, { __mode = "k" })
	env.unloaded = false
	env.calls = {}
	env.call = function(method, session, stanza)
		env.calls[#env.calls + 1] = { method, session, stanza }
	end
	local prelude = "local seen_at_presence_full, in_filter, unloaded, call, filters, monotonic = "
		.. "seen_at_presence_full, in_filter, unloaded, call, filters, monotonic;\n"
	local chunk = assert(load(prelude .. body .. "\nreturn out_filter, watch", "out_filter", "t", env))
	local filter, watch = chunk()
	env.watch = watch
	return filter, env
end

local function error_presence(xmlns)
	return st.presence({ from = "room@muc.example.org/Alice", to = JID, type = "error", id = "j1", xmlns = xmlns })
		:tag("error", { type = "cancel" })
		:tag("conflict", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" }):up():up()
end

local session = { full_jid = JID, type = "c2s" }

test("strings and odd tables pass through, nothing raised, nothing fed", function()
	local filter, env = module_filter()
	for _, v in ipairs({ "", "<message xmlns='jabber:client'/>", {}, { attr = "x" }, { attr = {} } }) do
		local ok, out = pcall(filter, v, session)
		eq(ok, true, "no error for " .. h.show(v))
		eq(out, v, "returned as it came")
	end
	eq(#env.calls, 0, "nothing fed")
end)

test("an error the hooks did not feed is fed once (a local MUC's join error)", function()
	local filter, env = module_filter()
	local e = error_presence()
	eq(filter(e, session), e, "returned")
	eq(#env.calls, 1, "fed")
	eq(env.calls[1][3], e, "that stanza")
end)

test("an error fed at presence/full is not fed again, nor mod_bosh's copy of it", function()
	local filter, env = module_filter()
	local e = error_presence()
	-- what the binding's incoming hook records (set_seen)
	env.seen_at_presence_full[e] = true
	env.seen_at_presence_full[JID] = e
	eq(filter(e, session), e, "itself")
	eq(#env.calls, 0, "not fed again")
	-- a BOSH session's filter gets mod_bosh's copy instead (its
	-- session.send: st.clone, then xmlns set)
	env.seen_at_presence_full[JID] = e
	local copy = st.clone(e)
	copy.attr.xmlns = "jabber:client"
	eq(filter(copy, session), copy, "the copy returned")
	eq(#env.calls, 0, "the copy not fed")
	-- a second copy with the same attributes (another stanza the room
	-- sent, not seen at presence/full): fed
	local again = st.clone(e)
	again.attr.xmlns = "jabber:client"
	eq(filter(again, session), again, "returned")
	eq(#env.calls, 1, "fed")
end)

test("a copy of another stanza than the one fed is fed", function()
	local filter, env = module_filter()
	local e = error_presence()
	env.seen_at_presence_full[e] = true
	env.seen_at_presence_full[JID] = e
	local other = error_presence("jabber:client")
	other.attr.id = "j2"
	filter(other, session)
	eq(#env.calls, 1, "another id: fed")
	local from_other = error_presence("jabber:client")
	from_other.attr.from = "room@muc.example.org/Bob"
	filter(from_other, session)
	eq(#env.calls, 2, "another sender: fed")
end)

-- An error fed while the filter was off (its copy never came
-- through it) left its record; a later error with the same attributes, a
-- local MUC's refusal of a join sent with origin.send(), was taken for its
-- copy and never fed
test("a record serves one delivery: a later error like it is fed", function()
	for _, how in ipairs({ "watch", "another error" }) do
		local filter, env = module_filter()
		local routed = error_presence()
		env.seen_at_presence_full[routed] = true
		env.seen_at_presence_full[JID] = routed
		if how == "watch" then
			env.watch(session) -- the filter goes on at the next join
		else
			filter(error_presence("jabber:client"), session) -- fed: not a copy
			env.calls = {}
		end
		local refusal = st.clone(error_presence())
		refusal.attr.xmlns = "jabber:client" -- mod_bosh's copy of it
		eq(filter(refusal, session), refusal, "returned")
		eq(#env.calls, 1, how .. ": the refusal is fed")
		eq(env.calls[1][3], refusal, how .. ": that stanza")
		local _ = routed
	end
end)

test("the record keeps no stanza alive", function()
	local _, env = module_filter()
	env.seen_at_presence_full[JID] = error_presence()
	collectgarbage("collect")
	collectgarbage("collect")
	eq(next(env.seen_at_presence_full), nil, "collected")
end)

-- unwatch() and unwatch_idle(), cut out of the module, over util.filters
-- itself and a clock the test moves; sweep(t): a tick at t (the time
-- taken before t:tick() ends the binding's watch epoch)
local function module_unwatch()
	local src = assert(io.open("lua/mod_track_muc_joins.lua")):read("a")
	local body = assert(src:match("\n(local function unwatch%(.-\nend)\n"), "unwatch not found")
	local idle = assert(src:match("\n(local function unwatch_idle%(.-\nend)\n"), "unwatch_idle not found")
	local env = setmetatable({}, { __index = _G })
	env.filters = require "util.filters"
	env.now = 0
	env.monotonic = function() return env.now end
	env.config = { pending_timeout = 60 }
	env.in_filter = setmetatable({}, { __mode = "k" })
	env.out_filter = function(stanza) return stanza end
	local prelude = "local filters, monotonic, config, in_filter, out_filter = "
		.. "filters, monotonic, config, in_filter, out_filter;\n"
		.. "local filtered = setmetatable({}, { __mode = 'k' });\n"
		.. "local epoch_began = 0;\n"
	local chunk = assert(load(prelude .. body .. "\n" .. idle
		.. "\nreturn unwatch_idle, function() return filtered end", "unwatch", "t", env))
	local unwatch_idle, get_filtered = chunk()
	local function watch(session) -- what watch() does to these
		env.filters.add_filter(session, "stanzas/out", env.out_filter, 500)
		get_filtered()[session] = env.now
	end
	local function sweep(t)
		env.now = t
		unwatch_idle(t)
	end
	return sweep, get_filtered, watch, env
end

test("off after pending_timeout: util.filters' empty list goes, another filter's stays", function()
	local sweep, get_filtered, watch, env = module_unwatch()
	local alone, shared, busy = {}, {}, {}
	for _, s in ipairs({ alone, shared, busy }) do
		env.filters.initialize(s)
	end
	local other = function(stanza) return stanza end
	env.filters.add_filter(shared, "stanzas/out", other, 100)
	env.now = 1
	watch(alone)
	watch(shared)
	sweep(5)
	env.now = 30
	watch(busy)
	sweep(35)
	local before = get_filtered()
	sweep(64)
	eq(alone.filters["stanzas/out"][1], env.out_filter, "within pending_timeout of its epoch's end: on")
	sweep(66)
	eq(alone.filters["stanzas/out"], nil, "ours was the only filter: no list left")
	eq(#shared.filters["stanzas/out"], 1, "another filter: its list stays")
	eq(shared.filters["stanzas/out"][1], other, "with that filter")
	eq(busy.filters["stanzas/out"][1], env.out_filter, "watched within pending_timeout: still on")
	eq(get_filtered(), before, "a session still on: the same table")
	eq(alone.filter("stanzas/out", "x"), "x", "a session without the list passes stanzas on")
	sweep(100)
	eq(busy.filters["stanzas/out"], nil, "then off too")
	eq(next(get_filtered()), nil, "nobody on")
	eq(get_filtered() ~= before, true, "filtered starts again empty")
	env.now = 101
	watch(alone)
	eq(alone.filters["stanzas/out"][1], env.out_filter, "a later watch() puts it back")
end)

-- The hooks call watch() for a session's first followed presence
-- in a watch epoch only; a second join later in the same epoch is due its
-- answer up to a tick after the first one's
test("a second join in the same epoch keeps the filter until its own answer is due", function()
	local sweep, _, watch, env = module_unwatch()
	local s = {}
	env.filters.initialize(s)
	env.now = 1
	watch(s) -- the first join
	-- a second join at 4.9: the same epoch, no watch() call
	sweep(5)
	sweep(64.5) -- the second join's answer is due until 64.9
	eq(s.filters["stanzas/out"][1], env.out_filter, "still on")
	sweep(65.5)
	eq(s.filters["stanzas/out"], nil, "off after the epoch's end + pending_timeout")
	env.now = 66
	watch(s) -- a join after a tick's sweep
	sweep(70)
	sweep(129)
	eq(s.filters["stanzas/out"][1], env.out_filter, "on until that epoch's end + pending_timeout")
	sweep(131)
	eq(s.filters["stanzas/out"], nil, "then off")
end)

test("a session in a call of the filter stays on", function()
	local sweep, get_filtered, watch, env = module_unwatch()
	local s = {}
	env.filters.initialize(s)
	env.now = 1
	watch(s)
	sweep(5)
	env.in_filter[s] = 1
	sweep(70)
	eq(s.filters["stanzas/out"][1], env.out_filter, "still on")
	eq(get_filtered()[s] ~= nil, true, "still listed")
end)

-- Util.timer schedules a timer again only when its function
-- returns a number
test("a tick that raises does not end the timer, logged at error once", function()
	local src = assert(io.open("lua/mod_track_muc_joins.lua")):read("a")
	local body = assert(src:match("\n(local function tick%(%).-\nlocal function on_tick%(%).-\nend)\n"),
		"tick / on_tick not found")
	local env = setmetatable({}, { __index = _G })
	local logged, ticks = {}, 0
	env.module = { log = function(_, level) logged[#logged + 1] = level end }
	env.monotonic = os.clock
	env.call_for_events = function() ticks = ticks + 1 end
	env.unwatch_idle = function() end
	env.refresh_listening = function() error("a bug") end
	env.sync_metrics = function() end
	env.update_metrics = function() end
	env.tick_every = 5
	env.error_text = tostring
	local prelude = "local module, monotonic, call_for_events, unwatch_idle, refresh_listening, "
		.. "sync_metrics, update_metrics, tick_every, error_text = module, monotonic, call_for_events, "
		.. "unwatch_idle, refresh_listening, sync_metrics, update_metrics, tick_every, error_text;\n"
	local on_tick = assert(load(prelude .. body .. "\nreturn on_tick", "on_tick", "t", env))()
	eq(on_tick(), 5, "the first: the timer goes on")
	eq(on_tick(), 5, "the second too")
	eq(ticks, 2, "the core ticked both times")
	eq(#logged, 2, "logged each time")
	eq(logged[1], "error", "the first at error")
	eq(logged[2], "debug", "then at debug")
end)

h.finish()

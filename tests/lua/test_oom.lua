-- The binding when allocations fail: run by build/tests/lua-alloc-host
-- (tests/lua/alloc_host.c), whose alloc_fail(n) lets n more allocations
-- of the Lua VM and of the core succeed and fails every later one. For
-- each n until nothing fails, a call that reports an event runs under
-- that budget; whatever happens, the hooks never raise and every event
-- the core reported (t:counts()) either reached the caller or is counted
-- in t:stats().dropped_events (before the fix, a failed build of the events'
-- Lua tables lost them uncounted). dropped_events counts lost records of
-- any kind (a log line of the core's own failure too), so it may exceed
-- the events lost. Run from the repository root:
--   build/tests/lua-alloc-host tests/lua/test_oom.lua build/plugins/mod_track_muc_joins/mucjoins.so
local so_path = arg[1] or "build/plugins/mod_track_muc_joins/mucjoins.so"
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local st = require "util.stanza"
local mj = assert(package.loadlib(so_path, "luaopen_mucjoins"))()

local NS_MUC = "http://jabber.org/protocol/muc"
local NS_MUC_USER = "http://jabber.org/protocol/muc#user"
local JID = "alice@example.org/phone"
local ROOM = "room@conference.example.org"

local passed, failed = 0, 0
local function check(name, got, want)
	if got == want then
		passed = passed + 1
	else
		failed = failed + 1
		print(string.format("FAIL %s: expected %s, got %s", name, tostring(want), tostring(got)))
	end
end

local function of_type(events, ty)
	local n = 0
	for _, ev in ipairs(type(events) == "table" and events or {}) do
		if ev.type == ty then n = n + 1 end
	end
	return n
end

local join = st.presence({ to = ROOM .. "/alice", id = "j1" }):tag("x", { xmlns = NS_MUC }):up()
local self = st.presence({ from = ROOM .. "/alice", to = JID, id = "j1" })
	:tag("x", { xmlns = NS_MUC_USER })
	:tag("item", { affiliation = "member", role = "participant" }):up()
	:tag("status", { code = "110" }):up():up()

-- Runs scenario(n) for n = 0, 1, ... until a run has no failed
-- allocation; scenario returns (events the core counted, events that
-- reached the caller, dropped_events).
local function each_budget(name, scenario)
	local failing_runs = 0
	for n = 0, 10000 do
		local counted, delivered, dropped, hit = scenario(n)
		check(string.format("%s, %d allocations: delivered <= counted", name, n),
			delivered <= counted, true)
		check(string.format("%s, %d allocations: counted <= delivered + dropped (%d, %d, %d)", name, n,
			counted, delivered, dropped), counted <= delivered + dropped, true)
		if hit == 0 then
			check(name .. ": the run with enough memory delivers the event", delivered, 1)
			print(string.format("ok   %s (%d budgets with a failure)", name, failing_runs))
			return
		end
		failing_runs = failing_runs + 1
	end
	check(name .. ": ends", false, true)
end

-- t:tick(): a pending join times out (join-failed).
each_budget("t:tick()", function(n)
	local t = mj.new({ pending_timeout = 0.001 })
	check("join", t:outgoing(JID, join), "changed")
	local t0 = os.clock()
	while os.clock() - t0 < 0.005 do end
	alloc_fail(n)
	local ok, events = pcall(t.tick, t)
	local hit = alloc_failed()
	alloc_fail(nil)
	local delivered = ok and of_type(events, "join-failed") or 0
	local counted = (t:counts()["join-failed"] or {}).timeout or 0
	return counted, delivered, t:stats().dropped_events, hit
end)

-- hooks.incoming: the self-presence (joined), with a listener (events
-- come back to applied()) and without one (the binding applies them),
-- called from the main thread and from a coroutine (as Prosody's async
-- runners call hooks: an error in applied() then reaches the hook's
-- continuation, not lua_pcallk()'s return).
-- Each returns the call to make under the budget (made ready before it:
-- a coroutine is created and entered first, so that the call itself
-- allocates nothing before the hook does).
local function on_main(f, event)
	return pcall, f, event
end
local function in_coroutine(f, event)
	local co = coroutine.create(function()
		coroutine.yield()
		return f(event)
	end)
	coroutine.resume(co)
	return coroutine.resume, co
end
for _, case in ipairs({ { true, on_main }, { false, on_main }, { true, in_coroutine },
		{ false, in_coroutine } }) do
	local listening, call = case[1], case[2]
	local where = call == on_main and "" or ", in a coroutine"
	each_budget("hooks.incoming, listening " .. tostring(listening) .. where, function(n)
		local t = mj.new({})
		local session = { full_jid = JID, host = "example.org", type = "c2s" }
		local delivered = 0
		local function applied(_, _, _, _, events)
			delivered = delivered + of_type(events, "joined")
		end
		local hooks = t:hooks({ [JID] = session }, "example.org", {}, applied)
		hooks.listen(listening)
		hooks.outgoing({ origin = session, stanza = join })
		local event = { origin = {}, stanza = self }
		local fn, a, b = call(hooks.incoming, event)
		alloc_fail(n)
		local ok, ret = fn(a, b)
		local hit = alloc_failed()
		alloc_fail(nil)
		check("hooks.incoming never raises", ok, true)
		check("hooks.incoming returns nothing", ret, nil)
		if not listening and delivered == 0 and session.rooms_joined and session.rooms_joined[ROOM] then
			delivered = 1 -- applied by the binding itself: no event table
		end
		return t:counts().joined or 0, delivered, t:stats().dropped_events, hit
	end)
end

print(string.format("lua-oom: %d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)

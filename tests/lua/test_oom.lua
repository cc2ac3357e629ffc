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

-- t:tick() once 5 ms passed (the trackers here time out after 1 ms),
-- allocations failing from the nth: ok, events (pcall's), and how many
-- allocations failed.
local function tick_failing(t, n)
	local t0 = os.clock()
	while os.clock() - t0 < 0.005 do end
	alloc_fail(n)
	local ok, events = pcall(t.tick, t)
	local hit = alloc_failed()
	alloc_fail(nil)
	return ok, events, hit
end

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
	local ok, events, hit = tick_failing(t, n)
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

-- rooms_joined agrees with the core after an allocation failure, once
-- t:resync() ran (the module calls it every tick): a realistic run of
-- hooks (six joins, a nick change, a kick, a leave), allocations failing
-- from the nth on within the step that reaches it, the later steps with
-- enough memory. Before t:resync(), a joined lost when rooms_joined grew
-- (its fifth key) stayed missing for good: the core showed the room,
-- consumers did not.
local function room_n(i) return "room" .. i .. "@conference.example.org" end
local function self_n(i, nick, ty, codes, item_nick)
	local p = st.presence({ from = room_n(i) .. "/" .. nick, to = JID, type = ty })
		:tag("x", { xmlns = NS_MUC_USER })
		:tag("item", { affiliation = "member", role = ty and "none" or "participant", nick = item_nick }):up()
	for _, code in ipairs(codes) do p:tag("status", { code = code }):up() end
	return p:up()
end
local function steps_for(session)
	local s = {}
	local function out(stanza) s[#s + 1] = { "outgoing", { origin = session, stanza = stanza } } end
	local function inc(stanza) s[#s + 1] = { "incoming", { origin = {}, stanza = stanza } } end
	for i = 1, 6 do
		out(st.presence({ to = room_n(i) .. "/alice", id = "j" .. i }):tag("x", { xmlns = NS_MUC }):up())
		inc(self_n(i, "alice", nil, { "110" }))
	end
	out(st.presence({ to = room_n(3) .. "/alice2" }))
	inc(self_n(3, "alice", "unavailable", { "303", "110" }, "alice2"))
	inc(self_n(3, "alice2", nil, { "110" }))
	inc(self_n(4, "alice", "unavailable", { "307", "110" }))
	out(st.presence({ to = room_n(2) .. "/alice", type = "unavailable" }))
	inc(self_n(2, "alice", "unavailable", { "110" }))
	return s
end
local function disagreement(t, rooms)
	local shown = {}
	for _, info in ipairs(t:rooms(JID)) do
		if info.nick then shown[info.room] = info.nick end
	end
	for room, nick in pairs(shown) do
		if rooms[room] ~= nick then return room .. ": core " .. nick .. ", rooms_joined " .. tostring(rooms[room]) end
	end
	for room, nick in pairs(rooms) do
		if shown[room] ~= nick then return room .. ": rooms_joined " .. tostring(nick) .. ", core none" end
	end
	return nil
end
for _, listening in ipairs({ false, true }) do
	local name = "rooms_joined after a failure, listening " .. tostring(listening)
	local failing_runs, differed = 0, 0
	for n = 0, 10000 do
		local t = mj.new({})
		local session = { full_jid = JID, host = "example.org", type = "c2s" }
		local full = { [JID] = session }
		-- as the module's applied(): what the binding did not write
		local function applied(_, _, _, _, events)
			for _, ev in ipairs(type(events) == "table" and events or {}) do
				if not ev.applied and (ev.type == "joined" or ev.type == "nick-changed" or ev.type == "left") then
					session.rooms_joined = session.rooms_joined or {}
					session.rooms_joined[ev.room] = ev.type ~= "left" and ev.nick or nil
				end
			end
		end
		local hooks = t:hooks(full, "example.org", {}, applied)
		hooks.listen(listening)
		local steps, oks, hit = steps_for(session), {}, 0
		for k = 1, #steps do oks[k] = true end -- filled: no allocation below
		alloc_fail(n)
		for k = 1, #steps do
			oks[k] = pcall(hooks[steps[k][1]], steps[k][2])
			if alloc_failed() > 0 then
				hit = hit + 1
				alloc_fail(nil)
			end
		end
		alloc_fail(nil)
		for k = 1, #steps do
			check(string.format("%s, %d allocations: hook %d never raises", name, n, k), oks[k], true)
		end
		if disagreement(t, session.rooms_joined or {}) then
			differed = differed + 1
		end
		t:resync(full)
		local why = disagreement(t, session.rooms_joined or {})
		check(string.format("%s, %d allocations: agrees with the core after t:resync() (%s)", name, n,
			tostring(why)), why, nil)
		check(name .. ": nothing more to resync", t:resync(full), 0)
		if hit == 0 then
			check(name .. ": the run with enough memory shows four rooms", #t:rooms(JID), 4)
			print(string.format("ok   %s (%d budgets with a failure, %d disagreed before t:resync())", name,
				failing_runs, differed))
			break
		end
		failing_runs = failing_runs + 1
	end
end

-- The same for a left lost by t:tick() (a leave never confirmed): the
-- module never removed the room; t:resync() does.
do
	local name = "rooms_joined after a failed t:tick()"
	local removed = 0
	for n = 0, 10000 do
		local t = mj.new({ pending_timeout = 0.001 })
		local session = { full_jid = JID, host = "example.org", type = "c2s" }
		local full = { [JID] = session }
		local hooks = t:hooks(full, "example.org", {}, function() end)
		hooks.listen(false)
		hooks.outgoing({ origin = session, stanza = join })
		hooks.incoming({ origin = {}, stanza = self })
		hooks.outgoing({ origin = session, stanza = st.presence({ to = ROOM .. "/alice", type = "unavailable" }) })
		check(name .. ": shown while the leave waits", session.rooms_joined[ROOM], "alice")
		local ok, events, hit = tick_failing(t, n)
		for _, ev in ipairs(ok and events or {}) do -- as the module applies them
			if ev.type == "left" then session.rooms_joined[ev.room] = nil end
		end
		local before = session.rooms_joined[ROOM]
		local fixed = t:resync(full)
		check(string.format("%s, %d allocations: the room is gone after t:resync()", name, n),
			session.rooms_joined[ROOM], nil)
		check(string.format("%s, %d allocations: t:resync() counts what it removed", name, n),
			fixed, before and 1 or 0)
		if before then removed = removed + 1 end
		if hit == 0 then
			print(string.format("ok   %s (%d budgets left the room behind until t:resync())", name, removed))
			break
		end
	end
end

-- A room destroyed, its <reason/> in two text nodes (joined under
-- lua_pcall): whatever fails, the core sees the destroy and the room
-- leaves rooms_joined. Before, a failure to join the reason's text was
-- the whole presence's: the core never saw the room end, and it stayed
-- in rooms_joined for good.
do
	local name = "a destroy whose reason cannot be joined"
	local destroy = st.presence({ from = ROOM .. "/alice", to = JID, type = "unavailable" })
		:tag("x", { xmlns = NS_MUC_USER })
		:tag("item", { affiliation = "none", role = "none" }):up()
		:tag("destroy", { jid = "new@conference.example.org" })
		:tag("reason"):text("moved"):tag("b"):up():text(" elsewhere"):up():up()
		:tag("status", { code = "110" }):up():up()
	for n = 0, 10000 do
		local t = mj.new({})
		local session = { full_jid = JID, host = "example.org", type = "c2s" }
		local full = { [JID] = session }
		local reasons = {}
		local hooks = t:hooks(full, "example.org", {}, function(_, _, _, _, events)
			for _, ev in ipairs(type(events) == "table" and events or {}) do
				if ev.type == "left" then reasons[#reasons + 1] = ev.reason .. "/" .. tostring(ev.text) end
			end
		end)
		hooks.listen(true)
		hooks.outgoing({ origin = session, stanza = join })
		hooks.incoming({ origin = {}, stanza = self })
		local event = { origin = {}, stanza = destroy }
		alloc_fail(n)
		local ok = pcall(hooks.incoming, event)
		local hit = alloc_failed()
		alloc_fail(nil)
		t:resync(full)
		check(string.format("%s, %d allocations: the hook never raises", name, n), ok, true)
		check(string.format("%s, %d allocations: the core shows no room", name, n), #t:rooms(JID), 0)
		check(string.format("%s, %d allocations: rooms_joined shows none", name, n),
			session.rooms_joined[ROOM], nil)
		if hit == 0 then
			check(name .. ": with enough memory, the reason whole", reasons[1], "destroyed/moved elsewhere")
			print(string.format("ok   %s (%d budgets with a failure)", name, n))
			break
		end
	end
end

print(string.format("lua-oom: %d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)

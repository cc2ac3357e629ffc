-- The self-ping iq hooks (lua/selfping.lib.lua) never raise, whatever the
-- iq another module routes to a local session: attributes from the wire
-- are strings, those another module sets need not be (a Lua error there
-- would escape into the router and the iq would not be delivered). Run
-- from the repository root:
--   lua5.4 tests/lua/test_selfping_hooks.lua build/plugins/mod_track_muc_joins/mucjoins.so
-- Prints "ok NAME" / "FAIL NAME", then "selfping-hooks: N passed,
-- N failed"; exits 1 on a failure.
local so_path = arg[1] or "build/plugins/mod_track_muc_joins/mucjoins.so"
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
package.preload["core.modulemanager"] = function()
	return { is_loaded = function() return false end }
end
local st = require "util.stanza"
local mj = assert(package.loadlib(so_path, "luaopen_mucjoins"))()

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")("selfping-hooks")
local test = h.test
local eq = h.eq

local JID = "alice@example.org/phone"

-- The module's own our_ping_id(), cut out of mod_track_muc_joins.lua
-- (it closes over the module's ping_salts only).
local function module_our_ping_id()
	local src = assert(io.open("lua/mod_track_muc_joins.lua")):read("a")
	local body = assert(src:match("\n(local function our_ping_id%(iq_id%).-\nend)\n"),
		"our_ping_id not found in lua/mod_track_muc_joins.lua")
	local chunk = assert(load("local ping_salts = { 'secretsalt' };\n" .. body .. "\nreturn our_ping_id",
		"our_ping_id", "t", _G))
	return chunk()
end

-- selfping.lib.lua loaded as the module loads it, with a stand-in
-- module (send_iq: o.send_iq), full_sessions (o.full_sessions), and the
-- ctx fields o.tracker, o.our_ping_id, o.call. Returns its iq/full
-- handlers ({ fn, prio } each) and the module.
local function load_lib(o)
	local hooks = {}
	local module = {
		host = "example.org",
		hook = function(_, name, fn, prio)
			if name == "iq/full" then hooks[#hooks + 1] = { fn = fn, prio = prio } end
		end,
		hook_global = function() end,
		context = function() return { hook = function() end } end,
		log = function() end,
		send = function() end,
		send_iq = o.send_iq,
		shared = function() return {} end,
	}
	_G.prosody = { full_sessions = o.full_sessions, hosts = {} }
	local env = setmetatable({ module = module }, { __index = _G })
	local lib = assert(loadfile("lua/selfping.lib.lua", "t", env))()
	lib({
		tracker = function() return o.tracker end,
		our_ping_id = o.our_ping_id,
		call = o.call or function() end,
		send_ready_soon = o.send_ready_soon or function() end,
		salt = "secretsalt",
		id_secret = "secret",
		ping_timeout = 60,
	})
	assert(#hooks > 0, "no iq/full handler")
	return hooks, module
end

-- Its iq/full handlers, for one session of a real tracker.
local function iq_handlers(our_ping_id)
	local session = { full_jid = JID, host = "example.org", type = "c2s" }
	return (load_lib({
		full_sessions = { [JID] = session },
		tracker = mj.new({}),
		our_ping_id = our_ping_id,
	}))
end

for _, case in ipairs({ { "a table", {} }, { "a boolean", true }, { "a number", 7 } }) do
	test("our_ping_id() of an id that is " .. case[1] .. " is nil", function()
		assert(module_our_ping_id()(case[2]) == nil)
	end)
	for _, typ in ipairs({ "result", "error", "get" }) do
		test("the iq/full hooks pass on an iq of type " .. typ .. " whose id is " .. case[1], function()
			-- a strict stand-in: string.match raises on what is not a string
			local strict = function(id) return string.match(id, "^mjping%-(%d+)%-") and 1 or nil end
			for _, h in ipairs(iq_handlers(strict)) do
				local iq = st.iq({ type = typ, to = JID, from = "room@muc.example.net/alice", id = "x" })
				iq.attr.id = case[2]
				local ok, ret = pcall(h.fn, { stanza = iq, origin = {} })
				assert(ok, "iq/full handler (priority " .. tostring(h.prio) .. ") raised: " .. tostring(ret))
				assert(ret == nil, "iq/full handler (priority " .. tostring(h.prio) .. ") took it")
			end
		end)
	end
end

-- Prosody 0.12's module:send_iq() error handler (iq/full,
-- priority 1) raises on an error reply without <error/>
-- (util.error.from_stanza reads its attr.by): the module's own hook takes
-- such a reply to its disco#info request first
test("an error reply to our disco#info without <error/> is taken before send_iq's handler", function()
	local handlers = iq_handlers(function() return nil end)
	table.sort(handlers, function(a, b) return (a.prio or 0) > (b.prio or 0) end)
	local function reply(with_error)
		local iq = st.iq({ type = "error", to = JID, from = "room@muc.example.net", id = "mjdisco-5-secretsalt" })
		if with_error then
			iq:tag("error", { type = "cancel" })
				:tag("item-not-found", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" }):up():up()
		end
		return iq
	end
	local taken = false
	for _, hd in ipairs(handlers) do
		local ok, ret = pcall(hd.fn, { stanza = reply(false), origin = {} })
		assert(ok, "raised: " .. tostring(ret))
		if ret == true then
			taken = (hd.prio or 0) > 1
			break
		end
	end
	assert(taken, "not taken before priority 1")
	-- with its <error/>, left to send_iq's handler (its promise fails)
	for _, hd in ipairs(handlers) do
		if (hd.prio or 0) > 1 then
			local ok, ret = pcall(hd.fn, { stanza = reply(true), origin = {} })
			assert(ok, "raised: " .. tostring(ret))
			assert(ret == nil, "a well-formed error taken at priority " .. tostring(hd.prio))
		end
	end
	-- a client's look-alike id (no secret) is not ours
	local iq = reply(false)
	iq.attr.id = "mjdisco-5-othersalt"
	for _, hd in ipairs(handlers) do
		local ok, ret = pcall(hd.fn, { stanza = iq, origin = {} })
		assert(ok and ret == nil, "a look-alike id taken")
	end
end)

-- The disco#info request pool (ask_info): selfping.lib.lua with a
-- module:send_iq() whose promises the test settles, a tracker that says
-- every ping answer needs the room's info, and the accounts' sessions.
-- answer(jid, room): a ping answer from room to jid; returns whether a
-- request went out for it (else it went to the core at once, with no
-- reply). requests: the ones out, each { reply(), time_out() }.
local function info_pool()
	local requests = {}
	local function send_iq(self, iq)
		if self.fail_next_send then
			self.fail_next_send = nil
			error("no route")
		end
		local r = { iq = iq }
		requests[#requests + 1] = r
		return {
			next = function(_, ok, fail)
				r.reply = function()
					ok({ stanza = st.reply(iq) })
				end
				r.time_out = function()
					fail({ text = "timeout" })
				end
			end,
		}
	end
	local sessions = setmetatable({}, {
		__index = function(t, jid)
			local session = { full_jid = jid, host = "example.org", type = "c2s" }
			rawset(t, jid, session)
			return session
		end,
	})
	local answered = 0
	local last_info -- the disco#info reply the last answer went to the core with
	local hooks, module = load_lib({
		send_iq = send_iq,
		full_sessions = sessions,
		tracker = {
			ping_needs_features = function() return true end,
			is_forwarded_ping = function() return false end,
		},
		our_ping_id = function(id) return tonumber(id:match("^mjping%-(%d+)%-")) end,
		call = function(_, _, _, _, _, _, info)
			answered = answered + 1
			last_info = info
		end,
	})
	-- the hook that takes the answers to our pings: the first one
	-- (priority 1000, before any module may drop them)
	local answers, top
	for _, hd in ipairs(hooks) do
		if not top or (hd.prio or 0) > top then
			answers, top = hd.fn, hd.prio or 0
		end
	end
	local pool = { requests = requests, module = module }
	-- the answers that went to the core, and the last one's reply
	function pool.answered()
		return answered, last_info
	end
	-- a stanza through the hook that takes our answers: whether it took it
	function pool.feed(stanza)
		local ok, ret = pcall(answers, { stanza = stanza, origin = {} })
		assert(ok, "raised: " .. tostring(ret))
		return ret == true
	end
	function pool.answer(jid, room)
		local before, at_once = #requests, answered
		local iq = st.iq({ type = "error", to = jid, from = room, id = "mjping-7-secretsalt" })
		iq:tag("error", { type = "cancel" })
			:tag("item-not-found", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" }):up():up()
		local ok, ret = pcall(answers, { stanza = iq, origin = {} })
		assert(ok and ret == true, "the ping answer was not taken: " .. tostring(ret))
		assert(#requests - before + answered - at_once == 1, "neither asked nor answered")
		return #requests > before
	end
	-- every request out times out (or is answered), in order
	function pool.settle(how)
		local out = requests
		requests = {}
		pool.requests = requests
		for _, r in ipairs(out) do r[how]() end
	end
	return pool
end

-- 16 local accounts in rooms on 16 domains that answer
-- pings with item-not-found and never answer disco#info held all 64
-- slots at every retry; another user's answer was then taken without
-- its room's info (unknown, then given up: a ghost kept).
local function hostile_round(pool)
	local asked = 0
	for a = 1, 16 do
		for r = 1, 4 do
			if pool.answer(("mallory%d@example.org/r"):format(a), ("room%d@muc%d.evil.example"):format(r, a)) then
				asked = asked + 1
			end
		end
	end
	return asked
end

test("accounts whose disco#info requests went unanswered hold one each, not the pool", function()
	local pool = info_pool()
	eq(hostile_round(pool), 64)
	assert(not pool.answer("alice@example.org/phone", "lost@conference.good.example"), "65th request")
	pool.settle("time_out")
	eq(hostile_round(pool), 16)
	assert(pool.answer("alice@example.org/phone", "lost@conference.good.example"),
		"no request for another user's answer while silent accounts wait")
end)

test("silent accounts together hold at most half the pool", function()
	local pool = info_pool()
	for a = 1, 48 do
		assert(pool.answer(("m%d@example.org/r"):format(a), ("room@muc%d.evil.example"):format(a)))
	end
	pool.settle("time_out")
	local asked = 0
	for a = 1, 48 do
		if pool.answer(("m%d@example.org/r"):format(a), ("room@muc%d.evil.example"):format(a)) then
			asked = asked + 1
		end
	end
	eq(asked, 32)
	for r = 1, 4 do
		assert(pool.answer("alice@example.org/phone", ("room%d@conference.good.example"):format(r)))
	end
end)

test("four replies per request left unanswered give an account its four again", function()
	local pool = info_pool()
	assert(pool.answer("bob@example.org/r", "a@muc.slow.example"))
	pool.settle("time_out")
	for round = 1, 4 do
		for r = 1, 4 do
			eq(pool.answer("bob@example.org/r", ("room%d@muc.slow.example"):format(r)), r == 1,
				"round " .. round .. ", room " .. r)
		end
		pool.settle("reply")
	end
	for r = 1, 4 do
		assert(pool.answer("bob@example.org/r", ("room%d@muc.slow.example"):format(r)))
	end
end)

-- One quick error per round (the hostile room's own) must not
-- buy the silent accounts their slots back
test("one reply per round after the timeouts does not give the pool back", function()
	local pool = info_pool()
	eq(hostile_round(pool), 64)
	pool.settle("time_out")
	for cycle = 1, 3 do
		eq(hostile_round(pool), 16, "cycle " .. cycle)
		pool.settle("reply")
		assert(pool.answer("alice@example.org/phone", ("lost%d@conference.good.example"):format(cycle)),
			"another user's answer gets a request")
		pool.settle("reply")
	end
end)

test("a request that could not be sent does not make the account silent", function()
	local pool = info_pool()
	pool.module.fail_next_send = true
	eq(pool.answer("bob@example.org/r", "a@muc.slow.example"), false, "not sent: answered at once")
	for r = 1, 4 do
		assert(pool.answer("bob@example.org/r", ("room%d@muc.slow.example"):format(r)))
	end
end)

-- An error reply without <error/> to a request out (send_iq() would
-- take it: its id, from the room asked): it waited for ping_timeout, the
-- ping's answer held that long; now the answer goes to the core at once
-- with it (no usable answer), and the request's place stays taken until
-- send_iq() gives up on it (then counted as unanswered)
test("an error reply without <error/> ends its request for the ping at once", function()
	local pool = info_pool()
	local room = "a@muc.evil.example"
	assert(pool.answer("bob@example.org/r", room))
	local r = pool.requests[1]
	local function malformed(from, id)
		return st.iq({ type = "error", to = "bob@example.org/other", from = from, id = id })
	end
	-- not from the room asked, or the id of no request: taken, nothing ends
	assert(pool.feed(malformed("b@muc.evil.example", r.iq.attr.id)))
	assert(pool.feed(malformed("a@muc.evil.example/nick", r.iq.attr.id)))
	assert(pool.feed(malformed(room, "mjdisco-99-secretsalt")))
	eq(pool.answered(), 0, "ended by a reply send_iq() would not take")
	local reply = malformed(room, r.iq.attr.id)
	assert(pool.feed(reply), "not taken before send_iq()'s handler")
	local n, info = pool.answered()
	eq(n, 1, "the answer went to the core at once")
	assert(info == reply, "with the reply, for the core to read")
	assert(pool.feed(malformed(room, r.iq.attr.id)))
	eq(pool.answered(), 1, "a second one ends nothing")
	-- a later answer of the same session and room: at once, no request
	eq(pool.answer("bob@example.org/r", room), false, "a request for the later answer")
	eq(pool.answered(), 2)
	-- the place stays taken until send_iq() gives up on the request
	for i = 2, 4 do
		assert(pool.answer("bob@example.org/r", ("room%d@muc.evil.example"):format(i)))
	end
	eq(pool.answer("bob@example.org/r", "room5@muc.evil.example"), false, "a fifth request for bob")
	eq(pool.answer("mallory@example.org/r", "room8@muc.evil.example"), false,
		"a fifth request to the domain")
	eq(pool.answered(), 4)
	r.time_out()
	eq(pool.answered(), 4, "the timeout of the ended request answered again")
	assert(pool.answer("mallory@example.org/r", "room9@muc.evil.example"), "the place came back")
end)

h.finish()

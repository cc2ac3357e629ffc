-- The module's s2s link wiring (lua/selfping.lib.lua) outside Prosody:
-- which domains an incoming stream reports up to the tracker, and at what
-- cost. Prosody fires s2sin-established again each time one stream
-- authenticates one more domain (dialback piggybacking), without naming
-- it. Run from the repository root:
--   lua5.4 tests/lua/test_link_events.lua
-- Prints "ok NAME" / "FAIL NAME", then "link-events: N passed, N failed";
-- exits 1 on a failure. A stand-in for `module` records the hooks; the
-- real selfping.lib.lua registers them (this checks the wiring's own
-- bookkeeping, not Prosody: the integration tests do that).
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
package.preload["core.modulemanager"] = function()
	return { is_loaded = function() return false end }
end

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")("link-events")
local test = h.test
local eq = h.eq

-- Load selfping.lib.lua as the module would; returns its global hooks
-- and the calls it made into the tracker (through ctx.call).
-- shared: module:shared()'s tables, one per Prosody process (each load of
-- a test gets its own unless it passes one); host: the VirtualHost.
local function load(shared, host)
	shared = shared or {}
	local global, calls, logs = {}, {}, {}
	local module = {
		host = host or "example.org",
		shared = function(_, path)
			shared[path] = shared[path] or {}
			return shared[path]
		end,
		hook = function() end,
		hook_global = function(_, name, fn) global[name] = fn end,
		context = function() return { hook = function() end } end,
		log = function(_, level, fmt, ...) logs[#logs + 1] = { level, fmt:format(...) } end,
	}
	_G.prosody = { full_sessions = {}, hosts = {} }
	local env = setmetatable({ module = module }, { __index = _G })
	local lib = assert(loadfile("lua/selfping.lib.lua", "t", env))()
	lib({
		call = function(method, _, _, domain)
			calls[#calls + 1] = { method, domain }
		end,
	})
	return global, calls, logs
end

local function ups(calls)
	local n, seen = 0, {}
	for _, c in ipairs(calls) do
		if c[1] == "link_up" then
			n = n + 1
			seen[c[2]] = (seen[c[2]] or 0) + 1
		end
	end
	return n, seen
end

-- An incoming stream whose session.hosts is hosts, seen through pairs()
-- only, and a function giving how many entries the wiring has visited.
local function counted_stream(hosts)
	local visits = 0
	local stream = { type = "s2sin", hosts = setmetatable({}, {
		__pairs = function()
			return function(_, k)
				local nk, v = next(hosts, k)
				if nk ~= nil then
					visits = visits + 1
				end
				return nk, v
			end, hosts, nil
		end,
	}) }
	return stream, function() return visits end
end

test("each domain an incoming stream authenticates is reported up once", function()
	local global, calls = load()
	local stream = { type = "s2sin", hosts = {} }
	for i = 1, 5 do
		stream.hosts["d" .. i .. ".example"] = { authed = true }
		stream.hosts["pending" .. i .. ".example"] = {} -- dialback not verified
		global["s2sin-established"]({ session = stream })
	end
	local n, seen = ups(calls)
	eq(n, 5, "link ups")
	for i = 1, 5 do
		eq(seen["d" .. i .. ".example"], 1, "d" .. i)
	end
	-- another stream authenticating one of them: reported again
	local other = { type = "s2sin", hosts = { ["d1.example"] = { authed = true } } }
	global["s2sin-established"]({ session = other })
	n, seen = ups(calls)
	eq(n, 6, "link ups after a second stream")
	eq(seen["d1.example"], 2, "d1 on the second stream")
end)

test("a stream authenticating thousands of domains costs a bounded number of visits", function()
	local global, calls, logs = load()
	local hosts = {}
	local stream, visits = counted_stream(hosts)
	for i = 1, 3000 do
		hosts[string.format("d%05d.example", i)] = { authed = true }
		global["s2sin-established"]({ session = stream })
	end
	local n = ups(calls)
	-- the budget, and then one look per event (O(1))
	if visits() > 100000 + 3000 then
		error("visits: " .. visits() .. " (unbounded: quadratic in the domains)")
	end
	if n < 400 or n > 3000 then
		error("link ups: " .. n)
	end
	local debug_lines = 0
	for _, l in ipairs(logs) do
		if l[1] == "debug" and l[2]:find("too many domains", 1, true) then
			debug_lines = debug_lines + 1
		end
	end
	eq(debug_lines, 1, "logged once")
end)

-- The event is global and hooked by every VirtualHost's load;
-- the walk's budget was per load, so V hosts paid V times it per stream.
test("a stream's domains are walked once per event whatever the number of hosts", function()
	local shared, loads = {}, {}
	local V = 20
	for i = 1, V do
		local global, calls = load(shared, "h" .. i .. ".example")
		loads[i] = { global = global, calls = calls }
	end
	local hosts = {}
	local stream, visits = counted_stream(hosts)
	local D = 1000
	for i = 1, D do
		hosts[string.format("d%05d.example", i)] = { authed = true }
		local event = { session = stream } -- one table for every global handler
		for _, l in ipairs(loads) do
			l.global["s2sin-established"](event)
		end
	end
	if visits() > 100000 + D then
		error("visits: " .. visits() .. " for " .. V .. " hosts (a budget per host)")
	end
	-- every host reports each domain found up once
	local first = ups(loads[1].calls)
	if first < 400 then
		error("link ups on the first host: " .. first)
	end
	for i = 2, V do
		eq(ups(loads[i].calls), first, "link ups on host " .. i)
	end
end)

test("a lost incoming stream reports its authenticated domains lost", function()
	local global, calls = load()
	local stream = { type = "s2sin", hosts = { ["a.example"] = { authed = true }, ["b.example"] = {} } }
	global["s2s-destroyed"]({ session = stream })
	eq(#calls, 1, "calls")
	eq(calls[1][1], "link_lost", "method")
	eq(calls[1][2], "a.example", "domain")
end)

-- A stream that authenticated thousands of domains (one db:result each
-- with a wildcard certificate): its close made each host's handler call
-- its tracker for every one, all in one event. Walked once per event for
-- every host now, and at most 1,000 domains reported lost per host.
test("a lost stream's domains are walked once for every host and bounded", function()
	local shared, loads = {}, {}
	local V = 20
	for i = 1, V do
		local global, calls, logs = load(shared, "h" .. i .. ".example")
		loads[i] = { global = global, calls = calls, logs = logs }
	end
	local hosts = {}
	for i = 1, 5000 do
		hosts[string.format("d%05d.example", i)] = { authed = true }
		hosts[string.format("p%05d.example", i)] = {} -- pending dialback
	end
	local stream, visits = counted_stream(hosts)
	local event = { session = stream }
	for _, l in ipairs(loads) do
		l.global["s2s-destroyed"](event)
	end
	if visits() > 10000 then
		error("visits: " .. visits() .. " for " .. V .. " hosts (a walk per host)")
	end
	local debug_lines = 0
	for i, l in ipairs(loads) do
		eq(#l.calls, 1000, "link losses reported on host " .. i)
		for _, c in ipairs(l.calls) do
			assert(c[1] == "link_lost" and c[2]:match("^d%d+%.example$"), c[2])
		end
		for _, line in ipairs(l.logs) do
			if line[1] == "debug" and line[2]:find("too many domains", 1, true) then
				debug_lines = debug_lines + 1
			end
		end
	end
	eq(debug_lines, 1, "logged once")
	-- a stream within the bound: every authenticated domain, on every host
	local small = { type = "s2sin", hosts = { ["a.example"] = { authed = true }, ["b.example"] = {} } }
	local ev = { session = small }
	for _, l in ipairs(loads) do
		local before = #l.calls
		l.global["s2s-destroyed"](ev)
		eq(#l.calls, before + 1, "one loss")
		eq(l.calls[#l.calls][2], "a.example", "domain")
	end
end)

-- The module's log_failure(), cut out of mod_track_muc_joins.lua with its
-- two upvalues, logging through a stand-in module: the levels it picks.
local function module_log_failure()
	local src = assert(io.open("lua/mod_track_muc_joins.lua")):read("a")
	local jid_line = assert(src:match("\n(local BAD_SESSION_JID = [^\n]*)\n"), "BAD_SESSION_JID")
	local body = assert(src:match("\n(local function log_failure%(method, session, err%).-\nend)\n"),
		"log_failure not found in lua/mod_track_muc_joins.lua")
	local logs = {}
	local env = setmetatable({ module = {
		log = function(_, level, fmt, ...) logs[#logs + 1] = { level, fmt:format(...) } end,
	} }, { __index = _G })
	local chunk = assert(_G.load(jid_line .. "\nlocal failures_logged = {};\n" .. body .. "\nreturn log_failure",
		"log_failure", "t", env))
	return chunk(), logs
end

-- A domain Prosody's nameprep takes and the core refuses (a run of 31
-- combining marks) has no room to check: every stream of it
-- logged an error per host.
test("a link event of a domain the core refuses logs at debug, other failures at error", function()
	local log_failure, logs = module_log_failure()
	log_failure("link_lost", nil, "malformed JID")
	log_failure("link_up", nil, "malformed JID")
	log_failure("link_lost", nil, "out of memory")
	log_failure("close", nil, "malformed JID")
	eq(logs[1][1], "debug", "link_lost, malformed")
	eq(logs[2][1], "debug", "link_up, malformed")
	eq(logs[3][1], "error", "link_lost, out of memory")
	eq(logs[4][1], "error", "another method")
end)

h.finish()

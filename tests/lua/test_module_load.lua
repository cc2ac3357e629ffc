-- Loading the whole module (mod_track_muc_joins.lua and what it
-- module:require()s) in a stand-in for Prosody's module environment, from
-- a copy of the plugin folder: a folder without some of its files (an
-- operator who copied only mod_track_muc_joins.lua), a mucjoins.so that
-- cannot be loaded, or a load on "*" (global) stops the load before
-- anything is hooked, with one error naming what is wrong that Prosody
-- logs as it is, without a traceback (it appends one to string errors
-- only: debug.traceback). Run from the repository root:
--   lua5.4 tests/lua/test_module_load.lua build/plugins
-- Prints "ok NAME" / "FAIL NAME", then "module-load: N passed, N failed";
-- exits 1 on a failure. The same on a real Prosody:
-- tests/integration/test_incomplete_plugin_folder.py and
-- test_admin_shell.py (the load on "*").
local plugins = arg[1] or "build/plugins"
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
package.preload["core.modulemanager"] = function()
	return { is_loaded = function() return false end }
end
package.preload["core.configmanager"] = function()
	return { getconfig = function() return { ["*"] = {} } end }
end

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")("module-load")
local test, eq = h.test, h.eq

local FILES = { "mod_track_muc_joins.lua", "mucjoins.so", "selfping.lib.lua", "wake.lib.lua",
	"shell.lib.lua", "README.markdown" }
local NEEDED = { "mucjoins.so", "selfping.lib.lua", "wake.lib.lua", "shell.lib.lua" }

local function read(path)
	local f = assert(io.open(path, "rb"))
	local data = f:read("a")
	f:close()
	return data
end

local function write(path, data)
	local f = assert(io.open(path, "wb"))
	f:write(data)
	f:close()
end

local made = {}

-- A copy of the plugin folder without the files in `without` (a set);
-- replace[name] = content written instead of the file. Returns the
-- folder's path.
local function folder(without, replace)
	local base = os.tmpname()
	os.remove(base)
	local dir = base .. "/mod_track_muc_joins"
	assert(os.execute("mkdir -p '" .. dir .. "'"))
	made[#made + 1] = base
	for _, name in ipairs(FILES) do
		if not without[name] then
			write(dir .. "/" .. name, (replace or {})[name] or read(plugins .. "/mod_track_muc_joins/" .. name))
		end
	end
	return dir
end

local function cleanup()
	for _, base in ipairs(made) do
		os.execute("rm -rf '" .. base .. "'")
	end
end

-- A stand-in for Prosody's module API, recording what the load did.
-- Returns ok, the error (as Prosody's xpcall with debug.traceback gives
-- it), and the record: hooks (every module:hook*, add_timer, metric,
-- shared table asked for) and log lines.
-- process: what Prosody keeps across loads in the prosody table (one
-- Prosody process), or a new one.
local function load_module(dir, host, host_type, options, process)
	options = options or {}
	process = process or {}
	local rec = { effects = {}, logs = {}, timers = {} }
	local function effect(what)
		rec.effects[#rec.effects + 1] = what
	end
	local shared = {}
	local events = {
		get_handlers = function() return nil end,
		fire_event = function() end,
	}
	local metric = {}
	function metric.with_labels() return metric end
	function metric.add() end
	function metric.set() end
	local module = { host = host, name = "track_muc_joins" }
	local env = setmetatable({ module = module }, { __index = _G })
	function module.get_directory() return dir end
	function module.log(_, level, fmt, ...)
		rec.logs[#rec.logs + 1] = { level, fmt:format(...) }
	end
	function module.get_option(_, name, default)
		local value = options[name]
		if value == nil then
			return default
		end
		return value
	end
	module.get_option_number = module.get_option
	module.get_option_boolean = module.get_option
	function module.get_option_set(_, _, default)
		return require("util.set").new(default)
	end
	function module.shared(_, path)
		effect("shared " .. path)
		shared[path] = shared[path] or {}
		return shared[path]
	end
	function module.metric(_, _, name)
		effect("metric " .. name)
		return metric
	end
	function module.hook(_, name) effect("hook " .. name) end
	function module.hook_global(_, name) effect("hook_global " .. name) end
	function module.hook_object_event(_, _, name) effect("hook_object_event " .. name) end
	function module.unhook_object_event() end
	function module.add_timer(_, delay)
		effect("timer")
		rec.timers[#rec.timers + 1] = delay
	end
	function module.get_host_type() return host_type end
	function module.fire_event() end
	function module.send() end
	function module.send_iq() end
	function module.context()
		return { add_item = function() effect("item") end, remove_item = function() end }
	end
	-- Prosody's module:require(): the library from the module's folder,
	-- in the module's environment, or this error
	function module.require(_, lib)
		local f, err = loadfile(dir .. "/" .. lib .. ".lib.lua", "t", env)
		if not f then
			error("Failed to load plugin library '" .. lib .. "', error: " .. err)
		end
		return f()
	end
	_G.prosody = {
		full_sessions = {},
		bare_sessions = {},
		hosts = { [host] = { type = host_type, events = events } },
		events = events,
	}
	if host == "*" then
		_G.prosody.hosts[host] = nil
	end
	for k, v in pairs(process) do
		_G.prosody[k] = v
	end
	local chunk = assert(loadfile(dir .. "/mod_track_muc_joins.lua", "t", env))
	local ok, err = xpcall(chunk, debug.traceback)
	for k, v in pairs(_G.prosody) do
		if type(k) == "string" and k:match("^mucjoins_") then
			process[k] = v
		end
	end
	return ok, err, rec
end

-- A refused load: an error Prosody logs as one line (not a string, so
-- debug.traceback returns it as it is), with nothing hooked.
local function refused(what, ok, err, rec)
	eq(ok, false, what .. ": the load failed")
	eq(type(err) ~= "string", true, what .. ": an error Prosody adds no traceback to, got " .. tostring(err))
	eq(debug.traceback(err), err, what .. ": debug.traceback leaves it as it is")
	local text = tostring(err)
	eq(text:find("\n", 1, true), nil, what .. ": one line: " .. text)
	-- what Prosody's module:depends() makes of it (moduleapi.lua), and a
	-- caller that concatenates it: the message, not a Lua error
	local ok_depends, depends_text = pcall(function()
		return ("Unable to load required module, mod_%s: %s"):format("track_muc_joins",
			((err or "unknown error"):gsub("%-", " ")))
	end)
	eq(ok_depends, true, what .. ": err:gsub() as module:depends() calls it: " .. tostring(depends_text))
	eq(depends_text, "Unable to load required module, mod_track_muc_joins: " .. text:gsub("%-", " "),
		what .. ": module:depends()'s error names the reason")
	local ok_concat, concat_text = pcall(function()
		return "Failed: " .. err
	end)
	eq(ok_concat and concat_text, "Failed: " .. text, what .. ": concatenated, the message")
	eq(#rec.effects, 0, what .. ": nothing hooked (" .. table.concat(rec.effects, ", ") .. ")")
	return text
end

test("a whole folder loads (the stand-in is enough for the module)", function()
	local ok, err, rec = load_module(folder({}), "example.org", "local")
	eq(ok, true, "loaded: " .. tostring(err))
	local hooked, timer, line = false, false, false
	for _, e in ipairs(rec.effects) do
		hooked = hooked or e == "hook pre-presence/full"
		timer = timer or e == "timer"
	end
	for _, l in ipairs(rec.logs) do
		line = line or l[2]:find("tracking MUC joins", 1, true) ~= nil
	end
	eq(hooked, true, "pre-presence/full hooked")
	eq(timer, true, "a timer")
	eq(line, true, "the load line logged")
end)

test("a folder without some of the files: one line naming them, nothing hooked", function()
	-- every non-empty subset of the files the module needs
	for mask = 1, (1 << #NEEDED) - 1 do
		local without, names = {}, {}
		for i, name in ipairs(NEEDED) do
			if mask & (1 << (i - 1)) ~= 0 then
				without[name] = true
				names[#names + 1] = name
			end
		end
		local what = "without " .. table.concat(names, ", ")
		local dir = folder(without)
		local text = refused(what, load_module(dir, "example.org", "local"))
		local lacks = text:match("lacks (.-)%. ")
		eq(lacks, table.concat(names, ", "), what .. ": the files named: " .. text)
		eq(text:find(dir, 1, true) ~= nil, true, what .. ": the folder named: " .. text)
	end
end)

test("a file that cannot be read: named with the reason, apart from the missing ones", function()
	local dir = folder({ ["wake.lib.lua"] = true })
	-- a link to itself: open() fails with ELOOP (root reads any file: no
	-- permission to take away here)
	os.remove(dir .. "/selfping.lib.lua")
	assert(os.execute("ln -s selfping.lib.lua '" .. dir .. "/selfping.lib.lua'"))
	local text = refused("an unreadable selfping.lib.lua", load_module(dir, "example.org", "local"))
	eq(text:match("lacks (.-) and cannot read "), "wake.lib.lua", "the missing file: " .. text)
	eq(text:match("cannot read (.-)%. "), "selfping.lib.lua (Too many levels of symbolic links)",
		"the unreadable file and why: " .. text)
end)

test("a mucjoins.so that cannot be loaded: one line with the reason, nothing hooked", function()
	local dir = folder({}, { ["mucjoins.so"] = "not a shared object\n" })
	local text = refused("a broken mucjoins.so", load_module(dir, "example.org", "local"))
	eq(text:find(dir .. "/mucjoins.so cannot be loaded", 1, true) ~= nil, true, "named: " .. text)
	-- what it needs: a Prosody on another Lua gets "undefined symbol"
	eq(text:find("built for Prosody on Lua 5.4", 1, true) ~= nil, true, "what it needs: " .. text)
	-- dlopen's own words
	eq(text:find("(" .. dir .. "/mucjoins.so: file too short)", 1, true) ~= nil, true, "the reason: " .. text)
end)

test("loaded on * (global): refused, nothing hooked", function()
	local text = refused("on *", load_module(folder({}), "*", "global"))
	eq(text:find("Not loaded globally (on *)", 1, true) ~= nil, true, "said: " .. text)
	-- whole or not, the global load is what is refused
	text = refused("on *, incomplete", load_module(folder({ ["mucjoins.so"] = true }), "*", "global"))
	eq(text:find("globally", 1, true) ~= nil, true, "said: " .. text)
end)

test("on a component: a warning, and nothing set up", function()
	local ok, err, rec = load_module(folder({}), "conference.example.org", "component")
	eq(ok, true, "loaded: " .. tostring(err))
	eq(#rec.effects, 0, "nothing set up (" .. table.concat(rec.effects, ", ") .. ")")
	eq(#rec.logs, 1, "one line logged")
	eq(rec.logs[1][1], "warn", "at warn")
	eq(rec.logs[1][2]:find("Loaded on conference.example.org, a component", 1, true) ~= nil, true,
		"said: " .. rec.logs[1][2])
end)

-- Lua keeps a loaded C library by path: a load after a reload runs the
-- mucjoins.so loaded first, whatever replaced the file since.
test("a load after the file was replaced says a restart is needed", function()
	local dir = folder({})
	local process = {}
	local function warned(rec)
		for _, l in ipairs(rec.logs) do
			if l[2]:find("was replaced since Prosody loaded it", 1, true) then
				return l
			end
		end
	end
	local ok, err, rec = load_module(dir, "example.org", "local", nil, process)
	eq(ok, true, "the first load: " .. tostring(err))
	eq(warned(rec), nil, "the first load says nothing")
	ok, err, rec = load_module(dir, "example.org", "local", nil, process)
	eq(ok, true, "a reload: " .. tostring(err))
	eq(warned(rec), nil, "a reload of the same file says nothing")
	-- replaced by a new file (make, make install: a new inode)
	local so = dir .. "/mucjoins.so"
	write(so .. ".new", read(so))
	assert(os.rename(so .. ".new", so))
	ok, err, rec = load_module(dir, "example.org", "local", nil, process)
	eq(ok, true, "a reload after the file was replaced still loads: " .. tostring(err))
	local line = warned(rec)
	eq(line and line[1], "warn", "said at warn")
	eq(line[2]:find(so, 1, true) ~= nil and line[2]:find("restart Prosody", 1, true) ~= nil, true,
		"names the file and the cure: " .. line[2])
	-- another process (a restart) loads it afresh
	ok, err, rec = load_module(dir, "example.org", "local", nil, {})
	eq(warned(rec), nil, "after a restart nothing is said")
end)

-- mucjoins.so of other versions (tests/lua/old_binding.c, built by make):
-- none, a build from before the interface number; 2, another number.
local function old_binding(which)
	return read(plugins .. "/../tests/old-binding/" .. which .. "/mucjoins.so")
end

-- these Lua files with a library that lacks what they call: refused
-- before the hooks would call it
test("a mucjoins.so of another version: refused, nothing hooked", function()
	for _, case in ipairs({ { "none", "interface none" }, { "2", "interface 2" } }) do
		local what = "a mucjoins.so with " .. case[2]
		local dir = folder({}, { ["mucjoins.so"] = old_binding(case[1]) })
		local text = refused(what, load_module(dir, "example.org", "local"))
		eq(text:find(dir .. "/mucjoins.so is of another version than the folder's Lua files ("
			.. case[2] .. ", they need 1)", 1, true) ~= nil, true, what .. ": said: " .. text)
		eq(text:find("copy the whole folder of one build", 1, true) ~= nil, true, what .. ": the cure: " .. text)
	end
end)

-- An upgrade without a restart: Prosody runs an earlier version's
-- mucjoins.so, the folder now holds this version's files and a reload
-- loads them: Lua gives them the library it loaded first.
test("an upgrade's reload running the earlier mucjoins.so: refused, restart said", function()
	local dir = folder({}, { ["mucjoins.so"] = old_binding("none") })
	local so = dir .. "/mucjoins.so"
	local process = {}
	-- the earlier version's load (its own Lua files: the library loads)
	refused("the earlier version's library under these files", load_module(dir, "example.org", "local", nil,
		process))
	-- make install: a new file renamed over the old one
	write(so .. ".new", read(plugins .. "/mod_track_muc_joins/mucjoins.so"))
	assert(os.rename(so .. ".new", so))
	local text = refused("a reload after the upgrade", load_module(dir, "example.org", "local", nil, process))
	eq(text:find("interface none, they need 1", 1, true) ~= nil, true, "the interfaces: " .. text)
	eq(text:find("it was replaced since Prosody loaded it", 1, true) ~= nil
		and text:find("restart Prosody to run the new one", 1, true) ~= nil, true, "the cure: " .. text)
	-- an earlier version that kept no record of its file: the message
	-- names both causes
	text = refused("a reload, no record kept", load_module(dir, "example.org", "local", nil, {}))
	eq(text:find("restart Prosody if it loaded an earlier version", 1, true) ~= nil, true, "both causes: " .. text)
end)

-- The tick's period, which docs/semantics.md ("Timeouts") and README.md
-- give: every 5 s, more often when an option's wait is short.
test("the tick comes every 5 s, or often enough for short options", function()
	local dir = folder({})
	for _, case in ipairs({
		{ {}, 5 },
		{ { track_muc_joins_pending_timeout = 8 }, 2 },
		{ { track_muc_joins_ping_start_delay = 3 }, 1.5 },
		{ { track_muc_joins_ping_timeout = 1 }, 0.5 },
		{ { track_muc_joins_pending_timeout = 0.4 }, 0.5 },
	}) do
		local ok, err, rec = load_module(dir, "example.org", "local", case[1])
		eq(ok, true, "loaded: " .. tostring(err))
		local period
		for _, delay in ipairs(rec.timers) do
			if delay > 0 then
				period = delay
			end
		end
		local name = next(case[1]) or "the defaults"
		eq(period, case[2], "the tick's period with " .. name)
	end
end)

cleanup()
h.finish()

-- bench_lua.lua: the cost per presence of Debian's reference
-- mod_track_muc_joins and of ours, in one lua5.4 process with Prosody's
-- libraries (util.stanza, util.jid, util.filters) on the path.
--
--   lua5.4 bench/bench_lua.lua OUR_MODULE_DIR REFERENCE_MODULE_FILE
--          [sessions] [rooms] [runs] [only]
--
-- OUR_MODULE_DIR holds mod_track_muc_joins.lua and mucjoins.so
-- (build/plugins/mod_track_muc_joins); REFERENCE_MODULE_FILE is the
-- community module's mod_track_muc_joins.lua ("-" to skip it).
--
-- Both modules are loaded as Prosody loads them (a module environment with
-- a minimal `module` object: hook, get_option_*, log, fire_event,
-- add_timer, get_directory) and their hook functions are called the way
-- Prosody's event dispatch calls them: pre-presence/full with
-- {origin=session, stanza=...} for what a session sends, presence/full for
-- what it receives. The driver also does what mod_presence does for
-- directed presence (session.directed), which the reference relies on, in
-- every variant. The stream is bench_core's (see bench_core.c): per
-- (session, room) a join, two other occupants, the self-presence; another
-- occupant's update, a nick change, 303, the new self-presence, a forged
-- self-presence from a room never joined, another occupant leaving; the
-- leave and its confirmation -- twelve util.stanza presences.
--
-- Four variants run alternated, several times: "none" (the driver and no
-- module: its cost is subtracted), "reference", "ours", and "binding"
-- (our binding's tracker:outgoing/incoming called directly: what the
-- module's Lua code adds is ours - binding). Figures are
-- medians of CPU time (os.clock) and include the garbage collector.
-- Lines starting with "@" are for scripts/bench.sh.

local our_dir, ref_file = arg[1], arg[2];
local NSESS = tonumber(arg[3]) or 2000;
local NROOMS = tonumber(arg[4]) or 20;
local RUNS = tonumber(arg[5]) or 5;
local ONLY = arg[6]; -- a single variant (none, reference, ours): for callgrind
if not our_dir or not ref_file then
	io.stderr:write("usage: lua5.4 bench_lua.lua OUR_MODULE_DIR REFERENCE_FILE|- [sessions] [rooms] [runs]\n");
	os.exit(2);
end

package.path = "/usr/lib/prosody/?.lua;" .. package.path;
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath;
local st = require "util.stanza";

local HOST = "example.org";
local MUC = "conference.example.org";
local NS_MUC = "http://jabber.org/protocol/muc";
local NS_MUC_USER = "http://jabber.org/protocol/muc#user";
local POOL = math.max(NROOMS + 1, NSESS // 20);

local function noop() end

-- Anything a module may call that the bench does not exercise (metrics,
-- module:send, module:require, contexts): a value every call and method
-- call returns again.
local stub = setmetatable({}, {});
getmetatable(stub).__index = function() return function() return stub; end; end;
getmetatable(stub).__call = function() return stub; end;

-- A module environment as Prosody's modulemanager gives one, minimal.
local function load_module(file, dir)
	local hooks = {};
	local handlers = {}; -- what other modules hook (none here)
	local mod = setmetatable({
		name = "track_muc_joins", host = HOST, _log = noop,
		path = file,
	}, { __index = function() return function() return stub; end; end });
	function mod:hook(name, fn) hooks[name] = fn; end
	function mod:get_option_number(_, default) return default; end
	function mod:get_option_boolean(_, default) return default; end
	function mod:log() end
	function mod:fire_event(name, data)
		local h = handlers[name];
		if h then return h(data); end
	end
	function mod:add_timer() end
	function mod:get_directory() return dir; end
	local env = setmetatable({ module = mod }, { __index = _G });
	local chunk = assert(loadfile(file, "t", env));
	chunk();
	return hooks, mod;
end

-- Stanza templates, reused with their to/from set before each call (both
-- modules see the same tables; building stanzas is not what we measure).
local function muc_user(p, codes, item_nick)
	p:tag("x", { xmlns = NS_MUC_USER })
		:tag("item", { affiliation = "member", role = "participant", nick = item_nick }):up();
	for _, c in ipairs(codes) do p:tag("status", { code = c }):up(); end
	return p:up();
end

local T = {
	join = st.presence({ to = "" }):tag("x", { xmlns = NS_MUC }):up(),
	other = muc_user(st.presence({ from = "", to = "" }), {}),
	self = muc_user(st.presence({ from = "", to = "" }), { "110" }),
	nick = st.presence({ to = "" }),
	s303 = muc_user(st.presence({ from = "", to = "", type = "unavailable" }), { "303", "110" }, "x"),
	other_off = muc_user(st.presence({ from = "", to = "", type = "unavailable" }), {}),
	leave = st.presence({ to = "", type = "unavailable" }),
	self_off = muc_user(st.presence({ from = "", to = "", type = "unavailable" }), { "110" }),
};
-- the item of the 303 carries the new nick
local item303 = T.s303.tags[1].tags[1];

local rooms = {};
for i = 0, POOL - 1 do rooms[i] = "room" .. i .. "@" .. MUC; end
local function room_of(s, j) return rooms[(s * 7919 + j * 104729) % POOL]; end

-- The binding alone (no module code): the same calls the module makes,
-- tracker:outgoing/incoming(full_jid, stanza), straight from the driver;
-- events are not applied to session.rooms_joined.
local function binding_hooks(dir)
	local mj = assert(package.loadlib(dir .. "/mucjoins.so", "luaopen_mucjoins"))();
	local t = mj.new({});
	return {
		["pre-presence/full"] = function(event)
			t:outgoing(event.origin.full_jid, event.stanza);
		end,
		["presence/full"] = function(event)
			t:incoming(event.origin.full_jid, event.stanza);
		end,
	};
end

-- One pass of the stream through a variant. hooks: a module's hooks, or
-- nil for "none". Returns CPU seconds and the presences fed.
local function pass(hooks)
	local full_sessions = prosody.full_sessions;
	for k in pairs(full_sessions) do full_sessions[k] = nil; end
	local sessions = {};
	for s = 0, NSESS - 1 do
		local jid = "user" .. s .. "@" .. HOST .. "/phone";
		local sess = { type = "c2s", host = HOST, username = "user" .. s,
			full_jid = jid, log = noop, presence = st.presence() };
		sessions[s] = sess;
		full_sessions[jid] = sess;
	end
	local nick, nick2 = {}, {};
	for s = 0, NSESS - 1 do nick[s] = "nick" .. s; nick2[s] = "Nick" .. s .. "-2"; end
	local pre_full = hooks and hooks["pre-presence/full"];
	local on_full = hooks and hooks["presence/full"];
	local n = 0;

	-- what mod_presence does with a directed presence, then the hook
	local function out(sess, p, to)
		p.attr.to = to;
		local d = sess.directed;
		if not d then d = {}; sess.directed = d; end
		if p.attr.type then d[to] = nil; else d[to] = true; end
		if pre_full then pre_full({ origin = sess, stanza = p }); end
		n = n + 1;
	end
	local function inc(sess, p, from)
		p.attr.from = from;
		p.attr.to = sess.full_jid;
		if on_full then on_full({ origin = sess, stanza = p }); end
		n = n + 1;
	end

	collectgarbage("collect");
	local t0 = os.clock();
	for j = 0, NROOMS - 1 do
		for s = 0, NSESS - 1 do
			local sess, r = sessions[s], room_of(s, j);
			out(sess, T.join, r .. "/" .. nick[s]);
			inc(sess, T.other, r .. "/firstwitch");
			inc(sess, T.other, r .. "/secondwitch");
			inc(sess, T.self, r .. "/" .. nick[s]);
		end
	end
	local joined_ok = 0;
	for s = 0, NSESS - 1 do
		local rj = sessions[s].rooms_joined;
		for j = 0, NROOMS - 1 do
			if rj and rj[room_of(s, j)] == nick[s] then joined_ok = joined_ok + 1; end
		end
	end
	for j = 0, NROOMS - 1 do
		local fake = "fake" .. j .. "@evil.example/";
		for s = 0, NSESS - 1 do
			local sess, r = sessions[s], room_of(s, j);
			inc(sess, T.other, r .. "/thirdwitch");
			out(sess, T.nick, r .. "/" .. nick2[s]);
			item303.attr.nick = nick2[s];
			inc(sess, T.s303, r .. "/" .. nick[s]);
			inc(sess, T.self, r .. "/" .. nick2[s]);
			inc(sess, T.self, fake .. nick[s]);
			inc(sess, T.other_off, r .. "/firstwitch");
		end
	end
	local changed_ok, forged = 0, 0;
	for s = 0, NSESS - 1 do
		local rj = sessions[s].rooms_joined;
		for j = 0, NROOMS - 1 do
			if rj and rj[room_of(s, j)] == nick2[s] then changed_ok = changed_ok + 1; end
			if rj and rj["fake" .. j .. "@evil.example"] then forged = forged + 1; end
		end
	end
	for j = 0, NROOMS - 1 do
		for s = 0, NSESS - 1 do
			local sess, r = sessions[s], room_of(s, j);
			out(sess, T.leave, r .. "/" .. nick2[s]);
			inc(sess, T.self_off, r .. "/" .. nick2[s]);
		end
	end
	local t1 = os.clock();
	local left = 0;
	for s = 0, NSESS - 1 do
		local rj = sessions[s].rooms_joined;
		if rj then for _ in pairs(rj) do left = left + 1; end end
	end
	return t1 - t0, n, { joined = joined_ok, changed = changed_ok, forged = forged, left = left };
end

_G.prosody = { full_sessions = {}, hosts = {}, events = { fire_event = noop } };

local our_file = our_dir .. "/mod_track_muc_joins.lua";
local variants = { { name = "none" } };
if ref_file ~= "-" then variants[#variants + 1] = { name = "reference", file = ref_file, dir = "." }; end
variants[#variants + 1] = { name = "ours", file = our_file, dir = our_dir };
variants[#variants + 1] = { name = "binding", binding = true, dir = our_dir };
local function hooks_of(v)
	if v.binding then return binding_hooks(v.dir); end
	return v.file and load_module(v.file, v.dir) or nil;
end
if ONLY then
	for _, v in ipairs(variants) do
		if v.name == ONLY then variants = { v }; break; end
	end
	if #variants ~= 1 then io.stderr:write("no variant ", ONLY, "\n"); os.exit(2); end
	local hooks = hooks_of(variants[1]);
	local _, n = pass(hooks);
	print(string.format("@only.presences=%d", n));
	os.exit(0);
end

local times = {};
local checks = {};
local npres;
for _, v in ipairs(variants) do times[v.name] = {}; end
for _ = 1, RUNS do
	for _, v in ipairs(variants) do
		local hooks = hooks_of(v);
		local t, n, chk = pass(hooks);
		times[v.name][#times[v.name] + 1] = t;
		checks[v.name] = chk;
		npres = n;
	end
end

local function median(t)
	table.sort(t);
	local n = #t;
	if n % 2 == 1 then return t[(n + 1) // 2]; end
	return (t[n // 2] + t[n // 2 + 1]) / 2;
end

local joins = NSESS * NROOMS;
print(string.format("lua: %d sessions x %d rooms, %d util.stanza presences per pass, median of %d runs",
	NSESS, NROOMS, npres, RUNS));
local none = median(times.none);
print(string.format("  %-10s %8.3f us/presence (driver: stanzas, session.directed)", "none", none / npres * 1e6));
print(string.format("@lua.presences=%d\n@lua.none_us=%.4f", npres, none / npres * 1e6));
local net = {};
for _, v in ipairs(variants) do
	if v.name ~= "none" then
		local m = median(times[v.name]);
		net[v.name] = m - none;
		local c = checks[v.name];
		if v.binding then
			print(string.format("  %-10s %8.3f us/presence gross, %8.3f net (the binding's calls alone, no module code)",
				v.name, m / npres * 1e6, (m - none) / npres * 1e6));
		else
			print(string.format("  %-10s %8.3f us/presence gross, %8.3f net; after joins %d/%d shown, after nick changes %d/%d with the new nick, forged rooms shown %d, left after leaves %d",
				v.name, m / npres * 1e6, (m - none) / npres * 1e6, c.joined, joins, c.changed, joins, c.forged, c.left));
		end
		print(string.format("@lua.%s_us=%.4f\n@lua.%s_net_us=%.4f\n@lua.%s_joined=%d\n@lua.%s_changed=%d\n@lua.%s_forged=%d\n@lua.%s_left=%d",
			v.name, m / npres * 1e6, v.name, (m - none) / npres * 1e6, v.name, c.joined, v.name, c.changed,
			v.name, c.forged, v.name, c.left));
	end
end
if net.reference then
	print(string.format("  ours / reference (net cost per presence): %.2f (target <= 0.5)", net.ours / net.reference));
	print(string.format("@lua.ratio=%.3f", net.ours / net.reference));
end

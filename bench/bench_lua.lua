-- bench_lua.lua: the cost per presence and per message of Debian's
-- reference mod_track_muc_joins and of ours inside Prosody's Lua VM, each
-- in its own lua5.4 process with Prosody's libraries (util.stanza,
-- util.jid, util.filters) on the path.
--
-- Driver (what `make bench` runs; also runnable alone after `make`):
--   lua5.4 bench/bench_lua.lua OUR_MODULE_DIR REFERENCE_MODULE_FILE
--          [sessions=1000] [rooms=20] [rounds=20]
-- Worker (one configuration, one process; what the driver spawns, and
-- what callgrind runs):
--   lua5.4 bench/bench_lua.lua --one CONFIG OUR_MODULE_DIR REFERENCE_FILE
--          sessions rooms [all|groupchat|presence]
--
-- OUR_MODULE_DIR holds mod_track_muc_joins.lua and mucjoins.so
-- (build/plugins/mod_track_muc_joins); REFERENCE_MODULE_FILE is the
-- community module's mod_track_muc_joins.lua ("-" to skip it).
-- Configurations: "empty" (a module that registers nothing: its cost is
-- subtracted from every other), "reference", "ours", and "floor" (a Lua
-- module that only reads what a tracker must read: from, to, type and the
-- muc#user status codes, and decides nothing; the read floor).
--
-- The driver runs `rounds` rounds; in each round every configuration
-- runs once in a fresh process, the order rotating from round to round.
-- The default, 20, is a multiple of the four configurations, so each of
-- them runs equally often first, second, third and last (with 7, ours
-- ran last once and in each other place twice); and on this shared
-- machine, where single rounds ranged x0.11 .. x0.30 for the groupchat
-- ratio in one run, the median of 20 paired ratios moves less from run
-- to run than that of 7 (a run of the driver takes ~35 s).
-- A round gives paired ratios (ours - empty) / (reference - empty); the
-- figures printed are medians of those ratios over the rounds, and
-- medians of the per-round net times.
--
-- Each module is loaded as Prosody loads modules (a module environment
-- with a minimal `module` object, module-loaded fired on it once loaded,
-- its delay-0 timers run then and its periodic ones when the joins have
-- settled: see settle()), sessions are tables with util.filters
-- initialised on them (as Prosody's sessionmanager makes every c2s
-- session), and the module's hook functions are called the way
-- Prosody's event dispatch calls them: pre-presence/full with
-- {origin=session, stanza=...} for what a session sends, presence/full
-- and message/full for what it receives. The driver also does what
-- mod_presence does for directed presence (session.directed), which the
-- reference relies on, in every configuration. The presence stream is
-- bench_core's (see bench_core.c): per (session, room) a join, two other
-- occupants, the self-presence; another occupant's update, a nick change,
-- 303, the new self-presence, a forged self-presence from a room never
-- joined, another occupant leaving; the leave and its confirmation --
-- twelve util.stanza presences. Between the joins and the changes, with
-- every session settled in its rooms, two message workloads run: a
-- groupchat message from another occupant with a 100-byte body that
-- mentions nobody, to every session in every room, ten times over
-- (MSG_PASSES), and a one-to-one chat message from a contact to every
-- session, as many. Memory per settled
-- join is measured after the joins: the Lua heap's growth
-- (collectgarbage "count", after a full collection) plus the core's
-- bytes (tracker:stats().bytes), net of the empty module's heap growth.
--
-- The worker prints "@KEY=VALUE" lines for the driver; the driver prints
-- a report and "@lua.*" lines for scripts/bench.sh.

local function usage()
	io.stderr:write("usage: lua5.4 bench_lua.lua OUR_MODULE_DIR REFERENCE_FILE|- [sessions] [rooms] [rounds]\n",
		"       lua5.4 bench_lua.lua --one CONFIG OUR_MODULE_DIR REFERENCE_FILE|- sessions rooms [phases]\n");
	os.exit(2);
end

if arg[1] ~= "--one" then
	-- ---- the driver ---------------------------------------------------
	local our_dir, ref_file = arg[1], arg[2];
	if not our_dir or not ref_file then usage(); end
	local NSESS = tonumber(arg[3]) or 1000;
	local NROOMS = tonumber(arg[4]) or 20;
	local ROUNDS = tonumber(arg[5]) or 20;
	local lua = "lua5.4";
	local i = -1;
	while arg[i] do lua = arg[i]; i = i - 1; end
	local configs = { "empty", "ours", "floor" };
	if ref_file ~= "-" then table.insert(configs, 2, "reference"); end
	local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'"; end
	local res = {}; -- res[config][round] = { key = number }
	for _, c in ipairs(configs) do res[c] = {}; end
	for r = 1, ROUNDS do
		for k = 0, #configs - 1 do
			local c = configs[(k + r - 1) % #configs + 1];
			local cmd = table.concat({ lua, q(arg[0]), "--one", c, q(our_dir), q(ref_file), NSESS, NROOMS }, " ");
			local p = assert(io.popen(cmd, "r"));
			local kv = {};
			for line in p:lines() do
				local key, v = line:match("^@([%w_.]+)=(.*)$");
				if key then kv[key] = tonumber(v) or v; end
			end
			if not p:close() or not kv.presences then
				io.stderr:write("bench_lua: ", c, " failed\n");
				os.exit(1);
			end
			res[c][r] = kv;
		end
	end
	local function median(t)
		local s = {};
		for j = 1, #t do s[j] = t[j]; end
		table.sort(s);
		local n = #s;
		if n == 0 then return 0 / 0; end
		if n % 2 == 1 then return s[(n + 1) // 2]; end
		return (s[n // 2] + s[n // 2 + 1]) / 2;
	end
	local function col(c, f) -- per-round values f(kv, empty_kv)
		local t = {};
		for r = 1, ROUNDS do t[r] = f(res[c][r], res.empty[r]); end
		return t;
	end
	local function net(key) return function(kv, e) return kv[key] - e[key]; end; end
	local function mm(t)
		local lo, hi = math.huge, -math.huge;
		for _, v in ipairs(t) do lo = math.min(lo, v); hi = math.max(hi, v); end
		return lo, hi;
	end
	local e1 = res.empty[1];
	print(string.format("lua: %d sessions x %d rooms: %d util.stanza presences, %d groupchat and %d chat messages per process; "
		.. "%d rounds, one process per configuration, order rotating; medians", NSESS, NROOMS, e1.presences, e1.groupchats,
		e1.chats, ROUNDS));
	print(string.format("  %-9s %7.3f us/presence gross (the driver: stanzas, session.directed; subtracted below)",
		"empty", median(col("empty", function(kv) return kv.presence_us; end))));
	local out = {};
	for _, c in ipairs(configs) do
		if c ~= "empty" then
			local p = median(col(c, net("presence_us")));
			local g = median(col(c, net("groupchat_us")));
			local ch = median(col(c, net("chat_us")));
			local mem = median(col(c, function(kv, e) return kv.heap_per_join - e.heap_per_join + (kv.core_per_join or 0); end));
			local core = median(col(c, function(kv) return kv.core_per_join or 0; end));
			local last = res[c][ROUNDS];
			print(string.format("  %-9s %7.3f us/presence net; groupchat %7.3f us, chat %7.3f us net per message; "
				.. "%6.1f B per settled join (core %5.1f B); joins shown %d/%d, new nicks %d/%d, forged shown %d, left after leaves %d",
				c, p, g, ch, mem, core, last.joined, NSESS * NROOMS, last.changed, NSESS * NROOMS, last.forged, last.left));
			out[c] = { p = p, g = g, ch = ch, mem = mem };
			print(string.format("@lua.%s_net_us=%.4f\n@lua.%s_groupchat_us=%.4f\n@lua.%s_chat_us=%.4f\n@lua.%s_bytes_per_join=%.1f"
				.. "\n@lua.%s_core_per_join=%.1f\n@lua.%s_joined=%d\n@lua.%s_changed=%d\n@lua.%s_forged=%d\n@lua.%s_left=%d",
				c, p, c, g, c, ch, c, mem, c, core, c, last.joined, c, last.changed, c, last.forged, c, last.left));
		end
	end
	print(string.format("@lua.presences=%d\n@lua.rounds=%d\n@lua.empty_us=%.4f", e1.presences, ROUNDS,
		median(col("empty", function(kv) return kv.presence_us; end))));
	if out.reference then
		local ratio = {};
		local gr, fr, mr = {}, {}, {};
		for r = 1, ROUNDS do
			local o, rf, e = res.ours[r], res.reference[r], res.empty[r];
			local refp = rf.presence_us - e.presence_us;
			ratio[r] = (o.presence_us - e.presence_us) / refp;
			gr[r] = (o.groupchat_us - e.groupchat_us) / refp;
			fr[r] = (res.floor[r].presence_us - e.presence_us) / refp;
			mr[r] = (o.heap_per_join - e.heap_per_join + o.core_per_join) / (rf.heap_per_join - e.heap_per_join);
		end
		local lo, hi = mm(ratio);
		print(string.format("  ours / reference per presence (paired, median of %d rounds): x%.3f (rounds x%.2f .. x%.2f; target <= 0.25)",
			ROUNDS, median(ratio), lo, hi));
		lo, hi = mm(gr);
		print(string.format("  ours per groupchat message / reference per presence: x%.3f (rounds x%.2f .. x%.2f; target <= 0.25)",
			median(gr), lo, hi));
		print(string.format("  read floor / reference per presence: x%.3f", median(fr)));
		print(string.format("  memory per settled join, ours / reference: x%.2f (target <= 2)", median(mr)));
		print(string.format("@lua.ratio=%.3f\n@lua.ratio_min=%.3f\n@lua.ratio_max=%.3f\n@lua.groupchat_ratio=%.3f\n@lua.floor_ratio=%.3f\n@lua.mem_ratio=%.2f",
			median(ratio), select(1, mm(ratio)), select(2, mm(ratio)), median(gr), median(fr), median(mr)));
	end
	os.exit(0);
end

-- ---- one configuration in this process ----------------------------------
local CONFIG, our_dir, ref_file = arg[2], arg[3], arg[4];
local NSESS = tonumber(arg[5]);
local NROOMS = tonumber(arg[6]);
local PHASES = arg[7] or "all"; -- "all", "groupchat" (no chat messages) or "presence" (no messages)
-- Each message workload goes MSG_PASSES times over every (session, room):
-- the per-message instruction counts are differences between runs, and a
-- run's total moves by a few million instructions from run to run
-- (randomised hash seeds: Lua's strings, the core's SipHash key), which
-- one pass of 4,000 messages (callgrind's 200 sessions) turned into
-- +-1,000 instructions per message. scripts/bench.sh divides by the same.
local MSG_PASSES = 10;
if not CONFIG or not our_dir or not ref_file or not NSESS or not NROOMS then usage(); end

package.path = "/usr/lib/prosody/?.lua;" .. package.path;
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath;
local st = require "util.stanza";
local filters = require "util.filters";
-- The modules' clock: util.time.monotonic, moved on by clock_skip seconds
-- when the bench lets time pass (settle(), below).
local real_time = require "util.time";
local clock_skip = 0;
package.loaded["util.time"] = setmetatable({
	monotonic = function() return real_time.monotonic() + clock_skip; end,
}, { __index = real_time });

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

_G.prosody = { full_sessions = {}, hosts = {}, events = { fire_event = noop, get_handlers = noop } };

-- A module environment as Prosody's modulemanager gives one, minimal.
-- Handlers of one event are called as util.events calls them: by
-- priority, highest first (among equals in the order added here: util.events
-- fixes no order there), until one
-- returns a value. A lone handler is called directly: in Prosody it is
-- one more turn of the loop over an event's handlers, which runs anyway
-- (mod_presence, mod_message); several go through a loop of the bench's
-- own, a call more than Prosody makes (charged to the module).
local function dispatcher(list)
	table.sort(list, function(a, b)
		if a.priority ~= b.priority then return a.priority > b.priority; end
		return a.n < b.n;
	end);
	local fns = {};
	for i, h in ipairs(list) do fns[i] = h.fn; end
	if #fns == 1 then return fns[1]; end
	return function(data)
		for i = 1, #fns do
			local ret = fns[i](data);
			if ret ~= nil then return ret; end
		end
	end;
end

local function load_module(file, dir)
	local handlers, added = {}, 0;
	local mod = setmetatable({
		name = "track_muc_joins", host = HOST, _log = noop,
		path = file,
	}, { __index = function() return function() return stub; end; end });
	function mod:hook(name, fn, priority)
		added = added + 1;
		handlers[name] = handlers[name] or {};
		table.insert(handlers[name], { fn = fn, priority = priority or 0, n = added });
	end
	function mod:get_option_number(_, default) return default; end
	function mod:get_option_boolean(_, default) return default; end
	function mod:log() end
	function mod:fire_event() end -- nobody else hooks muc-joins/* here
	-- a timer of delay 0 runs once the module has loaded (as
	-- Prosody's would at its next loop); the others only in settle()
	mod.timers = {};
	function mod:add_timer(delay, fn)
		if delay > 0 then
			table.insert(mod.timers, fn);
		else
			table.insert(mod.startup, fn);
		end
	end
	mod.startup = {};
	function mod:get_directory() return dir; end
	-- a VirtualHost: on another host type our module sets nothing up
	function mod:get_host_type() return "local"; end
	local env = setmetatable({ module = mod }, { __index = _G });
	local chunk = assert(loadfile(file, "t", env));
	chunk();
	local hooks = {};
	for name, list in pairs(handlers) do hooks[name] = dispatcher(list); end
	-- what Prosody's modulemanager does once a module has loaded (our
	-- module then finds nobody listening to its muc-joins/* events, as in
	-- a server where no other module hooks them)
	if hooks["module-loaded"] then
		hooks["module-loaded"]({ module = "track_muc_joins", host = HOST });
	end
	for _, fn in ipairs(mod.startup) do fn(); end
	for name, list in pairs(handlers) do hooks[name] = dispatcher(list); end
	return hooks, mod;
end

-- The read floor: what any tracker must read of a presence it receives
-- (from, to, type, the muc#user status codes), and nothing decided.
local function floor_hooks()
	local full_sessions = prosody.full_sessions;
	local sink = 0;
	local function on_full(event)
		local stanza = event.stanza;
		local attr = stanza.attr;
		local session = full_sessions[attr.to];
		if not session then return; end
		local from, ty = attr.from, attr.type;
		for _, x in ipairs(stanza.tags) do
			if x.name == "x" and x.attr.xmlns == NS_MUC_USER then
				for _, s in ipairs(x.tags) do
					if s.name == "status" and s.attr.code == "110" then sink = sink + 1; end
				end
			end
		end
		if from and ty then sink = sink + 1; end
	end
	return { ["presence/full"] = on_full };
end

local hooks, mod = {}, nil;
if CONFIG == "reference" then
	hooks, mod = load_module(ref_file, ".");
elseif CONFIG == "ours" then
	hooks, mod = load_module(our_dir .. "/mod_track_muc_joins.lua", our_dir);
elseif CONFIG == "floor" then
	hooks = floor_hooks();
elseif CONFIG ~= "empty" then
	usage();
end
-- our module hands its tracker over in module.save() (as on a reload)
local tracker = CONFIG == "ours" and mod.save and mod.save().tracker or nil;
local function core_bytes() return tracker and tracker:stats().bytes or 0; end

-- Stanza templates, reused with their to/from set before each call (every
-- configuration sees the same tables; building stanzas is not measured).
local function muc_user(p, codes, item_nick)
	p:tag("x", { xmlns = NS_MUC_USER })
		:tag("item", { affiliation = "member", role = "participant", nick = item_nick }):up();
	for _, c in ipairs(codes) do p:tag("status", { code = c }):up(); end
	return p:up();
end

local BODY = ("The quick brown fox jumps over the lazy dog while the cat watches from far away. "
	.. "Lorem ipsum dolor sit amet, consectetur."):sub(1, 100);
assert(#BODY == 100);
local T = {
	join = st.presence({ to = "" }):tag("x", { xmlns = NS_MUC }):up(),
	other = muc_user(st.presence({ from = "", to = "" }), {}),
	self = muc_user(st.presence({ from = "", to = "" }), { "110" }),
	nick = st.presence({ to = "" }),
	s303 = muc_user(st.presence({ from = "", to = "", type = "unavailable" }), { "303", "110" }, "x"),
	other_off = muc_user(st.presence({ from = "", to = "", type = "unavailable" }), {}),
	leave = st.presence({ to = "", type = "unavailable" }),
	self_off = muc_user(st.presence({ from = "", to = "", type = "unavailable" }), { "110" }),
	groupchat = st.message({ from = "", to = "", type = "groupchat", id = "m1" }):text_tag("body", BODY),
	chat = st.message({ from = "friend@example.net/laptop", to = "", type = "chat", id = "c1" }):text_tag("body", BODY),
};
-- the item of the 303 carries the new nick
local item303 = T.s303.tags[1].tags[1];

local rooms = {};
for i = 0, POOL - 1 do rooms[i] = "room" .. i .. "@" .. MUC; end
local function room_of(s, j) return rooms[(s * 7919 + j * 104729) % POOL]; end

local full_sessions = prosody.full_sessions;
local sessions = {};
for s = 0, NSESS - 1 do
	local jid = "user" .. s .. "@" .. HOST .. "/phone";
	local sess = { type = "c2s", host = HOST, username = "user" .. s,
		full_jid = jid, log = noop, presence = st.presence() };
	filters.initialize(sess); -- as Prosody's sessionmanager does for every c2s session
	sessions[s] = sess;
	full_sessions[jid] = sess;
end
local nick, nick2 = {}, {};
for s = 0, NSESS - 1 do nick[s] = "nick" .. s; nick2[s] = "Nick" .. s .. "-2"; end
local pre_full = hooks["pre-presence/full"];
local on_full = hooks["presence/full"];
local on_msg = hooks["message/full"];
local npres, ngc, nchat = 0, 0, 0;

-- what mod_presence does with a directed presence, then the hook
local function out(sess, p, to)
	p.attr.to = to;
	local d = sess.directed;
	if not d then d = {}; sess.directed = d; end
	if p.attr.type then d[to] = nil; else d[to] = true; end
	local event = { origin = sess, stanza = p }; -- Prosody makes it, hooked or not
	if pre_full then pre_full(event); end
	npres = npres + 1;
end
local function inc(sess, p, from)
	p.attr.from = from;
	p.attr.to = sess.full_jid;
	local event = { origin = sess, stanza = p };
	if on_full then on_full(event); end
	npres = npres + 1;
end

local clock = os.clock;
local t_pres = 0;

collectgarbage("collect");
local heap0, core0 = collectgarbage("count"), core_bytes();
local t0 = clock();
for j = 0, NROOMS - 1 do
	for s = 0, NSESS - 1 do
		local sess, r = sessions[s], room_of(s, j);
		out(sess, T.join, r .. "/" .. nick[s]);
		inc(sess, T.other, r .. "/firstwitch");
		inc(sess, T.other, r .. "/secondwitch");
		inc(sess, T.self, r .. "/" .. nick[s]);
	end
end
t_pres = t_pres + clock() - t0;
local joined_ok = 0;
for s = 0, NSESS - 1 do
	local rj = sessions[s].rooms_joined;
	for j = 0, NROOMS - 1 do
		if rj and rj[room_of(s, j)] == nick[s] then joined_ok = joined_ok + 1; end
	end
end
-- What a server would hold once its joins are settled: the modules'
-- periodic timers run now and once more an hour later (ours takes its
-- join-error filter off the sessions that sent nothing to a room for
-- pending_timeout after the end of the tick period they last sent one in,
-- as its tick does on a server within seconds of that).
local function settle()
	for _, fn in ipairs(mod and mod.timers or {}) do fn(); end
	clock_skip = clock_skip + 3600;
	for _, fn in ipairs(mod and mod.timers or {}) do fn(); end
end
settle();
collectgarbage("collect");
local heap1, core1 = collectgarbage("count"), core_bytes();
local joins = NSESS * NROOMS;

-- messages to settled sessions: timed apart from the presences
local t_gc, t_chat = 0, 0;
-- (run whatever the phases, with empty loops for those not wanted: the
-- collections around them then cost every run the same, and differences
-- between runs of different phases are the messages alone)
do
	local g, c = T.groupchat, T.chat;
	local gfrom = {};
	for i = 0, POOL - 1 do gfrom[i] = rooms[i] .. "/firstwitch"; end
	local function room_idx(s, j) return (s * 7919 + j * 104729) % POOL; end
	-- The collector is stopped during the message phases: every
	-- configuration allocates the same event tables there and none of the
	-- modules allocates for these messages, so a collection cycle that
	-- falls into one configuration's phase and not another's would only
	-- move the per-message figures (by hundreds of instructions).
	collectgarbage("collect");
	collectgarbage("stop");
	t0 = clock();
	for k = 0, PHASES ~= "presence" and MSG_PASSES * NROOMS - 1 or -1 do
		local j = k % NROOMS;
		for s = 0, NSESS - 1 do
			local sess = sessions[s];
			g.attr.from = gfrom[room_idx(s, j)];
			g.attr.to = sess.full_jid;
			local event = { origin = sess, stanza = g };
			if on_msg then on_msg(event); end
			ngc = ngc + 1;
		end
	end
	t_gc = clock() - t0;
	collectgarbage("restart");
	collectgarbage("collect");
	collectgarbage("stop");
	t0 = clock();
	for _ = 0, PHASES == "all" and MSG_PASSES * NROOMS - 1 or -1 do
		for s = 0, NSESS - 1 do
			local sess = sessions[s];
			c.attr.to = sess.full_jid;
			local event = { origin = sess, stanza = c };
			if on_msg then on_msg(event); end
			nchat = nchat + 1;
		end
	end
	t_chat = clock() - t0;
	collectgarbage("restart");
end

collectgarbage("collect");
t0 = clock();
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
t_pres = t_pres + clock() - t0;
local changed_ok, forged = 0, 0;
for s = 0, NSESS - 1 do
	local rj = sessions[s].rooms_joined;
	for j = 0, NROOMS - 1 do
		if rj and rj[room_of(s, j)] == nick2[s] then changed_ok = changed_ok + 1; end
		if rj and rj["fake" .. j .. "@evil.example"] then forged = forged + 1; end
	end
end
collectgarbage("collect");
t0 = clock();
for j = 0, NROOMS - 1 do
	for s = 0, NSESS - 1 do
		local sess, r = sessions[s], room_of(s, j);
		out(sess, T.leave, r .. "/" .. nick2[s]);
		inc(sess, T.self_off, r .. "/" .. nick2[s]);
	end
end
t_pres = t_pres + clock() - t0;
local left = 0;
for s = 0, NSESS - 1 do
	local rj = sessions[s].rooms_joined;
	if rj then for _ in pairs(rj) do left = left + 1; end end
end

print(string.format("@presences=%d\n@groupchats=%d\n@chats=%d", npres, ngc, nchat));
print(string.format("@presence_us=%.5f", t_pres / npres * 1e6));
print(string.format("@groupchat_us=%.5f", ngc > 0 and t_gc / ngc * 1e6 or 0));
print(string.format("@chat_us=%.5f", nchat > 0 and t_chat / nchat * 1e6 or 0));
print(string.format("@heap_per_join=%.3f\n@core_per_join=%.3f", (heap1 - heap0) * 1024 / joins, (core1 - core0) / joins));
print(string.format("@joined=%d\n@changed=%d\n@forged=%d\n@left=%d", joined_ok, changed_ok, forged, left));

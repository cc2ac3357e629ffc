-- mod_track_muc_joins (mucjoins): which MUC rooms each client session is
-- in, and under which nick: session.rooms_joined[room_bare_jid] = nick.
-- Wiring only: every decision is made by the C core (mucjoins.so).
local filters = require "util.filters";
local st = require "util.stanza";
local full_sessions = prosody.full_sessions;

local mj = assert(package.loadlib(module:get_directory() .. "/mucjoins.so", "luaopen_mucjoins"))();
local function num(name, default) return module:get_option_number("track_muc_joins_" .. name, default); end
local function bool(name, default) return module:get_option_boolean("track_muc_joins_" .. name, default); end
local config = {
	max_rooms = num("max_rooms", 1000), max_pending = num("max_pending", 64),
	pending_timeout = num("pending_timeout", 120), legacy_joins = bool("legacy_joins", false),
	self_ping = bool("self_ping", true), ping_start_delay = num("ping_start_delay", 10),
	ping_timeout = num("ping_timeout", 60), ping_backoff = num("ping_backoff", 30),
	ping_retries = num("ping_retries", 3), ping_budget = num("ping_budget", 20),
};
local log_changes = bool("log_changes", false);
local tracker = mj.new(config);
local seen = setmetatable({}, { __mode = "k" }); -- stanzas already fed at presence/full
local pings = require "util.cache".new(4096); -- iq id -> { jid, ping_id } of our self-pings
local salt = require "util.id".short();
local reloading = false;

local metric = {
	joins = module:metric("counter", "joins", "", "Rooms joined by local sessions", {}):with_labels(),
	leaves = module:metric("counter", "leaves", "", "Rooms left, by reason", { "reason" }),
	failures = module:metric("counter", "join_failures", "", "Joins that failed, by reason", { "reason" }),
	mentions = module:metric("counter", "mentions", "", "Groupchat messages mentioning a session", {}):with_labels(),
	pings = module:metric("counter", "self_pings", "", "Self-pings by outcome", { "outcome" }),
	rooms = module:metric("gauge", "rooms_tracked", "", "Rooms shown in rooms_joined", {}):with_labels(),
	refused = module:metric("counter", "refused", "", "Presences refused (forged, bad JID, over a bound)", { "kind" }),
};

local function memo(f) return setmetatable({}, { __index = function(t, k) t[k] = f(k); return t[k]; end }); end
local event_names = memo(function(ty) return "muc-joins/" .. ty; end);
local leaves = memo(function(r) return metric.leaves:with_labels(r); end);
local failures = memo(function(r) return metric.failures:with_labels(r); end);
-- Whether another module listens to our muc-joins/* events (else the binding builds no event tables).
local host_events = (prosody.hosts[module.host] or prosody).events;
local listening = true;
local function refresh_listening()
	listening = log_changes;
	for _, ty in ipairs({ "joined", "left", "nick-changed", "nick-rewritten", "join-failed", "ping-needed", "mention", "log" }) do
		listening = listening or host_events.get_handlers("muc-joins/" .. ty) ~= nil;
	end
end
module:hook("module-loaded", refresh_listening); module:hook("module-unloaded", refresh_listening);

-- Apply what the core decided to session.rooms_joined (unless the binding did: ev.applied) and tell other modules.
local function apply(events, session, stanza)
	for i = 1, #events do
		local ev = events[i]; local ty, jid = ev.type, ev.jid;
		if ty == "log" then module:log(ev.level, "%s", ev.msg); end
		local s = jid and (session or full_sessions[jid]);
		if s then
			local rooms = s.rooms_joined or {};
			s.rooms_joined, s.joined_rooms = rooms, rooms; -- joined_rooms: the seed README's spelling
			if ev.applied then -- nothing more for rooms_joined
			elseif ty == "joined" or ty == "nick-changed" then rooms[ev.room] = ev.nick;
			elseif ty == "left" then rooms[ev.room] = nil; end
			if ty == "left" then
				if ev.reason == "ghost" then -- tell the client, so that it rejoins
					s.send(st.presence({ type = "unavailable", from = ev.room .. "/" .. ev.nick, to = jid })
						:tag("x", { xmlns = "http://jabber.org/protocol/muc#user" })
						:tag("item", { affiliation = "none", role = "none" }):up()
						:tag("status", { code = "110" }):up():tag("status", { code = "333" }));
				end
			elseif ty == "ping-needed" then
				local id = "mjping-" .. ev.ping_id .. "-" .. salt;
				pings:set(id, { jid = jid, ping_id = ev.ping_id });
				module:send(st.iq({ type = "get", id = id, from = jid, to = ev.room .. "/" .. ev.nick })
					:tag("ping", { xmlns = "urn:xmpp:ping" }));
			end
			if log_changes and ty ~= "mention" then
				module:log("info", "%s %s %s as %s%s", jid, ty, ev.room, tostring(ev.nick),
					ev.reason and (" (" .. ev.reason .. (ev.condition and "/" .. ev.condition or "") .. ")") or "");
			end
			ev.session, ev.stanza = s, stanza; module:fire_event(event_names[ty], ev); -- stanza: the one that caused it, if any
		end
	end
end

-- Never raise inside a Prosody hook: log, and let the stanza go on. a: the result, or nil and events is the error.
local function applied(method, session, stanza, a, events)
	if a == nil then module:log("error", "mucjoins %s failed: %s", method, events); return; end
	if type(events) == "table" then
		local ok, err = pcall(apply, events, session, stanza);
		if not ok then module:log("error", "applying mucjoins events failed: %s", err); end
	end
	return a;
end
local function call(session, method, ...)
	local ok, a, b = pcall(tracker[method], tracker, ...);
	if not ok then return applied(method, session, nil, nil, a); end
	if method == "close" or method == "tick" then a, b = a or true, a; end -- these return events only
	return applied(method, session, select(2, ...), a, b);
end

-- The metrics of events, from the binding's counts (t:counts()) when statistics are collected.
local counted = { joined = 0, mention = 0, left = {}, ["join-failed"] = {} };
local function sync_metrics()
	local ok, c = pcall(tracker.counts, tracker);
	if not ok then return; end
	metric.joins:add(c.joined - counted.joined); metric.mentions:add(c.mention - counted.mention);
	for reason, n in pairs(c.left) do leaves[reason]:add(n - (counted.left[reason] or 0)); end
	for reason, n in pairs(c["join-failed"]) do failures[reason]:add(n - (counted["join-failed"][reason] or 0)); end
	counted = c;
end
module:hook_global("stats-update", sync_metrics);

-- Hot path: given Prosody's session, outgoing/incoming never raise, write rooms_joined themselves and return
-- the outcome alone unless a record needs us or someone listens (listening).
local module_host, outgoing, incoming = module.host, tracker.outgoing, tracker.incoming;
local function on_outgoing(event)
	local origin, stanza = event.origin, event.stanza;
	if not origin.full_jid or origin.type ~= "c2s" then return; end
	local outcome, events = outgoing(tracker, origin, stanza, listening);
	if events or not outcome then applied("outgoing", origin, stanza, outcome, events); end
end
-- Message types the core never reads (it says so once, mj.reads) skip the call: a chat message costs a table lookup.
local function skipped(outgoing)
	local t = {};
	for _, ty in ipairs({ "chat", "normal", "headline", "groupchat", "error" }) do t[ty] = not mj.reads("message", ty, outgoing); end
	return t;
end
local skip_in, skip_out = skipped(false), skipped(true);
local function on_message_out(event) if not skip_out[event.stanza.attr.type or "normal"] then return on_outgoing(event); end end
for _, to in ipairs({ "full", "bare", "host" }) do
	module:hook("pre-presence/" .. to, on_outgoing, 10); module:hook("pre-message/" .. to, on_message_out, 10);
end

local function on_incoming(event)
	local stanza = event.stanza; local attr = stanza.attr;
	local session = full_sessions[attr.to];
	if not session or session.host ~= module_host then return; end
	if attr.type == "error" then seen[stanza] = true; end -- for out_filter
	local outcome, events = incoming(tracker, session, stanza, listening);
	if events or not outcome then applied("incoming", session, stanza, outcome, events); end
end
local function on_message_in(event) if not skip_in[event.stanza.attr.type or "normal"] then return on_incoming(event); end end
module:hook("presence/full", on_incoming, 10); module:hook("message/full", on_message_in, 10);

local function get_tracker() return tracker; end
module:require("selfping")({ tracker = get_tracker, pings = function() return pings; end, call = call,
	metric = metric.pings, salt = salt, ping_timeout = config.ping_timeout }); -- selfping.lib.lua
module:require("wake")(get_tracker); -- CSI and push: wake.lib.lua

-- A local MUC sends join errors with origin.send(): they only show here.
local function out_filter(stanza, session)
	if stanza.name == "presence" and stanza.attr.type == "error" and not seen[stanza] and session.full_jid then
		call(session, "incoming", session.full_jid, stanza);
	end
	return stanza;
end
local function add_filter(session)
	if session.type == "c2s" or session.type == "c2s_unauthed" then filters.add_filter(session, "stanzas/out", out_filter, 500); end
end
filters.add_filter_hook(add_filter);
for _, session in pairs(full_sessions) do if session.host == module.host then add_filter(session); end end

module:hook("resource-unbind", function(event)
	local s = event.session; if s.full_jid then call(s, "close", s.full_jid); end
end, 10);

local refused_seen = {};
local tick_every = math.max(0.5, math.min(5, config.pending_timeout / 4, config.ping_start_delay / 2));
module:add_timer(tick_every, function()
	call(nil, "tick");
	refresh_listening(); sync_metrics();
	local ok, stats = pcall(tracker.stats, tracker);
	if ok then
		metric.rooms:set(stats.rooms_shown);
		for _, kind in ipairs({ "forged", "bad_jids", "limits" }) do
			metric.refused:with_labels(kind):add(stats[kind] - (refused_seen[kind] or 0)); refused_seen[kind] = stats[kind];
		end
	end
	return tick_every;
end);

local shell_unload = module:require("shell")(get_tracker); -- admin shell: shell.lib.lua

function module.save() reloading = true; return { tracker = tracker, pings = pings, refused_seen = refused_seen, counted = counted }; end
function module.restore(data) -- the core's state lives in the tracker: keep it, and our outstanding pings
	if data and data.tracker then tracker = data.tracker; pcall(tracker.configure, tracker, config); end
	outgoing, incoming = tracker.outgoing, tracker.incoming;
	if data and data.pings then pings = data.pings; end
	if data and data.refused_seen then refused_seen = data.refused_seen; end -- the counters survive too
	if data and data.counted then counted = data.counted; end
end
function module.unload()
	shell_unload();
	filters.remove_filter_hook(add_filter);
	for _, session in pairs(full_sessions) do filters.remove_filter(session, "stanzas/out", out_filter); end
	if reloading then return; end
	module:log("info", "Unloaded: session.rooms_joined tables are left as they are and no longer updated");
end
refresh_listening();
module:log("info", "mucjoins %s tracking MUC joins (max_rooms=%d, max_pending=%d, pending_timeout=%gs)",
	mj.version, config.max_rooms, config.max_pending, config.pending_timeout);

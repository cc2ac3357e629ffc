-- mod_track_muc_joins (mucjoins): which MUC rooms each client session is
-- in, and under which nick: session.rooms_joined[room_bare_jid] = nick.
-- Wiring only: every decision is made by the C core (mucjoins.so).
local filters = require "util.filters";
local full_sessions = prosody.full_sessions;

local mj = assert(package.loadlib(module:get_directory() .. "/mucjoins.so", "luaopen_mucjoins"))();
local function opt(name, default) return module:get_option_number("track_muc_joins_" .. name, default); end
local config = {
	max_rooms = opt("max_rooms", 1000), max_pending = opt("max_pending", 64),
	pending_timeout = opt("pending_timeout", 120),
	legacy_joins = module:get_option_boolean("track_muc_joins_legacy_joins", false),
};
local log_changes = module:get_option_boolean("track_muc_joins_log_changes", false);
local tracker = mj.new(config);
local seen = setmetatable({}, { __mode = "k" }); -- stanzas already fed at presence/full
local reloading = false;

-- Apply what the core decided to session.rooms_joined and tell other modules.
local function apply(events, session)
	for _, ev in ipairs(events) do
		if ev.type == "log" then
			module:log(ev.level, "%s", ev.msg);
		else
			local s = session or full_sessions[ev.jid];
			if s then
				local rooms = s.rooms_joined;
				if not rooms then
					rooms = {}; s.rooms_joined = rooms;
				end
				s.joined_rooms = rooms; -- the seed README's spelling, same table
				if ev.type == "joined" or ev.type == "nick-changed" then
					rooms[ev.room] = ev.nick;
				elseif ev.type == "left" then
					rooms[ev.room] = nil;
				end
				if log_changes then
					module:log("info", "%s %s %s as %s%s", ev.jid, ev.type, ev.room, tostring(ev.nick),
						ev.reason and (" (" .. ev.reason .. (ev.condition and "/" .. ev.condition or "") .. ")") or "");
				end
				ev.session = s;
				module:fire_event("muc-joins/" .. ev.type, ev);
			end
		end
	end
end

-- Never raise inside a Prosody hook: log, and let the stanza go on.
local function call(session, method, ...)
	local ok, a, b = pcall(tracker[method], tracker, ...);
	local single = method == "close" or method == "tick"; -- these return events only
	if not ok or (a == nil and not single) then -- a Lua error, or nil + the core's error
		module:log("error", "mucjoins %s failed: %s", method, ok and b or a);
		return;
	end
	local events = single and a or b;
	if type(events) ~= "table" then return; end
	if events then
		local ok2, err = pcall(apply, events, session);
		if not ok2 then module:log("error", "applying mucjoins events failed: %s", err); end
	end
end

local function on_outgoing(event)
	local origin = event.origin;
	if origin.type == "c2s" and origin.full_jid then
		call(origin, "outgoing", origin.full_jid, event.stanza);
	end
end
for _, kind in ipairs({ "presence", "message" }) do
	for _, to in ipairs({ "full", "bare", "host" }) do
		module:hook("pre-" .. kind .. "/" .. to, on_outgoing, 10);
	end
end

local function on_incoming(event)
	local stanza = event.stanza;
	local session = full_sessions[stanza.attr.to];
	if session and session.host == module.host then
		seen[stanza] = true;
		call(session, "incoming", session.full_jid, stanza);
	end
end
module:hook("presence/full", on_incoming, 10);
module:hook("message/full", on_incoming, 10);

-- A local MUC sends join errors with origin.send(): they only show here.
local function out_filter(stanza, session)
	if stanza.name == "presence" and stanza.attr.type == "error" and not seen[stanza] and session.full_jid then
		call(session, "incoming", session.full_jid, stanza);
	end
	return stanza;
end
local function add_filter(session)
	if session.type == "c2s" or session.type == "c2s_unauthed" then
		filters.add_filter(session, "stanzas/out", out_filter, 500);
	end
end
filters.add_filter_hook(add_filter);
for _, session in pairs(full_sessions) do
	if session.host == module.host then add_filter(session); end
end

module:hook("resource-unbind", function(event)
	local session = event.session;
	if session.full_jid then call(session, "close", session.full_jid); end
end, 10);

local tick_every = math.max(0.5, math.min(10, config.pending_timeout / 4));
module:add_timer(tick_every, function()
	call(nil, "tick");
	return tick_every;
end);

function module.save()
	reloading = true;
	return { tracker = tracker };
end

function module.restore(data)
	if data and data.tracker then
		tracker = data.tracker;
		pcall(tracker.configure, tracker, config);
	end
end

function module.unload()
	filters.remove_filter_hook(add_filter);
	for _, session in pairs(full_sessions) do
		filters.remove_filter(session, "stanzas/out", out_filter);
	end
	if not reloading then
		module:log("info", "Unloaded: session.rooms_joined tables are left as they are and no longer updated");
	end
end

module:log("info", "mucjoins %s tracking MUC joins (max_rooms=%d, max_pending=%d, pending_timeout=%gs)",
	mj.version, config.max_rooms, config.max_pending, config.pending_timeout);

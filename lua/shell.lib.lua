-- Admin shell commands of mod_track_muc_joins (prosodyctl shell):
--   muc_joins:list(jid)     each session of a user (bare JID) or one session
--                           (full JID): rooms, nicks, states, since when
--   muc_joins:stats([host]) the tracker's totals (every host by default)
-- Prosody 0.12 reads commands from the shared admin_shell env; 13 from
-- "shell-command" items (docs/prosody-versions.md). Presentation only.

local jid_split = require "util.jid".prepped_split;
local monotonic = require "util.time".monotonic; -- the core's clock too
local features = require "core.features";

-- host -> function returning that host's tracker
local trackers = module:shared("/*/track_muc_joins/trackers");

local stat_keys = {
	"sessions",
	"rooms_shown",
	"pending",
	"changing",
	"leaving",
	"distinct_rooms",
	"bytes",
	"joins",
	"leaves",
	"join_failures",
	"forged",
	"limits",
	"bad_jids",
	"ambiguous",
	"mentions",
	"pings_sent",
	"pings_joined",
	"pings_not_joined",
	"pings_unknown",
	"pings_given_up",
	"pings_outstanding",
};

local function plural(n, word)
	if n == 1 then
		return n .. " " .. word;
	end
	return n .. " " .. word .. "s";
end

local function by_full_jid(a, b)
	return a.full_jid < b.full_jid;
end

local function by_room(a, b)
	return a.room < b.room;
end

-- The sessions a JID names: one full JID, or every session of a bare JID.
local function sessions_of(bare, resource)
	local sessions = {};
	if resource then
		sessions[1] = prosody.full_sessions[bare .. "/" .. resource];
		return sessions;
	end
	local user = prosody.bare_sessions[bare];
	for _, session in pairs(user and user.sessions or {}) do
		sessions[#sessions + 1] = session;
	end
	table.sort(sessions, by_full_jid);
	return sessions;
end

local function nick_column(r)
	if not r.pending_nick then
		return r.nick or "";
	end
	if r.nick then
		return r.nick .. " -> " .. r.pending_nick;
	end
	return "-> " .. r.pending_nick;
end

local function list(print, jid)
	if type(jid) ~= "string" then
		return nil, "Invalid JID: " .. tostring(jid);
	end
	local node, host, resource = jid_split(jid);
	if not host then
		return nil, "Invalid JID: " .. tostring(jid);
	end
	if not trackers[host] then
		return nil, "mod_track_muc_joins is not loaded on " .. host;
	end
	local tracker = trackers[host]();
	local bare = host;
	if node then
		bare = node .. "@" .. host;
	end
	local sessions = sessions_of(bare, resource);
	local total = 0;
	for _, session in ipairs(sessions) do
		local rooms = tracker:rooms(session.full_jid);
		table.sort(rooms, by_room);
		print(session.full_jid .. " (" .. plural(#rooms, "room") .. ")");
		for _, r in ipairs(rooms) do
			local age = math.floor(monotonic() - r.since);
			print(("  %-10s %-40s %-24s since %ds"):format(r.state, r.room, nick_column(r), age));
			total = total + 1;
		end
	end
	return true, plural(#sessions, "session") .. ", " .. plural(total, "room");
end

local function stats(print, only_host)
	if only_host ~= nil then
		local node, host, resource = jid_split(tostring(only_host));
		if not host or node or resource then
			return nil, "Invalid host: " .. tostring(only_host);
		end
		only_host = host; -- prepared, as the trackers are keyed
	end
	local hosts = {};
	for host in pairs(trackers) do
		if not only_host or host == only_host then
			hosts[#hosts + 1] = host;
		end
	end
	table.sort(hosts);
	local shown = 0;
	for _, host in ipairs(hosts) do
		local totals = trackers[host]():stats();
		print(host);
		for _, key in ipairs(stat_keys) do
			print(("  %-18s %d"):format(key, totals[key] or 0));
		end
		shown = shown + totals.rooms_shown;
	end
	return true, plural(shown, "room") .. " shown on " .. plural(#hosts, "host");
end

local SECTION = "muc_joins";
local SECTION_DESC = "MUC rooms tracked by mod_track_muc_joins";

-- get_tracker(): this host's tracker (replaced on reload). Returns the
-- function to call on unload.
return function(get_tracker)
	trackers[module.host] = get_tracker;

	module:add_item("shell-command", {
		section = SECTION;
		section_desc = SECTION_DESC;
		name = "list";
		desc = "Rooms, nicks and states of a user's sessions";
		args = { { name = "jid", type = "string" } };
		host_selector = "jid";
		handler = function(self, jid)
			return list(self.session.print, jid);
		end;
	});
	module:add_item("shell-command", {
		section = SECTION;
		section_desc = SECTION_DESC;
		name = "stats";
		desc = "Totals of the tracker";
		args = { { name = "host", type = "string" } };
		handler = function(self, host)
			return stats(self.session.print, host);
		end;
	});

	-- Prosody 0.12 has no shell-command items: its admin shell reads the
	-- shared env.
	local env;
	if not features.available:contains("module-ready") then
		env = module:shared("/*/admin_shell/env");
		env.muc_joins = {
			list = function(self, jid)
				return list(self.session.print, jid);
			end;
			stats = function(self, host)
				return stats(self.session.print, host);
			end;
		};
	end

	return function()
		trackers[module.host] = nil;
		if env and next(trackers) == nil then
			env.muc_joins = nil;
		end
	end
end

-- Admin shell commands of mod_track_muc_joins (prosodyctl shell):
--   muc_joins:list(jid)    each session of a user (bare JID) or one session
--                          (full JID): rooms, nicks, states, since when
--   muc_joins:stats([host]) the tracker's totals (every host by default)
-- Prosody 0.12 reads commands from the shared admin_shell env; 13 from
-- "shell-command" items (docs/prosody-versions.md). Presentation only.
local jid_split = require "util.jid".prepped_split;
local monotonic = require "util.time".monotonic; -- the core's clock too

local trackers = module:shared("/*/track_muc_joins/trackers"); -- host -> function returning the tracker

local function plural(n, word) return n .. " " .. word .. (n == 1 and "" or "s"); end

local function list(print, jid)
	local node, host, resource = jid_split(jid or "");
	if not host then return nil, "Invalid JID: " .. tostring(jid); end
	if not trackers[host] then return nil, "mod_track_muc_joins is not loaded on " .. host; end
	local tracker, bare = trackers[host](), node and (node .. "@" .. host) or host;
	local sessions = {};
	if resource then
		sessions[1] = prosody.full_sessions[bare .. "/" .. resource];
	else
		for _, s in pairs(prosody.bare_sessions[bare] and prosody.bare_sessions[bare].sessions or {}) do
			sessions[#sessions + 1] = s;
		end
		table.sort(sessions, function(a, b) return a.full_jid < b.full_jid; end);
	end
	local total = 0;
	for _, s in ipairs(sessions) do
		local rooms = tracker:rooms(s.full_jid);
		table.sort(rooms, function(a, b) return a.room < b.room; end);
		print(s.full_jid .. " (" .. plural(#rooms, "room") .. ")");
		for _, r in ipairs(rooms) do
			local nick = r.nick or "";
			if r.pending_nick then nick = (r.nick and r.nick .. " -> " or "-> ") .. r.pending_nick; end
			print(("  %-10s %-40s %-24s since %ds"):format(r.state, r.room, nick, math.floor(monotonic() - r.since)));
			total = total + 1;
		end
	end
	return true, plural(#sessions, "session") .. ", " .. plural(total, "room");
end

local stat_keys = { "sessions", "rooms_shown", "pending", "changing", "leaving", "distinct_rooms", "bytes", "joins",
	"leaves", "join_failures", "forged", "limits", "bad_jids", "ambiguous", "mentions", "pings_sent", "pings_joined",
	"pings_not_joined", "pings_unknown", "pings_given_up", "pings_outstanding" };

local function stats(print, only_host)
	local hosts, shown = {}, 0;
	for host in pairs(trackers) do if not only_host or host == only_host then hosts[#hosts + 1] = host; end end
	table.sort(hosts);
	for _, host in ipairs(hosts) do
		local s = trackers[host]():stats();
		print(host);
		for _, k in ipairs(stat_keys) do print(("  %-18s %d"):format(k, s[k] or 0)); end
		shown = shown + s.rooms_shown;
	end
	return true, plural(shown, "room") .. " shown on " .. plural(#hosts, "host");
end

return function(get_tracker)
	trackers[module.host] = get_tracker;
	module:add_item("shell-command", { section = "muc_joins", section_desc = "MUC rooms tracked by mod_track_muc_joins",
		name = "list", desc = "Rooms, nicks and states of a user's sessions", args = { { name = "jid", type = "string" } },
		host_selector = "jid", handler = function(self, jid) return list(self.session.print, jid); end });
	module:add_item("shell-command", { section = "muc_joins", section_desc = "MUC rooms tracked by mod_track_muc_joins",
		name = "stats", desc = "Totals of the tracker", args = { { name = "host", type = "string" } },
		handler = function(self, host) return stats(self.session.print, host); end });
	local env = not require "core.features".available:contains("module-ready") and module:shared("/*/admin_shell/env");
	if env then -- Prosody 0.12
		env.muc_joins = {
			list = function(self, jid) return list(self.session.print, jid); end;
			stats = function(self, host) return stats(self.session.print, host); end;
		};
	end
	return function() -- on unload
		trackers[module.host] = nil;
		if env and next(trackers) == nil then env.muc_joins = nil; end
	end
end

-- Admin shell commands of mod_track_muc_joins (prosodyctl shell):
--   muc_joins:list(jid[, lines])  each session of a user (bare JID) or one
--                           session (full JID): rooms, nicks, states, since
--                           when; at most `lines` lines (LIST_LINES)
--   muc_joins:room(room[, lines])  this server's sessions in a room, nicks
--   muc_joins:stats([host]) the tracker's totals (every host by default)
-- Prosody 0.12 reads commands from the shared admin_shell env; 13 from
-- "shell-command" items (docs/prosody-versions.md). Presentation only.

local jid_split = require "util.jid".prepped_split;
local monotonic = require "util.time".monotonic; -- the core's clock too
local features = require "core.features";

-- host -> function returning that host's tracker
local trackers = module:shared("/*/track_muc_joins/trackers");

-- The library's version (MJ_VERSION), carried by the shell-command items
-- (set by the function this file returns).
local version = "?";

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
	"leaves_owed",
	"leaves_resent",
	"leaves_waiting",
	"leaves_answerable",
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

-- The tracker of a host, or nil and why not.
local function tracker_of(host)
	if trackers[host] then
		return trackers[host]();
	end
	local served = prosody.hosts[host];
	if not served then
		return nil, "No such host: " .. host;
	end
	if served.type ~= "local" then
		-- a component (the MUC): the module sets nothing up there
		return nil, host .. " is not a VirtualHost (a " .. tostring(served.type)
			.. "): mod_track_muc_joins tracks the client sessions of VirtualHosts";
	end
	return nil, "mod_track_muc_joins is not loaded on " .. host;
end

-- An argument as an answer quotes it: at most 80 characters of it (a
-- JID that does not prepare may be of any length).
local function shown(value)
	local text = tostring(value);
	if #text > 80 then
		return text:sub(1, 80) .. "... (" .. #text .. " bytes)";
	end
	return text;
end

-- The lines list() prints unless asked for more. Prosody has no bound on
-- the sessions of one account, each up to max_rooms + max_pending rooms,
-- and every line printed costs the server about 40 us while every client
-- waits (a user's 100 sessions of 2000 rooms: 200,000 lines, 8 s and 18 MB
-- through the admin socket).
local LIST_LINES = 1000;

-- The lines wanted: nil (LIST_LINES), or a whole number > 0, as a number
-- or as text (`prosodyctl shell muc_joins list JID 5000` sends words).
local function line_limit(lines)
	if lines == nil then
		return LIST_LINES;
	end
	local n = tonumber(lines);
	if type(lines) ~= "number" and type(lines) ~= "string" or not n or n < 1 or n ~= math.floor(n) then
		return nil, "Invalid number of lines: " .. shown(lines) .. " (a whole number, 1 or more)";
	end
	return math.min(n, 1e9); -- (math.huge: no integer for the hint's %d)
end

-- A command as the operator types it again: words on Prosody 13's
-- command line (`muc_joins list alice@example.org 5000`), else the call.
local function as_typed(words, name, arg, n)
	if words then
		return ("muc_joins %s %s %d"):format(name, arg, n);
	end
	return ("muc_joins:%s(%q, %d)"):format(name, arg, n);
end

-- words: the command came from Prosody 13's command line (the shell
-- session's repl is false there), where it is typed as words.
local function list(print, words, jid, lines)
	local limit, limit_err = line_limit(lines);
	if not limit then
		return nil, limit_err;
	end
	if jid == nil then
		if words then
			return nil, "Invalid JID: none given (muc_joins list user@host, or a full JID)";
		end
		return nil, "Invalid JID: none given (muc_joins:list(\"user@host\") or a full JID)";
	end
	if type(jid) ~= "string" then
		return nil, "Invalid JID: " .. shown(jid);
	end
	local node, host, resource = jid_split(jid);
	if not host then
		return nil, "Invalid JID: " .. shown(jid);
	end
	local tracker, err = tracker_of(host);
	if not tracker then
		if not prosody.hosts[host] then
			err = err .. " (give a JID, user@host or user@host/resource)";
		end
		return nil, err;
	end
	if not node then
		-- a host names no user's sessions: "0 sessions" would read as if
		-- nobody there were in a room
		return nil, "Not a user's JID: " .. jid .. " (give user@host or user@host/resource)";
	end
	local sessions = sessions_of(node .. "@" .. host, resource);
	local total = 0;
	local printed = 0;
	local now = monotonic();
	for i, session in ipairs(sessions) do
		if printed >= limit then
			-- the rest not even read: each session's rooms cost time too
			return true, ("%s, %d lines shown (the rooms of the first %d): "
				.. "%s shows more, a full JID one session"):format(
				plural(#sessions, "session"), printed, i - 1, as_typed(words, "list", jid, limit * 10));
		end
		local rooms = tracker:rooms(session.full_jid);
		table.sort(rooms, by_room);
		-- (mod_smacks: the connection is lost, the session waits to be
		-- resumed, and its rooms are kept)
		local hibernating = session.hibernating and ", hibernating" or "";
		print(session.full_jid .. " (" .. plural(#rooms, "room") .. hibernating .. ")");
		printed = printed + 1;
		for k, r in ipairs(rooms) do
			if printed >= limit then
				print(("  ... %d more rooms of %s not shown"):format(#rooms - k + 1, session.full_jid));
				return true, ("%s, %d lines shown (cut in the rooms of %s): %s shows more"):format(
					plural(#sessions, "session"), printed, session.full_jid,
					as_typed(words, "list", jid, limit * 10));
			end
			local age = math.floor(now - r.since);
			print(("  %-10s %-40s %-24s since %ds"):format(r.state, r.room, nick_column(r), age));
			printed = printed + 1;
			total = total + 1;
		end
	end
	return true, plural(#sessions, "session") .. ", " .. plural(total, "room");
end

-- The hosts the module is loaded on (only_host alone, if given), sorted;
-- nil and why when none.
local function tracked_hosts(only_host)
	local hosts = {};
	for host in pairs(trackers) do
		if not only_host or host == only_host then
			hosts[#hosts + 1] = host;
		end
	end
	table.sort(hosts);
	if #hosts == 0 then
		-- unloaded everywhere since this shell session began
		return nil, "mod_track_muc_joins is not loaded on any host";
	end
	return hosts;
end

local function stats(print, _, only_host)
	if only_host ~= nil then
		local node, host, resource = jid_split(type(only_host) == "string" and only_host or "");
		if not host or node or resource then
			return nil, "Invalid host: " .. shown(only_host);
		end
		only_host = host; -- prepared, as the trackers are keyed
		local tracker, err = tracker_of(host);
		if not tracker then
			return nil, err;
		end
	end
	local hosts, none = tracked_hosts(only_host);
	if not hosts then
		return nil, none;
	end
	-- One host: its totals. Several: the sum first, then a line per host
	-- (22 lines per host made 22,000 for 1,000 VirtualHosts, about 1 s of
	-- the server's time, the sum nowhere).
	local each = {};
	local sum = {};
	for i, host in ipairs(hosts) do
		each[i] = trackers[host]():stats();
		for _, key in ipairs(stat_keys) do
			sum[key] = (sum[key] or 0) + (each[i][key] or 0);
		end
	end
	print(#hosts == 1 and hosts[1] or ("all " .. #hosts .. " hosts"));
	for _, key in ipairs(stat_keys) do
		if key == "distinct_rooms" and #hosts > 1 then
			-- a room two hosts' sessions are in counts on both
			print(("  %-18s %s"):format(key, "(per host)"));
		else
			print(("  %-18s %d"):format(key, sum[key]));
		end
	end
	if #hosts > 1 then
		print(("%-40s %10s %12s %10s %12s %10s"):format("host", "sessions", "rooms_shown", "pending",
			"bytes", "joins"));
		for i, host in ipairs(hosts) do
			local totals = each[i];
			print(("%-40s %10d %12d %10d %12d %10d"):format(host, totals.sessions, totals.rooms_shown,
				totals.pending, totals.bytes, totals.joins));
		end
	end
	return true, plural(sum.rooms_shown, "room") .. " shown on " .. plural(#hosts, "host");
end

local function by_jid(a, b)
	return a.jid < b.jid;
end

-- The sessions of every host whose rooms_joined shows a room (not the
-- joins in flight): each host's sessions asked for the room's nick, one
-- lookup each (50,000 sessions of 20 rooms: ~70 ms in Prosody 0.12), no
-- session's rooms walked.
local function room(print, words, room_jid, lines)
	local limit, limit_err = line_limit(lines);
	if not limit then
		return nil, limit_err;
	end
	if type(room_jid) ~= "string" then
		local example = words and "muc_joins room room@conference.example.org"
			or "muc_joins:room(\"room@conference.example.org\")";
		return nil, "Invalid room JID: " .. (room_jid == nil and "none given" or shown(room_jid))
			.. " (" .. example .. ")";
	end
	local node, host = jid_split(room_jid);
	if not node then
		return nil, "Invalid room JID: " .. shown(room_jid) .. " (give room@service)";
	end
	local bare = node .. "@" .. host;
	local hosts, none = tracked_hosts();
	if not hosts then
		return nil, none;
	end
	local found = {};
	for _, tracked in ipairs(hosts) do
		local tracker = trackers[tracked]();
		for _, full_jid in ipairs(tracker:sessions()) do
			local nick = tracker:nick(full_jid, bare);
			if nick then
				found[#found + 1] = { jid = full_jid; nick = nick };
			end
		end
	end
	table.sort(found, by_jid);
	for i, f in ipairs(found) do
		if i > limit then
			print(("... %d more sessions not shown"):format(#found - limit));
			return true, ("%s in %s, %d shown: %s shows more"):format(
				plural(#found, "session"), bare, limit, as_typed(words, "room", room_jid, limit * 10));
		end
		print(("%-50s %s"):format(f.jid, f.nick));
	end
	return true, plural(#found, "session") .. " in " .. bare;
end

local SECTION = "muc_joins";
local SECTION_DESC = "MUC rooms tracked by mod_track_muc_joins";

-- Prosody 13: the commands are added once, as items of the global context,
-- while the module is loaded on at least one host. Added by this host
-- module they would be host commands, which Prosody 13's mod_admin_shell
-- only registers with a host_selector argument and runs behind a
-- dispatcher of its own: stats([host]) has none (its host is optional) and
-- was ignored ("missing/invalid host_selector"), and list(jid) got
-- jid_split()'s raw error for a JID that is not a string, before our check.
-- Both find the host's tracker themselves (trackers). The handlers call
-- through `shell`, so a reload on one host of several runs the new code.
local shell = module:shared("/*/track_muc_joins/shell");
shell.list, shell.stats, shell.room = list, stats, room;

-- The commands' handlers, on both versions (self: the shell session's
-- wrapper of the section). A shell session opened before the module
-- loaded has no wrapper of its own (both versions fill session.env from
-- the shared environment when the session starts): self is then the
-- section table itself, without .session, and the lines go into the
-- result message instead. Prosody 13 sets the session's repl for each
-- line: false for one from prosodyctl's command line. The commands get
-- print, whether they were typed as words, and their arguments.
local function run(self, fn, ...)
	local session = type(self) == "table" and rawget(self, "session");
	if type(session) == "table" and type(session.print) == "function" then
		return fn(session.print, session.repl == false, ...);
	end
	local lines = {};
	local ok, message = fn(function(line)
		lines[#lines + 1] = tostring(line);
	end, false, ...);
	lines[#lines + 1] = tostring(message);
	return ok, table.concat(lines, "\n");
end

-- muc_joins.list("alice@example.org"), with a dot: the JID comes as self
-- and the command saw none.
local function with_a_dot(self, name)
	if type(self) == "string" then
		return ("Call it with a colon: muc_joins:%s(%q)"):format(name, shown(self));
	end
end

local function list_command(self, jid, lines)
	local dot = with_a_dot(self, "list");
	if dot then
		return nil, dot;
	end
	return run(self, shell.list, jid, lines);
end

local function room_command(self, room_jid, lines)
	local dot = with_a_dot(self, "room");
	if dot then
		return nil, dot;
	end
	return run(self, shell.room, room_jid, lines);
end

local function stats_command(self, host)
	local dot = with_a_dot(self, "stats");
	if dot then
		return nil, dot;
	end
	return run(self, shell.stats, host);
end

local function command_items()
	return {
		{
			section = SECTION;
			section_desc = SECTION_DESC;
			name = "list";
			mucjoins_version = version;
			desc = "Rooms, nicks and states of a user's sessions (at most 1000 lines, or lines)";
			args = { { name = "jid", type = "string" }, { name = "lines", type = "number" } };
			handler = list_command;
		};
		{
			section = SECTION;
			section_desc = SECTION_DESC;
			name = "room";
			mucjoins_version = version;
			desc = "This server's sessions in a room, with their nicks (at most 1000, or lines)";
			args = { { name = "room", type = "string" }, { name = "lines", type = "number" } };
			handler = room_command;
		};
		{
			section = SECTION;
			section_desc = SECTION_DESC;
			name = "stats";
			mucjoins_version = version;
			desc = "Totals of the tracker (every host, or one)";
			args = { { name = "host", type = "string" } };
			handler = stats_command;
		};
	};
end

-- What an item offers the shell: its section, name, help line, arguments
-- (name and type of each) and the mucjoins version that made it (its
-- handler's code: another version's may differ where nothing else does),
-- as one string. An earlier version's items may be any tables: what is
-- not a string reads as its type.
local function item_signature(item)
	local function text(value)
		if type(value) == "string" then
			return value;
		end
		return "<" .. type(value) .. ">";
	end
	if type(item) ~= "table" then
		return text(item);
	end
	local parts = { text(item.section), text(item.name), text(item.desc), text(item.mucjoins_version) };
	local args = item.args;
	if type(args) == "table" then
		for _, arg in ipairs(args) do
			if type(arg) == "table" then
				parts[#parts + 1] = text(arg.name) .. ":" .. text(arg.type);
			else
				parts[#parts + 1] = text(arg);
			end
		end
	else
		parts[#parts + 1] = text(args);
	end
	return table.concat(parts, "\0");
end

-- Whether two lists of items offer the same commands, in any order (a
-- version that renames a command, or adds an argument, has as many; one
-- that changes only a handler's code differs by its version).
local function same_commands(a, b)
	if #a ~= #b then
		return false;
	end
	local count = {};
	for _, item in ipairs(a) do
		local signature = item_signature(item);
		count[signature] = (count[signature] or 0) + 1;
	end
	for _, item in ipairs(b) do
		local signature = item_signature(item);
		if not count[signature] or count[signature] == 0 then
			return false;
		end
		count[signature] = count[signature] - 1;
	end
	return true;
end

-- mod_admin_shell takes the items of global modules present when it loads;
-- these belong to no global module: when it loads (or reloads) after us,
-- they are announced to it again.
local function announce_again(event)
	if event.module == "admin_shell" and event.host == "*" and shell.items then
		for _, item in ipairs(shell.items) do
			prosody.events.fire_event("item-added/shell-command", { source = shell.ctx; item = item });
		end
	end
end

local function add_global_commands()
	-- a context with items of its own: Prosody removes a module's items on
	-- that module's host when it unloads (as host items); these live as
	-- long as any host has the module and go in remove_global_commands()
	local ctx = module:context("*");
	rawset(ctx, "items", {});
	shell.ctx, shell.items = ctx, command_items();
	for _, item in ipairs(shell.items) do
		ctx:add_item("shell-command", item);
	end
end

local function remove_global_commands()
	for _, item in ipairs(shell.items or {}) do
		shell.ctx:remove_item("shell-command", item);
	end
	shell.ctx, shell.items = nil, nil;
end

-- `help muc_joins`: both versions' `help` command reads its topic with
-- "^help (%w+)", which stops at the underscore and shows the help of the
-- `muc` section instead (0.12's help is a fixed list besides). Answered
-- here, before mod_admin_shell (priority 0) sees the line: the same
-- repl-output lines and empty repl-result its own help sends. Hooked on the
-- global bus by every host's load; the first handler answers.
local st = require "util.stanza";

local HELP = {
	{
		call = "muc_joins:list(jid[, lines])";
		words = "muc_joins list <jid> [<lines>]";
		desc = "Rooms, nicks, states and since when of a user's sessions (bare JID) "
			.. "or of one session (full JID); at most 1000 lines unless lines says more";
	};
	{
		call = "muc_joins:room(room[, lines])";
		words = "muc_joins room <room> [<lines>]";
		desc = "This server's sessions whose rooms_joined shows the room, with their nicks; "
			.. "at most 1000 unless lines says more";
	};
	{
		call = "muc_joins:stats([host])";
		words = "muc_joins stats [<host>]";
		desc = "Totals of the tracker (every host, or one)";
	};
};

-- Whether a line asks for the section's help: typed in the shell, or
-- `prosodyctl shell help muc_joins` (Prosody 13 sends several arguments
-- as a table constructor, 0.12 as the call "help:muc_joins()", which its
-- shell reads as a bare `help`). Words after the section (`help muc_joins
-- list`) show the section, as `help c2s show` shows c2s.
local function asks_help(line)
	return line:match("^%s*help%s+muc_joins%s*$")
		or line:match("^%s*help%s+muc_joins%s")
		or line:match("^%s*help:muc_joins%(.*%)%s*$")
		or line:match('^%s*{%s*"help"%s*,%s*"muc_joins"%s*[,}]');
end

local function help_muc_joins(event)
	local stanza = event.stanza;
	local line = stanza and stanza:get_text();
	if type(line) ~= "string" or not asks_help(line) then
		return;
	end
	local function say(text)
		event.origin.send(st.stanza("repl-output"):text(text));
	end
	for _, command in ipairs(HELP) do
		if stanza.attr.repl == "0" then
			-- Prosody 13's prosodyctl on the command line: its own help
			-- writes the commands as they are typed there
			say(command.words);
			say("    " .. command.desc);
			say("");
		else
			say(command.call .. " - " .. command.desc);
		end
	end
	event.origin.send(st.stanza("repl-result"));
	return true;
end

-- get_tracker(): this host's tracker (replaced on reload). Returns the
-- function to call on unload.
return function(get_tracker, mucjoins_version)
	trackers[module.host] = get_tracker;
	version = tostring(mucjoins_version);
	module:hook_global("admin/repl-input", help_muc_joins, 1);

	-- Prosody 0.12 has no shell-command items: its admin shell reads the
	-- shared env.
	-- Open shell sessions hold the section table of when they started (a
	-- reload is typed in one): it is filled in, not replaced.
	local env;
	if not features.available:contains("module-ready") then
		env = module:shared("/*/admin_shell/env");
		local section = env.muc_joins or {};
		for name in pairs(section) do
			section[name] = nil; -- (a command another version had)
		end
		section.list, section.room, section.stats = list_command, room_command, stats_command;
		env.muc_joins = section;
	else
		module:hook_global("module-loaded", announce_again);
		module:hook_global("module-reloaded", announce_again);
		if shell.items and not same_commands(shell.items, command_items()) then
			-- added by a load of another version (a reload after an
			-- upgrade; as many commands, renamed or with other arguments,
			-- count too): these replace its commands, added first
			-- (removing every command empties the section: 13 deletes it)
			local old_ctx, old_items = shell.ctx, shell.items;
			add_global_commands();
			for _, item in ipairs(old_items) do
				old_ctx:remove_item("shell-command", item);
			end
		end
		if not shell.items then
			add_global_commands();
		end
	end

	-- reloading: a reload of this host follows (module.save() ran): the
	-- items stay, or Prosody 13's open shell sessions, which took the
	-- section table when they started, lose the commands (the handlers
	-- call through `shell`, which the new load fills in).
	local host = module.host;
	local function remove_if_gone(gone)
		if trackers[host] == nil and gone then
			gone();
		end
		if next(trackers) == nil then
			if env then
				env.muc_joins = nil;
			end
			remove_global_commands();
		end
	end

	-- gone(), if given: called once this host has no load of the module
	-- any more (at once, or a turn after a reload whose next load is not
	-- this module's: another module of the same name, or a load that
	-- failed; this module's next load fills trackers in synchronously).
	return function(reloading, gone)
		trackers[host] = nil;
		if not reloading then
			remove_if_gone(gone);
			return;
		end
		-- util.timer, not module:add_timer: it must run after the unload
		local timer = require "util.timer";
		timer.add_task(0, function()
			local ok, err = pcall(remove_if_gone, gone);
			if not ok then
				module:log("error", "removing the shell commands after a reload failed: %s", err);
			end
		end);
	end
end

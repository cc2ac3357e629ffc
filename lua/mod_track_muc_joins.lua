-- mod_track_muc_joins (mucjoins): which MUC rooms each client session is
-- in, and under which nick: session.rooms_joined[room_bare_jid] = nick.
-- Wiring only: every decision is made by the C core (mucjoins.so). This
-- file holds the options, the presence and message hooks, the join-error
-- filter, applying the core's events and module reloads; the self-ping
-- wiring is in selfping.lib.lua, CSI and push in wake.lib.lua, the admin
-- shell in shell.lib.lua.

local filters = require "util.filters";
local monotonic = require "util.time".monotonic; -- no wall-clock jumps
local st = require "util.stanza";
local short_id = require "util.id".short;
local jid_host = require "util.jid".host;

local full_sessions = prosody.full_sessions;
local module_host = module.host;

local NS_MUC_USER = "http://jabber.org/protocol/muc#user";
local NS_PING = "urn:xmpp:ping";

-- A load that cannot work stops here, before anything is hooked: Prosody
-- leaves the hooks of a module whose main chunk raised in place, so a
-- failure further down would leave a load that tracks with no timer,
-- no self-ping and no shell. The error is one line in the log: Prosody
-- appends a traceback of its loader to an error that is a string
-- (debug.traceback), not to another value, which it logs with tostring.
-- Where Prosody builds an error of its own from it with string methods
-- (module:depends() raises "Unable to load required module, mod_<name>: "
-- .. err:gsub(...)), they act on the message: a module that depends on
-- this one is told why it was refused, not "attempt to call a nil value
-- (method 'gsub')".
local function refuse_load(message)
	error(setmetatable({}, {
		__tostring = function()
			return message;
		end;
		__index = function(_, key)
			local method = string[key];
			if type(method) ~= "function" then
				return nil;
			end
			return function(_, ...)
				return method(message, ...);
			end;
		end;
		__concat = function(a, b)
			return tostring(a) .. tostring(b);
		end;
	}), 0);
end

-- Loaded on "*" (a shell's module:load(name, "*"), a global module's
-- module:depends()): no client session is ever the global host's, and
-- while it is loaded there Prosody refuses to load it on any VirtualHost
-- ("global-module-already-loaded").
if module_host == "*" then
	refuse_load("Not loaded globally (on *): mod_track_muc_joins tracks the client sessions of "
		.. "VirtualHosts, which a global load never sees, and loaded on * it could not be loaded "
		.. "on any VirtualHost (global-module-already-loaded). Enable it on the VirtualHosts: "
		.. "modules_enabled in the global section (every VirtualHost) or under a VirtualHost; "
		.. "in prosodyctl shell, module:load(\"track_muc_joins\") loads it on every VirtualHost");
end

-- On a component (the MUC, say) no c2s session is ever this host's: the
-- module would track nothing while its load line says it tracks. It says
-- so and sets nothing up (no tracker, hook, timer or shell entry: the
-- admin shell's stats would list the component as a host).
if module:get_host_type() ~= "local" then
	module:log("warn", "Loaded on %s, a %s: mod_track_muc_joins tracks the client sessions "
		.. "of VirtualHosts and tracks nothing here; enable it on the VirtualHosts instead",
		module_host, tostring(module:get_host_type()));
	return;
end

-- The plugin folder must be whole (README.md: copy the whole folder) and
-- readable by the user Prosody runs as: what is wrong with the folder at
-- dir, or nil. files: the files a version needs, this one's by default
-- (module.save() reads this line in the file a reload would load: keep
-- it one line, of this form).
local function folder_problem(dir, files)
	files = files or { "mucjoins.so", "selfping.lib.lua", "wake.lib.lua", "shell.lib.lua" };
	local missing, unreadable = {}, {};
	for _, name in ipairs(files) do
		local file, err, code = io.open(dir .. "/" .. name, "rb");
		if file then
			file:close();
		elseif code == 2 then -- ENOENT
			table.insert(missing, name);
		else
			table.insert(unreadable, name .. " (" .. tostring(err):gsub("^.*: ", "") .. ")");
		end
	end
	local problems = {};
	if #missing > 0 then
		table.insert(problems, "lacks " .. table.concat(missing, ", "));
	end
	if #unreadable > 0 then
		table.insert(problems, "cannot read " .. table.concat(unreadable, ", "));
	end
	if #problems == 0 then
		return nil;
	end
	return ("the plugin folder %s %s. Copy the whole folder "
		.. "(build/plugins/mod_track_muc_joins/ after make: mod_track_muc_joins.lua, %s) "
		.. "where the user Prosody runs as can read it, or use make install")
		:format(dir, table.concat(problems, " and "), table.concat(files, ", "));
end

local module_dir = module:get_directory();
do
	local problem = folder_problem(module_dir);
	if problem then
		refuse_load("Not loaded: " .. problem);
	end
end

-- The interface of mucjoins.so these Lua files are written for
-- (MJ_LUA_INTERFACE in lua/mucjoins_lua.h; module.save() reads this line
-- in the files a reload would load).
local BINDING_INTERFACE = 1;

-- Lua keeps the C libraries it loaded, by path: a load after a reload or
-- an unload runs the mucjoins.so this process loaded first, even when the
-- file there was replaced since (make, make install). Every load of one
-- (this file's, module.save()'s of the one a reload would run) goes
-- through here and records the file Lua loaded, by path, in
-- prosody.mucjoins_binding_files (kept across reloads and unloads).
-- Returns luaopen_mucjoins, or nil and what is wrong (Lua's error and the
-- cure); then whether the path
-- was loaded before (its library is the one in memory) and whether the
-- file was replaced since.
local function open_binding(binding_path)
	local has_lfs, lfs = pcall(require, "lfs");
	local attr = has_lfs and type(lfs) == "table" and lfs.attributes(binding_path);
	local file_id;
	if type(attr) == "table" then
		file_id = ("%s:%s:%s:%s"):format(attr.dev, attr.ino, attr.size, attr.modification);
	end
	local open, err = package.loadlib(binding_path, "luaopen_mucjoins");
	if not open then
		return nil, ("%s cannot be loaded (%s). It is built for Prosody on Lua 5.4 and needs "
			.. "libicuuc: build it on this machine (make)"):format(binding_path, tostring(err));
	end
	local loaded = rawget(prosody, "mucjoins_binding_files");
	if type(loaded) ~= "table" then
		loaded = {};
		rawset(prosody, "mucjoins_binding_files", loaded);
	end
	if loaded[binding_path] == nil then
		loaded[binding_path] = file_id or false; -- the file Lua loaded
		return open, nil, false, false;
	end
	return open, nil, true, file_id ~= nil and loaded[binding_path] and loaded[binding_path] ~= file_id;
end

local mj;
do
	local binding_path = module_dir .. "/mucjoins.so";
	-- Said at each load that runs a replaced file's library, until a
	-- restart.
	local open, err, _, replaced = open_binding(binding_path);
	if not open then
		refuse_load("Not loaded: " .. err);
	end
	local opened, lib = pcall(open);
	if not opened then
		refuse_load(("Not loaded: %s could not be opened (%s)"):format(binding_path, tostring(lib)));
	end
	local interface = type(lib) == "table" and rawget(lib, "interface") or nil;
	-- Another interface: these Lua files would call functions the library
	-- lacks, or call them otherwise, from inside the hooks. An upgrade
	-- without a restart, from a version that kept no record of the file
	-- it loaded, is told apart from a folder mixing builds by nothing:
	-- the message names both.
	if interface ~= BINDING_INTERFACE then
		local cure;
		if replaced then
			cure = "it was replaced since Prosody loaded it, and Lua keeps a loaded library: "
				.. "restart Prosody to run the new one";
		else
			cure = "restart Prosody if it loaded an earlier version of the module since it "
				.. "started (Lua keeps a loaded library); otherwise copy the whole folder of "
				.. "one build (make install)";
		end
		refuse_load(("Not loaded: the mucjoins.so this Prosody runs from %s is of another "
			.. "version than the folder's Lua files (interface %s, they need %d): %s")
			:format(binding_path, tostring(interface or "none"), BINDING_INTERFACE, cure));
	end
	if replaced then
		module:log("warn", "%s was replaced since Prosody loaded it: this load runs the one "
			.. "loaded first (Lua keeps a loaded library) with this folder's Lua files; "
			.. "restart Prosody to run the new one", binding_path);
	end
	mj = lib;
end

-- Options: every one is read here.

-- A value Prosody does not understand (it logs that) or out of range
-- falls back to the default, so that a typo in the config never stops
-- the module half loaded. positive: 0 would switch off what the option is
-- for on a server (the core's option table says which: a bound of 0
-- tracks no room, a timeout of 0 ends every join or ping at the next
-- tick, a budget of 0 sends no ping; self_ping is the switch for pings).
local read_options = {}; -- the names read, for the check of unknown ones below

local function number_option(name, default, positive)
	read_options[name] = true;
	local value = module:get_option_number("track_muc_joins_" .. name, default);
	local least = positive and "> 0" or ">= 0";
	if value == nil or value ~= value or value < 0 or value == math.huge or (value == 0 and positive) then
		module:log("error", "track_muc_joins_%s must be a finite number %s: using %g", name, least, default);
		return default;
	end
	return value;
end

-- The value, and whether the config sets it (not the default).
local function boolean_option(name, default)
	read_options[name] = true;
	local value = module:get_option_boolean("track_muc_joins_" .. name, default);
	if value == nil then
		module:log("error", "track_muc_joins_%s must be true or false: using %s", name, tostring(default));
		return default, false;
	end
	return value, module:get_option("track_muc_joins_" .. name) ~= nil;
end

-- The core's options come from its own table (mj.options(): name, type,
-- default, max, doc), each read as track_muc_joins_<name>.
local config = {};
for _, option in ipairs(mj.options()) do
	if option.type == "boolean" then
		config[option.name] = boolean_option(option.name, option.default);
	else
		local value = number_option(option.name, option.default, option.positive);
		-- the cap first: 1e20 retries is "too many", not "not a whole number"
		if option.max and value > option.max then
			module:log("warn", "track_muc_joins_%s is at most %d: using %d", option.name, option.max, option.max);
			value = option.max;
		end
		if math.type(option.default) == "integer" and math.tointeger(value) == nil then
			if value == math.floor(value) then
				-- whole, but beyond what an integer holds (1e20)
				module:log("error", "track_muc_joins_%s is too large: using %d", option.name, option.default);
			else
				module:log("error", "track_muc_joins_%s must be a whole number: using %d", option.name, option.default);
			end
			value = option.default;
		end
		config[option.name] = value;
	end
end
-- The core's log lines name an option as it is set here.
config.option_prefix = "track_muc_joins_";
-- The module's own options.
local log_changes = boolean_option("log_changes", false);
-- set by the operator (not the default): wake.lib.lua follows it even
-- next to mod_csi_battery_saver
local csi_hold_chatter, csi_hold_chatter_set = boolean_option("csi_hold_chatter", true);
local push_mentions_only = boolean_option("push_mentions_only", false);

-- A misspelt option would silently leave the default in force: name the
-- track_muc_joins_* settings this module did not read above (this host's
-- and the global section's), each once per Prosody process (not again at
-- every host's load or reload).
do
	local warned = module:shared("/*/track_muc_joins/unknown_options");
	local ok, all = pcall(function()
		return require("core.configmanager").getconfig();
	end);
	for _, section in ipairs({ module.host, "*" }) do
		local settings = ok and type(all) == "table" and rawget(all, section);
		if type(settings) == "table" then
			for key in pairs(settings) do
				local name = type(key) == "string" and key:match("^track_muc_joins_(.*)$");
				if name and not read_options[name] and not warned[section .. "\0" .. key] then
					warned[section .. "\0" .. key] = true;
					module:log("warn", "Unknown option %s (in %s) is ignored", key, section == "*" and "the global section" or section);
				end
			end
		end
	end
	-- Under a Component (say the MUC's) the options reach nothing: the
	-- module tracks the sessions of the host it is loaded on.
	for section, settings in pairs(ok and type(all) == "table" and all or {}) do
		local component = type(settings) == "table" and rawget(settings, "component_module");
		if component then
			for key in pairs(settings) do
				local name = type(key) == "string" and key:match("^track_muc_joins_(.*)$");
				if name and not warned[tostring(section) .. "\0" .. key] then
					warned[tostring(section) .. "\0" .. key] = true;
					module:log("warn", "Option %s is set under the Component %q, where it is ignored: set it in the global section or under the VirtualHost of the users", key, tostring(section));
				end
			end
		end
	end
end

-- State. A reload keeps the tracker, the salts of outstanding pings and
-- the counters (module.save / module.restore below).

local tracker = mj.new(config);
-- Our self-pings' iq ids are "mjping-<ping id>-<salt>": the answer names
-- its ping, the core checks it is the room's latest (no table of pings to
-- fill or flush). Salts of earlier loads are kept so that pings sent
-- before a reload are still recognised.
-- Every salt starts with a secret of this Prosody process, kept in the
-- prosody table across unloads and loads (and taken by another copy of
-- the module): an answer to any load's iq is recognised as ours by it,
-- and a client's own iq ids, which do not hold it, never are.
local id_secret = rawget(prosody, "mucjoins_id_secret");
if type(id_secret) ~= "string" or #id_secret == 0 then
	id_secret = short_id() .. short_id();
	rawset(prosody, "mucjoins_id_secret", id_secret);
end
local ping_salt = id_secret .. short_id();
local ping_salts = { ping_salt }; -- newest first
local MAX_PING_SALTS = 16;
local refused_seen = {}; -- refusal counters already added to the metric
local pings_seen = {}; -- self-ping outcome counters already added to the metric
local reloading = false;
-- a write of rooms_joined here failed (out of memory, another module's
-- table refusing it): the next tick has the tracker rewrite them all
local rooms_behind = false;
local restored = false; -- module.restore() ran: a reload, nothing to adopt
-- for out_filter: seen[stanza] = true, seen[to] = stanza (the binding's
-- hooks write them); weak in keys and values, so it keeps no stanza alive
local seen_at_presence_full = setmetatable({}, { __mode = "kv" });

-- Metrics.

local joins_metric = module:metric("counter", "joins", "",
	"Rooms joined by local sessions", {}):with_labels();
local leaves_metric = module:metric("counter", "leaves", "",
	"Rooms left, by reason", { "reason" });
local failures_metric = module:metric("counter", "join_failures", "",
	"Joins that failed, by reason", { "reason" });
local mentions_metric = module:metric("counter", "mentions", "",
	"Groupchat messages mentioning a session", {}):with_labels();
local pings_metric = module:metric("counter", "self_pings", "",
	"Self-pings by outcome", { "outcome" });
local rooms_metric = module:metric("gauge", "rooms_tracked", "",
	"Rooms shown in rooms_joined", {}):with_labels();
local refused_metric = module:metric("counter", "refused", "",
	"Presences refused (forged, bad JID, over a bound)", { "kind" });

-- Applying what the core decided.

-- The unavailable self-presence the core asks to send when the session
-- could not see its leave (ev.notice: status codes, item attributes, and
-- the nick it comes from: the one the room knows the session by, which
-- after a 303 not yet followed by the new self-presence is the announced
-- one, not ev.nick).
local function send_notice(session, ev)
	local notice = ev.notice;
	local presence = st.presence({
		type = "unavailable";
		from = ev.room .. "/" .. (notice.nick or ev.nick);
		to = ev.jid;
	});
	presence:tag("x", { xmlns = NS_MUC_USER });
	presence:tag("item", { affiliation = notice.affiliation, role = notice.role }):up();
	for _, code in ipairs(notice.status) do
		presence:tag("status", { code = code }):up();
	end
	session.send(presence);
end

local function send_self_ping(ev)
	local id = "mjping-" .. ev.ping_id .. "-" .. ping_salt;
	local iq = st.iq({ type = "get", id = id, from = ev.jid, to = ev.room .. "/" .. ev.nick });
	iq:tag("ping", { xmlns = NS_PING });
	module:send(iq);
end

local own_answers_wanted; -- own_answers on presence/full or off (below, with the hooks)

-- A leave our own server bounced while the link to the room's domain
-- was down: the room never saw it. The core hands it over once a link
-- to that domain is up; sent on the session's behalf, as mod_presence
-- sends a session's unavailable to the JIDs it sent presence to, with
-- the id the core chose: an answer carrying it (our server's bounce, the
-- room's unavailable self-presence where the room reflects ids) is the
-- module's own traffic, which hooks.own_answers keeps from the client
-- (hooked from before the send: our server may bounce it at once).
local function send_owed_leave(ev)
	own_answers_wanted(true);
	module:send(st.presence({ type = "unavailable", id = ev.id, from = ev.jid, to = ev.room .. "/" .. ev.nick }));
end

local function log_change(ev)
	local why = "";
	if ev.reason and ev.condition then
		why = " (" .. ev.reason .. "/" .. ev.condition .. ")";
	elseif ev.reason then
		why = " (" .. ev.reason .. ")";
	end
	local nick = tostring(ev.nick);
	if ev.old_nick then -- nick-changed, nick-rewritten (the nick asked)
		nick = ev.old_nick .. " -> " .. nick;
	end
	module:log("info", "%s %s %s as %s%s", ev.jid, ev.type, ev.room, nick, why);
end

local function write_room(rooms, room, nick)
	rooms[room] = nick;
end

-- The text of a caught error, for a log line. What another module raises
-- (its muc-joins/* handler, its rooms_joined table refusing a write) may
-- be an object whose __tostring raises too (another object, at every
-- level): the log line would raise in turn, out of the batch and out of
-- the tick that applies it.
local function error_text(err)
	local ok, text = pcall(tostring, err);
	if ok then
		return text;
	end
	return "an error that cannot be shown (a " .. type(err) .. " whose __tostring fails)";
end

-- One event: session.rooms_joined (unless the binding wrote it:
-- ev.applied), what the core asks to send, and muc-joins/<type> for other
-- modules (the metrics come from t:counts()). stanza: the one that caused
-- it, if any.
local function apply_event(ev, session, stanza)
	local ev_type = ev.type;
	if ev_type == "log" then
		module:log(ev.level, "%s", ev.msg);
		return;
	end
	local target = session or full_sessions[ev.jid];
	if not target then
		return;
	end
	local rooms = target.rooms_joined;
	if type(rooms) ~= "table" then
		-- another module removed it (or put something that is not a
		-- table there): made again with every room the core shows, not
		-- only this event's. A table put in its place is taken as it is.
		rooms = {};
		for _, info in ipairs(tracker:rooms(ev.jid)) do
			if info.nick then
				rooms[info.room] = info.nick;
			end
		end
		target.rooms_joined = rooms;
	end
	target.joined_rooms = rooms; -- the seed README's spelling
	local writes = ev_type == "joined" or ev_type == "nick-changed" or ev_type == "left";
	if writes and not ev.applied then
		local nick = ev.nick;
		if ev_type == "left" then
			nick = nil;
		end
		-- protected: another module's proxy that refuses the write costs
		-- that write only, not the notice and the event below
		local ok, err = pcall(write_room, rooms, ev.room, nick);
		if not ok then
			rooms_behind = true;
			module:log("warn", "rooms_joined of %s refused %s (another module's table): %s",
				tostring(ev.jid), tostring(ev.room), error_text(err));
		end
	end
	if ev_type == "left" and ev.notice then
		send_notice(target, ev);
	elseif ev_type == "ping-needed" then
		send_self_ping(ev);
	elseif ev_type == "leave-needed" then
		send_owed_leave(ev);
	end
	if log_changes and ev_type ~= "mention" then
		log_change(ev);
	end
	ev.session = target;
	ev.stanza = stanza;
	-- protected: a handler of another module that raises fails alone;
	-- the tracking (rooms_joined, above) is done by then
	local ok, err = pcall(module.fire_event, module, "muc-joins/" .. ev_type, ev);
	if not ok then
		module:log("error", "a muc-joins/%s handler failed (tracking not affected): %s", ev_type, error_text(err));
	end
end

-- Each event on its own: a failure (say, another module's muc-joins/*
-- handler raising) is logged and the events after it are still applied.
local function apply_events(events, session, stanza)
	for i = 1, #events do
		local ok, err = pcall(apply_event, events[i], session, stanza);
		if not ok then
			rooms_behind = true;
			module:log("error", "applying a mucjoins %s event failed: %s", tostring(events[i].type), error_text(err));
		end
	end
end

-- Never raise inside a Prosody hook: failures are logged and the stanza
-- goes on. result, events: what a tracker method returned (nil and a
-- message when the core failed). Returns the result.
-- A failure about a session is logged once per session and message. The
-- rooms of a session whose JID the core cannot prepare (a resource
-- Prosody binds with a run of more than 30 combining marks) are not
-- tracked: that is the user's input, logged at warn, and each presence
-- the session sends would otherwise log a line. Anything else (out of
-- memory, an error in the module) is logged at error level, once per
-- session too.
local BAD_SESSION_JID = "malformed JID"; -- mj_strerror(MJ_EJID), checked by tests/lua/test_binding.lua
local failures_logged = setmetatable({}, { __mode = "k" }); -- session -> { [method and message] = true }

local function log_failure(method, session, err)
	if type(session) ~= "table" then
		-- A link event's domain the core refuses (one that holds '@' or
		-- '/' once prepared, or a run of more than 30 combining marks,
		-- which Prosody's nameprep may take) cannot be a tracked room's:
		-- nothing to do. At error level, every stream of such a domain
		-- wrote a line per host.
		local level = "error";
		if err == BAD_SESSION_JID and (method == "link_lost" or method == "link_up") then
			level = "debug";
		end
		module:log(level, "mucjoins %s failed: %s", method, err);
		return;
	end
	local logged = failures_logged[session];
	if logged == nil then
		logged = {};
		failures_logged[session] = logged;
	end
	local key = method .. " " .. tostring(err);
	if logged[key] then
		return;
	end
	logged[key] = true;
	if err == BAD_SESSION_JID then
		-- what it means for the operator: nothing to fix on the server
		module:log("warn", "mucjoins %s failed for %s: %s: the JID this session was bound to "
			.. "cannot be prepared (its resource has, say, a run of more than 30 combining marks), "
			.. "so its rooms are not tracked (not logged again for this session)",
			method, tostring(session.full_jid), err);
		return;
	end
	module:log("error", "mucjoins %s failed for %s: %s (not logged again for this session)",
		method, tostring(session.full_jid), err);
end

local function applied(method, session, stanza, result, events)
	if result == nil then
		log_failure(method, session, events);
		return nil;
	end
	if events then
		local ok, err = pcall(apply_events, events, session, stanza);
		if not ok then
			rooms_behind = true;
			module:log("error", "applying mucjoins events of %s failed: %s", method, error_text(err));
		end
	end
	return result;
end

-- Call a tracker method returning (result, events) or (result) with
-- the arguments after stanza; session and stanza are what its events are
-- about (either may be nil).
local function call(method, session, stanza, ...)
	local ok, result, events = pcall(tracker[method], tracker, ...);
	if not ok then
		log_failure(method, session, result);
		return nil;
	end
	return applied(method, session, stanza, result, events);
end

-- close and tick return the events alone.
local function call_for_events(method, session, ...)
	local ok, events = pcall(tracker[method], tracker, ...);
	if not ok then
		module:log("error", "mucjoins %s failed: %s", method, events);
		return;
	end
	applied(method, session, nil, true, events);
end

-- The metrics of events, from the binding's counts (t:counts()), when
-- statistics are collected and on every tick.
local counted = { joined = 0; mention = 0; left = {}; ["join-failed"] = {} };

local function sync_metrics()
	local ok, counts = pcall(tracker.counts, tracker);
	if not ok then
		return;
	end
	joins_metric:add(counts.joined - counted.joined);
	mentions_metric:add(counts.mention - counted.mention);
	for reason, n in pairs(counts.left) do
		leaves_metric:with_labels(reason):add(n - (counted.left[reason] or 0));
	end
	for reason, n in pairs(counts["join-failed"]) do
		local before = counted["join-failed"][reason] or 0;
		failures_metric:with_labels(reason):add(n - before);
	end
	-- in place: module.save() hands this very table to the next load
	counted.joined = counts.joined;
	counted.mention = counts.mention;
	counted.left = counts.left;
	counted["join-failed"] = counts["join-failed"];
end

module:hook_global("stats-update", sync_metrics);

-- A local MUC sends join errors, and the not-acceptable refusal of a
-- groupchat message from someone who is no occupant (a ghost), with
-- origin.send(): they only show in the session's outgoing filter. It
-- answers the stanza that asked (while it is routed, unless a module of
-- the MUC waits), so the filter is on a session only from a presence it
-- sends to a room the tracker follows or a groupchat message to a room
-- it is in (watch(), which the hooks call before the stanza is routed)
-- until a tick finds that it sent none for pending_timeout
-- (unwatch_idle()), when the core has given up waiting for answers
-- anyway: a session sitting silently in its rooms pays nothing per
-- stanza it is sent.
--
-- The filter is never taken off a session while a call of it is under
-- way there: Prosody walks a session's filter list with its length read
-- once, so a removal from inside it (a muc-joins/* handler that reloads
-- or unloads the module, or one that waits and is resumed after a tick)
-- would skip the next filter and call a missing one, losing the stanza.
-- Such a session keeps it until the call is over (the next tick takes it
-- off then); after an unload it only passes stanzas on.
local in_filter = setmetatable({}, { __mode = "k" }); -- session -> calls under way
local unloaded = false;

-- Whether the hooks fed this stanza already. mod_bosh filters a copy
-- (st.clone, with xmlns set) of every stanza without xmlns: a copy of the
-- last error the hooks fed to the session is known by what it says. That
-- record serves one delivery: the copy comes through the filter at once
-- (the hook runs just before the stanza is delivered), so the first
-- error through the filter after it ends it, and so does watch() (an
-- error fed while the filter was off left it: a later error with the
-- same attributes, a local MUC's refusal of a join, is no copy of it).
local function fed_at_full(stanza, full_jid)
	local original = seen_at_presence_full[full_jid];
	seen_at_presence_full[full_jid] = nil;
	if seen_at_presence_full[stanza] then
		return true;
	end
	if original == nil or stanza.attr.xmlns ~= "jabber:client" or original.attr.xmlns ~= nil then
		return false;
	end
	local a = stanza.attr;
	local b = original.attr;
	return stanza.name == original.name and a.from == b.from and a.to == b.to and a.id == b.id;
end

local function out_filter(stanza, session)
	-- mod_bosh passes strings (its buffered output) through the filters
	if unloaded or type(stanza) ~= "table" or type(stanza.attr) ~= "table" then
		return stanza;
	end
	if stanza.attr.type ~= "error" then
		return stanza;
	end
	if stanza.name ~= "presence" and stanza.name ~= "message" then
		return stanza;
	end
	local full_jid = session.full_jid;
	if type(full_jid) ~= "string" or fed_at_full(stanza, full_jid) then
		return stanza;
	end
	in_filter[session] = (in_filter[session] or 0) + 1;
	call("incoming", session, stanza, session.full_jid, stanza);
	local left = in_filter[session] - 1;
	if left > 0 then
		in_filter[session] = left;
	else
		in_filter[session] = nil;
	end
	return stanza;
end

-- session -> time of its last watch(), or, once a tick has ended the
-- watch epoch of that call, that tick's time (unwatch_idle())
local filtered = setmetatable({}, { __mode = "k" });
-- when the binding's watch epoch under way began (the tick before)
local epoch_began = monotonic();

-- The hook calls it once per session between two ticks (t:tick() starts
-- a new watch epoch in the binding). add_filter() every time: it returns
-- at once when the filter is there, and a resumed stream (mod_smacks)
-- hands the session a new filter table.
local function watch(session)
	if session.type ~= "c2s" then
		return;
	end
	filters.add_filter(session, "stanzas/out", out_filter, 500);
	filtered[session] = monotonic();
	local full_jid = session.full_jid;
	if type(full_jid) == "string" then
		seen_at_presence_full[full_jid] = nil; -- fed_at_full()
	end
end

-- Off one session. util.filters keeps a list per session and type, made
-- by the first add_filter(): when ours was its only filter, the empty list
-- goes too (session.filter() passes everything on where there is none),
-- or every session that ever joined a room would keep one for its life.
local function unwatch(session)
	filters.remove_filter(session, "stanzas/out", out_filter);
	local lists = session.filters;
	if type(lists) ~= "table" then
		return;
	end
	local list = lists["stanzas/out"];
	if type(list) == "table" and next(list) == nil then
		lists["stanzas/out"] = nil;
	end
end

-- Every tick, with the time taken before t:tick() ended the watch epoch:
-- off where the session sent no followed presence for pending_timeout
-- (and no call of the filter is under way there). The hooks call watch()
-- for a session's first such presence in an epoch only, so one watched
-- in the epoch that just ended may have sent more until its end: its time
-- becomes the end's (before the fix, a second join in the same epoch lost the
-- filter up to a tick before its own answer was due). A Lua table does
-- not shrink when its keys are removed: once every session is off,
-- filtered starts again empty.
local function unwatch_idle(ended)
	local began = epoch_began;
	epoch_began = ended;
	local idle_since = monotonic() - config.pending_timeout;
	local on = false;
	for session, last in pairs(filtered) do
		if last > began then
			filtered[session] = math.max(last, ended);
			on = true;
		elseif last < idle_since and not in_filter[session] then
			filtered[session] = nil;
			unwatch(session);
		else
			on = true;
		end
	end
	if not on then
		filtered = setmetatable({}, { __mode = "k" });
	end
end

-- A resumed stream (mod_smacks) brings the new connection's filter table:
-- the filter goes back on at once where it was on, as the binding marks
-- a session watched once per epoch and would not call watch() again
-- before the next tick. mod_smacks fires this after re-sending what the
-- client had not acknowledged, which went through the old table (and our
-- filter in it) when first sent: nothing is fed twice.
module:hook("smacks-hibernation-end", function(event)
	local session = event.resumed;
	if session and filtered[session] then
		pcall(watch, session);
	end
end);

-- At unload: off everywhere but where a call of it is under way; there it
-- stays, passing everything on, until the session ends (taking it off
-- later could still cut a walk of the list: one another load's filter
-- started and that waits in an async handler).
local function unwatch_all()
	unloaded = true;
	for session in pairs(filtered) do
		if not in_filter[session] then
			unwatch(session);
		end
	end
	filtered = setmetatable({}, { __mode = "k" });
end

-- What sessions send and receive: the hot path. The hooks are the
-- binding's own C functions (t:hooks(), bound to the tracker), one C call
-- per stanza. They never raise and return nothing; they write
-- rooms_joined themselves and call applied() only when events come back
-- or the core failed, and watch() when a session sends a presence the
-- tracker follows (a join, a nick change, an update, a leave) or a
-- groupchat message to a room it is in. What each
-- does:
--   outgoing: for event.origin, a c2s session not destroyed (one destroyed
--     was closed at resource-unbind);
--   incoming: for full_sessions[stanza.attr.to] of this host; an error
--     presence or message is first marked in seen_at_presence_full (for
--     out_filter);
--   *_message: the same, skipping the types the core never reads
--     (mj.reads);
--   own_answers: returns true (stops it) for the presence incoming found
--     last to answer a leave the module sent again (send_owed_leave()),
--     carrying its id.
local hooks = tracker:hooks(full_sessions, module_host, seen_at_presence_full, applied, watch);

-- What a session sends is read once every module that may stop it has
-- had its turn: a presence a module bounces never reaches the room, and
-- the session stays in it. Prosody 0.12's mod_blocklist bounces what goes
-- to a blocked JID at pre-presence/bare and /host at priority -1 (at 100
-- elsewhere); mod_firewall's preroute chain runs at 0.1; mod_presence
-- (0) stops subscriptions, which the core does not read.
local OUTGOING_PRIORITY = -2;
for _, to in ipairs({ "full", "bare", "host" }) do
	module:hook("pre-presence/" .. to, hooks.outgoing, OUTGOING_PRIORITY);
	module:hook("pre-message/" .. to, hooks.outgoing_message, OUTGOING_PRIORITY);
end
-- A room's presence is read before any module may drop it: the room
-- sent it, and what it says about the session holds whether or not the
-- client gets it (mod_blocklist drops what a blocked JID sends at 100,
-- mod_privacy_lists at 500; mod_presence delivers it at 0). Messages are
-- read where they are delivered, after every module that may drop them
-- (mod_blocklist at 100, mod_block_strangers at 200, mod_firewall's
-- deliver chain at 0.1) and before mod_message and mod_mam (0): a
-- mention the client is never sent is none.
local INCOMING_PRESENCE_PRIORITY = 1000;
local INCOMING_MESSAGE_PRIORITY = 0.05;
module:hook("presence/full", hooks.incoming, INCOMING_PRESENCE_PRIORITY);

-- The answer to a leave the module sent again (send_owed_leave()) that
-- carries its id is the module's own traffic: stopped by
-- hooks.own_answers, just after the tracking hook (which never stops a
-- stanza) marked it, before any other module; the client left that room
-- already. Hooked only while a leave sent again may still be answered
-- (t:stats().leaves_answerable: waiting for its answer, or owed again;
-- a tick takes it off): other presences pay nothing for it then (a
-- room that never answers keeps it on up to a day: one C call each).
local OWN_ANSWERS_PRIORITY = INCOMING_PRESENCE_PRIORITY - 0.01;
local own_answers_hooked = false;
function own_answers_wanted(on)
	if on == own_answers_hooked then
		return;
	end
	own_answers_hooked = on;
	if on then
		module:hook("presence/full", hooks.own_answers, OWN_ANSWERS_PRIORITY);
	else
		module:unhook("presence/full", hooks.own_answers);
	end
end

-- Once the module has loaded (a reload keeps the tracker and what it
-- waits for); the tick does the same from the t:stats() it reads for the
-- metrics.
local function refresh_own_answers()
	local ok, stats = pcall(tracker.stats, tracker);
	if ok then
		own_answers_wanted(stats.leaves_answerable > 0);
	end
end
module:hook("message/full", hooks.incoming_message, INCOMING_MESSAGE_PRIORITY);

-- Whether another module listens to our muc-joins/* events: when nobody
-- does, the binding builds no event tables for what it applies itself.
-- (The core's log records go to the module's log, not to an event.)
local host_events = (prosody.hosts[module.host] or prosody).events;
local event_types = {
	"joined", "left", "nick-changed", "nick-rewritten", "join-failed",
	"ping-needed", "mention", "leave-needed",
};

local function refresh_listening()
	local listening = log_changes;
	for _, ev_type in ipairs(event_types) do
		if host_events.get_handlers("muc-joins/" .. ev_type) ~= nil then
			listening = true;
		end
	end
	hooks.listen(listening);
end

module:hook("module-loaded", refresh_listening);
module:hook("module-unloaded", refresh_listening);

module:hook("resource-unbind", function(event)
	local session = event.session;
	if session.full_jid then
		call_for_events("close", session, session.full_jid);
	end
end, 10);

-- Self-pings, CSI and push, the admin shell. Each gets a getter for the
-- tracker, which a reload replaces.

local function get_tracker()
	return tracker;
end

-- The ping id of one of our self-pings' iq ids, or nil.
local function our_ping_id(iq_id)
	if type(iq_id) ~= "string" then
		return nil; -- another module's stanza: ids from the wire are strings
	end
	local digits, salt = string.match(iq_id, "^mjping%-(%d+)%-(.+)$");
	local ping_id = digits and math.tointeger(tonumber(digits));
	if not ping_id or ping_id < 1 or ping_id > 0xffffffff then
		return nil; -- not ours (the core's ping ids are 32-bit)
	end
	for _, known in ipairs(ping_salts) do
		if salt == known then
			return ping_id;
		end
	end
	return nil;
end

-- The pings that wait for their domain's budget go once answers have
-- freed it (t:send_ready()), on the next turn of the event loop: not
-- from inside the answer's hook (a local MUC answers a ping while it is
-- being sent, so each answer would send the next one from inside the
-- last), and once however many answers came meanwhile. Left to the
-- tick, a lost link's check of N rooms on one domain sent ping_budget
-- pings per tick (every 5 s): 1,000 rooms took four minutes however
-- fast the room answered.
local send_ready_due = false;
local function send_ready_soon()
	if send_ready_due then
		return;
	end
	send_ready_due = true;
	module:add_timer(0, function()
		send_ready_due = false;
		call_for_events("send_ready", nil);
	end);
end

module:require("selfping")({
	tracker = get_tracker;
	our_ping_id = our_ping_id;
	call = call;
	send_ready_soon = send_ready_soon;
	metric = pings_metric;
	salt = ping_salt;
	id_secret = id_secret;
	ping_timeout = config.ping_timeout;
});
module:require("wake")({
	tracker = get_tracker;
	csi_hold_chatter = csi_hold_chatter;
	csi_hold_chatter_set = csi_hold_chatter_set;
	push_mentions_only = push_mentions_only;
});
local shell_unload = module:require("shell")(get_tracker, mj.version);

-- Time: timeouts and scheduled pings, and the metrics read from the core.

local ping_outcome_stats = {
	joined = "pings_joined";
	["not-joined"] = "pings_not_joined";
	unknown = "pings_unknown";
};

-- stats: t:stats(), read once for this and the tick's other uses.
local function update_metrics_from(stats)
	rooms_metric:set(stats.rooms_shown);
	for _, kind in ipairs({ "forged", "bad_jids", "limits" }) do
		local before = refused_seen[kind] or 0;
		if stats[kind] > before then
			-- (no sample until the first one, as for the other labels)
			refused_metric:with_labels(kind):add(stats[kind] - before);
		end
		refused_seen[kind] = stats[kind];
	end
	-- Self-ping outcomes from the core's counts, which also count the
	-- pings nobody answered within ping_timeout ("unknown"); only the
	-- stale answers are counted where they arrive (selfping.lib.lua).
	for outcome, key in pairs(ping_outcome_stats) do
		local before = pings_seen[key] or 0;
		if stats[key] > before then
			pings_metric:with_labels(outcome):add(stats[key] - before);
		end
		pings_seen[key] = stats[key];
	end
end

local function update_metrics()
	local ok, stats = pcall(tracker.stats, tracker);
	if ok then
		update_metrics_from(stats);
	end
end

-- Often enough for the shortest timer the options ask for.
local tick_every = math.min(5, config.pending_timeout / 4, config.ping_start_delay / 2,
	config.ping_timeout / 4, config.ping_backoff / 2);
tick_every = math.max(0.5, tick_every);

-- A scrape reads them all as of now: the counters of events are synced
-- above, and the gauge and the refusals here (else one scrape could show
-- a join counted and rooms_tracked not yet moved).
module:hook_global("stats-update", update_metrics);

local function tick()
	local ended = monotonic();
	call_for_events("tick", nil);
	if module.loaded == false then
		-- a muc-joins/* handler unloaded or reloaded the module: the
		-- metrics and the filters are the next load's now (this one
		-- would set the gauge unload() zeroed, or count twice)
		return;
	end
	-- records lost for lack of memory (t:stats().dropped_events), or a
	-- write here that failed, may have left rooms_joined behind the core:
	-- rewritten from its state
	local behind = rooms_behind;
	rooms_behind = false;
	local ok, fixed = pcall(tracker.resync, tracker, full_sessions, behind);
	if not ok then
		rooms_behind = behind;
	elseif fixed > 0 then
		module:log("warn", "rooms_joined: %d entries corrected from the tracker's state "
			.. "(writes were lost: out of memory, or refused by another module's table)", fixed);
	end
	pcall(unwatch_idle, ended);
	refresh_listening();
	sync_metrics();
	local stats_ok, stats = pcall(tracker.stats, tracker);
	if stats_ok then
		if own_answers_hooked then
			own_answers_wanted(stats.leaves_answerable > 0);
		end
		update_metrics_from(stats);
	end
end

-- Prosody's util.timer schedules a timer again only when its function
-- returns a number: an error in one tick must not end them all (the
-- timeouts, the self-pings, the filter coming off, the metrics).
local tick_failed = false;
local function on_tick()
	local ok, err = pcall(tick);
	if not ok then
		module:log(tick_failed and "debug" or "error", "mucjoins tick failed: %s", error_text(err));
		tick_failed = true;
	end
	return tick_every;
end
module:add_timer(tick_every, on_tick);

-- Reloads: the core's state lives in the tracker; keep it, and the salts
-- of our outstanding pings and the counters.

-- A reload that cannot load is refused while this load still runs: Prosody
-- aborts a reload whose module.save() raises (unless force_module_reload
-- is set: then the new load is refused as a first load is, and the host
-- is left without the module), and this module goes on tracking. What
-- the reload would load is found as Prosody's plugin loader finds it
-- (modulemanager's loader, with its filter of a file's metadata:
-- installer_plugin_path, plugin_paths, then Prosody's own folder). If it
-- is this module (of any version: it opens luaopen_mucjoins), its folder
-- must hold the files that version needs (its own list, read from its
-- file: a version may need others than this one), and the mucjoins.so
-- the reload would run from there must be of the interface its Lua files
-- are written for. That library is asked for as the new load will ask:
-- Lua keeps a loaded library by path, so in this folder, or in another
-- this process loaded from before (a rock installed, then removed), it is
-- the one in memory, whatever the file is now; elsewhere, the file, which
-- must load.
local function find_module_file()
	local loader = require("core.modulemanager").loader;
	if type(loader) == "table" then
		return loader:load_resource(module.name);
	end
	return require("util.pluginloader").load_resource(module.name);
end

local function reload_problem()
	local found, content, path = pcall(find_module_file);
	if not found or type(content) ~= "string" or type(path) ~= "string" then
		return nil; -- Prosody's own loader says what it found
	end
	local dir = path:match("^(.*)/[^/]*$");
	if dir == nil or not content:find("luaopen_mucjoins", 1, true) then
		return nil; -- another module of this name (the community one): its own files
	end
	local files = { "mucjoins.so" };
	local list = content:match("files = files or (%b{});") or content:match("local files = (%b{});");
	if list then
		for name in list:gmatch('"([^"]+)"') do
			if name ~= "mucjoins.so" then
				files[#files + 1] = name;
			end
		end
	end
	local problem = folder_problem(dir, files);
	if problem then
		return problem;
	end
	local binding_path = dir .. "/mucjoins.so";
	local open, err, in_memory = open_binding(binding_path);
	if not open then
		return err;
	end
	local opened, lib = pcall(open);
	local interface = opened and type(lib) == "table" and rawget(lib, "interface") or nil;
	local wanted = tonumber(content:match("local BINDING_INTERFACE = (%d+);"));
	if wanted == interface then
		return nil;
	end
	if in_memory then
		return ("%s is written for another mucjoins.so (interface %s) than the one this "
			.. "Prosody runs from %s (interface %s): Lua keeps a loaded library; restart "
			.. "Prosody to run the new version"):format(path, tostring(wanted or "none"),
			binding_path, tostring(interface or "none"));
	end
	return ("%s is of another version than the folder's Lua files (interface %s, they need %s): "
		.. "copy the whole folder of one build (make install)"):format(binding_path,
		tostring(interface or "none"), tostring(wanted or "none"));
end

function module.save()
	local problem = reload_problem();
	if problem then
		-- with force_module_reload Prosody goes on with the reload (as it
		-- reads the option: any true value, on the host or globally)
		if module:get_option("force_module_reload") then
			refuse_load("The reload will not load (force_module_reload is set: Prosody goes on "
				.. "with it and the host is left without the module until a load that works): "
				.. problem);
		end
		refuse_load("Not reloaded, the loaded version goes on running: " .. problem);
	end
	reloading = true;
	return {
		tracker = tracker;
		ping_salts = ping_salts;
		refused_seen = refused_seen;
		pings_seen = pings_seen;
		counted = counted;
	};
end

-- Every room on these domains (a set) checked as after a lost link: a
-- self-ping per shown room after ping_start_delay (take-over, adoption).
local function check_domains(domains)
	for domain in pairs(domains) do
		call("link_lost", nil, nil, domain);
	end
end

-- A tracker saved by another copy of mucjoins.so (the reload found the
-- module in another folder: a rock installed into installer_plugin_path,
-- which Prosody searches first) cannot be bound: this load keeps its own
-- tracker and takes every room of every session over from the saved one,
-- in the state it is in (joins, nick changes and leaves in flight), read
-- through the saved tracker's own methods. What those do not show is not
-- carried: a join cancelled by a leave looks like a join in flight, a
-- leave loses its id, self-pings in flight are lost; so every room's
-- domain is checked as after a lost link (a self-ping per shown room
-- after ping_start_delay), as a load after an unload does. A room this
-- tracker refuses leaves rooms_joined. The saved ping ids, salts and
-- counters are the old tracker's: not kept (its pings' answers are stale;
-- the metrics count this tracker's from zero).
local function take_over(saved)
	local moved = 0;
	local domains = {};
	for _, jid in ipairs(saved:sessions()) do
		for _, info in ipairs(saved:rooms(jid)) do
			local ok, done = pcall(tracker.restore, tracker, jid, info.room, info.state, info.nick,
				info.pending_nick, info.since);
			if ok and done then
				moved = moved + 1;
				domains[jid_host(info.room)] = true;
			elseif info.nick then
				local session = full_sessions[jid];
				if session and type(session.rooms_joined) == "table" then
					session.rooms_joined[info.room] = nil;
				end
			end
		end
	end
	check_domains(domains);
	return moved;
end

function module.restore(data)
	local saved = data and data.tracker;
	if saved == nil then
		-- Not saved by this module: a reload from another module of the
		-- same name (the community mod_track_muc_joins has no
		-- module.save(), and Prosody then restores {}). The sessions'
		-- rooms_joined hold what that module recorded: adopt them, as
		-- after an unload.
		return;
	end
	restored = true;
	if not pcall(hooks.bind, saved) then
		local ok, moved = pcall(take_over, saved);
		if ok then
			module:log("warn", "The tracker of the previous load is another copy of mucjoins.so's "
				.. "(the module was loaded from another folder): its %d rooms were moved to a new one, "
				.. "each checked by self-ping", moved);
		else
			module:log("warn", "The tracker of the previous load is another copy of mucjoins.so's "
				.. "and could not be read (%s): adopting the sessions' rooms_joined", moved);
			restored = false;
		end
		return;
	end
	tracker = saved;
	pcall(tracker.configure, tracker, config);
	if data.ping_salts then
		-- ours first, then the saved ones newest first
		for _, salt in ipairs(data.ping_salts) do
			if #ping_salts < MAX_PING_SALTS and salt ~= ping_salt then
				table.insert(ping_salts, salt);
			end
		end
	end
	if data.refused_seen then
		refused_seen = data.refused_seen;
	end
	if data.counted then
		counted = data.counted;
	end
	if data.pings_seen then
		pings_seen = data.pings_seen;
	else
		-- saved by a load that counted the outcomes as the answers came
		local ok, stats = pcall(tracker.stats, tracker);
		if ok then
			pings_seen = {};
			for _, key in pairs(ping_outcome_stats) do
				pings_seen[key] = stats[key];
			end
		end
	end
	-- the answers to the leaves the previous load sent again
	refresh_own_answers();
end

function module.unload()
	-- Prosody keeps an unloaded module's metric families: once no load
	-- of this module tracks this host's rooms (after an unload, or a
	-- reload whose next load is another module of the same name), the
	-- gauge goes to 0
	shell_unload(reloading, function()
		rooms_metric:set(0);
	end);
	unwatch_all();
	if reloading then
		return;
	end
	module:log("info", "Unloaded: session.rooms_joined tables are left as they are "
		.. "and no longer updated (a later load adopts them)");
end

-- A load that is not a reload, after an earlier load of the module was
-- unloaded: the sessions' rooms_joined tables still hold what that load
-- showed, not updated since. They are adopted rather than left stale for
-- ever: each room restored as joined under its nick, and every room's
-- domain checked as after a lost link (a self-ping per room after
-- ping_start_delay), which ends the rooms the sessions left meanwhile. An
-- entry the tracker cannot hold (not a room JID, not a string) is removed
-- (restoring does not apply max_rooms and max_pending: what the earlier
-- load showed is kept whole).
-- module.restore() runs right after this file, so this waits a turn.
-- adopt_session(): one session's rooms_joined (a table): each room the
-- tracker takes is counted in adopted[1] and its domain put in domains,
-- the others removed.
local function adopt_session(session, rooms, now, domains, adopted)
	local dropped = {};
	for room, nick in pairs(rooms) do
		local ok, held = false, nil;
		if type(room) == "string" and type(nick) == "string" then
			ok, held = pcall(tracker.restore, tracker, session.full_jid, room, "joined", nick, nil, now);
		end
		if ok and held then
			adopted[1] = adopted[1] + 1;
			domains[jid_host(room)] = true;
		else
			dropped[#dropped + 1] = room;
		end
	end
	for _, room in ipairs(dropped) do
		rooms[room] = nil;
	end
	session.joined_rooms = rooms; -- the other name of the same table
end

local function adopt_leftovers()
	if restored then
		return;
	end
	local now = monotonic();
	local domains = {};
	local adopted = { 0 };
	for _, session in pairs(full_sessions) do
		local rooms = session.host == module.host and session.type == "c2s" and session.rooms_joined;
		if type(rooms) == "table" and type(session.full_jid) == "string" then
			-- each session on its own: another module's table that
			-- refuses a write (or to be walked) costs that session's
			-- adoption only, not every other session's and the checks
			local ok, err = pcall(adopt_session, session, rooms, now, domains, adopted);
			if not ok then
				module:log("warn", "adopting rooms_joined of %s failed (another module's table): %s",
					session.full_jid, error_text(err));
			end
		end
	end
	check_domains(domains);
	if adopted[1] > 0 then
		module:log("info", "Adopted %d rooms left in rooms_joined by an earlier load; "
			.. "each is checked by self-ping", adopted[1]);
	end
end
module:add_timer(0, function()
	local ok, err = pcall(adopt_leftovers);
	if not ok then
		module:log("error", "adopting rooms_joined of an earlier load failed: %s", error_text(err));
	end
end);

refresh_listening();
module:log("info", "mucjoins %s tracking MUC joins "
	.. "(max_rooms=%d, max_pending=%d, pending_timeout=%gs)",
	mj.version, config.max_rooms, config.max_pending, config.pending_timeout);

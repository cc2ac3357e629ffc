-- Test-only module for the mucjoins integration tests. NEVER load it on a
-- real server: any client may read any session's rooms and reload modules.
--
-- Load on the VirtualHost next to track_muc_joins. A client sends an iq to
-- its own host (to='localhost'):
--
--  * get <query xmlns='urn:mucjoins:test' jid='full JID (default: asker)'/>
--    -> <query jid session='present|absent' table='<type of rooms_joined>'
--              joined_rooms='same|nil|other' hibernating='true|false'
--              tracker_loaded='true|false' out_filters='N'>
--       (out_filters: how many stanzas/out filters the session has)
--         <room jid='key' nick='tostring(value)' type='type(value)'
--               keytype='type(key)'/>...
--       </query>
--  * get <events xmlns='urn:mucjoins:test' since='N'/>
--    -> <events last='M'><event seq name session room nick reason .../></events>
--       every muc-joins/* host event seen since this module loaded (seq > N);
--       string/number/boolean fields become attributes, session becomes its
--       full_jid, other tables their type.
--  * set <reload xmlns='urn:mucjoins:test' module='track_muc_joins'/>
--    -> empty result after modulemanager.reload(host, module), or an error
--       with the failure text; <unload/> and <load/> the same with
--       modulemanager.unload / modulemanager.load.

local st = require "util.stanza";
local modulemanager = require "core.modulemanager";

local NS = "urn:mucjoins:test";
local full_sessions = prosody.full_sessions;

local event_names = {
	"joined", "left", "nick-changed", "nick-rewritten", "join-failed", "mention",
	"leave-needed",
};

-- Survives reloads of this module only as long as the module is loaded.
local events = {};
local seq = 0;
local MAX_EVENTS = 20000;

local function record(name, data)
	seq = seq + 1;
	local rec = { seq = seq, name = name };
	for k, v in pairs(data) do
		if type(k) == "string" then
			local tv = type(v);
			if k == "session" and tv == "table" then
				rec.session = v.full_jid or "?";
			elseif tv == "string" or tv == "number" or tv == "boolean" then
				rec[k] = tostring(v);
			elseif k ~= "stanza" then
				rec[k] = "<" .. tv .. ">";
			end
		end
	end
	events[#events + 1] = rec;
	if #events > MAX_EVENTS then table.remove(events, 1); end
end

for _, name in ipairs(event_names) do
	module:hook("muc-joins/" .. name, function (event)
		record(name, event);
	end, 1000);
end

module:hook("iq-get/host/" .. NS .. ":query", function (event)
	local origin, stanza = event.origin, event.stanza;
	local q = stanza.tags[1];
	local target = q.attr.jid or origin.full_jid;
	local session = full_sessions[target];
	local attr = { xmlns = NS, jid = target, session = session and "present" or "absent",
		tracker_loaded = modulemanager.is_loaded(module.host, "track_muc_joins") and "true" or "false" };
	local rooms;
	if session then
		attr.hibernating = session.hibernating and "true" or "false";
		local out_filters = session.filters and session.filters["stanzas/out"];
		attr.out_filters = tostring(out_filters and #out_filters or 0);
		rooms = session.rooms_joined;
		attr.table = type(rooms);
		local jr = session.joined_rooms;
		if jr == nil then
			attr.joined_rooms = "nil";
		elseif rawequal(jr, rooms) then
			attr.joined_rooms = "same";
		else
			attr.joined_rooms = "other";
		end
	end
	local reply = st.reply(stanza):tag("query", attr);
	if type(rooms) == "table" then
		local keys = {};
		for k in pairs(rooms) do keys[#keys + 1] = k; end
		table.sort(keys, function (a, b) return tostring(a) < tostring(b); end);
		for _, k in ipairs(keys) do
			local v = rooms[k];
			reply:tag("room", {
				jid = tostring(k), keytype = type(k),
				nick = tostring(v), type = type(v),
			}):up();
		end
	end
	origin.send(reply);
	return true;
end);

module:hook("iq-get/host/" .. NS .. ":events", function (event)
	local origin, stanza = event.origin, event.stanza;
	local since = tonumber(stanza.tags[1].attr.since) or 0;
	local reply = st.reply(stanza):tag("events", { xmlns = NS, last = tostring(seq) });
	for _, rec in ipairs(events) do
		if rec.seq > since then
			local attr = {};
			for k, v in pairs(rec) do attr[k] = tostring(v); end
			reply:tag("event", attr):up();
		end
	end
	origin.send(reply);
	return true;
end);

for _, action in ipairs({ "reload", "unload", "load" }) do
	module:hook("iq-set/host/" .. NS .. ":" .. action, function (event)
		local origin, stanza = event.origin, event.stanza;
		local name = stanza.tags[1].attr.module or "track_muc_joins";
		module:log("info", "Test request: %s %s on %s", action, name, module.host);
		local ok, err = modulemanager[action](module.host, name);
		if ok then
			origin.send(st.reply(stanza));
		else
			origin.send(st.error_reply(stanza, "cancel", "internal-server-error",
				action .. " failed: " .. tostring(err)));
		end
		return true;
	end);
end

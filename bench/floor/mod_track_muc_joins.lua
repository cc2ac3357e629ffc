-- The floor of a MUC join tracker inside Prosody, for bench_server.py
-- --callgrind (not a tracker: it decides and stores nothing). It does
-- what any tracker that gets joins right must do per stanza, in plain
-- Lua: read what the session receives on presence/full (the session,
-- from, type, the muc#user status codes) and look at every stanza sent
-- to a client session for an error presence, which is the only place a
-- local MUC's join errors show (it sends them with origin.send()). A
-- tracker need only look while a session's presence to a room may still
-- be answered (ours does so); in bench_server's join/leave churn that is
-- every session all the time, so the floor looks at all of them.
-- Named like the tracker so that the benchmark's module check finds it.

local filters = require "util.filters";

local full_sessions = prosody.full_sessions;
local NS_MUC_USER = "http://jabber.org/protocol/muc#user";
local sink = 0;

module:hook("presence/full", function(event)
	local stanza = event.stanza;
	local attr = stanza.attr;
	local session = full_sessions[attr.to];
	if not session then
		return;
	end
	local from = attr.from;
	local presence_type = attr.type;
	local tags = stanza.tags;
	for i = 1, #tags do
		local x = tags[i];
		if x.name == "x" and x.attr.xmlns == NS_MUC_USER then
			local children = x.tags;
			for j = 1, #children do
				local status = children[j];
				if status.name == "status" and status.attr.code == "110" then
					sink = sink + 1;
				end
			end
		end
	end
	if from and presence_type then
		sink = sink + 1;
	end
end, 10);

local function out_filter(stanza)
	if stanza.name ~= "presence" or stanza.attr.type ~= "error" then
		return stanza;
	end
	sink = sink + 1;
	return stanza;
end

filters.add_filter_hook(function(session)
	if session.type == "c2s" or session.type == "c2s_unauthed" then
		filters.add_filter(session, "stanzas/out", out_filter, 500);
	end
end);

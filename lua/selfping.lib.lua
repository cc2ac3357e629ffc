-- Self-ping wiring of mod_track_muc_joins (module:require'd by it): the
-- answers to our self-pings, the pings a room forwards to the session, and
-- lost links. Every decision is the core's (mucjoins.so).
local st = require "util.stanza";
local jid_bare = require "util.jid".bare;
local full_sessions = prosody.full_sessions;

-- ctx: tracker() and pings() (both replaced on reload), call(session,
-- method, ...), metric (self_pings counter), salt, ping_timeout.
return function(ctx)
	local call = ctx.call;
	-- Answers to our self-pings (consumed) and pings forwarded to the session (answered for it).
	module:hook("iq/full", function(event)
		local stanza, tracker, pings = event.stanza, ctx.tracker(), ctx.pings();
		local session = full_sessions[stanza.attr.to];
		if not session or session.host ~= module.host then return; end
		local ping = pings:get(stanza.attr.id or "");
		if ping and (stanza.attr.type == "result" or stanza.attr.type == "error") and ping.jid == stanza.attr.to then
			pings:set(stanza.attr.id, nil);
			local function answer(info)
				local verdict = call(full_sessions[ping.jid], "ping_answer_info", ping.jid, stanza, ping.ping_id, info);
				if verdict then ctx.metric:with_labels(verdict):add(1); end
			end
			local ok, needs = pcall(tracker.ping_needs_features, tracker, ping.jid, stanza, ping.ping_id);
			if not (ok and needs) then answer(nil); return true; end
			-- the answer's meaning depends on the room's disco#info: ask it, hand the reply (result or error; nil: none) to the core
			module:send_iq(st.iq({ type = "get", id = "mjdisco-" .. ping.ping_id .. "-" .. ctx.salt, from = ping.jid,
				to = jid_bare(stanza.attr.from) }):query("http://jabber.org/protocol/disco#info"), nil, ctx.ping_timeout)
				:next(function(reply) return reply.stanza; end, function(err) return err.context and err.context.stanza; end)
				:next(answer);
			return true;
		end
		local ok, forwarded = pcall(tracker.is_forwarded_ping, tracker, session.full_jid, stanza);
		if ok and forwarded then module:send(st.reply(stanza)); return true; end
	end, 10);

	local function link_lost(domain) if domain then call(nil, "link_lost", domain); end end
	module:hook_global("s2s-destroyed", function(event)
		local s = event.session;
		link_lost(s.to_host); link_lost(s.from_host);
		for domain in pairs(s.hosts or {}) do link_lost(domain); end
	end);
	local function watch_component(host) module:context(host):hook("component-disconnected", function() link_lost(host); end); end
	for host in pairs(prosody.hosts) do watch_component(host); end
	module:hook_global("host-activated", watch_component);

	if prosody.hosts[module.host] and require "core.modulemanager".is_loaded(module.host, "ping_muc") then
		module:log("warn", "mod_ping_muc is loaded too: it pings the same rooms and treats every error as 'left'; disable it");
	end
end

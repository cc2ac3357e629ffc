-- Self-ping wiring of mod_track_muc_joins (module:require'd by it): the
-- answers to our self-pings, the pings a room forwards to the session, and
-- lost links. Every decision is the core's (mucjoins.so).

local st = require "util.stanza";
local jid_bare = require "util.jid".bare;
local jid_host = require "util.jid".host;
local modulemanager = require "core.modulemanager";
local new_cache = require "util.cache".new;

local full_sessions = prosody.full_sessions;

local NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";

-- ctx: tracker() (replaced on reload), our_ping_id(iq_id) (the ping id of
-- one of our self-pings' iq ids, or nil), call(method, session, stanza,
-- ...), send_ready_soon() (the pings waiting for a budget an answer freed
-- go soon), metric (self_pings counter), salt, id_secret (the start of
-- every load's salt), ping_timeout.
return function(ctx)
	local call = ctx.call;

	-- info: the room's disco#info reply (result or error), or nil when
	-- none was asked or none came; the core reads it.
	local function answer_ping(ping, stanza, info)
		local session = full_sessions[ping.jid];
		local verdict = call("ping_answer_info", session, stanza, ping.jid, stanza, ping.ping_id,
			info);
		if verdict == "stale" then
			-- the other outcomes come from the core's counts (the
			-- module's tick), which include the pings that timed out
			ctx.metric:with_labels(verdict):add(1);
		else
			-- settled: the budget it held may let a waiting ping go
			ctx.send_ready_soon();
		end
	end

	-- The disco#info requests out, by session and room: at most one each,
	-- MAX_DOMAIN_INFO_WAITS to the rooms of one service (a hostile service
	-- cannot use up the rest) and MAX_INFO_WAITS in all (far below the 256
	-- Prosody keeps per module). Every module:send_iq() hooks two iq/full
	-- handlers on the host (each iq/full stanza then walks them) and holds
	-- the ping's answer until the reply or ping_timeout, and a room can
	-- answer each of our pings in a way that asks for its info: unbounded,
	-- a room could pile requests up. A ping answered while a request to
	-- its room is out waits for that reply (the room's features do not
	-- depend on which ping asked; the latest answer is the one the core
	-- may still take); beyond the bound an answer goes to the core with no
	-- reply, as when none comes (unknown: retried after ping_backoff).
	-- MAX_ACCOUNT_INFO_WAITS for the sessions of one local account: a
	-- room service's domain costs its owner nothing (any number of
	-- subdomains), so without it one account in 64 rooms on 16 hostile
	-- domains, answering its pings with item-not-found and never
	-- answering disco#info, held every request slot for good, and every
	-- other user's answer that needed the room's info (ejabberd's lost
	-- room) was taken without it: unknown, then given up, the ghost kept.
	-- A "silent" account, whose requests went unanswered (no reply
	-- within ping_timeout), may have one out, and silent accounts
	-- MAX_SILENT_INFO_WAITS together: 16 accounts in rooms on 16 such
	-- domains held all 64 slots too; now they hold at most 16 after their
	-- first timeouts, and half the pool stays for the others whatever the
	-- number of silent accounts. Each request left unanswered adds
	-- SILENCE_PER_TIMEOUT to the account's silence, each reply (result or
	-- error) takes one off: the account has its four again after four
	-- replies per request it left unanswered, so a hostile room cannot
	-- buy them back with one quick error per round. A request
	-- that could not be sent changes nothing.
	local MAX_INFO_WAITS = 64;
	local MAX_DOMAIN_INFO_WAITS = 4;
	local MAX_ACCOUNT_INFO_WAITS = 4;
	local MAX_SILENT_INFO_WAITS = 32;
	local SILENCE_PER_TIMEOUT = 4;
	local MAX_SILENCE = 64;
	local info_waits = {};
	local n_info_waits = 0;
	local n_silent_waits = 0; -- requests out for silent accounts
	local domain_info_waits = {}; -- room's domain -> requests out
	local account_info_waits = {}; -- session's bare JID -> requests out
	local waits_by_id = {}; -- a request's iq id -> its wait
	local silent_accounts = new_cache(1024); -- bare JID -> silence > 0 (the latest 1024 marked)

	-- The answer's meaning depends on the room's disco#info: ask the room,
	-- then hand its reply (result or error; nil when none came) to the core.
	local function ask_info(ping, stanza)
		local room = jid_bare(stanza.attr.from);
		if not room then
			answer_ping(ping, stanza, nil);
			return;
		end
		local key = ping.jid .. "\0" .. room;
		local wait = info_waits[key];
		if wait and wait.unusable then
			-- the room's reply to the request out was unusable (an error
			-- without <error/>): none is taken from it any more
			module:log("debug", "%s's answer from %s taken without disco#info: the room's reply "
				.. "to the request out had no <error/>", ping.jid, room);
			answer_ping(ping, stanza, nil);
			return;
		end
		if wait then
			wait.ping = ping;
			wait.stanza = stanza;
			return;
		end
		local domain = jid_host(room);
		local account = jid_bare(ping.jid);
		local n_domain = domain_info_waits[domain] or 0;
		local n_account = account_info_waits[account] or 0;
		local silent = silent_accounts:get(account) ~= nil;
		local max_account = MAX_ACCOUNT_INFO_WAITS;
		if silent then
			max_account = 1;
		end
		if n_info_waits >= MAX_INFO_WAITS or n_domain >= MAX_DOMAIN_INFO_WAITS
				or n_account >= max_account or (silent and n_silent_waits >= MAX_SILENT_INFO_WAITS) then
			module:log("debug", "%d disco#info requests out (%d to %s, %d for %s%s): %s's answer from %s "
				.. "taken without one", n_info_waits, n_domain, domain, n_account, account,
				silent and ", silent" or "", ping.jid, room);
			answer_ping(ping, stanza, nil);
			return;
		end
		local disco_id = "mjdisco-" .. ping.ping_id .. "-" .. ctx.salt;
		wait = { ping = ping; stanza = stanza; silent = silent; id = disco_id; room = room };
		info_waits[key] = wait;
		waits_by_id[disco_id] = wait;
		n_info_waits = n_info_waits + 1;
		if silent then
			n_silent_waits = n_silent_waits + 1;
		end
		domain_info_waits[domain] = n_domain + 1;
		account_info_waits[account] = n_account + 1;
		-- info: the reply (nil: none came); unsent: the request never left
		local function answer(info, unsent)
			if info_waits[key] ~= wait then
				return; -- answered already
			end
			info_waits[key] = nil;
			waits_by_id[disco_id] = nil;
			n_info_waits = n_info_waits - 1;
			if wait.silent then
				n_silent_waits = n_silent_waits - 1;
			end
			if not unsent then
				local silence = silent_accounts:get(account) or 0;
				if info then
					silence = silence - 1;
				else
					silence = math.min(silence + SILENCE_PER_TIMEOUT, MAX_SILENCE);
				end
				if silence > 0 then
					silent_accounts:set(account, silence);
				else
					silent_accounts:set(account, nil);
				end
			end
			if domain_info_waits[domain] > 1 then
				domain_info_waits[domain] = domain_info_waits[domain] - 1;
			else
				domain_info_waits[domain] = nil;
			end
			if account_info_waits[account] > 1 then
				account_info_waits[account] = account_info_waits[account] - 1;
			else
				account_info_waits[account] = nil;
			end
			if not wait.unusable then
				answer_ping(wait.ping, wait.stanza, info);
			end
		end
		local function replied(reply)
			answer(reply.stanza);
		end
		local function failed(err)
			answer(type(err) == "table" and err.context and err.context.stanza or nil);
		end
		local disco = st.iq({
			type = "get";
			id = disco_id;
			from = ping.jid;
			to = room;
		});
		disco:query(NS_DISCO_INFO);
		local ok, promise = pcall(module.send_iq, module, disco, nil, ctx.ping_timeout);
		if not ok then
			module:log("warn", "disco#info to %s not sent: %s", room, promise);
			answer(nil, true);
			return;
		end
		promise:next(replied, failed);
	end

	-- An error reply without <error/> (a hostile room's) to a request out,
	-- which module:send_iq() would take as the reply (its id, from the
	-- room the request went to, to whichever resource): Prosody 0.12's
	-- send_iq() handler raises reading it (util.error.from_stanza), so it
	-- never gets there (the hook below takes it). It ends the request for
	-- the ping at once, as no usable answer: the core reads it (it says
	-- nothing of the room: unknown). The request's place stays taken until
	-- send_iq() gives up on it (ping_timeout), then counts as unanswered
	-- (the account's silence): Prosody tracks it until then, and the
	-- bounds above are what bound its tracking; a later answer of the
	-- same session and room is taken without disco#info meanwhile.
	local function unusable_reply(stanza)
		local wait = waits_by_id[stanza.attr.id];
		if not wait or wait.unusable or stanza.attr.from ~= wait.room then
			return;
		end
		wait.unusable = true;
		answer_ping(wait.ping, wait.stanza, stanza);
		wait.ping, wait.stanza = nil, nil;
	end

	-- Whether an iq id is one of the module's own ids:
	-- "mjping-<n>-<salt>" (self-pings) or "mjdisco-<n>-<salt>" (their
	-- disco#info requests), whichever load's salt: every salt starts with
	-- the process's id_secret. A client may choose ids of the same form;
	-- without the secret they are not ours.
	local function has_our_form(iq_id, prefix)
		if type(iq_id) ~= "string" then
			return false;
		end
		local salt = string.match(iq_id, "^" .. prefix .. "%-%d+%-(.+)$");
		return salt ~= nil and #salt > #ctx.id_secret
			and salt:sub(1, #ctx.id_secret) == ctx.id_secret;
	end

	-- Answers to our self-pings (consumed) and pings forwarded to the
	-- session (answered for it). They are the module's own traffic, not
	-- the user's: taken before any module may drop them (mod_blocklist
	-- drops what a room the user blocked sends at 100, mod_privacy_lists
	-- at 500), else a ghost in a blocked room is never found.
	module:hook("iq/full", function(event)
		local stanza = event.stanza;
		local attr = stanza.attr;
		if attr.type == "error" and has_our_form(attr.id, "mjdisco") and not stanza:get_child("error") then
			-- an error reply to our disco#info request without its <error/>
			-- (a hostile room's), also to a session gone since: Prosody
			-- 0.12's module:send_iq() handler (priority 1) raises reading it
			-- (util.error.from_stanza), a traceback logged per stanza; taken
			-- here, it ends the request it answers as no usable answer
			local ok, err = pcall(unusable_reply, stanza);
			if not ok then
				module:log("error", "a disco#info reply without <error/> from %s: %s",
					tostring(attr.from), tostring(err));
			end
			return true;
		end
		local session = full_sessions[attr.to];
		if not session or session.host ~= module.host then
			return;
		end
		if type(attr.id) ~= "string" then
			return; -- not from the wire (another module's): neither ours nor a ping
		end
		local tracker = ctx.tracker();
		local ping_id = ctx.our_ping_id(attr.id);
		local is_answer = attr.type == "result" or attr.type == "error";
		if ping_id and is_answer then
			-- the core ignores it unless it answers the room's latest ping
			local ping = { jid = attr.to; ping_id = ping_id };
			local ok, needs_features = pcall(tracker.ping_needs_features, tracker, ping.jid,
				stanza, ping.ping_id);
			if ok and needs_features then
				ask_info(ping, stanza);
			else
				answer_ping(ping, stanza, nil);
			end
			return true;
		end
		if is_answer and has_our_form(attr.id, "mjping") then
			-- an answer to a ping of a load whose salt this one does not
			-- know (before an unload and load, or another copy's): ours,
			-- not the client's, and not an answer to our pings
			return true;
		end
		local ok, forwarded = pcall(tracker.is_forwarded_ping, tracker, session.full_jid, stanza);
		if ok and forwarded then
			module:send(st.reply(stanza));
			return true;
		end
	end, 1000);

	-- Replies to our disco#info requests that nothing waits for any more
	-- (they came after ping_timeout, or the request was a previous
	-- load's): module:send_iq()'s own handlers (priority 1) took the
	-- awaited ones already. They are ours, not the client's.
	module:hook("iq/full", function(event)
		local attr = event.stanza.attr;
		if attr.type ~= "result" and attr.type ~= "error" then
			return;
		end
		local session = full_sessions[attr.to];
		if session and session.host == module.host and has_our_form(attr.id, "mjdisco") then
			return true;
		end
	end, 0.5);

	local function link_lost(domain)
		if domain then
			call("link_lost", nil, nil, domain);
		end
	end

	-- What the s2s link handlers below share across every VirtualHost's
	-- load (module:shared(): the events are global), and the bound on
	-- the entries of one stream's session.hosts each of their walks
	-- looks at.
	local MAX_VISITS = 100000;
	local s2sin = module:shared("/*/track_muc_joins/s2sin");

	-- s2s-destroyed fires for every s2s session, also for connections
	-- that never authenticated, whose from_host is only what a stream
	-- header claimed (anyone can open port 5269 as the MUC service and
	-- hang up). Only the domains Prosody authenticated count: an outgoing
	-- session's to_host once it reached "s2sout", an incoming session's
	-- hosts marked authed (Prosody 0.12 and 13 set both in mod_s2s's
	-- make_authenticated). An outgoing session carries the stanzas of
	-- one local host (its from_host): the losses of another host's (or
	-- a component's) outgoing links are not this host's sessions'. An
	-- incoming one may carry stanzas to several local hosts (dialback
	-- piggybacking records only the remote side), so its loss counts
	-- for every host. The event is global and every VirtualHost's load
	-- hooks it: the stream's domains are walked once per event, by the
	-- first handler it reaches, and at most MAX_LOST of them are
	-- reported lost (MAX_VISITS entries looked at, dialbacks still
	-- pending included): a remote server authenticating thousands of
	-- domains on one stream (a wildcard certificate makes each one
	-- db:result) made every host's handler call its tracker for each,
	-- all in the one event at the stream's close (50 hosts x 100,000
	-- domains: 2 to 8 s). Rooms on the domains past the bound are not
	-- asked at that loss (logged at debug).
	local MAX_LOST = 1000;
	if s2sin.lost == nil then
		s2sin.lost = setmetatable({}, { __mode = "k" }); -- event -> domains
	end
	local function lost_domains(event, session)
		local found = s2sin.lost[event];
		if found then
			return found;
		end
		found = {};
		s2sin.lost[event] = found;
		local visits = 0;
		for domain, info in pairs(session.hosts) do
			visits = visits + 1;
			local authed = type(info) == "table" and info.authed;
			if visits > MAX_VISITS or (authed and #found >= MAX_LOST) then
				module:log("debug", "An incoming s2s stream authenticated too many domains: "
					.. "the losses of only %d of them are reported", #found);
				break;
			end
			if authed then
				found[#found + 1] = domain;
			end
		end
		return found;
	end
	module:hook_global("s2s-destroyed", function(event)
		local session = event.session;
		if session.type == "s2sout" then
			if session.from_host == module.host then
				link_lost(session.to_host);
			end
		elseif session.type == "s2sin" and type(session.hosts) == "table" then
			for _, domain in ipairs(lost_domains(event, session)) do
				link_lost(domain);
			end
		end
	end);

	-- A link back up (authenticated, as above): rooms on its domain whose
	-- self-ping gave up while the server could not be reached are asked
	-- again (the core leaves every other room alone). Without this, an
	-- outage longer than the retries (about 4 minutes with the defaults)
	-- left every ghost on that domain for good: nothing else pings again.
	local function link_up(domain)
		if domain then
			call("link_up", nil, nil, domain);
		end
	end

	module:hook("s2sout-established", function(event)
		local session = event and event.session;
		if session and session.type == "s2sout" and session.from_host == module.host then
			link_up(session.to_host);
		end
	end);

	-- An incoming stream may carry stanzas to several local hosts (as for
	-- its loss above): the remote domains it authenticated are back for
	-- every host's rooms. Prosody fires s2sin-established again each time
	-- the stream authenticates one more domain (dialback piggybacking),
	-- and the event does not say which: each domain is reported once per
	-- stream, and the domains a stream holds are visited at most
	-- MAX_VISITS times in all (about 440 domains piggybacked on one
	-- stream; a remote server authenticating thousands of domains on one
	-- stream made this quadratic, in calls into the tracker and then in
	-- visits). Past the budget the stream's further domains are not
	-- reported up: their rooms are asked again at their next link up.
	-- The event is global and every VirtualHost's load hooks it: the walk
	-- and its budget are shared by all of them, done by the
	-- first handler an event reaches, whose new domains every host's
	-- handler then reports up. Per host, V VirtualHosts walked V times
	-- MAX_VISITS per stream (50 hosts: 0.3 s of one event loop for a
	-- stream of 450 domains, 6 ms per host).
	if s2sin.reported == nil then
		s2sin.reported = setmetatable({}, { __mode = "k" }); -- stream -> { visits, [domain] = true }
		s2sin.walks = setmetatable({}, { __mode = "k" }); -- event -> domains new at it
	end
	local function new_domains(event, session)
		local found = s2sin.walks[event];
		if found then
			return found;
		end
		found = {};
		s2sin.walks[event] = found;
		local done = s2sin.reported[session];
		if not done then
			done = { 0 };
			s2sin.reported[session] = done;
		end
		for domain, info in pairs(session.hosts) do
			if done[1] >= MAX_VISITS then
				if done[1] == MAX_VISITS then
					done[1] = MAX_VISITS + 1;
					module:log("debug", "An incoming s2s stream authenticated too many domains: "
						.. "its link ups are no longer reported");
				end
				break;
			end
			done[1] = done[1] + 1;
			if not done[domain] and type(info) == "table" and info.authed then
				done[domain] = true;
				found[#found + 1] = domain;
			end
		end
		return found;
	end
	module:hook_global("s2sin-established", function(event)
		local session = event and event.session;
		if not (session and session.type == "s2sin" and type(session.hosts) == "table") then
			return;
		end
		for _, domain in ipairs(new_domains(event, session)) do
			link_up(domain);
		end
	end);

	-- mod_component fires component-disconnected for a connection that
	-- never completed its handshake too (its session's host is whatever
	-- the stream header named): only an authenticated one counts.
	-- Only component hosts: mod_component fires these on its own host, and
	-- every VirtualHost loads this module, so hooking every host made
	-- VirtualHosts x hosts handlers (1,000 VirtualHosts: ~100 MB and ~3 s
	-- at start for one event).
	-- A host deactivated and activated again is a new event bus: the
	-- handlers on the old one go with host-deactivated (each off/on added
	-- two handlers, kept with the old bus until the module's unload).
	local watched = {}; -- host -> { events, lost, up }
	local function unwatch_component(host)
		local w = watched[host];
		if not w then
			return;
		end
		watched[host] = nil;
		module:unhook_object_event(w.events, "component-disconnected", w.lost);
		module:unhook_object_event(w.events, "component-authenticated", w.up);
	end
	local function watch_component(host)
		local host_session = prosody.hosts[host];
		if not host_session or host_session.type ~= "component" then
			return;
		end
		unwatch_component(host);
		local w = { events = host_session.events };
		w.lost = function(event)
			local session = event and event.session;
			if session and session.type == "component" then
				link_lost(host);
			end
		end;
		w.up = function(event)
			local session = event and event.session;
			if session and session.type == "component" then
				link_up(host);
			end
		end;
		module:hook_object_event(w.events, "component-disconnected", w.lost);
		module:hook_object_event(w.events, "component-authenticated", w.up);
		watched[host] = w;
	end

	for host in pairs(prosody.hosts) do
		watch_component(host);
	end
	module:hook_global("host-activated", watch_component);
	module:hook_global("host-deactivated", unwatch_component);

	-- Prosody loads a host's modules in no set order (modules_enabled is
	-- a set): mod_ping_muc may come after this module, so its load is
	-- watched too. Once: mod_ping_muc depends on this module, so this
	-- module loads while it is being loaded (is_loaded says so already)
	-- and its module-loaded comes after.
	local warned_ping_muc = false;
	local function warn_ping_muc()
		if warned_ping_muc then
			return;
		end
		warned_ping_muc = true;
		module:log("warn", "mod_ping_muc is loaded too: it pings the same rooms and treats "
			.. "every error as 'left'; disable it");
	end
	local here = prosody.hosts[module.host];
	if here and modulemanager.is_loaded(module.host, "ping_muc") then
		warn_ping_muc();
	end
	module:hook("module-loaded", function(event)
		if event.module == "ping_muc" then
			warn_ping_muc();
		end
	end);
end

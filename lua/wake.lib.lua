-- CSI (mod_csi_simple) and push (mod_cloud_notify) wiring of
-- mod_track_muc_joins (module:require'd by it): wake the device for
-- mentions. What a message is to the session is the core's decision.

local modulemanager = require "core.modulemanager";

-- ctx: tracker() (replaced on reload), and the options csi_hold_chatter
-- (csi_hold_chatter_set: the operator set it) and push_mentions_only.
return function(ctx)
	-- Whether chatter is held. Debian's mod_csi_battery_saver fires the
	-- same event and follows any answer; with the community module
	-- nobody answered for chatter and it delivered it at once. A drop-in
	-- keeps that: while it is loaded on this host, chatter gets no
	-- opinion unless the operator set csi_hold_chatter (mentions are
	-- still important).
	local function hold_chatter()
		if not ctx.csi_hold_chatter_set and modulemanager.is_loaded(module.host, "csi_battery_saver") then
			return false;
		end
		return ctx.csi_hold_chatter;
	end

	-- mod_csi_simple's own list of payloads that always wake the device
	-- ("{namespace}name" paths of util.stanza's find; its rule reads it
	-- for messages without a body). Found here with the same find, only
	-- for a message the core would hold, and handed to the core, which
	-- decides (chatter carrying one gets no opinion).
	local important_payloads = module:get_option_set("csi_important_payloads", {});

	local function carries_listed_payload(stanza)
		for payload in important_payloads do
			local ok, found = pcall(stanza.find, stanza, payload);
			if ok and found then
				return true;
			end
		end
		return false;
	end

	-- Priority -0.5: after every other module's opinion (a handler
	-- returning true or false stops the event: at 10 this one decided
	-- before mod_csi_muc_priorities, mod_csi_grace_period and any other
	-- module at their default priorities, whose verdicts were never asked),
	-- before mod_csi_simple's own rule at -1, which it replaces for
	-- groupchat messages.
	module:hook("csi-is-stanza-important", function(event)
		local session = event.session;
		if event.stanza.name ~= "message" or not session.full_jid then
			return;
		end
		local tracker = ctx.tracker();
		local hold = hold_chatter();
		local ok, important = pcall(tracker.importance, tracker, session.full_jid,
			event.stanza, hold);
		if not ok then
			return;
		end
		if important == false and not important_payloads:empty()
				and carries_listed_payload(event.stanza) then
			ok, important = pcall(tracker.importance, tracker, session.full_jid,
				event.stanza, hold, true);
			if not ok then
				return;
			end
		end
		return important;
	end, -0.5);

	module:hook("cloud_notify/push", function(event)
		if not ctx.push_mentions_only then
			return;
		end
		local stanza = event.original_stanza;
		if not stanza or stanza.name ~= "message" then
			return;
		end
		-- Any JID: the core finds the session, and says for one it holds
		-- nothing for (a full JID without a session, to which
		-- mod_cloud_notify pushes groupchat a room still counting a closed
		-- session in sends, is in no room; a bare JID, where
		-- mod_muc_offline_delivery's copies go, gets no opinion)
		local to = stanza.attr.to;
		if type(to) ~= "string" then
			return;
		end
		local tracker = ctx.tracker();
		-- "groupchat": every groupchat message that does not mention the
		-- user is blocked, those without a body (chat states, markers,
		-- reactions) too
		local ok, important = pcall(tracker.importance, tracker, to, stanza, "groupchat");
		if ok and important == false and not important_payloads:empty()
				and carries_listed_payload(stanza) then
			-- a payload the operator lists as always waking the device
			ok, important = pcall(tracker.importance, tracker, to, stanza, "groupchat", true);
		end
		if ok and important == false then
			return true; -- blocks this push
		end
	end, 10);
end

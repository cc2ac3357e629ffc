-- CSI (mod_csi_simple) and push (mod_cloud_notify) wiring of
-- mod_track_muc_joins (module:require'd by it): wake the device for
-- mentions. What a message is to the session is the core's decision.
local full_sessions = prosody.full_sessions;
local csi_hold_chatter = module:get_option_boolean("track_muc_joins_csi_hold_chatter", true);
local push_mentions_only = module:get_option_boolean("track_muc_joins_push_mentions_only", false);

-- tracker_of(): the module's tracker (replaced on reload)
return function(tracker_of)
	module:hook("csi-is-stanza-important", function(event)
		local session, tracker = event.session, tracker_of();
		if event.stanza.name ~= "message" or not session.full_jid then return; end
		local ok, important = pcall(tracker.importance, tracker, session.full_jid, event.stanza, csi_hold_chatter);
		if ok then return important; end
	end, 10);
	module:hook("cloud_notify/push", function(event)
		local stanza = event.original_stanza;
		if not push_mentions_only or not stanza or stanza.name ~= "message" or not full_sessions[stanza.attr.to or ""] then return; end
		local tracker = tracker_of();
		local ok, important = pcall(tracker.importance, tracker, stanza.attr.to, stanza, true);
		if ok and important == false then return true; end -- blocks this push
	end, 10);
end

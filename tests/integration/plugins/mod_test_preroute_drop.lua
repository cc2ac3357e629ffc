-- Test module: what mod_firewall's "preroute" chain does (it hooks the
-- pre-presence/* and pre-message/* events at priority 0.1) with a rule
-- that bounces: an outgoing stanza carrying <drop xmlns='urn:mucjoins:test'/>
-- is answered with an error and goes nowhere (test_blocklist.py); and
-- what its "deliver" chain does (message/full at 0.1) with a rule that
-- drops: a message to a session carrying <drop-delivery
-- xmlns='urn:mucjoins:test'/> is never given to it.
local st = require "util.stanza";

local function drop(event)
	local stanza = event.stanza;
	if stanza:get_child("drop", "urn:mucjoins:test") then
		local t = stanza.attr.type;
		if t ~= "error" then
			event.origin.send(st.error_reply(stanza, "cancel", "policy-violation"));
		end
		return true;
	end
end

for _, to in ipairs({ "full", "bare", "host" }) do
	module:hook("pre-presence/" .. to, drop, 0.1);
	module:hook("pre-message/" .. to, drop, 0.1);
end

module:hook("message/full", function(event)
	if event.stanza:get_child("drop-delivery", "urn:mucjoins:test") then
		return true;
	end
end, 0.1);

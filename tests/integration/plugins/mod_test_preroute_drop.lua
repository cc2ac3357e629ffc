-- Test module: what mod_firewall's "preroute" chain does (it hooks the
-- pre-presence/* and pre-message/* events at priority 0.1) with a rule
-- that bounces: an outgoing stanza carrying <drop xmlns='urn:mucjoins:test'/>
-- is answered with an error and goes nowhere (test_blocklist.py).
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

-- Test-only module for the mucjoins integration tests: load on a MUC
-- component. In rooms whose localpart starts with "rewrite", the service
-- rewrites every requested nick by appending "-x" (XEP-0045 7.2.3 nick
-- lockdown), so Prosody's MUC answers the join with status 210 and the
-- rewritten nick. Runs at priority 5, before the MUC's own nick checks (2, 1).

local jid_split, jid_resource = require "util.jid".split, require "util.jid".resource;

module:hook("muc-occupant-pre-join", function (event)
	local room, occupant = event.room, event.occupant;
	local node = jid_split(room.jid);
	if node and node:sub(1, #"rewrite") == "rewrite" then
		local nick = jid_resource(occupant.nick);
		occupant.nick = room.jid .. "/" .. nick .. "-x";
		module:log("debug", "Rewrote nick %q to %q in %s", nick, nick .. "-x", room.jid);
	end
end, 5);

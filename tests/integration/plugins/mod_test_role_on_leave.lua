-- Test module: load on a MUC component. In rooms whose name starts with
-- "rejoin-role", a leave carrying an id that mod_track_muc_joins gives
-- the leaves it sends again ("mjleave-") first makes the leaving occupant
-- a visitor: the room sends the occupant (the ghost) a self-presence with
-- its new role before it processes the leave, as a moderator's role
-- change would in that window (test_remote_muc.py).
local jid_split = require "util.jid".split;

module:hook("muc-occupant-pre-leave", function(event)
	local room, stanza = event.room, event.stanza;
	local node = jid_split(room.jid);
	local id = stanza.attr.id;
	if not (node and node:match("^rejoin%-role") and id and id:match("^mjleave%-")) then
		return;
	end
	module:log("info", "%s: %s made a visitor before its leave is processed", room.jid, event.occupant.nick);
	room:set_role(true, event.occupant.nick, "visitor", "test");
end, 10);

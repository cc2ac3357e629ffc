-- Test module: the session whose leave mod_track_muc_joins sends again at
-- a link up rejoins the room at once, from the muc-joins/leave-needed
-- handler (which runs after the module sent the leave): the rejoin goes
-- over the same link right behind the leave, before the room's answer to
-- the leave can come back. Processed as if the client had sent it (the
-- session's own stanza, through every hook a client's presence passes).
-- Only for rooms whose name starts with "rejoin-" (test_remote_muc.py).
local st = require "util.stanza";

module:hook("muc-joins/leave-needed", function(ev)
	if not ev.session or not ev.room:match("^rejoin%-") then
		return;
	end
	local join = st.presence({ to = ev.room .. "/" .. ev.nick, id = "rejoin-at-link-up" })
		:tag("x", { xmlns = "http://jabber.org/protocol/muc" }):up();
	module:log("info", "%s rejoins %s as %s behind the leave sent again", ev.jid, ev.room, ev.nick);
	prosody.core_process_stanza(ev.session, join);
end);

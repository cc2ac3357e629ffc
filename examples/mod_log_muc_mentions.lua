-- mod_log_muc_mentions: an example consumer of mod_track_muc_joins'
-- events. It logs, at info level, every group chat message that mentions
-- a user (docs/semantics.md §6 says what a mention is), with the room and
-- the nick of the occupant who wrote it. `make run`'s demo loads it next
-- to the tracker, whose own log lines (track_muc_joins_log_changes) show
-- changes of state only.
--
-- To use it elsewhere: put this folder in plugin_paths and add
-- "log_muc_mentions" to the modules_enabled of a VirtualHost that has
-- "track_muc_joins" enabled. The events are fired on that host.

module:hook("muc-joins/mention", function(event)
	-- event.jid: the session's full JID; event.room: the room's bare JID;
	-- event.nick: the session's nick there; event.from_nick: the writer
	module:log("info", "%s mentioned in %s as %s by %s", event.jid, event.room, tostring(event.nick), tostring(event.from_nick));
end);

-- Test module: a muc-joins/join-failed handler that reloads (or, with
-- test_on_event_action = "unload", unloads) mod_track_muc_joins once, as
-- an admin tool or a consumer might. For test_reload_in_filter.py (a
-- local MUC's join error reaches the module through its outgoing filter,
-- so the reload runs while Prosody walks the session's filter list) and
-- for test_reload_from_a_hook.py (a remote room's join error, from the
-- module's presence hook), test_reload_from_the_tick.py and
-- test_handler_ends_the_tick.py (a join timing out fires the event from
-- the module's tick, which must stop there).
local modulemanager = require "core.modulemanager";
local action = module:get_option_string("test_on_event_action", "reload");
local done = false;

module:hook("muc-joins/join-failed", function()
	if done then
		return;
	end
	done = true;
	local ok, err = modulemanager[action](module.host, "track_muc_joins");
	module:log("info", "%sed track_muc_joins from a join-failed handler: %s %s",
		action, tostring(ok), tostring(err));
end);

-- Test module: a muc-joins/join-failed handler that unloads
-- mod_track_muc_joins once, for test_handler_ends_the_tick.py: a join
-- timing out fires the event from the module's tick, which must stop
-- there (unload() set the gauge to 0; the rest of the tick set it back).
local modulemanager = require "core.modulemanager";
local done = false;

module:hook("muc-joins/join-failed", function()
	if done then
		return;
	end
	done = true;
	local ok, err = modulemanager.unload(module.host, "track_muc_joins");
	module:log("info", "unloaded track_muc_joins from a join-failed handler: %s %s",
		tostring(ok), tostring(err));
end);

-- Test module: a muc-joins/join-failed handler that reloads
-- mod_track_muc_joins once (as an admin tool or a consumer might), for
-- test_reload_in_filter.py. A local MUC's join error reaches the module
-- through its outgoing filter, so the reload runs while Prosody walks the
-- session's filter list.
local modulemanager = require "core.modulemanager";
local done = false;

module:hook("muc-joins/join-failed", function()
	if done then
		return;
	end
	done = true;
	local ok, err = modulemanager.reload(module.host, "track_muc_joins");
	module:log("info", "reloaded track_muc_joins from a join-failed handler: %s %s",
		tostring(ok), tostring(err));
end);

-- Test module: one that needs mod_track_muc_joins and says so with
-- module:depends(), as a consumer of the muc-joins/* events may. Loaded
-- on * (a global module's depends() is a load on *, README.md), the
-- tracker's load is refused, and depends() raises Prosody's "Unable to
-- load required module, mod_track_muc_joins: <the reason>"
-- (test_admin_shell.py).
module:depends("track_muc_joins");

-- Test module (tests/integration/test_self_ping.py): a stand-in that only
-- bears the name of the community module mod_ping_muc, which pings the
-- same rooms as mod_track_muc_joins and treats every error as 'left'. The
-- tracker warns when it finds it loaded on its host, whichever of the two
-- loads first. It does nothing.
module:log("debug", "stand-in mod_ping_muc loaded (does nothing)");

"""Options the module cannot use (a string where a number is expected, a
fraction for a count, a negative time, a word for a boolean): each is
logged at error level naming the option, its default is used, and the
module loads whole and tracks (README, "Options"). A count over its
maximum is logged at warn level and the maximum is used; an option name
the module does not know (misspelt) is logged at warn level, and so is one
set under the MUC Component, where it reaches nothing."""

from harness import assert_rooms

PROSODY_OPTIONS = {
    "track_muc_joins_pending_timeout": "2m",
    "track_muc_joins_max_rooms": 2.5,
    "track_muc_joins_max_pending": 1e20,  # whole, but no integer holds it
    "track_muc_joins_ping_timeout": -1,
    "track_muc_joins_self_ping": "maybe",
    "track_muc_joins_csi_hold_chatter": "perhaps",
    "track_muc_joins_ping_budget": 0,
    "track_muc_joins_ping_retries": 1e20,  # over the cap, and no whole number as a float
    "track_muc_joins_max_room": 5,
}
MUC_OPTIONS = {"track_muc_joins_max_rooms": 5}
EXPECTED_ERRORS = [
    r"^Config option 'track_muc_joins_\w+' not understood",
    r"^track_muc_joins_\w+ must be ",
    r"^track_muc_joins_\w+ is too large",
]


def test_unusable_options_fall_back_to_their_defaults(server, connect, room):
    log = server.wait_log("tracking MUC joins")
    for name, default in (("pending_timeout", "120"), ("max_rooms", "1000"),
                          ("ping_timeout", "60"), ("self_ping", "true"),
                          ("csi_hold_chatter", "true"), ("ping_budget", "20")):
        assert f"track_muc_joins_{name} must be" in log and f"using {default}" in log, \
            f"no error naming track_muc_joins_{name} (default {default}):\n{server.log_tail(60)}"
    assert "track_muc_joins_pending_timeout must be a finite number > 0: using 120\n" in log, \
        f"the default of a time is shown as written (120, not 120.0):\n{server.log_tail(60)}"
    assert "track_muc_joins_max_pending is too large: using 1000" in log, \
        f"no error for a whole number no integer holds:\n{server.log_tail(60)}"
    assert "track_muc_joins_ping_retries is at most 1000: using 1000" in log, \
        f"no warning for a retry count over the maximum:\n{server.log_tail(60)}"
    assert "Unknown option track_muc_joins_max_room (in the global section) is ignored" in log, \
        f"no warning for a misspelt option name:\n{server.log_tail(60)}"
    assert "Option track_muc_joins_max_rooms is set under the Component" in log, \
        f"no warning for an option under the MUC component:\n{server.log_tail(60)}"
    assert "tracking MUC joins (max_rooms=1000, max_pending=1000, pending_timeout=120s)" in log, \
        server.log_tail(60)
    a = connect("alice")
    r1, r2 = room(), room()
    a.join(r1, "Alice")
    a.join(r2, "Alice")
    assert a.rooms().tracker_loaded, "the module is loaded"
    assert_rooms(a, {r1: "Alice", r2: "Alice"}, when="after two joins with the defaults")
    a.leave(r1, "Alice")
    assert_rooms(a, {r2: "Alice"}, when="after a leave")

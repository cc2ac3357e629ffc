-- A consumer of the module's events that waits (util.async) in its
-- muc-joins/joined handler, as a handler running in a session's async
-- runner may (test_event_handler_errors.py). It logs what the wait gave.
local async = require "util.async";

module:hook("muc-joins/joined", function(event)
	local ok, err = pcall(async.sleep, 0.1);
	module:log("info", "test_async_consumer: joined %s, wait ok=%s (%s)", event.room,
		tostring(ok), tostring(err));
end);

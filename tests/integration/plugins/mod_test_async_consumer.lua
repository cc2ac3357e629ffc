-- A consumer of the module's events that waits (util.async) in its
-- muc-joins/* handlers, as a handler running in a session's async runner
-- may (test_event_handler_waits.py). It logs, per event, whether it runs
-- in an async runner (util.async.ready()), whether a stanza caused it,
-- and what the wait gave. With test_async_consumer_unprotected = true its
-- join-failed handler waits without pcall, as a careless consumer would.
local async = require "util.async";
local unprotected = module:get_option_boolean("test_async_consumer_unprotected", false);

for _, name in ipairs({ "joined", "left", "join-failed", "nick-changed" }) do
	module:hook("muc-joins/" .. name, function(event)
		local in_runner = async.ready();
		if unprotected and name == "join-failed" then
			async.sleep(0.1);
		end
		local ok, err = pcall(async.sleep, 0.1);
		module:log("info", "test_async_consumer: %s %s reason=%s runner=%s stanza=%s, wait ok=%s (%s)",
			name, event.room, tostring(event.reason), tostring(in_runner), tostring(event.stanza ~= nil),
			tostring(ok), tostring(err));
	end);
end

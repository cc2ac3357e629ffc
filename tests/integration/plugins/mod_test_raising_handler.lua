-- Test module (tests/integration/test_event_handler_errors.py): a
-- muc-joins/left handler that always raises, as a broken consumer module
-- would. The tracker must log it and still apply the other events of the
-- same batch.
module:hook("muc-joins/left", function(event)
	error("raising on purpose for " .. tostring(event.room));
end);

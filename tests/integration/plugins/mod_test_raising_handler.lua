-- Test module (tests/integration/test_event_handler_errors.py): a
-- muc-joins/left handler that always raises, as a broken consumer module
-- would. The tracker must log it and still apply the other events of the
-- same batch. Its second call raises an error object that cannot be
-- turned into text (its __tostring raises another such object).
local unprintable = {};
unprintable.__tostring = function()
	error(setmetatable({}, unprintable));
end;

local calls = 0;
module:hook("muc-joins/left", function(event)
	calls = calls + 1;
	if calls == 2 then
		error(setmetatable({}, unprintable));
	end
	error("raising on purpose for " .. tostring(event.room));
end);

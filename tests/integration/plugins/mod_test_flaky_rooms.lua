-- Test module: another module's rooms_joined proxy that refuses every
-- write for its first REFUSE_SECONDS, then takes them (into the table it
-- wraps), put in place at the session's first join
-- (test_flaky_rooms.py): a write that failed once, as it may for lack of
-- memory.
local REFUSE_SECONDS = 2;
local monotonic = require "util.time".monotonic;

module:hook("muc-joins/joined", function(event)
	local s = event.session;
	local plain = s.rooms_joined;
	if getmetatable(plain) then
		return;
	end
	local until_t = monotonic() + REFUSE_SECONDS;
	s.rooms_joined = setmetatable({}, {
		__index = plain,
		__newindex = function(_, k, v)
			if monotonic() < until_t then
				error("flaky proxy: not now");
			end
			plain[k] = v;
		end,
		__pairs = function()
			return next, plain, nil;
		end,
	});
end, 2000);

-- Test module: another module's rooms_joined proxy whose __newindex
-- raises (a read-only view), put in place at the session's first join
-- (test_readonly_rooms.py).
module:hook("muc-joins/joined", function(event)
	local s = event.session;
	local plain = s.rooms_joined;
	if getmetatable(plain) then
		return;
	end
	s.rooms_joined = setmetatable({}, {
		__index = plain,
		__newindex = function()
			error("read-only proxy");
		end,
		__pairs = function()
			return next, plain, nil;
		end,
	});
end, 2000);

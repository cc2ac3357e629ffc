-- The harness the Lua test scripts share: one line per test ("ok   NAME",
-- or "FAIL NAME" and the error with its traceback), then the suite's
-- summary "SUITE: N passed, N failed"; finish() exits 1 on a failure, or
-- when no test ran. A script loads it from its own folder:
--   local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua")("suite")
--   local test, eq = h.test, h.eq
--   ...
--   h.finish()

local function show(v)
	if type(v) == "string" then
		return string.format("%q", v)
	end
	return tostring(v)
end

return function(suite)
	local h = { passed = 0, failed = 0, show = show }

	function h.test(name, fn)
		local ok, err = xpcall(fn, debug.traceback)
		if ok then
			h.passed = h.passed + 1
			print("ok   " .. name)
		else
			h.failed = h.failed + 1
			local text = tostring(err):gsub("\n", "\n  ")
			print("FAIL " .. name .. "\n  " .. text)
		end
	end

	-- got == want, or an error at the caller's line naming what
	function h.eq(got, want, what)
		if got ~= want then
			error(string.format("%s: expected %s, got %s", what or "value", show(want), show(got)), 2)
		end
	end

	function h.finish()
		print(string.format("%s: %d passed, %d failed", suite, h.passed, h.failed))
		os.exit(h.failed == 0 and h.passed > 0 and 0 or 1)
	end

	return h
end

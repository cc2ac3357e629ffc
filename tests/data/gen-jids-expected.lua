-- Regenerate tests/data/jids.expected from tests/data/jids.txt with
-- Prosody's own util.jid.prep (non-strict), as installed by Debian's
-- prosody package (util/encodings.so built with ICU).
--
-- Run from the repository root:
--   lua5.4 tests/data/gen-jids-expected.lua > tests/data/jids.expected
--
-- Input format (jids.txt): one JID per line; "\xHH" is one byte (a
-- backslash itself is written \x5c); lines starting with "#" and blank
-- lines are skipped.
-- Output format (jids.expected): one line per JID, "<input hex> ok:<hex>"
-- with the prepared JID, or "<input hex> nil" when prep returns nil.
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath

local jid = require "util.jid"

local function hex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unescape(line)
	local bad = line:gsub("\\x%x%x", ""):find("\\", 1, true)
	if bad then
		error("stray backslash in: " .. line)
	end
	return (line:gsub("\\x(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local path = arg[1] or "tests/data/jids.txt"
local f = assert(io.open(path, "rb"))
for line in f:lines() do
	if line ~= "" and line:sub(1, 1) ~= "#" then
		local s = unescape(line)
		local r = jid.prep(s)
		if r == nil then
			io.write(hex(s), " nil\n")
		else
			io.write(hex(s), " ok:", hex(r), "\n")
		end
	end
end
f:close()

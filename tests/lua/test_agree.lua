-- The Lua binding and the replay tool read the same stanzas alike: every
-- <out>/<in> stanza of a trace is fed to the binding (parsed by Prosody's
-- util.xml into util.stanza tables) and to build/mucjoins-replay, and the
-- outcomes and events (type, room, nick, reason) must be the same, in the
-- same order. Both build their views with the library's extraction rules
-- (mj_stanza_set_kind/_type, mj_stanza_add_status, mj_stanza_content_ns).
-- Run from the repository root:
--   lua5.4 tests/lua/test_agree.lua build/plugins/mod_track_muc_joins/mucjoins.so \
--          build/mucjoins-replay tests/agree/stanzas.xml examples/*.xml
local so_path, replay = arg[1], arg[2]
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local xml = require "util.xml"
local st = require "util.stanza"
local mj = assert(package.loadlib(so_path, "luaopen_mucjoins"))()

local function event_line(ty, room, nick, reason)
	return string.format("* %s %s %s %s", ty, room or "-", nick or "-", reason or "-")
end

-- What the binding makes of a trace: one line per stanza, one per event.
local function by_binding(file)
	local f = assert(io.open(file))
	-- util.xml reads XMPP: no declaration, no comments
	local text = f:read("a"):gsub("^<%?xml.-%?>", ""):gsub("<!%-%-.-%-%->", "")
	local doc = assert(xml.parse(text))
	f:close()
	local t = mj.new({})
	local out = {}
	local opened = {}
	for step in doc:childtags() do
		local stanza = step.tags[1]
		if (step.name == "out" or step.name == "in") and stanza then
			local jid = step.attr.session
			if not opened[jid] then
				-- the replay tool opens a trace's session at its first line,
				-- the binding at its first outgoing presence: one to nowhere
				opened[jid] = true
				t:outgoing(jid, st.presence({ to = "nobody@nowhere.example/x" }))
			end
			local oc, events = t[step.name == "out" and "outgoing" or "incoming"](t, jid, stanza)
			out[#out + 1] = step.name .. " " .. tostring(oc)
			for _, ev in ipairs(events or {}) do
				if ev.type ~= "log" then
					out[#out + 1] = event_line(ev.type, ev.room, ev.nick, ev.reason)
				end
			end
		elseif step.name ~= "out" and step.name ~= "in" then
			return nil, step.name -- waits, ticks, closes: not compared here
		end
	end
	return out
end

-- What the replay tool prints for it, in the same shape.
local function by_replay(file)
	local p = assert(io.popen(string.format("%s '%s' 2>&1", replay, file)))
	local out = {}
	for line in p:lines() do
		local dir, oc = line:match("^%s*%d+ (%a+)%s.*=> (%S+)$")
		if dir == "out" or dir == "in" then
			out[#out + 1] = dir .. " " .. oc
		else
			local ty, rest = line:match("^%s+%* (%S+)(.*)$")
			if ty and ty ~= "log" then
				out[#out + 1] = event_line(ty, rest:match(" room=(%S+)"), rest:match(" nick=(%S+)"),
					rest:match(" reason=(%S+)"))
			end
		end
	end
	p:close()
	return out
end

local passed, failed, skipped = 0, 0, 0
for i = 3, #arg do
	local file = arg[i]
	local a, why = by_binding(file)
	if not a then
		skipped = skipped + 1
		print("skip " .. file .. " (has <" .. why .. "/>)")
	else
		local b = by_replay(file)
		local bad
		for k = 1, math.max(#a, #b) do
			if a[k] ~= b[k] then
				bad = string.format("line %d: binding %q, replay %q", k, tostring(a[k]), tostring(b[k]))
				break
			end
		end
		if bad then
			failed = failed + 1
			print("FAIL " .. file .. ": " .. bad)
		else
			passed = passed + 1
			print("ok   " .. file .. " (" .. #a .. " lines)")
		end
	end
end
print(string.format("agree: %d passed, %d failed, %d skipped", passed, failed, skipped))
os.exit(failed == 0 and passed > 0 and 0 or 1)

-- The Lua binding and the replay tool read the same stanzas alike: every
-- <out>/<in> stanza of a trace is fed to the binding and to
-- build/mucjoins-replay, and the outcomes, the message classes and the
-- events (type, room, nicks, reason, condition, text,
-- alternative venue) must be the same, in the same order; a <close/>'s
-- events too, and the final state (each session's rooms, states, nicks).
-- Then again through the module's hooks (t:hooks(), which read lazily
-- what the session's state needs, and a broadcast unavailable from the
-- copies mod_presence sends, directed_presence() below): the events and
-- the final state. A trace with a tick or a link's loss is skipped (the
-- binding's clock is the real one). tests/agree/gen.py generates many
-- traces and runs them through this test.
-- Both build their views with the library's extraction rules
-- (mj_stanza_set_kind/_type, mj_stanza_add_status, mj_stanza_own_ns,
-- mj_stanza_client_ns).
-- The binding gets what Prosody builds of the text: the trace is read by
-- Prosody's stream parser (util.xmppstream), <trace> standing for the
-- stream, whose default namespace is the trace's (none: a stanza in no
-- namespace is what a stanza in the stream's jabber:client is to
-- Prosody). So an element in another namespace than its parent's, and
-- every element below one, carries attr.xmlns (xmlns='' as ""), as on a
-- real stream; util.xml, which puts attr.xmlns on every element in a
-- namespace and none on one in no namespace, would not tell <body
-- xmlns=''/> from <body/>.
-- Run from the repository root:
--   lua5.4 tests/lua/test_agree.lua build/plugins/mod_track_muc_joins/mucjoins.so \
--          build/mucjoins-replay tests/agree/stanzas.xml examples/*.xml
local so_path, replay = arg[1], arg[2]
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local xmppstream = require "util.xmppstream"
local st = require "util.stanza"
local jid_util = require "util.jid"
local mj = assert(package.loadlib(so_path, "luaopen_mucjoins"))()

-- The children of <trace> (<in>, <out>, <tick>...), as Prosody's stream
-- parser builds stanzas of a stream opened by <trace>.
local function parse_trace(text)
	local steps, err = {}, nil
	local session = { notopen = true }
	local stream = xmppstream.new(session, {
		stream_ns = "", stream_tag = "trace", default_ns = "",
		streamopened = function(s) s.notopen = nil end,
		handlestanza = function(_, step) steps[#steps + 1] = step end,
		error = function(_, e, detail) err = err or (tostring(e) .. " " .. tostring(detail)) end,
	})
	local ok, perr = stream:feed(text)
	assert(ok and not err, "trace not parsed: " .. tostring(perr or err))
	return steps
end
-- The code points the replay tool escapes (trace.c cp_unsafe(): C0 and
-- C1 controls, DEL, the bidi controls, the line and paragraph separators).
local function unsafe(c)
	return c < 0x20 or (c >= 0x7f and c <= 0x9f) or c == 0x061c or c == 0x200e or c == 0x200f
		or (c >= 0x2028 and c <= 0x202e) or (c >= 0x2066 and c <= 0x2069)
end

-- A value as the replay tool prints it (buf_value(): bare when it is
-- UTF-8 without a space, quote, backslash or unsafe code point, else
-- quoted, with \n \r \t \" \\, \xNN for another unsafe ASCII byte or a
-- byte that is not UTF-8, \u{NNNN} for another unsafe code point).
local function shown(v)
	if v == nil then
		return "-"
	end
	v = tostring(v)
	local out, quote, i = {}, v == "", 1
	local esc = { [10] = "\\n", [13] = "\\r", [9] = "\\t", [34] = '\\"', [92] = "\\\\" }
	while i <= #v do
		local ok, c = pcall(utf8.codepoint, v, i)
		if not ok then
			out[#out + 1] = string.format("\\x%02x", v:byte(i));
			quote = true;
			i = i + 1;
		else
			local n = #utf8.char(c)
			if esc[c] then
				out[#out + 1] = esc[c]
				quote = true
			elseif unsafe(c) then
				out[#out + 1] = string.format(c < 0x80 and "\\x%02x" or "\\u{%04x}", c)
				quote = true
			else
				out[#out + 1] = v:sub(i, i + n - 1)
				quote = quote or c == 32
			end
			i = i + n
		end
	end
	if not quote then
		return v
	end
	return '"' .. table.concat(out) .. '"'
end

-- The value of " key=" in a replay event line, as printed (bare or quoted):
-- the fields are read in order, so that a key inside a quoted value is not
-- taken for one (a reason "x alt-venue=evil").
local function field(rest, key)
	local i = 1
	while true do
		local _, e, k = rest:find("^ ([%w%-]+)=", i)
		if not e then
			return "-"
		end
		i = e + 1
		local v
		if rest:sub(i, i) == '"' then
			local j = i + 1
			while j <= #rest and rest:sub(j, j) ~= '"' do
				j = j + (rest:sub(j, j) == "\\" and 2 or 1)
			end
			v = rest:sub(i, j)
		else
			v = rest:match("^%S*", i)
		end
		if k == key then
			return v
		end
		i = i + #v
	end
end

local FIELDS = { "room", "nick", "old_nick", "from_nick", "reason", "condition", "text", "alt_venue" }

-- The event's fields compared, in one line.
local function event_line(ty, get)
	local parts = { "*", ty }
	for _, k in ipairs(FIELDS) do
		parts[#parts + 1] = k .. "=" .. get(k)
	end
	return table.concat(parts, " ")
end

-- The ping id in an iq id "<prefix><n>" or "<prefix><n>-<salt>" (the
-- replay tool's ids); 0 if the id is not one.
local function id_number(id, prefix)
	if type(id) ~= "string" or id:sub(1, #prefix) ~= prefix then
		return 0
	end
	local digits = id:sub(#prefix + 1):match("^(%d+)$") or id:sub(#prefix + 1):match("^(%d+)%-")
	-- any number of digits, leading zeros too, up to 2^32 - 1 (as the
	-- module's our_ping_id() and the replay tool's id_number() read it)
	local n = digits and tonumber((digits:gsub("^0+(%d)", "%1")))
	return n and n <= 0xffffffff and math.tointeger(n) or 0
end

-- JID bytes prepared (nil: they do not prepare), as Prosody's router
-- prepares from and to before the module sees them.
local function prepared(j)
	return j and jid_util.prep(j) or nil
end

-- The room of a ping answer: its from up to '/', prepared.
local function room_of(stanza)
	local from = stanza.attr.from
	return from and prepared(from:match("^[^/]*")) or nil
end

-- Whether a stanza has an <error/> the view reads (the first <error/> in
-- the client's namespace: the stanza's own or jabber:client,
-- mj_stanza_client_ns()).
local function has_error(stanza)
	local own = stanza.attr.xmlns
	for _, c in ipairs(stanza.tags) do
		local ns = c.attr.xmlns
		if c.name == "error" and (ns == nil or ns == own or ns == "jabber:client") then
			return true
		end
	end
	return false
end

-- The module's disco#info requests held for ping answers, as the replay
-- tool keeps them (replay.c ask_info()): one per session JID and room,
-- whose disco id is the first held answer's ping id; a later answer for
-- the same JID and room replaces the answer held; a reply ends the
-- request with that id from that room, whichever session's line it is
-- on. The module's bounds (4 requests per room domain, 4 per account, 64
-- in all): over them an answer is taken without disco#info.
local function hold(waits, jid, stanza, ping_id)
	local pjid, room = prepared(jid), room_of(stanza)
	if not pjid or not room then
		return false
	end
	local host = room:match("@(.*)$") or room
	local account = pjid:match("^[^/]*")
	local n_domain, n_account = 0, 0
	for _, w in ipairs(waits) do
		if w.jid == pjid and w.room == room then
			if w.unusable then
				return false -- its reply had no <error/>: taken without
			end
			w.answer, w.ping_id = stanza, ping_id
			return true
		end
		n_domain = n_domain + (((w.room:match("@(.*)$") or w.room) == host) and 1 or 0)
		n_account = n_account + ((w.jid:match("^[^/]*") == account) and 1 or 0)
	end
	if #waits >= 64 or n_domain >= 4 or n_account >= 4 then
		return false
	end
	waits[#waits + 1] = { jid = pjid, room = room, disco_id = ping_id, ping_id = ping_id,
		answer = stanza }
	return true
end

-- A received iq as the module's self-ping code takes it (selfping.lib.lua,
-- the replay tool's do_ping_iq() and do_disco_reply()): the outcome's
-- line, or nil when it is none of the module's and goes to t:incoming().
local function iq_by_binding(t, waits, jid, stanza, optimized)
	local ty, id = stanza.attr.type, stanza.attr.id
	local answer = ty == "result" or ty == "error"
	local disco_id, ping_id = id_number(id, "mjdisco-"), id_number(id, "mjping-")
	if type(id) == "string" and id:match("^mjdisco%-0") then
		disco_id = 0 -- the module wrote no leading zero
	end
	if disco_id ~= 0 and answer then
		-- an error without <error/>: the answer goes with it at once, and
		-- the request stays out (until its timeout: the test has none)
		local malformed = ty == "error" and not has_error(stanza)
		local from = prepared(stanza.attr.from)
		for i, w in ipairs(waits) do
			if w.disco_id == disco_id and w.room == from and not (malformed and w.unusable) then
				if malformed then
					w.unusable = true
				else
					table.remove(waits, i)
					if w.unusable then
						-- a reply send_iq() takes, after one without <error/>
						return "its-answer-went-with-the-reply-without-<error/>"
					end
				end
				local prefix, suffix = "", ""
				if malformed then
					prefix, suffix = "disco-answer-without-<error/>:-", "-(the-request-stays-out-until-its-timeout)"
				end
				-- the answer goes to the session under the JID now, if any
				-- (closed since, it has none)
				local held = false
				for _, j in ipairs(t:sessions()) do
					held = held or prepared(j) == w.jid
				end
				if not held then
					return prefix .. "no-session-under-that-JID-now" .. suffix
				end
				local verdict, events = t:ping_answer_info(w.jid, w.answer, w.ping_id, stanza)
				if malformed then
					return prefix .. "ping-answer-" .. tostring(verdict) .. suffix, events
				end
				return "ping-answer " .. tostring(verdict), events
			end
		end
		if malformed then
			return "disco-answer-without-<error/>:-ignored"
		end
		return "disco-answer-for-no-request-out"
	elseif ping_id ~= 0 and answer and optimized == nil and t:ping_needs_features(jid, stanza, ping_id) then
		if hold(waits, jid, stanza, ping_id) then
			return "ping-answer held"
		end
		local verdict, events = t:ping_answer_info(jid, stanza, ping_id, nil)
		return "ping-answer " .. tostring(verdict), events
	elseif ping_id ~= 0 and answer then
		local verdict, events = t:ping_answer(jid, stanza, ping_id, optimized)
		return "ping-answer " .. tostring(verdict), events
	elseif t:is_forwarded_ping(jid, stanza) then
		return "forwarded-ping"
	end
end

-- Prosody's mod_presence: the JIDs a session sent directed presence to
-- (session.directed, here in the order sent), and the broadcast
-- unavailable (no to) sent again to each through the same pre-presence
-- hooks, which read those copies rather than the broadcast. feed_copy()
-- feeds the stanza as it is and returns its events; the events of all
-- the copies are returned.
local function directed_presence(s, stanza, feed_copy)
	local to, t = stanza.attr.to, stanza.attr.type
	s.directed = s.directed or {}
	if to then
		for i, jid in ipairs(s.directed) do
			if jid == to then
				table.remove(s.directed, i)
				break
			end
		end
		if t == nil then
			table.insert(s.directed, to)
		end
		return nil
	elseif t ~= "unavailable" then
		return nil
	end
	local all
	for _, jid in ipairs(s.directed) do
		stanza.attr.to = jid
		for _, ev in ipairs(feed_copy() or {}) do
			all = all or {}
			all[#all + 1] = ev
		end
	end
	stanza.attr.to = nil
	s.directed = {}
	return all
end

-- What the binding makes of a trace: one line per stanza, one per event.
-- hooks: through the module's presence and message hooks (t:hooks()), as
-- Prosody calls them, instead of t:outgoing() and t:incoming(): what they
-- decide is seen only in their events (applied()), so the lines carry no
-- outcome or class then.
local function by_binding(file, hooks)
	local f = assert(io.open(file))
	-- a stream has no comments
	local text = f:read("a"):gsub("<!%-%-.-%-%->", "")
	local steps = parse_trace(text)
	f:close()
	local t = mj.new({})
	local out = {}
	local feed = function(dir, jid, stanza)
		return t[dir == "out" and "outgoing" or "incoming"](t, jid, stanza)
	end
	if hooks then
		-- Prosody's sessions (full_sessions), one load of the hooks per
		-- host, the events handed to applied()
		local full_sessions, by_host, got = {}, {}, nil
		local function applied(_, _, _, _, events)
			got = events
		end
		feed = function(dir, jid, stanza)
			local s = full_sessions[jid]
			if not s then
				s = { full_jid = jid, host = jid:match("@([^/]*)") or jid:match("^[^/]*"), type = "c2s" }
				full_sessions[jid] = s
			end
			by_host[s.host] = by_host[s.host] or t:hooks(full_sessions, s.host, {}, applied)
			local h = by_host[s.host]
			local name = (dir == "out" and "outgoing" or "incoming")
				.. (stanza.name == "message" and "_message" or "")
			got = nil
			if stanza.name == "presence" or stanza.name == "message" then
				if dir == "in" then
					stanza.attr.to = jid -- routed to the session
				end
				h[name]({ origin = s, stanza = stanza })
			end
			if dir == "out" and stanza.name == "presence" then
				local own = got
				local copies = directed_presence(s, stanza, function()
					got = nil
					h.outgoing({ origin = s, stanza = stanza })
					return got
				end)
				got = own
				for _, ev in ipairs(copies or {}) do
					got = got or {}
					got[#got + 1] = ev
				end
			end
			return "-", got
		end
	end
	local opened = {}
	local seen, order = {}, {}
	local waits = {}
	for _, step in ipairs(steps) do
		local stanza = step.tags[1]
		local was_open
		if (step.name == "out" or step.name == "in") and stanza then
			local jid = step.attr.session
			-- a reply to the module's disco#info request opens no session
			-- (the replay tool's do_stanza())
			local disco_reply = step.name == "in" and stanza.name == "iq"
				and (stanza.attr.type == "result" or stanza.attr.type == "error")
				and id_number(stanza.attr.id, "mjdisco-") ~= 0
				and not stanza.attr.id:match("^mjdisco%-0")
			if not opened[jid] and not disco_reply then
				-- the replay tool opens a trace's session at its first line;
				-- the binding holds one only once a join made it (a stanza
				-- of a session it does not hold is "ignored": a presence to
				-- a JID that does not prepare is no "bad-jid" then). So a
				-- join to nowhere, refused: the session is held, with no
				-- room, as the replay tool's is
				opened[jid] = true
				feed("out", jid, st.presence({ to = "nobody@nowhere.example/x" })
					:tag("x", { xmlns = "http://jabber.org/protocol/muc" }):up())
				feed("in", jid, st.presence({ from = "nobody@nowhere.example/x", type = "error" })
					:tag("error", { type = "cancel" })
					:tag("not-allowed", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" }):up():up())
			end
			local class, oc, events
			local optimized = ({ yes = true, no = false })[step.attr.optimized]
			if step.name == "in" and stanza.name == "iq" then
				-- what the module does with an iq before the client sees
				-- it, as the replay tool does it (answers to its pings, the
				-- rooms' disco#info replies, pings the room forwards)
				oc, events = iq_by_binding(t, waits, jid, stanza, optimized)
			end
			if not oc then
				if step.name == "in" and stanza.name == "message" and not hooks then
					-- the replay tool judges a received message first
					class = t:message(jid, stanza)
				end
				oc, events = feed(step.name, jid, stanza)
			elseif hooks then
				oc = "-"
			end
			out[#out + 1] = step.name .. " " .. tostring(oc) .. (class and " class=" .. class or "")
			for _, ev in ipairs(events or {}) do
				if ev.type ~= "log" then
					out[#out + 1] = event_line(ev.type, function(k)
						return shown(ev[k])
					end)
				end
			end
		elseif step.name == "close" then
			-- resource-unbind: the session's rooms end (the replay tool
			-- prints their events sorted); a later line of the JID opens a
			-- new session, in both
			local jid = step.attr.session
			out[#out + 1] = "close"
			was_open = opened[jid]
			local events = opened[jid] and t:close(jid)
			opened[jid] = nil
			for _, ev in ipairs(events or {}) do
				if ev.type ~= "log" then
					out[#out + 1] = event_line(ev.type, function(k)
						return shown(ev[k])
					end)
				end
			end
		elseif step.name ~= "out" and step.name ~= "in" then
			return nil, step.name -- ticks, lost and restored links: not compared here
		end
		local jid = step.attr.session
		if jid and (opened[jid] or step.name == "close" and was_open) and not seen[jid] then
			seen[jid] = true
			order[#order + 1] = jid
		end
	end
	-- the final state, as the replay tool's table shows it: each session
	-- in the order of its first line, its rooms sorted
	out[#out + 1] = "final state"
	for _, jid in ipairs(order) do
		out[#out + 1] = "session " .. shown(jid)
		if not opened[jid] then
			out[#out + 1] = "  closed"
		else
			local rooms = t:rooms(jid)
			table.sort(rooms, function(x, y) return x.room < y.room end)
			if #rooms == 0 then
				out[#out + 1] = "  no rooms"
			end
			for _, r in ipairs(rooms) do
				out[#out + 1] = string.format("  %s %s nick=%s %s=%s", shown(r.room), r.state, shown(r.nick),
					r.state == "expecting" and "announced" or "asked", shown(r.pending_nick))
			end
		end
	end
	return out
end

-- The events after each "close" line sorted, in place: the replay tool
-- prints a close's events sorted, the binding returns them in its order.
local function sort_close_events(out)
	local i = 1
	while i <= #out do
		if out[i] == "close" then
			local j = i + 1
			while j <= #out and out[j]:sub(1, 2) == "* " do
				j = j + 1
			end
			local evs = table.move(out, i + 1, j - 1, 1, {})
			table.sort(evs)
			table.move(evs, 1, #evs, i + 1, out)
			i = j
		else
			i = i + 1
		end
	end
	return out
end

-- What the replay tool prints for it, in the same shape.
local function by_replay(file)
	local p = assert(io.popen(string.format("%s '%s' 2>&1", replay, file)))
	local out = {}
	local final = false
	for line in p:lines() do
		local dir, oc = line:match("^%s*%d+ (%a+)%s.*=> (%S+)$")
		if not oc then
			-- the module's iq: "ping-answer joined (settled by disco#info)",
			-- "ping-answer held: asks...", "forwarded-ping (answered...)"
			local rest
			dir, rest = line:match("^%s*%d+ (in)%s.* => (.*)$")
			oc = rest and (rest:match("^(ping%-answer held):") or rest:match("^(ping%-answer %S+)")
				or rest:match("^(forwarded%-ping) ") or rest:gsub(" ", "-"))
		end
		if line:match("^final state at ") then
			final = true
			out[#out + 1] = "final state"
		elseif final then
			if line:match("^%S") then
				out[#out + 1] = "session " .. line
			elseif line:match("^    %(closed at line") then
				out[#out + 1] = "  closed"
			elseif line == "    (no rooms)" then
				out[#out + 1] = "  no rooms"
			else
				local room, state, rest = line:match("^    (%S+)%s+(%S+)%s*(.*)$")
				rest = " " .. (rest or "")
				local pk = state == "expecting" and "announced" or "asked"
				out[#out + 1] = string.format("  %s %s nick=%s %s=%s", tostring(room), tostring(state),
					field(rest, "nick"), pk, field(rest, pk))
			end
		elseif not dir and line:match("^%s*%d+ close%s") then
			out[#out + 1] = "close"
		elseif dir == "out" or dir == "in" then
			local class = line:match(" class=(%S+)")
			out[#out + 1] = dir .. " " .. oc .. (class and " class=" .. class or "")
		else
			local ty, rest = line:match("^%s+%* (%S+)(.*)$")
			if ty and ty ~= "log" then
				-- old_nick is printed "asked" for nick-rewritten
				local names = { old_nick = ty == "nick-rewritten" and "asked" or "old-nick",
					from_nick = "from-nick", alt_venue = "alt-venue" }
				out[#out + 1] = event_line(ty, function(k)
					return field(rest, names[k] or k)
				end)
			end
		end
	end
	local _, _, code = p:close()
	-- a trace the tool refuses (exit 2: malformed) or could not replay is
	-- no agreement, whatever lines it printed
	if code ~= 0 and code ~= 1 then
		out[#out + 1] = "replay exited " .. tostring(code)
	end
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
		sort_close_events(a)
		local b = sort_close_events(by_replay(file))
		local bad
		for k = 1, math.max(#a, #b) do
			if a[k] ~= b[k] then
				bad = string.format("line %d: binding %q, replay %q", k, tostring(a[k]), tostring(b[k]))
				break
			end
		end
		-- the same through the module's hooks: the events and the final
		-- state (the lines without their outcomes)
		local h = sort_close_events(by_binding(file, true))
		for k = 1, math.max(#h, #b) do
			local r = b[k] and (b[k]:match("^(in) ") or b[k]:match("^(out) ")) or b[k]
			r = r and (r == "in" or r == "out") and r .. " -" or r
			if not bad and h[k] ~= r then
				bad = string.format("line %d: binding's hooks %q, replay %q", k, tostring(h[k]), tostring(r))
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

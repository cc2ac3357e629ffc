-- The "nothing changed" paths of the binding allocate nothing: run by
-- build/tests/lua-alloc-host (tests/lua/alloc_host.c), whose allocator
-- counts every allocation of the Lua VM and of the core (the binding gives
-- the core Lua's allocator). Run from the repository root:
--   build/tests/lua-alloc-host tests/lua/test_alloc.lua build/plugins/mod_track_muc_joins/mucjoins.so
local so_path = arg[1] or "build/plugins/mod_track_muc_joins/mucjoins.so"
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local st = require "util.stanza"
local mj = assert(package.loadlib(so_path, "luaopen_mucjoins"))()

local NS_MUC = "http://jabber.org/protocol/muc"
local NS_MUC_USER = "http://jabber.org/protocol/muc#user"
local JID = "alice@example.org/phone"
local ROOM = "room@conference.example.org"

local function muc_user(p, codes)
	p:tag("x", { xmlns = NS_MUC_USER }):tag("item", { affiliation = "member", role = "participant" }):up()
	for _, c in ipairs(codes) do p:tag("status", { code = c }):up() end
	return p:up()
end

local passed = 0
local failed = 0
local function check(name, got, want)
	if got == want then
		passed = passed + 1
		print("ok   " .. name)
	else
		failed = failed + 1
		print(string.format("FAIL %s: expected %s, got %s", name, tostring(want), tostring(got)))
	end
end

local t = mj.new({})
local session = { full_jid = JID, type = "c2s" }
local join = st.presence({ to = ROOM .. "/alice" }):tag("x", { xmlns = NS_MUC }):up()
local self = muc_user(st.presence({ from = ROOM .. "/alice", to = JID }), { "110" })
check("join sent", t:outgoing(session, join), "changed")
check("self-presence settles it", t:incoming(session, self), "changed")
check("rooms_joined written by the binding", session.rooms_joined and session.rooms_joined[ROOM], "alice")

local other = muc_user(st.presence({ from = ROOM .. "/bob", to = JID }), {})
local other_off = muc_user(st.presence({ from = ROOM .. "/bob", to = JID, type = "unavailable" }), {})
local groupchat = st.message({ from = ROOM .. "/bob", to = JID, type = "groupchat", id = "g1" })
	:text_tag("body", ("The quick brown fox jumps over the lazy dog and nobody is named here at all. "):rep(2):sub(1, 100))
local chat = st.message({ from = "bob@example.net/laptop", to = JID, type = "chat" }):text_tag("body", "hi")
local update = st.presence():tag("show"):text("away"):up()

local bound_outgoing, bound_incoming = t:feeders()
-- the module's hooks (t:hooks()), nobody listening: they return nothing
session.host = "example.org"
local hooks = t:hooks({ [JID] = session }, "example.org", setmetatable({}, { __mode = "k" }), print)
hooks.listen(false)
local function hook(fn, event)
	return function() return select("#", fn(event)) end
end

-- Each case: the call, the outcome it must give, then 1000 calls counted.
local cases = {
	{ "another occupant's presence", function() return t:incoming(session, other) end, "unchanged" },
	{ "another occupant leaving", function() return t:incoming(session, other_off) end, "unchanged" },
	{ "a duplicate self-presence", function() return t:incoming(session, self) end, "unchanged" },
	{ "a groupchat message mentioning nobody", function() return t:incoming(session, groupchat) end, "unchanged" },
	{ "a one-to-one chat message", function() return t:incoming(session, chat) end, "ignored" },
	{ "a presence broadcast", function() return t:outgoing(session, update) end, "ignored" },
	{ "another occupant's presence, by JID", function() return t:incoming(JID, other) end, "unchanged" },
	{ "another occupant's presence, bound feeder", function() return bound_incoming(session, other) end, "unchanged" },
	{ "a presence broadcast, bound feeder", function() return bound_outgoing(session, update) end, "ignored" },
	{ "another occupant's presence, hook", hook(hooks.incoming, { origin = {}, stanza = other }), 0 },
	{ "a groupchat message, hook", hook(hooks.incoming_message, { origin = {}, stanza = groupchat }), 0 },
	{ "a one-to-one chat message, hook", hook(hooks.incoming_message, { origin = {}, stanza = chat }), 0 },
	{ "a presence broadcast, hook", hook(hooks.outgoing, { origin = session, stanza = update }), 0 },
	{ "a chat message sent, hook", hook(hooks.outgoing_message, { origin = session, stanza = chat }), 0 },
	{ "a groupchat message sent to the room, hook", hook(hooks.outgoing_message, { origin = session,
		stanza = st.message({ to = ROOM, type = "groupchat" }):text_tag("body", "hello") }), 0 },
}
-- k calls of f: the warm one and the counted ones at the same stack depth
local function calls(f, k)
	for _ = 1, k do f() end
end
for _, c in ipairs(cases) do
	local name, f, want = c[1], c[2], c[3]
	local o1, e1 = f()
	check(name .. ": outcome", o1, want)
	check(name .. ": no events", e1, nil)
	collectgarbage("collect")
	collectgarbage("stop")
	-- warm, after the collection (which may shrink the Lua stack), from
	-- the same register as the counted calls (n0 declared first): the
	-- stack may grow once, then never again
	local n0 = 0
	calls(f, 1)
	n0 = alloc_count()
	calls(f, 1000)
	local n = alloc_count() - n0
	collectgarbage("restart")
	check(name .. ": allocations in 1000 calls", n, 0)
end
print(string.format("lua-alloc: %d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)

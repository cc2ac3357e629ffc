-- The module's options and their documentation agree. Run from the
-- repository root:
--   lua5.4 tests/lua/test_options_doc.lua build/plugins/mod_track_muc_joins/mucjoins.so
-- The options the module reads are the core's (mj.options(), each read as
-- track_muc_joins_<name>) and the module's own (the other option calls in
-- lua/*.lua, found in the source). Each must be in the options table of
-- README.md ("### Options") and of lua/README.markdown ("# Configuration")
-- with the default the code uses; each option the tables list, and each
-- track_muc_joins_<name> the docs mention anywhere, must exist. README.md also
-- names each figure of the admin shell's muc_joins:stats() and each metric
-- the module registers (module:metric in lua/*.lua), with its labels.
-- One line per group of checks, then "options-doc: N passed, N failed"; exits 1 on a
-- failure.
local so_path = arg[1] or "build/plugins/mod_track_muc_joins/mucjoins.so"
local mj = assert(package.loadlib(so_path, "luaopen_mucjoins"))()

local PREFIX = "track_muc_joins_"
local NO_DEFAULT = {} -- an option read without a default

-- Each group of checks is one test: "ok NAME", or "FAIL NAME" and what
-- failed.
local passed, failed = 0, 0
local group_name, group_failures

local function finish_group()
	if group_name == nil then return end
	if #group_failures == 0 then
		passed = passed + 1
		print("ok   " .. group_name)
	else
		failed = failed + 1
		print("FAIL " .. group_name .. "\n  " .. table.concat(group_failures, "\n  "))
	end
	group_name = nil
end

local function group(name)
	finish_group()
	group_name, group_failures = name, {}
end

local function check(ok, what)
	if not ok then
		group_failures[#group_failures + 1] = what
	end
end

local function read(path)
	local f = assert(io.open(path, "r"))
	local s = f:read("a")
	f:close()
	return s
end

local function lines(path)
	local t = {}
	for line in (read(path) .. "\n"):gmatch("([^\n]*)\n") do
		t[#t + 1] = line
	end
	return t
end

local function show(v)
	if type(v) == "string" then return string.format("%q", v) end
	return tostring(v)
end

---------------------------------------------------------------------------
-- What the module reads: name -> default (a boolean or a number)

local read_options = {}
local order = {}

local function add(name, default, where)
	if read_options[name] ~= nil then
		check(read_options[name] == default,
			where .. ": " .. name .. " read again with default " .. show(default))
		return
	end
	read_options[name] = default
	order[#order + 1] = name
end

group("the options the module reads are found (mj.options() and lua/*.lua)")
for _, o in ipairs(mj.options()) do
	add(PREFIX .. o.name, o.default, "mj.options()")
end

-- A literal default in the source: true, false or a number.
local function literal(s)
	s = s:match("^%s*(.-)%s*$")
	if s == "true" then return true end
	if s == "false" then return false end
	return tonumber(s)
end

local sources = {}
local ls = io.popen("ls lua/*.lua")
for f in ls:lines() do
	sources[#sources + 1] = f
end
ls:close()

for _, path in ipairs(sources) do
	for n, line in ipairs(lines(path)) do
		local where = path .. ":" .. n
		local code = line:gsub("%-%-.*$", "")
		if code:find("get_option", 1, true) or code:find("_option%(") then
			-- a direct read: module:get_option_<type>("name"[, default])
			local name, rest = code:match('get_option[%w_]*%(%s*"([%w_]+)"%s*([,)].*)$')
			if not name then
				-- the module's wrappers: number_option("x", 1), boolean_option("x", true)
				name, rest = code:match('[%a_]+_option%(%s*"([%w_]+)"%s*(,.*)$')
				if name then name = PREFIX .. name end
			end
			local default = rest and (rest:match("^,([^)]*)%)") or "")
			if name then
				if name:sub(1, #PREFIX) == PREFIX then
					local d = literal(default)
					check(d ~= nil or default:match("^%s*$") ~= nil,
						where .. ": default of " .. name .. " is a literal")
					if d == nil then d = NO_DEFAULT end
					add(name, d, where)
				end
				-- otherwise one of Prosody's own options: not ours to document
			elseif code:match("^%s*local function [%a_]+_option%(") then
				-- a wrapper's definition
			elseif code:find('"' .. PREFIX .. '" .. name', 1, true) then
				-- inside a wrapper: the name comes from its caller
			elseif code:match("[%a_]+_option%(%s*option%.name%s*,%s*option%.default%s*[,)]") then
				-- the loop over mj.options(), read above
			else
				check(false, where .. ": an option read this check cannot follow: " .. code)
			end
		end
	end
end

check(#order > #mj.options(), "the module's own options were found in lua/*.lua ("
	.. (#order - #mj.options()) .. ")")

---------------------------------------------------------------------------
-- What the docs list

-- Rows of the section starting at a line equal to heading, up to the next
-- heading: { name = default text }.
local function doc_table(path, heading, row_pattern)
	local rows, seen_order = {}, {}
	local inside, found = false, false
	for n, line in ipairs(lines(path)) do
		if line == heading then
			inside, found = true, true
		elseif inside and line:match("^#") then
			inside = false
		elseif inside then
			local name, default = line:match(row_pattern)
			if name then
				check(rows[name] == nil, path .. ":" .. n .. ": " .. name .. " listed once")
				rows[name] = default
				seen_order[#seen_order + 1] = name
			end
		end
	end
	check(found, path .. ": has the heading " .. show(heading))
	return rows, seen_order
end

local function same_default(text, want)
	if type(want) == "boolean" then return text == tostring(want) end
	return tonumber(text) == want
end

local docs = {
	{ "README.md", "### Options", "^| `(" .. PREFIX .. "[%w_]+)` | ([^|]-) |" },
	{ "lua/README.markdown", "# Configuration", "^%s+`(" .. PREFIX .. "[%w_]+)`%s+(%S+)" },
}

for _, d in ipairs(docs) do
	local path = d[1]
	group(path .. ": its options table lists every option once, with its default, and nothing else")
	local rows, listed = doc_table(path, d[2], d[3])
	for _, name in ipairs(order) do
		local text = rows[name]
		check(text ~= nil, path .. ": documents " .. name)
		if text ~= nil and read_options[name] ~= NO_DEFAULT then
			check(same_default(text, read_options[name]), path .. ": default of " .. name
				.. " is " .. show(read_options[name]) .. " (documented: " .. text .. ")")
		end
	end
	for _, name in ipairs(listed) do
		check(read_options[name] ~= nil, path .. ": documented " .. name .. " is an option the module reads")
	end
end

-- Every track_muc_joins_<name> mentioned in the docs names an option.
group("every track_muc_joins_<name> the docs mention is an option")
local p2 = io.popen("ls README.md CHANGELOG.md lua/README.markdown docs/*.md tests/*/README.md 2>/dev/null")
for path in p2:lines() do
	for n, line in ipairs(lines(path)) do
		for name in line:gmatch(PREFIX .. "[%w_]*[%w]") do
			if name:match("^" .. PREFIX .. "%l") then
				check(read_options[name] ~= nil, path .. ":" .. n .. ": " .. name .. " is an option")
			end
		end
	end
end
p2:close()

---------------------------------------------------------------------------
-- What an operator reads besides the options: the figures the admin
-- shell's muc_joins:stats() prints and the metrics the module registers,
-- each named in README.md's section about them.

-- The lines of README.md's section heading (up to the next "## ").
local function section(heading)
	local out, inside = {}, false
	for _, line in ipairs(lines("README.md")) do
		if line == heading then
			inside = true
		elseif inside and line:match("^## ") then
			break
		elseif inside then
			out[#out + 1] = line
		end
	end
	check(inside, "README.md: has the heading " .. show(heading))
	return table.concat(out, "\n")
end

group("README.md's Admin shell names every figure muc_joins:stats() prints, and no other")
do
	local shell = read("lua/shell.lib.lua")
	local list = shell:match("local stat_keys = (%b{})")
	check(list ~= nil, "lua/shell.lib.lua: has its stat_keys list")
	local keys = {}
	for key in (list or ""):gmatch('"([%w_]+)"') do
		keys[key] = true
	end
	check(next(keys) ~= nil, "lua/shell.lib.lua: stat_keys lists figures")
	local text = section("## Admin shell")
	for key in pairs(keys) do
		check(text:find("`" .. key .. "`", 1, true), "README.md, Admin shell: names `" .. key .. "`")
	end
	local stats_part = text:match("`stats` prints(.*)") or ""
	for word in stats_part:gmatch("`([%l_]+)`") do
		if word:match("^[a-z]+_[a-z_]+$") or word:match("^pings") then
			check(keys[word] or read_options[PREFIX .. word] ~= nil or word == "rooms_joined",
				"README.md, Admin shell: `" .. word .. "` is a figure stats() prints (or an option, or rooms_joined)")
		end
	end
end

group("README.md's Metrics names every metric the module registers, with its labels")
do
	local text = section("## Metrics")
	local found = 0
	for _, path in ipairs(sources) do
		local src = read(path)
		for kind, name, labels in src:gmatch('module:metric%(%s*"(%a+)",%s*"([%w_]+)",[^{]-(%b{})') do
			found = found + 1
			local keys = {}
			for key in labels:gmatch('"([%w_]+)"') do
				keys[#keys + 1] = key
			end
			local want = "_" .. name .. (kind == "counter" and "_total" or "")
				.. (#keys > 0 and "{" .. table.concat(keys, ",") .. "}" or "")
			-- followed by a backtick: "_joins_total" is not "_joins_total{...}"
			check(text:find(want .. "`", 1, true), "README.md, Metrics: names " .. want
				.. " (" .. kind .. " " .. name .. " in " .. path .. ")")
		end
	end
	check(found > 0, "lua/*.lua: module:metric() calls found")
end

finish_group()
print(string.format("options-doc: %d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)

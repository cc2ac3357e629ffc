-- mucjoins as a LuaRocks rock, for `prosodyctl install` (README.md,
-- "Install with prosodyctl"). One rockspec per release: the version here
-- is MJ_VERSION from include/mucjoins.h, and `make rock` refuses to run
-- when they differ.
rockspec_format = "3.0"
package = "mucjoins"
version = "0.1.0-1"

source = {
   -- The archive `make rock` writes into build/rock/ (the project has no
   -- download location yet). The .src.rock made next to it carries this
   -- archive, so it installs offline; `make rock` also writes a copy of
   -- this rockspec whose url is the archive's absolute file:// path.
   -- When releases are published, put the release archive's URL here.
   url = "mucjoins-0.1.0.tar.gz",
   dir = "mucjoins-0.1.0",
}

description = {
   summary = "mod_track_muc_joins for Prosody: which MUC rooms each session is in, under which nick",
   detailed = [[
A drop-in replacement for the community module mod_track_muc_joins: it keeps
session.rooms_joined[room_bare_jid] = nick on every client session, correct
through rewritten nicks (210), broadcast unavailable, forged presences, nick
changes (303), destroyed rooms and removals, and fires muc-joins/* events.
The decisions are made by libmucjoins, a C library built into the module's
mucjoins.so. Enable it with modules_enabled = { "track_muc_joins" }.
]],
   labels = { "prosody", "xmpp", "muc" },
   license = "MIT",
}

dependencies = {
   "lua >= 5.4, < 5.5",
}

external_dependencies = {
   -- Debian: libicu-dev
   ICUUC = { header = "unicode/usprep.h", library = "icuuc" },
}

build = {
   type = "make",
   -- builds build/plugins/mod_track_muc_joins/ (the Makefile's `plugin`)
   build_target = "plugin",
   build_variables = {
      CFLAGS = "$(CFLAGS)",
      LUA_INC = "-I$(LUA_INCDIR)",
   },
   -- installs into $(LUADIR)/mod_track_muc_joins/, which luarocks deploys
   -- to <tree>/share/lua/5.4/mod_track_muc_joins/ (found by Prosody's
   -- plugin loader when <tree> is its installer_plugin_path)
   install_target = "install-rock",
   install_variables = {
      ROCK_LUADIR = "$(LUADIR)",
   },
   copy_directories = { "docs" },
}

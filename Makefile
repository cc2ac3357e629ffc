# mucjoins — see README.md. `make` builds everything into build/.
CC ?= cc
ifeq ($(origin CC),default)
CC = gcc
endif
BUILD ?= build
PREFIX ?= /usr/local
CSTD = -std=c11 -D_POSIX_C_SOURCE=200809L
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT ?= -O2 -g
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) -fPIC -fvisibility=hidden -Iinclude -Isrc $(CFLAGS)
ICU_LIBS = -licuuc
LUA_INC = -I/usr/include/lua5.4

CORE_SRC = $(wildcard src/*.c)
CORE_OBJ = $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
# the same objects for the Lua module, with the API hidden (-DMJ_STATIC)
PLUGIN_OBJ = $(CORE_SRC:src/%.c=$(BUILD)/obj-plugin/%.o)
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
PLUGIN = $(BUILD)/plugins/mod_track_muc_joins
BUILD_FLAGS = $(BUILD)/build-flags
# mucjoins.so of other versions, for the tests: one from before the
# interface number, one with another number
OLD_BINDINGS = $(BUILD)/tests/old-binding/none/mucjoins.so $(BUILD)/tests/old-binding/2/mucjoins.so

.PHONY: FORCE all test test-unit test-sanitize test-nosimd test-integration test-ejabberd run bench fuzz model-check \
        format format-check clean deps

all: $(BUILD)/libmucjoins.a $(BUILD)/libmucjoins.so $(BUILD)/mucjoins-replay \
     $(PLUGIN)/mod_track_muc_joins.lua $(PLUGIN)/mucjoins.so $(TEST_BIN) \
     $(BUILD)/tests/lua-alloc-host $(OLD_BINDINGS)

$(BUILD)/obj/%.o: src/%.c include/mucjoins.h $(wildcard src/*.h) $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# The plugin's code calls liblua's API (in Prosody's lua5.4) through the
# GOT, not through PLT stubs: a presence runs through Lua's interpreter,
# ~20 API functions, the binding and the core, more code than a 32 KiB
# instruction cache holds; the stubs were a third of its misses
# (callgrind --cache-sim, bench/bench_lua.lua: 17.9M -> 11.8M I1 misses
# for 240,000 presences).
PLUGIN_CFLAGS = -DMJ_STATIC -fno-plt
# ... and is linked as one unit (gcc's link-time optimization): the core's
# calls inline across files and its hot path packs into fewer cache lines
# (bench_lua.lua with 400 sessions: 7.3M -> 6.1M I1 misses for 96,000
# presences, 2 % fewer instructions; Prosody under callgrind: the
# binding's entry points 4,262 -> 4,137 instructions per presence
# received). Only with gcc (clang's LTO needs a linker plugin Debian
# ships apart); PLUGIN_LTO= builds without it.
CC_VERSION := $(shell $(CC) --version 2>/dev/null | head -n 1)
PLUGIN_LTO ?= $(if $(findstring clang,$(CC_VERSION)),,-flto=auto)

# What the C files of $(BUILD) are built with: the compiler, its version,
# the flags. When that changes (`make CC=clang` after `make`, another OPT
# or CFLAGS), every object and program is made again rather than kept or
# mixed with the new ones. Rewritten only when it differs, so it makes
# nothing again by itself. (BUILD_FLAGS is set at the top: the rules
# above name it.)
BUILD_FLAGS_TEXT := $(CC) [$(CC_VERSION)] $(CFLAGS_ALL) | $(PLUGIN_CFLAGS) $(PLUGIN_LTO) | $(LDFLAGS)
$(BUILD_FLAGS): FORCE
	@mkdir -p $(dir $@)
	@echo '$(BUILD_FLAGS_TEXT)' | cmp -s - $@ 2>/dev/null || echo '$(BUILD_FLAGS_TEXT)' >$@

$(BUILD)/obj-plugin/%.o: src/%.c include/mucjoins.h $(wildcard src/*.h) $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PLUGIN_CFLAGS) $(PLUGIN_LTO) -c $< -o $@

$(BUILD)/libmucjoins.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libmucjoins.so: $(CORE_OBJ) $(BUILD_FLAGS)
	$(CC) -shared -Wl,-soname,libmucjoins.so.0 -o $@ $(CORE_OBJ) $(ICU_LIBS) $(LDFLAGS)

# The replay tool, split the way expat's xmlwf is (tools/replay/main.c
# names the parts); fuzz/fuzz_replay.c links all of them but main.c.
REPLAY_SRC = $(wildcard tools/replay/*.c)
$(BUILD)/mucjoins-replay: $(REPLAY_SRC) $(wildcard tools/replay/*.h) $(BUILD)/libmucjoins.a $(BUILD_FLAGS)
	$(CC) $(CFLAGS_ALL) -o $@ $(REPLAY_SRC) $(BUILD)/libmucjoins.a -lexpat $(ICU_LIBS) $(LDFLAGS)

# The Lua binding: core objects linked in, liblua NOT linked (Prosody's
# lua5.4 provides the symbols), only luaopen_mucjoins exported.
# lua/*.c: the binding's parts (lua/mucjoins_lua.h names them).
# (fuzz/fuzz_binding.c, built by scripts/fuzz.sh, links the same files)
BINDING_SRC = $(wildcard lua/*.c)
$(PLUGIN)/mucjoins.so: $(BINDING_SRC) lua/mucjoins_lua.h $(PLUGIN_OBJ) $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PLUGIN_CFLAGS) $(PLUGIN_LTO) $(LUA_INC) -shared -o $@ $(BINDING_SRC) $(PLUGIN_OBJ) $(ICU_LIBS) $(LDFLAGS)

# A lua5.4 host with a counting allocator (tests/lua/test_alloc.lua).
$(BUILD)/tests/lua-alloc-host: tests/lua/alloc_host.c $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(OPT) $(LUA_INC) $(CFLAGS) -o $@ $< -llua5.4 $(LDFLAGS)

# mucjoins.so of other versions (tests/lua/old_binding.c).
$(BUILD)/tests/old-binding/none/mucjoins.so: tests/lua/old_binding.c $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(LUA_INC) $(CFLAGS) -fPIC -shared -o $@ $< $(LDFLAGS)
$(BUILD)/tests/old-binding/2/mucjoins.so: tests/lua/old_binding.c $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(LUA_INC) $(CFLAGS) -DOLD_INTERFACE=2 -fPIC -shared -o $@ $< $(LDFLAGS)

# (the folder's Lua files and README made anew: a file gone from lua/
# goes from the folder too; $(LUA_LIST) names lua/*.lib.lua and changes
# when that list does, so an added or removed file remakes the folder
# whatever its date)
LUA_LIST = $(BUILD)/plugin-lua-files
$(LUA_LIST): FORCE
	@mkdir -p $(dir $@)
	@echo '$(sort $(notdir $(wildcard lua/*.lib.lua)))' | cmp -s - $@ 2>/dev/null || \
	  echo '$(sort $(notdir $(wildcard lua/*.lib.lua)))' >$@
FORCE:

$(PLUGIN)/mod_track_muc_joins.lua: lua/mod_track_muc_joins.lua $(wildcard lua/*.lib.lua) lua/README.markdown $(LUA_LIST)
	@mkdir -p $(dir $@)
	rm -f $(PLUGIN)/*.lua $(PLUGIN)/README.markdown
	cp lua/*.lib.lua lua/README.markdown $(PLUGIN)/
	cp $< $@

$(BUILD)/tests/%: tests/%.c tests/test.h tests/fixture.h $(BUILD)/libmucjoins.a $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libmucjoins.a $(ICU_LIBS) $(LDFLAGS)

# the replay tool's option parsing, compiled into its test (before the fix, an
# edit there left the test on the old code)
$(BUILD)/tests/test_replay_options: tools/replay/options.c tools/replay/options.h tools/replay/trace.h

# The binding's event buffer under a failing allocator: the binding and
# liblua too.
$(BUILD)/tests/test_binding_events: tests/test_binding_events.c $(BINDING_SRC) lua/mucjoins_lua.h tests/test.h $(BUILD)/libmucjoins.a $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LUA_INC) -o $@ $< $(BINDING_SRC) $(BUILD)/libmucjoins.a -llua5.4 $(ICU_LIBS) -lm $(LDFLAGS)

deps:
	scripts/deps.sh test

# Everything: unit tests (gcc), the same under ASan+UBSan (clang),
# the replay tool, integration tests against a real Prosody. The last line
# is the summary of all suites.
test: deps
	$(MAKE) all
	scripts/run-tests.sh

# Just the ejabberd suite (a private ejabberd 23.01 over s2s with Prosody).
test-ejabberd: deps
	$(MAKE) all
	scripts/ejabberd-tests.sh

test-unit: all
	@for t in $(TEST_BIN); do $$t || exit 1; done

test-sanitize:
	$(MAKE) BUILD=build/asan CC=clang OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" build/asan/libmucjoins.a $(TEST_SRC:tests/%.c=build/asan/tests/%) build/asan/mucjoins-replay

# The mention search's portable path (what a machine without SSE2 runs),
# built with the SIMD code switched off.
test-nosimd:
	$(MAKE) BUILD=build/nosimd OPT="-O2 -g -DMJ_NO_SIMD" build/nosimd/tests/test_mentions build/nosimd/tests/test_messages

run: 
	scripts/deps.sh run
	$(MAKE) all
	scripts/run-demo.sh

bench: all
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh

# A randomized model check of the join state machine (tests/model_joins.c,
# and with nick changes tests/model_nicks.c): how many runs end wrong,
# documented limits included; not in make test. At 79a7229, in order:
# 397, 1805, 397, 5283, 16305 (model_joins), 2460, 83 (model_nicks); at
# 4138953 (a change from EXPECTING starts from the announced nick) the
# same but 2261 for the first model_nicks run.
model-check: $(BUILD)/tests/model_joins $(BUILD)/tests/model_nicks
	$(BUILD)/tests/model_joins 100000 6
	MODEL_REFUSE=1 $(BUILD)/tests/model_joins 100000 6
	MODEL_OTHER=1 $(BUILD)/tests/model_joins 100000 6
	MODEL_EXT=1 $(BUILD)/tests/model_joins 100000 6
	MODEL_EXT=1 MODEL_NOREFLECT=1 $(BUILD)/tests/model_joins 100000 6
	$(BUILD)/tests/model_nicks 100000 6
	SANE=1 RENAME=1 PERR=1 $(BUILD)/tests/model_nicks 100000 6

FORMAT_FILES = $(wildcard include/*.h src/*.c src/*.h tests/*.c tests/*.h tests/lua/*.c lua/*.c lua/*.h tools/replay/*.c tools/replay/*.h fuzz/*.c bench/*.c)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) build

# ---------------------------------------------------------------------------
# Installing: `make install` / `make uninstall` (PREFIX, DESTDIR and the
# directories below can be set on the command line), the luarocks rock for
# `prosodyctl install` (`make rock`), and the rendered docs (`make docs`).
# What goes where: README.md, "Install with make install".
# The version has one source, MJ_VERSION in include/mucjoins.h.
VERSION := $(shell sed -n 's/^.define MJ_VERSION "\([^"]*\)".*/\1/p' include/mucjoins.h)
# SOVERSION must match -soname in the libmucjoins.so rule above
SOVERSION = 0
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PROSODY_MODULES_DIR ?= $(PREFIX)/lib/prosody/modules
INSTALL ?= install
# the plugin folder: the module, the Lua files it module:require()s, the binding
PLUGIN_LUA = lua/mod_track_muc_joins.lua $(wildcard lua/*.lib.lua)
PLUGIN_FILES = $(notdir $(PLUGIN_LUA)) mucjoins.so README.markdown
LIB_FILES = libmucjoins.a libmucjoins.so.$(VERSION) libmucjoins.so.$(SOVERSION) libmucjoins.so
INSTALL_PLUGIN_DIR = $(DESTDIR)$(PROSODY_MODULES_DIR)/mod_track_muc_joins

.PHONY: install uninstall plugin install-rock rock docs version

version:
	@echo $(VERSION)

# the Prosody plugin folder only (what the rock builds)
plugin: $(PLUGIN)/mod_track_muc_joins.lua $(PLUGIN)/mucjoins.so

install: $(BUILD)/libmucjoins.a $(BUILD)/libmucjoins.so $(BUILD)/mucjoins-replay plugin
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(INSTALL_PLUGIN_DIR)
	$(INSTALL) -m 755 $(BUILD)/mucjoins-replay $(DESTDIR)$(BINDIR)/mucjoins-replay
	sed 's/"mucjoins [0-9][^"]*"/"mucjoins $(VERSION)"/' docs/mucjoins-replay.1 \
	  >$(DESTDIR)$(MANDIR)/man1/mucjoins-replay.1
	chmod 644 $(DESTDIR)$(MANDIR)/man1/mucjoins-replay.1
	$(INSTALL) -m 644 include/mucjoins.h $(DESTDIR)$(INCLUDEDIR)/mucjoins.h
	$(INSTALL) -m 644 $(BUILD)/libmucjoins.a $(DESTDIR)$(LIBDIR)/libmucjoins.a
	$(INSTALL) -m 755 $(BUILD)/libmucjoins.so $(DESTDIR)$(LIBDIR)/libmucjoins.so.$(VERSION)
	ln -sf libmucjoins.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmucjoins.so.$(SOVERSION)
	ln -sf libmucjoins.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libmucjoins.so
	printf '%s\n' 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' \
	  'libdir=$(patsubst $(PREFIX)/%,$${exec_prefix}/%,$(LIBDIR))' \
	  'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))' '' \
	  'Name: mucjoins' \
	  'Description: which XMPP MUC rooms each client session is in, and under which nick' \
	  'Version: $(VERSION)' 'Requires.private: icu-uc' \
	  'Libs: -L$${libdir} -lmucjoins' 'Cflags: -I$${includedir}' \
	  >$(DESTDIR)$(PKGCONFIGDIR)/mucjoins.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/mucjoins.pc
	$(INSTALL) -m 644 $(PLUGIN_LUA) lua/README.markdown $(INSTALL_PLUGIN_DIR)/
	$(INSTALL) -m 755 $(PLUGIN)/mucjoins.so $(INSTALL_PLUGIN_DIR)/mucjoins.so
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi
	@echo "installed mucjoins $(VERSION); Prosody plugin folder: $(PROSODY_MODULES_DIR)/mod_track_muc_joins"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mucjoins-replay $(DESTDIR)$(MANDIR)/man1/mucjoins-replay.1 \
	  $(DESTDIR)$(INCLUDEDIR)/mucjoins.h $(DESTDIR)$(PKGCONFIGDIR)/mucjoins.pc \
	  $(addprefix $(DESTDIR)$(LIBDIR)/,$(LIB_FILES)) \
	  $(addprefix $(INSTALL_PLUGIN_DIR)/,$(PLUGIN_FILES))
	@# the folders install created, when nothing else is in them
	@for d in $(INSTALL_PLUGIN_DIR) $(DESTDIR)$(PROSODY_MODULES_DIR) $(DESTDIR)$(PREFIX)/lib/prosody; do \
	  rmdir $$d 2>/dev/null || true; done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# luarocks' "make" build (rockspec/): build the plugin, then put it where
# luarocks deploys it to <tree>/share/lua/5.4/mod_track_muc_joins/, a path
# Prosody's plugin loader searches in its installer_plugin_path.
install-rock:
	@test -n "$(ROCK_LUADIR)" || { echo "install-rock: ROCK_LUADIR not set (luarocks sets it)"; exit 1; }
	$(INSTALL) -d $(ROCK_LUADIR)/mod_track_muc_joins
	$(INSTALL) -m 644 $(PLUGIN_LUA) lua/README.markdown $(ROCK_LUADIR)/mod_track_muc_joins/
	$(INSTALL) -m 755 $(PLUGIN)/mucjoins.so $(ROCK_LUADIR)/mod_track_muc_joins/mucjoins.so

# build/rock/: the source archive, a .src.rock (rockspec + archive, for any
# machine, offline) and a rockspec whose source.url is that archive.
rock:
	scripts/make-rock.sh $(VERSION) $(BUILD)/rock

# docs/state-machine.dot rendered with Graphviz when it is installed.
docs:
	@if command -v dot >/dev/null 2>&1; then \
	  mkdir -p $(BUILD)/docs && dot -Tsvg docs/state-machine.dot -o $(BUILD)/docs/state-machine.svg && \
	  echo "docs: $(BUILD)/docs/state-machine.svg"; \
	else \
	  echo "docs: Graphviz (dot) is not installed; docs/state-machine.dot stays text (apt-get install graphviz)"; \
	fi

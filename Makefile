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

.PHONY: all test test-unit test-sanitize test-integration run bench fuzz \
        format format-check clean deps

all: $(BUILD)/libmucjoins.a $(BUILD)/libmucjoins.so $(BUILD)/mucjoins-replay \
     $(PLUGIN)/mod_track_muc_joins.lua $(PLUGIN)/mucjoins.so $(TEST_BIN)

$(BUILD)/obj/%.o: src/%.c include/mucjoins.h $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj-plugin/%.o: src/%.c include/mucjoins.h $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DMJ_STATIC -c $< -o $@

$(BUILD)/libmucjoins.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libmucjoins.so: $(CORE_OBJ)
	$(CC) -shared -Wl,-soname,libmucjoins.so.0 -o $@ $^ $(ICU_LIBS) $(LDFLAGS)

$(BUILD)/mucjoins-replay: tools/mucjoins-replay.c $(BUILD)/libmucjoins.a
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libmucjoins.a -lexpat $(ICU_LIBS) $(LDFLAGS)

# The Lua binding: core objects linked in, liblua NOT linked (Prosody's
# lua5.4 provides the symbols), only luaopen_mucjoins exported.
$(PLUGIN)/mucjoins.so: lua/mucjoins_lua.c $(PLUGIN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DMJ_STATIC $(LUA_INC) -shared -o $@ $< $(PLUGIN_OBJ) $(ICU_LIBS) $(LDFLAGS)

$(PLUGIN)/mod_track_muc_joins.lua: lua/mod_track_muc_joins.lua
	@mkdir -p $(dir $@)
	cp $< $@
	cp lua/README.markdown $(PLUGIN)/ 2>/dev/null || true

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libmucjoins.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libmucjoins.a $(ICU_LIBS) $(LDFLAGS)

deps:
	scripts/deps.sh test

# Everything: unit tests (gcc), the same under ASan+UBSan (clang),
# the replay tool, integration tests against a real Prosody. The last line
# is the summary of all suites.
test: deps
	$(MAKE) all
	scripts/run-tests.sh

test-unit: all
	@for t in $(TEST_BIN); do $$t || exit 1; done

test-sanitize:
	$(MAKE) BUILD=build/asan CC=clang OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" build/asan/libmucjoins.a $(TEST_SRC:tests/%.c=build/asan/tests/%) build/asan/mucjoins-replay

run: 
	scripts/deps.sh run
	$(MAKE) all
	scripts/run-demo.sh

bench: all
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh

FORMAT_FILES = $(wildcard include/*.h src/*.c src/*.h tests/*.c tests/*.h lua/*.c tools/*.c fuzz/*.c bench/*.c)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) build

/* The Lua binding's event buffer (lua/mj_collect.c), driven through a
 * Lua state whose allocator can fail one chosen reallocation: a record
 * dropped for lack of memory must not hand its ping id to the record
 * before it, and absent strings must not be reached by pointer arithmetic
 * (UBSan's pointer-overflow check in the sanitized build). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "test.h"

int luaopen_mucjoins(lua_State *L);

/* Fails the first reallocation from fail_from to fail_to bytes while
 * armed. */
static struct {
    int armed, failed;
    size_t fail_from, fail_to;
} ctl;

static void *test_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (ctl.armed && ptr != NULL && osize == ctl.fail_from &&
        nsize == ctl.fail_to) {
        ctl.armed = 0;
        ctl.failed = 1;
        return NULL;
    }
    return realloc(ptr, nsize);
}

static lua_State *new_state(void)
{
    lua_State *L = lua_newstate(test_alloc, NULL);
    if (L == NULL)
        exit(2);
    luaL_openlibs(L);
    luaL_requiref(L, "mucjoins", luaopen_mucjoins, 1);
    lua_pop(L, 1);
    return L;
}

static int run(lua_State *L, const char *chunk)
{
    if (luaL_dostring(L, chunk) != LUA_OK) {
        FAIL_AT("lua: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Two pings in one tick; the second record's strings need the buffer to
 * grow from 256 to 512 bytes, and that fails: the first ping keeps its
 * own id (1), the loss is reported. */
TEST(dropped_ping_record_keeps_ids_apart)
{
    lua_State *L = new_state();
    char room[200];
    /* a room JID long enough that one record fits in 256 bytes, two not */
    memset(room, 'r', 140);
    room[140] = '\0';
    lua_pushstring(L, room);
    lua_setglobal(L, "long");
    run(L, "mj = require 'mucjoins'\n"
           "t = mj.new{ ping_start_delay = 0 }\n"
           "assert(t:restore('u@h/x', long .. 'a@muc.remote', 'joined', "
           "'Ann', nil, 0))\n"
           "assert(t:restore('u@h/x', long .. 'b@muc.remote', 'joined', "
           "'Ann', nil, 0))\n"
           "assert(t:link_lost('muc.remote'))\n");
    ctl.fail_from = 256;
    ctl.fail_to = 512;
    ctl.armed = 1;
    run(L, "events = t:tick()\n");
    ctl.armed = 0;
    CHECK(ctl.failed);
    run(L, "local pings, lost = {}, false\n"
           "for _, e in ipairs(events or {}) do\n"
           "  if e.type == 'ping-needed' then pings[#pings + 1] = e end\n"
           "  if e.type == 'log' and e.level == 'error' then lost = true end\n"
           "end\n"
           "assert(lost, 'the loss is reported')\n"
           "assert(#pings == 1, 'one ping recorded: ' .. #pings)\n"
           "assert(pings[1].ping_id == 1, 'its own id, got ' .. "
           "tostring(pings[1].ping_id))\n"
           "assert(pings[1].old_nick == nil and pings[1].reason == nil)\n"
           "assert(t:stats().dropped_events == 1)\n");
    lua_close(L);
}

int main(void)
{
    RUN(dropped_ping_record_keeps_ids_apart);
    return test_summary("binding_events");
}

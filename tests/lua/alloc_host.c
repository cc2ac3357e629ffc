/*
 * alloc_host.c - a minimal lua5.4 host whose allocator counts, for
 * tests/lua/test_alloc.lua: the Lua VM and the mucjoins binding (which
 * gives the core Lua's allocator) both allocate through it, so the script
 * can check that a path allocates nothing at all, and
 * tests/lua/test_oom.lua, what the binding does when allocations fail.
 *
 *   build/tests/lua_alloc_host SCRIPT [ARGS...]
 *
 * The script gets arg[] as lua5.4 gives it and three global functions:
 * alloc_count(), the number of allocator calls so far that allocated or
 * grew a block; alloc_fail(n), after which n more of those succeed and
 * every later one fails (alloc_fail(nil): none fails); alloc_failed(),
 * how many failed since the last alloc_fail().
 */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static unsigned long long allocations, failures;
static long long budget = -1; /* -1: no failures */

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (ptr == NULL || nsize > osize) {
        if (budget == 0) {
            failures++;
            return NULL;
        }
        if (budget > 0)
            budget--;
        allocations++;
    }
    return realloc(ptr, nsize);
}

static int l_alloc_fail(lua_State *L)
{
    budget = lua_isnoneornil(L, 1) ? -1 : luaL_checkinteger(L, 1);
    if (budget < -1)
        budget = -1;
    failures = 0;
    return 0;
}

static int l_alloc_failed(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)failures);
    return 1;
}

static int l_alloc_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)allocations);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L;
    int i, rc;

    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRIPT [ARGS...]\n", argv[0]);
        return 2;
    }
    L = lua_newstate(counting_alloc, NULL);
    if (L == NULL)
        return 1;
    luaL_openlibs(L);
    lua_register(L, "alloc_count", l_alloc_count);
    lua_register(L, "alloc_fail", l_alloc_fail);
    lua_register(L, "alloc_failed", l_alloc_failed);
    lua_createtable(L, argc, 1);
    for (i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    rc = luaL_dofile(L, argv[1]);
    if (rc != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    lua_close(L);
    return 0;
}

/*
 * alloc_host.c - a minimal lua5.4 host whose allocator counts, for
 * tests/lua/test_alloc.lua: the Lua VM and the mucjoins binding (which
 * gives the core Lua's allocator) both allocate through it, so the script
 * can check that a path allocates nothing at all.
 *
 *   build/tests/lua_alloc_host SCRIPT [ARGS...]
 *
 * The script gets arg[] as lua5.4 gives it and one global function,
 * alloc_count(), the number of allocator calls so far that allocated or
 * grew a block.
 */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static unsigned long long allocations;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (ptr == NULL || nsize > osize)
        allocations++;
    return realloc(ptr, nsize);
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

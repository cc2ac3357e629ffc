/*
 * A stand-in for a mucjoins.so of another version, for the tests of the
 * module's interface check (tests/lua/test_module_load.lua,
 * tests/integration/test_replaced_binding.py): luaopen_mucjoins answers a
 * table with a version and, when OLD_INTERFACE is defined, that interface
 * number; without it, no `interface` field, as the builds before the field
 * existed. Nothing else: the module must refuse it before calling anything.
 */
#include <lua.h>

__attribute__((visibility("default"))) int luaopen_mucjoins(lua_State *L);

__attribute__((visibility("default"))) int luaopen_mucjoins(lua_State *L)
{
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "0.0.1");
    lua_setfield(L, -2, "version");
#ifdef OLD_INTERFACE
    lua_pushinteger(L, OLD_INTERFACE);
    lua_setfield(L, -2, "interface");
#endif
    return 1;
}

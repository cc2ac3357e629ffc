/*
 * mj_sessions.c - the Lua binding's session handle cache (see
 * mucjoins_lua.h).
 */
#include "mucjoins_lua.h"

/*
 * Session handles, cached by JID. The tracker's user value is a table
 * full_jid -> light userdata (mj_session *), so that the module's calls,
 * which always pass the same session.full_jid string, skip
 * mj_session_find(): one raw table lookup instead of preparing and hashing
 * the JID. Invariants: a handle is cached only under the very bytes it was
 * opened with (mj_session_jid()), so one key per handle; and every
 * mj_session_close() of this binding first removes that key and clears
 * u->last, the handle of the previous call, checked first (l_close;
 * l_restore only closes a session it has just opened, never cached).
 * Handles live until mj_session_close() or mj_tracker_free(), and the table
 * goes with the tracker, so a cached handle is never dangling, across a
 * module reload too (the module keeps the tracker, and so its cache).
 */

/* Protected: (cache, jid, handle) -> cache[jid] = handle (may grow it). */
static int cache_put(lua_State *L)
{
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 0;
}

/* The cached session of the JID string at index jid (u->last, else the
 * cache table: the user value of the tracker at index self), or NULL.
 * Allocates nothing, never raises. */
mj_session *session_cached(lua_State *L, struct tracker *u, int self, int jid)
{
    size_t len;
    const char *p = lua_tolstring(L, jid, &len);
    mj_session *s = NULL;
    mj_str sj;

    if (u->last != NULL) { /* presences come in bursts per session */
        sj = mj_session_jid(u->last);
        if (sj.len == len && memcmp(sj.ptr, p, len) == 0)
            return u->last;
    }
    lua_getiuservalue(L, self, 1);
    lua_pushvalue(L, jid);
    if (lua_rawget(L, -2) == LUA_TLIGHTUSERDATA)
        s = u->last = lua_touserdata(L, -1);
    lua_pop(L, 2);
    return s;
}

/* Cache s, which the core found or opened for the JID string at index
 * jid, when the JID's bytes are the ones it was opened with. Never raises
 * (out of memory: simply not cached). Needs 5 free stack slots. */
void session_remember(lua_State *L, struct tracker *u, int self, mj_session *s,
                      int jid)
{
    size_t len;
    const char *p = lua_tolstring(L, jid, &len);
    int top = lua_gettop(L);
    mj_str sj = mj_session_jid(s);

    if (sj.len != len || memcmp(sj.ptr, p, len) != 0)
        return;
    u->last = s;
    if (lua_getiuservalue(L, self, 1) == LUA_TTABLE) {
        lua_pushcfunction(L, cache_put);
        lua_pushvalue(L, top + 1);
        lua_pushvalue(L, jid);
        lua_pushlightuserdata(L, s);
        protected_call(L, u, 3, 0);
    }
    lua_settop(L, top);
}

/* The session of the JID string at index 2: cached, else found and
 * cached. Returns a core error code; never raises. Core log records of
 * the lookup stay in the collector. The stack is left as it was (needs 5
 * free slots). */
int session_of(lua_State *L, struct tracker *u, mj_session **out)
{
    size_t len;
    const char *jid = lua_tolstring(L, 2, &len);
    int rc;

    *out = session_cached(L, u, 1, 2);
    if (*out != NULL)
        return MJ_OK;
    rc = mj_session_find(u->tr, jid, len, out);
    if (rc == MJ_OK)
        session_remember(L, u, 1, *out, 2);
    return rc;
}

/* Protected: (tracker, jid, session) -> drops the session's cache entry.
 * The JID is the one the caller gave: its bytes are usually the key's,
 * which then needs no new string. */
static int forget(lua_State *L)
{
    const mj_session *s = lua_touserdata(L, 3);
    mj_str sj = mj_session_jid(s);
    size_t len;
    const char *jid = lua_tolstring(L, 2, &len);
    int cache;

    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE)
        return 0;
    cache = lua_gettop(L);
    if (jid != NULL && sj.len == len && memcmp(sj.ptr, jid, len) == 0)
        lua_pushvalue(L, 2);
    else
        lua_pushlstring(L, sj.ptr, sj.len); /* may allocate: collect */
    lua_pushvalue(L, -1);
    if (lua_rawget(L, cache) != LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_rawset(L, cache); /* an existing key: no allocation */
    }
    return 0;
}

/* Before closing s: drop its cache entry, with the tracker busy (making
 * the key may run the collector, and a finalizer must not reach the
 * tracker, let alone close s, while s is about to be closed here).
 * Returns the lua_pcall status; on error (lack of memory, before
 * anything changed) the error is on the stack. */
int cache_forget(lua_State *L, struct tracker *u, int jid_idx,
                 const mj_session *s)
{
    if (u->last == s)
        u->last = NULL;
    if (!reserve_stack(L, u, 8)) {
        lua_pushliteral(L, "mucjoins: stack overflow");
        return LUA_ERRMEM;
    }
    lua_pushcfunction(L, forget); /* a light C function: no allocation */
    lua_pushvalue(L, 1);
    lua_pushvalue(L, jid_idx);
    lua_pushlightuserdata(L, (void *)s);
    return protected_call(L, u, 3, 0);
}

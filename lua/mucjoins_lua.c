/*
 * mucjoins_lua.c - the Lua 5.4 binding used by mod_track_muc_joins.
 *
 * Thin on purpose: it turns Prosody util.stanza tables into the core's
 * mj_stanza view, calls the core and turns what the core reports back into
 * Lua values. Every protocol decision is the core's.
 *
 *   local mj = package.loadlib(dir .. "/mucjoins.so", "luaopen_mucjoins")()
 *   mj.version
 *   yes = mj.reads(name, type, outgoing)  -- does the core read such stanzas?
 *   t = mj.new{ max_rooms=, max_pending=, pending_timeout=, legacy_joins= }
 *   t:configure{ ... }                 -- unspecified fields keep their value
 *   outcome, events = t:outgoing(full_jid, stanza)
 *   outcome, events = t:incoming(full_jid, stanza)
 *   outcome, events = t:outgoing(session, stanza, want)
 *   outcome, events = t:incoming(session, stanza, want)
 *   counts = t:counts()
 *   verdict, events = t:ping_answer(full_jid, stanza, ping_id, optimized)
 *   verdict, events = t:ping_answer_info(full_jid, stanza, ping_id, info)
 *   events = t:close(full_jid)
 *   events = t:tick()
 *   rooms  = t:rooms(full_jid)
 *   nick   = t:nick(full_jid, room)
 *   stats  = t:stats()
 *   jids   = t:sessions()
 *   ok, err = t:restore(full_jid, room, state, nick, pending_nick, since)
 *
 * outgoing/incoming return nil, message when the core itself fails
 * (out of memory, or a session JID that does not prepare for outgoing).
 * Given a tracker, a string and a table they never raise, and when nothing
 * was recorded they return the outcome alone and allocate nothing (the
 * module's hot path). Sessions are cached by JID string (session_of()).
 * outgoing creates a session only for a join (mj_tracker_outgoing):
 * what a closed session still sends creates nothing.
 * Given Prosody's session table instead of the JID (session.full_jid is
 * the JID; anything else there: "ignored"), joined / nick-changed / left
 * records of that session are written to session.rooms_joined here, as
 * the module does in Lua (the table created and also set as
 * session.joined_rooms when it is not one), and marked applied=true;
 * events are then returned only when want is true or a record needs the
 * module (log, ping-needed, a left with a notice, records lost), else the
 * outcome alone. t:counts() gives every event reported since the tracker
 * was made: { joined=, mention=, left={ [reason]=n },
 * ["join-failed"]={ [reason]=n } } (the module's metrics).
 * events: nil, or an array of { type=, jid=, room=, nick=, old_nick=,
 * reason=, condition=, text=, alt_venue=, from_nick=, ping_id=, notice=,
 * applied= } (type is mj_event_name(); absent strings nil; notice, on a
 * "left" the session must be told about, is mj_reason_notice() as {
 * status = { "110", ... }, affiliation=, role= }) and of
 * { type="log", level=, msg= } in the order the core produced them. A
 * record that could not be stored for lack of memory is counted in
 * stats().dropped_events and reported by an "error" log record.
 *
 * The stanza view: name -> kind (anything else: "ignored", core not
 * called); attr.type/from/to/id; <x/> in the muc namespace; the first
 * muc#user <x/> with its <status/> codes (the first MJ_MAX_STATUS valid
 * ones), first <item/> nick and <destroy/> (jid, <reason/> text); the
 * <error/> of a type='error' stanza; the first <body/>'s text, <subject/>,
 * <thread/>, the from of <delay xmlns='urn:xmpp:delay'/> and
 * <x xmlns='jabber:x:delay'/> (first MJ_MAX_DELAY), the uri of
 * <reference type='mention'/> (first MJ_MAX_REFS). <error/>, <body/>,
 * <subject/> and <thread/> count in no namespace or
 * jabber:client/jabber:server. Anything of the wrong Lua type is
 * treated as absent; malformed stanzas never raise.
 *
 * Never longjmp through the core. The core's callbacks (on_event, log) do
 * not touch the Lua API: they copy what they are given into a C buffer
 * owned by the tracker userdata, allocated with Lua's allocator function
 * (which never runs the collector). Lua values are only created before the
 * core is called (argument checks, stanza conversion) or after it returned.
 * Results are built inside lua_pcall with the tracker marked busy, so a
 * finalizer running during the build cannot re-enter the tracker, and the
 * buffer is emptied whatever happens; a Lua error is re-raised afterwards
 * (outgoing/incoming return it instead). Event tables have room for two
 * more fields (the module adds session and stanza).
 */
#include "mucjoins_lua.h"

#define MT_NAME "mucjoins.tracker"

/* ---------------------------------------------------------------------- */
/* Upvalues shared by every method                                         */
/*
 * The methods are closures over the metatable and over strings made once
 * (luaopen_mucjoins), so the hot paths push a table key, an outcome or an
 * error message with lua_pushvalue: no hashing, no allocation, and so no
 * memory error and no collector step.
 */

const char *const uv_keys[] = {
    "name",         "attr",         "tags",    "xmlns",     "type",
    "from",         "to",           "id",      "code",      "nick",
    "jid",          "uri",          "by",      "room",      "old_nick",
    "reason",       "condition",    "text",    "alt_venue", "from_nick",
    "ping_id",      "level",        "msg",     "log",       "full_jid",
    "rooms_joined", "joined_rooms", "applied", "var"};
_Static_assert(sizeof uv_keys / sizeof uv_keys[0] == UV_VAR - UV_NAME + 1,
               "one string per UV_ key");

/* ---------------------------------------------------------------------- */
/* The tracker userdata                                                    */

/* Registry key of this copy's metatable. If another copy of the module is
 * loaded from a different path, its trackers have their own metatable, so
 * a method never sees a userdata laid out by other code. */
static const char tracker_key = 0;

static struct tracker *to_tracker(lua_State *L, int idx)
{
    struct tracker *u = lua_touserdata(L, idx);

    if (u == NULL || !lua_getmetatable(L, idx))
        return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tracker_key);
    if (!lua_rawequal(L, -1, -2))
        u = NULL;
    lua_pop(L, 2);
    return u;
}

/* Methods only: the tracker at index 1, checked against the metatable
 * the method closes over (UV_MT). Misuse raises. */
static struct tracker *check_tracker(lua_State *L)
{
    struct tracker *u = lua_touserdata(L, 1);
    int ok;

    /* A full userdata of our size whose first word is this copy's
     * registry key was made by l_new() of this copy: Lua code cannot make
     * one, and another copy's trackers hold another key. The hot path
     * stops here; anything else has its metatable checked. */
    if (u != NULL && lua_type(L, 1) == LUA_TUSERDATA &&
        lua_rawlen(L, 1) == sizeof *u && u->magic == &tracker_key &&
        u->tr != NULL && !u->busy)
        return u;
    ok = u != NULL && lua_getmetatable(L, 1);
    if (ok) {
        ok = lua_rawequal(L, -1, lua_upvalueindex(UV_MT));
        lua_pop(L, 1);
    }
    if (!ok)
        luaL_typeerror(L, 1, MT_NAME);
    if (u->tr == NULL)
        luaL_argerror(L, 1, "tracker has been freed");
    if (u->busy)
        luaL_error(L, "mucjoins: tracker used while it is building results "
                      "(from a finalizer?)");
    return u;
}

/* Run fn with n arguments (already pushed above it) protected, the
 * tracker busy so that a finalizer cannot re-enter it; leaves nres
 * results or the error. Returns the lua_pcall status. */
static int protected_call(lua_State *L, struct tracker *u, int n, int nres)
{
    int rc;

    u->busy = 1;
    rc = lua_pcall(L, n, nres, 0);
    u->busy = 0;
    return rc;
}

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

/* The cached session of the JID string at index 2 (u->last, else the
 * cache table), or NULL. Allocates nothing, never raises. */
static mj_session *session_cached(lua_State *L, struct tracker *u)
{
    size_t len;
    const char *jid = lua_tolstring(L, 2, &len);
    int top = lua_gettop(L);
    mj_session *s = NULL;
    mj_str sj;

    if (u->last != NULL) { /* presences come in bursts per session */
        sj = mj_session_jid(u->last);
        if (sj.len == len && memcmp(sj.ptr, jid, len) == 0)
            return u->last;
    }
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, top + 1) == LUA_TLIGHTUSERDATA)
        s = u->last = lua_touserdata(L, -1);
    lua_settop(L, top);
    return s;
}

/* Cache s, which the core found or opened for the JID string at index 2,
 * when the JID's bytes are the ones it was opened with. Never raises
 * (out of memory: simply not cached). Needs 5 free stack slots. */
static void session_remember(lua_State *L, struct tracker *u, mj_session *s)
{
    size_t len;
    const char *jid = lua_tolstring(L, 2, &len);
    int top = lua_gettop(L);
    mj_str sj = mj_session_jid(s);

    if (sj.len != len || memcmp(sj.ptr, jid, len) != 0)
        return;
    u->last = s;
    if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
        lua_pushcfunction(L, cache_put);
        lua_pushvalue(L, top + 1);
        lua_pushvalue(L, 2);
        lua_pushlightuserdata(L, s);
        protected_call(L, u, 3, 0);
    }
    lua_settop(L, top);
}

/* The session of the JID string at index 2: cached, else found and
 * cached. Returns a core error code; never raises. Core log records of
 * the lookup stay in the collector. The stack is left as it was (needs 5
 * free slots). */
static int session_of(lua_State *L, struct tracker *u, mj_session **out)
{
    size_t len;
    const char *jid = lua_tolstring(L, 2, &len);
    int rc;

    *out = session_cached(L, u);
    if (*out != NULL)
        return MJ_OK;
    rc = mj_session_find(u->tr, jid, len, out);
    if (rc == MJ_OK)
        session_remember(L, u, *out);
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
static int cache_forget(lua_State *L, struct tracker *u, int jid_idx,
                        const mj_session *s)
{
    if (u->last == s)
        u->last = NULL;
    if (!lua_checkstack(L, 8)) {
        lua_pushliteral(L, "mucjoins: stack overflow");
        return LUA_ERRMEM;
    }
    lua_pushcfunction(L, forget); /* a light C function: no allocation */
    lua_pushvalue(L, 1);
    lua_pushvalue(L, jid_idx);
    lua_pushlightuserdata(L, (void *)s);
    return protected_call(L, u, 3, 0);
}

/* Run fn(u, arg, jid) protected with the tracker busy, then empty the
 * record buffer; fn NULL: build_events (UV_BUILD), where jid is the index
 * of the session JID the call was about (0: none). Leaves fn's one result,
 * or the error, on the stack and returns the lua_pcall status; never
 * raises (the caller has checked for 4 free stack slots). */
static int try_build(lua_State *L, struct tracker *u, lua_CFunction fn,
                     void *arg, int jid)
{
    int rc;

    if (fn != NULL)
        lua_pushcfunction(L, fn);
    else
        lua_pushvalue(L, lua_upvalueindex(UV_BUILD));
    lua_pushlightuserdata(L, u);
    lua_pushlightuserdata(L, arg);
    if (jid != 0)
        lua_pushvalue(L, jid);
    else
        lua_pushnil(L);
    rc = protected_call(L, u, 3, 1);
    u->dropped_total += u->col.dropped;
    col_reset(&u->col);
    return rc;
}

/* try_build(), re-raising an error. */
static void build(lua_State *L, struct tracker *u, lua_CFunction fn, void *arg,
                  int jid)
{
    luaL_checkstack(L, 4, "mucjoins");
    if (try_build(L, u, fn, arg, jid) != LUA_OK)
        lua_error(L);
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */

static void opt_size(lua_State *L, int arg, const char *key, size_t *out)
{
    int isint;
    lua_Integer v;
    int t = lua_getfield(L, arg, key);

    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    v = lua_tointegerx(L, -1, &isint);
    if (t != LUA_TNUMBER || !isint)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%s: integer expected, got %s", key,
                                      t == LUA_TNUMBER
                                          ? "a non-integral number"
                                          : luaL_typename(L, -1)));
    if (v < 0)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%s: must not be negative", key));
    *out = (size_t)v;
    lua_pop(L, 1);
}

static void opt_number(lua_State *L, int arg, const char *key, double *out)
{
    int t = lua_getfield(L, arg, key);
    if (t == LUA_TNUMBER)
        *out = (double)lua_tonumber(L, -1);
    else if (t != LUA_TNIL)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%s: number expected, got %s", key,
                                      luaL_typename(L, -1)));
    lua_pop(L, 1);
}

static void opt_bool(lua_State *L, int arg, const char *key, int *out)
{
    int t = lua_getfield(L, arg, key);
    if (t == LUA_TBOOLEAN)
        *out = lua_toboolean(L, -1);
    else if (t != LUA_TNIL)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%s: boolean expected, got %s", key,
                                      luaL_typename(L, -1)));
    lua_pop(L, 1);
}

/* Every option of the library's table (mj_config_options()), under its
 * own name. */
static void read_config(lua_State *L, int arg, mj_config *cfg)
{
    size_t i, n;
    const mj_option *opts = mj_config_options(&n);

    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    for (i = 0; i < n; i++) {
        const mj_option *o = &opts[i];
        void *f = (char *)cfg + o->offset;
        size_t v;

        switch (o->type) {
        case MJ_OPT_SIZE:
            opt_size(L, arg, o->name, f);
            break;
        case MJ_OPT_UINT: /* capped: a retry count, not a bound */
            v = *(unsigned *)f;
            opt_size(L, arg, o->name, &v);
            *(unsigned *)f = v > 1000 ? 1000 : (unsigned)v;
            break;
        case MJ_OPT_SECONDS:
            opt_number(L, arg, o->name, f);
            break;
        case MJ_OPT_BOOL:
            opt_bool(L, arg, o->name, f);
            break;
        }
    }
}

static void raise_core_error(lua_State *L, int arg, int rc)
{
    if (rc == MJ_EINVAL)
        luaL_argerror(L, arg, mj_strerror(rc));
    luaL_error(L, "mucjoins: %s", mj_strerror(rc));
}

/* ---------------------------------------------------------------------- */
/* Functions and methods                                                   */

/* mj.new([config]) -> tracker */
static int l_new(lua_State *L)
{
    struct tracker *u;
    mj_config cfg;
    int rc;

    mj_config_init(&cfg);
    read_config(L, 1, &cfg);
    u = lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    u->magic = &tracker_key;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tracker_key);
    lua_setmetatable(L, -2);
    lua_newtable(L); /* the session cache (session_of) */
    lua_setiuservalue(L, -2, 1);

    u->col.alloc = lua_getallocf(L, &u->col.alloc_ud);
    cfg.alloc = u->col.alloc;
    cfg.alloc_ud = u->col.alloc_ud;
    cfg.log = on_log;
    cfg.log_ud = &u->col;
    cfg.on_event = on_event;
    cfg.event_ud = &u->col;
    rc = mj_tracker_new(&cfg, &u->tr);
    col_reset(&u->col);
    if (rc != MJ_OK) {
        u->tr = NULL;
        raise_core_error(L, 1, rc);
    }
    u->cfg = cfg;
    return 1;
}

/* t:configure(config) */
static int l_configure(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    mj_config cfg = u->cfg;
    int rc;

    read_config(L, 2, &cfg);
    col_reset(&u->col);
    rc = mj_tracker_configure(u->tr, &cfg);
    col_reset(&u->col);
    if (rc != MJ_OK)
        raise_core_error(L, 2, rc);
    u->cfg = cfg;
    return 0;
}

/* t:outgoing(jid, stanza) / t:incoming(jid, stanza) -> outcome, events
 * t:outgoing(session, stanza, want) / t:incoming(session, stanza, want)
 * The module's hot path: given a tracker, a string or a table and a table
 * it never raises (failures, lack of memory included, return nil,
 * message), and when nothing was recorded it returns the outcome alone, a
 * string made once, allocating nothing. With Prosody's session table
 * instead of the JID (its full_jid is the JID), what the core decided
 * about rooms is written to session.rooms_joined here (apply_events) and
 * the events are returned only when want is true or a record needs the
 * module. */
static int feed(lua_State *L, int outgoing)
{
    struct tracker *u = check_tracker(L);
    mj_session *s = NULL;
    mj_outcome oc = MJ_O_IGNORED;
    mj_stanza st;
    int rc, want = lua_toboolean(L, 4), sess = 0;
    unsigned need;

    col_reset(&u->col);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    if (lua_type(L, 2) == LUA_TTABLE) {
        /* 4: the session table, 2: its full_jid */
        lua_pushvalue(L, 2);
        if (rawkey(L, 2, UV_FULL_JID) != LUA_TSTRING) {
            push_outcome(L, MJ_O_IGNORED);
            return 1;
        }
        lua_replace(L, 2);
        sess = 4;
    } else {
        luaL_checkstring(L, 2);
        lua_pushnil(L);
    }
    need = stanza_head(L, 3, outgoing ? CONV_OUT : CONV_IN, &st);
    if (need == 0) {
        push_outcome(L, MJ_O_IGNORED); /* the core reads nothing of it */
        return 1;
    }
    if (!lua_checkstack(L, NANCHORS + CONV_STACK)) {
        lua_pushnil(L);
        push_error(L, MJ_ENOMEM);
        return 2;
    }
    lua_settop(L, 4 + NANCHORS); /* the anchors, nil */
    if (convert(L, 3, 5, need, &st) < 0) {
        lua_pushnil(L);
        push_error(L, MJ_ENOMEM);
        return 2;
    }

    s = session_cached(L, u);
    /* No Lua API call from here until the core has returned. */
    if (s != NULL) {
        rc = outgoing ? mj_session_outgoing(s, &st, &oc)
                      : mj_session_incoming(s, &st, &oc);
    } else {
        /* the core finds the session; it creates one only for a join
         * (never for what a closed session still sends) */
        size_t len;
        const char *jid = lua_tolstring(L, 2, &len);

        rc = outgoing ? mj_tracker_outgoing(u->tr, jid, len, &st, &s, &oc)
                      : mj_tracker_incoming(u->tr, jid, len, &st, &s, &oc);
        if (s != NULL)
            session_remember(L, u, s); /* protected; records kept */
    }
    if (!outgoing && rc != MJ_OK && rc != MJ_ENOMEM) {
        col_reset(&u->col);
        push_outcome(L,
                     MJ_O_IGNORED); /* a session JID that does not prepare */
        return 1;
    }
    if (rc != MJ_OK) {
        col_reset(&u->col);
        lua_pushnil(L);
        push_error(L, rc);
        return 2;
    }
    /* The core is done; Lua values may be made again. */

    lua_settop(L, 4);
    push_outcome(L, oc);
    if (u->col.nrec == 0 && u->col.dropped == 0)
        return 1;
    if (sess != 0) {
        /* (apply_events, tracker, session, jid, want) */
        lua_pushvalue(L, lua_upvalueindex(UV_APPLY));
        lua_pushlightuserdata(L, u);
        lua_pushvalue(L, sess);
        lua_pushvalue(L, 2);
        lua_pushboolean(L, want);
        rc = protected_call(L, u, 4, 1);
        u->dropped_total += u->col.dropped;
        col_reset(&u->col);
    } else {
        rc = try_build(L, u, NULL, NULL, 2);
    }
    if (rc != LUA_OK) {
        lua_pushnil(L);
        lua_replace(L, -3); /* nil, the error */
    } else if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 1; /* applied here, nobody to tell: the outcome alone */
    }
    return 2;
}

static int l_outgoing(lua_State *L)
{
    return feed(L, 1);
}

static int l_incoming(lua_State *L)
{
    return feed(L, 0);
}

/* Arguments (tracker, jid, stanza, ...): read the extra arguments before
 * calling. Converts the stanza and finds the session; 0 when the stanza is
 * not one the core reads or the session is unknown. */
static int session_and_stanza(lua_State *L, struct tracker *u, mj_session **sp,
                              mj_stanza *st)
{
    int anchor;
    unsigned need;

    luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checkstack(L, NANCHORS + CONV_STACK, "mucjoins");
    anchor = lua_gettop(L) + 1;
    lua_settop(L, anchor + NANCHORS - 1);
    need = stanza_head(L, 3, CONV_FULL, st);
    if (need == 0 || convert(L, 3, anchor, need, st) < 0)
        return 0;
    col_reset(&u->col);
    if (session_of(L, u, sp) != MJ_OK) {
        col_reset(&u->col);
        return 0;
    }
    return 1;
}

/* t:message(jid, stanza) -> "mention" | "chatter" | "own" | "history" |
 * "other" */
static int l_message(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    mj_session *s;
    mj_stanza st;
    mj_msg_class c = MJ_M_OTHER;

    if (session_and_stanza(L, u, &s, &st))
        mj_session_message(s, &st, &c);
    col_reset(&u->col);
    lua_pushstring(L, mj_msg_class_name(c));
    return 1;
}

/* t:importance(jid, stanza, hold_chatter) -> true | false | nil */
static int l_importance(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    int hold = lua_toboolean(L, 4);
    mj_session *s;
    mj_stanza st;
    int imp = -1;

    if (session_and_stanza(L, u, &s, &st))
        imp = mj_session_importance(s, &st, hold);
    col_reset(&u->col);
    if (imp < 0)
        lua_pushnil(L);
    else
        lua_pushboolean(L, imp);
    return 1;
}

/* t:is_forwarded_ping(jid, stanza) -> boolean */
static int l_is_forwarded_ping(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    mj_session *s;
    mj_stanza st;
    int yes = 0;

    if (session_and_stanza(L, u, &s, &st))
        yes = mj_session_is_forwarded_ping(s, &st);
    col_reset(&u->col);
    lua_pushboolean(L, yes);
    return 1;
}

/* t:ping_answer(jid, stanza, ping_id, room_optimized) -> verdict, events.
 * room_optimized: true, false or nil (unknown). */
static int l_ping_answer(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    lua_Integer id = luaL_checkinteger(L, 4);
    int optimized = lua_isnoneornil(L, 5) ? -1 : lua_toboolean(L, 5);
    mj_session *s;
    mj_stanza st;
    mj_ping_verdict v = MJ_PING_STALE;

    if (id <= 0 || id > (lua_Integer)UINT32_MAX ||
        !session_and_stanza(L, u, &s, &st)) {
        col_reset(&u->col);
        push_verdict(L, v);
        lua_pushnil(L);
        return 2;
    }
    /* Nothing that can raise between the core's change and the building
     * of its events: the stack has room (session_and_stanza reserved
     * more than build needs) and the verdict's name is an upvalue. */
    mj_session_ping_answer(s, (uint32_t)id, &st, optimized, &v);
    lua_settop(L, 5);
    push_verdict(L, v);
    build(L, u, NULL, NULL, 2);
    return 2;
}

/* t:ping_answer_info(jid, stanza, ping_id, info) -> verdict, events.
 * info: the room's disco#info reply (a stanza: result or error), or nil
 * when none came. */
static int l_ping_answer_info(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    lua_Integer id = luaL_checkinteger(L, 4);
    int has_info = lua_type(L, 5) == LUA_TTABLE;
    int opt = has_info ? lists_self_ping_opt(L, 5) : 0;
    int anchor2;
    unsigned need = 0;
    mj_session *s;
    mj_stanza st, info;
    mj_ping_verdict v = MJ_PING_STALE;

    if (id <= 0 || id > (lua_Integer)UINT32_MAX ||
        !session_and_stanza(L, u, &s, &st)) {
        col_reset(&u->col);
        push_verdict(L, v);
        lua_pushnil(L);
        return 2;
    }
    if (has_info) {
        luaL_checkstack(L, NANCHORS + CONV_STACK, "mucjoins");
        anchor2 = lua_gettop(L) + 1;
        lua_settop(L, anchor2 + NANCHORS - 1);
        need = stanza_head(L, 5, CONV_FULL, &info);
        if (need == 0 || convert(L, 5, anchor2, need, &info) < 0)
            has_info = 0;
    }
    /* as in l_ping_answer: nothing that can raise between the core's
     * change and the building of its events */
    mj_session_ping_answer_info(s, (uint32_t)id, &st, has_info ? &info : NULL,
                                opt, &v);
    lua_settop(L, 5);
    push_verdict(L, v);
    build(L, u, NULL, NULL, 2);
    return 2;
}

/* t:ping_needs_features(jid, stanza, ping_id) -> boolean */
static int l_ping_needs_features(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    lua_Integer id = luaL_checkinteger(L, 4);
    mj_session *s;
    mj_stanza st;
    int yes = 0;

    if (id > 0 && id <= (lua_Integer)UINT32_MAX &&
        session_and_stanza(L, u, &s, &st))
        yes = mj_session_ping_needs_features(s, (uint32_t)id, &st);
    col_reset(&u->col);
    lua_pushboolean(L, yes);
    return 1;
}

/* t:link_lost(domain) -> true | nil, message */
static int l_link_lost(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    size_t len;
    const char *d = luaL_checklstring(L, 2, &len);
    int rc;

    col_reset(&u->col);
    rc = mj_tracker_link_lost(u->tr, d, len);
    col_reset(&u->col);
    if (rc != MJ_OK) {
        lua_pushnil(L);
        lua_pushstring(L, mj_strerror(rc));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* t:close(jid) -> events */
static int l_close(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    size_t jlen;
    const char *jid = luaL_checklstring(L, 2, &jlen);
    mj_session *s;

    luaL_checkstack(L, 4, "mucjoins"); /* for build, before any change */
    col_reset(&u->col);
    if (mj_session_find(u->tr, jid, jlen, &s) != MJ_OK) {
        col_reset(&u->col);
        lua_pushnil(L);
        return 1;
    }
    if (cache_forget(L, u, 2, s) != LUA_OK) {
        col_reset(&u->col);
        return lua_error(L); /* nothing changed */
    }
    mj_session_close(s);
    build(L, u, NULL, NULL, 2);
    return 1;
}

/* t:tick() -> events */
static int l_tick(lua_State *L)
{
    struct tracker *u = check_tracker(L);

    luaL_checkstack(L, 4, "mucjoins"); /* for build, before any change */
    col_reset(&u->col);
    mj_tracker_tick(u->tr);
    build(L, u, NULL, NULL, 2);
    return 1;
}

/* t:rooms(jid) -> { {room=, state=, nick=, pending_nick=, since=}... } */
static int l_rooms(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    size_t jlen;
    const char *jid = luaL_checklstring(L, 2, &jlen);
    mj_session *s;
    int rc;

    col_reset(&u->col);
    rc = mj_session_find(u->tr, jid, jlen, &s);
    col_reset(&u->col);
    if (rc != MJ_OK) {
        lua_newtable(L);
        return 1;
    }
    build(L, u, build_rooms, s, 0);
    return 1;
}

/* t:nick(jid, room) -> nick or nil */
static int l_nick(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    size_t jlen, rlen;
    const char *jid = luaL_checklstring(L, 2, &jlen);
    const char *room = luaL_checklstring(L, 3, &rlen);
    mj_session *s;
    mj_str nick = {NULL, 0};
    int rc;

    col_reset(&u->col);
    rc = mj_session_find(u->tr, jid, jlen, &s);
    if (rc == MJ_OK)
        rc = mj_session_nick(s, room, rlen, &nick);
    col_reset(&u->col);
    if (rc != MJ_OK || nick.ptr == NULL)
        lua_pushnil(L);
    else
        lua_pushlstring(L, nick.ptr, nick.len);
    return 1;
}

/* t:stats() -> table of every mj_stats field */
static int l_stats(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    mj_stats s;

    memset(&s, 0, sizeof s);
    col_reset(&u->col);
    mj_tracker_stats(u->tr, &s);
    col_reset(&u->col);

    lua_createtable(L, 0, 16);
#define STAT(f)                                                               \
    do {                                                                      \
        lua_pushinteger(L, (lua_Integer)s.f);                                 \
        lua_setfield(L, -2, #f);                                              \
    } while (0)
    STAT(sessions);
    STAT(rooms_shown);
    STAT(pending);
    STAT(changing);
    STAT(leaving);
    STAT(distinct_rooms);
    STAT(bytes);
    STAT(joins);
    STAT(leaves);
    STAT(join_failures);
    STAT(forged);
    STAT(limits);
    STAT(bad_jids);
    STAT(ambiguous);
    STAT(mentions);
    STAT(pings_sent);
    STAT(pings_joined);
    STAT(pings_not_joined);
    STAT(pings_unknown);
    STAT(pings_given_up);
    STAT(pings_outstanding);
#undef STAT
    /* Not a core counter: records this binding failed to store. */
    lua_pushinteger(L, (lua_Integer)u->dropped_total);
    lua_setfield(L, -2, "dropped_events");
    return 1;
}

/* Protected: (tracker) -> the event counts (t:counts()). */
static int build_counts(lua_State *L)
{
    const struct collect *c =
        &((const struct tracker *)lua_touserdata(L, 1))->col;
    int why;

    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)c->n_joined);
    lua_setfield(L, -2, "joined");
    lua_pushinteger(L, (lua_Integer)c->n_mention);
    lua_setfield(L, -2, "mention");
    lua_newtable(L);
    lua_newtable(L);
    for (why = 1; why <= MJ_R_TIMEOUT; why++) {
        const char *name = mj_reason_name((mj_reason)why);

        if (c->n_left[why] > 0) {
            lua_pushinteger(L, (lua_Integer)c->n_left[why]);
            lua_setfield(L, -3, name);
        }
        if (c->n_failed[why] > 0) {
            lua_pushinteger(L, (lua_Integer)c->n_failed[why]);
            lua_setfield(L, -2, name);
        }
    }
    lua_setfield(L, -3, "join-failed");
    lua_setfield(L, -2, "left");
    return 1;
}

/* t:counts() -> { joined=n, mention=n, left={ [reason]=n },
 * ["join-failed"]={ [reason]=n } }: every event the core reported since
 * the tracker was made, counted by the binding (the module's metrics). */
static int l_counts(lua_State *L)
{
    struct tracker *u = check_tracker(L);

    col_reset(&u->col);
    build(L, u, build_counts, NULL, 0);
    return 1;
}

/* t:sessions() -> { full_jid... } */
static int l_sessions(lua_State *L)
{
    struct tracker *u = check_tracker(L);

    col_reset(&u->col);
    build(L, u, build_sessions, NULL, 0);
    return 1;
}

/* t:restore(jid, room, state, nick, pending_nick, since) -> true | nil, err
 */
static int l_restore(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    size_t jlen, rlen, nlen, plen;
    const char *jid = luaL_checklstring(L, 2, &jlen);
    const char *room = luaL_checklstring(L, 3, &rlen);
    const char *sname = luaL_checkstring(L, 4);
    const char *nick = luaL_optlstring(L, 5, NULL, &nlen);
    const char *pnick = luaL_optlstring(L, 6, NULL, &plen);
    double since = (double)luaL_checknumber(L, 7);
    mj_str n = {nick, nlen}, p = {pnick, plen};
    mj_session *s;
    int state, rc, created = 0;

    for (state = MJ_S_NONE; state <= MJ_S_LEAVING; state++)
        if (strcmp(mj_state_name((mj_state)state), sname) == 0)
            break;
    if (state > MJ_S_LEAVING) {
        lua_pushnil(L);
        lua_pushstring(L, mj_strerror(MJ_EINVAL));
        return 2;
    }

    col_reset(&u->col);
    rc = mj_session_find(u->tr, jid, jlen, &s);
    if (rc == MJ_ENOTFOUND) {
        rc = mj_session_open(u->tr, jid, jlen, &s);
        created = rc == MJ_OK;
    }
    if (rc == MJ_OK) {
        rc = mj_session_restore(s, room, rlen, (mj_state)state, n, p, since);
        if (rc != MJ_OK && created)
            mj_session_close(s); /* empty, never cached: fires nothing */
    }
    col_reset(&u->col);
    if (rc != MJ_OK) {
        lua_pushnil(L);
        lua_pushstring(L, mj_strerror(rc));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_gc(lua_State *L)
{
    struct tracker *u = to_tracker(L, 1);

    if (u == NULL)
        return 0;
    if (u->busy)
        return luaL_error(L, "mucjoins: tracker freed while busy");
    mj_tracker_free(u->tr);
    u->tr = NULL;
    u->last = NULL;
    col_free(&u->col);
    return 0;
}

static int l_tostring(lua_State *L)
{
    struct tracker *u = to_tracker(L, 1);

    if (u == NULL)
        return luaL_typeerror(L, 1, MT_NAME);
    if (u->tr == NULL)
        lua_pushfstring(L, MT_NAME ": %p (freed)", (void *)u);
    else
        lua_pushfstring(L, MT_NAME ": %p", (void *)u);
    return 1;
}

static const luaL_Reg tracker_methods[] = {
    {"configure", l_configure},
    {"outgoing", l_outgoing},
    {"incoming", l_incoming},
    {"close", l_close},
    {"tick", l_tick},
    {"rooms", l_rooms},
    {"nick", l_nick},
    {"stats", l_stats},
    {"sessions", l_sessions},
    {"counts", l_counts},
    {"restore", l_restore},
    {"message", l_message},
    {"importance", l_importance},
    {"is_forwarded_ping", l_is_forwarded_ping},
    {"ping_answer", l_ping_answer},
    {"ping_answer_info", l_ping_answer_info},
    {"ping_needs_features", l_ping_needs_features},
    {"link_lost", l_link_lost},
    {NULL, NULL}};

/* mj.reads(name, type, outgoing) -> boolean: whether t:outgoing (outgoing
 * true) or t:incoming reads anything of a stanza with this element name
 * and type attribute (nil: absent); the core's mj_stanza_needs(). A module
 * may ask once and skip the call for stanzas it would return "ignored". */
static int l_reads(lua_State *L)
{
    size_t nlen, tlen = 0;
    const char *name = luaL_checklstring(L, 1, &nlen);
    const char *type = luaL_optlstring(L, 2, NULL, &tlen);
    mj_stanza st;

    mj_stanza_init(&st);
    lua_pushboolean(
        L, mj_stanza_set_kind(&st, name, nlen) &&
               (mj_stanza_set_type(&st, type, tlen),
                mj_stanza_needs(lua_toboolean(L, 3), st.kind, st.type) != 0));
    return 1;
}

/* mj.options() -> { {name=, type="number"|"boolean", integer=, default=,
 * doc=}, ... }: the library's options, in its order */
static int l_options(lua_State *L)
{
    size_t i, n;
    const mj_option *opts = mj_config_options(&n);

    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        const mj_option *o = &opts[i];
        int whole = o->type == MJ_OPT_SIZE || o->type == MJ_OPT_UINT;

        lua_createtable(L, 0, 5);
        lua_pushstring(L, o->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, o->type == MJ_OPT_BOOL ? "boolean" : "number");
        lua_setfield(L, -2, "type");
        lua_pushboolean(L, whole);
        lua_setfield(L, -2, "integer");
        if (o->type == MJ_OPT_BOOL)
            lua_pushboolean(L, o->def != 0);
        else if (whole)
            lua_pushinteger(L, (lua_Integer)o->def);
        else
            lua_pushnumber(L, (lua_Number)o->def);
        lua_setfield(L, -2, "default");
        lua_pushstring(L, o->doc);
        lua_setfield(L, -2, "doc");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const luaL_Reg module_functions[] = {
    {"new", l_new}, {"reads", l_reads}, {"options", l_options}, {NULL, NULL}};

/* Create this copy's tracker metatable, or find it again when the module
 * is loaded a second time (Prosody module reload): trackers created before
 * keep working. */
/* With the metatable on top: push the methods table, closures over the
 * metatable and the UV_* strings. */
static void push_methods(lua_State *L)
{
    size_t i;
    int e;

    luaL_checkstack(L, 3 * NUPVALUES + 2, "mucjoins");
    luaL_newlibtable(L, tracker_methods);
    lua_pushvalue(L, -2);
    for (i = 0; i < sizeof uv_keys / sizeof uv_keys[0]; i++)
        lua_pushstring(L, uv_keys[i]);
    for (e = 0; e < NOUTCOMES; e++)
        lua_pushstring(L, mj_outcome_name((mj_outcome)e));
    for (e = -1; e >= -NERRORS; e--)
        lua_pushstring(L, mj_strerror(e));
    for (e = 1; e <= NEVENTS; e++)
        lua_pushstring(L, mj_event_name((mj_event_type)e));
    for (e = 1; e <= NREASONS; e++)
        lua_pushstring(L, mj_reason_name((mj_reason)e));
    for (e = 0; e < NLEVELS; e++)
        lua_pushstring(L, level_name(e));
    for (e = 0; e < NVERDICTS; e++)
        lua_pushstring(L, mj_ping_verdict_name((mj_ping_verdict)e));
    /* build_events and apply_events: copies of the same upvalues, and nil
     * for the two closures */
    for (e = 1; e < UV_BUILD; e++)
        lua_pushvalue(L, -(UV_BUILD - 1));
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushcclosure(L, build_events, NUPVALUES);
    for (e = 1; e < UV_BUILD; e++)
        lua_pushvalue(L, -UV_BUILD);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushcclosure(L, apply_events, NUPVALUES);
    luaL_setfuncs(L, tracker_methods, NUPVALUES);
}

static void push_metatable(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &tracker_key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    if (!luaL_newmetatable(L, MT_NAME)) {
        /* the name belongs to another copy of this module */
        lua_pop(L, 1);
        lua_createtable(L, 0, 4);
        lua_pushliteral(L, MT_NAME);
        lua_setfield(L, -2, "__name");
    }
    push_methods(L);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &tracker_key);
}

__attribute__((visibility("default"))) int luaopen_mucjoins(lua_State *L);

__attribute__((visibility("default"))) int luaopen_mucjoins(lua_State *L)
{
    push_metatable(L);
    lua_pop(L, 1);
    luaL_newlib(L, module_functions);
    lua_pushliteral(L, MJ_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}

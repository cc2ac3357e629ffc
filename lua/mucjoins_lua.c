/*
 * mucjoins_lua.c - the Lua 5.4 binding used by mod_track_muc_joins.
 *
 * Thin on purpose: it turns Prosody util.stanza tables into the core's
 * mj_stanza view, calls the core and turns what the core reports back into
 * Lua values. Every protocol decision is the core's.
 *
 *   local mj = package.loadlib(dir .. "/mucjoins.so", "luaopen_mucjoins")()
 *   mj.version
 *   mj.interface                       -- MJ_LUA_INTERFACE (mucjoins_lua.h)
 *   yes = mj.reads(name, type, outgoing)  -- does the core read such stanzas?
 *   options = mj.options()             -- the core's options and defaults
 *   t = mj.new{ max_rooms=, max_pending=, pending_timeout=, legacy_joins=,
 *               option_prefix= }  -- every option of mj.options(); the
 *                                    prefix the log names them with
 *   t:configure{ ... }                 -- unspecified fields keep their value
 *   outcome, events = t:outgoing(full_jid, stanza)
 *   outcome, events = t:incoming(full_jid, stanza)
 *   outcome, events = t:outgoing(session, stanza, want)
 *   outcome, events = t:incoming(session, stanza, want)
 *   outgoing, incoming = t:feeders()    -- the two above, bound to t
 *   hooks = t:hooks(full_sessions, host, seen, applied[, watch])
 *   counts = t:counts()
 *   verdict, events = t:ping_answer(full_jid, stanza, ping_id, optimized)
 *   verdict, events = t:ping_answer_info(full_jid, stanza, ping_id, info)
 *   events = t:close(full_jid)
 *   ok, err = t:link_lost(domain)      -- a link went down: ping its rooms
 *   ok, events = t:link_up(domain)     -- a link is back: retry given-up
 *                                         pings; leaves owed to its rooms
 *                                         (leave-needed) to send now
 *   class  = t:message(full_jid, stanza)  -- "mention", "chatter", ...
 *   important = t:importance(full_jid, stanza, hold[, listed])
 *   yes = t:is_forwarded_ping(full_jid, stanza)
 *   yes = t:ping_needs_features(full_jid, stanza, ping_id)
 *   events = t:tick()
 *   events = t:send_ready()            -- pings that waited for a budget
 *                                         answers freed since the tick
 *   rooms  = t:rooms(full_jid)
 *   nick   = t:nick(full_jid, room)
 *   stats  = t:stats()
 *   jids   = t:sessions()
 *   ok, err = t:restore(full_jid, room, state, nick, pending_nick, since)
 *   n = t:resync(full_sessions[, force]) -- after lost records (or force):
 *                                         rooms_joined from the core's state
 *
 * outgoing/incoming return nil, message when the core itself fails
 * (out of memory, or a session JID that does not prepare for outgoing).
 * Given a tracker, a string and a table they never raise, and when nothing
 * was recorded they return the outcome alone and allocate nothing (the
 * module's hot path). Session handles are cached by the bytes of their
 * JID (mj_sessions.c).
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
 * stats().dropped_events and reported by an "error" log record; so is
 * every record of a call whose records could not be turned into Lua
 * values or applied, or given to the hooks' applied() (out of memory:
 * the method returns nil and the error, or raises, as it says). Such a
 * loss may leave session.rooms_joined behind the core (a joined, a
 * nick-changed or a left never written): the tracker notes it, and
 * t:resync(full_sessions) then makes the rooms_joined table of each
 * session the core holds (full_sessions[its JID]) show exactly the rooms
 * the core shows, under their nicks, and returns how many entries it
 * wrote or removed (0, reading nothing, when no loss was noted since the
 * last complete resync and force is not true; out of memory, it raises
 * and stays due; a write refused by another module's table, or failing
 * for memory, keeps it due too).
 *
 * The stanza view: name -> kind (anything else: "ignored", core not
 * called); attr.type/from/to/id; <x/> in the muc namespace; the first
 * muc#user <x/> with its <status/> codes (the first MJ_MAX_STATUS valid
 * ones), first <item/> nick and <destroy/> (jid, <reason/> text); the
 * <error/> of a type='error' stanza; the first <body/>'s text, <subject/>,
 * <thread/>, the from of <delay xmlns='urn:xmpp:delay'/> and
 * <x xmlns='jabber:x:delay'/> (first MJ_MAX_DELAY), the uri of
 * <reference type='mention'/> (first MJ_MAX_REFS). <subject/> counts only
 * in the stanza's own namespace (mj_stanza_own_ns(): no xmlns of its own,
 * or the stanza's, as util.stanza's get_child() finds it); <error/>,
 * <body/> and <thread/> also in jabber:client named
 * (mj_stanza_client_ns(): as the client reads them). Anything of the
 * wrong Lua type is
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
    "name",         "attr",         "tags",      "xmlns",     "type",
    "from",         "to",           "id",        "code",      "nick",
    "jid",          "uri",          "by",        "room",      "old_nick",
    "reason",       "condition",    "text",      "alt_venue", "from_nick",
    "ping_id",      "level",        "msg",       "log",       "full_jid",
    "rooms_joined", "joined_rooms", "applied",   "var",       "stanza",
    "origin",       "host",         "destroyed", "c2s",       "incoming",
    "outgoing",     "presence"};
_Static_assert(sizeof uv_keys / sizeof uv_keys[0] == UV_PRESENCE - UV_NAME + 1,
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
struct tracker *check_tracker(lua_State *L)
{
    struct tracker *u = lua_touserdata(L, 1);
    int ok;

    /* A full userdata of our size whose first word is this copy's
     * registry key was made by l_new() of this copy: Lua code cannot make
     * one, and another copy's trackers hold another key. The hot path
     * stops here; anything else has its metatable checked. */
    /* (lua_rawlen() is 0 for a light userdata, so the size check also
     * tells a full userdata) */
    if (u != NULL && lua_rawlen(L, 1) == sizeof *u &&
        u->magic == &tracker_key && u->tr != NULL && !u->busy)
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
int reserve_stack(lua_State *L, struct tracker *u, int n)
{
    int ok, busy = u->busy;

    u->busy = 1;
    ok = lua_checkstack(L, n);
    u->busy = busy;
    return ok;
}

int protected_call(lua_State *L, struct tracker *u, int n, int nres)
{
    int rc;

    u->busy = 1;
    rc = lua_pcall(L, n, nres, 0);
    u->busy = 0;
    return rc;
}

/* After the protected call that turned the records into Lua values or
 * applied them (status rc): count what was lost, then empty the record
 * buffer. The records that could not be stored are lost; when the call
 * failed (out of memory), every record is, whatever part of it was built
 * or written: none reached the caller, though the core counted its events
 * (t:counts()). Both count in stats().dropped_events, as records of any
 * kind (a log line too). */
static void records_done(struct tracker *u, int rc)
{
    u->dropped_total += u->col.dropped;
    if (rc != LUA_OK)
        u->dropped_total += u->col.nrec;
    /* a lost joined, nick-changed or left leaves rooms_joined behind the
     * core until t:resync() rewrites it from the core's state */
    if (u->col.dropped != 0 || (rc != LUA_OK && u->col.nrec != 0))
        u->resync = 1;
    col_reset(&u->col);
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
    records_done(u, rc);
    return rc;
}

/* try_build(), re-raising an error. */
void build(lua_State *L, struct tracker *u, lua_CFunction fn, void *arg,
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

/* option_prefix (mj_config): a string, copied into buf
 * (MJ_OPTION_PREFIX_MAX + 1 bytes) for the caller to keep. */
static void opt_prefix(lua_State *L, int arg, mj_config *cfg, char *buf)
{
    size_t len;
    const char *s;
    int t = lua_getfield(L, arg, "option_prefix");

    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TSTRING)
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "option_prefix: string expected, "
                                      "got %s",
                                      luaL_typename(L, -1)));
    s = lua_tolstring(L, -1, &len);
    if (len > MJ_OPTION_PREFIX_MAX || strlen(s) != len)
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "option_prefix: at most %d bytes, "
                                      "no NUL",
                                      MJ_OPTION_PREFIX_MAX));
    memcpy(buf, s, len + 1);
    cfg->option_prefix = buf;
    lua_pop(L, 1);
}

/* Every option of the library's table (mj_config_options()), under its
 * own name, and option_prefix (into prefix, MJ_OPTION_PREFIX_MAX + 1
 * bytes). */
static void read_config(lua_State *L, int arg, mj_config *cfg, char *prefix)
{
    size_t i, n;
    const mj_option *opts = mj_config_options(&n);

    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    opt_prefix(L, arg, cfg, prefix);
    for (i = 0; i < n; i++) {
        const mj_option *o = &opts[i];
        void *f = (char *)cfg + o->offset;
        size_t v;

        switch (o->type) {
        case MJ_OPT_SIZE:
            opt_size(L, arg, o->name, f);
            break;
        case MJ_OPT_UINT: /* capped at its max (mj_option), or UINT_MAX */
            v = *(unsigned *)f;
            opt_size(L, arg, o->name, &v);
            if (o->max > 0 && (double)v > o->max)
                v = (size_t)o->max;
            *(unsigned *)f = v > UINT_MAX ? UINT_MAX : (unsigned)v;
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
    char prefix[MJ_OPTION_PREFIX_MAX + 1];
    int rc;

    mj_config_init(&cfg);
    read_config(L, 1, &cfg, prefix);
    u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    if (cfg.option_prefix != NULL) {
        memcpy(u->option_prefix, prefix, sizeof prefix);
        cfg.option_prefix = u->option_prefix;
    }
    u->magic = &tracker_key;
    u->watch = 1;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tracker_key);
    lua_setmetatable(L, -2);

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
    char prefix[MJ_OPTION_PREFIX_MAX + 1];
    int rc;

    read_config(L, 2, &cfg, prefix);
    col_reset(&u->col);
    rc = mj_tracker_configure(u->tr, &cfg);
    col_reset(&u->col);
    if (rc != MJ_OK)
        raise_core_error(L, 2, rc);
    if (cfg.option_prefix == prefix) {
        memcpy(u->option_prefix, prefix, sizeof prefix);
        cfg.option_prefix = u->option_prefix;
    }
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
MJ_HOT static int feed(lua_State *L, struct tracker *u, int a, int outgoing,
                       struct known *k)
{
    /* the arguments after the tracker: a (session or JID), a + 1 (stanza),
     * a + 2 (want); a + 3, the session's full_jid when a is the table (k
     * NULL, or k->jid 0). k: what the caller read already (the hooks):
     * the stanza at k->stanza, want in k->want, nothing above a. */
    mj_session *s = NULL;
    mj_outcome oc = MJ_O_IGNORED;
    mj_stanza st;
    int rc, want, jid = a, sess = 0, stanza = a + 1;
    size_t len;
    const char *p;

    if (k != NULL) {
        stanza = k->stanza;
        want = k->want;
    } else {
        if (lua_type(L, a + 1) != LUA_TTABLE)
            luaL_checktype(L, a + 1, LUA_TTABLE); /* raises */
        want = lua_toboolean(L, a + 2);
        if (lua_gettop(L) != a + 2)
            lua_settop(L, a + 2);
    }
    if (k != NULL && k->lazy) {
        jid = k->jid; /* the session table is read when needed, below */
    } else if (k != NULL && k->jid != 0) {
        sess = a; /* a table (the hooks checked) */
        jid = k->jid;
    } else if (lua_type(L, a) == LUA_TTABLE) {
        if (rawkey(L, a, UV_FULL_JID) != LUA_TSTRING) {
            if (k != NULL) {
                k->quiet = 1;
                return 0;
            }
            push_outcome(L, MJ_O_IGNORED);
            return 1;
        }
        sess = a;
        jid = lua_gettop(L); /* a + 3, or a + 1 under a hook */
    } else {
        luaL_checkstring(L, a);
    }
    if (u->col.nrec != 0 || u->col.dropped != 0)
        col_reset(&u->col);
    /* a + 3 and the head: within LUA_MINSTACK; convert() reserves the
     * rest, and 8 slots for the results (6 above a + 3, the session
     * table read lazily included) */
    rc = convert(L, stanza, outgoing ? CONV_OUT : CONV_IN, &st, 8, k);
    if (rc == 0) {
        if (k != NULL) {
            k->quiet = 1;
            return 0;
        }
        push_outcome(L, MJ_O_IGNORED); /* the core reads nothing of it */
        return 1;
    }
    if (rc < 0) {
        lua_pushnil(L);
        push_error(L, MJ_ENOMEM);
        return 2;
    }

    if (k != NULL && jid == k->to && k->to != 0) {
        p = k->to_s; /* the same string, still on the stack */
        len = k->to_len;
    } else {
        p = lua_tolstring(L, jid, &len);
    }
    /* the handle the hook found for these bytes, unless one was closed
     * since (a finalizer run by convert() may close sessions) */
    if (k != NULL && k->cached != NULL && k->cached_in == u &&
        k->closes == u->closes)
        s = k->cached;
    else
        s = session_cached(u, p, len);
    /* a received presence's id: only while the session waits for an
     * answer (a join's, a leave's, a join sent again's; for a session not
     * cached, whose state is not known here: while any session waits for
     * one), and while a leave sent again anywhere in the tracker may still
     * be answered (mj_session_needs()); raw reads, which run no
     * collector */
    if (k != NULL && k->id_later && st.kind == MJ_KIND_PRESENCE &&
        ((s != NULL ? mj_session_needs(s, 0, st.kind, st.type)
                    : mj_tracker_needs(u->tr, 0, st.kind, st.type)) &
         MJ_NEED_ID) != 0)
        read_id(L, k->attrs, &st);
    /* No Lua API call from here until the core has returned. */
    if (s != NULL) {
        rc = outgoing ? mj_session_outgoing(s, &st, &oc)
                      : mj_session_incoming(s, &st, &oc);
    } else {
        /* the core finds the session; it creates one only for a join
         * (never for what a closed session still sends) */
        rc = outgoing ? mj_tracker_outgoing(u->tr, p, len, &st, &s, &oc)
                      : mj_tracker_incoming(u->tr, p, len, &st, &s, &oc);
        if (s != NULL)
            session_remember(u, s, p, len);
    }
    /* a presence sent about a room the core follows (a join, a nick
     * change, an update, a leave), or a groupchat message to a room the
     * session is in (a ghost's is refused with not-acceptable): the hooks
     * call the module's watch() once per session and watch epoch (s is
     * still valid: no Lua API call since the core returned) */
    if (rc == MJ_OK && s != NULL && k != NULL && outgoing &&
        (k->kind == MJ_KIND_PRESENCE || k->kind == MJ_KIND_MESSAGE) &&
        (oc == MJ_O_CHANGED || oc == MJ_O_UNCHANGED || oc == MJ_O_AMBIGUOUS)) {
        k->watch = session_watch_due(u, s);
        k->watch_jid = jid;
    }
    if (k != NULL && rc == MJ_OK && oc == MJ_O_ANSWERED)
        k->answered = 1;
    if (!outgoing && rc != MJ_OK && rc != MJ_ENOMEM) {
        col_reset(&u->col);
        if (k != NULL) {
            k->quiet = 1;
            return 0;
        }
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
    /* The core is done; Lua values may be made again. What convert()
     * left on the stack stays below the results (a C function returns
     * the top values). */

    if (u->col.nrec == 0 && u->col.dropped == 0) {
        if (k != NULL) {
            k->quiet = 1;
            return 0;
        }
        push_outcome(L, oc);
        return 1;
    }
    lua_settop(L, a + 3);
    if (k != NULL && k->lazy) {
        /* the session table, now that it is needed */
        lua_pushvalue(L, jid);
        if (lua_rawget(L, lua_upvalueindex(UV_SESSIONS)) == LUA_TTABLE) {
            lua_replace(L, a);
            sess = a;
        } else {
            lua_pop(L, 1);
        }
    }
    push_outcome(L, oc);
    if (sess != 0) {
        /* (apply_events, tracker, session, jid, want) */
        lua_pushvalue(L, lua_upvalueindex(UV_APPLY));
        lua_pushlightuserdata(L, u);
        lua_pushvalue(L, sess);
        lua_pushvalue(L, jid);
        lua_pushboolean(L, want);
        rc = protected_call(L, u, 4, 1);
        records_done(u, rc);
    } else {
        rc = try_build(L, u, NULL, NULL, jid);
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
    return feed(L, check_tracker(L), 2, 1, NULL);
}

static int l_incoming(lua_State *L)
{
    return feed(L, check_tracker(L), 2, 0, NULL);
}

/* The tracker of a bound feeder (its upvalue UV_SELF, put there by
 * l_feeders: a tracker of this copy); misuse raises as a method's would. */
static struct tracker *bound_tracker(lua_State *L)
{
    struct tracker *u = lua_touserdata(L, lua_upvalueindex(UV_SELF));

    if (u->tr == NULL)
        luaL_error(L, "mucjoins: tracker has been freed");
    if (u->busy)
        luaL_error(L, "mucjoins: tracker used while it is building results "
                      "(from a finalizer?)");
    return u;
}

static int l_bound_outgoing(lua_State *L)
{
    return feed(L, bound_tracker(L), 1, 1, NULL);
}

static int l_bound_incoming(lua_State *L)
{
    return feed(L, bound_tracker(L), 1, 0, NULL);
}

/* t:feeders() -> outgoing, incoming: t:outgoing and t:incoming bound to
 * t (called without it: outgoing(session, stanza, want)), for the
 * module's hot path: no tracker argument to pass and check. */
static int l_feeders(lua_State *L)
{
    int i, k;
    static const lua_CFunction fns[2] = {l_bound_outgoing, l_bound_incoming};

    check_tracker(L);
    luaL_checkstack(L, UV_SELF + 2, "mucjoins");
    for (k = 0; k < 2; k++) {
        for (i = 1; i <= NUPVALUES; i++)
            lua_pushvalue(L, lua_upvalueindex(i));
        lua_pushvalue(L, 1);
        lua_pushcclosure(L, fns[k], UV_SELF);
    }
    return 2;
}

/* ---------------------------------------------------------------------- */
/* Prosody's presence and message hooks                                    */
/*
 * t:hooks(full_sessions, host, seen, applied[, watch]) -> hooks: the
 * module's presence and message hooks themselves, bound to t (a stanza
 * costs one C call, no Lua function before it). They do what Lua hooks
 * would:
 *   hooks.outgoing(event): event.origin, a "c2s" session not destroyed,
 *     feeds t:outgoing(origin, event.stanza, want), unless the stanza is
 *     origin.presence (mod_presence sending it again for the session)
 *     or a presence without a string to (a broadcast: the copies
 *     mod_presence sends to each JID are fed instead)
 *   hooks.incoming(event): the session full_sessions[stanza.attr.to]
 *     whose host is host (when attr.to is the JID of a session the
 *     tracker has cached, which is one of those, full_sessions is read
 *     only if the core reports something); an error presence is first
 *     recorded as seen[stanza] = true and seen[attr.to] = stanza (the
 *     module's join-error filter reads them); then t:incoming(session,
 *     stanza, want)
 *   hooks.outgoing_message, hooks.incoming_message: the same, after
 *     skipping the types the core never reads (mj_stanza_needs(), what
 *     mj.reads tells)
 *   when events come back or the core failed, they call
 *     applied("outgoing" or "incoming", session, stanza, outcome, events)
 *   when a session sends a presence the core follows (its outcome is
 *     changed, unchanged or ambiguous: a join, a nick change, an update
 *     or a leave to a room it has state with), or a groupchat message to
 *     a room it is in (unchanged), hooks.outgoing and
 *     hooks.outgoing_message call watch(session), if given, before the
 *     stanza is routed (the module watches what the session is sent
 *     while a local MUC answers it: join errors, and the not-acceptable
 *     refusal of a ghost's message, come with origin.send()); once per
 *     session in a
 *     watch epoch, which t:tick() and hooks.bind() end (a session whose
 *     handle the cache does not hold: every time)
 *   hooks.listen(flag): want (someone listens to the events); true at
 *     first
 *   hooks.bind(t2): feed t2 from now on (a module reload restores the
 *     previous tracker after the hooks were registered)
 *   hooks.own_answers(event): true for the presence hooks.incoming
 *     found last to be the answer to a leave the module sent again,
 *     carrying that send's id (outcome "answered": the module's own
 *     traffic, kept from the session), nothing otherwise; the module
 *     hooks it just after hooks.incoming
 * util.events stops at the first handler that returns a value, and an
 * error raised by a hook reaches stanza processing: every path of the
 * tracking hooks returns nothing, and nothing raises. Fields are
 * read raw (a retired session's type and destroyed come from its metatable:
 * its raw type is nil, not "c2s"); anything of the wrong type ends the hook;
 * what may allocate runs under lua_pcall, its errors dropped (applied logs its
 * own); a freed or busy tracker is left alone.
 */

/* seen[stanza] = true, seen[to] = stanza (protected: a new key may
 * allocate). The second tells the module's filter a copy of the stanza
 * from a stanza it has not seen (mod_bosh filters a copy of every stanza
 * without xmlns); the module makes seen weak in keys and values, so that
 * it keeps no stanza alive. */
static int set_seen(lua_State *L) /* seen, to, stanza */
{
    lua_pushvalue(L, 3);
    lua_pushboolean(L, 1);
    lua_rawset(L, 1); /* seen[stanza] = true */
    lua_rawset(L, 1); /* seen[to] = stanza */
    return 0;
}

/* Whether the core reads a stanza of the kind kind and the type (type,
 * tlen; NULL: none), sent or received: mj_stanza_needs() of the library's
 * reading of the type, which goes to *as (when not NULL). Only the kind
 * and type are set and read, so the view is not cleared (this runs for
 * every message a session sends or receives). What mj.reads() answers
 * and the message hooks skip by. */
static int kind_reads(mj_kind kind, const char *type, size_t tlen,
                      int outgoing, mj_type *as)
{
    mj_stanza st;

    st.kind = kind;
    mj_stanza_set_type(&st, type, tlen);
    if (as != NULL)
        *as = st.type;
    return mj_stanza_needs(outgoing, st.kind, st.type) != 0;
}

/* The same for a stanza named (name, nlen). */
static int core_reads(const char *name, size_t nlen, const char *type,
                      size_t tlen, int outgoing)
{
    mj_stanza st;

    if (!mj_stanza_set_kind(&st, name, nlen))
        return 0;
    return kind_reads(st.kind, type, tlen, outgoing, NULL);
}

/* After hook()'s call of the module's applied() (status): applied()
 * failing (out of memory before its first line, as a rule: the module's
 * applied() catches its own handlers' errors) delivered none of the
 * records, which count as dropped (records_done()). The stack: the
 * tracker at 1, ..., the events (a table) or the error message, then the
 * call's error. */
static void applied_done(lua_State *L, int status)
{
    struct tracker *u = lua_touserdata(L, 1);

    if (status != LUA_OK && status != LUA_YIELD && u != NULL &&
        lua_type(L, -2) == LUA_TTABLE) {
        u->dropped_total += (uint64_t)lua_rawlen(L, -2);
        u->resync = 1; /* what was not applied: t:resync() */
    }
}

/* The end of a hook: the presence at 2 was the answer to a leave the
 * module sent again (answered), which hooks.own_answers stops; the
 * tracker (at 1 once feeding started) remembers which. Nothing is
 * returned: a tracking hook never stops a stanza. */
static int hook_end(lua_State *L, int answered)
{
    if (answered) {
        struct tracker *u = lua_touserdata(L, 1);

        if (u != NULL)
            u->answered = lua_topointer(L, 2);
    }
    return 0;
}

/* hook()'s continuation: applied() ran in a coroutine (Prosody runs a
 * session's stanzas in an async runner) and a muc-joins/<type> handler
 * waited (yielded, util.async), or it raised there (Lua 5.4 then unwinds
 * to here instead of returning from lua_pcallk()). */
static int hook_after_applied(lua_State *L, int status, lua_KContext ctx)
{
    applied_done(L, status);
    return hook_end(L, (int)ctx);
}

/* One hook. The stack: the event (1; the tracker once feeding starts),
 * its stanza (2); what convert()
 * would read again: attr (3), attr.type (4) and attr.to (5), nil when not
 * read here; then feed()'s session (6; nil for a session the tracker
 * caches, until feed() reads it); the stanza and want go to feed() in k.
 * Incoming, the JID is attr.to itself (full_sessions is keyed by the
 * session's full_jid). */
MJ_HOT static int hook(lua_State *L, int outgoing, int message)
{
    struct tracker *u = lua_touserdata(L, lua_upvalueindex(UV_SELF));
    struct known k = {0};
    int n, ran_lua = 0;

    /* the kind: Prosody's event names are made of the stanza's name */
    k.has_kind = 1;
    k.kind = message ? MJ_KIND_MESSAGE : MJ_KIND_PRESENCE;
    if (lua_gettop(L) != 1) /* util.events passes the event alone */
        lua_settop(L, 1);
    if (!outgoing && !message)
        u->answered = NULL; /* the last presence's mark goes (own_answers) */
    if (lua_type(L, 1) != LUA_TTABLE || u->tr == NULL || u->busy)
        return 0;
    if (rawkey(L, 1, UV_STANZA) != LUA_TTABLE) /* 2 */
        return 0;
    if (!outgoing || message) {
        if (rawkey(L, 2, UV_ATTR) != LUA_TTABLE) /* 3 */
            return 0;
        if (rawkey(L, 3, UV_TYPE) == LUA_TSTRING) /* 4 */
            k.type_s = lua_tolstring(L, 4, &k.type_len);
        k.attrs = 3;
        k.type = 4;
        if (message) {
            if (!kind_reads(MJ_KIND_MESSAGE, k.type_s, k.type_len, outgoing,
                            &k.st_type))
                return 0; /* a type the core never reads: no more cost */
            k.has_type = 1;
        }
    }
    if (outgoing && !message) {
        /* a presence without to is a broadcast: Prosody's mod_presence
         * sends it again, through these hooks, to each JID it goes to
         * (the rooms: those the session sent presence to, and a room
         * whose JID is a subscribed roster contact), and a room gets the
         * leave only if no module stops that copy (mod_blocklist bounces
         * the one to a blocked room): the copies are read, not it */
        if (rawkey(L, 2, UV_ATTR) != LUA_TTABLE) /* 3 */
            return 0;
        lua_pushnil(L); /* 4: the type, read by convert() */
        if (rawkey(L, 3, UV_TO) != LUA_TSTRING) /* 5: nor a JID */
            return 0;
        k.to_s = lua_tolstring(L, 5, &k.to_len);
        k.to = 5;
        k.attrs = 3;
    }
    if (outgoing) {
        lua_settop(L, 5);
        if (rawkey(L, 1, UV_ORIGIN) != LUA_TTABLE) /* 6 */
            return 0;
        rawkey(L, 6, UV_TYPE);
        if (!lua_rawequal(L, -1, lua_upvalueindex(UV_C2S)))
            return 0;
        rawkey(L, 6, UV_DESTROYED);
        if (lua_toboolean(L, -1))
            return 0; /* closed at resource-unbind, no longer tracked */
        /* the session's last broadcast presence (origin.presence), which
         * Prosody's mod_presence sends again on the session's behalf: to
         * a contact that probes it from a full JID, to another resource
         * of the account at its login. Nothing the client sent to a room
         * (with legacy_joins, the probe's answer was a join of the
         * contact's JID). */
        if (!message) {
            rawkey(L, 6, UV_PRESENCE);
            if (lua_rawequal(L, -1, 2))
                return 0;
        }
    } else {
        if (rawkey(L, 3, UV_TO) != LUA_TSTRING) /* 5 */
            return 0;
        k.id_later = !message;
        k.to = 5;
        k.jid = 5;
        k.to_s = lua_tolstring(L, 5, &k.to_len);
        k.cached = session_cached(u, k.to_s, k.to_len);
        if (k.cached != NULL) {
            /* a session the core tracks: one of this host's in
             * full_sessions (its handle lives from its first join to its
             * resource-unbind), read from there only if needed */
            lua_pushnil(L); /* 6 */
            k.lazy = 1;
            k.cached_in = u;
            k.closes = u->closes;
        } else {
            lua_pushvalue(L, 5);
            if (lua_rawget(L, lua_upvalueindex(UV_SESSIONS)) != LUA_TTABLE)
                return 0; /* 6 */
            rawkey(L, 6, UV_HOST);
            if (!lua_rawequal(L, -1, lua_upvalueindex(UV_MODULE_HOST)))
                return 0;
        }
        if (LIT_EQ(k.type_s, k.type_len, "error")) {
            lua_pushcfunction(L, set_seen);
            lua_pushvalue(L, lua_upvalueindex(UV_SEEN));
            lua_pushvalue(L, 5);
            lua_pushvalue(L, 2);
            lua_pcall(L, 3, 0, 0); /* an error: the filter reads it again */
            ran_lua = 1;
        }
    }
    if (lua_gettop(L) != 6)
        lua_settop(L, 6);
    /* The tracker, in place of the event (read no more), for the whole
     * call: a finalizer run meanwhile (when feed() allocates) may rebind
     * the hooks, which must neither mix two trackers nor let this one be
     * collected under feed(). Only the pcall above runs Lua code before
     * this: without it, the upvalue is still u. */
    lua_pushvalue(L, lua_upvalueindex(UV_SELF));
    lua_replace(L, 1);
    if (ran_lua)
        u = lua_touserdata(L, 1);
    if (u->tr == NULL || u->busy)
        return 0;
    k.stanza = 2;
    k.want = lua_toboolean(L, lua_upvalueindex(UV_LISTENING));
    n = feed(L, u, 6, outgoing, &k);
    /* before the presence is routed: the module's watch() (a local MUC
     * answers it at once, its errors with origin.send()) */
    if (k.watch &&
        lua_type(L, lua_upvalueindex(UV_WATCH_FN)) == LUA_TFUNCTION) {
        int ok = reserve_stack(L, u, 3);

        if (ok) {
            lua_pushvalue(L, lua_upvalueindex(UV_WATCH_FN));
            lua_pushvalue(L, 6);
            ok = lua_pcall(L, 1, 0, 0) == LUA_OK;
            if (!ok)
                lua_pop(L, 1); /* the results stay on top */
        }
        if (!ok) { /* asked again at the session's next presence */
            size_t len;
            const char *p = lua_tolstring(L, k.watch_jid, &len);

            if (p != NULL)
                session_watch_failed(u, p, len);
        }
    }
    if (k.quiet || (n == 1 && !lua_isnil(L, -1)))
        return hook_end(L, k.answered); /* applied by feed() */
    /* events, or the core failed: the module's applied() */
    if (n == 1)
        lua_pushnil(L);
    if (!reserve_stack(L, u, 8)) { /* applied() cannot be called */
        if (lua_type(L, -1) == LUA_TTABLE) {
            u->dropped_total += (uint64_t)lua_rawlen(L, -1);
            u->resync = 1;
        }
        return hook_end(L, k.answered);
    }
    lua_pushvalue(L, lua_upvalueindex(UV_APPLIED_FN));
    lua_pushvalue(L, lua_upvalueindex(outgoing ? UV_OUTGOING : UV_INCOMING));
    lua_pushvalue(L, 6);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -6); /* the outcome (nil: failed) */
    lua_pushvalue(L, -6); /* the events, or the message */
    /* with a continuation: a handler may yield across this C function */
    applied_done(L, lua_pcallk(L, 5, 0, 0, k.answered, hook_after_applied));
    return hook_end(L, k.answered);
}

static int l_hook_outgoing(lua_State *L)
{
    return hook(L, 1, 0);
}

static int l_hook_outgoing_message(lua_State *L)
{
    return hook(L, 1, 1);
}

static int l_hook_incoming(lua_State *L)
{
    return hook(L, 0, 0);
}

static int l_hook_incoming_message(lua_State *L)
{
    return hook(L, 0, 1);
}

/* hooks.own_answers(event): true for the stanza the incoming hook found
 * last to answer a leave the module sent again (outcome "answered"),
 * nothing otherwise. Registered after the incoming hook (between it and
 * every module that delivers or drops presences): the incoming hook
 * clears the mark first thing for every presence, so only the stanza it
 * marked can match, and only until the next presence passes it. */
static int l_hook_own_answers(lua_State *L)
{
    struct tracker *u = lua_touserdata(L, lua_upvalueindex(UV_SELF));

    if (u->answered == NULL || lua_type(L, 1) != LUA_TTABLE)
        return 0;
    lua_settop(L, 1);
    rawkey(L, 1, UV_STANZA);
    if (lua_topointer(L, 2) != u->answered)
        return 0;
    u->answered = NULL;
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg hook_fns[] = {
    {"outgoing", l_hook_outgoing},
    {"outgoing_message", l_hook_outgoing_message},
    {"incoming", l_hook_incoming},
    {"incoming_message", l_hook_incoming_message},
    {"own_answers", l_hook_own_answers},
    {NULL, NULL}};
#define NHOOKS (sizeof hook_fns / sizeof hook_fns[0] - 1)

/* Set upvalue k of each hook (the upvalues of this closure) to the value
 * at the top, and pop it. */
static void set_hooks_upvalue(lua_State *L, int k)
{
    size_t i;

    for (i = 1; i <= NHOOKS; i++) {
        lua_pushvalue(L, -1);
        lua_setupvalue(L, lua_upvalueindex((int)i), k);
    }
    lua_pop(L, 1);
}

/* hooks.listen(flag) */
static int l_hooks_listen(lua_State *L)
{
    lua_pushboolean(L, lua_toboolean(L, 1));
    set_hooks_upvalue(L, UV_LISTENING);
    return 0;
}

/* hooks.bind(t) */
static int l_hooks_bind(lua_State *L)
{
    struct tracker *u = to_tracker(L, 1);

    if (u == NULL)
        return luaL_typeerror(L, 1, MT_NAME);
    /* every session is due a watch() again: a new module's watch() has
     * seen none of them */
    session_watch_epoch(u);
    lua_settop(L, 1);
    set_hooks_upvalue(L, UV_SELF);
    return 0;
}

/* t:hooks(full_sessions, host, seen, applied[, watch]) -> hooks */
static int l_hooks(lua_State *L)
{
    size_t i;
    int k;

    check_tracker(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TSTRING);
    luaL_checktype(L, 4, LUA_TTABLE);
    luaL_checktype(L, 5, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 6))
        luaL_checktype(L, 6, LUA_TFUNCTION);
    lua_settop(L, 6);
    luaL_checkstack(L, NHOOK_UPVALUES + NHOOKS + 4, "mucjoins");
    lua_createtable(L, 0, NHOOKS + 2); /* 7 */
    for (i = 0; i < NHOOKS; i++) {
        for (k = 1; k <= NUPVALUES; k++)
            lua_pushvalue(L, lua_upvalueindex(k));
        lua_pushvalue(L, 1);     /* UV_SELF */
        lua_pushboolean(L, 1);   /* UV_LISTENING */
        for (k = 2; k <= 6; k++) /* UV_SESSIONS .. UV_WATCH_FN */
            lua_pushvalue(L, k);
        lua_pushcclosure(L, hook_fns[i].func, NHOOK_UPVALUES);
        lua_setfield(L, 7, hook_fns[i].name);
    }
    for (k = 0; k < 2; k++) {
        for (i = 0; i < NHOOKS; i++)
            lua_getfield(L, 7, hook_fns[i].name);
        lua_pushcclosure(L, k == 0 ? l_hooks_listen : l_hooks_bind,
                         (int)NHOOKS);
        lua_setfield(L, 7, k == 0 ? "listen" : "bind");
    }
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
    u->closes++; /* every handle is gone: none a hook looked up is fed */
    u->last = NULL;
    u->last_slot = NULL;
    scache_free(u);
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
    {"feeders", l_feeders},
    {"hooks", l_hooks},
    {"close", l_close},
    {"tick", l_tick},
    {"send_ready", l_send_ready},
    {"rooms", l_rooms},
    {"nick", l_nick},
    {"stats", l_stats},
    {"sessions", l_sessions},
    {"counts", l_counts},
    {"restore", l_restore},
    {"resync", l_resync},
    {"message", l_message},
    {"importance", l_importance},
    {"is_forwarded_ping", l_is_forwarded_ping},
    {"ping_answer", l_ping_answer},
    {"ping_answer_info", l_ping_answer_info},
    {"ping_needs_features", l_ping_needs_features},
    {"link_lost", l_link_lost},
    {"link_up", l_link_up},
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

    lua_pushboolean(L,
                    core_reads(name, nlen, type, tlen, lua_toboolean(L, 3)));
    return 1;
}

/* mj.options() -> { {name=, type="number"|"boolean", integer=, default=,
 * max=, positive=, doc=}, ... }: the library's options, in its order
 * (mj_option); max (absent: none) is the largest value a configuration
 * should take (t:configure() and mj.new() take a larger count as max),
 * positive: 0 would switch off what the option is for */
static int l_options(lua_State *L)
{
    size_t i, n;
    const mj_option *opts = mj_config_options(&n);

    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        const mj_option *o = &opts[i];
        int whole = o->type == MJ_OPT_SIZE || o->type == MJ_OPT_UINT;

        lua_createtable(L, 0, 8);
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
        if (o->max > 0) {
            if (whole)
                lua_pushinteger(L, (lua_Integer)o->max);
            else
                lua_pushnumber(L, (lua_Number)o->max);
            lua_setfield(L, -2, "max");
        }
        lua_pushboolean(L, o->positive);
        lua_setfield(L, -2, "positive");
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
    lua_pushinteger(L, MJ_LUA_INTERFACE);
    lua_setfield(L, -2, "interface");
    return 1;
}

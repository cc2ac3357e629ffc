/*
 * mj_results.c - the Lua binding's results (see mucjoins_lua.h): outcome
 * and error names from upvalues, event tables, rooms_joined written for
 * the module, the rooms and sessions lists.
 */
#include "mucjoins_lua.h"

/* Push upvalue first + i if 0 <= i < n, else the string s. */
void push_name(lua_State *L, int first, int n, int i, const char *s)
{
    if (i >= 0 && i < n)
        lua_pushvalue(L, lua_upvalueindex(first + i));
    else
        lua_pushstring(L, s);
}

void push_error(lua_State *L, int rc)
{
    push_name(L, UV_ERROR, NERRORS, -rc - 1, mj_strerror(rc));
}

void push_verdict(lua_State *L, mj_ping_verdict v)
{
    push_name(L, UV_VERDICT, NVERDICTS, (int)v, mj_ping_verdict_name(v));
}

/* ---------------------------------------------------------------------- */
/* Building results (only ever inside build())                            */

/* Prosody's level names, which are the library's (MJ_LOG_LEVEL_LIST). */
#define LEVEL_NAME(name, value, str) [value] = str,
const char *level_name(int level)
{
    static const char *const names[] = {MJ_LOG_LEVEL_LIST(LEVEL_NAME)};

    if (level >= 0 && level < MJ_LOG_COUNT)
        return names[level];
    return "error";
}

/* Set t[upvalue key] (t on top) to string slot f of r, if present. The
 * session JID at index jid (0: none) is reused when the bytes are its. */
static void set_rec_str(lua_State *L, const struct collect *c,
                        const struct rec *r, int f, int key, int jid)
{
    const char *p, *j;
    size_t jlen = 0;

    if (r->off[f] == ABSENT)
        return; /* no offset to add: ABSENT is SIZE_MAX */
    p = c->buf + r->off[f];
    lua_pushvalue(L, lua_upvalueindex(key));
    j = jid != 0 ? lua_tolstring(L, jid, &jlen) : NULL;
    if (j != NULL && jlen == r->len[f] && memcmp(j, p, jlen) == 0)
        lua_pushvalue(L, jid);
    else
        lua_pushlstring(L, p, r->len[f]);
    lua_rawset(L, -3);
}

static void set_key(lua_State *L, int key)
{
    lua_pushvalue(L, lua_upvalueindex(key));
    lua_insert(L, -2);
    lua_rawset(L, -3);
}

/* The event table's key of each slot; 0: not one of its own fields (a
 * left's room_nick goes to its notice: set_notice()). */
static const int rec_keys[NFIELDS] = {
    UV_JID,  UV_ROOM,      UV_NICK,      UV_OLD_NICK, UV_CONDITION,
    UV_TEXT, UV_ALT_VENUE, UV_FROM_NICK, 0,           UV_ID};

/* t.notice = { status = { "110", ... }, affiliation = , role = , nick = }
 * for a notice (t on top); nothing for NULL. nick: where it comes from,
 * the event's room_nick (in EXPECTING the nick the 303 announced: the
 * client follows it), else its nick. */
static void set_notice(lua_State *L, const mj_notice *notice,
                       const struct collect *c, const struct rec *r)
{
    size_t i;

    if (notice == NULL)
        return;
    lua_createtable(L, 0, 4);
    lua_createtable(L, notice->nstatus < INT_MAX ? (int)notice->nstatus : 0,
                    0);
    for (i = 0; i < notice->nstatus; i++) {
        lua_pushfstring(L, "%d", notice->status[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "status");
    lua_pushstring(L, notice->affiliation);
    lua_setfield(L, -2, "affiliation");
    lua_pushstring(L, notice->role);
    lua_setfield(L, -2, "role");
    set_rec_str(L, c, r, r->off[F_ROOM_NICK] != ABSENT ? F_ROOM_NICK : F_NICK,
                UV_NICK, 0);
    lua_setfield(L, -2, "notice");
}

static void push_rec(lua_State *L, const struct collect *c,
                     const struct rec *r, int jid)
{
    const mj_notice *notice = NULL;
    int f, n = 1;

    if (r->kind == REC_LOG) {
        lua_createtable(L, 0, 3);
        lua_pushvalue(L, lua_upvalueindex(UV_LOG));
        set_key(L, UV_TYPE);
        push_name(L, UV_LEVEL_NAME, NLEVELS, r->level, "error");
        set_key(L, UV_LEVEL);
        set_rec_str(L, c, r, 0, UV_MSG, 0);
        return;
    }
    if (r->kind == MJ_EV_LEFT)
        notice = mj_reason_notice((mj_reason)r->reason);
    for (f = 0; f < NFIELDS; f++)
        n += r->off[f] != ABSENT && rec_keys[f] != 0;
    n += (r->reason != MJ_R_NONE) + (r->ping_id != 0) + r->applied +
         (notice != NULL);
    /* exactly sized, with room for the two fields the module adds */
    lua_createtable(L, 0, n + 2);
    push_name(L, UV_EVENT, NEVENTS, r->kind - 1,
              mj_event_name((mj_event_type)r->kind));
    set_key(L, UV_TYPE);
    for (f = 0; f < NFIELDS; f++) {
        if (rec_keys[f] != 0)
            set_rec_str(L, c, r, f, rec_keys[f], f == F_JID ? jid : 0);
        if (f == F_OLD_NICK && r->reason != MJ_R_NONE) {
            push_name(L, UV_REASON_NAME, NREASONS, r->reason - 1,
                      mj_reason_name((mj_reason)r->reason));
            set_key(L, UV_REASON);
        }
    }
    if (r->ping_id != 0) {
        lua_pushinteger(L, (lua_Integer)r->ping_id);
        set_key(L, UV_PING_ID);
    }
    if (r->applied) {
        lua_pushboolean(L, 1);
        set_key(L, UV_APPLIED);
    }
    set_notice(L, notice, c, r);
}

/* Push nil or the array of collected records; the session JID at index
 * jid (0: none) is reused for the records' jid. */
static void push_events(lua_State *L, const struct collect *c, int jid)
{
    size_t i;

    if (c->nrec == 0 && c->dropped == 0) {
        lua_pushnil(L);
        return;
    }
    lua_createtable(
        L, c->nrec < INT_MAX - 1 ? (int)c->nrec + (c->dropped > 0) : INT_MAX,
        0);
    for (i = 0; i < c->nrec; i++) {
        push_rec(L, c, &c->recs[i], jid);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    if (c->dropped > 0) {
        lua_createtable(L, 0, 3);
        lua_pushliteral(L, "log");
        lua_setfield(L, -2, "type");
        lua_pushliteral(L, "error");
        lua_setfield(L, -2, "level");
        lua_pushfstring(L,
                        "mucjoins: %I events or log lines lost "
                        "(out of memory while recording them)",
                        (lua_Integer)c->dropped);
        lua_setfield(L, -2, "msg");
        lua_rawseti(L, -2, (lua_Integer)c->nrec + 1);
    }
}

/* Protected, the UV_BUILD closure: (tracker, nil, [session JID]) -> nil
 * or the array of collected records. */
int build_events(lua_State *L)
{
    const struct tracker *u = lua_touserdata(L, 1);

    push_events(L, &u->col, lua_type(L, 3) == LUA_TSTRING ? 3 : 0);
    return 1;
}

/* Whether the binding writes record r (of the session whose JID is jid)
 * to session.rooms_joined: joined and nick-changed set room = nick, left
 * clears room. */
static int writes_rooms(const struct collect *c, const struct rec *r,
                        const char *jid, size_t jlen)
{
    if (r->kind != MJ_EV_JOINED && r->kind != MJ_EV_NICK_CHANGED &&
        r->kind != MJ_EV_LEFT)
        return 0;
    if (r->off[F_ROOM] == ABSENT || r->off[F_JID] == ABSENT ||
        r->len[F_JID] != jlen ||
        memcmp(c->buf + r->off[F_JID], jid, jlen) != 0)
        return 0;
    return r->kind == MJ_EV_LEFT || r->off[F_NICK] != ABSENT;
}

/* A rooms_joined table made afresh (another module removed or replaced
 * the session's): every room the core shows for the session jid, not
 * only the ones the records are about. */
static void fill_rooms(lua_State *L, struct tracker *u, const char *jid,
                       size_t jlen, int rooms)
{
    mj_session *s = NULL;
    mj_room_info ri;
    size_t cursor = 0;

    if (mj_session_find(u->tr, jid, jlen, &s) != MJ_OK || s == NULL)
        return;
    while (mj_session_next_room(s, &cursor, &ri)) {
        if (ri.room.ptr == NULL || ri.nick.ptr == NULL)
            continue; /* not shown */
        lua_pushlstring(L, ri.room.ptr, ri.room.len);
        lua_pushlstring(L, ri.nick.ptr, ri.nick.len);
        lua_rawset(L, rooms);
    }
}

static int settable3(lua_State *L)
{
    lua_settable(L, 1);
    return 0;
}

/* rooms[key] = value, the two on top (popped): raw when rooms has no
 * metatable (the tables the module and the reference make), else through
 * its metamethods, protected: another module's proxy that raises loses
 * that one write (the record stays unapplied: the module's own apply
 * logs it), not the batch. Returns 1 when written. */
static int set_room(lua_State *L, int rooms)
{
    if (!lua_getmetatable(L, rooms)) {
        lua_rawset(L, rooms);
        return 1;
    }
    lua_pop(L, 1);
    if (!lua_checkstack(L, 2)) {
        lua_pop(L, 2);
        return 0;
    }
    lua_pushcfunction(L, settable3);
    lua_pushvalue(L, rooms);
    lua_rotate(L, -4, 2); /* settable3, rooms, key, value */
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Push session.rooms_joined (the session table at index sess) and return
 * its index. When it is not a table, a new one is set there: with every
 * room the core shows for the session jid, or empty when jid is NULL.
 * The same table is also session.joined_rooms (set where that is another
 * value). Non-raw accesses of the session table: run protected. */
static int push_rooms_joined(lua_State *L, struct tracker *u, int sess,
                             const char *jid, size_t jlen)
{
    int rooms;

    if (lua_getfield(L, sess, uv_keys[UV_ROOMS_JOINED - UV_NAME]) !=
        LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 4);
        if (jid != NULL)
            fill_rooms(L, u, jid, jlen, lua_gettop(L));
        lua_pushvalue(L, -1);
        lua_setfield(L, sess, uv_keys[UV_ROOMS_JOINED - UV_NAME]);
    }
    rooms = lua_gettop(L);
    lua_getfield(L, sess, uv_keys[UV_JOINED_ROOMS - UV_NAME]);
    if (!lua_rawequal(L, -1, rooms)) {
        lua_pushvalue(L, rooms);
        lua_setfield(L, sess, uv_keys[UV_JOINED_ROOMS - UV_NAME]);
    }
    lua_pop(L, 1);
    return rooms;
}

/* Protected, the UV_APPLY closure: (tracker, session table, session JID,
 * want) -> nil or the array of records (build_events). Writes what the
 * core decided about rooms to session.rooms_joined (created, with every
 * room the core shows for the session, and also set as
 * session.joined_rooms, when it is not a table), exactly as the module
 * does in Lua, and marks those records applied. Returns the array
 * when want is true or a record needs the module (a log line, a self-ping
 * to send, a leave the client must be told about: mj_reason_notice(), a
 * ghost's; records lost); else nil. */
MJ_HOT int apply_events(lua_State *L)
{
    struct tracker *u = lua_touserdata(L, 1);
    struct collect *c = &u->col;
    size_t jlen = 0, i;
    const char *jid = lua_tolstring(L, 3, &jlen);
    int want = lua_toboolean(L, 4) || c->dropped > 0, rooms = 0;

    for (i = 0; i < c->nrec; i++) {
        struct rec *r = &c->recs[i];

        if (jid == NULL || !writes_rooms(c, r, jid, jlen)) {
            want = want || r->kind == REC_LOG ||
                   r->kind == MJ_EV_PING_NEEDED || r->kind == MJ_EV_JOINED ||
                   r->kind == MJ_EV_NICK_CHANGED || r->kind == MJ_EV_LEFT;
            continue;
        }
        if (r->kind == MJ_EV_LEFT &&
            mj_reason_notice((mj_reason)r->reason) != NULL)
            want = 1; /* the module sends the notice (ev.notice) */
        if (rooms == 0)
            rooms = push_rooms_joined(L, u, 2, jid, jlen);
        lua_pushlstring(L, c->buf + r->off[F_ROOM], r->len[F_ROOM]);
        if (r->kind == MJ_EV_LEFT)
            lua_pushnil(L);
        else
            lua_pushlstring(L, c->buf + r->off[F_NICK], r->len[F_NICK]);
        if (set_room(L, rooms))
            r->applied = 1;
        else
            want = 1; /* the module applies it, and logs why it cannot */
    }
    if (want)
        push_events(L, c, 3);
    else
        lua_pushnil(L);
    return 1;
}

static void set_opt_str(lua_State *L, mj_str s, const char *key)
{
    if (s.ptr == NULL)
        return;
    lua_pushlstring(L, s.ptr, s.len);
    lua_setfield(L, -2, key);
}

/* Protected: (tracker, session) -> array of room tables. */
int build_rooms(lua_State *L)
{
    const mj_session *s = lua_touserdata(L, 2);
    mj_room_info ri;
    size_t cursor = 0;
    lua_Integer n = 0;

    lua_newtable(L);
    while (mj_session_next_room(s, &cursor, &ri)) {
        lua_createtable(L, 0, 5);
        set_opt_str(L, ri.room, "room");
        lua_pushstring(L, mj_state_name(ri.state));
        lua_setfield(L, -2, "state");
        set_opt_str(L, ri.nick, "nick");
        set_opt_str(L, ri.pending_nick, "pending_nick");
        lua_pushnumber(L, (lua_Number)ri.since);
        lua_setfield(L, -2, "since");
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

/* Protected: (tracker) -> array of session JIDs. */
int build_sessions(lua_State *L)
{
    const struct tracker *u = lua_touserdata(L, 1);
    size_t cursor = 0;
    lua_Integer n = 0;
    mj_session *s;

    lua_newtable(L);
    while ((s = mj_tracker_next_session(u->tr, &cursor)) != NULL) {
        mj_str jid = mj_session_jid(s);

        lua_pushlstring(L, jid.ptr != NULL ? jid.ptr : "", jid.len);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

/* The rooms_joined table of the session table at index sess (made, and
 * also set as joined_rooms, when it is not a table and a room is shown)
 * made to show exactly
 * the rooms of shown (a table room -> nick): entries not in it, or under
 * another nick, removed, then its rooms written. Returns the entries
 * written or removed. */
static lua_Integer sync_session(lua_State *L, int sess, int shown,
                                int *refused)
{
    lua_Integer fixed = 0, n = 0, i;
    int rooms, wrong;

    if (lua_getfield(L, sess, uv_keys[UV_ROOMS_JOINED - UV_NAME]) !=
        LUA_TTABLE) {
        lua_pushnil(L);
        if (!lua_next(L, shown)) {
            lua_pop(L, 1);
            return 0; /* nothing shown: no table to make */
        }
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    rooms = push_rooms_joined(L, NULL, sess, NULL, 0);
    /* the keys to remove, gathered first (no new key during lua_next) */
    lua_newtable(L);
    wrong = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, rooms)) {
        lua_pushvalue(L, -2);
        lua_rawget(L, shown);
        if (!lua_rawequal(L, -1, -2)) {
            lua_pushvalue(L, -3);
            lua_rawseti(L, wrong, ++n);
        }
        lua_pop(L, 2);
    }
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, wrong, i);
        lua_pushnil(L);
        if (set_room(L, rooms))
            fixed++;
        else
            *refused = 1;
    }
    lua_pushnil(L);
    while (lua_next(L, shown)) {
        lua_pushvalue(L, -2);
        lua_rawget(L, rooms);
        if (!lua_rawequal(L, -1, -2)) {
            lua_pop(L, 1);
            lua_pushvalue(L, -2);
            lua_insert(L, -2); /* key, key, nick */
            if (set_room(L, rooms))
                fixed++;
            else
                *refused = 1;
        } else {
            lua_pop(L, 2);
        }
    }
    return fixed;
}

/* Protected, t:resync()'s: (tracker, nil, full_sessions) -> the number of
 * rooms_joined entries written or removed, for every session the core
 * holds whose JID names a table in full_sessions. Once every session is
 * done, the resync stays due only if a write was refused (another
 * module's table, out of memory): the next one tries again. */
int sync_rooms(lua_State *L)
{
    struct tracker *u = lua_touserdata(L, 1);
    size_t cursor = 0, rcursor;
    int refused = 0;
    lua_Integer fixed = 0;
    mj_session *s;
    mj_room_info ri;

    lua_settop(L, 3);
    while ((s = mj_tracker_next_session(u->tr, &cursor)) != NULL) {
        mj_str jid = mj_session_jid(s);

        lua_settop(L, 3);
        if (jid.ptr == NULL)
            continue;
        lua_pushlstring(L, jid.ptr, jid.len);
        if (lua_rawget(L, 3) != LUA_TTABLE) /* 4 */
            continue;
        lua_newtable(L); /* 5: what the core shows */
        rcursor = 0;
        while (mj_session_next_room(s, &rcursor, &ri)) {
            if (ri.room.ptr == NULL || ri.nick.ptr == NULL)
                continue; /* not shown */
            lua_pushlstring(L, ri.room.ptr, ri.room.len);
            lua_pushlstring(L, ri.nick.ptr, ri.nick.len);
            lua_rawset(L, 5);
        }
        fixed += sync_session(L, 4, 5, &refused);
    }
    u->resync = refused;
    lua_settop(L, 3);
    lua_pushinteger(L, fixed);
    return 1;
}

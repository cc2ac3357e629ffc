/*
 * mj_methods.c - the Lua binding's tracker methods other than feeding
 * (see mucjoins_lua.h): message class and importance, self-ping answers,
 * lost links, close and tick, the queries (rooms, nick, stats, counts,
 * sessions) and restore.
 */
#include "mucjoins_lua.h"

/* Arguments (tracker, jid, stanza, ...): read the extra arguments before
 * calling. Converts the stanza and finds the session; 0 when the stanza is
 * not one the core reads or the session is unknown. */
static int session_and_stanza(lua_State *L, struct tracker *u, mj_session **sp,
                              mj_stanza *st)
{
    luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checkstack(L, CONV_STACK + 8, "mucjoins");
    if (convert(L, 3, CONV_FULL, st, 8, NULL) <= 0)
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
int l_message(lua_State *L)
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

/* The core's verdict for the session s, or (NULL) for the JID it holds
 * no session for (mj_tracker_importance()). */
static int importance_of(struct tracker *u, mj_session *s, const char *jid,
                         size_t len, const mj_stanza *st, int hold)
{
    return s != NULL ? mj_session_importance(s, st, hold)
                     : mj_tracker_importance(u->tr, jid, len, st, hold);
}

/* t:importance(jid, stanza, hold[, listed]) -> true | false | nil
 * hold: true (CSI: MJ_HOLD_CHATTER), "groupchat" (push of mentions only:
 * MJ_HOLD_GROUPCHAT), or false; listed: the stanza carries a payload the
 * server's configuration lists as important (mj_stanza.has_wake_hint) */
int l_importance(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    const char *mode = lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : "";
    int hold = strcmp(mode, "groupchat") == 0 ? MJ_HOLD_GROUPCHAT
               : lua_toboolean(L, 4)          ? MJ_HOLD_CHATTER
                                              : 0;
    int listed = lua_toboolean(L, 5);
    mj_session *s;
    mj_stanza st;
    int imp = -1;

    luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checkstack(L, CONV_STACK + 8, "mucjoins");
    if (convert(L, 3, CONV_FULL, &st, 8, NULL) > 0) {
        col_reset(&u->col);
        size_t len;
        const char *jid = lua_tolstring(L, 2, &len);
        /* a JID the tracker holds no session for: the core says (a full
         * JID is in no room, a bare one gets no opinion) */
        int rc = session_of(L, u, &s);

        if (rc == MJ_OK || rc == MJ_ENOTFOUND) {
            st.has_wake_hint = listed;
            imp =
                importance_of(u, rc == MJ_OK ? s : NULL, jid, len, &st, hold);
            /* the children only when they can change the answer (a held
             * message: mj_stanza.has_wake_hint) */
            if (imp == 0) {
                read_wake_hint(L, 3, &st);
                if (st.has_wake_hint)
                    imp = importance_of(u, rc == MJ_OK ? s : NULL, jid, len,
                                        &st, hold);
            }
        }
    }
    col_reset(&u->col);
    if (imp < 0)
        lua_pushnil(L);
    else
        lua_pushboolean(L, imp);
    return 1;
}

/* t:is_forwarded_ping(jid, stanza) -> boolean */
int l_is_forwarded_ping(lua_State *L)
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
int l_ping_answer(lua_State *L)
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
int l_ping_answer_info(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    lua_Integer id = luaL_checkinteger(L, 4);
    int has_info = lua_type(L, 5) == LUA_TTABLE;
    int opt = has_info ? lists_self_ping_opt(L, 5) : 0;
    mj_session *s;
    mj_stanza st, info;
    mj_ping_verdict v = MJ_PING_STALE;

    /* the info's anchors and the answer's, reserved before the session is
     * found (growing the stack may run the collector) */
    luaL_checkstack(L, 2 * CONV_STACK + 12, "mucjoins");
    /* The info is read before the session is found: reading it may run
     * the collector (texts are joined), and a finalizer may close the
     * session; nothing between finding it and the core's call may. */
    if (has_info && convert(L, 5, CONV_FULL, &info, 0, NULL) <= 0)
        has_info = 0;
    if (id <= 0 || id > (lua_Integer)UINT32_MAX ||
        !session_and_stanza(L, u, &s, &st)) {
        col_reset(&u->col);
        push_verdict(L, v);
        lua_pushnil(L);
        return 2;
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
int l_ping_needs_features(lua_State *L)
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
static int link_event(lua_State *L,
                      int (*fn)(mj_tracker *, const char *, size_t))
{
    struct tracker *u = check_tracker(L);
    size_t len;
    const char *d = luaL_checklstring(L, 2, &len);
    int rc;

    col_reset(&u->col);
    rc = fn(u->tr, d, len);
    col_reset(&u->col);
    if (rc != MJ_OK) {
        lua_pushnil(L);
        lua_pushstring(L, mj_strerror(rc));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

int l_link_lost(lua_State *L)
{
    return link_event(L, mj_tracker_link_lost);
}

/* t:link_up(domain) -> true, events | nil, message: events holds the
 * leave-needed records of the leaves owed to rooms on the domain (nil:
 * none), which the caller sends */
int l_link_up(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    size_t len;
    const char *d = luaL_checklstring(L, 2, &len);
    int rc;

    luaL_checkstack(L, 6, "mucjoins"); /* for build, before any change */
    col_reset(&u->col);
    rc = mj_tracker_link_up(u->tr, d, len);
    if (rc != MJ_OK) {
        col_reset(&u->col);
        lua_pushnil(L);
        lua_pushstring(L, mj_strerror(rc));
        return 2;
    }
    lua_pushboolean(L, 1);
    build(L, u, NULL, NULL, 0);
    return 2;
}

/* t:close(jid) -> events */
int l_close(lua_State *L)
{
    struct tracker *u = check_tracker(L);
    size_t jlen;
    const char *jid = luaL_checklstring(L, 2, &jlen);
    mj_session *s;

    /* for build, before s is found: nothing between finding s and
     * closing it may run the collector unguarded */
    if (!reserve_stack(L, u, 12))
        return luaL_error(L, "mucjoins: stack overflow");
    col_reset(&u->col);
    if (mj_session_find(u->tr, jid, jlen, &s) != MJ_OK) {
        col_reset(&u->col);
        lua_pushnil(L);
        return 1;
    }
    cache_forget(u, s);
    mj_session_close(s);
    build(L, u, NULL, NULL, 2);
    return 1;
}

/* t:tick() -> events */
int l_tick(lua_State *L)
{
    struct tracker *u = check_tracker(L);

    luaL_checkstack(L, 4, "mucjoins"); /* for build, before any change */
    col_reset(&u->col);
    mj_tracker_tick(u->tr);
    session_watch_epoch(u);
    build(L, u, NULL, NULL, 2);
    return 1;
}

/* t:send_ready() -> events: the pings that waited for a budget answers
 * freed since the last tick (mj_tracker_send_ready) */
int l_send_ready(lua_State *L)
{
    struct tracker *u = check_tracker(L);

    luaL_checkstack(L, 4, "mucjoins"); /* for build, before any change */
    col_reset(&u->col);
    mj_tracker_send_ready(u->tr);
    build(L, u, NULL, NULL, 2);
    return 1;
}

/* t:rooms(jid) -> { {room=, state=, nick=, pending_nick=, since=}... } */
int l_rooms(lua_State *L)
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
int l_nick(lua_State *L)
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

/* t:stats() -> table of every mj_stats field (bytes: the core's and the
 * binding's session cache's), and dropped_events */
int l_stats(lua_State *L)
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
    lua_pushinteger(L, (lua_Integer)(s.bytes + scache_bytes(u)));
    lua_setfield(L, -2, "bytes"); /* the core's and the session cache's */
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
    STAT(leaves_owed);
    STAT(leaves_resent);
    STAT(leaves_waiting);
    STAT(leaves_answerable);
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
int l_counts(lua_State *L)
{
    struct tracker *u = check_tracker(L);

    col_reset(&u->col);
    build(L, u, build_counts, NULL, 0);
    return 1;
}

/* t:sessions() -> { full_jid... } */
int l_sessions(lua_State *L)
{
    struct tracker *u = check_tracker(L);

    col_reset(&u->col);
    build(L, u, build_sessions, NULL, 0);
    return 1;
}

/* t:restore(jid, room, state, nick, pending_nick, since) -> true | nil, err
 */
int l_restore(lua_State *L)
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

/* t:resync(full_sessions[, force]) -> n: after records that write
 * rooms_joined were lost (out of memory), or when force is true (the
 * module's own write failed), each held session's rooms_joined made to
 * show what the core shows (sync_rooms()); 0 when neither. Raises when
 * out of memory, and stays due then and when a write was refused. */
int l_resync(lua_State *L)
{
    struct tracker *u = check_tracker(L);

    luaL_checktype(L, 2, LUA_TTABLE);
    if (!u->resync && !lua_toboolean(L, 3)) {
        lua_pushinteger(L, 0);
        return 1;
    }
    lua_settop(L, 2);
    build(L, u, sync_rooms, NULL, 2); /* which says if still due */
    return 1;
}

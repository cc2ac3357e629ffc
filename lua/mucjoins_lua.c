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
 * Given Prosody's session table instead of the JID (session.full_jid is
 * the JID; anything else there: "ignored"), joined / nick-changed / left
 * records of that session are written to session.rooms_joined here, as
 * the module does in Lua (the table created and also set as
 * session.joined_rooms when it is not one), and marked applied=true;
 * events are then returned only when want is true or a record needs the
 * module (log, ping-needed, a ghost's left, records lost), else the
 * outcome alone. t:counts() gives every event reported since the tracker
 * was made: { joined=, mention=, left={ [reason]=n },
 * ["join-failed"]={ [reason]=n } } (the module's metrics).
 * events: nil, or an array of { type=, jid=, room=, nick=, old_nick=,
 * reason=, condition=, text=, alt_venue=, from_nick=, applied= } (type is
 * mj_event_name(); absent strings nil) and of
 * { type="log", level=, msg= } in the order the core produced them. A
 * record that could not be stored for lack of memory is counted in
 * stats().dropped_events and reported by an "error" log record.
 *
 * The stanza view: name -> kind (anything else: "ignored", core not
 * called); attr.type/from/to/id; <x/> in the muc namespace; the first
 * muc#user <x/> with its <status/> codes (the first MJ_MAX_STATUS valid
 * ones), first <item/> nick and <destroy/> (jid, <reason/> text); the
 * <error/> of a type='error' stanza; the first <body/>'s text, <subject/>,
 * the from of <delay xmlns='urn:xmpp:delay'/> and <x xmlns='jabber:x:delay'/>
 * (first MJ_MAX_DELAY), the uri of <reference type='mention'/> (first
 * MJ_MAX_REFS). <error/>, <body/> and <subject/> count in no namespace or
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
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The core is linked into this module, compiled with -DMJ_STATIC (see
 * the Makefile): none of its symbols is exported, only luaopen_mucjoins. */
#include "mucjoins.h"

#include <lua.h>
#include <lauxlib.h>

#define MT_NAME "mucjoins.tracker"

#define NS_MUC      "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_STANZAS  "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DELAY    "urn:xmpp:delay"
#define NS_XDELAY   "jabber:x:delay"
#define NS_REF      "urn:xmpp:reference:0"
#define NS_PING     "urn:xmpp:ping"

/* ---------------------------------------------------------------------- */
/* Collecting events and log lines while the core runs (no Lua API here)  */

enum {
    REC_LOG = 0 /* otherwise an mj_event_type */
};

/* String slots of a record. A log line uses slot 0 for its message. */
enum {
    F_JID,
    F_ROOM,
    F_NICK,
    F_OLD_NICK,
    F_CONDITION,
    F_TEXT,
    F_ALT_VENUE,
    F_FROM_NICK,
    NFIELDS
};

#define ABSENT SIZE_MAX

struct rec {
    int kind;            /* REC_LOG or an mj_event_type */
    int level;           /* mj_log_level of a log line */
    int reason;          /* mj_reason of an event */
    uint32_t ping_id;    /* MJ_EV_PING_NEEDED */
    int applied;         /* written to session.rooms_joined by the binding */
    size_t off[NFIELDS]; /* into collect.buf; ABSENT: no string */
    size_t len[NFIELDS];
};

struct collect {
    lua_Alloc alloc;
    void *alloc_ud;
    struct rec *recs;
    size_t nrec, caprec;
    char *buf;
    size_t nbuf, capbuf;
    size_t dropped; /* records lost to allocation failure, this call */
    /* Events counted as they are reported (t:counts()): the module's
     * metrics, without an event table per event. Index: the reason. */
    uint64_t n_joined, n_mention;
    uint64_t n_left[MJ_R_TIMEOUT + 1], n_failed[MJ_R_TIMEOUT + 1];
};

/* Capacities kept between calls; a burst above them is given back. */
#define KEEP_RECS  256
#define KEEP_BYTES 65536

static int col_reserve_recs(struct collect *c, size_t need)
{
    size_t ncap = c->caprec ? c->caprec : 16;
    struct rec *p;

    if (need <= c->caprec)
        return 1;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sizeof *p)
            return 0;
        ncap *= 2;
    }
    p = c->alloc(c->alloc_ud, c->recs, c->caprec * sizeof *p,
                 ncap * sizeof *p);
    if (p == NULL)
        return 0;
    c->recs = p;
    c->caprec = ncap;
    return 1;
}

static int col_reserve_bytes(struct collect *c, size_t need)
{
    size_t ncap = c->capbuf ? c->capbuf : 256;
    char *p;

    if (need <= c->capbuf)
        return 1;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return 0;
        ncap *= 2;
    }
    p = c->alloc(c->alloc_ud, c->buf, c->capbuf, ncap);
    if (p == NULL)
        return 0;
    c->buf = p;
    c->capbuf = ncap;
    return 1;
}

/* Append one record with copies of its n strings; on allocation failure
 * the record is dropped whole and counted. */
static void col_push(struct collect *c, int kind, int level, int reason,
                     const mj_str *s, size_t n)
{
    size_t total = 0, i;
    struct rec *r;

    for (i = 0; i < n; i++) {
        if (s[i].ptr == NULL)
            continue;
        if (s[i].len > SIZE_MAX - c->nbuf - total) {
            c->dropped++;
            return;
        }
        total += s[i].len;
    }
    if (c->nrec == SIZE_MAX || !col_reserve_recs(c, c->nrec + 1) ||
        !col_reserve_bytes(c, c->nbuf + total)) {
        c->dropped++;
        return;
    }
    r = &c->recs[c->nrec++];
    r->kind = kind;
    r->level = level;
    r->reason = reason;
    r->ping_id = 0;
    r->applied = 0;
    for (i = 0; i < NFIELDS; i++) {
        if (i >= n || s[i].ptr == NULL) {
            r->off[i] = ABSENT;
            r->len[i] = 0;
            continue;
        }
        if (s[i].len > 0)
            memcpy(c->buf + c->nbuf, s[i].ptr, s[i].len);
        r->off[i] = c->nbuf;
        r->len[i] = s[i].len;
        c->nbuf += s[i].len;
    }
}

static void col_free(struct collect *c)
{
    if (c->recs != NULL)
        c->alloc(c->alloc_ud, c->recs, c->caprec * sizeof *c->recs, 0);
    if (c->buf != NULL)
        c->alloc(c->alloc_ud, c->buf, c->capbuf, 0);
    c->recs = NULL;
    c->buf = NULL;
    c->caprec = c->capbuf = 0;
    c->nrec = c->nbuf = 0;
    c->dropped = 0;
}

static void col_reset(struct collect *c)
{
    if (c->caprec > KEEP_RECS || c->capbuf > KEEP_BYTES)
        col_free(c);
    c->nrec = c->nbuf = 0;
    c->dropped = 0;
}

/* mj_config.on_event */
static void on_event(void *ud, const mj_event *ev)
{
    mj_str s[NFIELDS];

    s[F_JID] = ev->session_jid;
    s[F_ROOM] = ev->room;
    s[F_NICK] = ev->nick;
    s[F_OLD_NICK] = ev->old_nick;
    s[F_CONDITION] = ev->condition;
    s[F_TEXT] = ev->text;
    s[F_ALT_VENUE] = ev->alt_venue;
    s[F_FROM_NICK] = ev->from_nick;
    col_push(ud, (int)ev->type, 0, (int)ev->reason, s, NFIELDS);
    {
        struct collect *c = ud;
        size_t why =
            (size_t)ev->reason <= MJ_R_TIMEOUT ? (size_t)ev->reason : 0;

        if (ev->type == MJ_EV_JOINED)
            c->n_joined++;
        else if (ev->type == MJ_EV_MENTION)
            c->n_mention++;
        else if (ev->type == MJ_EV_LEFT)
            c->n_left[why]++;
        else if (ev->type == MJ_EV_JOIN_FAILED)
            c->n_failed[why]++;
        if (c->nrec > 0 && c->recs[c->nrec - 1].kind == (int)ev->type)
            c->recs[c->nrec - 1].ping_id = ev->ping_id;
    }
}

/* mj_config.log */
static void on_log(void *ud, mj_log_level level, const char *msg)
{
    mj_str s;

    s.ptr = msg != NULL ? msg : "";
    s.len = strlen(s.ptr);
    col_push(ud, REC_LOG, (int)level, 0, &s, 1);
}

/* ---------------------------------------------------------------------- */
/* Upvalues shared by every method                                         */
/*
 * The methods are closures over the metatable and over strings made once
 * (luaopen_mucjoins), so the hot paths push a table key, an outcome or an
 * error message with lua_pushvalue: no hashing, no allocation, and so no
 * memory error and no collector step.
 */

#define NOUTCOMES (MJ_O_AMBIGUOUS + 1)
#define NERRORS   (-MJ_ENOTFOUND) /* MJ_ENOMEM (-1) .. MJ_ENOTFOUND */
#define NEVENTS   MJ_EV_MENTION   /* MJ_EV_JOINED (1) .. */
#define NREASONS  MJ_R_TIMEOUT    /* MJ_R_TECHNICAL (1) .. */
#define NLEVELS   (MJ_LOG_ERROR + 1)

enum {
    UV_MT = 1,
    /* table keys, as in uv_keys[] */
    UV_NAME,
    UV_ATTR,
    UV_TAGS,
    UV_XMLNS,
    UV_TYPE,
    UV_FROM,
    UV_TO,
    UV_ID,
    UV_CODE,
    UV_NICK,
    UV_JID,
    UV_URI,
    UV_BY,
    UV_ROOM,
    UV_OLD_NICK,
    UV_REASON,
    UV_CONDITION,
    UV_TEXT,
    UV_ALT_VENUE,
    UV_FROM_NICK,
    UV_PING_ID,
    UV_LEVEL,
    UV_MSG,
    UV_LOG, /* "log", the type of log records */
    UV_FULL_JID,
    UV_ROOMS_JOINED,
    UV_JOINED_ROOMS,
    UV_APPLIED,
    /* names */
    UV_OUTCOME,                          /* NOUTCOMES: mj_outcome_name() */
    UV_ERROR = UV_OUTCOME + NOUTCOMES,   /* NERRORS: mj_strerror(-1..) */
    UV_EVENT = UV_ERROR + NERRORS,       /* NEVENTS: mj_event_name(1..) */
    UV_REASON_NAME = UV_EVENT + NEVENTS, /* NREASONS: mj_reason_name(1..) */
    UV_LEVEL_NAME = UV_REASON_NAME + NREASONS, /* NLEVELS */
    UV_BUILD = UV_LEVEL_NAME + NLEVELS, /* build_events (nil in itself) */
    UV_APPLY,                           /* apply_events (nil in itself) */
    NUPVALUES = UV_APPLY
};

static const char *const uv_keys[] = {
    "name",      "attr",         "tags",         "xmlns",  "type",      "from",
    "to",        "id",           "code",         "nick",   "jid",       "uri",
    "by",        "room",         "old_nick",     "reason", "condition", "text",
    "alt_venue", "from_nick",    "ping_id",      "level",  "msg",       "log",
    "full_jid",  "rooms_joined", "joined_rooms", "applied"};
_Static_assert(sizeof uv_keys / sizeof uv_keys[0] == UV_APPLIED - UV_NAME + 1,
               "one string per UV_ key");

/* Push upvalue first + i if 0 <= i < n, else the string s. */
static void push_name(lua_State *L, int first, int n, int i, const char *s)
{
    if (i >= 0 && i < n)
        lua_pushvalue(L, lua_upvalueindex(first + i));
    else
        lua_pushstring(L, s);
}

static void push_outcome(lua_State *L, mj_outcome oc)
{
    push_name(L, UV_OUTCOME, NOUTCOMES, (int)oc, mj_outcome_name(oc));
}

static void push_error(lua_State *L, int rc)
{
    push_name(L, UV_ERROR, NERRORS, -rc - 1, mj_strerror(rc));
}

/* ---------------------------------------------------------------------- */
/* The tracker userdata                                                    */

struct tracker {
    const void *magic; /* &tracker_key of this copy (check_tracker) */
    mj_tracker *tr;    /* NULL once freed */
    int busy;          /* results are being built: no re-entry */
    mj_config cfg;     /* as last applied (the core has no getter) */
    struct collect col;
    uint64_t dropped_total;
    mj_session *last; /* the session of the last session_of(), or NULL */
};

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

/* The session of the JID string at index 2: cached, else found (opened
 * when create) and cached. Returns a core error code; never raises. Core
 * log records of the open stay in the collector. The stack is left as it
 * was (needs 5 free slots). */
static int session_of(lua_State *L, struct tracker *u, int create,
                      mj_session **out)
{
    size_t len;
    const char *jid = lua_tolstring(L, 2, &len);
    int top = lua_gettop(L), rc;
    mj_session *s = NULL;
    mj_str sj;

    if (u->last != NULL) { /* presences come in bursts per session */
        sj = mj_session_jid(u->last);
        if (sj.len == len && memcmp(sj.ptr, jid, len) == 0) {
            *out = u->last;
            return MJ_OK;
        }
    }
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, top + 1) == LUA_TLIGHTUSERDATA) {
        *out = u->last = lua_touserdata(L, -1);
        lua_settop(L, top);
        return MJ_OK;
    }
    rc = create ? mj_session_open(u->tr, jid, len, &s)
                : mj_session_find(u->tr, jid, len, &s);
    *out = s;
    if (rc == MJ_OK && lua_type(L, top + 1) == LUA_TTABLE) {
        sj = mj_session_jid(s);
        if (sj.len == len && memcmp(sj.ptr, jid, len) == 0) {
            u->last = s;
            lua_pushcfunction(L, cache_put);
            lua_pushvalue(L, top + 1);
            lua_pushvalue(L, 2);
            lua_pushlightuserdata(L, s);
            /* out of memory: simply not cached */
            protected_call(L, u, 3, 0);
        }
    }
    lua_settop(L, top);
    return rc;
}

/* Before closing s: drop its cache entry. Raises only for lack of memory,
 * before anything changed. jid_idx: the JID the caller gave (its bytes
 * are usually the key's, which then needs no new string). */
static void cache_forget(lua_State *L, struct tracker *u, int jid_idx,
                         const mj_session *s)
{
    mj_str sj = mj_session_jid(s);
    size_t len;
    const char *jid = lua_tolstring(L, jid_idx, &len);
    int cache;

    if (u->last == s)
        u->last = NULL;
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    cache = lua_gettop(L);
    if (jid != NULL && sj.len == len && memcmp(sj.ptr, jid, len) == 0)
        lua_pushvalue(L, jid_idx);
    else
        lua_pushlstring(L, sj.ptr, sj.len);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, cache) != LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_rawset(L, cache); /* an existing key: no allocation */
    } else {
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------------- */
/* Building results (only ever inside build())                            */

static const char *level_name(int level)
{
    switch (level) {
    case MJ_LOG_DEBUG:
        return "debug";
    case MJ_LOG_INFO:
        return "info";
    case MJ_LOG_WARN:
        return "warn";
    default:
        return "error";
    }
}

/* Set t[upvalue key] (t on top) to string slot f of r, if present. The
 * session JID at index jid (0: none) is reused when the bytes are its. */
static void set_rec_str(lua_State *L, const struct collect *c,
                        const struct rec *r, int f, int key, int jid)
{
    const char *p = c->buf + r->off[f], *j;
    size_t jlen = 0;

    if (r->off[f] == ABSENT)
        return;
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

static const int rec_keys[NFIELDS] = {UV_JID,       UV_ROOM,      UV_NICK,
                                      UV_OLD_NICK,  UV_CONDITION, UV_TEXT,
                                      UV_ALT_VENUE, UV_FROM_NICK};

static void push_rec(lua_State *L, const struct collect *c,
                     const struct rec *r, int jid)
{
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
    for (f = 0; f < NFIELDS; f++)
        n += r->off[f] != ABSENT;
    n += (r->reason != MJ_R_NONE) + (r->ping_id != 0) + r->applied;
    /* exactly sized, with room for the two fields the module adds */
    lua_createtable(L, 0, n + 2);
    push_name(L, UV_EVENT, NEVENTS, r->kind - 1,
              mj_event_name((mj_event_type)r->kind));
    set_key(L, UV_TYPE);
    for (f = 0; f < NFIELDS; f++) {
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
static int build_events(lua_State *L)
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

/* Protected, the UV_APPLY closure: (tracker, session table, session JID,
 * want) -> nil or the array of records (build_events). Writes what the
 * core decided about rooms to session.rooms_joined (created, and also
 * set as session.joined_rooms, when it is not a table), exactly as the
 * module did in Lua, and marks those records applied. Returns the array
 * when want is true or a record needs the module (a log line, a self-ping
 * to send, a ghost to tell the client, records lost); else nil, and the
 * records stay for t:last_events(). */
static int apply_events(lua_State *L)
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
        if (r->kind == MJ_EV_LEFT && r->reason == MJ_R_GHOST)
            want = 1;
        if (rooms == 0) {
            if (lua_getfield(L, 2, uv_keys[UV_ROOMS_JOINED - UV_NAME]) !=
                LUA_TTABLE) {
                lua_pop(L, 1);
                lua_createtable(L, 0, 4);
                lua_pushvalue(L, -1);
                lua_setfield(L, 2, uv_keys[UV_ROOMS_JOINED - UV_NAME]);
            }
            rooms = lua_gettop(L);
            lua_getfield(L, 2, uv_keys[UV_JOINED_ROOMS - UV_NAME]);
            if (!lua_rawequal(L, -1, rooms)) {
                lua_pushvalue(L, rooms);
                lua_setfield(L, 2, uv_keys[UV_JOINED_ROOMS - UV_NAME]);
            }
            lua_pop(L, 1);
        }
        lua_pushlstring(L, c->buf + r->off[F_ROOM], r->len[F_ROOM]);
        if (r->kind == MJ_EV_LEFT)
            lua_pushnil(L);
        else
            lua_pushlstring(L, c->buf + r->off[F_NICK], r->len[F_NICK]);
        lua_settable(L, rooms);
        r->applied = 1;
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
static int build_rooms(lua_State *L)
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
static int build_sessions(lua_State *L)
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
/* util.stanza table -> mj_stanza                                          */
/*
 * Only raw accesses (no metamethods), keys pushed from upvalues: nothing
 * here raises or allocates, except joining an element's text when it has
 * several text children, which runs protected. Anything that is not the
 * expected type counts as absent; malformed stanzas never raise. Every
 * string the view points to is copied into an anchor slot on the stack,
 * so it stays alive for the core call whatever a finalizer does to the
 * stanza meanwhile. Only what the core reads for the stanza's kind is
 * read (mj_stanza_needs(): for a presence received, from and the muc#user
 * element, the item's nick only beside a 303; nothing at all of a chat
 * message or an iq fed to outgoing/incoming, which return "ignored"
 * without looking for the session); the other methods read everything
 * but a presence's message fields.
 */

enum {
    A_FROM,
    A_TO,
    A_ID,
    A_ITEM_NICK,
    A_DESTROY_JID,
    A_DESTROY_REASON,
    A_ERROR_TYPE,
    A_ERROR_CONDITION,
    A_ERROR_BY,
    A_BODY,
    A_DELAY_FROM,                                /* MJ_MAX_DELAY slots */
    A_MENTION_URI = A_DELAY_FROM + MJ_MAX_DELAY, /* MJ_MAX_REFS slots */
    NANCHORS = A_MENTION_URI + MJ_MAX_REFS
};

/* Stack slots used by the conversion above the anchors (nesting depth:
 * at most 17, in a <reason/> of a <destroy/> with several text nodes). */
#define CONV_STACK 24

/* convert()'s dir: what the session sends or receives (only what the core
 * reads of it, mj_stanza_needs()), or the whole view. */
enum { CONV_IN = 0, CONV_OUT = 1, CONV_FULL = 2 };

#define LIT_EQ(s, n, lit)                                                     \
    ((s) != NULL && (n) == sizeof(lit) - 1 && memcmp((s), (lit), (n)) == 0)

/* Push t[upvalue k] (raw) and return its type. */
static int rawkey(lua_State *L, int t, int k)
{
    lua_pushvalue(L, lua_upvalueindex(k));
    return lua_rawget(L, t);
}

/* Push t[upvalue k]; its bytes if it is a string, else NULL. The value
 * stays on the stack, which keeps the bytes alive. */
static const char *push_str(lua_State *L, int t, int k, size_t *len)
{
    if (t == 0) {
        lua_pushnil(L);
        return NULL;
    }
    if (rawkey(L, t, k) != LUA_TSTRING)
        return NULL;
    return lua_tolstring(L, -1, len);
}

/* Push el.attr if it is a table (return its index), else push nil and
 * return 0. Either way one slot is pushed. */
static int push_attrs(lua_State *L, int el)
{
    return rawkey(L, el, UV_ATTR) == LUA_TTABLE ? lua_gettop(L) : 0;
}

/* The string attrs[upvalue k] anchored in slot, or absent. */
static void attr_str(lua_State *L, int attrs, int k, int slot, mj_str *out)
{
    out->ptr = NULL;
    out->len = 0;
    if (attrs == 0)
        return;
    if (rawkey(L, attrs, k) == LUA_TSTRING) {
        out->ptr = lua_tolstring(L, -1, &out->len);
        lua_replace(L, slot); /* the same string, now anchored */
    } else {
        lua_pop(L, 1);
    }
}

/* Push el.tags if it is a table and return its index and length; else
 * push nothing and return 0. */
static int push_tags(lua_State *L, int el, lua_Integer *n)
{
    lua_Unsigned len;

    if (rawkey(L, el, UV_TAGS) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    len = lua_rawlen(L, -1);
    *n =
        len > (lua_Unsigned)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)len;
    return lua_gettop(L);
}

/* Protected: (element) -> its string children concatenated. */
static int join_text(lua_State *L)
{
    lua_Unsigned len = lua_rawlen(L, 1);
    lua_Integer i, n;
    luaL_Buffer b;

    n = len > (lua_Unsigned)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)len;
    luaL_buffinit(L, &b);
    for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 1, i) == LUA_TSTRING)
            luaL_addvalue(&b);
        else
            lua_pop(L, 1);
    }
    luaL_pushresult(&b);
    return 1;
}

/* Text of an element: its string children concatenated, anchored. 0 when
 * joining several of them ran out of memory. */
static int text_of(lua_State *L, int el, int slot, mj_str *out)
{
    lua_Unsigned len = lua_rawlen(L, el);
    lua_Integer i, n, count = 0, last = 0;

    n = len > (lua_Unsigned)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)len;
    for (i = 1; i <= n; i++) {
        if (lua_rawgeti(L, el, i) == LUA_TSTRING) {
            count++;
            last = i;
        }
        lua_pop(L, 1);
    }
    if (count == 0) {
        out->ptr = "";
        out->len = 0;
        return 1;
    }
    if (count == 1) {
        lua_rawgeti(L, el, last);
    } else {
        lua_pushcfunction(L, join_text);
        lua_pushvalue(L, el);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            lua_pop(L, 1);
            return 0;
        }
    }
    lua_replace(L, slot);
    out->ptr = lua_tolstring(L, slot, &out->len);
    return 1;
}

/* A child element being looked at: its stack slots and strings. */
struct child {
    int el, attrs; /* attrs: 0 when not a table */
    const char *name, *ns;
    size_t name_len, ns_len;
};

/* Push element i of tags, which must be the stack top, and its name:
 * returns 1 with c->el and c->name set, or 0 with the stack as it was if
 * it is not a table with a string name. */
static int child_at(lua_State *L, int tags, lua_Integer i, struct child *c)
{
    if (lua_rawgeti(L, tags, i) == LUA_TTABLE) {
        c->el = tags + 1;
        c->name = push_str(L, c->el, UV_NAME, &c->name_len);
        if (c->name != NULL)
            return 1;
    }
    lua_settop(L, tags);
    return 0;
}

/* Then, only for a child worth it: push its attrs and xmlns. */
static void child_ns(lua_State *L, struct child *c)
{
    c->attrs = push_attrs(L, c->el);
    c->ns = push_str(L, c->attrs, UV_XMLNS, &c->ns_len);
}

/* Namespace of a child (after child_ns): 0 when attr.xmlns is absent (or
 * not a string), 1 when it equals lit, 2 otherwise. */
#define NS_CLASS(c, lit)                                                      \
    ((c)->ns == NULL ? 0 : LIT_EQ((c)->ns, (c)->ns_len, lit) ? 1 : 2)

/* <destroy/>: jid attribute and the text of its first <reason/>. */
static int scan_destroy(lua_State *L, const struct child *d, int anchor,
                        mj_stanza *st)
{
    lua_Integer i, n = 0;
    int tags, ok = 1;
    struct child c;

    st->has_destroy = 1;
    attr_str(L, d->attrs, UV_JID, anchor + A_DESTROY_JID, &st->destroy_jid);
    tags = push_tags(L, d->el, &n);
    if (tags == 0)
        return 1;
    for (i = 1; i <= n; i++) {
        if (!child_at(L, tags, i, &c))
            continue;
        if (LIT_EQ(c.name, c.name_len, "reason")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_MUC_USER) != 2) {
                ok = text_of(L, c.el, anchor + A_DESTROY_REASON,
                             &st->destroy_reason);
                break;
            }
        }
        lua_settop(L, tags);
    }
    lua_settop(L, tags - 1);
    return ok;
}

/* The first <x xmlns='...muc#user'/>: status codes, first <item/>,
 * <destroy/>. Children in no namespace or the muc#user one count. */
static int scan_muc_user(lua_State *L, int x, int anchor, mj_stanza *st)
{
    lua_Integer i, n = 0;
    int tags, ok = 1;
    size_t k;
    struct child c;

    st->has_muc_user = 1;
    tags = push_tags(L, x, &n);
    if (tags == 0)
        return 1;
    for (i = 1; i <= n && ok; i++) {
        if (!child_at(L, tags, i, &c))
            continue;
        if (LIT_EQ(c.name, c.name_len, "status")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_MUC_USER) != 2) {
                size_t len = 0;
                const char *code = push_str(L, c.attrs, UV_CODE, &len);

                mj_stanza_add_status(st, code, len);
            }
        } else if (!st->has_destroy && LIT_EQ(c.name, c.name_len, "destroy")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_MUC_USER) != 2)
                ok = scan_destroy(L, &c, anchor, st);
        }
        lua_settop(L, tags);
    }
    /* The first <item/>'s nick: the core reads it only beside a 303
     * (mucjoins.h), so the items are looked at only then. */
    for (k = 0; ok && k < st->nstatus && st->status[k] != 303; k++)
        ;
    for (i = 1; ok && k < st->nstatus && i <= n; i++) {
        if (!child_at(L, tags, i, &c))
            continue;
        if (LIT_EQ(c.name, c.name_len, "item")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_MUC_USER) != 2) {
                attr_str(L, c.attrs, UV_NICK, anchor + A_ITEM_NICK,
                         &st->item_nick);
                break;
            }
        }
        lua_settop(L, tags);
    }
    lua_settop(L, tags - 1);
    return ok;
}

/* <error/>: type and by attributes, the defined condition's name. */
static void scan_error(lua_State *L, const struct child *e, int anchor,
                       mj_stanza *st)
{
    lua_Integer i, n = 0;
    int tags;
    struct child c;

    attr_str(L, e->attrs, UV_TYPE, anchor + A_ERROR_TYPE, &st->error_type);
    attr_str(L, e->attrs, UV_BY, anchor + A_ERROR_BY, &st->error_by);
    tags = push_tags(L, e->el, &n);
    if (tags == 0)
        return;
    for (i = 1; i <= n; i++) {
        if (!child_at(L, tags, i, &c))
            continue;
        if (!LIT_EQ(c.name, c.name_len, "text")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_STANZAS) == 1) {
                lua_copy(L, c.el + 1, anchor + A_ERROR_CONDITION);
                st->error_condition.ptr = lua_tolstring(
                    L, anchor + A_ERROR_CONDITION, &st->error_condition.len);
                break;
            }
        }
        lua_settop(L, tags);
    }
    lua_settop(L, tags - 1);
}

/* Whether a child's namespace is the stanza's own (<error/>, <body/>,
 * <subject/>): the library's rule. */
static int content_ns(const struct child *c)
{
    return mj_stanza_content_ns(c->ns, c->ns_len);
}

/* A delay marker's from attribute (markers without one are not listed). */
static void add_delay(lua_State *L, int attrs, int anchor, mj_stanza *st)
{
    mj_str from;

    if (st->ndelay >= MJ_MAX_DELAY)
        return;
    attr_str(L, attrs, UV_FROM, anchor + A_DELAY_FROM + (int)st->ndelay,
             &from);
    if (from.ptr != NULL)
        st->delay_from[st->ndelay++] = from;
}

/* A mention reference's uri. */
static void add_mention(lua_State *L, const struct child *c, int anchor,
                        mj_stanza *st)
{
    size_t n = 0;
    const char *type;
    mj_str uri;

    if (st->nmentions >= MJ_MAX_REFS || NS_CLASS(c, NS_REF) != 1)
        return;
    type = push_str(L, c->attrs, UV_TYPE, &n);
    if (LIT_EQ(type, n, "mention")) {
        attr_str(L, c->attrs, UV_URI,
                 anchor + A_MENTION_URI + (int)st->nmentions, &uri);
        if (uri.ptr != NULL)
            st->mention_uri[st->nmentions++] = uri;
    }
    lua_pop(L, 1);
}

/* The stanza's kind and type into st->kind and st->type (nothing else of
 * st is touched), and what is read of it for dir: CONV_IN / CONV_OUT,
 * what the core reads of a stanza of that kind and type received / sent
 * (mj_stanza_needs()); CONV_FULL, everything (no message parts of a
 * presence). 0: not a presence, message or iq, or nothing is read. The
 * stack is left as it was. */
static unsigned stanza_head(lua_State *L, int stanza, int dir, mj_stanza *st)
{
    int top = lua_gettop(L), attrs;
    size_t len = 0;
    const char *s = push_str(L, stanza, UV_NAME, &len);
    unsigned need = 0;

    if (mj_stanza_set_kind(st, s, len)) {
        attrs = push_attrs(L, stanza);
        s = push_str(L, attrs, UV_TYPE, &len);
        mj_stanza_set_type(st, s, len);
        if (dir == CONV_FULL)
            need = st->kind == MJ_KIND_PRESENCE
                       ? MJ_NEED_ALL & ~MJ_NEED_MESSAGE
                       : MJ_NEED_ALL;
        else
            need = mj_stanza_needs(dir == CONV_OUT, st->kind, st->type);
    }
    lua_settop(L, top);
    return need;
}

/* Fill st from the stanza table at index stanza, reading what need
 * (stanza_head(), not 0) names, in one pass; NANCHORS slots from anchor
 * on hold the strings. Returns 1, or -1 when out of memory. The stack is
 * left as it was. */
static int convert(lua_State *L, int stanza, int anchor, unsigned need,
                   mj_stanza *st)
{
    lua_Integer i, n = 0;
    int top = lua_gettop(L), attrs, tags, ok = 1, seen_error = 0;
    int seen_body = 0, message;
    mj_kind kind = st->kind;
    mj_type type = st->type;
    struct child c;

    mj_stanza_init(st);
    st->kind = kind;
    st->type = type;
    attrs = push_attrs(L, stanza);
    message = (need & MJ_NEED_MESSAGE) != 0;
    if (need & MJ_NEED_FROM)
        attr_str(L, attrs, UV_FROM, anchor + A_FROM, &st->from);
    if (need & MJ_NEED_TO)
        attr_str(L, attrs, UV_TO, anchor + A_TO, &st->to);
    if (need == MJ_NEED_ALL &&
        st->kind == MJ_KIND_IQ) /* no other id is read */
        attr_str(L, attrs, UV_ID, anchor + A_ID, &st->id);
    lua_settop(L, top);

    if ((need & (MJ_NEED_MUC | MJ_NEED_MUC_USER | MJ_NEED_ERROR |
                 MJ_NEED_MESSAGE)) == 0)
        return 1;
    tags = push_tags(L, stanza, &n);
    if (tags == 0)
        return 1;
    for (i = 1; i <= n && ok; i++) {
        if (!child_at(L, tags, i, &c))
            continue;
        if (LIT_EQ(c.name, c.name_len, "x")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_MUC) == 1)
                st->has_muc_x = (need & MJ_NEED_MUC) != 0;
            else if (NS_CLASS(&c, NS_MUC_USER) == 1) {
                if (!st->has_muc_user && (need & MJ_NEED_MUC_USER))
                    ok = scan_muc_user(L, c.el, anchor, st);
            } else if (message && NS_CLASS(&c, NS_XDELAY) == 1)
                add_delay(L, c.attrs, anchor, st);
        } else if (LIT_EQ(c.name, c.name_len, "error")) {
            if (!seen_error && st->type == MJ_T_ERROR &&
                (need & MJ_NEED_ERROR)) {
                child_ns(L, &c);
                if (content_ns(&c)) {
                    seen_error = 1;
                    scan_error(L, &c, anchor, st);
                }
            }
        } else if (!message) {
            /* nothing else is read */
        } else if (LIT_EQ(c.name, c.name_len, "delay")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_DELAY) == 1)
                add_delay(L, c.attrs, anchor, st);
        } else if (LIT_EQ(c.name, c.name_len, "reference")) {
            child_ns(L, &c);
            add_mention(L, &c, anchor, st);
        } else if (LIT_EQ(c.name, c.name_len, "body")) {
            if (!seen_body) {
                child_ns(L, &c);
                if (content_ns(&c)) {
                    seen_body = 1;
                    ok = text_of(L, c.el, anchor + A_BODY, &st->body);
                }
            }
        } else if (LIT_EQ(c.name, c.name_len, "subject")) {
            child_ns(L, &c);
            if (content_ns(&c))
                st->has_subject = 1;
        } else if (LIT_EQ(c.name, c.name_len, "ping")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_PING) == 1)
                st->has_ping = 1;
        }
        lua_settop(L, tags);
    }
    lua_settop(L, top);
    return ok ? 1 : -1;
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

static void read_config(lua_State *L, int arg, mj_config *cfg)
{
    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    opt_size(L, arg, "max_rooms", &cfg->max_rooms);
    opt_size(L, arg, "max_pending", &cfg->max_pending);

    opt_size(L, arg, "ping_budget", &cfg->ping_budget);
    {
        size_t retries = cfg->ping_retries;
        opt_size(L, arg, "ping_retries", &retries);
        cfg->ping_retries = retries > 1000 ? 1000 : (unsigned)retries;
    }
    opt_number(L, arg, "pending_timeout", &cfg->pending_timeout);
    opt_number(L, arg, "ping_start_delay", &cfg->ping_start_delay);
    opt_number(L, arg, "ping_timeout", &cfg->ping_timeout);
    opt_number(L, arg, "ping_backoff", &cfg->ping_backoff);
    opt_bool(L, arg, "legacy_joins", &cfg->legacy_joins);
    opt_bool(L, arg, "self_ping", &cfg->self_ping);
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

    rc = session_of(L, u, outgoing, &s);
    /* No Lua API call from here until the core has returned. */
    if (rc == MJ_OK)
        rc = outgoing ? mj_session_outgoing(s, &st, &oc)
                      : mj_session_incoming(s, &st, &oc);
    else if (!outgoing) {
        col_reset(&u->col);
        push_outcome(L, MJ_O_IGNORED); /* no such session */
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
    if (session_of(L, u, 0, sp) != MJ_OK) {
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
        lua_pushstring(L, mj_ping_verdict_name(v));
        lua_pushnil(L);
        return 2;
    }
    mj_session_ping_answer(s, (uint32_t)id, &st, optimized, &v);
    lua_settop(L, 5);
    lua_pushstring(L, mj_ping_verdict_name(v));
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

    col_reset(&u->col);
    if (mj_session_find(u->tr, jid, jlen, &s) != MJ_OK) {
        col_reset(&u->col);
        lua_pushnil(L);
        return 1;
    }
    cache_forget(L, u, 2, s);
    mj_session_close(s);
    build(L, u, NULL, NULL, 2);
    return 1;
}

/* t:tick() -> events */
static int l_tick(lua_State *L)
{
    struct tracker *u = check_tracker(L);

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

static const luaL_Reg module_functions[] = {
    {"new", l_new}, {"reads", l_reads}, {NULL, NULL}};

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

/*
 * mucjoins_lua.h - what the parts of the Lua binding share (private: the
 * binding is one shared object, mucjoins.so, built from the lua/ C files; only
 * luaopen_mucjoins is exported). The parts, along their seams:
 *
 *   mucjoins_lua.c  the tracker userdata, configuration, mj.new,
 *                   t:configure, feeding (t:outgoing / t:incoming, the
 *                   hot path), the method tables, luaopen_mucjoins
 *   mj_sessions.c   the session handle cache (by the JID's bytes)
 *   mj_methods.c    the other methods: message class and importance,
 *                   self-ping answers, lost links, close, tick, the
 *                   queries and restore
 *   mj_collect.c    collecting events and log lines while the core runs
 *                   (no Lua API there)
 *   mj_read.c       util.stanza tables -> the core's mj_stanza view
 *   mj_results.c    turning what the core reported into Lua values
 */
#ifndef MUCJOINS_LUA_H
#define MUCJOINS_LUA_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The core is linked into this module, compiled with -DMJ_STATIC (see
 * the Makefile): none of its symbols is exported, only luaopen_mucjoins. */
#include "mucjoins.h"

#include <lua.h>
#include <lauxlib.h>

#ifndef MJ_HOT
/* A function on the path of every stanza: gcc and clang put these
 * together (.text.hot), so that the path takes fewer instruction cache
 * lines. */
#if defined(__GNUC__)
#define MJ_HOT __attribute__((hot))
#else
#define MJ_HOT
#endif
#endif

/* The interface between the module's Lua files and this binding: one
 * number, raised whenever a change to one needs the other's (a function
 * added, removed, or called or answering otherwise). The module refuses a
 * mucjoins.so whose number is not the one its Lua files were written for
 * (an old library that a reload kept in memory, a folder mixing builds),
 * before anything is hooked. A mucjoins.so without the field predates it. */
#define MJ_LUA_INTERFACE 1

#define NS_MUC      "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_STANZAS  "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DELAY    "urn:xmpp:delay"
#define NS_XDELAY   "jabber:x:delay"
#define NS_REF      "urn:xmpp:reference:0"
#define NS_PING     "urn:xmpp:ping"
#define NS_HINTS    "urn:xmpp:hints"
#define NS_EME      "urn:xmpp:eme:0"
#define NS_MARKERS  "urn:xmpp:chat-markers:0"
#define NS_DISCO    "http://jabber.org/protocol/disco#info"
#define NS_SELF_PING_OPT                                                      \
    "http://jabber.org/protocol/muc#self-ping-optimization"

/* ---------------------------------------------------------------------- */
/* Collecting events and log lines while the core runs (mj_collect.c)     */

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
    F_ROOM_NICK, /* a left's room_nick when not its nick: the notice's */
    F_ID,        /* a leave-needed's id */
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

void col_free(struct collect *c);
void col_reset(struct collect *c);
/* mj_config.on_event and mj_config.log; ud is the struct collect */
void on_event(void *ud, const mj_event *ev);
void on_log(void *ud, mj_log_level level, const char *msg);

/* ---------------------------------------------------------------------- */
/* Upvalues shared by every method (mucjoins_lua.c)                        */

/* The counts come from the enum lists in mucjoins.h; the asserts hold
 * the index arithmetic of push_name() (value - first) to those lists. */
#define NOUTCOMES MJ_O_COUNT
#define NERRORS   (MJ_E_COUNT - 1) /* MJ_ENOMEM (-1) .. */
#define NEVENTS   MJ_EV_COUNT      /* MJ_EV_JOINED (1) .. */
#define NREASONS  (MJ_R_COUNT - 1) /* MJ_R_TECHNICAL (1) .. */
#define NLEVELS   MJ_LOG_COUNT
#define NVERDICTS MJ_PING_COUNT
_Static_assert(MJ_O_IGNORED == 0 && MJ_ENOMEM == -1 && MJ_EV_JOINED == 1 &&
                   MJ_R_TECHNICAL == 1 && MJ_LOG_DEBUG == 0 &&
                   MJ_PING_STALE == 0,
               "the first value of each name range");

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
    UV_VAR,
    UV_STANZA,
    UV_ORIGIN,
    UV_HOST,
    UV_DESTROYED,
    UV_C2S,      /* "c2s", a session type */
    UV_INCOMING, /* "incoming" and "outgoing", the hooks' method names */
    UV_OUTGOING,
    UV_PRESENCE, /* a session's last broadcast presence (mod_presence) */
    /* names */
    UV_OUTCOME,                          /* NOUTCOMES: mj_outcome_name() */
    UV_ERROR = UV_OUTCOME + NOUTCOMES,   /* NERRORS: mj_strerror(-1..) */
    UV_EVENT = UV_ERROR + NERRORS,       /* NEVENTS: mj_event_name(1..) */
    UV_REASON_NAME = UV_EVENT + NEVENTS, /* NREASONS: mj_reason_name(1..) */
    UV_LEVEL_NAME = UV_REASON_NAME + NREASONS, /* NLEVELS */
    UV_VERDICT = UV_LEVEL_NAME + NLEVELS,      /* NVERDICTS */
    UV_BUILD = UV_VERDICT + NVERDICTS, /* build_events (nil in itself) */
    UV_APPLY,                          /* apply_events (nil in itself) */
    NUPVALUES = UV_APPLY,
    UV_SELF, /* the tracker, in t:feeders()'s and t:hooks()'s closures */
    /* t:hooks()'s closures only */
    UV_LISTENING,   /* a boolean: want events (someone listens) */
    UV_SESSIONS,    /* prosody.full_sessions */
    UV_MODULE_HOST, /* module.host */
    UV_SEEN,        /* error presences seen by presence/full (weak keys) */
    UV_APPLIED_FN,  /* the module's applied(method, session, stanza, ...) */
    UV_WATCH_FN,    /* the module's watch(session), or nil */
    NHOOK_UPVALUES = UV_WATCH_FN
};

extern const char *const uv_keys[];

/* ---------------------------------------------------------------------- */
/* The tracker userdata (mucjoins_lua.c)                                   */

/* The session handle cache (mj_sessions.c): slot[0..mask], NULL when
 * none yet; used: slots holding a handle. */
struct scslot {
    mj_session *s;  /* NULL: empty */
    uint32_t h;     /* the hash of its JID's bytes */
    uint32_t watch; /* the watch epoch in which the hooks last called the
                       module's watch() for it (session_watch_due()) */
};

struct scache {
    struct scslot *slot;
    size_t mask, used;
    uint64_t seed;
};

struct tracker {
    const void *magic; /* &tracker_key of this copy (check_tracker) */
    mj_tracker *tr;    /* NULL once freed */
    int busy;          /* results are being built: no re-entry */
    mj_config cfg;     /* as last applied (the core has no getter) */
    char option_prefix[MJ_OPTION_PREFIX_MAX + 1]; /* cfg.option_prefix's
                                                     bytes (or unused) */
    struct collect col;
    uint64_t dropped_total;
    int resync;               /* records that write rooms_joined may have
                                 been lost (t:resync() is due) */
    mj_session *last;         /* the session of the last lookup, or NULL */
    struct scslot *last_slot; /* the cache slot holding last when that
                                 lookup found it there, else NULL */
    uint32_t watch;           /* the watch epoch (never 0): t:tick() and
                                 hooks.bind() start a new one */
    uint64_t closes;          /* handles closed so far (cache_forget();
                                 l_gc, which frees them all, counts too) */
    struct scache sc;
    const void *answered; /* the presence (lua_topointer) the incoming hook
                             found last to be "answered", for
                             hooks.own_answers; NULL: none */
};

/* Methods only: the tracker at index 1, checked; misuse raises. */
struct tracker *check_tracker(lua_State *L);
/* Run the function under n arguments protected, the tracker busy. */
int protected_call(lua_State *L, struct tracker *u, int n, int nres);
/* lua_checkstack(L, n) with the tracker marked busy: growing the stack
 * may run the collector, and a finalizer must not reach the tracker in
 * the middle of a method (it could close the session the method holds).
 * 1 on success, 0 if the stack cannot grow; never raises. */
int reserve_stack(lua_State *L, struct tracker *u, int n);
/* Run fn(u, arg, jid) protected (fn NULL: build_events), then empty the
 * record buffer; re-raises an error. */
void build(lua_State *L, struct tracker *u, lua_CFunction fn, void *arg,
           int jid);

/* ---------------------------------------------------------------------- */
/* The session handle cache (mj_sessions.c)                                */

/* None of these raises or calls the Lua API (session_of reads the JID
 * at index 2). session_cached: the cached handle of the JID with exactly
 * these bytes, or NULL. session_remember: cache s, which the core found or
 * opened for these bytes (not cached when they are not its own). */
mj_session *session_cached(struct tracker *u, const char *jid, size_t len);
void session_remember(struct tracker *u, mj_session *s, const char *jid,
                      size_t len);
/* The session of the JID string at index 2: cached, else found and
 * cached. Returns a core error code; core log records of the lookup stay
 * in the collector. */
int session_of(lua_State *L, struct tracker *u, mj_session **out);
/* Before closing s: drop it from the cache. */
void cache_forget(struct tracker *u, const mj_session *s);
/* Whether the hooks should call the module's watch() for s, which must
 * be valid (no Lua API call since the core returned it): 1 the first
 * time in the current watch epoch (which it records) and whenever s is
 * not cached, else 0. */
int session_watch_due(struct tracker *u, const mj_session *s);
/* The watch() that session_watch_due() asked for did not run or raised:
 * the session whose JID is the bytes (p, len), if cached, is due again
 * in this epoch. */
void session_watch_failed(struct tracker *u, const char *p, size_t len);
/* Start a new watch epoch: every session is due again. */
void session_watch_epoch(struct tracker *u);
/* The cache's bytes (t:stats().bytes adds them); freeing it (l_gc). */
size_t scache_bytes(const struct tracker *u);
void scache_free(struct tracker *u);

/* ---------------------------------------------------------------------- */
/* Methods (mj_methods.c)                                                  */

int l_message(lua_State *L);
int l_importance(lua_State *L);
int l_is_forwarded_ping(lua_State *L);
int l_ping_answer(lua_State *L);
int l_ping_answer_info(lua_State *L);
int l_ping_needs_features(lua_State *L);
int l_link_lost(lua_State *L);
int l_link_up(lua_State *L);
int l_close(lua_State *L);
int l_tick(lua_State *L);
int l_send_ready(lua_State *L);
int l_rooms(lua_State *L);
int l_nick(lua_State *L);
int l_stats(lua_State *L);
int l_counts(lua_State *L);
int l_sessions(lua_State *L);
int l_restore(lua_State *L);
int l_resync(lua_State *L);

/* ---------------------------------------------------------------------- */
/* Building results (mj_results.c)                                         */

void push_name(lua_State *L, int first, int n, int i, const char *s);
/* the outcome's name (an upvalue: no allocation) */
static inline void push_outcome(lua_State *L, mj_outcome oc)
{
    if ((unsigned)oc < NOUTCOMES)
        lua_pushvalue(L, lua_upvalueindex(UV_OUTCOME + (int)oc));
    else
        lua_pushstring(L, mj_outcome_name(oc));
}
void push_error(lua_State *L, int rc);
void push_verdict(lua_State *L, mj_ping_verdict v);
const char *level_name(int level);
/* The protected builders, called through try_build() */
int build_events(lua_State *L);
int apply_events(lua_State *L);
int build_rooms(lua_State *L);
int build_sessions(lua_State *L);
int sync_rooms(lua_State *L);

/* ---------------------------------------------------------------------- */
/* util.stanza table -> mj_stanza (mj_read.c)                              */

/* Anchor slots for strings read inside a loop over children, in groups:
 * what MJ_NEED_MUC_USER reads, then MJ_NEED_ERROR, then MJ_NEED_MESSAGE
 * (convert() reserves the groups up to the last one it reads). */
enum {
    A_ITEM_NICK,
    A_DESTROY_JID,
    A_DESTROY_REASON,
    A_ERROR_TYPE,
    A_ERROR_CONDITION,
    A_ERROR_BY,
    A_OWN_NS, /* the stanza's xmlns, read for a child naming one */
    A_BODY,
    A_DELAY_FROM,                                /* MJ_MAX_DELAY slots */
    A_MENTION_URI = A_DELAY_FROM + MJ_MAX_DELAY, /* MJ_MAX_REFS slots */
    NANCHORS = A_MENTION_URI + MJ_MAX_REFS
};

/* Stack slots of a conversion: the head's values (name, attr, type, from,
 * to, id), which the caller guarantees; all of it but what <destroy/>
 * reserves itself (mj_read.c). */
#define CONV_HEAD  6
#define CONV_STACK (CONV_HEAD + NANCHORS + 1 + 6 + 6 + 14)

/* convert()'s dir: what the session sends or receives (only what the core
 * reads of it, mj_stanza_needs()), or the whole view. */
enum { CONV_IN = 0, CONV_OUT = 1, CONV_FULL = 2 };

#define LIT_EQ(s, n, lit)                                                     \
    ((s) != NULL && (n) == sizeof(lit) - 1 && memcmp((s), (lit), (n)) == 0)

/* Push t[upvalue k] (raw) and return its type. */
static inline int rawkey(lua_State *L, int t, int k)
{
    lua_pushvalue(L, lua_upvalueindex(k));
    return lua_rawget(L, t);
}

/* What a caller already read of a stanza, left on the stack: the stack
 * indices of its attr table, attr.type and attr.to (0: not read), and of
 * the session's JID (feed() only); and its kind when the caller knows it
 * (a Prosody hook's event name is made of the stanza's name): then
 * stanza.name is not read. */
struct known {
    int attrs, type, to, jid;
    /* the bytes of attr.type and attr.to where read (type or to not 0):
     * NULL when not a string, as convert() counts them */
    const char *type_s, *to_s;
    size_t type_len, to_len;
    int has_kind;
    mj_kind kind;
    /* the type, as mj_stanza_set_type() reads type_s, when has_type */
    int has_type;
    mj_type st_type;
    /* feed() only (the hooks): the stanza's index (the session's table,
     * or nil, is at feed()'s a; nothing is above it), and want */
    int stanza, want;
    /* the hooks: the handle the cache held for attr.to when the hook
     * looked (lazy), in that tracker, and u->closes then: feed() takes
     * it if no handle was closed since */
    mj_session *cached;
    const struct tracker *cached_in;
    uint64_t closes;
    /* set by feed(): 1 when nothing is to be told (the outcome alone, and
     * no events): it returns 0 and pushes nothing */
    int quiet;
    /* set by feed(): the outcome is MJ_O_ANSWERED (the answer to a leave
     * the module sent again): the incoming hook marks it for
     * hooks.own_answers, which stops it */
    int answered;
    /* feed() only: the session argument is nil, to be read as
     * full_sessions[JID] (the hooks' upvalue) only when the core reports
     * something: the JID is one of a session the cache holds */
    int lazy;
    /* set by feed(): a presence the session sent that the core follows,
     * the first of this session in this watch epoch (or of a session the
     * cache does not hold): the hooks call the module's watch(); and
     * the stack index of the session's JID (a string) */
    int watch, watch_jid;
    /* a presence received: convert() leaves its id unread; feed() reads
     * it (read_id() from attrs) only when the core will
     * (mj_session_needs()) */
    int id_later;
};

int convert(lua_State *L, int stanza, int dir, mj_stanza *st, int extra,
            const struct known *k);
void read_id(lua_State *L, int attrs, mj_stanza *st);
void read_wake_hint(lua_State *L, int idx, mj_stanza *st);
int lists_self_ping_opt(lua_State *L, int idx);

#endif

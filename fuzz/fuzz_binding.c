/* libFuzzer target for the Lua 5.4 binding (lua/mucjoins_lua.c,
 * lua/mj_*.c) with the core under it, through luaopen_mucjoins() as
 * mod_track_muc_joins loads it.
 *
 * The binding reads stanza tables that other Prosody modules may have
 * built. Whatever their shape it must not crash or corrupt memory, and the
 * hot path must not raise: t:outgoing / t:incoming given the tracker, a
 * string or a table and a table (the header of lua/mucjoins_lua.c: "they
 * never raise", lack of memory included), the feeders of t:feeders()
 * (the same functions), and the hooks of t:hooks() ("every path returns
 * nothing and nothing raises", whatever the event). Every other method
 * is called by the module under pcall and may raise. A hook that returns
 * a value stops the stanza (util.events): the tracking hooks never may;
 * only hooks.own_answers, with true, for a presence carrying the id of a
 * leave-needed event the program saw (the answer to a leave the module
 * sent again, which hooks.incoming marked); any other value returned is
 * a finding too. hooks.own_answers runs after hooks.incoming on the same
 * event (as the module hooks it), or alone on any event.
 *
 * The input is a short program (at most MAX_OPS steps): byte 0 is the
 * configuration, then each step is an opcode byte and its argument bytes
 * (see step()). Steps build stanza tables into STANZAS slots from
 * templates (a join, self-presences with status codes 110/210/303/307...,
 * an occupant's presence, a leave, errors, groupchat messages with a
 * body, XEP-0372 references and delays, a destroy, self-ping answers, a
 * disco#info result, a forwarded ping), corrupt them (attr missing or not
 * a table, attribute values of other types, tags with holes, extra
 * entries or not a table, children that are numbers, booleans or tables
 * without a name, cycles, deep nesting, long strings, several text
 * children, metatables whose metamethods raise, return garbage or run
 * the tracker from a finalizer), build session tables (full_jid, with
 * rooms_joined absent, a table, a read-only proxy or a non-table; a
 * session metatable that raises) and feed them to every method the module
 * uses, directly, through t:feeders(), and through t:hooks() (also from a
 * coroutine whose applied() yields, and may be left waiting while later
 * steps run), with allocation failures injected
 * around some calls. Self-ping ids and leave-needed ids are taken from
 * the events returned (a self-presence or presence error may carry a
 * leave-needed's id).
 *
 * Every call runs in lua_pcall. A raise from the hot path (above) is a
 * finding: it is printed and the target aborts, so that libFuzzer keeps
 * the input. The lua_State is closed after each input (LeakSanitizer then
 * sees what the binding leaks), and the allocator checks that every byte
 * is returned.
 *
 * FUZZ_BINDING_TRACE=1 prints each step and the status of each call.
 *
 * clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 \
 *   -fsanitize=fuzzer,address,undefined -Iinclude -Ilua \
 *   -I/usr/include/lua5.4 fuzz/fuzz_binding.c lua/mj_*.c lua/mucjoins_lua.c \
 *   build/fuzz/libmucjoins-fuzz.a -licuuc -llua5.4 -o fuzz_binding
 *                                              (scripts/fuzz.sh does this)
 * ./fuzz_binding fuzz/corpus/binding -max_total_time=60 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int luaopen_mucjoins(lua_State *L);

#define MAX_OPS   64
#define STANZAS   6
#define SESSIONS  4
#define MAX_DEPTH 300
#define MAX_LONG  (1u << 17)
#define MAX_MANY  400

/* ---------------------------------------------------------------------- */
/* Input                                                                   */

struct in {
    const uint8_t *p;
    size_t n, i;
};

static unsigned u8(struct in *in)
{
    return in->i < in->n ? in->p[in->i++] : 0;
}

static unsigned u16(struct in *in)
{
    unsigned a = u8(in);
    return a | u8(in) << 8;
}

static int trace;

/* ---------------------------------------------------------------------- */
/* The allocator: counts bytes, fails on demand                            */

struct heap {
    size_t used;
    long fail_after; /* < 0: never; else allocations left before failing */
};

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct heap *h = ud;
    size_t old = ptr != NULL ? osize : 0;
    void *q;

    if (nsize == 0) {
        free(ptr);
        h->used -= old;
        return NULL;
    }
    if (nsize > old && h->fail_after >= 0) {
        if (h->fail_after == 0)
            return NULL;
        h->fail_after--;
    }
    q = realloc(ptr, nsize);
    if (q != NULL)
        h->used = h->used - old + nsize;
    return q;
}

/* ---------------------------------------------------------------------- */
/* Values the program works with, at fixed stack indexes                   */

enum {
    I_MJ = 1,   /* the module table */
    I_T,        /* the tracker */
    I_T2,       /* a second tracker (hooks.bind) */
    I_METHODS,  /* the tracker's methods */
    I_ST,       /* { [1..STANZAS] = stanza } */
    I_SS,       /* { [1..SESSIONS] = session } */
    I_FULL,     /* full_sessions of the hooks */
    I_SEEN,     /* the hooks' seen table */
    I_HOOKS,    /* t:hooks(...) */
    I_FEED_OUT, /* t:feeders() */
    I_FEED_IN,
    I_MT_ERR, /* metatables */
    I_MT_GARBAGE,
    I_MT_GC,
    I_MT_RO,
    I_TOP = I_MT_RO
};

static const char *const jids[] = {
    "alice@example.com/phone",
    "alice@example.com/laptop",
    "bob@example.net/x",
    "Alice@EXAMPLE.com/phone",
    "example.com",
    "",
    "a@b/",
    "\xc3\x28@example.com/r",
};
static const char *const rooms[] = {
    "room@conference.example.com", "other@muc.example.org",
    "ROOM@Conference.Example.com", "room@conference.example.com/",
    "conference.example.com",      "x@y@z",
};
static const char *const nicks[] = {
    "alice",
    "al",
    "Alice",
    "bob",
    "\xc3\xbc"
    "n\xc3\xaf"
    "code",
    "",
    "a/b",
    " ",
};
static const char *const attr_keys[] = {
    "type", "from",  "to",  "id",       "xmlns", "code",
    "nick", "jid",   "uri", "var",      "by",    "affiliation",
    "role", "begin", "end", "xml:lang", "stamp", "reason",
};
static const char *const names[] = {
    "presence",
    "message",
    "iq",
    "x",
    "status",
    "item",
    "error",
    "body",
    "subject",
    "thread",
    "delay",
    "reference",
    "destroy",
    "reason",
    "query",
    "feature",
    "ping",
    "text",
    "conflict",
    "not-acceptable",
    "item-not-found",
    "service-unavailable",
    "forwarded",
    "no-store",
    "store",
    "encryption",
    "markable",
};
static const char *const spaces[] = {
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/muc#user",
    "urn:ietf:params:xml:ns:xmpp-stanzas",
    "urn:xmpp:delay",
    "jabber:x:delay",
    "urn:xmpp:reference:0",
    "urn:xmpp:ping",
    "http://jabber.org/protocol/disco#info",
    "jabber:client",
    "urn:xmpp:hints",
    "urn:xmpp:eme:0",
    "urn:xmpp:chat-markers:0",
    "http://jabber.org/protocol/muc#self-ping-optimization",
    "jabber:server",
    "",
};
static const char *const codes[] = {
    "110", "210", "303", "307", "100",  "201", "301", "321",  "322",
    "332", "333", "170", "104", "1100", "",    "x",   "110 ", "030",
};
static const char *const types[] = {
    "available", "unavailable", "error",  "groupchat", "chat",
    "normal",    "headline",    "result", "get",       "set",
    "probe",     "subscribe",   "",       "GROUPCHAT",
};
static const char *const conditions[] = {
    "conflict",
    "not-authorized",
    "registration-required",
    "item-not-found",
    "service-unavailable",
    "remote-server-not-found",
    "not-acceptable",
    "forbidden",
    "jid-malformed",
    "not-allowed",
    "remote-server-timeout",
    "gone",
    "feature-not-implemented",
    "bad-request",
};
#define N(a)        (sizeof(a) / sizeof(a)[0])
#define PICK(in, a) ((a)[u8(in) % N(a)])

/* The ids of the leave-needed events seen (harvest()): what the module
 * sends a leave with, whose answer alone hooks.own_answers may stop
 * (return true); LEAVE_IDS at most (past them the check is off) */
#define LEAVE_IDS   64
#define LEAVE_ID_SZ 32
static char leave_ids[LEAVE_IDS][LEAVE_ID_SZ];
static unsigned nleave;

/* The id of a presence received from a room: none, "join-1", or (b & 2,
 * once one was seen) a leave-needed's */
static const char *received_id(unsigned b)
{
    if (!(b & 1))
        return NULL;
    if ((b & 2) && nleave > 0)
        return leave_ids[(b >> 2) % (nleave < LEAVE_IDS ? nleave : LEAVE_IDS)];
    return "join-1";
}

/* ---------------------------------------------------------------------- */
/* Building stanza tables (util.stanza's shape)                            */

/* t[key], raw (a metatable the program set may raise): pushed, its type */
static int rgetf(lua_State *L, int t, const char *key)
{
    t = lua_absindex(L, t);
    lua_pushstring(L, key);
    return lua_rawget(L, t);
}

/* t[key] = the value on top (popped), raw */
static void rsetf(lua_State *L, int t, const char *key)
{
    t = lua_absindex(L, t);
    lua_pushstring(L, key);
    lua_rotate(L, -2, 1);
    lua_rawset(L, t);
}

/* Push { name=name, attr={ xmlns=ns }, tags={} } */
static void new_el(lua_State *L, const char *name, const char *ns)
{
    lua_createtable(L, 2, 3);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_createtable(L, 0, 4);
    if (ns != NULL) {
        lua_pushstring(L, ns);
        lua_setfield(L, -2, "xmlns");
    }
    lua_setfield(L, -2, "attr");
    lua_newtable(L);
    lua_setfield(L, -2, "tags");
}

/* el.attr[key] = value on top (popped); raw */
static void set_attr(lua_State *L, int el, const char *key)
{
    el = lua_absindex(L, el);
    if (rgetf(L, el, "attr") != LUA_TTABLE) {
        lua_pop(L, 2);
        return;
    }
    lua_pushstring(L, key);
    lua_rotate(L, -3, -1); /* attr, key, value */
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static void set_attr_s(lua_State *L, int el, const char *key, const char *v)
{
    el = lua_absindex(L, el);
    lua_pushstring(L, v);
    set_attr(L, el, key);
}

/* Append the child on top (popped) to el's children and tags. */
static void add_child(lua_State *L, int el)
{
    el = lua_absindex(L, el);
    lua_pushvalue(L, -1);
    lua_rawseti(L, el, (lua_Integer)lua_rawlen(L, el) + 1);
    if (rgetf(L, el, "tags") == LUA_TTABLE) {
        lua_rotate(L, -2, 1);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 2);
    }
}

static void add_text(lua_State *L, int el, const char *s)
{
    el = lua_absindex(L, el);
    lua_pushstring(L, s);
    lua_rawseti(L, el, (lua_Integer)lua_rawlen(L, el) + 1);
}

/* A child <name xmlns=ns/> of el, left on top (still to be added). */
static void child(lua_State *L, const char *name, const char *ns)
{
    new_el(L, name, ns);
}

static void room_jid(lua_State *L, struct in *in, int with_nick)
{
    const char *r = PICK(in, rooms);

    if (with_nick)
        lua_pushfstring(L, "%s/%s", r, PICK(in, nicks));
    else
        lua_pushstring(L, r);
}

/* A new element name from the room (with a nick: an occupant) to one of
 * the session JIDs, left on the stack; its index. */
static int from_room(lua_State *L, struct in *in, const char *name,
                     int with_nick)
{
    int el;

    new_el(L, name, NULL);
    el = lua_gettop(L);
    room_jid(L, in, with_nick);
    set_attr(L, el, "from");
    set_attr_s(L, el, "to", PICK(in, jids));
    return el;
}

/* <x xmlns=muc#user> with status codes (bits of a byte) and an item */
static void muc_user(lua_State *L, struct in *in, int el)
{
    unsigned bits = u8(in), i;

    child(L, "x", "http://jabber.org/protocol/muc#user");
    for (i = 0; i < 8; i++) {
        if (bits & (1u << i)) {
            child(L, "status", NULL);
            set_attr_s(L, -1, "code",
                       i < 4 ? codes[i] : codes[u8(in) % N(codes)]);
            add_child(L, -2);
        }
    }
    if (u8(in) & 1) {
        child(L, "item", NULL);
        set_attr_s(L, -1, "affiliation", "member");
        set_attr_s(L, -1, "role", (u8(in) & 1) ? "participant" : "none");
        if (u8(in) & 1)
            set_attr_s(L, -1, "nick", PICK(in, nicks));
        if (u8(in) & 1)
            set_attr_s(L, -1, "jid", PICK(in, jids));
        add_child(L, -2);
    }
    add_child(L, el);
}

static void error_child(lua_State *L, struct in *in, int el)
{
    child(L, "error", NULL);
    set_attr_s(L, -1, "type", (u8(in) & 1) ? "cancel" : "auth");
    child(L, PICK(in, conditions), "urn:ietf:params:xml:ns:xmpp-stanzas");
    add_child(L, -2);
    if (u8(in) & 1) {
        child(L, "text", "urn:ietf:params:xml:ns:xmpp-stanzas");
        add_text(L, -1, "go away");
        add_child(L, -2);
    }
    add_child(L, el);
}

/* Push a stanza built from template k */
static void gen_stanza(lua_State *L, struct in *in)
{
    unsigned k = u8(in) % 15;
    const char *id;
    int el;

    switch (k) {
    case 0: /* a join */
    case 1: /* a leave or a nick change / update */
        new_el(L, "presence", NULL);
        el = lua_gettop(L);
        set_attr_s(L, el, "from", PICK(in, jids));
        room_jid(L, in, 1);
        set_attr(L, el, "to");
        if (k == 1 && (u8(in) & 1))
            set_attr_s(L, el, "type", "unavailable");
        if (k == 0 || (u8(in) & 1)) {
            child(L, "x", "http://jabber.org/protocol/muc");
            if (u8(in) & 1) {
                child(L, "history", NULL);
                set_attr_s(L, -1, "maxstanzas", "0");
                add_child(L, -2);
            }
            add_child(L, el);
        }
        break;
    case 2: /* a self-presence, or an occupant's */
    case 3:
        el = from_room(L, in, "presence", 1);
        if (u8(in) & 1)
            set_attr_s(L, el, "type", "unavailable");
        if ((id = received_id(u8(in))) != NULL)
            set_attr_s(L, el, "id", id);
        muc_user(L, in, el);
        if (k == 3 && (u8(in) & 1)) {
            child(L, "delay", "urn:xmpp:delay");
            room_jid(L, in, 0);
            set_attr(L, -2, "from");
            add_child(L, el);
        }
        break;
    case 4: /* an error presence */
        el = from_room(L, in, "presence", 1);
        set_attr_s(L, el, "type", "error");
        if ((id = received_id(u8(in))) != NULL)
            set_attr_s(L, el, "id", id);
        error_child(L, in, el);
        break;
    case 5: /* a groupchat message received */
    case 6: /* one sent */
        new_el(L, "message", NULL);
        el = lua_gettop(L);
        room_jid(L, in, k == 5);
        set_attr(L, el, k == 5 ? "from" : "to");
        set_attr_s(L, el, k == 5 ? "to" : "from", PICK(in, jids));
        set_attr_s(L, el, "type", (u8(in) & 3) ? "groupchat" : "chat");
        if ((u8(in) & 7) != 7) { /* else a subject change, say */
            child(L, "body", NULL);
            lua_pushfstring(L, "hey %s, look", PICK(in, nicks));
            lua_rawseti(L, -2, 1);
            add_child(L, el);
        }
        if (u8(in) & 1) {
            child(L, "reference", "urn:xmpp:reference:0");
            set_attr_s(L, -1, "type", "mention");
            lua_pushfstring(L, "xmpp:%s/%s", PICK(in, rooms), PICK(in, nicks));
            set_attr(L, -2, "uri");
            set_attr_s(L, -1, "begin", "4");
            add_child(L, el);
        }
        if (u8(in) & 1) {
            child(L, "delay", "urn:xmpp:delay");
            room_jid(L, in, 0);
            set_attr(L, -2, "from");
            add_child(L, el);
        }
        if (u8(in) & 1) {
            child(L, (u8(in) & 1) ? "subject" : "thread", NULL);
            add_text(L, -1, "topic");
            add_child(L, el);
        }
        if (u8(in) & 1) {
            child(L, PICK(in, names), PICK(in, spaces));
            add_child(L, el);
        }
        break;
    case 7: /* a message error */
        el = from_room(L, in, "message", u8(in) & 1);
        set_attr_s(L, el, "type", "error");
        error_child(L, in, el);
        break;
    case 8: /* a self-ping answer (iq result or error) */
        el = from_room(L, in, "iq", 1);
        set_attr_s(L, el, "id", "ping-1");
        if (u8(in) & 1) {
            set_attr_s(L, el, "type", "error");
            error_child(L, in, el);
        } else {
            set_attr_s(L, el, "type", "result");
        }
        break;
    case 9: /* a disco#info result */
        new_el(L, "iq", NULL);
        el = lua_gettop(L);
        room_jid(L, in, 0);
        set_attr(L, el, "from");
        set_attr_s(L, el, "type", (u8(in) & 3) ? "result" : "error");
        child(L, "query", "http://jabber.org/protocol/disco#info");
        for (k = u8(in) % 4; k > 0; k--) {
            child(L, "feature", NULL);
            set_attr_s(L, -1, "var",
                       (u8(in) & 1) ? "http://jabber.org/protocol/"
                                      "muc#self-ping-optimization"
                                    : "http://jabber.org/protocol/muc");
            add_child(L, -2);
        }
        add_child(L, el);
        break;
    case 10: /* a destroy */
        el = from_room(L, in, "presence", 1);
        set_attr_s(L, el, "type", "unavailable");
        child(L, "x", "http://jabber.org/protocol/muc#user");
        child(L, "destroy", NULL);
        room_jid(L, in, 0);
        set_attr(L, -2, "jid");
        child(L, "reason", NULL);
        add_text(L, -1, "closed");
        add_child(L, -2);
        add_child(L, -2);
        child(L, "status", NULL);
        set_attr_s(L, -1, "code", "110");
        add_child(L, -2);
        add_child(L, el);
        break;
    case 11: /* a private message through the room */
        el = from_room(L, in, "message", 1);
        set_attr_s(L, el, "type", "chat");
        child(L, "x", "http://jabber.org/protocol/muc#user");
        add_child(L, el);
        child(L, "body", NULL);
        add_text(L, -1, "psst");
        add_child(L, el);
        break;
    case 12: /* a ping forwarded to the client */
        el = from_room(L, in, "iq", 1);
        set_attr_s(L, el, "type", "get");
        child(L, "ping", "urn:xmpp:ping");
        add_child(L, el);
        break;
    case 13: /* anything */
        new_el(L, PICK(in, names), (u8(in) & 1) ? PICK(in, spaces) : NULL);
        el = lua_gettop(L);
        set_attr_s(L, el, PICK(in, attr_keys), PICK(in, types));
        break;
    default: /* not a table at all */
        switch (u8(in) % 3) {
        case 0:
            lua_pushinteger(L, 42);
            break;
        case 1:
            lua_pushstring(L, "<presence/>");
            break;
        default:
            lua_pushboolean(L, 1);
            break;
        }
        return;
    }
    if (lua_type(L, -1) == LUA_TTABLE && (u8(in) & 3) == 0)
        set_attr_s(L, -1, "type", PICK(in, types));
}

/* Push a value of some type */
static void gen_value(lua_State *L, struct in *in)
{
    switch (u8(in) % 16) {
    case 0:
        lua_pushnil(L);
        break;
    case 1:
        lua_pushboolean(L, u8(in) & 1);
        break;
    case 2:
        lua_pushinteger(L, (lua_Integer)(int8_t)u8(in));
        break;
    case 3:
        lua_pushnumber(L, (u8(in) & 1) ? NAN : 1e308);
        break;
    case 4:
        lua_pushinteger(L, LUA_MAXINTEGER);
        break;
    case 5:
        lua_pushstring(L, PICK(in, jids));
        break;
    case 6:
        lua_pushstring(L, PICK(in, codes));
        break;
    case 7:
        lua_pushstring(L, PICK(in, spaces));
        break;
    case 8:
        lua_newtable(L);
        break;
    case 9: /* a table with a metatable */
        lua_newtable(L);
        lua_pushvalue(L, I_MT_ERR + (int)(u8(in) % 4));
        lua_setmetatable(L, -2);
        break;
    case 10: /* a stanza of another slot (or itself) */
        lua_rawgeti(L, I_ST, 1 + (lua_Integer)(u8(in) % STANZAS));
        break;
    case 11:
        lua_pushlightuserdata(L, (void *)L);
        break;
    case 12:
        lua_pushcfunction(L, luaopen_mucjoins);
        break;
    case 13:
        lua_pushstring(L, PICK(in, names));
        break;
    case 14: /* the tracker itself */
        lua_pushvalue(L, I_T);
        break;
    default:
        lua_pushstring(L, PICK(in, types));
        break;
    }
}

/* Metamethods */
static int mm_raise(lua_State *L)
{
    return luaL_error(L, "metamethod raised");
}

static int mm_garbage(lua_State *L)
{
    lua_newtable(L);
    lua_pushstring(L, "garbage");
    return 2;
}

static int mm_len_garbage(lua_State *L)
{
    lua_pushstring(L, "not a length");
    return 1;
}

static unsigned gc_runs;

/* Empty every stanza of the program and the first level of its
 * children (raw): what the binding reads of a stanza must stay alive
 * whatever a finalizer does to the stanza meanwhile (lua/mj_read.c). */
static void vandalize(lua_State *L)
{
    static const char *const keys[] = {"name", "attr", "tags"};
    lua_Integer i, j;
    size_t k;

    if (lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.st") != LUA_TTABLE)
        return;
    for (i = 1; i <= STANZAS; i++) {
        if (lua_rawgeti(L, -1, i) == LUA_TTABLE) {
            for (j = 1; j <= 4; j++) {
                if (lua_rawgeti(L, -1, j) == LUA_TTABLE) {
                    for (k = 0; k < N(keys); k++) {
                        lua_pushnil(L);
                        rsetf(L, -2, keys[k]);
                    }
                }
                lua_pop(L, 1);
                lua_pushnil(L);
                lua_rawseti(L, -2, j);
            }
            for (k = 0; k < N(keys); k++) {
                lua_pushnil(L);
                rsetf(L, -2, keys[k]);
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* __gc: runs the tracker from a finalizer (the collector may run inside
 * any allocation of the binding), or empties the stanzas. Raises, as a
 * finalizer may. */
static int mm_gc(lua_State *L)
{
    lua_settop(L, 1);
    if (gc_runs % 5 == 4) {
        gc_runs++;
        vandalize(L);
        return 0;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.tracker");
    if (lua_type(L, -1) != LUA_TUSERDATA)
        return 0;
    switch (gc_runs++ % 5) {
    case 0:
        lua_getfield(L, -1, "tick");
        lua_rotate(L, -2, 1);
        lua_call(L, 1, 0);
        break;
    case 1:
        lua_getfield(L, -1, "close");
        lua_rotate(L, -2, 1);
        lua_pushstring(L, jids[0]);
        lua_call(L, 2, 0);
        break;
    case 2:
        lua_getfield(L, -1, "rooms");
        lua_rotate(L, -2, 1);
        lua_pushstring(L, jids[1]);
        lua_call(L, 2, 0);
        break;
    default:
        return luaL_error(L, "finalizer raised");
    }
    return 0;
}

static void make_metatables(lua_State *L)
{
    static const char *const mms[] = {"__index",    "__newindex", "__len",
                                      "__eq",       "__call",     "__concat",
                                      "__tostring", "__lt"};
    size_t i;

    lua_createtable(L, 0, 8); /* I_MT_ERR: every metamethod raises */
    for (i = 0; i < N(mms); i++) {
        lua_pushcfunction(L, mm_raise);
        lua_setfield(L, -2, mms[i]);
    }
    lua_createtable(L, 0, 4); /* I_MT_GARBAGE: garbage answers */
    lua_pushcfunction(L, mm_garbage);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, mm_len_garbage);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, mm_garbage);
    lua_setfield(L, -2, "__eq");
    lua_createtable(L, 0, 2); /* I_MT_GC: a finalizer using the tracker */
    lua_pushcfunction(L, mm_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, mm_raise);
    lua_setfield(L, -2, "__newindex");
    lua_createtable(L, 0, 2); /* I_MT_RO: a read-only proxy */
    lua_newtable(L);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, mm_raise);
    lua_setfield(L, -2, "__newindex");
}

/* The element at a path of child indexes from the stanza on top: pushes
 * it (or the stanza itself); stops at anything not a table. */
static void walk(lua_State *L, struct in *in)
{
    unsigned depth = u8(in) % 4, i;

    for (i = 0; i < depth; i++) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n == 0)
            break;
        if (lua_rawgeti(L, -1, 1 + (lua_Integer)(u8(in) % (unsigned)n)) !=
            LUA_TTABLE) {
            lua_pop(L, 1);
            break;
        }
        lua_remove(L, -2);
    }
}

/* Corrupt the element at a path in stanza slot s */
static void mutate(lua_State *L, struct in *in, int s)
{
    unsigned m, n, i;
    int el;

    if (lua_rawgeti(L, I_ST, s) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    walk(L, in);
    el = lua_gettop(L);
    m = u8(in) % 16;
    switch (m) {
    case 0: /* attr replaced */
        gen_value(L, in);
        rsetf(L, el, "attr");
        break;
    case 1: /* an attribute of another type */
        gen_value(L, in);
        set_attr(L, el, PICK(in, attr_keys));
        break;
    case 2: /* name */
        gen_value(L, in);
        rsetf(L, el, "name");
        break;
    case 3: /* tags replaced */
        gen_value(L, in);
        rsetf(L, el, "tags");
        break;
    case 4: /* a hole in tags, or in the children */
        if (rgetf(L, el, "tags") == LUA_TTABLE) {
            n = (unsigned)lua_rawlen(L, -1);
            lua_pushnil(L);
            lua_rawseti(L, -2, 1 + (lua_Integer)(u8(in) % (n + 1)));
        }
        lua_pushnil(L);
        lua_rawseti(L, el, 1 + (lua_Integer)(u8(in) % 3));
        break;
    case 5: /* an extra entry in tags (a child not in the array part) */
        if (rgetf(L, el, "tags") == LUA_TTABLE) {
            n = (unsigned)lua_rawlen(L, -1);
            if (u8(in) & 1)
                gen_value(L, in);
            else
                gen_stanza(L, in);
            lua_rawseti(L, -2, (lua_Integer)n + 1 + (u8(in) % 3));
            if (u8(in) & 1) { /* a huge border */
                lua_pushboolean(L, 1);
                lua_rawseti(L, -2, LUA_MAXINTEGER);
            }
        }
        break;
    case 6: /* a child that is a number, boolean, table without name */
        gen_value(L, in);
        lua_rawseti(L, el, (lua_Integer)lua_rawlen(L, el) + 1);
        gen_value(L, in);
        if (rgetf(L, el, "tags") == LUA_TTABLE) {
            lua_rotate(L, -2, 1);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        }
        break;
    case 7: /* a metatable on the element, its attr or its tags */
        i = u8(in) % 3;
        if (i == 1)
            rgetf(L, el, "attr");
        else if (i == 2)
            rgetf(L, el, "tags");
        else
            lua_pushvalue(L, el);
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushvalue(L, I_MT_ERR + (int)(u8(in) % 4));
            lua_setmetatable(L, -2);
        }
        break;
    case 8: /* deep nesting */
    {
        const char *ns = PICK(in, spaces);

        n = 1 + u8(in) % MAX_DEPTH;
        child(L, "x", ns);
        for (i = 1; i < n; i++) {
            child(L, (i & 1) ? "destroy" : "x", ns);
            lua_pushvalue(L, -2);
            add_child(L, -2);
            lua_remove(L, -2);
        }
        add_child(L, el);
        break;
    }
    case 9: /* a long string somewhere */
    {
        luaL_Buffer b;
        size_t len = (size_t)u16(in) * 2 % MAX_LONG;
        int c = (int)u8(in);

        luaL_buffinit(L, &b);
        while (len-- > 0)
            luaL_addchar(&b, (char)(c ? c : 'a'));
        luaL_pushresult(&b);
        switch (u8(in) % 3) {
        case 0:
            lua_rawseti(L, el, (lua_Integer)lua_rawlen(L, el) + 1);
            break;
        case 1:
            set_attr(L, el, PICK(in, attr_keys));
            break;
        default:
            rsetf(L, el, "name");
            break;
        }
        break;
    }
    case 10: /* a cycle */
        if (rgetf(L, el, "tags") == LUA_TTABLE) {
            lua_rawgeti(L, I_ST, s);
            lua_rawseti(L, -2, 1 + (lua_Integer)(u8(in) % 2));
        }
        lua_pushvalue(L, el);
        lua_rawseti(L, el, 1);
        break;
    case 11: /* many children */
        n = u16(in) % MAX_MANY;
        {
            const char *name = PICK(in, names);
            const char *ns = PICK(in, spaces);
            const char *key = PICK(in, attr_keys);
            const char *code = PICK(in, codes);
            for (i = 0; i < n; i++) {
                child(L, name, ns);
                set_attr_s(L, -1, key, code);
                if (i % 7 == 3)
                    set_attr_s(L, -1, "type", "mention");
                add_child(L, el);
            }
        }
        break;
    case 12: /* several text children */
        for (n = 1 + u8(in) % 5; n > 0; n--)
            add_text(L, el, PICK(in, nicks));
        break;
    case 13: /* a namespace */
        lua_pushstring(L, PICK(in, spaces));
        set_attr(L, el, "xmlns");
        break;
    case 14: /* a valid child from a template, in tags only or both */
        gen_stanza(L, in);
        if (u8(in) & 1) {
            add_child(L, el);
        } else if (rgetf(L, el, "tags") == LUA_TTABLE) {
            lua_rotate(L, -2, 1);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        }
        break;
    default: /* the array part and tags apart: children swapped */
        if (rgetf(L, el, "tags") == LUA_TTABLE) {
            lua_newtable(L);
            rsetf(L, el, "tags");
            lua_rawseti(L, el, (lua_Integer)lua_rawlen(L, el) + 1);
        }
        break;
    }
    lua_settop(L, el - 1);
}

/* A session table into slot s */
static void gen_session(lua_State *L, struct in *in, int s)
{
    unsigned f = u8(in);
    const char *jid = PICK(in, jids);

    lua_createtable(L, 0, 8);
    if ((f & 7) != 7)
        lua_pushstring(L, jid);
    else
        gen_value(L, in);
    lua_setfield(L, -2, "full_jid");
    lua_pushstring(L, "c2s");
    lua_setfield(L, -2, "type");
    lua_pushstring(L, (f & 8) ? "example.net" : "example.com");
    lua_setfield(L, -2, "host");
    if ((f & 0x40) && (u8(in) & 3) == 0) { /* closed at resource-unbind */
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "destroyed");
    }
    switch ((f >> 4) % 6) {
    case 0:
        break; /* no rooms_joined */
    case 1:
        lua_newtable(L);
        lua_setfield(L, -2, "rooms_joined");
        break;
    case 2: /* a read-only proxy */
        lua_newtable(L);
        lua_pushvalue(L, I_MT_RO);
        lua_setmetatable(L, -2);
        lua_setfield(L, -2, "rooms_joined");
        break;
    case 3: /* a proxy whose metamethods raise or answer garbage */
        lua_newtable(L);
        lua_pushvalue(L, I_MT_ERR + (int)(u8(in) % 3));
        lua_setmetatable(L, -2);
        lua_setfield(L, -2, "rooms_joined");
        break;
    default: /* not a table */
        gen_value(L, in);
        lua_setfield(L, -2, "rooms_joined");
        break;
    }
    if (f & 0x80) { /* the session's own metatable */
        lua_pushvalue(L, I_MT_ERR + (int)(u8(in) % 4));
        lua_setmetatable(L, -2);
    }
    /* full_sessions[jid] = session, for the hooks */
    rgetf(L, -1, "full_jid");
    if (lua_type(L, -1) == LUA_TSTRING && (u8(in) & 3) != 0) {
        lua_pushvalue(L, -2);
        lua_rawset(L, I_FULL);
    } else {
        lua_pop(L, 1);
    }
    lua_rawseti(L, I_SS, s);
}

/* ---------------------------------------------------------------------- */
/* Calls                                                                   */

static struct heap *heap_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

static int nop(lua_State *L)
{
    (void)L;
    return 0;
}

/* t (I_T) was freed by a call of its __gc: a method raises (check
 * failed), the feeders too */
static int t_freed;

/* Ping ids seen in events */
static lua_Integer ping_ids[4];
static unsigned nping;

static void harvest(lua_State *L, int events)
{
    lua_Integer i, n;

    if (lua_type(L, events) != LUA_TTABLE)
        return;
    n = (lua_Integer)lua_rawlen(L, events);
    if (trace)
        fprintf(stderr, "  %lld event(s)\n", (long long)n);
    for (i = 1; i <= n && i <= 64; i++) {
        if (lua_rawgeti(L, events, i) == LUA_TTABLE) {
            size_t len;
            const char *s;

            lua_pushstring(L, "ping_id");
            if (lua_rawget(L, -2) == LUA_TNUMBER && lua_isinteger(L, -1))
                ping_ids[nping++ % 4] = lua_tointeger(L, -1);
            lua_pop(L, 1);
            lua_pushstring(L, "type");
            lua_rawget(L, -2);
            lua_pushstring(L, "id");
            lua_rawget(L, -3);
            s = lua_tolstring(L, -1, &len);
            if (lua_type(L, -2) == LUA_TSTRING &&
                strcmp(lua_tostring(L, -2), "leave-needed") == 0 &&
                lua_type(L, -1) == LUA_TSTRING && len < LEAVE_ID_SZ) {
                memcpy(leave_ids[nleave % LEAVE_IDS], s, len + 1);
                nleave++;
            }
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
}

/* The hook of the coroutine left waiting ("fuzz.co"), and whether its
 * event's stanza carried a leave-needed's id (check_returned()) */
static const char *co_hook = "?";
static int co_answer;

/* Whether the event at index ev of L has a stanza (raw reads, as the
 * hooks') whose attr.id is a leave-needed's; 1 too when more were seen
 * than leave_ids keeps */
static int has_leave_id(lua_State *L, int ev)
{
    int top = lua_gettop(L), yes = 0;
    const char *id;

    if (nleave > LEAVE_IDS)
        return 1;
    if (lua_type(L, ev) == LUA_TTABLE) {
        lua_pushstring(L, "stanza");
        if (lua_rawget(L, ev) == LUA_TTABLE) {
            lua_pushstring(L, "attr");
            if (lua_rawget(L, -2) == LUA_TTABLE) {
                lua_pushstring(L, "id");
                if (lua_rawget(L, -2) == LUA_TSTRING) {
                    id = lua_tostring(L, -1);
                    for (unsigned i = 0; i < nleave && !yes; i++)
                        yes = strcmp(id, leave_ids[i]) == 0;
                }
            }
        }
    }
    lua_settop(L, top);
    return yes;
}

/* What hook name returned: nres values on top of R; answer: the event's
 * stanza carried a leave-needed's id when the hook was called (read
 * before: a finalizer may empty the stanza meanwhile, vandalize()).
 * Nothing, or true from hooks.own_answers for such a stanza (the answer
 * to a leave the module sent again, which it stops); anything else stops
 * a stanza that is not the module's own (util.events stops at the first
 * value returned), and a tracking hook stops none. */
static void check_returned(lua_State *R, int nres, int answer,
                           const char *name)
{
    if (nres == 0)
        return;
    if (nres == 1 && lua_type(R, -1) == LUA_TBOOLEAN && lua_toboolean(R, -1) &&
        strcmp(name, "own_answers") == 0 && answer)
        return;
    fprintf(stderr,
            "fuzz_binding: FINDING: hooks.%s returned %d value(s), the "
            "last a %s, for a stanza that is no answer to a leave the "
            "module sent again: it would stop the stanza\n",
            name, nres, luaL_typename(R, -1));
    abort();
}

static void finding(lua_State *L, const char *what, int rc)
{
    fprintf(stderr,
            "fuzz_binding: FINDING: %s raised (status %d), which the "
            "binding documents it never does: %s\n",
            what, rc,
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    abort();
}

/* Call the function below n arguments on top with lua_pcall; nres results
 * kept (nil-filled). must_not_raise: a raise is a finding. oom: fail
 * allocations after that many (< 0: never). Returns the status. */
static int call(lua_State *L, const char *what, int n, int nres,
                int must_not_raise, long oom)
{
    struct heap *h = heap_of(L);
    int rc, fn = lua_gettop(L) - n;

    /* what lua_pcall itself needs before the function runs (stack,
     * CallInfo) is there before allocations fail */
    lua_checkstack(L, LUA_MINSTACK + 8);
    lua_pushcfunction(L, nop);
    lua_pcall(L, 0, 0, 0);
    h->fail_after = oom;
    rc = lua_pcall(L, n, nres, 0);
    h->fail_after = -1;
    if (trace)
        fprintf(stderr, "  %s -> %d%s%s %s\n", what, rc, rc ? ": " : "",
                rc && lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                     : "",
                rc == LUA_OK && nres > 0 && lua_type(L, -nres) == LUA_TSTRING
                    ? lua_tostring(L, -nres)
                    : "");
    if (rc != LUA_OK && must_not_raise)
        finding(L, what, rc);
    if (rc != LUA_OK) {
        lua_settop(L, fn - 1);
        for (n = 0; n < nres; n++)
            lua_pushnil(L);
    }
    return rc;
}

static void method(lua_State *L, const char *name)
{
    lua_getfield(L, I_METHODS, name);
}

/* Push the JID or session argument; 1 when it is a string or a table */
static int push_who(lua_State *L, struct in *in)
{
    unsigned w = u8(in);

    switch (w % 8) {
    case 0:
    case 1:
    case 2:
        lua_pushstring(L, jids[w / 8 % 4]);
        return 1;
    case 3:
        lua_pushstring(L, PICK(in, jids));
        return 1;
    case 4:
    case 5:
    case 6:
        lua_rawgeti(L, I_SS, 1 + (lua_Integer)(w / 8 % SESSIONS));
        return lua_type(L, -1) == LUA_TTABLE;
    default:
        gen_value(L, in);
        return lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TTABLE;
    }
}

static int push_stanza(lua_State *L, struct in *in)
{
    return lua_rawgeti(L, I_ST, 1 + (lua_Integer)(u8(in) % STANZAS)) ==
           LUA_TTABLE;
}

static long oom_of(struct in *in)
{
    unsigned b = u8(in);
    return (b & 0xc0) == 0xc0 ? (long)(b & 0x3f) : -1;
}

/* An applied() for the hooks: returns, raises, yields (in a coroutine)
 * or calls the tracker */
static int applied_fn(lua_State *L)
{
    int mode = (int)lua_tointeger(L, lua_upvalueindex(1));

    lua_settop(L, 5);
    harvest(L, 5);
    switch (mode) {
    case 1:
        return luaL_error(L, "applied raised");
    case 2:
        if (lua_isyieldable(L))
            return lua_yield(L, 0);
        return 0;
    case 3: /* the session closed meanwhile */
        lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.tracker");
        lua_getfield(L, -1, "close");
        lua_rotate(L, -2, 1);
        lua_getfield(L, 2, "full_jid");
        lua_call(L, 2, 0);
        return 0;
    case 4: /* a tick meanwhile */
        lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.tracker");
        lua_getfield(L, -1, "tick");
        lua_rotate(L, -2, 1);
        lua_call(L, 1, 0);
        return 0;
    case 5: /* the stanza fed again through the same hook (re-entered) */
        lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.hook");
        if (lua_type(L, -1) != LUA_TFUNCTION)
            return 0;
        lua_createtable(L, 0, 2);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "origin");
        lua_pushvalue(L, 3);
        lua_setfield(L, -2, "stanza");
        lua_pushnil(L);
        lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.hook"); /* once */
        lua_call(L, 1, 0);
        return 0;
    default:
        return 0;
    }
}

/* watch(session): nothing, or raises */
static int watch_fn(lua_State *L)
{
    if (lua_tointeger(L, lua_upvalueindex(1)) == 1)
        return luaL_error(L, "watch raised");
    return 0;
}

static void make_hooks(lua_State *L, struct in *in)
{
    unsigned f = u8(in);

    method(L, "hooks");
    lua_pushvalue(L, I_T);
    lua_pushvalue(L, I_FULL);
    lua_pushstring(L, (f & 1) ? "example.net" : "example.com");
    lua_pushvalue(L, I_SEEN);
    lua_pushinteger(L, (f >> 1) % 8);
    lua_pushcclosure(L, applied_fn, 1);
    if (f & 0x10) {
        lua_pushinteger(L, (f >> 5) % 2);
        lua_pushcclosure(L, watch_fn, 1);
    } else {
        lua_pushnil(L);
    }
    call(L, "t:hooks", 6, 1, 0, -1);
    lua_replace(L, I_HOOKS);
}

static const char *const hook_names[] = {"outgoing", "outgoing_message",
                                         "incoming", "incoming_message"};

/* One of the hooks with an event table, directly or in a coroutine */
/* hooks.own_answers on the event at the top (left there), after the
 * hook that was given it: answer, whether its stanza carried a
 * leave-needed's id when that hook was called */
static void own_answers_after(lua_State *L, int answer)
{
    int base = lua_gettop(L);

    lua_getfield(L, I_HOOKS, "own_answers");
    lua_pushvalue(L, base);
    call(L, "own_answers", 1, LUA_MULTRET, 1, 0);
    check_returned(L, lua_gettop(L) - base, answer, "own_answers");
    lua_settop(L, base);
}

static void run_hook(lua_State *L, struct in *in)
{
    unsigned f = u8(in);
    const char *name = hook_names[f % 4];
    long oom = oom_of(in);
    int ev, answer, base, then_own = 0;

    /* hooks.own_answers: after hooks.incoming on the same event, as the
     * module hooks it, or alone */
    if (f & 0x10) {
        if (strcmp(name, "incoming") == 0)
            then_own = 1;
        else if (strcmp(name, "outgoing_message") == 0)
            name = "own_answers";
    }

    if (lua_type(L, I_HOOKS) != LUA_TTABLE)
        make_hooks(L, in);
    if (lua_type(L, I_HOOKS) != LUA_TTABLE)
        return;
    lua_getfield(L, I_HOOKS, name);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.hook");
    /* the event */
    if ((f & 0x60) == 0x60) {
        gen_value(L, in);
    } else {
        lua_createtable(L, 0, 2);
        ev = lua_gettop(L);
        if (u8(in) % 8 != 0)
            push_stanza(L, in);
        else
            gen_value(L, in);
        lua_setfield(L, ev, "stanza");
        if (u8(in) % 8 != 0)
            push_who(L, in);
        else
            gen_value(L, in);
        lua_setfield(L, ev, "origin");
        if (f & 0x20) {
            lua_pushvalue(L, I_MT_ERR + (int)(u8(in) % 4));
            lua_setmetatable(L, ev);
        }
    }
    /* for check_returned() */
    answer = has_leave_id(L, lua_gettop(L));
    /* the event again, below the hook, for own_answers after it */
    lua_pushvalue(L, -1);
    lua_rotate(L, -3, 1);
    if (f & 0x80) { /* in a coroutine: applied() may yield */
        lua_State *co;
        int rc, nres, round;

        co = lua_newthread(L);
        lua_rotate(L, -3, 1); /* thread, hook, event */
        lua_xmove(L, co, 2);
        /* (no allocation failure here: resuming a new thread allocates
         * before the hook runs) */
        rc = lua_resume(co, L, 1, &nres);
        if (rc == LUA_YIELD && (u8(in) & 1)) {
            /* left waiting (an async runner's wait): resumed by a later
             * step, or never (collected with the state) */
            lua_pop(co, nres);
            lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.co");
            co_answer = answer;
            co_hook = name;
            lua_pop(L,
                    1); /* the event: own_answers runs after the hook only */
            return;
        }
        for (round = 0; rc == LUA_YIELD && round < 4; round++) {
            lua_pop(co, nres);
            rc = lua_resume(co, L, 0, &nres);
        }
        if (trace)
            fprintf(stderr, "  hooks.%s (coroutine) -> %d\n", name, rc);
        if (rc != LUA_OK && rc != LUA_YIELD) {
            lua_xmove(co, L, 1);
            finding(L, name, rc);
        }
        if (rc == LUA_OK)
            check_returned(co, nres, answer, name);
        lua_pop(L, 1);
        if (rc == LUA_OK && then_own)
            own_answers_after(L, answer);
        lua_pop(L, 1);
        return;
    }
    base = lua_gettop(L) - 2; /* below the hook and the event */
    call(L, name, 1, LUA_MULTRET, 1, oom);
    check_returned(L, lua_gettop(L) - base, answer, name);
    lua_settop(L, base);
    if (then_own)
        own_answers_after(L, answer);
    lua_pop(L, 1);
}

/* outgoing/incoming, as a method or as a feeder */
static void feed(lua_State *L, struct in *in, int outgoing, int feeder)
{
    unsigned f = u8(in);
    long oom = oom_of(in);
    int ok, n, base = lua_gettop(L);

    if (feeder) {
        if (lua_type(L, I_FEED_OUT) != LUA_TFUNCTION) {
            method(L, "feeders");
            lua_pushvalue(L, I_T);
            call(L, "t:feeders", 1, 2, 0, -1);
            lua_replace(L, I_FEED_IN);
            lua_replace(L, I_FEED_OUT);
            if (lua_type(L, I_FEED_OUT) != LUA_TFUNCTION)
                return;
        }
        lua_pushvalue(L, outgoing ? I_FEED_OUT : I_FEED_IN);
    } else {
        method(L, outgoing ? "outgoing" : "incoming");
        lua_pushvalue(L, I_T);
    }
    ok = push_who(L, in);
    ok &= push_stanza(L, in);
    n = feeder ? 2 : 3;
    if (f & 1) {
        lua_pushboolean(L, f & 2);
        n++;
    }
    ok = ok && !t_freed;
    call(L, outgoing ? "t:outgoing" : "t:incoming", n, 2, ok, oom);
    /* outcome, events */
    if (ok && lua_type(L, -2) != LUA_TSTRING && !lua_isnil(L, -2)) {
        fprintf(stderr, "fuzz_binding: FINDING: outcome of type %s\n",
                luaL_typename(L, -2));
        abort();
    }
    harvest(L, lua_gettop(L));
    lua_settop(L, base);
}

static const char *const simple_methods[] = {
    "message",           "importance",
    "is_forwarded_ping", "ping_needs_features",
    "ping_answer",       "ping_answer_info",
};

static void push_ping_id(lua_State *L, struct in *in)
{
    unsigned b = u8(in);
    if (b < 200 && nping > 0)
        lua_pushinteger(L, ping_ids[b % (nping < 4 ? nping : 4)]);
    else if (b < 230)
        lua_pushinteger(L, (lua_Integer)(b - 200));
    else if (b < 240)
        lua_pushinteger(L, (lua_Integer)UINT32_MAX + (b & 1));
    else
        gen_value(L, in);
}

/* The other methods, under pcall as the module calls them */
static void other(lua_State *L, struct in *in, unsigned op)
{
    int base = lua_gettop(L), n = 1;
    long oom = oom_of(in);
    const char *what = "?";
    unsigned b;

    switch (op) {
    case 0: /* message, importance, forwarded ping, pings */
        b = u8(in) % N(simple_methods);
        what = simple_methods[b];
        method(L, what);
        lua_pushvalue(L, I_T);
        push_who(L, in);
        push_stanza(L, in);
        n = 3;
        if (b == 1) { /* importance(jid, stanza, hold[, listed]) */
            unsigned h = u8(in);
            if (h % 3 == 0)
                lua_pushstring(L, "groupchat");
            else
                lua_pushboolean(L, h % 3 == 1);
            lua_pushboolean(L, h & 8);
            n = 5;
        } else if (b >= 3) {
            push_ping_id(L, in);
            n = 4;
            if (b == 4) {
                unsigned o = u8(in) % 3;
                if (o == 2)
                    lua_pushnil(L);
                else
                    lua_pushboolean(L, o);
                n = 5;
            } else if (b == 5) {
                if (u8(in) & 1)
                    push_stanza(L, in);
                else
                    gen_value(L, in);
                n = 5;
            }
        }
        break;
    case 1: /* close(jid) */
        what = "close";
        method(L, what);
        lua_pushvalue(L, I_T);
        lua_pushstring(L, PICK(in, jids));
        n = 2;
        break;
    case 2:
        what = "tick";
        method(L, what);
        lua_pushvalue(L, I_T);
        break;
    case 3: /* link_lost / link_up with odd domains */
        what = (u8(in) & 1) ? "link_lost" : "link_up";
        method(L, what);
        lua_pushvalue(L, I_T);
        switch (u8(in) % 4) {
        case 0:
            lua_pushstring(L, "conference.example.com");
            break;
        case 1:
            lua_pushstring(L, PICK(in, rooms));
            break;
        case 2:
            lua_pushlstring(L, "muc.example.org\0x", 17);
            break;
        default:
            gen_value(L, in);
            break;
        }
        n = 2;
        break;
    case 4: /* queries */
        b = u8(in) % 5;
        what = (const char *[]){"rooms", "nick", "stats", "sessions",
                                "counts"}[b];
        method(L, what);
        lua_pushvalue(L, I_T);
        if (b <= 1) {
            push_who(L, in);
            n = 2;
        }
        if (b == 1) {
            lua_pushstring(L, PICK(in, rooms));
            n = 3;
        }
        break;
    case 5: /* restore */
        what = "restore";
        method(L, what);
        lua_pushvalue(L, I_T);
        lua_pushstring(L, PICK(in, jids));
        lua_pushstring(L, PICK(in, rooms));
        lua_pushstring(L, (const char *[]){"none", "pending", "joined",
                                           "changing", "leaving",
                                           "bogus"}[u8(in) % 6]);
        lua_pushstring(L, PICK(in, nicks));
        if (u8(in) & 1)
            lua_pushstring(L, PICK(in, nicks));
        else
            lua_pushnil(L);
        lua_pushnumber(L, (double)u8(in) - 10.0);
        n = 7;
        break;
    default: /* configure */
        what = "configure";
        method(L, what);
        lua_pushvalue(L, I_T);
        lua_createtable(L, 0, 4);
        b = u8(in);
        lua_pushnumber(L, (b & 1) ? 0.0 : 1.0);
        lua_setfield(L, -2, "pending_timeout");
        lua_pushnumber(L, 0.0);
        lua_setfield(L, -2, "ping_start_delay");
        lua_pushinteger(L, (b >> 1) % 4);
        lua_setfield(L, -2, "max_rooms");
        lua_pushinteger(L, (b >> 3) % 4);
        lua_setfield(L, -2, "max_pending");
        lua_pushboolean(L, b & 0x20);
        lua_setfield(L, -2, "legacy_joins");
        if (b & 0x40) {
            gen_value(L, in);
            lua_setfield(L, -2, (b & 0x80) ? "ping_timeout" : "ping_retries");
        }
        n = 2;
        break;
    case 7: /* mj.reads(name, type, outgoing) */
        what = "mj.reads";
        lua_getfield(L, I_MJ, "reads");
        lua_pushstring(L, PICK(in, names));
        gen_value(L, in);
        lua_pushboolean(L, u8(in) & 1);
        n = 3;
        break;
    }
    call(L, what, n, 2, 0, oom);
    harvest(L, lua_gettop(L));
    harvest(L, lua_gettop(L) - 1);
    lua_settop(L, base);
}

/* One step of the program */
static void step(lua_State *L, struct in *in)
{
    unsigned op = u8(in) % 20;
    int s;

    if (trace)
        fprintf(stderr, "step %u at %zu\n", op, in->i);
    switch (op) {
    case 0:
    case 1: /* a stanza */
        s = 1 + (int)(u8(in) % STANZAS);
        gen_stanza(L, in);
        lua_rawseti(L, I_ST, s);
        break;
    case 2:
    case 3: /* corrupt one */
        mutate(L, in, 1 + (int)(u8(in) % STANZAS));
        break;
    case 4: /* a session */
        gen_session(L, in, 1 + (int)(u8(in) % SESSIONS));
        break;
    case 5:
    case 6:
        feed(L, in, 1, 0);
        break;
    case 7:
    case 8:
        feed(L, in, 0, 0);
        break;
    case 9:
        feed(L, in, u8(in) & 1, 1);
        break;
    case 10:
    case 11:
        run_hook(L, in);
        break;
    case 12:
        make_hooks(L, in);
        break;
    case 13: /* hooks.listen / hooks.bind */
        if (lua_type(L, I_HOOKS) != LUA_TTABLE)
            break;
        s = (int)u8(in);
        lua_getfield(L, I_HOOKS, (s & 1) ? "bind" : "listen");
        if (s & 1)
            lua_pushvalue(L, (s & 2) ? I_T2 : I_T);
        else
            lua_pushboolean(L, s & 2);
        call(L, "hooks.listen/bind", 1, 0, 0, oom_of(in));
        break;
    case 14: /* a collection: finalizers run; or a tracker freed by a
              * call of its __gc, as Lua code may do (getmetatable(t)) */
        s = (int)u8(in);
        if ((s & 3) != 0) {
            lua_gc(L, LUA_GCCOLLECT);
            break;
        }
        if (!lua_getmetatable(L, (s & 4) ? I_T2 : I_T))
            break;
        if (rgetf(L, -1, "__gc") != LUA_TFUNCTION)
            break;
        lua_pushvalue(L, (s & 4) ? I_T2 : I_T);
        call(L, "__gc", 1, 0, 0, oom_of(in));
        if (!(s & 4))
            t_freed = 1;
        break;
    case 15: /* finalizer-carrying tables, dropped at once */
        for (s = (int)(u8(in) % 8); s > 0; s--) {
            lua_newtable(L);
            lua_pushvalue(L, I_MT_GC);
            lua_setmetatable(L, -2);
            lua_pop(L, 1);
        }
        lua_newtable(L);
        lua_pushvalue(L, I_MT_GC);
        lua_setmetatable(L, -2);
        if (u8(in) & 1) { /* or kept in a stanza */
            lua_rawgeti(L, I_ST, 1 + (lua_Integer)(u8(in) % STANZAS));
            if (lua_type(L, -1) == LUA_TTABLE) {
                lua_rotate(L, -2, 1);
                lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
            }
        }
        lua_pop(L, 1);
        break;
    case 19: /* the coroutine left waiting, resumed */
        if (lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.co") == LUA_TTHREAD) {
            lua_State *co = lua_tothread(L, -1);
            int nres, rc = lua_resume(co, L, 0, &nres);

            if (trace)
                fprintf(stderr, "  resumed -> %d\n", rc);
            if (rc != LUA_OK && rc != LUA_YIELD) {
                lua_xmove(co, L, 1);
                finding(L, "a hook (resumed)", rc);
            }
            if (rc == LUA_YIELD)
                lua_pop(co, nres);
            else {
                check_returned(co, nres, co_answer, co_hook);
                lua_pushnil(L);
                lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.co");
            }
        }
        break;
    default:
        other(L, in, u8(in) % 8);
        break;
    }
}

/* The program, protected (anything the harness itself raises ends it) */
static int program(lua_State *L)
{
    struct in *in = lua_touserdata(L, 1);
    unsigned cfg, i;

    lua_settop(L, 0);
    luaL_requiref(L, "mucjoins", luaopen_mucjoins, 0); /* I_MJ */
    cfg = u8(in);
    lua_getfield(L, I_MJ, "new");
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, 1 + cfg % 4);
    lua_setfield(L, -2, "max_rooms");
    lua_pushinteger(L, 1 + (cfg >> 2) % 4);
    lua_setfield(L, -2, "max_pending");
    lua_pushnumber(L, (cfg & 0x10) ? 0.0 : 120.0);
    lua_setfield(L, -2, "pending_timeout");
    lua_pushboolean(L, cfg & 0x20);
    lua_setfield(L, -2, "legacy_joins");
    lua_pushnumber(L, 0.0);
    lua_setfield(L, -2, "ping_start_delay");
    lua_call(L, 1, 1); /* I_T */
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.tracker");
    lua_getfield(L, I_MJ, "new");
    lua_call(L, 0, 1); /* I_T2 */
    lua_getmetatable(L, I_T);
    lua_getfield(L, -1, "__index"); /* I_METHODS */
    lua_remove(L, -2);
    lua_createtable(L, STANZAS, 0); /* I_ST */
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.st");
    lua_createtable(L, SESSIONS, 0);
    lua_newtable(L); /* I_FULL */
    lua_newtable(L); /* I_SEEN */
    lua_pushnil(L);  /* I_HOOKS */
    lua_pushnil(L);  /* I_FEED_OUT */
    lua_pushnil(L);  /* I_FEED_IN */
    make_metatables(L);
    if (lua_gettop(L) != I_TOP)
        abort();
    if (cfg & 0x40) /* the collector at every step: finalizers run inside
                     * the binding's allocations, and a string it did not
                     * anchor is freed under it (ASan sees the read) */
        lua_gc(L, LUA_GCINC, 0, 1000, 0);
    for (i = 0; i < MAX_OPS && in->i < in->n; i++) {
        step(L, in);
        lua_settop(L, I_TOP);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct heap h = {0, -1};
    struct in in = {data, size, 0};
    lua_State *L;
    int rc;

    if (!init) {
        const char *t = getenv("FUZZ_BINDING_TRACE");
        trace = t != NULL && *t == '1';
        init = 1;
    }
    nping = 0;
    nleave = 0;
    co_hook = "?";
    co_answer = 0;
    gc_runs = 0;
    t_freed = 0;
    L = lua_newstate(l_alloc, &h);
    if (L == NULL)
        return 0;
    lua_pushcfunction(L, program);
    lua_pushlightuserdata(L, &in);
    rc = lua_pcall(L, 1, 0, 0);
    if (trace && rc != LUA_OK)
        fprintf(stderr, "program ended: %s\n",
                lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    lua_close(L);
    if (h.used != 0) {
        fprintf(stderr,
                "fuzz_binding: %zu bytes not returned to Lua's "
                "allocator\n",
                h.used);
        abort();
    }
    return 0;
}

/*
 * mj_read.c - the Lua binding's reading (see mucjoins_lua.h): Prosody's
 * util.stanza tables into the core's mj_stanza view, with the library's
 * extraction rules.
 */
#include "mucjoins_lua.h"

/* ---------------------------------------------------------------------- */
/* util.stanza table -> mj_stanza                                          */
/*
 * Only raw accesses (no metamethods), keys pushed from upvalues: nothing
 * here raises or allocates, except joining an element's text when it has
 * several text children, which runs protected. Anything that is not the
 * expected type counts as absent; malformed stanzas never raise. Every
 * string the view points to stays on the stack, so it stays alive for the
 * core call whatever a finalizer does to the stanza meanwhile: the head's
 * strings (from, to, id) where they were pushed, the ones read inside a
 * loop over children copied to an anchor slot. Only what the core reads
 * for the stanza's kind is read (mj_stanza_needs(): for a presence
 * received, from and the muc#user element, the item's nick only beside a
 * 303; nothing at all of a chat message or an iq fed to
 * outgoing/incoming, which return "ignored" without looking for the
 * session); the other methods read everything but a presence's message
 * fields.
 *
 * Stack discipline (the Lua API is most of the cost here): what is read
 * is left on the stack, and a loop over children drops what it pushed
 * (lua_settop back to the list) only when that exceeds LOOP_SLACK slots,
 * which bounds the stack for huge child lists while a stanza with a few
 * children costs no lua_settop at all. convert() leaves everything it
 * pushed: the caller restores the top once the core has returned. The
 * caller guarantees the head's CONV_HEAD slots (a C function called from
 * Lua has LUA_MINSTACK); once the head says what is read, convert()
 * reserves what the stanza's kind can use: the anchors of its groups, the
 * loop over the stanza's children and one nested scan (the muc#user
 * element, the error or a body's text), and the caller's extra slots;
 * <destroy/>, the only scan nested deeper, reserves its own and its
 * reason's. Growing the stack may run the collector: the head's strings
 * are on the stack by then, and the session is not looked up yet.
 */

#define LOOP_SLACK 6

/* What a nested scan (muc#user, destroy, error, a text) may push above
 * the top it starts at: its list, LOOP_SLACK, its turn's values. */
#define LEVEL_STACK 14

/* What the loop over the stanza's children may push above the anchors:
 * the list, LOOP_SLACK, its turn's values (at most 6: the child, its
 * name, attrs and xmlns, a mention's type and uri), a nested scan. */
#define MAIN_STACK (1 + LOOP_SLACK + 6 + LEVEL_STACK)
_Static_assert(CONV_STACK >= CONV_HEAD + NANCHORS + MAIN_STACK,
               "CONV_STACK bounds a conversion");

/* Push t[upvalue k]; its bytes if it is a string, else NULL. The value
 * stays on the stack, which keeps the bytes alive. t 0: push nil. */
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

/* Push el.attr (one slot either way); its index if it is a table, else
 * 0. */
static int push_attrs(lua_State *L, int el)
{
    return rawkey(L, el, UV_ATTR) == LUA_TTABLE ? lua_gettop(L) : 0;
}

/* The string attrs[upvalue k], or absent; pushed (nothing when attrs is
 * 0), and also copied to slot unless slot is 0 (then the pushed value
 * is its anchor: the caller never drops it before the core call). */
static void attr_str(lua_State *L, int attrs, int k, int slot, mj_str *out)
{
    out->ptr = NULL;
    out->len = 0;
    if (attrs == 0)
        return;
    if (rawkey(L, attrs, k) == LUA_TSTRING) {
        out->ptr = lua_tolstring(L, -1, &out->len);
        if (slot != 0)
            lua_copy(L, -1, slot); /* the same string, now anchored */
    }
}

/* Push el.tags if it is a table and return its index and length; else
 * push nil and return 0. */
static int push_tags(lua_State *L, int el, lua_Integer *n)
{
    lua_Unsigned len;

    if (rawkey(L, el, UV_TAGS) != LUA_TTABLE)
        return 0;
    len = lua_rawlen(L, -1);
    *n =
        len > (lua_Unsigned)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)len;
    return lua_gettop(L);
}

/* At the start of each turn of a loop over the list at index base: drop
 * what the previous turns left when it is more than LOOP_SLACK slots. */
static void loop_turn(lua_State *L, int base)
{
    if (lua_gettop(L) > base + LOOP_SLACK)
        lua_settop(L, base);
}

/* Protected: (element, max) -> its string children concatenated, at
 * most max bytes of them (what the core reads of it: the rest of a text
 * split by the parser is never copied). A string added in part is kept
 * in slot 3, below the buffer's, where the collector (growing the buffer
 * may run it) sees it whatever a finalizer does to the element. */
static int join_text(lua_State *L)
{
    lua_Unsigned len = lua_rawlen(L, 1);
    lua_Integer i, n, max = lua_tointeger(L, 2);
    size_t left = max > 0 ? (size_t)max : 0, l;
    luaL_Buffer b;

    n = len > (lua_Unsigned)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)len;
    lua_settop(L, 3); /* 3: the string being added */
    luaL_buffinit(L, &b);
    for (i = 1; i <= n && left > 0; i++) {
        int t = lua_rawgeti(L, 1, i);

        if (t == LUA_TSTRING) {
            const char *p = lua_tolstring(L, -1, &l);

            if (l <= left) {
                luaL_addvalue(&b);
            } else {               /* its head only */
                lua_replace(L, 3); /* the buffer's slot on top again */
                luaL_addlstring(&b, p, left);
                l = left;
            }
            left -= l;
        } else {
            lua_pop(L, 1);
            if (t == LUA_TNIL)
                break; /* the list's end (child_at()) */
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* Text of an element: its string children concatenated, anchored in
 * slot; of several, only the first max bytes are joined (one text is
 * handed over whole: no copy). 0 when joining ran out of memory. */
MJ_HOT static int text_of(lua_State *L, int el, int slot, size_t max,
                          mj_str *out)
{
    lua_Integer i, count = 0;
    int base = lua_gettop(L);

    /* to the first hole (child_at()): no border comes before it */
    for (i = 1; i < LUA_MAXINTEGER && count < 2; i++) {
        int t;

        loop_turn(L, base);
        t = lua_rawgeti(L, el, i);
        if (t == LUA_TNIL)
            break; /* the list's end (child_at()) */
        if (t == LUA_TSTRING && count++ == 0)
            lua_copy(L, -1, slot); /* the first one */
    }
    if (count == 0) {
        out->ptr = "";
        out->len = 0;
        return 1;
    }
    if (count > 1) {
        lua_pushcfunction(L, join_text);
        lua_pushvalue(L, el);
        lua_pushinteger(L, max < (size_t)LUA_MAXINTEGER ? (lua_Integer)max
                                                        : LUA_MAXINTEGER);
        if (lua_pcall(L, 2, 1, 0) != LUA_OK)
            return 0;
        lua_copy(L, -1, slot);
    }
    out->ptr = lua_tolstring(L, slot, &out->len);
    return 1;
}

/* A child element being looked at: its stack slots and strings. */
struct child {
    int el, attrs; /* attrs: 0 when not a table */
    const char *name, *ns;
    size_t name_len, ns_len;
};

/* Push element i of tags and its name: returns 1 with c->el and c->name
 * set, 0 if it is not a table with a string name, CHILD_END if there is
 * no element i. A list ends at its first hole, as ipairs() reads it
 * (util.stanza's get_child(), childtags()): its raw length is only one of
 * its borders, and a forged list of 63 elements at 1, 2, 4, ... 2^62 has
 * one of 2^62 (a loop up to it never ended); the parser's lists have
 * no holes. Every loop over a list stops at CHILD_END, and the loops
 * over an element's text at its first nil too. */
#define CHILD_END (-1)
MJ_HOT static int child_at(lua_State *L, int tags, lua_Integer i,
                           struct child *c)
{
    int t = lua_rawgeti(L, tags, i);

    if (t != LUA_TTABLE)
        return t == LUA_TNIL ? CHILD_END : 0;
    c->el = lua_gettop(L);
    c->name = push_str(L, c->el, UV_NAME, &c->name_len);
    return c->name != NULL;
}

/* Then, only for a child worth it: push its attrs and xmlns. */
MJ_HOT static void child_ns(lua_State *L, struct child *c)
{
    c->attrs = push_attrs(L, c->el);
    c->ns = push_str(L, c->attrs, UV_XMLNS, &c->ns_len);
}

/* Namespace of a child (after child_ns): 0 when attr.xmlns is absent (or
 * not a string), 1 when it equals lit, 2 otherwise. */
#define NS_CLASS(c, lit)                                                      \
    ((c)->ns == NULL ? 0 : LIT_EQ((c)->ns, (c)->ns_len, lit) ? 1 : 2)

/* <destroy/>: jid attribute and the text of its first <reason/>. Both
 * are the room's words for the client, not what the core decides by: out
 * of memory (no stack to read them, their text nodes not joined), the
 * destroy counts without them. It was reported as the whole stanza's
 * failure, and the core never saw the room end: it stayed in
 * rooms_joined for good. */
static void scan_destroy(lua_State *L, const struct child *d, int anchor,
                         mj_stanza *st)
{
    lua_Integer i, n = 0;
    int tags;
    struct child c;
    int got;

    st->has_destroy = 1;
    if (!lua_checkstack(L, 2 * LEVEL_STACK)) /* and text_of()'s */
        return;
    attr_str(L, d->attrs, UV_JID, anchor + A_DESTROY_JID, &st->destroy_jid);
    tags = push_tags(L, d->el, &n);
    for (i = 1; tags != 0 && i <= n; i++) {
        loop_turn(L, tags);
        if ((got = child_at(L, tags, i, &c)) == CHILD_END)
            break;
        if (!got || !LIT_EQ(c.name, c.name_len, "reason"))
            continue;
        child_ns(L, &c);
        if (NS_CLASS(&c, NS_MUC_USER) != 2) {
            /* handed on whole */
            if (!text_of(L, c.el, anchor + A_DESTROY_REASON, SIZE_MAX,
                         &st->destroy_reason)) {
                st->destroy_reason.ptr = NULL; /* (the error stays above) */
                st->destroy_reason.len = 0;
            }
            return;
        }
    }
}

/* The first <x xmlns='...muc#user'/>: status codes, first <item/>,
 * <destroy/>. Children in no namespace or the muc#user one count. */
MJ_HOT static void scan_muc_user(lua_State *L, int x, int anchor,
                                 mj_stanza *st)
{
    lua_Integer i, n = 0;
    int tags;
    size_t k;
    struct child c;
    int got;

    st->has_muc_user = 1;
    tags = push_tags(L, x, &n);
    if (tags == 0)
        return;
    for (i = 1; i <= n; i++) {
        loop_turn(L, tags);
        if ((got = child_at(L, tags, i, &c)) == CHILD_END)
            break;
        if (!got)
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
                scan_destroy(L, &c, anchor, st);
        }
    }
    /* The first <item/>'s nick: the core reads it only beside a 303
     * (mucjoins.h), so the items are looked at only then. */
    for (k = 0; k < st->nstatus && st->status[k] != 303; k++)
        ;
    for (i = 1; k < st->nstatus && i <= n; i++) {
        loop_turn(L, tags);
        if ((got = child_at(L, tags, i, &c)) == CHILD_END)
            break;
        if (!got || !LIT_EQ(c.name, c.name_len, "item"))
            continue;
        child_ns(L, &c);
        if (NS_CLASS(&c, NS_MUC_USER) != 2) {
            attr_str(L, c.attrs, UV_NICK, anchor + A_ITEM_NICK,
                     &st->item_nick);
            break;
        }
    }
}

/* <error/>: type and by attributes, the defined condition's name.
 * Returns 1. */
static int scan_error(lua_State *L, const struct child *e, int anchor,
                      mj_stanza *st)
{
    lua_Integer i, n = 0;
    int tags;
    struct child c;
    int got;

    attr_str(L, e->attrs, UV_TYPE, anchor + A_ERROR_TYPE, &st->error_type);
    attr_str(L, e->attrs, UV_BY, anchor + A_ERROR_BY, &st->error_by);
    tags = push_tags(L, e->el, &n);
    for (i = 1; tags != 0 && i <= n; i++) {
        loop_turn(L, tags);
        if ((got = child_at(L, tags, i, &c)) == CHILD_END)
            break;
        if (!got || LIT_EQ(c.name, c.name_len, "text"))
            continue;
        child_ns(L, &c);
        if (NS_CLASS(&c, NS_STANZAS) == 1) {
            lua_copy(L, c.el + 1, anchor + A_ERROR_CONDITION);
            st->error_condition.ptr = lua_tolstring(
                L, anchor + A_ERROR_CONDITION, &st->error_condition.len);
            break;
        }
    }
    mj_stanza_error_read(st); /* none named: undefined-condition */
    return 1;
}

/* The stanza's own xmlns (NULL: none given, as on a stream in its
 * default namespace): read by content_ns() only for the first child that
 * names a namespace of its own (most stanzas have none), anchored. */
struct own_ns {
    int attrs, slot, read;
    const char *ns;
    size_t len;
};

/* Whether a child is the stanza's content, by the library's rules: in
 * the client's namespace (mj_stanza_client_ns(): <error/>, <body/>,
 * <thread/>) or, own, in the stanza's own (mj_stanza_own_ns(), util.stanza's
 * get_child(): <subject/>). Pushes nothing (a value read is kept in
 * own->slot). */
MJ_HOT static int content_ns(lua_State *L, const struct child *c,
                             struct own_ns *own, int strict)
{
    if (c->ns != NULL && !own->read) {
        own->read = 1;
        if (own->attrs != 0 &&
            rawkey(L, own->attrs, UV_XMLNS) == LUA_TSTRING) {
            lua_copy(L, -1, own->slot);
            own->ns = lua_tolstring(L, own->slot, &own->len);
        }
        lua_pop(L, 1);
    }
    return strict ? mj_stanza_own_ns(own->ns, own->len, c->ns, c->ns_len)
                  : mj_stanza_client_ns(own->ns, own->len, c->ns, c->ns_len);
}

/* A delay marker's from attribute (markers without one are not listed;
 * the library's rule says which fit once the list is full). */
static void add_delay(lua_State *L, int attrs, int anchor, mj_stanza *st)
{
    mj_str from;
    int slot;

    attr_str(L, attrs, UV_FROM, 0, &from);
    slot = mj_stanza_add_delay(st, from.ptr, from.len);
    if (slot >= 0)
        lua_copy(L, -1, anchor + A_DELAY_FROM + slot); /* anchored */
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
}

/* The anchor slots a conversion reading need uses (the groups of the
 * A_* enum, in order). */
static int anchors_for(unsigned need)
{
    if (need & MJ_NEED_MESSAGE)
        return NANCHORS;
    if (need & MJ_NEED_ERROR)
        return A_BODY;
    if (need & MJ_NEED_MUC_USER)
        return A_ERROR_TYPE;
    return 0;
}

/* Fill st from the stanza table at index stanza in one pass: its kind
 * and type, then what is read of it for dir: CONV_IN / CONV_OUT, what the
 * core reads of a stanza of that kind and type received / sent
 * (mj_stanza_needs()); CONV_FULL, everything (no message parts of a
 * presence). Returns what was read (MJ_NEED_* bits); 0 when it is not a
 * presence, message or iq, or nothing is read; -1 when out of memory.
 * Leaves pushed what it read, which holds the strings st points to (the
 * caller drops it after the core call), with extra free slots above it.
 * The caller guarantees CONV_HEAD free slots. k, if not NULL: what the
 * caller read already (the same raw reads, left on the stack), not read
 * again. */
MJ_HOT int convert(lua_State *L, int stanza, int dir, mj_stanza *st, int extra,
                   const struct known *k)
{
    lua_Integer i, n = 0;
    int attrs, tags, anchor, first, ok = 1, seen_error = 0, seen_body = 0;
    int kids, message;
    unsigned need;
    size_t len = 0;
    const char *s;
    struct child c;
    int got;
    struct own_ns own = {0, 0, 0, NULL, 0};

    mj_stanza_init(st);
    if (k != NULL && k->has_kind) {
        st->kind = k->kind;
    } else {
        s = push_str(L, stanza, UV_NAME, &len);
        if (!mj_stanza_set_kind(st, s, len))
            return 0;
    }
    attrs = k != NULL && k->attrs != 0 ? k->attrs : push_attrs(L, stanza);
    if (k != NULL && k->has_type) {
        st->type = k->st_type;
    } else {
        if (k != NULL && k->type != 0) {
            s = k->type_s;
            len = k->type_len;
        } else {
            s = push_str(L, attrs, UV_TYPE, &len);
        }
        mj_stanza_set_type(st, s, len);
    }
    if (dir == CONV_FULL)
        need = st->kind == MJ_KIND_PRESENCE ? MJ_NEED_ALL & ~MJ_NEED_MESSAGE
                                            : MJ_NEED_ALL;
    else
        need = mj_stanza_needs(dir == CONV_OUT, st->kind, st->type);
    if (need == 0)
        return 0;
    kids = (need & (MJ_NEED_MUC | MJ_NEED_MUC_USER | MJ_NEED_ERROR |
                    MJ_NEED_MESSAGE)) != 0;
    /* the rest of the head (from, to, id), then what the children use */
    if (!lua_checkstack(L, 3 + (kids ? anchors_for(need) + MAIN_STACK : 0) +
                               extra))
        return -1;
    message = (need & MJ_NEED_MESSAGE) != 0;
    if (need & MJ_NEED_FROM)
        attr_str(L, attrs, UV_FROM, 0, &st->from);
    if ((need & MJ_NEED_TO) && k != NULL && k->to != 0) {
        st->to.ptr = k->to_s; /* NULL: absent */
        st->to.len = k->to_len;
    } else if (need & MJ_NEED_TO)
        attr_str(L, attrs, UV_TO, 0, &st->to);
    if ((need & MJ_NEED_ID) && !(k != NULL && k->id_later))
        attr_str(L, attrs, UV_ID, 0, &st->id);

    if (!kids)
        return (int)need;
    /* the groups read, from the first: anchor + A_x is a slot above
     * the head for every A_x of them (slots below the first group's are
     * the head's, and never written) */
    first = (need & MJ_NEED_MUC_USER) ? 0
            : (need & MJ_NEED_ERROR)  ? A_ERROR_TYPE
                                      : A_OWN_NS;
    anchor = lua_gettop(L) + 1 - first;
    own.attrs = attrs;
    own.slot = anchor + A_OWN_NS;
    if (anchors_for(need) > first)
        lua_settop(L, anchor + anchors_for(need) - 1); /* nil */
    tags = push_tags(L, stanza, &n);
    for (i = 1; tags != 0 && i <= n && ok; i++) {
        loop_turn(L, tags);
        if ((got = child_at(L, tags, i, &c)) == CHILD_END)
            break;
        if (!got)
            continue;
        if (LIT_EQ(c.name, c.name_len, "x")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_MUC) == 1)
                st->has_muc_x = (need & MJ_NEED_MUC) != 0;
            else if (NS_CLASS(&c, NS_MUC_USER) == 1) {
                if (!st->has_muc_user && (need & MJ_NEED_MUC_USER))
                    scan_muc_user(L, c.el, anchor, st);
            } else if (message && NS_CLASS(&c, NS_XDELAY) == 1)
                add_delay(L, c.attrs, anchor, st);
        } else if (LIT_EQ(c.name, c.name_len, "error")) {
            if (!seen_error && st->type == MJ_T_ERROR &&
                (need & MJ_NEED_ERROR)) {
                child_ns(L, &c);
                if (content_ns(L, &c, &own, 0)) {
                    seen_error = 1;
                    ok = scan_error(L, &c, anchor, st);
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
                if (content_ns(L, &c, &own, 0)) {
                    seen_body = 1;
                    ok = text_of(L, c.el, anchor + A_BODY,
                                 (size_t)MJ_MAX_BODY + 1, &st->body);
                }
            }
        } else if (LIT_EQ(c.name, c.name_len, "subject")) {
            child_ns(L, &c);
            if (content_ns(L, &c, &own, 1))
                st->has_subject = 1;
        } else if (LIT_EQ(c.name, c.name_len, "thread")) {
            child_ns(L, &c);
            if (content_ns(L, &c, &own, 0))
                st->has_thread = 1;
        } else if (LIT_EQ(c.name, c.name_len, "ping")) {
            child_ns(L, &c);
            if (NS_CLASS(&c, NS_PING) == 1)
                st->has_ping = 1;
        }
    }
    /* A hint or marker (mj_stanza.has_history_hint) counts only for a
     * subject change, a <subject/> without <body/> and <thread/>
     * (mj_messages_subject()): read then only, in a second pass over the
     * children, so that no other message pays for it. Any name counts in
     * urn:xmpp:chat-markers:0 (Prosody's get_child(nil, ns)), <body/>,
     * <x/>, <ping/>... included: the loop above, which dispatches on the
     * name, could not see those. The main loop left nothing above tags
     * that the view points to (strings it keeps are anchored below). */
    if (ok && message && tags != 0 && st->has_subject && !seen_body &&
        !st->has_thread) {
        lua_settop(L, tags);
        for (i = 1; i <= n && !st->has_history_hint; i++) {
            loop_turn(L, tags);
            if ((got = child_at(L, tags, i, &c)) == CHILD_END)
                break;
            if (!got)
                continue;
            child_ns(L, &c);
            st->has_history_hint = NS_CLASS(&c, NS_MARKERS) == 1 ||
                                   (NS_CLASS(&c, NS_HINTS) == 1 &&
                                    LIT_EQ(c.name, c.name_len, "store")) ||
                                   (NS_CLASS(&c, NS_EME) == 1 &&
                                    LIT_EQ(c.name, c.name_len, "encryption"));
        }
    }
    return ok ? (int)need : -1;
}

/* The id of a stanza whose attr table is at index attrs, into st->id (a
 * string stays pushed; anything else counts as absent). Raw reads only:
 * nothing allocates or runs the collector. */
void read_id(lua_State *L, int attrs, mj_stanza *st)
{
    attr_str(L, attrs, UV_ID, 0, &st->id);
}

/* st->has_wake_hint for the message at index idx: one of its children is
 * a payload mj_stanza_wake_child() names. A pass of its own, for
 * t:importance() of a message the core would hold only: the hooks' paths
 * never pay for it. Nothing the view points to is above the stack's top
 * on entry. */
void read_wake_hint(lua_State *L, int idx, mj_stanza *st)
{
    int top = lua_gettop(L), tags;
    lua_Integer i, n = 0;
    struct child c;
    int got;

    if (st->kind != MJ_KIND_MESSAGE || !lua_checkstack(L, 1 + LOOP_SLACK + 4))
        return;
    tags = push_tags(L, idx, &n);
    for (i = 1; tags != 0 && i <= n && !st->has_wake_hint; i++) {
        loop_turn(L, tags);
        if ((got = child_at(L, tags, i, &c)) == CHILD_END)
            break;
        if (!got)
            continue;
        child_ns(L, &c);
        st->has_wake_hint =
            mj_stanza_wake_child(c.name, c.name_len, c.ns, c.ns_len);
    }
    lua_settop(L, top);
}

/* 1 if the disco#info result at index idx lists the self-ping
 * optimisation feature (<query xmlns=disco#info><feature var=.../>). */
int lists_self_ping_opt(lua_State *L, int idx)
{
    int top = lua_gettop(L), found = 0, queried = 0;
    lua_Integer i, j, n = 0, m = 0;
    struct child c, f;
    int got;
    int tags;

    /* two nested loops over children (the list, LOOP_SLACK, 5 of a turn
     * each: the child, its name, attrs and xmlns, a feature's var): more
     * than a C function's LUA_MINSTACK */
    if (!lua_checkstack(L, 2 * (1 + LOOP_SLACK + 5)))
        return 0;
    tags = push_tags(L, idx, &n);

    /* the first disco#info <query/> only, as the replay tool reads it */
    for (i = 1; tags != 0 && i <= n && !found && !queried; i++) {
        loop_turn(L, tags);
        if ((got = child_at(L, tags, i, &c)) == CHILD_END)
            break;
        if (!got)
            continue;
        child_ns(L, &c);
        if (LIT_EQ(c.name, c.name_len, "query") &&
            NS_CLASS(&c, NS_DISCO) == 1) {
            queried = 1;
            int ftags = push_tags(L, c.el, &m);
            for (j = 1; ftags != 0 && j <= m && !found; j++) {
                size_t len = 0;
                const char *var;
                loop_turn(L, ftags);
                if ((got = child_at(L, ftags, j, &f)) == CHILD_END)
                    break;
                if (!got)
                    continue;
                if (!LIT_EQ(f.name, f.name_len, "feature"))
                    continue;
                /* in the query's namespace: none given (inherited) or
                 * disco#info, as the replay tool reads it */
                child_ns(L, &f);
                if (NS_CLASS(&f, NS_DISCO) == 2)
                    continue;
                var = push_str(L, f.attrs, UV_VAR, &len);
                found = LIT_EQ(var, len, NS_SELF_PING_OPT);
                lua_settop(L, ftags);
            }
        }
        lua_settop(L, tags);
    }
    lua_settop(L, top);
    return found;
}

/* Building an mj_stanza view: the extraction rules every builder shares
 * (the Lua binding reading util.stanza tables, the replay tool reading
 * XML), so that one stanza means one thing everywhere. Where in the
 * document an element is (which <x/>, which child) is the builder's
 * business; what its name, type, status code or namespace means is
 * decided here. */
#include <string.h>

#include "classify.h"
#include "env.h"

#define LIT_EQ(s, n, lit)                                                     \
    ((s) != NULL && (n) == sizeof(lit) - 1 && memcmp((s), (lit), (n)) == 0)

MJ_HOT int mj_stanza_set_kind(mj_stanza *st, const char *name, size_t len)
{
    if (st == NULL)
        return 0;
    if (LIT_EQ(name, len, "presence"))
        st->kind = MJ_KIND_PRESENCE;
    else if (LIT_EQ(name, len, "message"))
        st->kind = MJ_KIND_MESSAGE;
    else if (LIT_EQ(name, len, "iq"))
        st->kind = MJ_KIND_IQ;
    else
        return 0;
    return 1;
}

MJ_HOT void mj_stanza_set_type(mj_stanza *st, const char *s, size_t n)
{
    if (st == NULL)
        return;
    if (s == NULL)
        st->type = st->kind == MJ_KIND_PRESENCE ? MJ_T_AVAILABLE : MJ_T_OTHER;
    else if (LIT_EQ(s, n, "error"))
        st->type = MJ_T_ERROR;
    else if (st->kind == MJ_KIND_PRESENCE)
        st->type = LIT_EQ(s, n, "unavailable") ? MJ_T_UNAVAILABLE : MJ_T_OTHER;
    else if (st->kind == MJ_KIND_MESSAGE)
        st->type = LIT_EQ(s, n, "groupchat") ? MJ_T_GROUPCHAT : MJ_T_OTHER;
    else if (LIT_EQ(s, n, "get"))
        st->type = MJ_T_GET;
    else if (LIT_EQ(s, n, "set"))
        st->type = MJ_T_SET;
    else
        st->type = LIT_EQ(s, n, "result") ? MJ_T_RESULT : MJ_T_OTHER;
}

void mj_stanza_error_read(mj_stanza *st)
{
    static const char undefined[] = "undefined-condition";

    if (st != NULL && st->error_condition.ptr == NULL) {
        st->error_condition.ptr = undefined;
        st->error_condition.len = sizeof undefined - 1;
    }
}

MJ_HOT void mj_stanza_add_status(mj_stanza *st, const char *s, size_t n)
{
    int code;
    size_t i;

    if (st == NULL)
        return;
    if (s == NULL || n != 3 || s[0] < '1' || s[0] > '9' || s[1] < '0' ||
        s[1] > '9' || s[2] < '0' || s[2] > '9') {
        st->status_malformed = 1;
        return;
    }
    code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    for (i = 0; i < st->nstatus && i < MJ_MAX_STATUS; i++)
        if (st->status[i] == code)
            return; /* a repeated code adds nothing */
    if (st->nstatus >= MJ_MAX_STATUS) {
        st->status_malformed = 1; /* more codes than a view holds */
        /* but one that decides takes the place of the last one that does
         * not: a 303 after sixteen informational codes is still a nick
         * change (once, it was dropped and the entry ended) */
        if (mj_status_decides(code))
            for (i = MJ_MAX_STATUS; i-- > 0;)
                if (!mj_status_decides(st->status[i])) {
                    st->status[i] = code;
                    break;
                }
        return;
    }
    st->status[st->nstatus++] = code;
}

int mj_stanza_content_ns(const char *ns, size_t len)
{
    return ns == NULL || LIT_EQ(ns, len, "jabber:client") ||
           LIT_EQ(ns, len, "jabber:server");
}

int mj_stanza_own_ns(const char *stanza_ns, size_t stanza_len, const char *ns,
                     size_t len)
{
    return ns == NULL || (stanza_ns != NULL && stanza_len == len &&
                          memcmp(stanza_ns, ns, len) == 0);
}

int mj_stanza_client_ns(const char *stanza_ns, size_t stanza_len,
                        const char *ns, size_t len)
{
    return mj_stanza_own_ns(stanza_ns, stanza_len, ns, len) ||
           LIT_EQ(ns, len, "jabber:client");
}

int mj_stanza_wake_child(const char *name, size_t name_len, const char *ns,
                         size_t ns_len)
{
    if (name == NULL || ns == NULL)
        return 0;
    if (LIT_EQ(ns, ns_len, "urn:xmpp:jingle-message:0") ||
        LIT_EQ(ns, ns_len, "urn:xmpp:jingle-message:1"))
        return 1;
    if (LIT_EQ(name, name_len, "invite")) /* a group call (XEP-0482) */
        return LIT_EQ(ns, ns_len, "urn:xmpp:call-invites:0");
    if (LIT_EQ(name, name_len, "encrypted"))
        return LIT_EQ(ns, ns_len, "eu.siacs.conversations.axolotl") ||
               LIT_EQ(ns, ns_len, "urn:xmpp:omemo:1") ||
               LIT_EQ(ns, ns_len, "urn:xmpp:omemo:2");
    if (LIT_EQ(name, name_len, "x"))
        return LIT_EQ(ns, ns_len, "jabber:x:encrypted") ||
               LIT_EQ(ns, ns_len, "jabber:x:conference");
    return (LIT_EQ(name, name_len, "encryption") &&
            LIT_EQ(ns, ns_len, "urn:xmpp:eme:0")) ||
           (LIT_EQ(name, name_len, "openpgp") &&
            LIT_EQ(ns, ns_len, "urn:xmpp:openpgp:0"));
}

/* Eight bytes with their ASCII capitals made small (bytes from 0x80 up
 * are left alone), a word at a time: a marker past the list's end is
 * compared with the message's from at ~1.5 instructions a byte instead of
 * ~15, since every delay marker a message carries is compared for every
 * recipient (an occupant's message may carry hundreds). */
static uint64_t lower8(uint64_t x)
{
    uint64_t h = x & 0x7f7f7f7f7f7f7f7fu;
    uint64_t above_z = h + 0x2525252525252525u; /* bit 7: h > 'Z' */
    uint64_t from_a = h + 0x3f3f3f3f3f3f3f3fu;  /* bit 7: h >= 'A' */
    uint64_t upper = ~x & (from_a ^ above_z) & 0x8080808080808080u;
    return x | (upper >> 2);
}

/* from (len bytes) equals the bare part of st->from, ASCII case ignored */
static int is_bare_from(const mj_stanza *st, const char *from, size_t len)
{
    const char *f = st->from.ptr, *slash;
    size_t n = st->from.len, i = 0;

    if (f == NULL)
        return 0;
    slash = memchr(f, '/', n);
    if (slash != NULL)
        n = (size_t)(slash - f);
    if (n != len)
        return 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, f + i, 8);
        memcpy(&b, from + i, 8);
        if (a != b && lower8(a) != lower8(b))
            return 0;
    }
    for (; i < n; i++) {
        unsigned char a = (unsigned char)f[i], b = (unsigned char)from[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a + ('a' - 'A'));
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b + ('a' - 'A'));
        if (a != b)
            return 0;
    }
    return 1;
}

int mj_stanza_add_delay(mj_stanza *st, const char *from, size_t len)
{
    if (st == NULL || from == NULL)
        return -1;
    if (st->ndelay < MJ_MAX_DELAY) {
        st->delay_from[st->ndelay].ptr = from;
        st->delay_from[st->ndelay].len = len;
        return (int)st->ndelay++;
    }
    if (!is_bare_from(st, from, len))
        return -1;
    st->delay_from[MJ_MAX_DELAY - 1].ptr = from;
    st->delay_from[MJ_MAX_DELAY - 1].len = len;
    return MJ_MAX_DELAY - 1;
}

/*
 * mucjoins-replay - replay an XMPP stanza trace through a mucjoins tracker
 * and print what it decided, stanza by stanza, then the rooms and nicks of
 * every session at the end of the trace.
 *
 * Built on the public API only (include/mucjoins.h), the way libexpat's
 * xmlwf is built on expat.h: if this tool needs something the header does
 * not offer, the API is missing it. The trace format, the output and the
 * exit codes are described in docs/mucjoins-replay.1.
 *
 * Input is never trusted: the trace is limited in size (MAX_TRACE_BYTES),
 * in element depth (MAX_DEPTH) and in the memory one stanza may take
 * (MAX_STANZA_BYTES); a DOCTYPE is refused (no entity games); every string
 * printed is escaped so that a trace cannot forge output lines.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <expat.h>

#include "mucjoins.h"

#define PROG             "mucjoins-replay"
#define MAX_TRACE_BYTES  ((size_t)16 * 1024 * 1024)
#define MAX_DEPTH        64
#define MAX_STANZA_BYTES ((size_t)1024 * 1024)
#define MAX_SECONDS      1e9
#define JID_BUF          (3 * 1023 + 3)
#define NS_SEP           '\x01'

#define EXIT_FAIL  1 /* the tracker failed, or output could not be written */
#define EXIT_INPUT 2 /* bad command line or bad trace */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static const char NS_MUC[] = "http://jabber.org/protocol/muc";
static const char NS_MUC_USER[] = "http://jabber.org/protocol/muc#user";
static const char NS_STANZAS[] = "urn:ietf:params:xml:ns:xmpp-stanzas";
static const char NS_DELAY[] = "urn:xmpp:delay";
static const char NS_X_DELAY[] = "jabber:x:delay";
static const char NS_REFERENCE[] = "urn:xmpp:reference:0";
static const char NS_PING[] = "urn:xmpp:ping";

/* The id prefix of the self-pings mod_track_muc_joins sends for a
 * PING_NEEDED event: "mjping-<ping_id>-<salt>". An iq result or error the
 * session receives with such an id is the answer to that ping. */
#define PING_ID_PREFIX "mjping-"
/* ... and when the core needs the room's disco#info to settle an answer
 * (mj_session_ping_needs_features), the module asks it with the iq id
 * "mjdisco-<ping_id>-<salt>": its reply settles the held answer. */
#define DISCO_ID_PREFIX "mjdisco-"
#define NS_DISCO_INFO   "http://jabber.org/protocol/disco#info"
#define NS_SELF_PING_OPT                                                      \
    "http://jabber.org/protocol/muc#self-ping-optimization"
#define MAX_HELD 16

/* Bytes of a message body shown on a line. */
#define BODY_SHOWN 60

/* ---------------------------------------------------------------------- */
/* Memory and growable strings                                             */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fflush(stdout);
        fputs(PROG ": out of memory\n", stderr);
        exit(EXIT_FAIL);
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xrealloc(NULL, n);
    memcpy(p, s, n);
    return p;
}

struct buf {
    char *p;
    size_t len, cap;
};

/* Make room for n more bytes and the terminating NUL. */
static void buf_reserve(struct buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;

    if (b->cap - b->len > n)
        return;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            fflush(stdout);
            fputs(PROG ": out of memory\n", stderr);
            exit(EXIT_FAIL);
        }
        cap *= 2;
    }
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_put(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void buf_reset(struct buf *b)
{
    b->len = 0;
    buf_put(b, "", 0);
}

PRINTF_LIKE(2, 3)
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        buf_put(b, tmp, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---------------------------------------------------------------------- */
/* Escaping: a value is printed bare when it is plain printable text, else
 * in double quotes with C-like escapes. Bytes that are not UTF-8, C0/C1
 * controls and line or bidi controls never reach the terminal raw.        */

/* Length of the valid UTF-8 sequence at s (code point in *cp), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c;
    size_t len, i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        c = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        c = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        c = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Code points shown escaped: controls, line separators, bidi controls. */
static int cp_unsafe(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
           (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

static int needs_quotes(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    if (n == 0)
        return 1;
    while (i < n) {
        uint32_t c;
        size_t k = utf8_seq(u + i, n - i, &c);
        if (k == 0 || cp_unsafe(c) || c == ' ' || c == '"' || c == '\\')
            return 1;
        i += k;
    }
    return 0;
}

/* Append s escaped (no quotes added). */
static void buf_escaped(struct buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        uint32_t c;
        size_t k = utf8_seq(u + i, n - i, &c);
        if (k == 0) {
            buf_printf(b, "\\x%02x", u[i]);
            k = 1;
        } else if (c == '"' || c == '\\') {
            buf_put(b, "\\", 1);
            buf_put(b, s + i, 1);
        } else if (c == '\n') {
            buf_puts(b, "\\n");
        } else if (c == '\r') {
            buf_puts(b, "\\r");
        } else if (c == '\t') {
            buf_puts(b, "\\t");
        } else if (c < 0x80 && cp_unsafe(c)) {
            buf_printf(b, "\\x%02x", (unsigned)c);
        } else if (cp_unsafe(c)) {
            buf_printf(b, "\\u{%04x}", (unsigned)c);
        } else {
            buf_put(b, s + i, k);
        }
        i += k;
    }
}

static void buf_value(struct buf *b, const char *s, size_t n)
{
    if (!needs_quotes(s, n)) {
        buf_put(b, s, n);
        return;
    }
    buf_put(b, "\"", 1);
    buf_escaped(b, s, n);
    buf_put(b, "\"", 1);
}

/* " key=value" when the string is present. */
static void buf_kv(struct buf *b, const char *key, mj_str v)
{
    if (v.ptr == NULL)
        return;
    buf_printf(b, " %s=", key);
    buf_value(b, v.ptr, v.len);
}

static mj_str str_of(const char *s)
{
    mj_str r;
    r.ptr = s;
    r.len = s ? strlen(s) : 0;
    return r;
}

/* ---------------------------------------------------------------------- */
/* The stored copy of one stanza                                           */

struct node {
    char *name;        /* expat's "uri\1local", or "local" without a ns */
    const char *local; /* into name */
    size_t ns_len;     /* bytes of the namespace URI in name (0: none) */
    char **attrs;      /* copies: name, value, ..., NULL */
    struct buf text;   /* direct character data */
    unsigned long line;
    struct node *parent, *first, *last, *next;
};

static void node_free(struct node *n)
{
    struct node *c, *next;
    char **a;

    if (n == NULL)
        return;
    for (c = n->first; c != NULL; c = next) {
        next = c->next;
        node_free(c);
    }
    if (n->attrs != NULL)
        for (a = n->attrs; *a != NULL; a++)
            free(*a);
    free(n->attrs);
    free(n->text.p);
    free(n->name);
    free(n);
}

static int node_is(const struct node *n, const char *ns, const char *local)
{
    size_t ns_len = strlen(ns);
    return n->ns_len == ns_len && memcmp(n->name, ns, ns_len) == 0 &&
           strcmp(n->local, local) == 0;
}

/* A stanza-level element (<body/>, <subject/>, <error/>): the library's
 * rule (mj_stanza_content_ns()). */
static int node_in_client_ns(const struct node *n)
{
    return mj_stanza_content_ns(n->ns_len ? n->name : NULL, n->ns_len);
}

static const struct node *node_child(const struct node *n, const char *ns,
                                     const char *local)
{
    const struct node *c;
    for (c = n->first; c != NULL; c = c->next)
        if (node_is(c, ns, local))
            return c;
    return NULL;
}

/* An attribute without namespace, or NULL. */
static const char *node_attr(const struct node *n, const char *name)
{
    char **a;
    for (a = n->attrs; *a != NULL; a += 2)
        if (strcmp(a[0], name) == 0)
            return a[1];
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Sessions in order of first appearance (keyed by the prepared JID)       */

struct sess {
    char *given; /* first spelling seen */
    char *prep;
    size_t prep_len;
    unsigned long closed_line; /* 0: open */
};

struct sess_list {
    struct sess *v;
    size_t n, cap;
    size_t *slots; /* open addressing: index + 1, 0 empty */
    size_t nslots;
    uint64_t seed;
};

static uint64_t hash_bytes(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u ^ seed;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    return h;
}

static void sess_rehash(struct sess_list *l, size_t nslots)
{
    size_t i;
    free(l->slots);
    l->slots = xrealloc(NULL, nslots * sizeof *l->slots);
    memset(l->slots, 0, nslots * sizeof *l->slots);
    l->nslots = nslots;
    for (i = 0; i < l->n; i++) {
        size_t j = (size_t)hash_bytes(l->seed, l->v[i].prep, l->v[i].prep_len);
        while (l->slots[j & (nslots - 1)] != 0)
            j++;
        l->slots[j & (nslots - 1)] = i + 1;
    }
}

static struct sess *sess_get(struct sess_list *l, const char *given,
                             const char *prep, size_t prep_len)
{
    size_t j, k;
    struct sess *e;

    if (l->nslots != 0) {
        j = (size_t)hash_bytes(l->seed, prep, prep_len);
        while ((k = l->slots[j & (l->nslots - 1)]) != 0) {
            e = &l->v[k - 1];
            if (e->prep_len == prep_len &&
                memcmp(e->prep, prep, prep_len) == 0)
                return e;
            j++;
        }
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    e = &l->v[l->n++];
    e->given = xstrdup(given);
    e->prep = xrealloc(NULL, prep_len + 1);
    memcpy(e->prep, prep, prep_len);
    e->prep[prep_len] = '\0';
    e->prep_len = prep_len;
    e->closed_line = 0;
    if (l->n * 2 > l->nslots) {
        sess_rehash(l, l->nslots ? l->nslots * 2 : 16);
    } else {
        j = (size_t)hash_bytes(l->seed, prep, prep_len);
        while (l->slots[j & (l->nslots - 1)] != 0)
            j++;
        l->slots[j & (l->nslots - 1)] = l->n;
    }
    return e;
}

static void sess_list_free(struct sess_list *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) {
        free(l->v[i].given);
        free(l->v[i].prep);
    }
    free(l->v);
    free(l->slots);
}

/* ---------------------------------------------------------------------- */
/* The replay                                                              */

enum wrapper { W_NONE, W_IN, W_OUT, W_CLOSE, W_TICK, W_LINK_LOST };

struct replay {
    XML_Parser parser;
    mj_tracker *tr;
    double now; /* the fake clock, seconds since the trace started */
    int quiet;
    int verbose;

    unsigned depth;
    enum wrapper wrapper;
    char *session;  /* the wrapper's session attribute */
    double seconds; /* the tick's seconds attribute */
    int optimized;  /* <in optimized=''>: 1, 0, -1 unknown */
    struct held {   /* ping answers waiting for the room's disco#info */
        mj_session *s;
        uint32_t ping_id;
        struct node *answer;
    } held[MAX_HELD];
    size_t nheld;
    unsigned long wline; /* the wrapper's line */
    struct node *stanza; /* the stanza being stored */
    struct node *cur;    /* the element being stored (NULL: none open) */
    size_t stanza_bytes;

    mj_session *cur_session; /* the session of the line being printed */
    struct buf line;         /* the line being printed */
    struct buf events;       /* event lines fired by the current call */
    struct buf tmp;
    struct sess_list sessions;
    int lib_failed;

    int failed; /* a trace error: stop parsing */
    int fail_code;
    char msg[512];
    unsigned long err_line, err_col;
};

PRINTF_LIKE(3, 4)
static void fail(struct replay *r, int code, const char *fmt, ...)
{
    va_list ap;

    if (r->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->failed = 1;
    r->fail_code = code;
    r->err_line = (unsigned long)XML_GetCurrentLineNumber(r->parser);
    r->err_col = (unsigned long)XML_GetCurrentColumnNumber(r->parser) + 1;
    XML_StopParser(r->parser, XML_FALSE);
}

/* An element name for messages: local, or {namespace}local; escaped. */
static const char *shown_name(struct replay *r, const char *name)
{
    const char *sep = strchr(name, NS_SEP);

    buf_reset(&r->tmp);
    if (sep != NULL) {
        buf_put(&r->tmp, "{", 1);
        buf_escaped(&r->tmp, name, (size_t)(sep - name));
        buf_put(&r->tmp, "}", 1);
        name = sep + 1;
    }
    buf_escaped(&r->tmp, name, strlen(name));
    return r->tmp.p;
}

static const char *shown_value(struct replay *r, const char *s)
{
    buf_reset(&r->tmp);
    buf_value(&r->tmp, s, strlen(s));
    return r->tmp.p;
}

static void flush_line(struct replay *r)
{
    if (!r->quiet) {
        fwrite(r->line.p, 1, r->line.len, stdout);
        fwrite(r->events.p, 1, r->events.len, stdout);
    }
    buf_reset(&r->line);
    buf_reset(&r->events);
}

/* Events arrive during a feed, tick or close call: format them now (their
 * strings live only during the callback), print them after the line. */
static void on_event(void *ud, const mj_event *ev)
{
    struct replay *r = ud;
    struct buf *b = &r->events;

    buf_puts(b, "           * ");
    buf_puts(b, mj_event_name(ev->type));
    if (ev->session != r->cur_session)
        buf_kv(b, "session", ev->session_jid);
    buf_kv(b, "room", ev->room);
    buf_kv(b, ev->type == MJ_EV_NICK_REWRITTEN ? "asked" : "old-nick",
           ev->old_nick);
    buf_kv(b, "nick", ev->nick);
    buf_kv(b, "from-nick", ev->from_nick);
    if (ev->reason != MJ_R_NONE)
        buf_printf(b, " reason=%s", mj_reason_name(ev->reason));
    buf_kv(b, "condition", ev->condition);
    buf_kv(b, "text", ev->text);
    buf_kv(b, "alt-venue", ev->alt_venue);
    if (ev->type == MJ_EV_PING_NEEDED)
        buf_printf(b, " ping-id=%lu (iq id " PING_ID_PREFIX "%lu-...)",
                   (unsigned long)ev->ping_id, (unsigned long)ev->ping_id);
    buf_put(b, "\n", 1);
}

static void on_log(void *ud, mj_log_level level, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct replay *r = ud;
    struct buf b = {0};

    if (!r->verbose)
        return;
    buf_printf(&b,
               PROG ": log %s: ", (unsigned)level < 4 ? names[level] : "?");
    buf_escaped(&b, msg, strlen(msg));
    buf_put(&b, "\n", 1);
    fflush(stdout);
    fputs(b.p, stderr);
    free(b.p);
}

static double fake_clock(void *ud)
{
    return ((struct replay *)ud)->now;
}

/* Find or open (create) the session of a wrapper; NULL on a trace error,
 * or when !create and the tracker has no such session (*entry set). */
static mj_session *get_session(struct replay *r, int create,
                               struct sess **entry)
{
    char prep[JID_BUF];
    size_t prep_len = 0;
    size_t len = strlen(r->session);
    mj_session *s = NULL;
    int rc;

    *entry = NULL;
    rc = mj_jid_prep(r->session, len, prep, sizeof prep, &prep_len);
    if (rc == MJ_OK) {
        *entry = sess_get(&r->sessions, r->session, prep, prep_len);
        rc = create ? mj_session_open(r->tr, r->session, len, &s)
                    : mj_session_find(r->tr, r->session, len, &s);
    }
    if (rc == MJ_ENOTFOUND && !create)
        return NULL;
    if (rc != MJ_OK) {
        fail(r, rc == MJ_ENOMEM ? EXIT_FAIL : EXIT_INPUT,
             "session %s is not usable as a full JID: %s (%s)",
             shown_value(r, r->session), mj_strerror(rc), mj_error_name(rc));
        return NULL;
    }
    if (create)
        (*entry)->closed_line = 0;
    return s;
}

static mj_str node_text(const struct node *n)
{
    mj_str r;
    r.ptr = n->text.p ? n->text.p : "";
    r.len = n->text.len;
    return r;
}

/* The message part of the view (mentions, SPEC 6): first <body/>,
 * <subject/>, delays with a from, mention references with a uri. */
static void fill_message(const struct node *n, mj_stanza *st)
{
    const struct node *c;

    for (c = n->first; c != NULL; c = c->next) {
        const char *v;

        if (node_in_client_ns(c) && strcmp(c->local, "body") == 0) {
            if (st->body.ptr == NULL)
                st->body = node_text(c);
        } else if (node_in_client_ns(c) && strcmp(c->local, "subject") == 0) {
            st->has_subject = 1;
        } else if (node_in_client_ns(c) && strcmp(c->local, "thread") == 0) {
            st->has_thread = 1;
        } else if (node_is(c, NS_DELAY, "delay") ||
                   node_is(c, NS_X_DELAY, "x")) {
            v = node_attr(c, "from");
            if (v != NULL && st->ndelay < MJ_MAX_DELAY)
                st->delay_from[st->ndelay++] = str_of(v);
        } else if (node_is(c, NS_REFERENCE, "reference")) {
            const char *type = node_attr(c, "type");
            v = node_attr(c, "uri");
            if (type != NULL && strcmp(type, "mention") == 0 && v != NULL &&
                st->nmentions < MJ_MAX_REFS)
                st->mention_uri[st->nmentions++] = str_of(v);
        }
    }
}

/* Fill the view from the stored element. Strings point into n. */
static void fill_view(const struct node *n, mj_stanza *st)
{
    const struct node *x, *c, *e;
    const char *type = node_attr(n, "type");

    mj_stanza_init(st);
    if (!mj_stanza_set_kind(st, n->local, strlen(n->local)))
        st->kind = MJ_KIND_PRESENCE; /* the reader passes no other */
    mj_stanza_set_type(st, type, type ? strlen(type) : 0);

    st->from = str_of(node_attr(n, "from"));
    st->to = str_of(node_attr(n, "to"));
    st->id = str_of(node_attr(n, "id"));
    st->has_muc_x = node_child(n, NS_MUC, "x") != NULL;

    x = node_child(n, NS_MUC_USER, "x");
    if (x != NULL) {
        st->has_muc_user = 1;
        for (c = x->first; c != NULL; c = c->next) {
            const char *code;

            if (!node_is(c, NS_MUC_USER, "status"))
                continue;
            code = node_attr(c, "code");
            mj_stanza_add_status(st, code, code ? strlen(code) : 0);
        }
        c = node_child(x, NS_MUC_USER, "item");
        if (c != NULL)
            st->item_nick = str_of(node_attr(c, "nick"));
        c = node_child(x, NS_MUC_USER, "destroy");
        if (c != NULL) {
            st->has_destroy = 1;
            st->destroy_jid = str_of(node_attr(c, "jid"));
            e = node_child(c, NS_MUC_USER, "reason");
            if (e != NULL)
                st->destroy_reason = node_text(e);
        }
    }

    if (st->kind == MJ_KIND_MESSAGE)
        fill_message(n, st);
    if (st->kind == MJ_KIND_IQ)
        st->has_ping = node_child(n, NS_PING, "ping") != NULL;

    if (st->type == MJ_T_ERROR) {
        for (e = n->first; e != NULL; e = e->next)
            if (strcmp(e->local, "error") == 0 && node_in_client_ns(e))
                break;
        if (e != NULL) {
            st->error_type = str_of(node_attr(e, "type"));
            st->error_by = str_of(node_attr(e, "by"));
            for (c = e->first; c != NULL; c = c->next) {
                if (c->ns_len == sizeof NS_STANZAS - 1 &&
                    memcmp(c->name, NS_STANZAS, c->ns_len) == 0 &&
                    strcmp(c->local, "text") != 0) {
                    st->error_condition = str_of(c->local);
                    break;
                }
            }
        }
    }
}

/* "presence type=unavailable from=room/nick x=muc#user status=110,307" */
static void describe(struct buf *b, const struct node *n, const mj_stanza *st,
                     int outgoing)
{
    size_t i;

    buf_puts(b, n->local);
    buf_kv(b, "type", str_of(node_attr(n, "type")));
    if (outgoing) {
        if (st->to.ptr != NULL)
            buf_kv(b, "to", st->to);
        else if (st->kind == MJ_KIND_PRESENCE)
            buf_puts(b, " broadcast");
    } else {
        buf_kv(b, "from", st->from);
    }
    buf_kv(b, "id", st->id);
    if (st->has_muc_x)
        buf_puts(b, " x=muc");
    if (st->has_muc_user)
        buf_puts(b, " x=muc#user");
    for (i = 0; i < st->nstatus; i++)
        buf_printf(b, "%s%d", i ? "," : " status=", st->status[i]);
    if (st->status_malformed)
        buf_puts(b, " status-malformed");
    buf_kv(b, "item-nick", st->item_nick);
    if (st->has_destroy)
        buf_puts(b, " destroy");
    buf_kv(b, "destroy-jid", st->destroy_jid);
    buf_kv(b, "destroy-reason", st->destroy_reason);
    if (st->has_ping)
        buf_puts(b, " ping");
    if (st->has_subject)
        buf_puts(b, " subject");
    if (st->body.ptr != NULL) {
        size_t len = st->body.len;

        buf_puts(b, " body=");
        if (len <= BODY_SHOWN) {
            buf_value(b, st->body.ptr, len);
        } else {
            len = BODY_SHOWN; /* cut on a UTF-8 character boundary */
            while (len > 0 && (st->body.ptr[len] & 0xc0) == 0x80)
                len--;
            buf_put(b, "\"", 1);
            buf_escaped(b, st->body.ptr, len);
            buf_printf(b, "\"...(%zu bytes)", st->body.len);
        }
    }
    for (i = 0; i < st->ndelay; i++)
        buf_kv(b, "delay-from", st->delay_from[i]);
    for (i = 0; i < st->nmentions; i++)
        buf_kv(b, "mention-uri", st->mention_uri[i]);
    if (st->type == MJ_T_ERROR) {
        if (st->error_condition.ptr != NULL)
            buf_kv(b, "error", st->error_condition);
        else
            buf_puts(b, " error=?");
        buf_kv(b, "error-type", st->error_type);
        buf_kv(b, "error-by", st->error_by);
    }
}

static void line_head(struct replay *r, unsigned long line, const char *what,
                      const char *session)
{
    buf_reset(&r->line);
    buf_reset(&r->events);
    buf_printf(&r->line, "%4lu %-5s", line, what);
    if (session != NULL) {
        buf_put(&r->line, " ", 1);
        buf_value(&r->line, session, strlen(session));
    }
}

/* The ping id in an iq id "<prefix><n>" or "<prefix><n>-<salt>"; 0 if the
 * id is not one. */
static uint32_t id_number(mj_str id, const char *prefix)
{
    size_t n = strlen(prefix), i;
    uint32_t v = 0;

    if (id.ptr == NULL || id.len <= n || memcmp(id.ptr, prefix, n))
        return 0;
    for (i = n; i < id.len && id.ptr[i] != '-'; i++) {
        if (id.ptr[i] < '0' || id.ptr[i] > '9' || v > (UINT32_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint32_t)(id.ptr[i] - '0');
    }
    return i > n ? v : 0;
}

static uint32_t ping_id_of(mj_str id)
{
    return id_number(id, PING_ID_PREFIX);
}

/* Does a disco#info result list the self-ping optimisation feature? */
static int lists_self_ping_opt(const struct node *n)
{
    const struct node *q = node_child(n, NS_DISCO_INFO, "query"), *f;
    const char *var;
    for (f = q ? q->first : NULL; f != NULL; f = f->next)
        if (node_is(f, NS_DISCO_INFO, "feature") &&
            (var = node_attr(f, "var")) != NULL &&
            strcmp(var, NS_SELF_PING_OPT) == 0)
            return 1;
    return 0;
}

/* Keep the answer to ping_id (the stanza being replayed) until the
 * room's disco#info reply comes. */
static void hold_answer(struct replay *r, mj_session *s, uint32_t ping_id)
{
    if (r->nheld == MAX_HELD) { /* the oldest is forgotten */
        node_free(r->held[0].answer);
        memmove(r->held, r->held + 1, (MAX_HELD - 1) * sizeof r->held[0]);
        r->nheld--;
    }
    r->held[r->nheld].s = s;
    r->held[r->nheld].ping_id = ping_id;
    r->held[r->nheld].answer = r->stanza;
    r->nheld++;
    r->stanza = NULL; /* owned by held[] now */
}

/* The room's disco#info reply to the module's "mjdisco-<n>" query:
 * settles the held answer to ping n. */
static void do_disco_reply(struct replay *r, mj_session *s, uint32_t id,
                           const mj_stanza *st)
{
    mj_ping_verdict v = MJ_PING_STALE;
    mj_stanza ans;
    size_t i;
    int rc;

    for (i = 0; i < r->nheld; i++)
        if (r->held[i].s == s && r->held[i].ping_id == id)
            break;
    if (i == r->nheld) {
        buf_puts(&r->line, " => disco-answer for no held ping answer\n");
        return;
    }
    fill_view(r->held[i].answer, &ans);
    rc = mj_session_ping_answer_info(s, id, &ans, st,
                                     lists_self_ping_opt(r->stanza), &v);
    if (rc == MJ_OK) {
        buf_printf(&r->line, " => ping-answer %s (settled by disco#info)\n",
                   mj_ping_verdict_name(v));
    } else {
        buf_printf(&r->line, " => error %s (%s)\n", mj_error_name(rc),
                   mj_strerror(rc));
        r->lib_failed = 1;
    }
    node_free(r->held[i].answer);
    memmove(r->held + i, r->held + i + 1,
            (r->nheld - i - 1) * sizeof r->held[0]);
    r->nheld--;
}

/* What the module does with an iq the session receives before the client
 * sees it: consume the answer to its self-ping (asking the room's
 * disco#info first when the core needs it), answer a ping the room
 * forwards. Returns 1 when the iq was handled so (line finished). */
static int do_ping_iq(struct replay *r, mj_session *s, const mj_stanza *st)
{
    uint32_t ping_id = ping_id_of(st->id);
    uint32_t disco_id = id_number(st->id, DISCO_ID_PREFIX);
    mj_ping_verdict v = MJ_PING_STALE;
    int rc;

    if (disco_id != 0 && (st->type == MJ_T_RESULT || st->type == MJ_T_ERROR)) {
        do_disco_reply(r, s, disco_id, st);
        return 1;
    }
    if (ping_id != 0 && (st->type == MJ_T_RESULT || st->type == MJ_T_ERROR) &&
        r->optimized < 0 && mj_session_ping_needs_features(s, ping_id, st)) {
        buf_printf(&r->line,
                   " => ping-answer held: asks the room's disco#info (iq id "
                   "%s%u-...)\n",
                   DISCO_ID_PREFIX, (unsigned)ping_id);
        hold_answer(r, s, ping_id);
        return 1;
    }
    if (ping_id != 0 && (st->type == MJ_T_RESULT || st->type == MJ_T_ERROR)) {
        rc = mj_session_ping_answer(s, ping_id, st, r->optimized, &v);
        if (rc == MJ_OK) {
            buf_printf(&r->line, " => ping-answer %s\n",
                       mj_ping_verdict_name(v));
        } else {
            buf_printf(&r->line, " => error %s (%s)\n", mj_error_name(rc),
                       mj_strerror(rc));
            r->lib_failed = 1;
        }
        return 1;
    }
    if (mj_session_is_forwarded_ping(s, st)) {
        buf_puts(&r->line, " => forwarded-ping (answered for the session)\n");
        return 1;
    }
    return 0;
}

static void do_stanza(struct replay *r)
{
    struct node *n = r->stanza;
    int outgoing = r->wrapper == W_OUT;
    struct sess *entry;
    mj_stanza st;
    mj_outcome out = MJ_O_UNCHANGED;
    mj_session *s;
    int rc;

    s = get_session(r, 1, &entry);
    if (s == NULL)
        return;
    fill_view(n, &st);
    line_head(r, n->line, outgoing ? "out" : "in", r->session);
    buf_put(&r->line, "  ", 2);
    describe(&r->line, n, &st, outgoing);
    r->cur_session = s;
    if (!outgoing && st.kind == MJ_KIND_IQ && do_ping_iq(r, s, &st)) {
        r->cur_session = NULL;
        flush_line(r);
        return;
    }
    if (!outgoing && st.kind == MJ_KIND_MESSAGE) {
        /* what the message is to the session (mentions, CSI), judged in
         * the state the incoming call will see */
        mj_msg_class cls = MJ_M_OTHER;

        rc = mj_session_message(s, &st, &cls);
        if (rc == MJ_OK)
            buf_printf(&r->line, " class=%s", mj_msg_class_name(cls));
        else
            buf_printf(&r->line, " class=error:%s", mj_error_name(rc));
    }
    rc = outgoing ? mj_session_outgoing(s, &st, &out)
                  : mj_session_incoming(s, &st, &out);
    r->cur_session = NULL;
    if (rc == MJ_OK) {
        buf_printf(&r->line, " => %s\n", mj_outcome_name(out));
    } else {
        buf_printf(&r->line, " => error %s (%s)\n", mj_error_name(rc),
                   mj_strerror(rc));
        r->lib_failed = 1;
    }
    flush_line(r);
}

static void do_close(struct replay *r)
{
    struct sess *entry;
    mj_session *s = get_session(r, 0, &entry);

    if (r->failed)
        return;
    line_head(r, r->wline, "close", r->session);
    if (s == NULL) {
        buf_puts(&r->line, "  (no such session)\n");
    } else {
        buf_put(&r->line, "\n", 1);
        r->cur_session = s;
        mj_session_close(s);
        r->cur_session = NULL;
    }
    if (entry != NULL)
        entry->closed_line = r->wline;
    flush_line(r);
}

static void do_tick(struct replay *r)
{
    r->now += r->seconds;
    line_head(r, r->wline, "tick", NULL);
    buf_printf(&r->line, " +%gs now=%gs\n", r->seconds, r->now);
    mj_tracker_tick(r->tr);
    flush_line(r);
}

/* A server-to-server link (or a component) went down: the tracker
 * schedules self-pings of the rooms on that domain. */
static void do_link_lost(struct replay *r)
{
    int rc;

    line_head(r, r->wline, "link-lost", NULL);
    buf_puts(&r->line, " domain=");
    buf_value(&r->line, r->session, strlen(r->session));
    rc = mj_tracker_link_lost(r->tr, r->session, strlen(r->session));
    if (rc == MJ_OK) {
        buf_put(&r->line, "\n", 1);
    } else {
        buf_printf(&r->line, " => error %s (%s)\n", mj_error_name(rc),
                   mj_strerror(rc));
        if (rc == MJ_ENOMEM)
            r->lib_failed = 1;
    }
    flush_line(r);
}

/* Seconds: digits, optionally a dot and digits; at most MAX_SECONDS. */
static int parse_seconds(const char *s, double *out)
{
    const char *p = s;
    size_t int_digits = 0, frac_digits = 0;

    while (*p >= '0' && *p <= '9') {
        p++;
        int_digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            frac_digits++;
        }
        if (frac_digits == 0)
            return -1;
    }
    if (*p != '\0' || int_digits == 0 || int_digits > 10 || frac_digits > 9)
        return -1;
    *out = strtod(s, NULL);
    return *out <= MAX_SECONDS ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* expat handlers                                                          */

static void start_trace(struct replay *r, const char *name)
{
    if (strcmp(name, "trace") != 0)
        fail(r, EXIT_INPUT, "the root element must be <trace>, not <%s>",
             shown_name(r, name));
}

static void start_wrapper(struct replay *r, const char *name,
                          const char **atts)
{
    const char *session = NULL, *seconds = NULL, *domain = NULL;
    const char *optimized = NULL;
    size_t i;

    r->wline = (unsigned long)XML_GetCurrentLineNumber(r->parser);
    if (strcmp(name, "in") == 0) {
        r->wrapper = W_IN;
    } else if (strcmp(name, "out") == 0) {
        r->wrapper = W_OUT;
    } else if (strcmp(name, "close") == 0) {
        r->wrapper = W_CLOSE;
    } else if (strcmp(name, "tick") == 0) {
        r->wrapper = W_TICK;
    } else if (strcmp(name, "link-lost") == 0) {
        r->wrapper = W_LINK_LOST;
    } else {
        fail(r, EXIT_INPUT,
             "unknown element <%s> in <trace> (expected <in>, <out>, "
             "<close>, <tick> or <link-lost>)",
             shown_name(r, name));
        return;
    }
    r->optimized = -1;
    for (i = 0; atts[i] != NULL; i += 2) {
        if (strcmp(atts[i], "session") == 0)
            session = atts[i + 1];
        else if (strcmp(atts[i], "seconds") == 0)
            seconds = atts[i + 1];
        else if (strcmp(atts[i], "domain") == 0)
            domain = atts[i + 1];
        else if (strcmp(atts[i], "optimized") == 0)
            optimized = atts[i + 1];
    }
    if (optimized != NULL && r->wrapper == W_IN) {
        if (strcmp(optimized, "yes") == 0) {
            r->optimized = 1;
        } else if (strcmp(optimized, "no") == 0) {
            r->optimized = 0;
        } else {
            fail(r, EXIT_INPUT, "<in optimized=%s>: expected yes or no",
                 shown_value(r, optimized));
            return;
        }
    }
    if (r->wrapper == W_LINK_LOST) {
        if (domain == NULL)
            fail(r, EXIT_INPUT, "<link-lost> needs a domain attribute");
        else
            r->session = xstrdup(domain); /* freed with the wrapper */
        return;
    }

    if (r->wrapper == W_TICK) {
        if (seconds == NULL) {
            fail(r, EXIT_INPUT, "<tick> needs a seconds attribute");
        } else if (parse_seconds(seconds, &r->seconds) != 0) {
            fail(r, EXIT_INPUT,
                 "<tick seconds=%s>: not a number of seconds from 0 to %g",
                 shown_value(r, seconds), MAX_SECONDS);
        }
        return;
    }
    if (session == NULL) {
        fail(r, EXIT_INPUT, "<%s> needs a session attribute", name);
        return;
    }
    r->session = xstrdup(session);
}

static struct node *new_node(struct replay *r, const char *name,
                             const char **atts)
{
    struct node *n;
    const char *sep;
    size_t i, nat, cost;

    for (nat = 0; atts[nat] != NULL; nat++)
        ;
    cost = sizeof *n + strlen(name) + 1 + (nat + 1) * sizeof(char *);
    for (i = 0; i < nat; i++)
        cost += strlen(atts[i]) + 1;
    r->stanza_bytes += cost;
    if (r->stanza_bytes > MAX_STANZA_BYTES) {
        fail(r, EXIT_INPUT, "stanza too large (over %zu KiB in memory)",
             MAX_STANZA_BYTES / 1024);
        return NULL;
    }
    n = xrealloc(NULL, sizeof *n);
    memset(n, 0, sizeof *n);
    n->name = xstrdup(name);
    sep = strchr(n->name, NS_SEP);
    n->ns_len = sep ? (size_t)(sep - n->name) : 0;
    n->local = sep ? sep + 1 : n->name;
    n->attrs = xrealloc(NULL, (nat + 1) * sizeof(char *));
    for (i = 0; i < nat; i++)
        n->attrs[i] = xstrdup(atts[i]);
    n->attrs[nat] = NULL;
    n->line = (unsigned long)XML_GetCurrentLineNumber(r->parser);
    return n;
}

static void start_stanza(struct replay *r, const char *name, const char **atts)
{
    const char *wname = r->wrapper == W_IN ? "in" : "out";
    struct node *n;

    if (r->wrapper == W_CLOSE || r->wrapper == W_TICK ||
        r->wrapper == W_LINK_LOST) {
        fail(r, EXIT_INPUT, "<%s> must be empty",
             r->wrapper == W_CLOSE  ? "close"
             : r->wrapper == W_TICK ? "tick"
                                    : "link-lost");
        return;
    }
    if (r->stanza != NULL) {
        fail(r, EXIT_INPUT, "<%s> holds more than one stanza", wname);
        return;
    }
    n = new_node(r, name, atts);
    if (n == NULL)
        return;
    if (!node_in_client_ns(n) ||
        (strcmp(n->local, "presence") != 0 &&
         strcmp(n->local, "message") != 0 && strcmp(n->local, "iq") != 0)) {
        fail(r, EXIT_INPUT,
             "<%s> in <%s> is not a stanza (expected <presence>, "
             "<message> or <iq> in jabber:client or no namespace)",
             shown_name(r, name), wname);
        node_free(n);
        return;
    }
    r->stanza = n;
    r->cur = n;
}

static void start_child(struct replay *r, const char *name, const char **atts)
{
    struct node *n = new_node(r, name, atts);

    if (n == NULL)
        return;
    n->parent = r->cur;
    if (r->cur->last != NULL)
        r->cur->last->next = n;
    else
        r->cur->first = n;
    r->cur->last = n;
    r->cur = n;
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **atts)
{
    struct replay *r = ud;

    if (r->failed)
        return;
    if (r->depth >= MAX_DEPTH) {
        fail(r, EXIT_INPUT, "elements nested deeper than %d", MAX_DEPTH);
        return;
    }
    r->depth++;
    switch (r->depth) {
    case 1:
        start_trace(r, name);
        break;
    case 2:
        start_wrapper(r, name, atts);
        break;
    case 3:
        start_stanza(r, name, atts);
        break;
    default:
        start_child(r, name, atts);
        break;
    }
}

static void end_wrapper(struct replay *r)
{
    switch (r->wrapper) {
    case W_IN:
    case W_OUT:
        if (r->stanza == NULL)
            fail(r, EXIT_INPUT, "<%s> holds no stanza",
                 r->wrapper == W_IN ? "in" : "out");
        else
            do_stanza(r);
        break;
    case W_CLOSE:
        do_close(r);
        break;
    case W_TICK:
        do_tick(r);
        break;
    case W_LINK_LOST:
        do_link_lost(r);
        break;
    case W_NONE:
        break;
    }
    node_free(r->stanza);
    r->stanza = NULL;
    r->stanza_bytes = 0;
    free(r->session);
    r->session = NULL;
    r->wrapper = W_NONE;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct replay *r = ud;

    (void)name;
    if (r->failed)
        return;
    if (r->depth == 2)
        end_wrapper(r);
    else if (r->depth >= 3 && r->cur != NULL)
        r->cur = r->cur->parent; /* NULL once the stanza is closed */
    r->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct replay *r = ud;
    int i;

    if (r->failed || len <= 0)
        return;
    if (r->cur != NULL) {
        r->stanza_bytes += (size_t)len;
        if (r->stanza_bytes > MAX_STANZA_BYTES) {
            fail(r, EXIT_INPUT, "stanza too large (over %zu KiB in memory)",
                 MAX_STANZA_BYTES / 1024);
            return;
        }
        buf_put(&r->cur->text, s, (size_t)len);
        return;
    }
    for (i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
            fail(r, EXIT_INPUT, "text outside a stanza");
            return;
        }
    }
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name,
                               const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(ud, EXIT_INPUT, "a trace may not have a DOCTYPE");
}

/* ---------------------------------------------------------------------- */
/* The final table                                                         */

static int cmp_room(const void *a, const void *b)
{
    const mj_room_info *x = a, *y = b;
    size_t n = x->room.len < y->room.len ? x->room.len : y->room.len;
    int c = memcmp(x->room.ptr, y->room.ptr, n);

    if (c != 0)
        return c;
    return (x->room.len > y->room.len) - (x->room.len < y->room.len);
}

static void print_rooms(struct replay *r, const mj_session *s)
{
    mj_room_info *rooms = NULL, info;
    size_t n = 0, cap = 0, cursor = 0, width = 0, i;
    struct buf *b = &r->line;

    while (mj_session_next_room(s, &cursor, &info)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            rooms = xrealloc(rooms, cap * sizeof *rooms);
        }
        rooms[n++] = info;
    }
    if (n == 0) {
        fputs("    (no rooms)\n", stdout);
        free(rooms);
        return;
    }
    qsort(rooms, n, sizeof *rooms, cmp_room);
    for (i = 0; i < n; i++) {
        buf_reset(b);
        buf_value(b, rooms[i].room.ptr, rooms[i].room.len);
        if (b->len > width)
            width = b->len;
    }
    for (i = 0; i < n; i++) {
        const mj_room_info *ri = &rooms[i];
        const char *pk = ri->state == MJ_S_EXPECTING ? "announced" : "asked";

        buf_reset(b);
        buf_puts(b, "    ");
        buf_value(b, ri->room.ptr, ri->room.len);
        while (b->len < width + 4)
            buf_put(b, " ", 1);
        buf_printf(b, "  %-9s", mj_state_name(ri->state));
        buf_kv(b, "nick", ri->nick);
        buf_kv(b, pk, ri->pending_nick);
        while (b->len > 0 && b->p[b->len - 1] == ' ')
            b->len--;
        buf_put(b, "\n", 1);
        fwrite(b->p, 1, b->len, stdout);
    }
    free(rooms);
}

static void print_table(struct replay *r)
{
    size_t i;

    if (!r->quiet)
        fputc('\n', stdout);
    printf("final state at %gs:\n", r->now);
    if (r->sessions.n == 0)
        fputs("(no sessions)\n", stdout);
    for (i = 0; i < r->sessions.n; i++) {
        const struct sess *e = &r->sessions.v[i];
        mj_session *s = NULL;

        buf_reset(&r->line);
        buf_value(&r->line, e->given, strlen(e->given));
        buf_put(&r->line, "\n", 1);
        fwrite(r->line.p, 1, r->line.len, stdout);
        if (e->closed_line != 0)
            printf("    (closed at line %lu)\n", e->closed_line);
        else if (mj_session_find(r->tr, e->given, strlen(e->given), &s) !=
                 MJ_OK)
            fputs("    (unknown to the tracker)\n", stdout);
        else
            print_rooms(r, s);
    }
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */

static void usage(FILE *f)
{
    mj_config d;

    mj_config_init(&d);
    fprintf(f,
            "usage: " PROG " [options] TRACE\n"
            "Replay an XMPP stanza trace through the mucjoins tracker: print "
            "its decision\nfor every stanza, then the rooms and nicks of "
            "every session.\n"
            "\n"
            "  TRACE                 trace file (XML), or - for standard "
            "input\n"
            "  -q, --quiet           print only the final table\n"
            "      --max-rooms N     joined rooms per session (default "
            "%zu)\n"
            "      --max-pending N   pending joins per session (default "
            "%zu)\n"
            "      --pending-timeout S\n"
            "                        seconds before a pending join, nick "
            "change or leave\n"
            "                        expires (default %g)\n"
            "      --legacy-joins    track joins sent without the MUC <x/>\n"
            "      --no-self-ping    never ask for self-pings (XEP-0410)\n"
            "      --ping-start-delay S  after a <link-lost/> (default %g)\n"
            "      --ping-timeout S  a ping's answer (default %g)\n"
            "      --ping-backoff S  first retry after an unknown answer "
            "(default %g)\n"
            "      --ping-retries N  unknown answers retried (default %u)\n"
            "      --ping-budget N   pings outstanding per remote domain "
            "(default %zu)\n"
            "  -v, --verbose         print the tracker's log on standard "
            "error\n"
            "      --version         print the version and exit\n"
            "  -h, --help            print this help and exit\n"
            "\n"
            "A trace is <trace> holding, in order: <out session='JID'>STANZA"
            "</out>,\n"
            "<in session='JID'>STANZA</in>, <close session='JID'/>, "
            "<tick seconds='S'/> and\n<link-lost domain='D'/>.\n"
            "Exit status: 0 done, 1 tracker or output failure, 2 bad "
            "command line or trace.\n"
            "See mucjoins-replay(1).\n",
            d.max_rooms, d.max_pending, d.pending_timeout, d.ping_start_delay,
            d.ping_timeout, d.ping_backoff, d.ping_retries, d.ping_budget);
}

PRINTF_LIKE(1, 2)
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry '" PROG " --help'.\n", stderr);
    return EXIT_INPUT;
}

static int parse_size(const char *s, size_t *out)
{
    size_t v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* --name VALUE or --name=VALUE: 1 with *val set, 0 not this option, -1
 * the value is missing. */
static int opt_arg(int argc, char **argv, int *i, const char *name,
                   const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* ---------------------------------------------------------------------- */

/* Parse the whole trace, replaying as it goes. Returns the exit code. */
static int replay_file(struct replay *r, const char *path)
{
    static char chunk[64 * 1024];
    const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t total = 0;
    struct stat sb;
    int code = 0, done = 0;

    if (f == NULL) {
        fprintf(stderr, PROG ": %s: %s\n", shown, strerror(errno));
        return EXIT_INPUT;
    }
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) &&
        (uintmax_t)sb.st_size > MAX_TRACE_BYTES) {
        fprintf(stderr, PROG ": %s: trace larger than %zu MiB\n", shown,
                MAX_TRACE_BYTES >> 20);
        code = EXIT_INPUT;
        goto out;
    }
    while (!done) {
        size_t n = fread(chunk, 1, sizeof chunk, f);

        if (ferror(f)) {
            fflush(stdout);
            fprintf(stderr, PROG ": %s: read error: %s\n", shown,
                    strerror(errno));
            code = EXIT_INPUT;
            goto out;
        }
        total += n;
        if (total > MAX_TRACE_BYTES) {
            fflush(stdout);
            fprintf(stderr, PROG ": %s: trace larger than %zu MiB\n", shown,
                    MAX_TRACE_BYTES >> 20);
            code = EXIT_INPUT;
            goto out;
        }
        done = n < sizeof chunk;
        if (XML_Parse(r->parser, chunk, (int)n, done) == XML_STATUS_ERROR) {
            fflush(stdout);
            if (r->failed) {
                fprintf(stderr, PROG ": %s:%lu:%lu: %s\n", shown, r->err_line,
                        r->err_col, r->msg);
                code = r->fail_code;
            } else {
                fprintf(
                    stderr, PROG ": %s:%lu:%lu: not well-formed XML: %s\n",
                    shown, (unsigned long)XML_GetCurrentLineNumber(r->parser),
                    (unsigned long)XML_GetCurrentColumnNumber(r->parser) + 1,
                    XML_ErrorString(XML_GetErrorCode(r->parser)));
                code = EXIT_INPUT;
            }
            goto out;
        }
    }
out:
    if (f != stdin)
        fclose(f);
    return code;
}

int main(int argc, char **argv)
{
    struct replay r;
    mj_config cfg;
    const char *path = NULL, *val = NULL;
    int i, rc, code, only_paths = 0;

    memset(&r, 0, sizeof r);
    mj_config_init(&cfg);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        int m;

        if (only_paths || a[0] != '-' || strcmp(a, "-") == 0) {
            if (path != NULL)
                return usage_error("more than one trace given");
            path = a;
        } else if (strcmp(a, "--") == 0) {
            only_paths = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf(PROG " %s\n", MJ_VERSION);
            return 0;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            r.quiet = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            r.verbose = 1;
        } else if (strcmp(a, "--legacy-joins") == 0) {
            cfg.legacy_joins = 1;
        } else if (strcmp(a, "--no-self-ping") == 0) {
            cfg.self_ping = 0;
        } else if ((m = opt_arg(argc, argv, &i, "--max-rooms", &val)) != 0) {
            if (m < 0 || parse_size(val, &cfg.max_rooms) != 0)
                return usage_error("--max-rooms needs a whole number");
        } else if ((m = opt_arg(argc, argv, &i, "--max-pending", &val)) != 0) {
            if (m < 0 || parse_size(val, &cfg.max_pending) != 0)
                return usage_error("--max-pending needs a whole number");
        } else if ((m = opt_arg(argc, argv, &i, "--pending-timeout", &val)) !=
                   0) {
            if (m < 0 || parse_seconds(val, &cfg.pending_timeout) != 0)
                return usage_error("--pending-timeout needs a number of "
                                   "seconds");
        } else if ((m = opt_arg(argc, argv, &i, "--ping-start-delay", &val)) !=
                   0) {
            if (m < 0 || parse_seconds(val, &cfg.ping_start_delay) != 0)
                return usage_error("--ping-start-delay needs a number of "
                                   "seconds");
        } else if ((m = opt_arg(argc, argv, &i, "--ping-timeout", &val)) !=
                   0) {
            if (m < 0 || parse_seconds(val, &cfg.ping_timeout) != 0)
                return usage_error("--ping-timeout needs a number of "
                                   "seconds");
        } else if ((m = opt_arg(argc, argv, &i, "--ping-backoff", &val)) !=
                   0) {
            if (m < 0 || parse_seconds(val, &cfg.ping_backoff) != 0)
                return usage_error("--ping-backoff needs a number of "
                                   "seconds");
        } else if ((m = opt_arg(argc, argv, &i, "--ping-retries", &val)) !=
                   0) {
            size_t n = 0;
            if (m < 0 || parse_size(val, &n) != 0 || n > UINT_MAX)
                return usage_error("--ping-retries needs a whole number");
            cfg.ping_retries = (unsigned)n;
        } else if ((m = opt_arg(argc, argv, &i, "--ping-budget", &val)) != 0) {
            if (m < 0 || parse_size(val, &cfg.ping_budget) != 0)
                return usage_error("--ping-budget needs a whole number");
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (path == NULL)
        return usage_error("no trace given (a file, or - for standard "
                           "input)");

    cfg.clock = fake_clock;
    cfg.clock_ud = &r;
    cfg.on_event = on_event;
    cfg.event_ud = &r;
    cfg.log = on_log;
    cfg.log_ud = &r;
    rc = mj_tracker_new(&cfg, &r.tr);
    if (rc != MJ_OK) {
        fprintf(stderr, PROG ": cannot create the tracker: %s (%s)\n",
                mj_strerror(rc), mj_error_name(rc));
        return rc == MJ_EINVAL ? EXIT_INPUT : EXIT_FAIL;
    }
    r.parser = XML_ParserCreateNS(NULL, NS_SEP);
    if (r.parser == NULL) {
        mj_tracker_free(r.tr);
        fputs(PROG ": out of memory\n", stderr);
        return EXIT_FAIL;
    }
    r.sessions.seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&r;
    XML_SetUserData(r.parser, &r);
    XML_SetElementHandler(r.parser, on_start, on_end);
    XML_SetCharacterDataHandler(r.parser, on_text);
    XML_SetStartDoctypeDeclHandler(r.parser, on_doctype);

    code = replay_file(&r, path);
    if (code == 0)
        print_table(&r);
    if (code == 0 && r.lib_failed)
        code = EXIT_FAIL;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": write error: %s\n", strerror(errno));
        if (code == 0)
            code = EXIT_FAIL;
    }

    XML_ParserFree(r.parser);
    node_free(r.stanza);
    while (r.nheld > 0)
        node_free(r.held[--r.nheld].answer);
    free(r.session);
    mj_tracker_free(r.tr);
    sess_list_free(&r.sessions);
    free(r.line.p);
    free(r.events.p);
    free(r.tmp.p);
    return code;
}

/*
 * trace.c - reading a replay trace (see trace.h): memory and growable
 * strings, escaping of what is printed, the node tree a stanza is stored
 * in, and the expat reader of the trace format with its limits.
 *
 * Input is never trusted: the trace is limited in size (MAX_TRACE_BYTES),
 * in element depth (MAX_DEPTH) and in the memory one stanza may take
 * (MAX_STANZA_BYTES); a DOCTYPE is refused (no entity games); every string
 * printed is escaped so that a trace cannot forge output lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace.h"

/* ---------------------------------------------------------------------- */
/* Memory and growable strings                                             */

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fflush(stdout);
        fputs(PROG ": out of memory\n", stderr);
        exit(EXIT_FAIL);
    }
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xrealloc(NULL, n);
    memcpy(p, s, n);
    return p;
}

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

void buf_put(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    buf_put(b, "", 0);
}

void buf_printf(struct buf *b, const char *fmt, ...)
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

/* Code points shown escaped: controls, line separators, bidi controls
 * (Unicode's Bidi_Control: ALM, LRM, RLM, the embeddings, overrides and
 * isolates). */
static int cp_unsafe(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c ||
           c == 0x200e || c == 0x200f || (c >= 0x2028 && c <= 0x202e) ||
           (c >= 0x2066 && c <= 0x2069);
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

void buf_escaped(struct buf *b, const char *s, size_t n)
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

void buf_value(struct buf *b, const char *s, size_t n)
{
    if (!needs_quotes(s, n)) {
        buf_put(b, s, n);
        return;
    }
    buf_put(b, "\"", 1);
    buf_escaped(b, s, n);
    buf_put(b, "\"", 1);
}

/* ---------------------------------------------------------------------- */
/* The stored copy of one stanza                                           */

void node_free(struct node *n)
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

int node_is(const struct node *n, const char *ns, const char *local)
{
    size_t ns_len = strlen(ns);
    return n->ns_len == ns_len && memcmp(n->name, ns, ns_len) == 0 &&
           strcmp(n->local, local) == 0;
}

const struct node *node_child(const struct node *n, const char *ns,
                              const char *local)
{
    const struct node *c;
    for (c = n->first; c != NULL; c = c->next)
        if (node_is(c, ns, local))
            return c;
    return NULL;
}

const char *node_attr(const struct node *n, const char *name)
{
    char **a;
    for (a = n->attrs; *a != NULL; a += 2)
        if (strcmp(a[0], name) == 0)
            return a[1];
    return NULL;
}

int parse_seconds(const char *s, double *out)
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
/* The reader: expat handlers                                              */

void trace_fail(struct trace *t, int code, const char *fmt, ...)
{
    va_list ap;

    if (t->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    t->failed = 1;
    t->fail_code = code;
    t->err_line = (unsigned long)XML_GetCurrentLineNumber(t->parser);
    t->err_col = (unsigned long)XML_GetCurrentColumnNumber(t->parser) + 1;
    XML_StopParser(t->parser, XML_FALSE);
}

/* An element name for messages: local, or {namespace}local; escaped. */
static const char *shown_name(struct trace *t, const char *name)
{
    const char *sep = strchr(name, NS_SEP);

    buf_reset(&t->tmp);
    if (sep != NULL) {
        buf_put(&t->tmp, "{", 1);
        buf_escaped(&t->tmp, name, (size_t)(sep - name));
        buf_put(&t->tmp, "}", 1);
        name = sep + 1;
    }
    buf_escaped(&t->tmp, name, strlen(name));
    return t->tmp.p;
}

static const char *shown_value(struct trace *t, const char *s)
{
    buf_reset(&t->tmp);
    buf_value(&t->tmp, s, strlen(s));
    return t->tmp.p;
}

static void start_trace(struct trace *t, const char *name)
{
    if (strcmp(name, "trace") != 0)
        trace_fail(t, EXIT_INPUT, "the root element must be <trace>, not <%s>",
                   shown_name(t, name));
}

static void start_wrapper(struct trace *t, const char *name, const char **atts)
{
    struct trace_item *it = &t->item;
    const char *session = NULL, *seconds = NULL, *domain = NULL;
    const char *optimized = NULL;
    size_t i;

    it->line = (unsigned long)XML_GetCurrentLineNumber(t->parser);
    if (strcmp(name, "in") == 0) {
        it->kind = W_IN;
    } else if (strcmp(name, "out") == 0) {
        it->kind = W_OUT;
    } else if (strcmp(name, "close") == 0) {
        it->kind = W_CLOSE;
    } else if (strcmp(name, "tick") == 0) {
        it->kind = W_TICK;
    } else if (strcmp(name, "link-lost") == 0) {
        it->kind = W_LINK_LOST;
    } else if (strcmp(name, "link-up") == 0) {
        it->kind = W_LINK_UP;
    } else {
        trace_fail(t, EXIT_INPUT,
                   "unknown element <%s> in <trace> (expected <in>, <out>, "
                   "<close>, <tick>, <link-lost> or <link-up>)",
                   shown_name(t, name));
        return;
    }
    it->optimized = -1;
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
    if (optimized != NULL && it->kind == W_IN) {
        if (strcmp(optimized, "yes") == 0) {
            it->optimized = 1;
        } else if (strcmp(optimized, "no") == 0) {
            it->optimized = 0;
        } else {
            trace_fail(t, EXIT_INPUT, "<in optimized=%s>: expected yes or no",
                       shown_value(t, optimized));
            return;
        }
    }
    if (it->kind == W_LINK_LOST || it->kind == W_LINK_UP) {
        if (domain == NULL)
            trace_fail(t, EXIT_INPUT, "<%s> needs a domain attribute", name);
        else
            it->session = xstrdup(domain); /* freed with the wrapper */
        return;
    }

    if (it->kind == W_TICK) {
        if (seconds == NULL) {
            trace_fail(t, EXIT_INPUT, "<tick> needs a seconds attribute");
        } else if (parse_seconds(seconds, &it->seconds) != 0) {
            trace_fail(t, EXIT_INPUT,
                       "<tick seconds=%s>: not a number of seconds from 0 to "
                       "%g",
                       shown_value(t, seconds), MAX_SECONDS);
        }
        return;
    }
    if (session == NULL) {
        trace_fail(t, EXIT_INPUT, "<%s> needs a session attribute", name);
        return;
    }
    it->session = xstrdup(session);
}

static struct node *new_node(struct trace *t, const char *name,
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
    t->stanza_bytes += cost;
    if (t->stanza_bytes > MAX_STANZA_BYTES) {
        trace_fail(t, EXIT_INPUT, "stanza too large (over %zu KiB in memory)",
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
    n->line = (unsigned long)XML_GetCurrentLineNumber(t->parser);
    return n;
}

static void start_stanza(struct trace *t, const char *name, const char **atts)
{
    enum trace_kind kind = t->item.kind;
    const char *wname = kind == W_IN ? "in" : "out";
    struct node *n;

    if (kind == W_CLOSE || kind == W_TICK || kind == W_LINK_LOST ||
        kind == W_LINK_UP) {
        trace_fail(t, EXIT_INPUT, "<%s> must be empty",
                   kind == W_CLOSE       ? "close"
                   : kind == W_TICK      ? "tick"
                   : kind == W_LINK_LOST ? "link-lost"
                                         : "link-up");
        return;
    }
    if (t->item.stanza != NULL) {
        trace_fail(t, EXIT_INPUT, "<%s> holds more than one stanza", wname);
        return;
    }
    n = new_node(t, name, atts);
    if (n == NULL)
        return;
    if (!t->stanza_ns(n->ns_len ? n->name : NULL, n->ns_len) ||
        (strcmp(n->local, "presence") != 0 &&
         strcmp(n->local, "message") != 0 && strcmp(n->local, "iq") != 0)) {
        trace_fail(t, EXIT_INPUT,
                   "<%s> in <%s> is not a stanza (expected <presence>, "
                   "<message> or <iq> in jabber:client or no namespace)",
                   shown_name(t, name), wname);
        node_free(n);
        return;
    }
    t->item.stanza = n;
    t->cur = n;
}

static void start_child(struct trace *t, const char *name, const char **atts)
{
    struct node *n = new_node(t, name, atts);

    if (n == NULL)
        return;
    n->parent = t->cur;
    if (t->cur->last != NULL)
        t->cur->last->next = n;
    else
        t->cur->first = n;
    t->cur->last = n;
    t->cur = n;
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **atts)
{
    struct trace *t = ud;

    if (t->failed)
        return;
    if (t->depth >= MAX_DEPTH) {
        trace_fail(t, EXIT_INPUT, "elements nested deeper than %d", MAX_DEPTH);
        return;
    }
    t->depth++;
    switch (t->depth) {
    case 1:
        start_trace(t, name);
        break;
    case 2:
        start_wrapper(t, name, atts);
        break;
    case 3:
        start_stanza(t, name, atts);
        break;
    default:
        start_child(t, name, atts);
        break;
    }
}

/* The element of <trace> ends: hand it over, then forget it. */
static void end_wrapper(struct trace *t)
{
    struct trace_item *it = &t->item;

    if ((it->kind == W_IN || it->kind == W_OUT) && it->stanza == NULL)
        trace_fail(t, EXIT_INPUT, "<%s> holds no stanza",
                   it->kind == W_IN ? "in" : "out");
    else if (it->kind != W_NONE)
        t->handler(t->ud, t, it);
    node_free(it->stanza);
    it->stanza = NULL;
    t->stanza_bytes = 0;
    free(it->session);
    it->session = NULL;
    it->kind = W_NONE;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct trace *t = ud;

    (void)name;
    if (t->failed)
        return;
    if (t->depth == 2)
        end_wrapper(t);
    else if (t->depth >= 3 && t->cur != NULL)
        t->cur = t->cur->parent; /* NULL once the stanza is closed */
    t->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct trace *t = ud;
    int i;

    if (t->failed || len <= 0)
        return;
    if (t->cur != NULL) {
        struct buf *b = &t->cur->text;

        t->stanza_bytes += (size_t)len;
        if (t->stanza_bytes > MAX_STANZA_BYTES) {
            trace_fail(t, EXIT_INPUT,
                       "stanza too large (over %zu KiB in memory)",
                       MAX_STANZA_BYTES / 1024);
            return;
        }
        /* the first piece gets exactly its size, not buf_put()'s 256
         * bytes: a stanza of many small elements would take several times
         * the memory counted */
        if (b->cap == 0) {
            b->p = xrealloc(NULL, (size_t)len + 1);
            b->cap = (size_t)len + 1;
        }
        buf_put(b, s, (size_t)len);
        return;
    }
    for (i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
            trace_fail(t, EXIT_INPUT, "text outside a stanza");
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
    trace_fail(ud, EXIT_INPUT, "a trace may not have a DOCTYPE");
}

/* ---------------------------------------------------------------------- */
/* Reading the file                                                        */

static int read_file(struct trace *t, const char *path)
{
    /* 1 MiB: expat before 2.6 (Debian 12 has 2.5) scans a token that is
     * not complete again with every chunk it is given; with 64 KiB chunks
     * one 16 MiB comment or attribute took 2 s (quadratic), now 0.16 s */
    static char chunk[1024 * 1024];
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
        if (XML_Parse(t->parser, chunk, (int)n, done) == XML_STATUS_ERROR) {
            fflush(stdout);
            if (t->failed) {
                fprintf(stderr, PROG ": %s:%lu:%lu: %s\n", shown, t->err_line,
                        t->err_col, t->msg);
                code = t->fail_code;
            } else {
                fprintf(
                    stderr, PROG ": %s:%lu:%lu: not well-formed XML: %s\n",
                    shown, (unsigned long)XML_GetCurrentLineNumber(t->parser),
                    (unsigned long)XML_GetCurrentColumnNumber(t->parser) + 1,
                    XML_ErrorString(XML_GetErrorCode(t->parser)));
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

int trace_read(struct trace *t, const char *path)
{
    int code;

    t->parser = XML_ParserCreateNS(NULL, NS_SEP);
    if (t->parser == NULL) {
        fputs(PROG ": out of memory\n", stderr);
        return EXIT_FAIL;
    }
    XML_SetUserData(t->parser, t);
    XML_SetElementHandler(t->parser, on_start, on_end);
    XML_SetCharacterDataHandler(t->parser, on_text);
    XML_SetStartDoctypeDeclHandler(t->parser, on_doctype);

    code = read_file(t, path);

    XML_ParserFree(t->parser);
    t->parser = NULL;
    node_free(t->item.stanza);
    t->item.stanza = NULL;
    free(t->item.session);
    t->item.session = NULL;
    free(t->tmp.p);
    t->tmp.p = NULL;
    return code;
}

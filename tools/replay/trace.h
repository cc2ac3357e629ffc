/*
 * trace.h - reading a replay trace: growable strings and escaping, the
 * stored copy of a stanza (a node tree), and the expat reader of the trace
 * format (<trace> holding <in>, <out>, <close>, <tick>, <link-lost>,
 * <link-up>) with
 * its limits. Knows nothing of mucjoins: what a stanza means is view.c's
 * job, what to do with it replay.c's.
 */
#ifndef REPLAY_TRACE_H
#define REPLAY_TRACE_H

#include <stddef.h>

#include <expat.h>

#define PROG             "mucjoins-replay"
#define MAX_TRACE_BYTES  ((size_t)16 * 1024 * 1024)
#define MAX_DEPTH        64
#define MAX_STANZA_BYTES ((size_t)1024 * 1024)
#define MAX_SECONDS      1e9
#define NS_SEP           '\x01'

#define EXIT_FAIL  1 /* the tracker failed, or output could not be written */
#define EXIT_INPUT 2 /* bad command line or bad trace */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Memory: exit(EXIT_FAIL) when it runs out. */
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

struct buf {
    char *p;
    size_t len, cap;
};

void buf_put(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_reset(struct buf *b);
PRINTF_LIKE(2, 3) void buf_printf(struct buf *b, const char *fmt, ...);
/* Append s escaped (no quotes added): bytes that are not UTF-8, C0/C1
 * controls and line or bidi controls never reach the terminal raw. */
void buf_escaped(struct buf *b, const char *s, size_t n);
/* s bare when it is plain printable text, else quoted and escaped. */
void buf_value(struct buf *b, const char *s, size_t n);

/* The stored copy of one stanza */
struct node {
    char *name;        /* expat's "uri\1local", or "local" without a ns */
    const char *local; /* into name */
    size_t ns_len;     /* bytes of the namespace URI in name (0: none) */
    char **attrs;      /* copies: name, value, ..., NULL */
    struct buf text;   /* direct character data */
    unsigned long line;
    struct node *parent, *first, *last, *next;
};

void node_free(struct node *n);
int node_is(const struct node *n, const char *ns, const char *local);
const struct node *node_child(const struct node *n, const char *ns,
                              const char *local);
/* An attribute without namespace, or NULL. */
const char *node_attr(const struct node *n, const char *name);

/* Seconds: digits, optionally a dot and digits; at most MAX_SECONDS.
 * 0, or -1 when s is not that. */
int parse_seconds(const char *s, double *out);

/* One element of <trace>, handed over when it ends. */
enum trace_kind {
    W_NONE,
    W_IN,
    W_OUT,
    W_CLOSE,
    W_TICK,
    W_LINK_LOST,
    W_LINK_UP
};

struct trace_item {
    enum trace_kind kind;
    unsigned long line;  /* the wrapper's line */
    char *session;       /* in, out, close: session; link-lost, link-up:
                            domain */
    double seconds;      /* tick */
    int optimized;       /* <in optimized=''>: 1, 0, -1 unknown */
    struct node *stanza; /* in, out: the stanza (the handler may take it,
                            setting this to NULL) */
};

struct trace;
typedef void (*trace_handler)(void *ud, struct trace *t,
                              struct trace_item *it);

struct trace {
    /* set by the caller before trace_read() */
    trace_handler handler;
    void *ud;
    /* is a stanza element in this namespace (NULL: none) a stanza? */
    int (*stanza_ns)(const char *ns, size_t len);

    XML_Parser parser;
    unsigned depth;
    struct trace_item item;
    struct node *cur; /* the element being stored (NULL: none open) */
    size_t stanza_bytes;
    struct buf tmp;

    int failed; /* a trace error: stop parsing */
    int fail_code;
    char msg[512];
    unsigned long err_line, err_col;
};

/* Stop reading with an error at the current position (the first one
 * wins); code is the exit code. */
PRINTF_LIKE(3, 4)
void trace_fail(struct trace *t, int code, const char *fmt, ...);

/* Parse the whole trace at path ("-": standard input), calling the handler
 * as each element of <trace> ends. Errors are reported on stderr. Returns
 * the exit code: 0, EXIT_FAIL or EXIT_INPUT. */
int trace_read(struct trace *t, const char *path);

#endif

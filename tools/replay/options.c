/*
 * options.c - the replay tool's options: a table (name, argument, where
 * the value goes, help text) from which replay_options() parses the
 * command line and replay_usage() writes the help. The tracker's options
 * come from the library's table (mj_config_options()): --max-rooms for
 * max_rooms, its doc as the help, its default from mj_config_init(); a
 * boolean on by default becomes --no-NAME, helped by "never " + its doc.
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "trace.h"

enum opt_kind {
    O_HELP,    /* print the help and exit */
    O_VERSION, /* print the version and exit */
    O_FLAG,    /* store value in the int at off */
    O_SIZE,    /* a whole number into the size_t at off */
    O_UINT,    /* a whole number into the unsigned at off */
    O_SECONDS  /* a number of seconds into the double at off */
};

struct opt {
    char short_name;  /* -x, or 0 */
    const char *name; /* --name */
    const char *arg;  /* the value's name in the help; NULL: no value */
    enum opt_kind kind;
    size_t off;       /* into struct replay_opts */
    int value;        /* O_FLAG: the value stored */
    const char *help; /* lines after the first: '\n' (indented in the help);
                         an option with a value gets " (default ...)" */
    int positive;     /* a library option whose 0 switches off what it is
                         for (mj_option): refused, as the module does */
    double max;       /* the largest value taken (0: no bound) */
};

/* The tool's own options, around the library's (in the order of the
 * help text). */
static const struct opt first_opts[] = {
    {'q', "quiet", NULL, O_FLAG, offsetof(struct replay_opts, quiet), 1,
     "print only the final table", 0, 0},
};
static const struct opt last_opts[] = {
    {'v', "verbose", NULL, O_FLAG, offsetof(struct replay_opts, verbose), 1,
     "print the tracker's log on standard error", 0, 0},
    {0, "version", NULL, O_VERSION, 0, 0, "print the version and exit", 0, 0},
    {'h', "help", NULL, O_HELP, 0, 0, "print this help and exit", 0, 0},
};

#define N_FIRST (sizeof first_opts / sizeof first_opts[0])
#define N_LAST  (sizeof last_opts / sizeof last_opts[0])

/* Room for every library option, whatever the library adds: each option is
 * its own field of mj_config (tests/test_joins.c,
 * config_options_match_config_init, holds the table to the fields), and
 * no option's type is narrower than an int, so mj_config cannot hold more
 * options than this. */
#define MAX_CORE (sizeof(mj_config) / sizeof(int))
_Static_assert(sizeof(size_t) >= sizeof(int) &&
                   sizeof(unsigned) >= sizeof(int) &&
                   sizeof(double) >= sizeof(int),
               "an option type narrower than int: MAX_CORE is too small");

static struct opt opts[N_FIRST + MAX_CORE + N_LAST];
static char core_names[MAX_CORE][48];
static char core_help[MAX_CORE][160];
static size_t nopts;

/* The library's option table does not fit the tool: say so and stop (an
 * option left out or cut short would be a silent change of the command
 * line). Not reached with the library the tool is built with. */
static void opts_overflow(const char *what, size_t have, size_t room)
{
    fprintf(stderr,
            PROG ": the library's options do not fit: %s %zu, room for "
                 "%zu (tools/replay/options.c)\n",
            what, have, room);
    exit(EXIT_FAIL);
}

/* Fill opts from the tool's options and the library's, once. */
static void opts_init(void)
{
    size_t i, n, k = 0;
    const mj_option *core = mj_config_options(&n);

    if (nopts != 0)
        return;
    for (i = 0; i < N_FIRST; i++)
        opts[k++] = first_opts[i];
    if (n > MAX_CORE)
        opts_overflow("options", n, MAX_CORE);
    for (i = 0; i < n; i++) {
        const mj_option *c = &core[i];
        struct opt *op = &opts[k++];
        int negated = c->type == MJ_OPT_BOOL && c->def != 0;
        char *p;

        if (snprintf(core_names[i], sizeof core_names[i], "%s%s",
                     negated ? "no-" : "",
                     c->name) >= (int)sizeof core_names[i])
            opts_overflow("name length", strlen(c->name),
                          sizeof core_names[i] - 4);
        for (p = core_names[i]; *p != '\0'; p++)
            if (*p == '_')
                *p = '-';
        if (snprintf(core_help[i], sizeof core_help[i], "%s%s",
                     negated ? "never " : "",
                     c->doc) >= (int)sizeof core_help[i])
            opts_overflow("help length", strlen(c->doc),
                          sizeof core_help[i] - 7);
        op->short_name = 0;
        op->name = core_names[i];
        op->off = offsetof(struct replay_opts, cfg) + c->offset;
        op->help = core_help[i];
        op->value = 0;
        op->positive = c->positive;
        op->max = c->max;
        switch (c->type) {
        case MJ_OPT_SIZE:
            op->kind = O_SIZE;
            op->arg = "N";
            break;
        case MJ_OPT_UINT:
            op->kind = O_UINT;
            op->arg = "N";
            break;
        case MJ_OPT_SECONDS:
            op->kind = O_SECONDS;
            op->arg = "S";
            break;
        case MJ_OPT_BOOL:
            op->kind = O_FLAG;
            op->arg = NULL;
            op->value = !negated;
            break;
        }
    }
    for (i = 0; i < N_LAST; i++)
        opts[k++] = last_opts[i];
    nopts = k;
}

/* The help's option column: labels are padded to HELP_COL; a longer label
 * is followed by two spaces, or by a line break when its help does not
 * fit on the line. Help is wrapped at HELP_WIDTH columns. */
#define HELP_COL   24
#define HELP_WRAP  22
#define HELP_WIDTH 79

static void *field(struct replay_opts *o, const struct opt *op)
{
    return (char *)o + op->off;
}

void replay_usage(FILE *f)
{
    struct replay_opts d;
    char text[256];
    size_t i;

    opts_init();
    replay_opts_init(&d);
    fputs("usage: " PROG " [options] TRACE\n"
          "Replay an XMPP stanza trace through the mucjoins tracker: print "
          "its decision\nfor every stanza, then the rooms and nicks of "
          "every session.\n"
          "\n"
          "  TRACE                 trace file (XML), or - for standard "
          "input\n",
          f);
    for (i = 0; i < nopts; i++) {
        const struct opt *op = &opts[i];
        const char *h;
        int len, line_start;

        if (op->short_name != 0)
            len = fprintf(f, "  -%c, --%s", op->short_name, op->name);
        else
            len = fprintf(f, "      --%s", op->name);
        if (op->arg != NULL)
            len += fprintf(f, " %s", op->arg);
        text[0] = '\0';
        switch (op->kind) {
        case O_SIZE:
            snprintf(text, sizeof text, "%s (default %zu)", op->help,
                     *(size_t *)field(&d, op));
            break;
        case O_UINT:
            snprintf(text, sizeof text, "%s (default %u)", op->help,
                     *(unsigned *)field(&d, op));
            break;
        case O_SECONDS:
            snprintf(text, sizeof text, "%s (default %g)", op->help,
                     *(double *)field(&d, op));
            break;
        case O_HELP:
        case O_VERSION:
        case O_FLAG:
            snprintf(text, sizeof text, "%s", op->help);
            break;
        }
        if (len <= HELP_WRAP) {
            len += fprintf(f, "%*s", HELP_COL - len, "");
        } else if (len + 2 + (int)strlen(text) <= HELP_WIDTH) {
            len += fprintf(f, "  ");
        } else {
            len = fprintf(f, "\n%*s", HELP_COL, "") - 1;
        }
        line_start = 1;
        for (h = text; *h != '\0';) {
            int w = (int)strcspn(h, " ");

            if (!line_start && len + 1 + w > HELP_WIDTH)
                len = fprintf(f, "\n%*s", HELP_COL, "") - 1;
            else if (!line_start)
                len += fprintf(f, " ");
            len += fprintf(f, "%.*s", w, h);
            line_start = 0;
            h += w;
            h += strspn(h, " ");
        }
        fputc('\n', f);
    }
    fputs("\n"
          "A trace is <trace> holding, in order: <out session='JID'>STANZA"
          "</out>,\n"
          "<in session='JID'>STANZA</in>, <close session='JID'/>, "
          "<tick seconds='S'/>,\n<link-lost domain='D'/> and <link-up "
          "domain='D'/>.\n"
          "Exit status: 0 done, 1 tracker or output failure, 2 bad "
          "command line or trace.\n"
          "See mucjoins-replay(1).\n",
          f);
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
    int big = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (SIZE_MAX - 9) / 10)
            big = 1; /* the digits are still checked */
        else
            v = v * 10 + (size_t)(*s - '0');
    }
    if (big)
        return -2;
    *out = v;
    return 0;
}

/* The usage error for an option whose value is missing (m < 0) or did
 * not parse as a whole number (rc: parse_size()'s). */
static int size_error(const struct opt *op, int m, const char *val, int rc)
{
    if (m < 0)
        return usage_error("--%s needs a value (a whole number)", op->name);
    if (rc == -2)
        return usage_error("--%s is too large", op->name);
    if (val[0] == '-' && val[1] >= '0' && val[1] <= '9')
        return usage_error("--%s cannot be negative", op->name);
    return usage_error("--%s needs a whole number, not '%s'", op->name, val);
}

/* Is argv[*i] this option? 1 (with *val set for an option with a value:
 * --name VALUE or --name=VALUE), 0 not this option, -1 the value is
 * missing. */
static int opt_match(const struct opt *op, int argc, char **argv, int *i,
                     const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(op->name);

    if (a[1] != '-')
        return op->short_name != 0 && a[1] == op->short_name && a[2] == '\0';
    if (strncmp(a + 2, op->name, n) != 0)
        return 0;
    a += 2 + n;
    if (op->arg == NULL)
        return *a == '\0';
    if (*a == '=') {
        *val = a + 1;
        return 1;
    }
    if (*a != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* The bounds a server's configuration has (the library's option table,
 * as the module reads it): 0, or the exit code of a usage error. */
static int in_range(const struct opt *op, double v)
{
    if (op->positive && v == 0)
        return usage_error("--%s must be more than 0 (0 switches off what "
                           "it is for)",
                           op->name);
    if (op->max > 0 && v > op->max)
        return usage_error("--%s is at most %g", op->name, op->max);
    return 0;
}

/* Store the option's value; 0, or the exit code of a usage error. */
static int opt_apply(const struct opt *op, int m, const char *val,
                     struct replay_opts *o)
{
    size_t n = 0;
    double d = 0;
    int rc = 0;

    switch (op->kind) {
    case O_HELP:
        replay_usage(stdout);
        return -1;
    case O_VERSION:
        printf(PROG " %s\n", MJ_VERSION);
        return -1;
    case O_FLAG:
        *(int *)field(o, op) = op->value;
        return 0;
    case O_SIZE:
        if (m < 0 || (rc = parse_size(val, &n)) != 0)
            return size_error(op, m, val, rc);
        if (in_range(op, (double)n) != 0)
            return EXIT_INPUT;
        *(size_t *)field(o, op) = n;
        return 0;
    case O_UINT:
        if (m < 0 || (rc = parse_size(val, &n)) != 0)
            return size_error(op, m, val, rc);
        if (in_range(op, (double)n) != 0)
            return EXIT_INPUT;
        if (n > UINT_MAX)
            return usage_error("--%s is at most %u", op->name, UINT_MAX);
        *(unsigned *)field(o, op) = (unsigned)n;
        return 0;
    case O_SECONDS:
        if (m < 0)
            return usage_error("--%s needs a value (a number of seconds)",
                               op->name);
        if (parse_seconds(val, &d) != 0)
            return usage_error("--%s needs a number of seconds, not '%s'",
                               op->name, val);
        if (in_range(op, d) != 0)
            return EXIT_INPUT;
        *(double *)field(o, op) = d;
        return 0;
    }
    return 0;
}

int replay_options(int argc, char **argv, struct replay_opts *o)
{
    int i, only_paths = 0;

    opts_init();
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        size_t k;
        int m = 0, rc;

        if (only_paths || a[0] != '-' || strcmp(a, "-") == 0) {
            if (o->path != NULL)
                return usage_error("more than one trace given");
            o->path = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_paths = 1;
            continue;
        }
        for (k = 0; k < nopts; k++)
            if ((m = opt_match(&opts[k], argc, argv, &i, &val)) != 0)
                break;
        if (k == nopts)
            return usage_error("unknown option '%s'", a);
        rc = opt_apply(&opts[k], m, val, o);
        if (rc < 0)
            return 0; /* --help, --version */
        if (rc != 0)
            return rc;
    }
    if (o->path == NULL)
        return usage_error("no trace given (a file, or - for standard "
                           "input)");
    return -1;
}

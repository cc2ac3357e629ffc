/* The environment every layer stands on: the allocator (counted in the
 * tracker's bytes), the log and the clock, all three the embedder's hooks
 * from mj_config. Calls nothing of the core; reads two fields of the
 * tracker (cfg's hooks, bytes), whose struct store.h declares. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env.h"
#include "store.h"

void *mj_default_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

double mj_default_clock(void *ud)
{
    struct timespec ts;
    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void *mj_alloc(struct mj_tracker *tr, size_t size)
{
    void *p = tr->cfg.alloc(tr->cfg.alloc_ud, NULL, 0, size);
    if (p != NULL)
        tr->bytes += size;
    return p;
}

void mj_free(struct mj_tracker *tr, void *p, size_t size)
{
    if (p == NULL)
        return;
    tr->cfg.alloc(tr->cfg.alloc_ud, p, size, 0);
    tr->bytes -= size;
}

char *mj_strdup(struct mj_tracker *tr, const char *p, size_t len)
{
    char *s = mj_alloc(tr, len + 1);
    if (s == NULL)
        return NULL;
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

double mj_now(struct mj_tracker *tr)
{
    double t;

    tr->in_hook++;
    t = tr->cfg.clock(tr->cfg.clock_ud);
    tr->in_hook--;
    /* A reading that is not a finite number stands for the last one that
     * was: one NaN at the head of a list kept in due order (timeouts,
     * link checks, the ping heap, what closed sessions are owed) stopped
     * every deadline behind it for good. */
    if (!isfinite(t))
        return tr->last_now;
    tr->last_now = t;
    return t;
}

void mj_log(struct mj_tracker *tr, mj_log_level level, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    if (tr->cfg.log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tr->in_hook++;
    tr->cfg.log(tr->cfg.log_ud, level, buf);
    tr->in_hook--;
}

const char *mj_option_name(const struct mj_tracker *tr, const char *option,
                           char *buf)
{
    size_t n = 0, i;
    const char *p = tr->option_prefix;
    int dashes;

    while (p[n] != '\0' && n < MJ_OPTION_PREFIX_MAX)
        n++;
    memcpy(buf, p, n);
    dashes = n > 0 && p[n - 1] == '-';
    for (i = 0; option[i] != '\0' && n < MJ_OPTION_NAME_CAP - 1; i++)
        buf[n++] = dashes && option[i] == '_' ? '-' : option[i];
    buf[n] = '\0';
    return buf;
}

/* The bottom layer (env.c): the allocator, the log and the clock, the
 * embedder's hooks from mj_config; string views. Calls nothing of the
 * core. */
#ifndef MJ_ENV_H
#define MJ_ENV_H

#include <stddef.h>

#include "mucjoins.h"

struct mj_tracker;

void *mj_alloc(struct mj_tracker *tr, size_t size);
void mj_free(struct mj_tracker *tr, void *p, size_t size);
/* A NUL-terminated copy of (p, len), or NULL. Free with
 * mj_free(tr, s, len + 1). */
char *mj_strdup(struct mj_tracker *tr, const char *p, size_t len);

/* The defaults mj_config's NULL hooks stand for: realloc/free, and
 * CLOCK_MONOTONIC in seconds. */
void *mj_default_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
double mj_default_clock(void *ud);

double mj_now(struct mj_tracker *tr);
void mj_log(struct mj_tracker *tr, mj_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The bytes mj_option_name() writes at most, its NUL included. */
#define MJ_OPTION_NAME_CAP (MJ_OPTION_PREFIX_MAX + 48)
/* option (an mj_option name) as the embedder's users set it
 * (mj_config.option_prefix), for a log line: written into buf
 * (MJ_OPTION_NAME_CAP bytes) and returned. */
const char *mj_option_name(const struct mj_tracker *tr, const char *option,
                           char *buf);

/* A hint that p will be read soon (no effect where unsupported). With
 * 100k sessions nothing of a session is in the cache when its stanza
 * comes: fetching it while the JID is parsed hides part of the wait. */
#if defined(__GNUC__)
#define MJ_PREFETCH(p) __builtin_prefetch(p)
#else
#define MJ_PREFETCH(p) ((void)(p))
#endif

/* The index of the lowest set bit of m (m != 0). */
static inline unsigned mj_lowest_bit(uint64_t m)
{
#if defined(__GNUC__)
    return (unsigned)__builtin_ctzll(m);
#else
    unsigned bit = 0;

    while (!(m & 1)) {
        m >>= 1;
        bit++;
    }
    return bit;
#endif
}

/* A function on the path of every stanza: gcc and clang put these
 * together (.text.hot), so that the path takes fewer instruction cache
 * lines. */
#if defined(__GNUC__)
#define MJ_HOT __attribute__((hot))
#else
#define MJ_HOT
#endif

static inline mj_str mj_str_of(const char *p, size_t len)
{
    mj_str s;
    s.ptr = p;
    s.len = len;
    return s;
}

static inline mj_str mj_str_none(void)
{
    mj_str s;
    s.ptr = NULL;
    s.len = 0;
    return s;
}

#endif

/* The Stream-Safe Text Format's run count (see streamsafe.h). */
#include <pthread.h>

#include <unicode/uchar.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "mucjoins.h"
#include "streamsafe.h"

static struct mj_nfkd_info nfkd_info_of(const UNormalizer2 *nfkd, UChar32 c)
{
    struct mj_nfkd_info r = {c, 0, 0, 0, 1};
    UChar d[32];
    UErrorCode err = U_ZERO_ERROR;
    int32_t dl = unorm2_getDecomposition(nfkd, c, d, 32, &err);

    if (U_FAILURE(err) || dl < 0) { /* no decomposition: c itself */
        r.len = 1;
        r.all = u_getCombiningClass(c) != 0;
        r.lead = r.trail = r.all;
        return r;
    }
    for (int32_t k = 0; k < dl;) {
        UChar32 x;
        U16_NEXT(d, k, dl, x);
        r.len++;
        if (u_getCombiningClass(x) != 0) {
            r.trail++;
            if (r.all)
                r.lead++;
        } else {
            r.all = 0;
            r.trail = 0;
        }
    }
    return r;
}

int mj_safe_init(mj_safe_scan *s)
{
    UErrorCode err = U_ZERO_ERROR;

    s->nfkd = unorm2_getNFKDInstance(&err);
    s->run = 0;
    for (int k = 0; k < MJ_SAFE_CACHE; k++)
        s->cache[k].c = -1;
    return U_FAILURE(err) ? MJ_ENOMEM : MJ_OK;
}

int mj_safe_next(mj_safe_scan *s, UChar32 c)
{
    struct mj_nfkd_info *ci;
    int brk = 0;

    if (c < 0xA0 || unorm2_isInert(s->nfkd, c)) {
        s->run = 0; /* a starter with nothing to decompose */
        return 0;
    }
    ci = &s->cache[(uint32_t)c % MJ_SAFE_CACHE];
    if (ci->c != c)
        *ci = nfkd_info_of(s->nfkd, c);
    if (s->run + ci->lead > MJ_SAFE_RUN) {
        brk = 1;
        s->run = 0;
    }
    s->run = ci->all ? s->run + ci->len : ci->trail;
    return brk;
}

/* A bit per BMP code point that is not inert in NFKD (it is a
 * non-starter or decomposes), made once from ICU (65,536 lookups, well
 * under a millisecond). A run of non-starters in NFKD only comes from
 * consecutive such code points, each giving a few of them (at most 3 in
 * Unicode 15: tests/test_jid.c checks every code point), so text without
 * MJ_SAFE_MIN_SPAN of them in a row is stream-safe: most text, Cyrillic,
 * Greek, CJK, precomposed Latin, is passed at one bit test a unit
 * instead of an ICU call a code point (6 ns). Surrogates count as not
 * inert. */
static uint8_t busy_bmp[0x10000 / 8];
static pthread_once_t busy_once = PTHREAD_ONCE_INIT;
static int busy_ok;

static void busy_build(void)
{
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2 *nfkd = unorm2_getNFKDInstance(&err);

    if (U_FAILURE(err))
        return;
    for (UChar32 c = 0; c < 0x10000; c++)
        if ((c >= 0xD800 && c <= 0xDFFF) || !unorm2_isInert(nfkd, c))
            busy_bmp[c >> 3] |= (uint8_t)(1u << (c & 7));
    busy_ok = 1;
}

int mj_safe_check(const UChar *src, int32_t n)
{
    mj_safe_scan s;
    int32_t i = 0, span = 0;

    pthread_once(&busy_once, busy_build);
    if (!busy_ok)
        return -1;
    for (i = 0; i < n; i++) {
        UChar u = src[i];
        if (busy_bmp[u >> 3] & (1u << (u & 7))) {
            if (++span >= MJ_SAFE_MIN_SPAN)
                break;
        } else {
            span = 0;
        }
    }
    if (i == n)
        return 1;
    i = 0;
    if (mj_safe_init(&s) != MJ_OK)
        return -1;
    while (i < n) {
        UChar32 c;
        U16_NEXT(src, i, n, c);
        if (mj_safe_next(&s, c))
            return 0;
    }
    return 1;
}

/* The same on UTF-8, before any conversion: a part that is not
 * stream-safe is refused after the code points up to its long run, not
 * after converting all of it to UTF-16 (jid.c). A supplementary code
 * point counts as not inert in the first pass, like its surrogates
 * above; a malformed sequence too (and as a starter in the second pass:
 * the conversion refuses it later anyway). */
int mj_safe_check_utf8(const char *str, int32_t n)
{
    const uint8_t *src = (const uint8_t *)str;
    mj_safe_scan s;
    int32_t i = 0, span = 0;
    UChar32 c;

    pthread_once(&busy_once, busy_build);
    if (!busy_ok)
        return -1;
    while (i < n) {
        if (src[i] < 0x80) { /* ASCII: inert */
            i++;
            span = 0;
            continue;
        }
        U8_NEXT(src, i, n, c);
        if (c < 0 || c > 0xFFFF || (busy_bmp[c >> 3] & (1u << (c & 7)))) {
            if (++span >= MJ_SAFE_MIN_SPAN)
                break;
        } else {
            span = 0;
        }
    }
    if (i >= n && span < MJ_SAFE_MIN_SPAN)
        return 1;
    i = 0;
    if (mj_safe_init(&s) != MJ_OK)
        return -1;
    while (i < n) {
        U8_NEXT(src, i, n, c);
        if (mj_safe_next(&s, c < 0 ? 0xFFFD : c))
            return 0;
    }
    return 1;
}

/* The normal form body mentions are compared in (mentions.c):
 * NFKC(fold(NFKC(s))), bounded, and the body cache that keeps the last
 * body's normal form for the next occupant (normal.h).
 *
 * Both body and nick are brought to one normal form, NFKC(fold(NFKC(s))),
 * with full Unicode case folding (u_strFoldCase, U_FOLD_CASE_DEFAULT: "ß"
 * and "ẞ" -> "ss", final sigma -> sigma) and ICU's NFKC. Why three steps:
 *   - NFKC before folding: compatibility mappings produce capitals that
 *     folding must still see. fold-then-NFKC leaves "ℍ" (U+210D) as "H"
 *     and "ᴬ" (U+1D2C) as "A", so it is not even idempotent: it changes
 *     its own output for 637 code points (ICU 72), and "ℍans" would not
 *     mention "Hans".
 *   - NFKC after folding: full folding leaves text unnormalised ("ǰ" ->
 *     "j" U+030C, "İ" -> "i" U+0307 placed before a lower-class mark such
 *     as U+0316), so fold(NFKC(s)) is not idempotent on strings either:
 *     "İ" U+0316 gives i U+0307 U+0316 while the canonical spelling
 *     i U+0316 U+0307 stays as it is, and the two would not match.
 *   - NFKC(fold(NFKC(s))) is idempotent on every code point and on
 *     millions of random strings of the characters that fold, decompose
 *     or combine (tests/test_mentions.c checks the code points).
 * Before all three, the characters Resourceprep maps to nothing
 * (mj_invisible(): soft hyphen, ZWNJ, ZWJ, variation selectors 1-16...)
 * are dropped, as Prosody drops them from the nick a room holds: a
 * Persian nick typed with its ZWNJ, or "\u2764\ufe0f" typed with its
 * variation selector, must find the nick the room made of it. No step
 * after makes one of them again, but for the CGJ the stream-safe rule
 * (below) inserts: so a normal form holding a run of over 30 marks is
 * not always its own normal form (its CGJ is dropped, then put back where
 * the count says, which NFKC and folding may have moved: U+0344 counts as
 * two marks and becomes two, U+0345 folds to a letter). Matching does not
 * rely on that: body and nick take the same steps from what was typed.
 * ZERO WIDTH SPACE is kept: it separates words in scripts written
 * without spaces. And U+2019, the apostrophe phones type, becomes "'". The
 * result is ICU's NFKC_Casefold but for the other default-ignorable
 * characters, which are kept (docs/semantics.md §6). Folding is the default
 * one, not the Turkic one: "I" folds to "i", never to "ı".
 *
 * Bounds on the work: NFKC can make text 18 times longer (U+FDFA), so
 * the first NFKC of a long body
 * runs in chunks split at normalisation boundaries and stops once its
 * output passes MJ_MENTION_NFKC_MAX (64 Ki) UTF-16 units, with the same
 * rule at that cut; plain text never gets there. This keeps U+FDFA at
 * about twice the cost of a plain 64 KiB body (without it, 64 KiB of it
 * took 11 times as long); the folding and the second NFKC work on what
 * the first one made, so the worst body measured (64 KiB of U+0390, which
 * folds to three code points and composes again) costs about 9 times a
 * plain accented one, linearly, once per message (the body cache). Combining
 * marks have no normalisation boundary and the normaliser sorts a run of them
 * by combining class in time quadratic in its length (a letter and 32,000
 * marks took 0.8 s), so both body and nick are first made stream-safe
 * (UAX #15): before a code point that would make a run of non-starters
 * (counted in NFKD) longer than MJ_MENTION_SAFE_RUN (30), U+034F
 * COMBINING GRAPHEME JOINER is inserted. CGJ is a mark (a word
 * character) with class 0: it ends the run for the normaliser and, like
 * the marks around it, never stands as a word edge, so a nick is never
 * matched next to such a run, only around it. Canonically equivalent
 * spellings of one run longer than 30 marks may then differ (text in
 * any language needs far fewer in a row). The rule runs on
 * the whole (cut) body before the chunks, so chunk borders do not move
 * it.
 *
 * Memory: strings up to MJ_STACK_UNITS UTF-16 units live on the stack;
 * longer ones are malloc'ed for the call (there is no tracker, hence no
 * allocator hook, in these pure functions): a few hundred KiB at most
 * for a body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "env.h"
#include "mentions_impl.h"
#include "normal.h"
#include "streamsafe.h"

#define NFKC_CHUNK 4096

/* ---------------------------------------------------------------------- */
/* UTF-16 buffers: on the stack while short, on the heap when longer      */

void mj_ubuf_init(ubuf *b)
{
    b->p = b->stack;
    b->cap = MJ_STACK_UNITS;
    b->heap = NULL;
}

void mj_ubuf_free(ubuf *b)
{
    free(b->heap);
}

/* At least n units, keeping the first keep units. */
static int ubuf_grow(ubuf *b, int32_t n, int32_t keep)
{
    UChar *q;

    if (n <= b->cap)
        return MJ_OK;
    q = malloc((size_t)n * sizeof *q);
    if (q == NULL)
        return MJ_ENOMEM;
    if (keep > 0)
        memcpy(q, b->p, (size_t)keep * sizeof *q);
    free(b->heap);
    b->heap = b->p = q;
    b->cap = n;
    return MJ_OK;
}

/* At least n units; the contents are not kept. */
int mj_ubuf_reserve(ubuf *b, int32_t n)
{
    return ubuf_grow(b, n, 0);
}

/* ---------------------------------------------------------------------- */
/* The normal form NFKC(fold(NFKC(s)))                                     */

/* One NFKC (fold == 0) or full case folding (fold == 1) step from src
 * into dst (they never overlap). ICU reports the exact length it needs
 * on overflow, so a second call always fits. */
static int step(const UNormalizer2 *nfkc, int fold, const UChar *src,
                int32_t n, ubuf *dst, int32_t *out_len)
{
    /* most text keeps its length; a little room saves a second pass */
    int rc = mj_ubuf_reserve(dst, n + n / 8);

    for (int pass = 0; rc == MJ_OK && pass < 2; pass++) {
        UErrorCode err = U_ZERO_ERROR;
        int32_t m;

        if (fold)
            m = u_strFoldCase(dst->p, dst->cap, src, n, U_FOLD_CASE_DEFAULT,
                              &err);
        else
            m = unorm2_normalize(nfkc, src, n, dst->p, dst->cap, &err);
        if (err == U_BUFFER_OVERFLOW_ERROR) {
            rc = mj_ubuf_reserve(dst, m);
            continue;
        }
        if (U_FAILURE(err))
            return MJ_ENOMEM; /* ICU out of memory (or its data missing) */
        *out_len = m;
        return MJ_OK;
    }
    return rc == MJ_OK ? MJ_ENOMEM : rc;
}

int mj_invisible(UChar32 c)
{
    return c == 0x00AD || c == 0x034F || c == 0x1806 ||
           (c >= 0x180B && c <= 0x180D) || c == 0x200C || c == 0x200D ||
           c == 0x2060 || (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF;
}

/* Before the normal form, in place on p[0..n): drop mj_invisible()
 * units, and make RIGHT SINGLE QUOTATION MARK (U+2019, the apostrophe
 * that phones' keyboards type) the ASCII apostrophe, so that "O\u2019Neil"
 * mentions "O'Neil" and the other way round (both are punctuation: no
 * word edge moves). Returns the new length. Every unit concerned is in
 * the BMP, so units are code points here (a surrogate is none of them).
 * Most text has none: one comparison per unit. */
static int32_t premap(UChar *p, int32_t n)
{
    int32_t i = 0, o;

    while (i < n && p[i] < 0x00AD)
        i++;
    for (o = i; i < n; i++) {
        if (p[i] == 0x2019)
            p[o++] = '\'';
        else if (p[i] < 0x00AD || !mj_invisible(p[i]))
            p[o++] = p[i];
    }
    return o;
}

/* Is there a normalisation boundary before src[i]? (Never inside a
 * surrogate pair.) */
static int boundary_at(const UNormalizer2 *nfkc, const UChar *src, int32_t i,
                       int32_t n)
{
    UChar32 c;

    if (U16_IS_TRAIL(src[i]) && i > 0 && U16_IS_LEAD(src[i - 1]))
        return 0;
    U16_GET(src, 0, i, n, c);
    return unorm2_hasBoundaryBefore(nfkc, c);
}

/* The Unicode Stream-Safe Text Format (UAX #15, section 13; the count is
 * streamsafe.c's, shared with JID preparation): a run of non-starters
 * never exceeds MJ_MENTION_SAFE_RUN: before a code point that would take
 * it over, a COMBINING GRAPHEME JOINER (U+034F, class 0, a starter that
 * NFKC and folding keep) is inserted. The normaliser reorders a run by
 * insertion sort (quadratic in its length): with this, its work is
 * linear in the text. src (n units) -> dst (*out_len units). */
static int stream_safe(const UChar *src, int32_t n, ubuf *dst,
                       int32_t *out_len)
{
    int32_t i = 0, o = 0;
    int rc = mj_ubuf_reserve(dst, n + n / 16 + 2);
    mj_safe_scan scan;

    if (rc == MJ_OK && mj_safe_check(src, n) == 1) {
        /* already stream-safe, as nearly all text is */
        memcpy(dst->p, src, (size_t)n * sizeof *src);
        *out_len = n;
        return MJ_OK;
    }
    if (rc == MJ_OK)
        rc = mj_safe_init(&scan);
    while (rc == MJ_OK && i < n) {
        int32_t start = i;
        UChar32 c;
        U16_NEXT(src, i, n, c);
        if (mj_safe_next(&scan, c)) {
            if (o + 1 + (n - start) > dst->cap)
                rc = ubuf_grow(dst, 2 * (o + 1 + (n - start)), o);
            if (rc != MJ_OK)
                break;
            dst->p[o++] = 0x034F; /* CGJ */
        }
        if (o + (i - start) + (n - i) > dst->cap &&
            (rc = ubuf_grow(dst, 2 * (o + (n - start)), o)) != MJ_OK)
            break;
        while (start < i)
            dst->p[o++] = src[start++];
    }
    *out_len = o;
    return rc;
}

/* The first NFKC of a body, bounded: long text is normalised in chunks
 * split at normalisation boundaries (so the result is the same as in one
 * go), and once the output passes MJ_MENTION_NFKC_MAX units the rest is
 * dropped and *cut set. A short body is one chunk. */
static int nfkc_bounded(const UNormalizer2 *nfkc, const UChar *src, int32_t n,
                        ubuf *dst, int32_t *out_len, int *cut)
{
    int32_t pos = 0, len = 0;
    int rc;

    rc = mj_ubuf_reserve(dst, n + n / 8);
    while (rc == MJ_OK && pos < n) {
        int32_t end = pos + NFKC_CHUNK;
        if (end >= n) {
            end = n;
        } else {
            int32_t e = end;
            while (e > pos && !boundary_at(nfkc, src, e, n))
                e--;
            if (e == pos) /* a chunk without a boundary: go on to one */
                while (++e < n && !boundary_at(nfkc, src, e, n))
                    ;
            end = e;
        }
        for (int pass = 0; pass < 2; pass++) {
            UErrorCode err = U_ZERO_ERROR;
            int32_t m = unorm2_normalize(nfkc, src + pos, end - pos,
                                         dst->p + len, dst->cap - len, &err);
            if (err == U_BUFFER_OVERFLOW_ERROR) {
                /* room for this chunk and as much again */
                rc = ubuf_grow(dst, 2 * (len + m), len);
                if (rc != MJ_OK)
                    break;
                continue;
            }
            if (U_FAILURE(err))
                rc = MJ_ENOMEM;
            else
                len += m;
            break;
        }
        pos = end;
        if (rc == MJ_OK && len > MJ_MENTION_NFKC_MAX) {
            len = MJ_MENTION_NFKC_MAX;
            if (U16_IS_LEAD(dst->p[len - 1]))
                len--;
            *cut = 1;
            break;
        }
    }
    *out_len = len;
    return rc;
}

/* UTF-8 s -> NFKC(fold(NFKC(s))), s without its mj_invisible()
 * characters and with U+2019 as "'", in out (UTF-16, *out_len units); tmp is
 * scratch. MJ_OK, NOT_UTF8 or MJ_ENOMEM. len must fit an int32_t. With
 * cut (bodies), the first NFKC is bounded and *cut set when it cuts. */
int mj_normal_form(const char *s, int32_t len, ubuf *out, ubuf *tmp,
                   int32_t *out_len, int *cut)
{
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2 *nfkc = unorm2_getNFKCInstance(&err);
    int32_t n = 0, m = 0;
    int rc;

    if (U_FAILURE(err))
        return MJ_ENOMEM;
    /* UTF-8 never takes fewer bytes than UTF-16 takes units */
    rc = mj_ubuf_reserve(tmp, len);
    if (rc != MJ_OK)
        return rc;
    u_strFromUTF8(tmp->p, tmp->cap, &n, s, len, &err);
    if (err == U_INVALID_CHAR_FOUND || err == U_ILLEGAL_CHAR_FOUND)
        return NOT_UTF8;
    if (U_FAILURE(err))
        return MJ_ENOMEM;
    n = premap(tmp->p, n);
    /* tmp -> out (stream-safe) -> tmp: the text normalised from here on
     * has no run of non-starters longer than MJ_MENTION_SAFE_RUN */
    rc = stream_safe(tmp->p, n, out, &m);
    if (rc == MJ_OK)
        rc = mj_ubuf_reserve(tmp, m);
    if (rc != MJ_OK)
        return rc;
    memcpy(tmp->p, out->p, (size_t)m * sizeof *tmp->p);
    n = m;
    if (cut)
        rc = nfkc_bounded(nfkc, tmp->p, n, out, &m, cut);
    else
        rc = step(nfkc, 0, tmp->p, n, out, &m);
    if (rc == MJ_OK)
        rc = step(nfkc, 1, out->p, m, tmp, &n);
    if (rc == MJ_OK)
        rc = step(nfkc, 0, tmp->p, n, out, &m);
    *out_len = m;
    return rc;
}

int mj_mention_fold(const char *in, size_t len, char *out, size_t cap,
                    size_t *out_len)
{
    ubuf a, b;
    int32_t n = 0, m = 0;
    UErrorCode err = U_ZERO_ERROR;
    int rc, cut = 0;

    /* a bound far above any use, so that no length can overflow */
    if ((in == NULL && len) || (out == NULL && cap) || out_len == NULL ||
        len > INT32_MAX / 64)
        return MJ_EINVAL;
    mj_ubuf_init(&a);
    mj_ubuf_init(&b);
    rc = mj_normal_form(in ? in : "", (int32_t)len, &a, &b, &n, &cut);
    if (rc == NOT_UTF8)
        rc = MJ_EINVAL;
    if (rc == MJ_OK && cut)
        rc = MJ_ETOOLONG;
    if (rc == MJ_OK) {
        u_strToUTF8(out, cap > INT32_MAX ? INT32_MAX : (int32_t)cap, &m, a.p,
                    n, &err);
        if (err == U_BUFFER_OVERFLOW_ERROR)
            rc = MJ_ETOOLONG;
        else if (U_FAILURE(err))
            rc = MJ_ENOMEM;
        else
            *out_len = (size_t)m;
    }
    mj_ubuf_free(&a);
    mj_ubuf_free(&b);
    return rc;
}

void mj_body_cache_free(struct mj_tracker *tr, mj_body_cache *c)
{
    if (c->bytes != NULL) {
        mj_free(tr, c->bytes, c->len ? c->len : 1);
        mj_free(tr, c->u, (size_t)(c->ulen ? c->ulen : 1) * sizeof *c->u);
    }
    c->bytes = NULL;
    c->u = NULL;
    c->len = 0;
    c->ulen = 0;
}

/* Normalise the body (n bytes, cut) into the cache. MJ_OK; MJ_ENOMEM
 * when ICU failed; NOT_UTF8 is kept in the cache (c->bad). When the
 * cache's buffers cannot be had, *b holds the normal form (*bl units) and
 * the cache is left empty: the caller searches b. */
int mj_body_cache_fill(struct mj_tracker *tr, mj_body_cache *c,
                       const char *body, size_t n, int cut, ubuf *b,
                       int32_t *bl, int *bcut)
{
    ubuf tmp;
    int rc, incut = cut != 0;

    mj_body_cache_free(tr, c);
    mj_ubuf_init(&tmp);
    *bl = 0;
    rc = mj_normal_form(body, (int32_t)n, b, &tmp, bl, &cut);
    mj_ubuf_free(&tmp);
    *bcut = cut;
    c->folds++;
    if (rc != MJ_OK && rc != NOT_UTF8)
        return rc;
    c->bytes = mj_alloc(tr, n ? n : 1);
    c->u =
        c->bytes ? mj_alloc(tr, (size_t)(*bl ? *bl : 1) * sizeof *c->u) : NULL;
    if (c->u == NULL) {
        if (c->bytes)
            mj_free(tr, c->bytes, n ? n : 1);
        c->bytes = NULL;
        return rc; /* search b instead */
    }
    memcpy(c->bytes, body, n);
    c->len = n;
    if (*bl)
        memcpy(c->u, b->p, (size_t)*bl * sizeof *c->u);
    c->ulen = *bl;
    c->cut = (uint8_t)cut;
    c->incut = (uint8_t)incut;
    c->bad = rc == NOT_UTF8;
    return rc;
}

/* The normal form of body mentions (normal.c): NFKC(fold(NFKC(s))),
 * bounded, into UTF-16 buffers that live on the stack while short; and the
 * filling of the body cache (struct mj_body_cache, mentions_impl.h, where
 * mj_mention_fold() and mj_body_cache_free() are declared too). Used by
 * the matcher, mentions.c. */
#ifndef MJ_NORMAL_H
#define MJ_NORMAL_H

#include <stddef.h>
#include <stdint.h>

#include <unicode/utypes.h>

#include "mentions_impl.h"

#define MJ_STACK_UNITS 256

/* Internal result of mj_normal_form(): the input is not UTF-8. */
#define NOT_UTF8 1

/* UTF-16 buffers: on the stack while short, on the heap when longer */
typedef struct ubuf {
    UChar *p;
    int32_t cap;
    UChar *heap;
    UChar stack[MJ_STACK_UNITS];
} ubuf;

void mj_ubuf_init(ubuf *b);
void mj_ubuf_free(ubuf *b);
/* At least n units; the contents are not kept. */
int mj_ubuf_reserve(ubuf *b, int32_t n);

/* Whether c is one of the characters Resourceprep maps to nothing
 * (RFC 3454 table B.1: soft hyphens, the combining grapheme joiner,
 * Mongolian variation selectors, ZWNJ, ZWJ, the word joiner, variation
 * selectors 1-16, the zero-width no-break space) other than U+200B ZERO
 * WIDTH SPACE, which separates words. mj_normal_form() drops them before
 * anything else, as Prosody drops them from a nick. */
int mj_invisible(UChar32 c);

/* UTF-8 s -> NFKC(fold(NFKC(s))), s without its mj_invisible()
 * characters and with U+2019 as "'", in out (UTF-16, *out_len units); tmp is
 * scratch. MJ_OK, NOT_UTF8 or MJ_ENOMEM. len must fit an int32_t. With
 * cut (bodies), the first NFKC is bounded and *cut set when it cuts. */
int mj_normal_form(const char *s, int32_t len, ubuf *out, ubuf *tmp,
                   int32_t *out_len, int *cut);

/* Normalise the body (n bytes, cut) into the cache. MJ_OK; MJ_ENOMEM
 * when ICU failed; NOT_UTF8 is kept in the cache (c->bad). When the
 * cache's buffers cannot be had, *b holds the normal form (*bl units) and
 * the cache is left empty: the caller searches b. */
int mj_body_cache_fill(struct mj_tracker *tr, mj_body_cache *c,
                       const char *body, size_t n, int cut, ubuf *b,
                       int32_t *bl, int *bcut);

#endif

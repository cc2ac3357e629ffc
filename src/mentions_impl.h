/* Internal to src/mentions.c and its tests/fuzz target: the pieces of the
 * body-mention matcher exposed so tests can prove the ASCII fast path equal
 * to the ICU path and check the normal form. Not part of the public API. */
#ifndef MJ_MENTIONS_IMPL_H
#define MJ_MENTIONS_IMPL_H

#include <stddef.h>

#include "mentions.h"

/* Bodies are scanned in their first MJ_MENTION_BODY_MAX bytes only (cut
 * back to a UTF-8 sequence start); a match running up to the cut is not
 * accepted, since the character after it is unknown. Nicks longer than
 * this never match. */
#define MJ_MENTION_BODY_MAX 65536

/* NFKC can make a body 18 times longer (U+FDFA). The first NFKC of a body
 * stops once its output passes this many UTF-16 units; the rest is not
 * looked at (as with the byte bound, a match running up to that cut does
 * not count). Plain text never reaches it: 64 KiB of UTF-8 is at most 64
 * Ki UTF-16 units before NFKC. */
#define MJ_MENTION_NFKC_MAX 65536

/* The Stream-Safe Text Format's bound (UAX #15): at most this many
 * non-starters in a row (counted in NFKD) reach the normaliser; a
 * COMBINING GRAPHEME JOINER (U+034F) is inserted before the code point
 * that would make the run longer, in body and nick alike. */
#define MJ_MENTION_SAFE_RUN 30

/* mj_mention_text() without the ASCII fast path: always through ICU. Same
 * contract, same results. */
int mj_mention_text_slow(const char *body, size_t body_len, const char *nick,
                         size_t nick_len, int *match);

/* The normal form both sides are compared in, NFKC(fold(NFKC(s))), as
 * UTF-8 into out (cap bytes, not NUL-terminated), computed as for a body
 * (in chunks). MJ_OK, MJ_EINVAL (bad arguments or invalid UTF-8),
 * MJ_ETOOLONG (cap too small, or the first NFKC passed
 * MJ_MENTION_NFKC_MAX units), MJ_ENOMEM. */
int mj_mention_fold(const char *in, size_t len, char *out, size_t cap,
                    size_t *out_len);

#endif

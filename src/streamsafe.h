/* Internal: the Unicode Stream-Safe Text Format (UAX #15, section 13),
 * shared by JID preparation (jid.c: a part breaking it does not prepare)
 * and the mention matcher's normal form (normal.c: a COMBINING GRAPHEME
 * JOINER is inserted). Not part of the public API.
 *
 * ICU's normaliser sorts a run of non-starters (combining class != 0) by
 * insertion sort, in time quadratic in the run's length; text that keeps
 * every run at MJ_SAFE_RUN or less is normalised in linear time. Runs are
 * counted in each code point's NFKD, so U+0F73 (class 0, decomposing
 * into two non-starters) counts two. */
#ifndef MJ_STREAMSAFE_H
#define MJ_STREAMSAFE_H

#include <stdint.h>

#include <unicode/unorm2.h>

#define MJ_SAFE_RUN 30

/* The most non-starters one code point's NFKD gives a run (its leading
 * or trailing ones, or all of it): 3 in Unicode 15 (tests/test_jid.c
 * checks every code point). A run longer than MJ_SAFE_RUN so takes at
 * least MJ_SAFE_MIN_SPAN code points in a row that are not inert, and
 * text without that many in a row is stream-safe without looking
 * further. */
#define MJ_SAFE_CP_MAX   3
#define MJ_SAFE_MIN_SPAN (MJ_SAFE_RUN / MJ_SAFE_CP_MAX + 1)

/* What the rule needs to know of a code point's NFKD: its leading and
 * trailing non-starters, its length, and whether it is all non-starters.
 * Looked up through a small cache: text repeats its characters, and the
 * lookup is the costly part. */
struct mj_nfkd_info {
    UChar32 c;
    uint8_t lead, trail, len, all;
};

#define MJ_SAFE_CACHE 64

typedef struct mj_safe_scan {
    const UNormalizer2 *nfkd;
    int32_t run; /* non-starters at the end of the text so far */
    struct mj_nfkd_info cache[MJ_SAFE_CACHE];
} mj_safe_scan;

/* Start a scan. MJ_OK, or MJ_ENOMEM when ICU's data cannot be loaded. */
int mj_safe_init(mj_safe_scan *s);

/* The next code point of the text. 1 when the run of non-starters before
 * it plus its own leading ones would pass MJ_SAFE_RUN: the caller breaks
 * the run there (normal.c inserts U+034F; the count restarts as if it
 * did) or refuses the text; else 0. Starters without a decomposition
 * (all ASCII, most letters) cost one table lookup. */
int mj_safe_next(mj_safe_scan *s, UChar32 c);

/* Is the UTF-16 text (n units) stream-safe? 1 or 0; -1 when ICU's data
 * cannot be loaded. One pass, linear in n. */
int mj_safe_check(const UChar *src, int32_t n);

/* The same on UTF-8 text (n bytes), the same answer as mj_safe_check()
 * on its UTF-16 conversion (malformed sequences count as U+FFFD, a
 * starter). It stops at the run that breaks the rule, so a refusal costs
 * the code points up to that run. */
int mj_safe_check_utf8(const char *src, int32_t n);

#endif

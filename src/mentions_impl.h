/* Internal to src/mentions.c, src/normal.c and their tests/fuzz target: the
 * pieces of the body-mention matcher exposed so tests can prove the ASCII fast
 * path equal to the ICU path and check the normal form. Not part of the public
 * API. */
#ifndef MJ_MENTIONS_IMPL_H
#define MJ_MENTIONS_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mentions.h"
#include "streamsafe.h"

/* Bodies are scanned in their first MJ_MENTION_BODY_MAX bytes only (cut
 * back to a UTF-8 sequence start); a match running up to the cut is not
 * accepted, since the character after it is unknown. Nicks longer than
 * this never match. */
/* mucjoins.h's: a builder hands over at most one byte more */
#define MJ_MENTION_BODY_MAX MJ_MAX_BODY

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
#define MJ_MENTION_SAFE_RUN MJ_SAFE_RUN

/* Is s (n bytes) all ASCII? Eight bytes at a time, the ends read as
 * overlapping words: a few instructions for a nick. */
static inline int mj_ascii(const char *s, size_t n)
{
    uint64_t acc = 0, w;
    uint32_t a, b;

    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            acc |= w;
        }
        memcpy(&w, s + n - 8, 8);
        acc |= w;
    } else if (n >= 4) {
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        acc = a | b;
    } else {
        for (size_t i = 0; i < n; i++)
            acc |= (unsigned char)s[i];
    }
    return (acc & UINT64_C(0x8080808080808080)) == 0;
}

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

/* The last message body the mention matcher normalised (mentions.c,
 * mj_mention_text_cached; filled by normal.c): Prosody's MUC hands one stanza
 * to each local occupant, and the body's normal form is the same for all of
 * them. Its buffers are the tracker's (counted in tr->bytes). */
typedef struct mj_body_cache {
    char *bytes; /* the body bytes looked at (the 64 KiB cut); NULL:
                    empty */
    size_t len;  /* bytes of bytes[] */
    uint16_t *u; /* their normal form, UTF-16 (ulen units; cap >= 1) */
    int32_t ulen;
    uint8_t cut;   /* a match ending at the end does not count */
    uint8_t incut; /* bytes came after those looked at (part of the key:
                      the same bytes alone, or followed by more, differ) */
    uint8_t bad;   /* not UTF-8: never mentions */
    size_t folds;  /* bodies normalised through the cache (tests) */
} mj_body_cache;

/* The JIDs the mention references of the last message named (messages.c):
 * slot i holds what its i-th reference's uri path decoded and prepared to
 * (mj_mention_uri_jid()), keyed by the path's bytes, so that a message
 * delivered to many occupants has its references prepared once. The
 * buffers are the tracker's (counted in tr->bytes). */
typedef struct mj_ref_slot {
    char *buf;     /* the path's bytes, then the bare JID, then the
                      resource; NULL: the slot is empty */
    size_t cap;    /* bytes of buf */
    size_t len;    /* bytes of the path */
    size_t bl, rl; /* the JID's parts (rl (size_t)-1: none) */
    int names;     /* the path names a JID */
} mj_ref_slot;

typedef struct mj_ref_cache {
    mj_ref_slot slot[MJ_MAX_REFS];
    size_t preps; /* paths decoded and prepared (tests) */
} mj_ref_cache;

/* The last message's <delay from> JIDs, prepared (messages.c): slot i
 * holds what its i-th marker's from prepared to, keyed by the from's
 * bytes, so that a message delivered to many occupants has its markers
 * prepared once, not once per recipient whose room has not sent its
 * subject yet. The buffers are the tracker's (counted in tr->bytes). */
typedef struct mj_delay_slot {
    char *buf;   /* the from's bytes, then its prepared form; NULL: empty */
    size_t cap;  /* bytes of buf */
    size_t len;  /* bytes of the from */
    size_t plen; /* bytes of the prepared form */
    int rc;      /* mj_jid_prep()'s answer */
} mj_delay_slot;

typedef struct mj_delay_cache {
    mj_delay_slot slot[MJ_MAX_DELAY];
    size_t preps; /* froms prepared (tests) */
} mj_delay_cache;

struct mj_tracker;
struct mj_nick_cache;

/* mj_mention_text() with the body's normal form kept in cache (one body:
 * the last one seen), so that a body delivered to many occupants is
 * normalised once; the cache's buffers come from tr's allocator. The same
 * results as mj_mention_text(); when the cache cannot be allocated the
 * answer is computed without it. */
int mj_mention_text_cached(struct mj_tracker *tr, struct mj_body_cache *cache,
                           struct mj_nick_cache *nicks, const char *body,
                           size_t body_len, const char *nick, size_t nick_len,
                           int *match);

/* Give back the cache's buffers. */
void mj_body_cache_free(struct mj_tracker *tr, struct mj_body_cache *cache);

#endif

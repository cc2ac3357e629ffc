/* The prepared and folded forms of the nicks the tracker holds
 * (nickcache.c), on env.h, hash.h, jid.h and normal.h: a nick that is not
 * printable ASCII (Cyrillic, CJK, combining marks...) costs ICU work to
 * compare with what another occupant sent (Resourceprep) and to look for
 * in a body (NFKC(fold(NFKC))). That work is a function of the stored
 * nick, which a room can set (a 210 rewrite: up to 1023 bytes of
 * combining marks), not of the stanza: done on every message it made a
 * small stanza cost up to ~900 times a typical one (review AJ). The
 * forms are kept, keyed by the nick's bytes, in a direct-mapped cache of
 * MJ_NICK_CACHE_SLOTS slots (allocated at the first such nick): the next
 * stanza for the same nick hashes and compares its bytes instead. A slot
 * holds one nick, its prepared form and its fold: at most ~9 KiB (a nick
 * of 1023 bytes, folded to at most three UTF-16 units a byte), so the
 * cache holds 2.3 MiB at the very most, the slot array 2 KiB. */
#ifndef MJ_NICKCACHE_H
#define MJ_NICKCACHE_H

#include <stddef.h>
#include <stdint.h>

struct mj_tracker;

#define MJ_NICK_CACHE_SLOTS 256

typedef struct mj_nick_slot mj_nick_slot;

typedef struct mj_nick_cache {
    mj_nick_slot **slot; /* MJ_NICK_CACHE_SLOTS; NULL until the first use */
    mj_nick_slot *last;  /* the slot last used: a message looks its
                            recipient's nick up twice (the sender's nick
                            compared, then mentions), a fan-out the same
                            nick again; found by its bytes, no hash */
    size_t preps;        /* nicks prepared into a slot (tests) */
    size_t folds;        /* nicks folded into a slot (tests) */
} mj_nick_cache;

/* The Resourceprep form of a stored nick (1 to MJ_PART_MAX bytes): MJ_OK
 * with *out (valid until the next call on the cache) and *out_len; the
 * nick itself when it is printable ASCII (no cache then). MJ_ENOMEM, or
 * the error mj_prep_part() gives for a nick that does not prepare. */
int mj_nick_prep_cached(struct mj_tracker *tr, const char *nick, size_t len,
                        const char **out, size_t *out_len);

/* The mention fold NFKC(fold(NFKC(nick))) of a stored nick that is not
 * ASCII, as UTF-16 (*out, *out_len units; valid until the next call on
 * the cache): MJ_OK, NOT_UTF8 (normal.h) or MJ_ENOMEM. */
int mj_nick_fold_cached(struct mj_tracker *tr, const char *nick, size_t len,
                        const uint16_t **out, int32_t *out_len);

/* Give back every slot and the slot array. */
void mj_nick_cache_free(struct mj_tracker *tr, mj_nick_cache *c);

#endif

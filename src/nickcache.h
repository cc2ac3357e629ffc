/* The prepared and folded forms of the nicks the tracker holds
 * (nickcache.c), on env.h, hash.h, jid.h and normal.h: a nick that is not
 * printable ASCII (Cyrillic, CJK, combining marks...) costs ICU work to
 * compare with what another occupant sent (Resourceprep) and to look for
 * in a body (NFKC(fold(NFKC))). That work is a function of the held
 * nick, which a room can set (a 210 rewrite: up to 1023 bytes of
 * combining marks), not of the stanza: done on every message it made a
 * small stanza cost up to ~900 times a typical one.
 *
 * So each such nick is registered while something holds it (an entry's
 * shown or asked nick: store.c holds and releases them as they are set,
 * replaced and freed), in a table keyed by its bytes, with its prepared
 * form (made when first held) and its fold (made when first needed). A
 * stanza for it hashes and compares the nick's bytes, or, for the nick
 * looked up last, compares them only. Nothing is evicted while held, so no
 * number of nicks makes the work come back (a cache of 256 slots did:
 * 1000 such nicks cost ~288 times as much); a record goes with its last
 * holder, so the tracker's bytes
 * return to their baseline. A record is at most ~8 KiB (a nick of 1023
 * bytes, its prepared form, its fold of at most three UTF-16 units a
 * byte); there is one per distinct held nick, at most two per entry. */
#ifndef MJ_NICKCACHE_H
#define MJ_NICKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "jid.h"

struct mj_tracker;
struct ubuf;

typedef struct mj_nick_rec mj_nick_rec;

typedef struct mj_nick_cache {
    mj_hkey key;       /* the tracker's hash key (a copy) */
    mj_table table;    /* mj_nick_rec *, by the SipHash of the bytes */
    mj_nick_rec *last; /* the record last looked up */
    size_t preps;      /* nicks prepared into a record (tests) */
    size_t folds;      /* nicks folded into a record (tests) */
} mj_nick_cache;

/* A nick (p, len) is held once more / once less (an entry shows it or
 * asked for it). Printable ASCII nicks and empty or over-long ones are not
 * registered (their work is a few instructions); out of memory, nothing is
 * (lookups then do the work themselves). Releasing a nick not held does
 * nothing. */
void mj_nick_hold_slow(struct mj_tracker *tr, mj_nick_cache *c, const char *p,
                       size_t len);
void mj_nick_release_slow(struct mj_tracker *tr, mj_nick_cache *c,
                          const char *p, size_t len);

/* Whether a nick is registered when held: not printable ASCII (whose
 * forms are a few instructions), 1 to MJ_PART_MAX bytes. Inline: most
 * nicks are printable ASCII, and every join and nick change asks. */
static inline int mj_nick_registered(const char *p, size_t len)
{
    return p != NULL && len != 0 && len <= MJ_PART_MAX &&
           !mj_res_plain(p, len);
}

static inline void mj_nick_hold(struct mj_tracker *tr, mj_nick_cache *c,
                                const char *p, size_t len)
{
    if (mj_nick_registered(p, len))
        mj_nick_hold_slow(tr, c, p, len);
}

static inline void mj_nick_release(struct mj_tracker *tr, mj_nick_cache *c,
                                   const char *p, size_t len)
{
    if (mj_nick_registered(p, len))
        mj_nick_release_slow(tr, c, p, len);
}

/* The Resourceprep form of a nick: *out, *out_len (in its record, valid
 * while the nick is held; in buf, MJ_PART_MAX + 1 bytes, when it is not
 * registered; the nick itself when it is printable ASCII). MJ_OK, or
 * what mj_prep_part() gives for a nick that does not prepare (MJ_ENOMEM
 * included: ICU's own). Nothing is allocated here. */
int mj_nick_prep(mj_nick_cache *c, const char *nick, size_t len, char *buf,
                 const char **out, size_t *out_len);

/* The mention fold NFKC(fold(NFKC(nick))) of a nick that is not ASCII (the
 * caller checked: it is looked up as held without checking again), as
 * UTF-16 (*out, *out_len units; in its record, valid while the nick is
 * held, or in f when it is not registered or the record's copy could not
 * be allocated): MJ_OK, NOT_UTF8 (normal.h) or MJ_ENOMEM. */
int mj_nick_fold(struct mj_tracker *tr, mj_nick_cache *c, const char *nick,
                 size_t len, struct ubuf *f, const uint16_t **out,
                 int32_t *out_len);

/* Give back every record and the table (mj_tracker_free). */
void mj_nick_cache_free(struct mj_tracker *tr, mj_nick_cache *c);

#endif

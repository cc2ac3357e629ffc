/* The prepared and folded forms of held nicks (nickcache.h). */
#include "nickcache.h"

#include <string.h>

#include "env.h"
#include "jid.h"
#include "normal.h"

/* fold_rc before the nick was folded */
#define NOT_FOLDED (-1)

struct mj_nick_rec {
    uint64_t hash;
    size_t size;    /* of this allocation */
    size_t refs;    /* holders */
    size_t len;     /* the nick's bytes: buf[0 .. len) */
    size_t plen;    /* its prepared form's: buf[len .. len + plen) */
    int prep_rc;    /* MJ_OK, or why it does not prepare */
    int fold_rc;    /* NOT_FOLDED, MJ_OK or NOT_UTF8 */
    uint16_t *fold; /* fold_rc MJ_OK: flen units (at least one allocated) */
    int32_t flen;
    char buf[];
};

typedef struct {
    const char *p;
    size_t len;
} key;

static uint64_t rec_hash(const void *item)
{
    return ((const mj_nick_rec *)item)->hash;
}

static int rec_match(const void *item, const void *k)
{
    const mj_nick_rec *r = item;
    const key *q = k;
    return r->len == q->len && memcmp(r->buf, q->p, q->len) == 0;
}

/* The record of (p, len), or NULL; *slot: its index; *h: the hash. */
static mj_nick_rec *find(mj_nick_cache *c, const char *p, size_t len,
                         size_t *slot, uint64_t *h)
{
    key k = {p, len};
    *h = mj_siphash(&c->key, p, len);
    *slot = c->table.count ? mj_table_find(&c->table, *h, rec_match, &k)
                           : (size_t)-1;
    return *slot == (size_t)-1 ? NULL : c->table.slots[*slot];
}

/* The record of a nick being looked up (a stanza's work): the last one
 * looked up by its bytes alone, else through the table. NULL: not held. */
static mj_nick_rec *lookup(mj_nick_cache *c, const char *p, size_t len)
{
    mj_nick_rec *r = c->last;
    if (r != NULL && r->len == len && memcmp(r->buf, p, len) == 0)
        return r;
    size_t slot;
    uint64_t h;
    r = find(c, p, len, &slot, &h);
    if (r != NULL)
        c->last = r;
    return r;
}

static void rec_free(struct mj_tracker *tr, mj_nick_rec *r)
{
    if (r->fold != NULL)
        mj_free(tr, r->fold,
                (r->flen > 0 ? (size_t)r->flen : 1) * sizeof *r->fold);
    mj_free(tr, r, r->size);
}

void mj_nick_hold_slow(struct mj_tracker *tr, mj_nick_cache *c, const char *p,
                       size_t len)
{
    size_t slot;
    uint64_t h;
    mj_nick_rec *r = find(c, p, len, &slot, &h);
    if (r != NULL) {
        r->refs++;
        return;
    }
    char prep[MJ_PART_MAX + 1];
    size_t pl = 0;
    int rc = mj_prep_part(MJ_PROFILE_RESOURCE, p, len, prep, sizeof prep, &pl);
    if (rc == MJ_ENOMEM || mj_table_reserve(tr, &c->table, rec_hash) != MJ_OK)
        return;
    if (rc != MJ_OK)
        pl = 0;
    size_t size = sizeof *r + len + pl;
    if ((r = mj_alloc(tr, size)) == NULL) {
        mj_table_trim(tr, &c->table, rec_hash);
        return;
    }
    r->hash = h;
    r->size = size;
    r->refs = 1;
    r->len = len;
    r->plen = pl;
    r->prep_rc = rc;
    r->fold_rc = NOT_FOLDED;
    r->fold = NULL;
    r->flen = 0;
    memcpy(r->buf, p, len);
    memcpy(r->buf + len, prep, pl);
    mj_table_insert(&c->table, h, r);
    c->preps++;
}

void mj_nick_release_slow(struct mj_tracker *tr, mj_nick_cache *c,
                          const char *p, size_t len)
{
    size_t slot;
    uint64_t h;
    mj_nick_rec *r = find(c, p, len, &slot, &h);
    if (r == NULL || --r->refs != 0)
        return;
    mj_table_remove_at(&c->table, slot, rec_hash);
    if (c->last == r)
        c->last = NULL;
    rec_free(tr, r);
    mj_table_trim(tr, &c->table, rec_hash);
}

int mj_nick_prep(mj_nick_cache *c, const char *nick, size_t len, char *buf,
                 const char **out, size_t *out_len)
{
    if (mj_res_plain(nick, len)) {
        *out = nick; /* prepares to itself */
        *out_len = len;
        return MJ_OK;
    }
    /* not printable ASCII: registered when held and of a usable length */
    mj_nick_rec *r =
        len != 0 && len <= MJ_PART_MAX ? lookup(c, nick, len) : NULL;
    if (r == NULL) {
        *out = buf; /* not held (or no memory was had): made here */
        return mj_prep_part(MJ_PROFILE_RESOURCE, nick, len, buf,
                            MJ_PART_MAX + 1, out_len);
    }
    *out = r->buf + r->len;
    *out_len = r->plen;
    return r->prep_rc;
}

int mj_nick_fold(struct mj_tracker *tr, mj_nick_cache *c, const char *nick,
                 size_t len, struct ubuf *f, const uint16_t **out,
                 int32_t *out_len)
{
    ubuf tmp;
    int rc;
    /* not ASCII, so not printable ASCII: registered when held */
    mj_nick_rec *r =
        len != 0 && len <= MJ_PART_MAX ? lookup(c, nick, len) : NULL;
    if (r != NULL && r->fold_rc != NOT_FOLDED) {
        *out = r->fold;
        *out_len = r->flen;
        return r->fold_rc;
    }
    mj_ubuf_init(&tmp);
    rc = mj_normal_form(nick, (int32_t)len, f, &tmp, out_len, NULL);
    mj_ubuf_free(&tmp);
    *out = (const uint16_t *)f->p;
    if (r == NULL || rc == MJ_ENOMEM)
        return rc; /* not held: the caller's buffer */
    if (rc == MJ_OK) {
        size_t units = *out_len > 0 ? (size_t)*out_len : 1;
        r->fold = mj_alloc(tr, units * sizeof *r->fold);
        if (r->fold == NULL)
            return rc; /* kept next time, maybe; f has it now */
        if (*out_len > 0)
            memcpy(r->fold, f->p, (size_t)*out_len * sizeof *r->fold);
    }
    r->flen = *out_len;
    r->fold_rc = rc;
    c->folds++;
    *out = r->fold;
    return rc;
}

void mj_nick_cache_free(struct mj_tracker *tr, mj_nick_cache *c)
{
    for (size_t i = 0; i < c->table.cap; i++)
        if (c->table.slots[i] != NULL)
            rec_free(tr, c->table.slots[i]);
    mj_table_free(tr, &c->table);
    c->last = NULL;
}

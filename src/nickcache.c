/* The prepared and folded forms of stored nicks (nickcache.h). */
#include "nickcache.h"

#include <string.h>

#include "env.h"
#include "jid.h"
#include "normal.h"
#include "store.h"

/* fold_rc before the nick was folded */
#define NOT_FOLDED (-1)

struct mj_nick_slot {
    uint64_t hash;
    size_t size;    /* of this allocation */
    size_t len;     /* the nick's bytes: buf[0 .. len) */
    size_t plen;    /* its prepared form's: buf[len .. len + plen) */
    int prep_rc;    /* MJ_OK, or why it does not prepare */
    int fold_rc;    /* NOT_FOLDED, MJ_OK or NOT_UTF8 */
    uint16_t *fold; /* fold_rc MJ_OK: flen units (at least one allocated) */
    int32_t flen;
    char buf[];
};

static void slot_free(struct mj_tracker *tr, mj_nick_slot *s)
{
    if (s == NULL)
        return;
    if (s->fold != NULL)
        mj_free(tr, s->fold,
                (s->flen > 0 ? (size_t)s->flen : 1) * sizeof *s->fold);
    mj_free(tr, s, s->size);
}

/* The slot holding the nick (1 to MJ_PART_MAX bytes), made (prepared)
 * in place of the slot's last nick when it is not there; NULL: out of
 * memory. */
static mj_nick_slot *slot_of(struct mj_tracker *tr, const char *nick,
                             size_t len)
{
    mj_nick_cache *c = &tr->nicks;
    mj_nick_slot *s = c->last;
    if (s != NULL && s->len == len && memcmp(s->buf, nick, len) == 0)
        return s;
    if (c->slot == NULL) {
        c->slot = mj_alloc(tr, MJ_NICK_CACHE_SLOTS * sizeof *c->slot);
        if (c->slot == NULL)
            return NULL;
        for (size_t i = 0; i < MJ_NICK_CACHE_SLOTS; i++)
            c->slot[i] = NULL;
    }
    uint64_t h = mj_siphash(&tr->key, nick, len);
    mj_nick_slot **at = &c->slot[h & (MJ_NICK_CACHE_SLOTS - 1)];
    s = *at;
    if (s != NULL && s->hash == h && s->len == len &&
        memcmp(s->buf, nick, len) == 0)
        return c->last = s;
    char p[MJ_PART_MAX + 1];
    size_t pl = 0;
    int rc = mj_prep_part(MJ_PROFILE_RESOURCE, nick, len, p, sizeof p, &pl);
    if (rc == MJ_ENOMEM)
        return NULL;
    if (rc != MJ_OK)
        pl = 0;
    size_t size = sizeof *s + len + pl;
    mj_nick_slot *n = mj_alloc(tr, size);
    if (n == NULL)
        return NULL;
    n->hash = h;
    n->size = size;
    n->len = len;
    n->plen = pl;
    n->prep_rc = rc;
    n->fold_rc = NOT_FOLDED;
    n->fold = NULL;
    n->flen = 0;
    memcpy(n->buf, nick, len);
    memcpy(n->buf + len, p, pl);
    slot_free(tr, s);
    *at = n;
    c->preps++;
    return c->last = n;
}

int mj_nick_prep_cached(struct mj_tracker *tr, const char *nick, size_t len,
                        const char **out, size_t *out_len)
{
    if (mj_res_plain(nick, len)) {
        *out = nick; /* prepares to itself */
        *out_len = len;
        return MJ_OK;
    }
    if (len == 0 || len > MJ_PART_MAX)
        return len == 0 ? MJ_EJID : MJ_ETOOLONG;
    mj_nick_slot *s = slot_of(tr, nick, len);
    if (s == NULL)
        return MJ_ENOMEM;
    *out = s->buf + s->len;
    *out_len = s->plen;
    return s->prep_rc;
}

int mj_nick_fold_cached(struct mj_tracker *tr, const char *nick, size_t len,
                        const uint16_t **out, int32_t *out_len)
{
    if (len == 0 || len > MJ_PART_MAX)
        return MJ_EINVAL;
    mj_nick_slot *s = slot_of(tr, nick, len);
    if (s == NULL)
        return MJ_ENOMEM;
    if (s->fold_rc == NOT_FOLDED) {
        ubuf f, tmp;
        int32_t fl = 0;
        mj_ubuf_init(&f);
        mj_ubuf_init(&tmp);
        int rc = mj_normal_form(nick, (int32_t)len, &f, &tmp, &fl, NULL);
        mj_ubuf_free(&tmp);
        if (rc == MJ_OK) {
            size_t units = fl > 0 ? (size_t)fl : 1;
            s->fold = mj_alloc(tr, units * sizeof *s->fold);
            if (s->fold == NULL)
                rc = MJ_ENOMEM;
            else if (fl > 0)
                memcpy(s->fold, f.p, (size_t)fl * sizeof *s->fold);
        }
        mj_ubuf_free(&f);
        if (rc == MJ_ENOMEM)
            return rc;
        s->flen = fl;
        s->fold_rc = rc;
        tr->nicks.folds++;
    }
    *out = s->fold;
    *out_len = s->flen;
    return s->fold_rc;
}

void mj_nick_cache_free(struct mj_tracker *tr, mj_nick_cache *c)
{
    if (c->slot == NULL)
        return;
    for (size_t i = 0; i < MJ_NICK_CACHE_SLOTS; i++)
        slot_free(tr, c->slot[i]);
    mj_free(tr, c->slot, MJ_NICK_CACHE_SLOTS * sizeof *c->slot);
    c->slot = NULL;
    c->last = NULL;
}

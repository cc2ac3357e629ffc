/* What rooms still owe a closed session's full JID (owed.h). */
#include <math.h>
#include <string.h>

#include "owed.h"

struct mj_owed {
    uint64_t hash;
    uint64_t account;     /* the hash of the JID's bare part */
    mj_owed *prev, *next; /* the set's list, oldest first */
    double until;
    mj_owed_what what;
    uint32_t jlen, rlen;
    char s[]; /* the JID's jlen bytes, then the room's rlen */
};

struct pair {
    const char *jid, *room;
    size_t jlen, rlen;
};

static uint64_t pair_hash(const mj_hkey *key, const struct pair *p)
{
    /* two keyed hashes, mixed: the pair is never copied for a lookup */
    return mj_siphash(key, p->jid, p->jlen) * 0x9E3779B97F4A7C15u ^
           mj_siphash(key, p->room, p->rlen);
}

static uint64_t owed_hash(const void *item)
{
    return ((const mj_owed *)item)->hash;
}

static int same_pair(const void *item, const void *key)
{
    const mj_owed *o = item;
    const struct pair *p = key;
    return o->jlen == p->jlen && o->rlen == p->rlen &&
           memcmp(o->s, p->jid, p->jlen) == 0 &&
           memcmp(o->s + o->jlen, p->room, p->rlen) == 0;
}

/* The records of one account (bare JID), counted: settled ones apart. */
struct owed_account {
    uint64_t hash;
    uint32_t count;  /* of answers to stanzas in flight */
    uint32_t scount; /* of settled rooms' closes */
    size_t bytes;    /* of the records counted in count */
    size_t sbytes;   /* of those in scount */
};

static uint64_t account_hash(const void *item)
{
    return ((const struct owed_account *)item)->hash;
}

static int same_account(const void *item, const void *key)
{
    return ((const struct owed_account *)item)->hash == *(const uint64_t *)key;
}

/* The keyed hash of a prepared full JID's bare part. */
static uint64_t bare_hash(const mj_hkey *key, const char *jid, size_t jlen)
{
    const char *slash = memchr(jid, '/', jlen);
    return mj_siphash(key, jid, slash ? (size_t)(slash - jid) : jlen);
}

static size_t find_account(const mj_owed_set *set, uint64_t h)
{
    return mj_table_find(&set->accounts, h, same_account, &h);
}

/* The list a record is in. */
static mj_owed **head_of(mj_owed_set *set, const mj_owed *o)
{
    return o->what.settled ? &set->shead : &set->head;
}

static mj_owed **tail_of(mj_owed_set *set, const mj_owed *o)
{
    return o->what.settled ? &set->stail : &set->tail;
}

static void unlink_owed(mj_owed_set *set, mj_owed *o)
{
    if (o->prev != NULL)
        o->prev->next = o->next;
    else
        *head_of(set, o) = o->next;
    if (o->next != NULL)
        o->next->prev = o->prev;
    else
        *tail_of(set, o) = o->prev;
}

/* Remove o (found in the table at idx, or looked up when idx is -1) and
 * free it. */
static void drop(struct mj_tracker *tr, mj_owed_set *set, mj_owed *o,
                 size_t idx)
{
    if (idx == (size_t)-1)
        idx = mj_table_find_item(&set->table, o->hash, o);
    if (idx != (size_t)-1)
        mj_table_remove_at(&set->table, idx, owed_hash);
    unlink_owed(set, o);
    idx = find_account(set, o->account);
    if (idx != (size_t)-1) {
        struct owed_account *a = set->accounts.slots[idx];
        if (o->what.settled) {
            a->scount--;
            a->sbytes -= sizeof *o + o->jlen + o->rlen;
        } else {
            a->count--;
            a->bytes -= sizeof *o + o->jlen + o->rlen;
        }
        if (a->count == 0 && a->scount == 0) {
            mj_table_remove_at(&set->accounts, idx, account_hash);
            mj_free(tr, a, sizeof *a);
        }
    }
    set->bytes -= sizeof *o + o->jlen + o->rlen;
    mj_free(tr, o, sizeof *o + o->jlen + o->rlen);
}

/* After removals: an empty set holds no memory, a sparse one shrinks. */
static void shrink(struct mj_tracker *tr, mj_owed_set *set)
{
    if (set->table.count == 0) {
        mj_table_free(tr, &set->table);
        mj_table_free(tr, &set->accounts);
    } else {
        mj_table_trim(tr, &set->table, owed_hash);
        mj_table_trim(tr, &set->accounts, account_hash);
    }
}

void mj_owed_add(struct mj_tracker *tr, mj_owed_set *set, const mj_hkey *key,
                 const char *jid, size_t jlen, const char *room, size_t rlen,
                 const mj_owed_what *what, double until, size_t account_cap)
{
    struct pair p = {jid, room, jlen, rlen};
    uint64_t h = pair_hash(key, &p);
    size_t idx = mj_table_find(&set->table, h, same_pair, &p);
    if (idx != (size_t)-1)
        drop(tr, set, set->table.slots[idx], idx);
    uint64_t ah = bare_hash(key, jid, jlen);
    size_t ai = find_account(set, ah);
    struct owed_account *a = ai != (size_t)-1 ? set->accounts.slots[ai] : NULL;
    size_t size = sizeof(mj_owed) + jlen + rlen;
    if (a != NULL && ((what->settled ? a->scount : a->count) >= account_cap ||
                      (what->settled ? a->sbytes : a->bytes) + size >
                          MJ_OWED_ACCOUNT_BYTES))
        return; /* this account's share of that kind is full */
    if (size > MJ_OWED_ACCOUNT_BYTES)
        return;
    /* the oldest go, settled ones first (may free a: look again) */
    while ((set->shead != NULL || set->head != NULL) &&
           (set->table.count >= MJ_OWED_MAX ||
            set->bytes + size > MJ_OWED_MAX_BYTES)) {
        if (set->shead == NULL && what->settled)
            return; /* a settled record never evicts one in flight */
        drop(tr, set, set->shead != NULL ? set->shead : set->head, (size_t)-1);
    }
    ai = find_account(set, ah);
    a = ai != (size_t)-1 ? set->accounts.slots[ai] : NULL;
    if (mj_table_reserve(tr, &set->table, owed_hash) != MJ_OK)
        return;
    if (a == NULL) {
        if (mj_table_reserve(tr, &set->accounts, account_hash) != MJ_OK)
            return;
        a = mj_alloc(tr, sizeof *a);
        if (a == NULL)
            return;
        a->hash = ah;
        a->count = 0;
        a->scount = 0;
        a->bytes = 0;
        a->sbytes = 0;
        mj_table_insert(&set->accounts, ah, a);
    }
    mj_owed *o = mj_alloc(tr, sizeof *o + jlen + rlen);
    if (o == NULL) {
        if (a->count == 0 && a->scount == 0) {
            mj_table_remove_at(&set->accounts, find_account(set, ah),
                               account_hash);
            mj_free(tr, a, sizeof *a);
        }
        return;
    }
    if (what->settled) {
        a->scount++;
        a->sbytes += size;
    } else {
        a->count++;
        a->bytes += size;
    }
    set->bytes += size;
    o->hash = h;
    o->account = ah;
    o->until = until;
    o->what = *what;
    o->jlen = (uint32_t)jlen;
    o->rlen = (uint32_t)rlen;
    memcpy(o->s, jid, jlen);
    memcpy(o->s + jlen, room, rlen);
    o->next = NULL;
    o->prev = *tail_of(set, o);
    if (o->prev != NULL)
        o->prev->next = o;
    else
        *head_of(set, o) = o;
    *tail_of(set, o) = o;
    mj_table_insert(&set->table, h, o);
}

/* The record for (jid, room) and its slot, or NULL. */
static mj_owed *find(const mj_owed_set *set, const mj_hkey *key,
                     const char *jid, size_t jlen, const char *room,
                     size_t rlen, size_t *idx)
{
    if (set->table.count == 0)
        return NULL;
    struct pair p = {jid, room, jlen, rlen};
    *idx = mj_table_find(&set->table, pair_hash(key, &p), same_pair, &p);
    return *idx == (size_t)-1 ? NULL : set->table.slots[*idx];
}

int mj_owed_take(struct mj_tracker *tr, mj_owed_set *set, const mj_hkey *key,
                 const char *jid, size_t jlen, const char *room, size_t rlen,
                 double now, mj_owed_what *what)
{
    size_t idx;
    mj_owed *o = find(set, key, jid, jlen, room, rlen, &idx);
    if (o == NULL)
        return 0;
    int live = o->until > now;
    *what = o->what;
    drop(tr, set, o, idx);
    shrink(tr, set);
    return live;
}

int mj_owed_explains(struct mj_tracker *tr, mj_owed_set *set,
                     const mj_hkey *key, const char *jid, size_t jlen,
                     const char *room, size_t rlen, double now)
{
    size_t idx;
    mj_owed *o = find(set, key, jid, jlen, room, rlen, &idx);
    if (o == NULL || !(o->until > now))
        return 0;
    if (o->what.settled) {
        drop(tr, set, o, idx);
        shrink(tr, set);
    }
    return 1;
}

void mj_owed_renamed_came(mj_owed_set *set, const mj_hkey *key,
                          const char *jid, size_t jlen, const char *room,
                          size_t rlen)
{
    size_t idx;
    mj_owed *o = find(set, key, jid, jlen, room, rlen, &idx);
    if (o != NULL)
        o->what.renamed = 0;
}

void mj_owed_expire(struct mj_tracker *tr, mj_owed_set *set, double now)
{
    int dropped = 0;
    /* oldest first; a record made with a shorter pending_timeout than
     * the one before it waits behind it (mj_owed_take() checks until) */
    while (set->head != NULL && set->head->until <= now) {
        drop(tr, set, set->head, (size_t)-1);
        dropped = 1;
    }
    while (set->shead != NULL && set->shead->until <= now) {
        drop(tr, set, set->shead, (size_t)-1);
        dropped = 1;
    }
    if (dropped)
        shrink(tr, set);
}

void mj_owed_retime(mj_owed_set *set, double delta, double until)
{
    /* the same shift, or the same end, for all: the list stays in order */
    for (mj_owed *o = set->head; o != NULL; o = o->next)
        o->until = isfinite(delta) ? o->until + delta : until;
    for (mj_owed *o = set->shead; o != NULL; o = o->next)
        o->until = isfinite(delta) ? o->until + delta : until;
}

void mj_owed_free(struct mj_tracker *tr, mj_owed_set *set)
{
    for (int list = 0; list < 2; list++) {
        mj_owed **head = list == 0 ? &set->head : &set->shead;
        while (*head != NULL) {
            mj_owed *o = *head;
            *head = o->next;
            mj_free(tr, o, sizeof *o + o->jlen + o->rlen);
        }
    }
    set->tail = NULL;
    set->stail = NULL;
    set->bytes = 0;
    mj_table_free(tr, &set->table);
    for (size_t i = 0; i < set->accounts.cap; i++)
        if (set->accounts.slots[i] != NULL)
            mj_free(tr, set->accounts.slots[i], sizeof(struct owed_account));
    mj_table_free(tr, &set->accounts);
}

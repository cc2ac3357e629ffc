/* Keyed hashing and the open-addressing table (hash.c), on env.h. */
#ifndef MJ_HASH_H
#define MJ_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"

struct mj_tracker;

typedef struct mj_hkey {
    uint64_t k0, k1;
} mj_hkey;

/* SipHash-1-3 of (p, len) under key. */
uint64_t mj_siphash(const mj_hkey *key, const void *p, size_t len);

/* A cheap keyed hash of (p, len): a few 64x64->128-bit multiplies,
 * folded, about a quarter of SipHash's instructions on a room JID. Not a
 * PRF: only for a table whose contents an attacker does not choose and
 * whose size is bounded, where a lookup by attacker-chosen bytes can at
 * worst walk the table's one cluster (a session's rooms, keyed by their
 * JID: docs/design.md, "The received presence"). */
uint64_t mj_qhash(const mj_hkey *key, const void *p, size_t len);

/* Where a hash key came from. */
typedef enum mj_hkey_source {
    MJ_HKEY_GETRANDOM = 0, /* getrandom(2) (Linux) */
    MJ_HKEY_DEVICE = 1,    /* the random device file */
    MJ_HKEY_WEAK = 2       /* neither: time, pid and addresses (guessable) */
} mj_hkey_source;

/* Fill key from getrandom(2), else from the file device (NULL: none),
 * else from time, pid and addresses; says which. */
mj_hkey_source mj_hkey_fill(mj_hkey *key, const char *device);
/* mj_hkey_fill(key, "/dev/urandom"). */
mj_hkey_source mj_hkey_random(mj_hkey *key);

/* Open-addressing table of item pointers (linear probing, backward-shift
 * deletion). A slot is only the pointer (8 bytes): an item's hash is kept
 * in the item and read back with a hash_of function when the table grows
 * or shifts; lookups start at the hash's slot and ask a caller match. */
typedef struct mj_table {
    void **slots; /* NULL: empty */
    size_t cap;   /* 0 or a power of two */
    size_t count;
} mj_table;

typedef uint64_t (*mj_hash_of)(const void *item);

/* The smallest table: a first insert makes this many slots. */
#define MJ_TABLE_MIN 4

/* Make room for one more item (grows at 3/4 load). MJ_OK or MJ_ENOMEM. */
int mj_table_reserve(struct mj_tracker *tr, mj_table *t, mj_hash_of hash_of);
/* Give back most of a table that has emptied: at 1/8 load or less (and
 * over MJ_TABLE_MIN slots) it is moved to the smallest size at most half full,
 * so that it is between 1/4 and 1/2 full. Growing again takes inserts up
 * to over 3/4 load and shrinking again removals down to 1/8: one insert and
 * one remove at either edge never resize twice. Never called while the
 * table is walked by index (removal does not trim: callers trim when no
 * walk is under way). When the smaller array cannot be allocated the
 * table stays as it was. */
void mj_table_trim(struct mj_tracker *tr, mj_table *t, mj_hash_of hash_of);
/* Insert; mj_table_reserve() must have succeeded before. */
void mj_table_insert(mj_table *t, uint64_t hash, void *item);
/* Index of the item matching, or (size_t)-1. */
size_t mj_table_find(const mj_table *t, uint64_t hash,
                     int (*match)(const void *item, const void *key),
                     const void *key);
/* Index of the slot holding exactly item (to remove it), or (size_t)-1. */
size_t mj_table_find_item(const mj_table *t, uint64_t hash, const void *item);
/* Remove the item at a found index. */
void mj_table_remove_at(mj_table *t, size_t idx, mj_hash_of hash_of);
/* Remove exactly item (stored under hash), if the table holds it. */
void mj_table_remove_item(mj_table *t, uint64_t hash, const void *item,
                          mj_hash_of hash_of);
void mj_table_free(struct mj_tracker *tr, mj_table *t);

#endif

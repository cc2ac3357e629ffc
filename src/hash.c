/* Keyed hashing and the open-addressing table used for every map keyed by
 * attacker-controlled JIDs. The key is random per tracker, so nobody can
 * prepare JIDs that collide. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#include "env.h"
#include "hash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                              \
    do {                                                                      \
        v0 += v1;                                                             \
        v1 = ROTL(v1, 13);                                                    \
        v1 ^= v0;                                                             \
        v0 = ROTL(v0, 32);                                                    \
        v2 += v3;                                                             \
        v3 = ROTL(v3, 16);                                                    \
        v3 ^= v2;                                                             \
        v0 += v3;                                                             \
        v3 = ROTL(v3, 21);                                                    \
        v3 ^= v0;                                                             \
        v2 += v1;                                                             \
        v1 = ROTL(v1, 17);                                                    \
        v1 ^= v2;                                                             \
        v2 = ROTL(v2, 32);                                                    \
    } while (0)

/* Little-endian 64-bit load: one move on little-endian machines. */
static uint64_t load64(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
#endif
}

uint64_t mj_siphash(const mj_hkey *key, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ key->k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ key->k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ key->k0;
    uint64_t v3 = 0x7465646279746573ULL ^ key->k1;
    uint64_t b = ((uint64_t)len) << 56;
    size_t n = len & ~(size_t)7;

    for (size_t i = 0; i < n; i += 8) {
        uint64_t m = load64(p + i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    if (len & 7) {
        /* the tail: the last eight bytes shifted, or byte by byte when the
         * input is shorter than eight */
        if (len >= 8)
            b |= load64(p + len - 8) >> (8 * (8 - (len & 7)));
        else
            for (size_t i = 0; i < len; i++)
                b |= ((uint64_t)p[i]) << (8 * i);
    }
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t load32(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24;
}

/* The 128-bit product of a and b, its halves xored. */
static uint64_t fold_mul(uint64_t a, uint64_t b)
{
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    uint64_t al = a & 0xffffffffu, ah = a >> 32;
    uint64_t bl = b & 0xffffffffu, bh = b >> 32;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
    uint64_t lo = (mid << 32) | (ll & 0xffffffffu);
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return lo ^ hi;
#endif
}

#define QA UINT64_C(0xa0761d6478bd642f)
#define QB UINT64_C(0xe7037ed1a0b428db)

/* Sixteen bytes per multiply, read as two words; what is left at the
 * end (or a short input) as the last sixteen bytes, overlapping what was
 * read, or as its first and last four bytes, or as its first, middle and
 * last byte. With the length in the seed, the words read determine the
 * input. */
uint64_t mj_qhash(const mj_hkey *key, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = key->k0 ^ (uint64_t)len, a, b;

    if (len <= 16) {
        if (len >= 8) {
            a = load64(p);
            b = load64(p + len - 8);
        } else if (len >= 4) {
            a = load32(p);
            b = load32(p + len - 4);
        } else if (len > 0) {
            a = (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        for (size_t i = 0; i + 16 < len; i += 16)
            h = fold_mul(load64(p + i) ^ key->k1, load64(p + i + 8) ^ h);
        a = load64(p + len - 16);
        b = load64(p + len - 8);
    }
    /* the key in both factors: no input known without it zeroes one */
    h = fold_mul(a ^ key->k1, b ^ h);
    return fold_mul(h ^ QA, (key->k0 ^ QB) + (uint64_t)len);
}

/* Read n bytes of path (a random device); the count read. */
static size_t read_device(const char *path, unsigned char *buf, size_t n)
{
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return got;
}

mj_hkey_source mj_hkey_fill(mj_hkey *key, const char *device)
{
    unsigned char buf[16];
    size_t got = 0;
    mj_hkey_source src = MJ_HKEY_GETRANDOM;
#if defined(__linux__)
    /* getrandom(2) needs no file: it works in a chroot or a sandbox
     * without /dev (16 bytes never block once the pool is ready) */
    while (got < sizeof buf) {
        ssize_t r = getrandom(buf + got, sizeof buf - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
#endif
    if (got < sizeof buf && device != NULL) {
        src = MJ_HKEY_DEVICE;
        got = read_device(device, buf, sizeof buf);
    }
    if (got < sizeof buf) {
        /* guessable: only when the kernel gives nothing (the caller logs
         * it) */
        struct timespec ts;
        src = MJ_HKEY_WEAK;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                     (uint64_t)(uintptr_t)key ^ (uint64_t)getpid();
        memcpy(buf, &a, 8);
        a = a * 0x9e3779b97f4a7c15ULL + (uint64_t)(uintptr_t)&ts;
        memcpy(buf + 8, &a, 8);
    }
    key->k0 = load64(buf);
    key->k1 = load64(buf + 8);
    return src;
}

mj_hkey_source mj_hkey_random(mj_hkey *key)
{
    return mj_hkey_fill(key, "/dev/urandom");
}

/* Move every item into a new array of ncap slots (a power of two that
 * holds them). MJ_OK, or MJ_ENOMEM with the table unchanged. */
static int rehash(struct mj_tracker *tr, mj_table *t, size_t ncap,
                  mj_hash_of hash_of)
{
    void **ns = mj_alloc(tr, ncap * sizeof *ns);
    if (ns == NULL)
        return MJ_ENOMEM;
    for (size_t i = 0; i < ncap; i++)
        ns[i] = NULL;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i] == NULL)
            continue;
        size_t j = (size_t)hash_of(t->slots[i]) & (ncap - 1);
        while (ns[j] != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    mj_free(tr, t->slots, t->cap * sizeof *t->slots);
    t->slots = ns;
    t->cap = ncap;
    return MJ_OK;
}

int mj_table_reserve(struct mj_tracker *tr, mj_table *t, mj_hash_of hash_of)
{
    if (t->cap != 0 && (t->count + 1) * 4 <= t->cap * 3)
        return MJ_OK;
    return rehash(tr, t, t->cap ? t->cap * 2 : MJ_TABLE_MIN, hash_of);
}

void mj_table_trim(struct mj_tracker *tr, mj_table *t, mj_hash_of hash_of)
{
    size_t ncap = MJ_TABLE_MIN;

    if (t->cap <= MJ_TABLE_MIN || t->count * 8 > t->cap)
        return;
    while (ncap < t->count * 2)
        ncap *= 2;
    (void)rehash(tr, t, ncap, hash_of); /* no memory: keep the big one */
}

void mj_table_insert(mj_table *t, uint64_t hash, void *item)
{
    size_t j = (size_t)hash & (t->cap - 1);
    while (t->slots[j] != NULL)
        j = (j + 1) & (t->cap - 1);
    t->slots[j] = item;
    t->count++;
}

size_t mj_table_find(const mj_table *t, uint64_t hash,
                     int (*match)(const void *item, const void *key),
                     const void *key)
{
    if (t->cap == 0)
        return (size_t)-1;
    size_t j = (size_t)hash & (t->cap - 1);
    while (t->slots[j] != NULL) {
        if (match(t->slots[j], key))
            return j;
        j = (j + 1) & (t->cap - 1);
    }
    return (size_t)-1;
}

static int same_item(const void *item, const void *key)
{
    return item == key;
}

size_t mj_table_find_item(const mj_table *t, uint64_t hash, const void *item)
{
    return mj_table_find(t, hash, same_item, item);
}

void mj_table_remove_item(mj_table *t, uint64_t hash, const void *item,
                          mj_hash_of hash_of)
{
    size_t i = mj_table_find_item(t, hash, item);
    if (i != (size_t)-1)
        mj_table_remove_at(t, i, hash_of);
}

void mj_table_remove_at(mj_table *t, size_t idx, mj_hash_of hash_of)
{
    size_t mask = t->cap - 1;
    size_t i = idx;
    size_t j = idx;
    t->slots[i] = NULL;
    t->count--;
    for (;;) {
        j = (j + 1) & mask;
        if (t->slots[j] == NULL)
            return;
        size_t home = (size_t)hash_of(t->slots[j]) & mask;
        /* move j back to i unless its home lies cyclically in (i, j] */
        int in_range =
            (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!in_range) {
            t->slots[i] = t->slots[j];
            t->slots[j] = NULL;
            i = j;
        }
    }
}

void mj_table_free(struct mj_tracker *tr, mj_table *t)
{
    mj_free(tr, t->slots, t->cap * sizeof *t->slots);
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
}

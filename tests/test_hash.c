/* Tests for src/hash.c: SipHash-1-3 against a plain byte-by-byte
 * implementation of the reference algorithm (every length up to 100, both
 * tail cases), and the open-addressing table of item pointers (growth,
 * colliding hashes, backward-shift deletion in every order). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "store.h"
#include "test.h"

/* ---- SipHash-1-3, written straight from the paper ------------------- */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void round1(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl(v[2], 32);
}

static uint64_t ref_siphash13(uint64_t k0, uint64_t k1, const unsigned char *p,
                              size_t len)
{
    uint64_t v[4] = {0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
                     0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
    size_t nblocks = len / 8;
    for (size_t b = 0; b <= nblocks; b++) {
        uint64_t m = 0;
        if (b < nblocks) {
            for (int i = 0; i < 8; i++)
                m |= (uint64_t)p[8 * b + i] << (8 * i);
        } else { /* the last block: the tail and the length */
            for (size_t i = 0; i < len % 8; i++)
                m |= (uint64_t)p[8 * b + i] << (8 * i);
            m |= (uint64_t)len << 56;
        }
        v[3] ^= m;
        round1(v);
        v[0] ^= m;
    }
    v[2] ^= 0xff;
    round1(v);
    round1(v);
    round1(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

TEST(siphash_matches_reference_for_every_length)
{
    unsigned char buf[128];
    mj_hkey key = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    srand(7);
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (unsigned char)rand();
        key.k0 = key.k0 * 6364136223846793005ULL + 1;
        key.k1 ^= key.k0 >> 7;
        for (size_t len = 0; len <= 100; len++) {
            /* also from an unaligned start */
            for (size_t off = 0; off < 3; off++) {
                uint64_t a = mj_siphash(&key, buf + off, len);
                uint64_t b = ref_siphash13(key.k0, key.k1, buf + off, len);
                if (a != b) {
                    FAIL_AT("length %zu offset %zu: %016llx != %016llx", len,
                            off, (unsigned long long)a, (unsigned long long)b);
                    return;
                }
            }
        }
    }
}

TEST(siphash_depends_on_key_and_every_byte)
{
    mj_hkey k1 = {1, 2}, k2 = {1, 3};
    const char *s = "room@conference.example.org";
    CHECK(mj_siphash(&k1, s, strlen(s)) != mj_siphash(&k2, s, strlen(s)));
    CHECK(mj_siphash(&k1, s, strlen(s)) != mj_siphash(&k1, s, strlen(s) - 1));
    CHECK(mj_siphash(&k1, "a", 1) != mj_siphash(&k1, "b", 1));
    CHECK(mj_siphash(&k1, "", 0) != mj_siphash(&k1, "\0", 1));
}

/* ---- the table ----------------------------------------------------- */

struct item {
    uint64_t hash;
    int id;
};

static uint64_t item_hash(const void *p)
{
    return ((const struct item *)p)->hash;
}

static int find_all(const mj_table *t, struct item *items, const int *live,
                    int n)
{
    for (int i = 0; i < n; i++) {
        size_t at = mj_table_find_item(t, items[i].hash, &items[i]);
        if (live[i] ? at == (size_t)-1 || t->slots[at] != &items[i]
                    : at != (size_t)-1)
            return 0;
    }
    return 1;
}

TEST(table_keeps_every_item_findable_through_growth_and_removals)
{
    enum { N = 300 };
    static struct item items[N];
    static int live[N];
    mj_tracker *tr = NULL;
    CHECK_INT(mj_tracker_new(NULL, &tr), MJ_OK);
    /* three ways of hashing: spread, eight homes only (long clusters that
     * wrap around the end), one home for all */
    const uint64_t masks[3] = {~0ULL, 7, 0};
    for (int m = 0; m < 3; m++) {
        mj_table t = {NULL, 0, 0};
        srand(11 + m);
        for (int i = 0; i < N; i++) {
            items[i].hash = (((uint64_t)rand() << 32) ^ (uint64_t)rand() ^
                             (uint64_t)i * 0x9e3779b97f4a7c15ULL) &
                            masks[m];
            items[i].id = i;
            live[i] = 0;
        }
        for (int i = 0; i < N; i++) {
            CHECK_INT(mj_table_reserve(tr, &t, item_hash), MJ_OK);
            mj_table_insert(&t, items[i].hash, &items[i]);
            live[i] = 1;
            CHECK(t.count * 4 <= t.cap * 3);
        }
        CHECK(find_all(&t, items, live, N));
        /* remove in a random order, checking every item after each */
        int order[N];
        for (int i = 0; i < N; i++)
            order[i] = i;
        for (int i = N - 1; i > 0; i--) {
            int j = rand() % (i + 1), x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        for (int k = 0; k < N; k++) {
            int i = order[k];
            size_t at = mj_table_find_item(&t, items[i].hash, &items[i]);
            CHECK(at != (size_t)-1);
            if (at == (size_t)-1)
                break;
            mj_table_remove_at(&t, at, item_hash);
            live[i] = 0;
            if (!find_all(&t, items, live, N)) {
                FAIL_AT("mask %d: lost an item after removing %d", m, i);
                break;
            }
        }
        CHECK_INT(t.count, 0);
        mj_table_free(tr, &t);
    }
    mj_tracker_free(tr);
}

TEST(table_find_in_empty_table)
{
    mj_table t = {NULL, 0, 0};
    struct item it = {42, 1};
    CHECK(mj_table_find_item(&t, it.hash, &it) == (size_t)-1);
}

/* The key comes from getrandom(2) first: a chroot without /dev/urandom
 * still gets an unguessable key (before, it fell back to time and pid). */
TEST(hash_key_needs_no_device_file)
{
    mj_hkey a, b;
#if !defined(__linux__)
    return; /* getrandom(2) is Linux's */
#endif
    CHECK_INT(mj_hkey_fill(&a, "/nonexistent/urandom"), MJ_HKEY_GETRANDOM);
    CHECK_INT(mj_hkey_fill(&b, NULL), MJ_HKEY_GETRANDOM);
    CHECK(a.k0 != b.k0 || a.k1 != b.k1);
    CHECK_INT(mj_hkey_random(&a), MJ_HKEY_GETRANDOM);
}

/* A table that empties gives its memory back (before the fix, after
 * a peak of 200k sessions the tables kept 8 MB), and one insert and one
 * remove at either edge never resize it back and forth. */
TEST(table_shrinks_with_hysteresis)
{
    enum { N = 4096 };
    static struct item items[N];
    static int live[N];
    mj_tracker *tr = NULL;
    mj_table t = {NULL, 0, 0};
    CHECK_INT(mj_tracker_new(NULL, &tr), MJ_OK);
    for (int i = 0; i < N; i++) {
        items[i].hash = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
        items[i].id = i;
        CHECK_INT(mj_table_reserve(tr, &t, item_hash), MJ_OK);
        mj_table_insert(&t, items[i].hash, &items[i]);
        live[i] = 1;
    }
    size_t peak = t.cap;
    for (int i = N - 1; i >= 100; i--) {
        size_t at = mj_table_find_item(&t, items[i].hash, &items[i]);
        CHECK(at != (size_t)-1);
        if (at == (size_t)-1)
            break;
        mj_table_remove_at(&t, at, item_hash);
        live[i] = 0;
        mj_table_trim(tr, &t, item_hash);
        CHECK(t.count * 8 > t.cap || t.cap == MJ_TABLE_MIN);
    }
    CHECK(find_all(&t, items, live, N));
    CHECK(t.cap <= 512); /* 100 items: trimmed at 255 to 512 slots */
    CHECK(t.cap < peak);
    /* at the edges: insert and remove one item a thousand times */
    for (int edge = 0; edge < 2; edge++) {
        int resizes = 0;
        size_t cap = t.cap;
        int n = (int)t.count;
        /* edge 0: the count just above the shrink edge; edge 1: just
         * below the growth edge */
        while (edge == 0 && (size_t)(n - 1) * 8 > t.cap) {
            size_t at =
                mj_table_find_item(&t, items[n - 1].hash, &items[n - 1]);
            mj_table_remove_at(&t, at, item_hash);
            live[--n] = 0;
        }
        while (edge == 1 && (size_t)(n + 1) * 4 <= t.cap * 3) {
            CHECK_INT(mj_table_reserve(tr, &t, item_hash), MJ_OK);
            mj_table_insert(&t, items[n].hash, &items[n]);
            live[n++] = 1;
        }
        cap = t.cap;
        for (int k = 0; k < 1000; k++) {
            if (edge == 0) {
                size_t at =
                    mj_table_find_item(&t, items[n - 1].hash, &items[n - 1]);
                mj_table_remove_at(&t, at, item_hash);
                mj_table_trim(tr, &t, item_hash);
                resizes += t.cap != cap;
                cap = t.cap;
                CHECK_INT(mj_table_reserve(tr, &t, item_hash), MJ_OK);
                mj_table_insert(&t, items[n - 1].hash, &items[n - 1]);
            } else {
                CHECK_INT(mj_table_reserve(tr, &t, item_hash), MJ_OK);
                mj_table_insert(&t, items[n].hash, &items[n]);
                resizes += t.cap != cap;
                cap = t.cap;
                size_t at = mj_table_find_item(&t, items[n].hash, &items[n]);
                mj_table_remove_at(&t, at, item_hash);
                mj_table_trim(tr, &t, item_hash);
            }
            resizes += t.cap != cap;
            cap = t.cap;
        }
        CHECK(resizes <= 1);
        CHECK(find_all(&t, items, live, N));
    }
    /* emptied: the smallest table */
    for (int i = 0; i < N; i++) {
        size_t at = mj_table_find_item(&t, items[i].hash, &items[i]);
        if (at == (size_t)-1)
            continue;
        mj_table_remove_at(&t, at, item_hash);
        mj_table_trim(tr, &t, item_hash);
    }
    CHECK_INT(t.count, 0);
    CHECK_INT(t.cap, MJ_TABLE_MIN);
    mj_table_free(tr, &t);
    mj_tracker_free(tr);
}

static double peak_now = 1000;

static double peak_clock(void *ud)
{
    (void)ud;
    return peak_now;
}

/* The tracker's tables after a peak: 2,000 sessions come and go (what
 * their rooms owe their JIDs runs out after pending_timeout), and one
 * session joins and leaves 1,000 rooms; the bytes held return to what
 * the same final state costs without the peak, but for the headers of
 * the entries' blocks up to the one its last entry is in (the peak made
 * twelve blocks, and the array of their headers holds up to twice as
 * many as are below the last live one). */
TEST(tracker_bytes_return_after_a_peak)
{
    mj_tracker *tr = NULL, *ref = NULL;
    mj_session *s, *keep, *kref;
    mj_stats a, b;
    mj_config cfg;
    char jid[64], room[64];
    mj_str nick = {"m", 1}, none = {NULL, 0};
    mj_config_init(&cfg);
    cfg.clock = peak_clock;
    CHECK_INT(mj_tracker_new(&cfg, &tr), MJ_OK);
    CHECK_INT(mj_tracker_new(&cfg, &ref), MJ_OK);
    CHECK_INT(mj_session_open(ref, "k@l.example/r", 13, &kref), MJ_OK);
    CHECK_INT(mj_session_restore(kref, "x0@muc.example", 14, MJ_S_JOINED, nick,
                                 none, 0),
              MJ_OK);
    CHECK_INT(mj_session_open(tr, "k@l.example/r", 13, &keep), MJ_OK);
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(jid, sizeof jid, "u%d@l.example/r", i);
        int m = snprintf(room, sizeof room, "r%d@muc%d.example", i, i);
        CHECK_INT(mj_session_open(tr, jid, (size_t)n, &s), MJ_OK);
        CHECK_INT(
            mj_session_restore(s, room, (size_t)m, MJ_S_JOINED, nick, none, 0),
            MJ_OK);
    }
    for (int r = 0; r < 1000; r++) {
        int m = snprintf(room, sizeof room, "x%d@muc.example", r);
        CHECK_INT(mj_session_restore(keep, room, (size_t)m, MJ_S_JOINED, nick,
                                     none, 0),
                  MJ_OK);
    }
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(jid, sizeof jid, "u%d@l.example/r", i);
        CHECK_INT(mj_session_find(tr, jid, (size_t)n, &s), MJ_OK);
        mj_session_close(s);
    }
    for (int r = 1; r < 1000; r++) {
        /* the room's unavailable self-presence: left */
        mj_stanza st;
        mj_outcome out;
        int m = snprintf(room, sizeof room, "x%d@muc.example/m", r);
        mj_stanza_init(&st);
        st.kind = MJ_KIND_PRESENCE;
        st.type = MJ_T_UNAVAILABLE;
        st.from.ptr = room;
        st.from.len = (size_t)m;
        st.has_muc_user = 1;
        st.status[st.nstatus++] = 110;
        CHECK_INT(mj_session_incoming(keep, &st, &out), MJ_OK);
        CHECK_INT(out, MJ_O_CHANGED);
    }
    peak_now += cfg.pending_timeout + 1;
    mj_tracker_tick(tr);
    mj_tracker_tick(ref);
    mj_tracker_stats(tr, &a);
    mj_tracker_stats(ref, &b);
    CHECK_INT(a.sessions, 1);
    CHECK(a.bytes >= b.bytes);
    CHECK(a.bytes - b.bytes <= 2 * 12 * sizeof(mj_eblock));
    mj_tracker_free(tr);
    mj_tracker_free(ref);
}

int main(void)
{
    RUN(siphash_matches_reference_for_every_length);
    RUN(siphash_depends_on_key_and_every_byte);
    RUN(table_keeps_every_item_findable_through_growth_and_removals);
    RUN(table_find_in_empty_table);
    RUN(table_shrinks_with_hysteresis);
    RUN(tracker_bytes_return_after_a_peak);
    RUN(hash_key_needs_no_device_file);
    return test_summary("hash");
}

/* Storage: interned room JIDs, per-domain records, sessions, entries and
 * their side records, the timer list, event emission. No protocol
 * decision lives here, and nothing here calls a layer above: what the
 * self-ping layer must hear about an entry (its state changed, it is
 * being freed) goes through tr->hooks, which tracker.c sets. The public
 * session calls (mj_session_find, _open, _close, _jid) are here too: they
 * only store, look up and free. */
#include <math.h>
#include <string.h>

#include "env.h"
#include "hash.h"
#include "jid.h"
#include "leaves.h"
#include "owed.h"
#include "store.h"

/* ---- interned rooms -------------------------------------------------- */

/* What a table lookup compares: the hash first, then the bytes. */
struct strkey {
    const char *p;
    size_t len;
    uint64_t hash;
};

static uint64_t istr_hash(const void *item)
{
    return ((const mj_istr *)item)->hash;
}

static int istr_match(const void *item, const void *key)
{
    const mj_istr *r = item;
    const struct strkey *k = key;
    return r->hash == k->hash && r->len == k->len &&
           memcmp(r->s, k->p, k->len) == 0;
}

mj_istr *mj_room_find_hashed(struct mj_tracker *tr, const char *p, size_t len,
                             uint64_t hash)
{
    struct strkey k = {p, len, hash};
    size_t i = mj_table_find(&tr->rooms, hash, istr_match, &k);
    return i == (size_t)-1 ? NULL : tr->rooms.slots[i];
}

mj_istr *mj_room_find(struct mj_tracker *tr, const char *p, size_t len,
                      uint64_t *hash_out)
{
    uint64_t h = mj_siphash(&tr->key, p, len);
    if (hash_out)
        *hash_out = h;
    return mj_room_find_hashed(tr, p, len, h);
}

static void room_id_free(mj_tracker *tr, uint32_t id);

static void istr_release(mj_tracker *tr, mj_istr *r)
{
    if (--r->refs > 0)
        return;
    if (r->dprev)
        r->dprev->dnext = r->dnext;
    else
        r->dom->room_list = r->dnext;
    if (r->dnext)
        r->dnext->dprev = r->dprev;
    mj_table_remove_item(&tr->rooms, r->hash, r, istr_hash);
    mj_table_trim(tr, &tr->rooms, istr_hash); /* nothing walks it */
    r->dom->rooms--;
    mj_domain_release(tr, r->dom);
    room_id_free(tr, r->id);
    mj_free(tr, r, sizeof *r + r->len + 1);
}

/* Does a prepared bare JID prepare to itself? (Nearly always; a JID
 * whose form is not a fixed point is still tracked, but always found
 * through preparation.) */
static int prepares_to_itself(const char *s, size_t len)
{
    char buf[2 * MJ_PART_MAX + 2];
    mj_str node, host, res;
    size_t n;
    return mj_jid_split(s, len, &node, &host, &res) == MJ_OK &&
           res.ptr == NULL &&
           mj_jid_prep_bare(node, host, buf, sizeof buf, &n) == MJ_OK &&
           n == len && memcmp(buf, s, len) == 0;
}

/* ---- ids ---------------------------------------------------------------- */

/* Records named by ids (mj_ids): a free list threaded through the free
 * slots; the array grows by doubling (to at most limit slots) and, when
 * the records fall to an eighth of it, resize makes it four times their
 * number (at least min), each kind its own way of moving the records
 * above the new size. */
typedef int (*ids_resize_fn)(mj_tracker *tr, uint32_t cap);

/* The id now naming item (ids[id]), 0 on ENOMEM or when ids below limit
 * are all taken. */
static uint32_t ids_take(mj_tracker *tr, mj_ids *p, uintptr_t item,
                         uint32_t limit, uint32_t min, ids_resize_fn resize)
{
    uint32_t id = p->free;
    if (id != 0) {
        p->free = (uint32_t)(p->ids[id] >> 1);
    } else {
        if (p->top == 0)
            p->top = 1; /* id 0 is never given */
        if (p->top >= limit)
            return 0;
        if (p->top >= p->cap) {
            uint32_t cap = p->cap ? p->cap * 2 : min;
            if (cap > limit)
                cap = limit;
            if (resize(tr, cap) != MJ_OK)
                return 0;
        }
        id = p->top++;
    }
    p->ids[id] = item;
    p->live++;
    return id;
}

static void ids_put(mj_tracker *tr, mj_ids *p, uint32_t id, uint32_t min,
                    ids_resize_fn resize)
{
    p->ids[id] = ((uintptr_t)p->free << 1) | 1;
    p->free = id;
    p->live--;
    if (p->cap > min && p->live <= p->cap / 8) {
        uint32_t cap = min;
        while (cap < 4 * p->live)
            cap *= 2;          /* live <= cap / 8: below the old one */
        (void)resize(tr, cap); /* on ENOMEM it stays as it was */
    }
}

static void ids_free(mj_tracker *tr, mj_ids *p)
{
    if (p->ids != NULL)
        mj_free(tr, p->ids, (size_t)p->cap * sizeof *p->ids);
    memset(p, 0, sizeof *p);
}

/* ---- room ids ---------------------------------------------------------- */

/* Entries name their room by a 24-bit id (tr->room_pool.ids), as they name
 * their mj_aux record: the array grows by doubling and, when the rooms
 * fall to an eighth of it, shrinks to four times their number (at least
 * ROOM_IDS_MIN). Shrinking keeps every id below the new size and gives
 * the rooms above it free ids below it, each such room's entries
 * following (a walk of its list): a room is moved only when the array
 * shrinks below its id, so that rooms coming and going at the edge
 * (an attacker's) never make the rooms that stay (a big one's thousands
 * of entries) move again and again. */
#define ROOM_IDS_MIN 16u

static int room_ids_resize(mj_tracker *tr, uint32_t cap)
{
    uintptr_t *n = mj_alloc(tr, (size_t)cap * sizeof *n);
    if (n == NULL)
        return MJ_ENOMEM;
    uintptr_t *old = tr->room_pool.ids;
    uint32_t top = tr->room_pool.top, free_id = tr->room_pool.free;
    if (cap >= top) { /* room for every id */
        if (old != NULL)
            memcpy(n, old, (size_t)top * sizeof *n);
    } else {
        free_id = 0;
        for (uint32_t id = cap - 1; id >= 1; id--) {
            if (!(old[id] & 1)) {
                n[id] = old[id];
            } else {
                n[id] = ((uintptr_t)free_id << 1) | 1;
                free_id = id;
            }
        }
        for (uint32_t id = cap; id < top; id++) {
            if (old[id] & 1)
                continue; /* free */
            mj_istr *r = (mj_istr *)old[id];
            uint32_t nid = free_id; /* there is one: rooms <= cap / 4 */
            free_id = (uint32_t)(n[nid] >> 1);
            n[nid] = old[id];
            r->id = nid;
            for (mj_entry *e = mj_room_first(tr, r); e != NULL;
                 e = mj_room_next(tr, e)) {
                e->room_id = nid & (MJ_ID_LIMIT - 1);
                tr->id_walked++;
            }
        }
        top = cap;
    }
    n[0] = 0; /* never an id */
    if (old != NULL)
        mj_free(tr, old, (size_t)tr->room_pool.cap * sizeof *n);
    tr->room_pool.ids = n;
    tr->room_pool.cap = cap;
    tr->room_pool.top = top;
    tr->room_pool.free = free_id;
    return MJ_OK;
}

/* An id for room r (r->id), 0 on ENOMEM or when every id is taken. */
static uint32_t room_id_new(mj_tracker *tr, mj_istr *r)
{
    r->id = ids_take(tr, &tr->room_pool, (uintptr_t)r, MJ_ID_LIMIT,
                     ROOM_IDS_MIN, room_ids_resize);
    return r->id;
}

static void room_id_free(mj_tracker *tr, uint32_t id)
{
    ids_put(tr, &tr->room_pool, id, ROOM_IDS_MIN, room_ids_resize);
}

/* ---- entry blocks ------------------------------------------------------- */

/* Entries live in blocks of MJ_EBLOCK (tr->eblocks), so that one is 24
 * bytes with no allocator overhead and is named by a 24-bit id. New
 * entries go to the lowest block with a free slot (a bit per block in
 * tr->eb_map, searched from the lowest word that may have one), so that
 * entries gather in the low blocks and the high ones empty out; a block
 * whose last entry goes is freed at once (its header kept for the next
 * block), so that memory follows the entries. Slot 0 of block 0 is never
 * given: id 0 names nothing. */
/* The map follows the headers in their allocation: aligned for its
 * words. */
_Static_assert(sizeof(mj_eblock) % sizeof(uint64_t) == 0,
               "the block map after the headers is aligned");

static size_t eb_words(uint32_t cap)
{
    return ((size_t)cap + 63) / 64;
}

static size_t eb_bytes(uint32_t cap)
{
    return (size_t)cap * sizeof(mj_eblock) + eb_words(cap) * sizeof(uint64_t);
}

/* The headers (and the map after them, in the same allocation) moved to
 * room for cap blocks (at least eb_count). MJ_OK or MJ_ENOMEM (as it
 * was). */
static int eb_resize(mj_tracker *tr, uint32_t cap)
{
    mj_eblock *n = mj_alloc(tr, eb_bytes(cap));
    if (n == NULL)
        return MJ_ENOMEM;
    uint64_t *map = (uint64_t *)(n + cap);
    memset(map, 0, eb_words(cap) * sizeof *map);
    if (tr->eblocks != NULL) {
        memcpy(n, tr->eblocks, (size_t)tr->eb_count * sizeof *n);
        memcpy(map, tr->eb_map, eb_words(tr->eb_count) * sizeof *map);
        mj_free(tr, tr->eblocks, eb_bytes(tr->eb_cap));
    }
    tr->eblocks = n;
    tr->eb_map = map;
    tr->eb_cap = cap;
    return MJ_OK;
}

static void eb_open_push(mj_tracker *tr, uint32_t b)
{
    tr->eblocks[b].open = 1;
    tr->eb_map[b / 64] |= (uint64_t)1 << (b % 64);
    if (b / 64 < tr->eb_lo)
        tr->eb_lo = b / 64;
}

static void eb_open_remove(mj_tracker *tr, uint32_t b)
{
    tr->eblocks[b].open = 0;
    tr->eb_map[b / 64] &= ~((uint64_t)1 << (b % 64));
}

/* The lowest block with a free slot, or UINT32_MAX. */
static uint32_t eb_open_first(mj_tracker *tr)
{
    size_t words = eb_words(tr->eb_count);
    for (size_t w = tr->eb_lo; w < words; w++) {
        uint64_t m = tr->eb_map[w];
        if (m != 0) {
            tr->eb_lo = (uint32_t)w;
            return (uint32_t)(w * 64) + mj_lowest_bit(m);
        }
    }
    tr->eb_lo = (uint32_t)words;
    return UINT32_MAX;
}

/* tr->eb_spare: headers of freed blocks, doubly linked (prev, next), so
 * that the last headers go as soon as their blocks are freed. */
static void spare_remove(mj_tracker *tr, uint32_t b)
{
    mj_eblock *k = &tr->eblocks[b];
    if (k->prev != 0)
        tr->eblocks[k->prev - 1].next = k->next;
    else
        tr->eb_spare = k->next;
    if (k->next != 0)
        tr->eblocks[k->next - 1].prev = k->prev;
}

/* Block b was freed: its header waits on tr->eb_spare, or goes with the
 * freed headers behind it when it is the last; when a quarter of the
 * array is in use, it is cut to twice what is (at least 4). */
static void eb_spare_push(mj_tracker *tr, uint32_t b)
{
    mj_eblock *k = &tr->eblocks[b];
    k->prev = 0;
    k->next = tr->eb_spare;
    if (tr->eb_spare != 0)
        tr->eblocks[tr->eb_spare - 1].prev = b + 1;
    tr->eb_spare = b + 1;
    while (tr->eb_count > 0 && tr->eblocks[tr->eb_count - 1].mem == NULL)
        spare_remove(tr, --tr->eb_count);
    if (tr->eb_cap > 4 && tr->eb_count <= tr->eb_cap / 4) {
        /* to what is left at once: the last block's going may take
         * many freed headers with it */
        uint32_t cap = 4;
        while (cap < 2 * tr->eb_count)
            cap *= 2;
        (void)eb_resize(tr, cap); /* no memory: it stays as it was */
    }
}

/* A new block, marked open: its index, or UINT32_MAX on ENOMEM (also when
 * every id is taken). */
static uint32_t eb_new(mj_tracker *tr)
{
    uint32_t b;
    if (tr->eb_spare != 0) {
        b = tr->eb_spare - 1;
    } else {
        if (tr->eb_count >= MJ_ID_LIMIT >> MJ_EBLOCK_SHIFT)
            return UINT32_MAX;
        if (tr->eb_count == tr->eb_cap &&
            eb_resize(tr, tr->eb_cap ? tr->eb_cap * 2 : 4) != MJ_OK)
            return UINT32_MAX;
        b = tr->eb_count;
    }
    mj_entry *mem = mj_alloc(tr, (size_t)MJ_EBLOCK * sizeof *mem);
    if (mem == NULL)
        return UINT32_MAX;
    if (b == tr->eb_count)
        tr->eb_count++;
    else
        spare_remove(tr, b);
    mj_eblock *k = &tr->eblocks[b];
    k->mem = mem;
    k->live = 0;
    k->top = b == 0 ? 1 : 0;
    k->free = 0;
    k->nicks = NULL;
    k->nnicks = 0;
    eb_open_push(tr, b);
    return b;
}

/* Zeroed entry and its id; NULL on ENOMEM. */
static mj_entry *entry_alloc(mj_tracker *tr, uint32_t *id)
{
    uint32_t b = eb_open_first(tr);
    if (b == UINT32_MAX && (b = eb_new(tr)) == UINT32_MAX)
        return NULL;
    mj_eblock *k = &tr->eblocks[b];
    uint32_t slot;
    if (k->free != 0) {
        slot = k->free - 1u;
        k->free = (uint16_t)k->mem[slot].rnext;
    } else {
        slot = k->top++;
    }
    k->live++;
    if (k->free == 0 && k->top == MJ_EBLOCK)
        eb_open_remove(tr, b);
    *id = b << MJ_EBLOCK_SHIFT | slot;
    mj_entry *e = &k->mem[slot];
    memset(e, 0, sizeof *e);
    return e;
}

static void entry_release(mj_tracker *tr, uint32_t id)
{
    uint32_t b = id >> MJ_EBLOCK_SHIFT, slot = id & (MJ_EBLOCK - 1);
    mj_eblock *k = &tr->eblocks[b];
    mj_entry *e = &k->mem[slot];
    memset(e, 0, sizeof *e);
    e->rnext = k->free;
    k->free = (uint16_t)(slot + 1);
    k->live--;
    if (k->live == 0) {
        if (k->open)
            eb_open_remove(tr, b);
        mj_free(tr, k->mem, (size_t)MJ_EBLOCK * sizeof *k->mem);
        k->mem = NULL;
        eb_spare_push(tr, b);
    } else if (!k->open) {
        eb_open_push(tr, b);
    }
}

/* ---- a session's table of entry ids ----------------------------------- */

/* mj_table's scheme (linear probing, backward-shift deletion, grows at 3/4
 * load, trimmed at 1/8) with 4-byte slots. A session's table is keyed by
 * mj_qhash, not SipHash: only the session's own joins put rooms in it
 * (live, at most max_rooms + max_pending; mj_session_restore adds what
 * the module saved itself), so bytes from elsewhere can only be looked up
 * in it. */
static uint32_t id_hash(const mj_tracker *tr, uint32_t id)
{
    return mj_entry_room(mj_entry_at(tr, id))->qhash;
}

static int idtab_rehash(mj_tracker *tr, mj_idtab *t, uint32_t ncap)
{
    uint32_t *ns = mj_alloc(tr, (size_t)ncap * sizeof *ns);
    if (ns == NULL)
        return MJ_ENOMEM;
    memset(ns, 0, (size_t)ncap * sizeof *ns);
    for (uint32_t i = 0; i < t->cap; i++) {
        if (t->slots[i] == 0)
            continue;
        uint32_t j = id_hash(tr, t->slots[i]) & (ncap - 1);
        while (ns[j] != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    if (t->slots != NULL)
        mj_free(tr, t->slots, (size_t)t->cap * sizeof *t->slots);
    t->slots = ns;
    t->cap = ncap;
    return MJ_OK;
}

static int idtab_reserve(mj_tracker *tr, mj_idtab *t)
{
    if (t->cap != 0 && ((size_t)t->count + 1) * 4 <= (size_t)t->cap * 3)
        return MJ_OK;
    if (t->cap > UINT32_MAX / 2)
        return MJ_ENOMEM;
    return idtab_rehash(tr, t, t->cap ? t->cap * 2 : MJ_TABLE_MIN);
}

static void idtab_trim(mj_tracker *tr, mj_idtab *t)
{
    uint32_t ncap = MJ_TABLE_MIN;
    if (t->cap <= MJ_TABLE_MIN || (size_t)t->count * 8 > t->cap)
        return;
    while (ncap < t->count * 2)
        ncap *= 2;
    (void)idtab_rehash(tr, t, ncap); /* no memory: keep the big one */
}

static void idtab_insert(mj_idtab *t, uint32_t hash, uint32_t id)
{
    uint32_t j = hash & (t->cap - 1);
    while (t->slots[j] != 0)
        j = (j + 1) & (t->cap - 1);
    t->slots[j] = id;
    t->count++;
}

static void idtab_remove_at(const mj_tracker *tr, mj_idtab *t, uint32_t idx)
{
    uint32_t mask = t->cap - 1;
    uint32_t i = idx;
    uint32_t j = idx;
    t->slots[i] = 0;
    t->count--;
    for (;;) {
        j = (j + 1) & mask;
        if (t->slots[j] == 0)
            return;
        uint32_t home = id_hash(tr, t->slots[j]) & mask;
        /* move j back to i unless its home lies cyclically in (i, j] */
        int in_range =
            (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!in_range) {
            t->slots[i] = t->slots[j];
            t->slots[j] = 0;
            i = j;
        }
    }
}

static void idtab_free(mj_tracker *tr, mj_idtab *t)
{
    if (t->slots != NULL)
        mj_free(tr, t->slots, (size_t)t->cap * sizeof *t->slots);
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
}

/* The slot holding the session's entry for room r, or UINT32_MAX. */
static uint32_t slot_of(const mj_session *s, const mj_istr *r)
{
    const mj_idtab *t = &s->rooms;
    if (t->count == 0)
        return UINT32_MAX;
    uint32_t mask = t->cap - 1;
    for (uint32_t j = r->qhash & mask; t->slots[j] != 0; j = (j + 1) & mask)
        if (mj_entry_at(s->tr, t->slots[j])->room_id == r->id)
            return j;
    return UINT32_MAX;
}

/* ---- nicks other than the session's ----------------------------------- */

/* A block whose entries show nicks of their own has an array of
 * MJ_EBLOCK record pointers beside it (made with its first such entry,
 * freed with its last): the record of the entry in slot i is nicks[i].
 * Finding it costs the entry's id (its neighbour's link) and one load; a
 * block without such entries pays nothing. */
static uint32_t entry_id(const mj_tracker *tr, const mj_entry *e);

MJ_HOT mj_enick *mj_entry_enick(const mj_entry *e)
{
    const mj_tracker *tr = e->sess->tr;
    uint32_t id = entry_id(tr, e);
    return tr->eblocks[id >> MJ_EBLOCK_SHIFT].nicks[id & (MJ_EBLOCK - 1)];
}

static size_t enick_bytes(size_t cap)
{
    return offsetof(mj_enick, s) + cap;
}

/* Drop the entry's record (has_rec). */
static void enick_drop(mj_entry *e)
{
    mj_tracker *tr = e->sess->tr;
    uint32_t id = entry_id(tr, e);
    mj_eblock *k = &tr->eblocks[id >> MJ_EBLOCK_SHIFT];
    mj_enick **slot = &k->nicks[id & (MJ_EBLOCK - 1)];
    mj_free(tr, *slot, enick_bytes((*slot)->cap));
    *slot = NULL;
    e->has_rec = 0;
    e->own_nick = 0;
    if (--k->nnicks == 0) {
        mj_free(tr, k->nicks, (size_t)MJ_EBLOCK * sizeof *k->nicks);
        k->nicks = NULL;
    }
}

/* Make sure e has a record with room for a nick of len bytes; keep: the
 * nick it shows from the record is copied over. MJ_OK or MJ_ENOMEM
 * (unchanged). */
static int enick_fit(mj_entry *e, size_t len, int keep)
{
    mj_tracker *tr = e->sess->tr;
    uint32_t id = entry_id(tr, e);
    mj_eblock *k = &tr->eblocks[id >> MJ_EBLOCK_SHIFT];
    mj_enick *old = e->has_rec ? k->nicks[id & (MJ_EBLOCK - 1)] : NULL;
    if (old != NULL && len + 1 <= old->cap)
        return MJ_OK;
    /* the record's bytes rounded to 8 */
    size_t need = len + 1;
    if (old != NULL && keep && e->own_nick && old->len + 1u > need)
        need = old->len + 1u;
    size_t cap = ((offsetof(mj_enick, s) + need + 7) & ~(size_t)7) -
                 offsetof(mj_enick, s);
    if (k->nicks == NULL) {
        k->nicks = mj_alloc(tr, (size_t)MJ_EBLOCK * sizeof *k->nicks);
        if (k->nicks == NULL)
            return MJ_ENOMEM;
        memset(k->nicks, 0, (size_t)MJ_EBLOCK * sizeof *k->nicks);
    }
    mj_enick *n = mj_alloc(tr, enick_bytes(cap));
    if (n == NULL) {
        if (k->nnicks == 0) {
            mj_free(tr, k->nicks, (size_t)MJ_EBLOCK * sizeof *k->nicks);
            k->nicks = NULL;
        }
        return MJ_ENOMEM;
    }
    n->cap = (uint16_t)cap;
    n->len = 0;
    n->s[0] = '\0';
    if (old != NULL && keep && e->own_nick) {
        memcpy(n->s, old->s, (size_t)old->len + 1);
        n->len = old->len;
    }
    k->nicks[id & (MJ_EBLOCK - 1)] = n;
    if (old != NULL) {
        mj_free(tr, old, enick_bytes(old->cap));
    } else {
        k->nnicks++;
        e->has_rec = 1;
    }
    return MJ_OK;
}

_Static_assert(MJ_PART_MAX + 8 <= UINT16_MAX, "mj_enick holds every nick");

/* ---- entries ------------------------------------------------------------ */

mj_entry *mj_entry_find(const mj_session *s, const mj_istr *room)
{
    uint32_t i = slot_of(s, room);
    return i == UINT32_MAX ? NULL : mj_entry_at(s->tr, s->rooms.slots[i]);
}

MJ_HOT mj_entry *mj_entry_find_written(const mj_session *s, const char *p,
                                       size_t len, uint64_t qh)
{
    const mj_idtab *t = &s->rooms;
    uint32_t h = (uint32_t)qh;
    if (t->count == 0)
        return NULL;
    const mj_tracker *tr = s->tr;
    uint32_t mask = t->cap - 1;
    for (uint32_t j = h & mask; t->slots[j] != 0; j = (j + 1) & mask) {
        mj_entry *e = mj_entry_at(tr, t->slots[j]);
        const mj_istr *r = mj_entry_room(e);
        if (r->qhash == h && r->len == len && r->fixed &&
            memcmp(r->s, p, len) == 0)
            return e;
    }
    return NULL;
}

/* nick is the session's nick (mj_session.nick). */
static int is_session_nick(const mj_session *s, const char *nick, size_t len)
{
    return s->nick != NULL && len == s->nick_len &&
           memcmp(nick, s->nick, len) == 0;
}

/* The entry's id: what its neighbour in the room's list (or the room)
 * holds. */
static uint32_t entry_id(const mj_tracker *tr, const mj_entry *e)
{
    if (e->rprev != 0)
        return mj_entry_at(tr, e->rprev)->rnext;
    return mj_entry_room(e)->entries;
}

MJ_HOT mj_entry *mj_entry_create(mj_session *s, mj_istr *r, const char *key,
                                 size_t len, uint64_t hash)
{
    mj_tracker *tr = s->tr;
    if (idtab_reserve(tr, &s->rooms) != MJ_OK)
        return NULL;
    uint32_t id;
    mj_entry *e = entry_alloc(tr, &id);
    if (e == NULL)
        return NULL;
    if (r == NULL) {
        if (mj_table_reserve(tr, &tr->rooms, istr_hash) != MJ_OK) {
            entry_release(tr, id);
            return NULL;
        }
        mj_domain *d = mj_domain_get(tr, key, len);
        r = d != NULL ? mj_alloc(tr, sizeof *r + len + 1) : NULL;
        if (r == NULL || room_id_new(tr, r) == 0) {
            if (r != NULL)
                mj_free(tr, r, sizeof *r + len + 1);
            if (d != NULL)
                mj_domain_release(tr, d);
            entry_release(tr, id);
            return NULL;
        }
        d->rooms++;
        r->dom = d;
        r->entries = 0;
        r->dprev = NULL;
        r->dnext = d->room_list;
        if (d->room_list != NULL)
            d->room_list->dprev = r;
        d->room_list = r;
        r->hash = hash;
        r->qhash = (uint32_t)mj_qhash(&tr->key, key, len);
        r->refs = 0;
        r->len = (uint32_t)len & 0x7fffffff;
        memcpy(r->s, key, len);
        r->s[len] = '\0';
        r->fixed = prepares_to_itself(r->s, len);
        mj_table_insert(&tr->rooms, hash, r);
    }
    r->refs++;
    e->room_id = r->id & (MJ_ID_LIMIT - 1);
    e->sess = s;
    e->state = MJ_S_NONE;
    e->u.since = 0;
    mj_entry_set_since(e, mj_now(tr));
    e->rnext = r->entries & (MJ_ID_LIMIT - 1);
    e->rprev = 0;
    if (r->entries != 0)
        mj_entry_at(tr, r->entries)->rprev = id;
    r->entries = id;
    idtab_insert(&s->rooms, r->qhash, id);
    return e;
}

static void timer_unlink(mj_tracker *tr, mj_aux *a)
{
    if (a->tprev)
        a->tprev->tnext = a->tnext;
    else if (tr->thead == a)
        tr->thead = a->tnext;
    if (a->tnext)
        a->tnext->tprev = a->tprev;
    else if (tr->ttail == a)
        tr->ttail = a->tprev;
    a->tprev = a->tnext = NULL;
}

static void timer_append(mj_tracker *tr, mj_aux *a)
{
    a->tprev = tr->ttail;
    a->tnext = NULL;
    if (tr->ttail)
        tr->ttail->tnext = a;
    else
        tr->thead = a;
    tr->ttail = a;
}

static void count_state(mj_session *s, mj_state st, int delta)
{
    mj_tracker *tr = s->tr;
    switch (st) {
    case MJ_S_PENDING:
        s->n_pending += (size_t)delta;
        tr->st.pending += (size_t)delta;
        break;
    case MJ_S_JOINED:
        s->n_shown += (size_t)delta;
        tr->st.rooms_shown += (size_t)delta;
        break;
    case MJ_S_CHANGING:
    case MJ_S_EXPECTING:
        s->n_shown += (size_t)delta;
        tr->st.rooms_shown += (size_t)delta;
        s->n_changing += (size_t)delta;
        tr->st.changing += (size_t)delta;
        break;
    case MJ_S_LEAVING:
        s->n_shown += (size_t)delta;
        tr->st.rooms_shown += (size_t)delta;
        s->n_leaving += (size_t)delta;
        tr->st.leaving += (size_t)delta;
        break;
    case MJ_S_NONE:
        break;
    }
}

static int timed(mj_state st)
{
    return st == MJ_S_PENDING || st == MJ_S_CHANGING || st == MJ_S_EXPECTING ||
           st == MJ_S_LEAVING;
}

/* Whether the entry is on the timer list: its state's deadline, or a
 * join sent again while JOINED (mj_entry_set_resent). */
static int on_timer(const mj_entry *e)
{
    return timed((mj_state)e->state) || e->resent;
}

/* Clear e->resent and its counts (the caller unlinks the timer). */
static void resent_off(mj_entry *e)
{
    if (!e->resent)
        return;
    e->resent = 0;
    e->sess->n_resent--;
    e->sess->tr->n_resent--;
}

/* ---- aux records by id ------------------------------------------------ */

/* An entry names its mj_aux record by a 32-bit id (tr->aux_pool), so
 * that the record's pointer does not take 8 bytes of every entry. When
 * the array is resized (ids_take(), ids_put()) the live records are
 * numbered again from 1 (each record knows its entry, whose id follows:
 * O(1) a record) into it (at least AUX_IDS_MIN slots, which stay once
 * made: a join and its answer make and free a record, and would otherwise
 * make and free the array each time); mj_tracker_free() frees it.
 * Nothing but the entries keeps an id, so renumbering is safe between any two
 * calls. */
#define AUX_IDS_MIN  16u
#define AUX_ID_LIMIT (1u << 31)

static int aux_ids_resize(mj_tracker *tr, uint32_t cap)
{
    uintptr_t *n = mj_alloc(tr, (size_t)cap * sizeof *n);
    if (n == NULL)
        return MJ_ENOMEM;
    uint32_t top = 1;
    for (uint32_t id = 1; id < tr->aux_pool.top; id++) {
        uintptr_t v = tr->aux_pool.ids[id];
        if (v & 1)
            continue; /* free */
        mj_aux *a = (mj_aux *)v;
        a->id = top;
        a->e->u.aux = top;
        n[top++] = v;
    }
    if (tr->aux_pool.ids != NULL)
        mj_free(tr, tr->aux_pool.ids, (size_t)tr->aux_pool.cap * sizeof *n);
    tr->aux_pool.ids = n;
    tr->aux_pool.cap = cap;
    tr->aux_pool.top = top;
    tr->aux_pool.free = 0;
    return MJ_OK;
}

static uint32_t aux_id_new(mj_tracker *tr, mj_aux *a)
{
    a->id = ids_take(tr, &tr->aux_pool, (uintptr_t)a, AUX_ID_LIMIT,
                     AUX_IDS_MIN, aux_ids_resize);
    return a->id;
}

static void aux_id_free(mj_tracker *tr, uint32_t id)
{
    ids_put(tr, &tr->aux_pool, id, AUX_IDS_MIN, aux_ids_resize);
}

void mj_store_rebase(mj_tracker *tr, double old_now, double now)
{
    double old = tr->epoch, delta = now - old_now;
    if (!isfinite(old_now) || !isfinite(now))
        return; /* a clock that says nothing usable: every time stays */
    tr->epoch = now;
    for (size_t i = 0; i < tr->sessions.cap; i++) {
        mj_session *s = tr->sessions.slots[i];
        for (size_t j = 0; s != NULL && j < s->rooms.cap; j++) {
            mj_entry *e = mj_session_slot(s, j);
            if (e == NULL)
                continue;
            mj_aux *a = mj_entry_aux_of(e);
            if (a == NULL) {
                mj_entry_set_since(e, old + (double)e->u.since + delta);
                continue;
            }
            /* every time moves alike: the timer list, the heap of pings
             * and the domains' queues keep their order */
            a->since += delta;
            a->deadline += delta;
            if (a->ping != NULL) {
                a->ping->due += delta;
                a->ping->deadline += delta;
                a->ping->rest_until += delta;
            }
        }
    }
    for (size_t i = 0; i < tr->domains.cap; i++) {
        mj_domain *d = tr->domains.slots[i];
        if (d != NULL) {
            d->check_due += delta;
            d->lost_at += delta;
            d->up_walk_at += delta;
            d->give_up_until += delta;
            d->up_due += delta;
        }
    }
    mj_owed_retime(&tr->owed, delta, now + tr->cfg.pending_timeout);
    mj_learned_retime(tr, delta, now + tr->cfg.pending_timeout);
    mj_leaves_retime(tr, delta);
}

/* What was learnt of gone domains lasts as the waits do: a new clock or
 * pending_timeout moves it by delta (not finite: until). */
void mj_learned_retime(mj_tracker *tr, double delta, double until)
{
    for (size_t i = 0; i < MJ_LEARNED; i++)
        if (tr->learned[i].hash != 0)
            tr->learned[i].until =
                isfinite(delta) ? tr->learned[i].until + delta : until;
}

void mj_aux_ids_free(mj_tracker *tr)
{
    ids_free(tr, &tr->aux_pool);
    ids_free(tr, &tr->room_pool);
    for (uint32_t b = 0; b < tr->eb_count; b++)
        if (tr->eblocks[b].mem != NULL) /* never: the sessions went first */
            mj_free(tr, tr->eblocks[b].mem,
                    (size_t)MJ_EBLOCK * sizeof *tr->eblocks[b].mem);
    if (tr->eblocks != NULL)
        mj_free(tr, tr->eblocks, eb_bytes(tr->eb_cap));
    tr->eblocks = NULL;
    tr->eb_map = NULL;
    tr->eb_count = tr->eb_cap = tr->eb_lo = tr->eb_spare = 0;
}

/* since moves into the record while the entry has one, and back out. */
int mj_entry_aux_new(mj_entry *e)
{
    mj_tracker *tr = e->sess->tr;
    mj_aux *a = mj_alloc(tr, sizeof *a);
    if (a == NULL)
        return MJ_ENOMEM;
    memset(a, 0, sizeof *a);
    a->e = e;
    a->since = mj_entry_since(e);
    if (aux_id_new(tr, a) == 0) {
        mj_free(tr, a, sizeof *a);
        return MJ_ENOMEM;
    }
    e->u.aux = a->id;
    e->has_aux = 1;
    return MJ_OK;
}

MJ_HOT void mj_entry_aux_trim(mj_entry *e)
{
    mj_aux *a = mj_entry_aux_of(e);
    if (a == NULL || timed((mj_state)e->state) || a->ping != NULL ||
        a->pnick != NULL || e->resent)
        return;
    mj_tracker *tr = e->sess->tr;
    double since = a->since;
    aux_id_free(tr, a->id);
    e->has_aux = 0;
    mj_entry_set_since(e, since);
    mj_free(tr, a, sizeof *a);
}

void mj_entry_set_cancelled(mj_entry *e, int on)
{
    if (e->cancelled == (on != 0))
        return;
    e->cancelled = on != 0;
    if (on)
        e->sess->n_cancelled++;
    else
        e->sess->n_cancelled--;
}

MJ_HOT int mj_entry_set_state(mj_entry *e, mj_state state)
{
    mj_tracker *tr = e->sess->tr;
    if (timed(state) && mj_entry_aux(e) != MJ_OK)
        return MJ_ENOMEM;
    count_state(e->sess, (mj_state)e->state, -1);
    count_state(e->sess, state, +1);
    if (on_timer(e))
        timer_unlink(tr, mj_entry_aux_of(e));
    resent_off(e);
    e->state = (uint8_t)state;
    if (state != MJ_S_PENDING) { /* they mean something in PENDING only */
        e->owed = 0;
        e->held_back = 0;
        e->close_owed = 0;
        mj_entry_set_cancelled(e, 0);
    }
    double now = mj_now(tr);
    if (timed(state)) {
        mj_entry_aux_of(e)->deadline = now + tr->cfg.pending_timeout;
        timer_append(tr, mj_entry_aux_of(e));
    } else {
        mj_entry_aux_trim(e);
    }
    mj_aux *a = mj_entry_aux_of(e);
    if (a == NULL) {
        mj_entry_set_since(e, now);
        return MJ_OK;
    }
    a->since = now;
    if (a->ping != NULL && tr->hooks.ping_state != NULL)
        tr->hooks.ping_state(e);
    return MJ_OK;
}

MJ_HOT int mj_entry_resent_owed(const mj_entry *e)
{
    const mj_aux *a = mj_entry_aux_of(e);
    return e->resent && a != NULL && a->deadline > mj_now(e->sess->tr);
}

int mj_entry_set_resent(mj_entry *e, int on)
{
    mj_tracker *tr = e->sess->tr;
    if (!on) {
        if (!e->resent)
            return MJ_OK;
        timer_unlink(tr, mj_entry_aux_of(e));
        resent_off(e);
        mj_entry_aux_trim(e);
        return MJ_OK;
    }
    if (e->state != MJ_S_JOINED)
        return MJ_OK;
    if (mj_entry_aux(e) != MJ_OK)
        return MJ_ENOMEM;
    mj_aux *a = mj_entry_aux_of(e);
    if (e->resent) {
        timer_unlink(tr, a); /* again: from now */
    } else {
        e->resent = 1;
        e->sess->n_resent++;
        tr->n_resent++;
    }
    a->deadline = mj_now(tr) + tr->cfg.pending_timeout;
    timer_append(tr, a);
    return MJ_OK;
}

/* The asked nick lives in the entry's mj_aux record (made on demand;
 * freed when the entry no longer needs it): in its pbuf when it fits,
 * else in a copy of its own. The new nick is in place before the old
 * copy is freed. */
MJ_HOT int mj_entry_set_pnick(mj_entry *e, const char *p, size_t len)
{
    if (p == NULL && !e->has_aux)
        return MJ_OK; /* nothing asked, nothing to clear */
    mj_tracker *tr = e->sess->tr;
    char *copy = NULL;
    if (mj_entry_aux(e) != MJ_OK)
        return MJ_ENOMEM;
    mj_aux *a = mj_entry_aux_of(e);
    if (p != NULL && len >= sizeof a->pbuf &&
        (copy = mj_strdup(tr, p, len)) == NULL) {
        mj_entry_aux_trim(e);
        return MJ_ENOMEM;
    }
    /* held: the new one, then the old one let go while its bytes are
     * there (p may be them) */
    mj_nick_hold(tr, &tr->nicks, p, len);
    if (a->pnick != NULL)
        mj_nick_release(tr, &tr->nicks, a->pnick, a->pnick_len);
    if (p != NULL && copy == NULL) {
        memmove(a->pbuf, p, len); /* p may be the old nick, in pbuf */
        a->pbuf[len] = '\0';
        copy = a->pbuf;
    }
    if (a->pnick != NULL && a->pnick != a->pbuf)
        mj_free(tr, a->pnick, (size_t)a->pnick_len + 1);
    a->pnick = copy;
    a->pnick_len = copy ? (uint32_t)len : 0;
    if (copy == NULL)
        mj_entry_aux_trim(e);
    return MJ_OK;
}

/* Take e out of its room's list: O(1). */
static void room_unlink(mj_tracker *tr, mj_entry *e)
{
    if (e->rprev != 0)
        mj_entry_at(tr, e->rprev)->rnext = e->rnext;
    else
        mj_entry_room(e)->entries = e->rnext;
    if (e->rnext != 0)
        mj_entry_at(tr, e->rnext)->rprev = e->rprev;
}

/* Make e able to show nick (p, len) without allocating (mj_entry_fit_nick());
 * keep: the nick it shows now stays shown (else the caller replaces it at
 * once). MJ_OK or MJ_ENOMEM (unchanged). */
MJ_HOT static int fit_nick(mj_entry *e, const char *p, size_t len, int keep)
{
    if (len > MJ_PART_MAX)
        return MJ_ENOMEM; /* never: nicks are checked before */
    mj_session *s = e->sess;
    if (s->nick == NULL && (s->nick = mj_alloc(s->tr, len + 1)) != NULL) {
        memcpy(s->nick, p, len); /* the session's first nick */
        s->nick[len] = '\0';
        s->nick_len = (uint16_t)len;
    }
    if (is_session_nick(s, p, len))
        return MJ_OK; /* shown from the session */
    return enick_fit(e, len, keep);
}

mj_entry *mj_entry_fit_nick(mj_entry *e, const char *p, size_t len)
{
    return fit_nick(e, p, len, 1) == MJ_OK ? e : NULL;
}

void mj_entry_unfit_nick(mj_entry *e)
{
    if (e->has_rec && !e->own_nick)
        enick_drop(e);
}

MJ_HOT mj_entry *mj_entry_set_nick(mj_entry *e, const char *p, size_t len)
{
    mj_tracker *tr = e->sess->tr;
    if (p == NULL) {
        if (e->has_nick)
            mj_nick_release(tr, &tr->nicks, mj_entry_nick_ptr(e),
                            mj_entry_nick_len(e));
        if (e->has_rec)
            enick_drop(e);
        e->has_nick = 0;
        return e;
    }
    if (fit_nick(e, p, len, 1) != MJ_OK)
        return NULL; /* e unchanged */
    /* the new nick held before the old one is let go (they may be the
     * same nick), the old one while its bytes are still there (p may be
     * them) */
    mj_nick_hold(tr, &tr->nicks, p, len);
    if (e->has_nick)
        mj_nick_release(tr, &tr->nicks, mj_entry_nick_ptr(e),
                        mj_entry_nick_len(e));
    if (is_session_nick(e->sess, p, len)) {
        if (e->has_rec)
            enick_drop(e); /* p is not read after this */
        e->has_nick = 1;
        return e;
    }
    mj_enick *n = mj_entry_enick(e);
    memmove(n->s, p, len); /* fit_nick() made room: p may be n->s */
    n->s[len] = '\0';
    n->len = (uint16_t)len;
    e->own_nick = 1;
    e->has_nick = 1;
    return e;
}

mj_entry *mj_entry_promote_nick(mj_entry *e)
{
    mj_str asked = mj_entry_pnick(e);
    if (asked.ptr == NULL)
        return e;
    mj_entry *n = mj_entry_set_nick(e, asked.ptr, asked.len);
    if (n != NULL)
        mj_entry_set_pnick(n, NULL, 0);
    return n;
}

/* Free an entry (its id: id) already out of its session's table. */
MJ_HOT static void entry_free(mj_entry *e, uint32_t id)
{
    mj_tracker *tr = e->sess->tr;
    mj_entry_set_cancelled(e, 0);
    count_state(e->sess, (mj_state)e->state, -1);
    if (on_timer(e))
        timer_unlink(tr, mj_entry_aux_of(e));
    resent_off(e); /* it keeps the record: not any more */
    e->state = MJ_S_NONE;
    e->gave_up = 0; /* the entry ends: nothing to ask at a link up */
    if (mj_entry_ping(e) != NULL && tr->hooks.ping_drop != NULL)
        tr->hooks.ping_drop(e);
    mj_entry_set_pnick(e, NULL, 0);
    mj_entry_aux_trim(e);
    if (e->has_nick)
        mj_nick_release(tr, &tr->nicks, mj_entry_nick_ptr(e),
                        mj_entry_nick_len(e));
    if (e->has_rec)
        enick_drop(e);
    /* last: until now the entry's id is its neighbour's link */
    room_unlink(tr, e);
    istr_release(tr, mj_entry_room(e));
    entry_release(tr, id);
}

void mj_session_trim(mj_session *s)
{
    idtab_trim(s->tr, &s->rooms);
}

MJ_HOT void mj_entry_destroy(mj_entry *e)
{
    mj_session *s = e->sess;
    uint32_t id = entry_id(s->tr, e);
    uint32_t i = slot_of(s, mj_entry_room(e));
    if (i != UINT32_MAX)
        idtab_remove_at(s->tr, &s->rooms, i);
    entry_free(e, id);
    if (!s->walking)
        idtab_trim(s->tr, &s->rooms);
}

MJ_HOT void mj_emit(mj_entry *e, mj_event_type type, mj_reason reason,
                    mj_str old_nick, mj_str condition, mj_str text,
                    mj_str alt_venue)
{
    mj_tracker *tr = e->sess->tr;
    switch (type) {
    case MJ_EV_JOINED:
        tr->st.joins++;
        break;
    case MJ_EV_LEFT:
        tr->st.leaves++;
        break;
    case MJ_EV_JOIN_FAILED:
        tr->st.join_failures++;
        break;
    default:
        break;
    }
    if (tr->cfg.on_event == NULL)
        return;
    mj_event ev;
    ev.type = type;
    ev.session = e->sess;
    ev.session_jid = mj_str_of(e->sess->jid, e->sess->jid_len);
    ev.room = mj_str_of(mj_entry_room(e)->s, mj_entry_room(e)->len);
    ev.nick = e->has_nick ? mj_entry_nick(e) : mj_entry_pnick(e);
    if (type == MJ_EV_PING_NEEDED)
        ev.nick = mj_entry_ping_nick(e);
    ev.old_nick = old_nick;
    ev.reason = reason;
    ev.condition = condition;
    ev.text = text;
    ev.alt_venue = alt_venue;
    ev.from_nick = mj_str_none();
    ev.ping_id = mj_entry_ping(e) ? mj_entry_ping(e)->id : 0;
    ev.room_nick = mj_str_none();
    ev.id = mj_str_none();
    if (type == MJ_EV_LEFT) { /* set only where it is not nick's bytes */
        mj_str rn = mj_entry_ping_nick(e);
        if (rn.ptr != NULL &&
            (rn.len != ev.nick.len ||
             (rn.len > 0 && memcmp(rn.ptr, ev.nick.ptr, rn.len) != 0)))
            ev.room_nick = rn;
    }
    tr->in_hook++;
    tr->cfg.on_event(tr->cfg.event_ud, &ev);
    tr->in_hook--;
}

void mj_emit_mention(mj_entry *e, mj_str from_nick)
{
    mj_tracker *tr = e->sess->tr;
    mj_event ev;
    tr->st.mentions++;
    if (tr->cfg.on_event == NULL)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = MJ_EV_MENTION;
    ev.session = e->sess;
    ev.session_jid = mj_str_of(e->sess->jid, e->sess->jid_len);
    ev.room = mj_str_of(mj_entry_room(e)->s, mj_entry_room(e)->len);
    ev.nick = mj_entry_nick(e);
    ev.from_nick = from_nick;
    tr->in_hook++;
    tr->cfg.on_event(tr->cfg.event_ud, &ev);
    tr->in_hook--;
}

/* ---- domains -------------------------------------------------------------
 * One record per domain that an interned room is on: the outstanding
 * count the budget reads (no walk over the pings), the queue of due pings
 * waiting for that budget, and the pending link check. */

static uint64_t dom_hash(const void *item)
{
    return ((const mj_domain *)item)->hash;
}

static int dom_match(const void *item, const void *key)
{
    const mj_domain *d = item;
    const struct strkey *k = key;
    return d->hash == k->hash && d->len == k->len &&
           memcmp(d->name, k->p, k->len) == 0;
}

mj_domain *mj_domain_find(mj_tracker *tr, mj_str name, uint64_t *hash)
{
    struct strkey k = {name.ptr, name.len,
                       mj_siphash(&tr->key, name.ptr, name.len)};
    size_t i = mj_table_find(&tr->domains, k.hash, dom_match, &k);
    *hash = k.hash;
    return i == (size_t)-1 ? NULL : tr->domains.slots[i];
}

/* Whether a domain record hashed h, made now, was seen to reflect ids
 * before its last record went (within pending_timeout): the slot is
 * freed, the new record carries the bit. */
static int learned_take(mj_tracker *tr, uint64_t h)
{
    for (size_t i = 0; i < MJ_LEARNED; i++)
        if (tr->learned[i].hash == h && h != 0) {
            tr->learned[i].hash = 0;
            return tr->learned[i].until > mj_now(tr);
        }
    return 0;
}

/* Keep a going record's reflects_id for pending_timeout: in its own slot,
 * a free or expired one, else the one that expires first. */
static void learned_put(mj_tracker *tr, uint64_t h)
{
    double now = mj_now(tr);
    size_t i, k = MJ_LEARNED;
    if (h == 0)
        return; /* (SipHash's 0: not kept, as if never learnt) */
    for (i = 0; i < MJ_LEARNED && k == MJ_LEARNED; i++)
        if (tr->learned[i].hash == h)
            k = i;
    for (i = 0; i < MJ_LEARNED && k == MJ_LEARNED; i++)
        if (tr->learned[i].hash == 0 || !(tr->learned[i].until > now))
            k = i;
    if (k == MJ_LEARNED) /* all taken: the one that expires first */
        for (i = k = 0; i < MJ_LEARNED; i++)
            if (tr->learned[i].until < tr->learned[k].until)
                k = i;
    tr->learned[k].hash = h;
    tr->learned[k].until = now + tr->cfg.pending_timeout;
}

mj_domain *mj_domain_get(mj_tracker *tr, const char *bare, size_t len)
{
    mj_str name = mj_domain_of(bare, len);
    uint64_t h;
    mj_domain *d = mj_domain_find(tr, name, &h);
    if (d != NULL)
        return d;
    if (mj_table_reserve(tr, &tr->domains, dom_hash) != MJ_OK)
        return NULL;
    d = mj_alloc(tr, sizeof *d + name.len + 1);
    if (d == NULL)
        return NULL;
    memset(d, 0, sizeof *d);
    d->up_walk_at = -INFINITY;
    d->lost_at = -INFINITY;
    d->give_up_until = -INFINITY;
    d->hash = h;
    d->len = (uint32_t)name.len;
    memcpy(d->name, name.ptr, name.len);
    d->name[name.len] = '\0';
    d->reflects_id = (uint8_t)learned_take(tr, h);
    mj_table_insert(&tr->domains, h, d);
    return d;
}

void mj_domain_release(mj_tracker *tr, mj_domain *d)
{
    if (d->rooms > 0 || d->ready || d->fire)
        return;
    if (d->up_check) { /* nothing left to visit: off tr->ups */
        if (d->uprev != NULL)
            d->uprev->unext = d->unext;
        else
            tr->ups = d->unext;
        if (d->unext != NULL)
            d->unext->uprev = d->uprev;
        else
            tr->ups_tail = d->uprev;
        d->up_check = 0;
    }
    if (d->check) { /* no room left to check: off tr->checks */
        if (d->cprev != NULL)
            d->cprev->cnext = d->cnext;
        else
            tr->checks = d->cnext;
        if (d->cnext != NULL)
            d->cnext->cprev = d->cprev;
        else
            tr->checks_tail = d->cprev;
        d->check = 0;
    }
    mj_table_remove_item(&tr->domains, d->hash, d, dom_hash);
    if (d->reflects_id)
        learned_put(tr, d->hash);
    mj_free(tr, d, sizeof *d + d->len + 1);
    if (tr->domains.count == 0) /* nothing walks it now: give it back */
        mj_table_free(tr, &tr->domains);
    else
        mj_table_trim(tr, &tr->domains, dom_hash);
}

/* ---- sessions --------------------------------------------------------- */

static int session_match(const void *item, const void *key)
{
    const mj_session *s = item;
    const struct strkey *k = key;
    return s->hash == (uint32_t)k->hash && s->pjid_len == k->len &&
           memcmp(mj_session_pjid(s), k->p, k->len) == 0;
}

static uint64_t session_hash(const void *item)
{
    return ((const mj_session *)item)->hash;
}

static int prep_full(const char *jid, size_t len, char *out, size_t cap,
                     size_t *out_len)
{
    if (jid == NULL)
        return MJ_EINVAL;
    return mj_jid_prep(jid, len, out, cap, out_len);
}

/* Prepare jid into buf (MJ_FULL_JID_CAP bytes) and look it up: MJ_OK with
 * *found set (NULL if absent), or the preparation's error. */
int mj_session_lookup(mj_tracker *tr, const char *jid, size_t len, char *buf,
                      size_t *plen, uint64_t *h, mj_session **found)
{
    *found = NULL;
    int rc = prep_full(jid, len, buf, MJ_FULL_JID_CAP, plen);
    if (rc != MJ_OK)
        return rc;
    struct strkey k = {buf, *plen, mj_siphash(&tr->key, buf, *plen)};
    *h = k.hash;
    size_t i = mj_table_find(&tr->sessions, *h, session_match, &k);
    if (i != (size_t)-1)
        *found = tr->sessions.slots[i];
    return MJ_OK;
}

int mj_session_find(mj_tracker *tr, const char *full_jid, size_t len,
                    mj_session **out)
{
    char buf[MJ_FULL_JID_CAP];
    size_t plen;
    uint64_t h;
    if (out == NULL || tr == NULL)
        return MJ_EINVAL;
    int rc = mj_session_lookup(tr, full_jid, len, buf, &plen, &h, out);
    if (rc != MJ_OK)
        return rc;
    return *out ? MJ_OK : MJ_ENOTFOUND;
}

/* Create the session looked up by mj_session_lookup() (prepared JID in
 * buf, plen bytes, hash h). */
int mj_session_create(mj_tracker *tr, const char *full_jid, size_t len,
                      const char *buf, size_t plen, uint64_t h,
                      mj_session **out)
{
    if (mj_table_reserve(tr, &tr->sessions, session_hash) != MJ_OK)
        return MJ_ENOMEM;
    int apart = len != plen || memcmp(full_jid, buf, len) != 0;
    mj_session *s = mj_alloc(tr, sizeof *s + len + 1 + (apart ? plen + 1 : 0));
    if (s == NULL)
        return MJ_ENOMEM;
    memset(s, 0, sizeof *s);
    s->tr = tr;
    memcpy(s->jid, full_jid, len);
    s->jid[len] = '\0';
    if (apart) { /* else given prepared: one copy */
        memcpy(s->jid + len + 1, buf, plen);
        s->jid[len + 1 + plen] = '\0';
        s->pjid_apart = 1;
    }
    s->jid_len = (uint32_t)len;
    s->pjid_len = (uint32_t)plen;
    s->hash = (uint32_t)h;
    mj_table_insert(&tr->sessions, h, s);
    *out = s;
    return MJ_OK;
}

int mj_session_open(mj_tracker *tr, const char *full_jid, size_t len,
                    mj_session **out)
{
    char buf[MJ_FULL_JID_CAP];
    size_t plen;
    uint64_t h;
    if (out == NULL || tr == NULL)
        return MJ_EINVAL;
    *out = NULL;
    if (MJ_IN_HOOK(tr))
        return MJ_EBUSY;
    int rc = mj_session_lookup(tr, full_jid, len, buf, &plen, &h, out);
    if (rc != MJ_OK || *out != NULL)
        return rc;
    return mj_session_create(tr, full_jid, len, buf, plen, h, out);
}

void mj_session_free(mj_session *s)
{
    mj_tracker *tr = s->tr;
    if (tr->leaves.count != 0)
        mj_leaves_session_gone(tr, s); /* nothing is sent for it */
    for (size_t i = 0; i < s->rooms.cap; i++)
        if (s->rooms.slots[i] != 0)
            entry_free(mj_session_slot(s, i), s->rooms.slots[i]);
    idtab_free(tr, &s->rooms);
    if (s->nick != NULL)
        mj_free(tr, s->nick, (size_t)s->nick_len + 1);
    mj_free(tr, s,
            sizeof *s + s->jid_len + 1 +
                (s->pjid_apart ? s->pjid_len + 1 : 0));
}

/* What the room still owes the session's JID as the session goes
 * (owed.h): the answer to a join, a nick change or a join sent again,
 * and the confirmation of the unavailable Prosody's mod_presence sends
 * for a closed session (a cancelled join's leave was sent already: its
 * confirmations are counted in owed). A LEAVING entry owes its leave's
 * confirmation, and before it whatever was sent before the leave (a nick
 * change's answers, a join sent again's): the record a rejoin from
 * LEAVING gets (send_join()). A settled entry owes that unavailable's
 * answer, which is a removal when the room removed the occupant first (a
 * kick crossing the close; a Prosody MUC kicks, 333, for the errors
 * mod_smacks bounces from a replaced session's queue): without the
 * record, a rejoin under the same JID took it for a refusal of its own
 * join. */
static void remember_owed(mj_session *s, const mj_entry *e, double until)
{
    const mj_aux *a = mj_entry_aux_of(e);
    mj_owed_what w = {1, 0, 0,
                      mj_entry_room(e)->dom != NULL &&
                          mj_entry_room(e)->dom->reflects_id,
                      0};
    switch ((mj_state)e->state) {
    case MJ_S_PENDING:
        /* and the answer to an earlier close still owed (close_owed) */
        w.owed = e->owed + (e->cancelled ? 0u : 1u) + e->close_owed;
        w.prev_id = a == NULL         ? 0
                    : a->join_id != 0 ? a->join_id
                                      : a->prev_join_id;
        break;
    case MJ_S_LEAVING:
        /* a join sent again before the leave still owed its answer:
         * its id (send_leave() kept it), which the next session's join
         * must not take for its own */
        w.prev_id = a != NULL ? a->prev_join_id : 0;
        /* left from EXPECTING: the 303's self-presence comes first */
        w.renamed = a != NULL && a->rename_owed;
        break;
    case MJ_S_CHANGING:
        /* entered from EXPECTING: the 303's self-presence comes first */
        w.renamed = a != NULL && a->rename_owed;
        /* a join under another nick (joins.c changing_by_join()): the
         * room answers it as a join when it removed the session before it
         * saw it, that removal one unavailable more; its id tells its
         * answer from the next session's join */
        if (a != NULL && a->join_id != 0 && a->pnick != NULL) {
            w.owed++;
            w.prev_id = a->join_id;
        }
        break;
    case MJ_S_EXPECTING:
        w.renamed = 1; /* the 303's self-presence comes first */
        break;
    case MJ_S_JOINED:
        if (mj_entry_resent_owed(e)) {
            w.prev_id = a->join_id;
        } else {
            w.owed = 0;
            w.settled = 1; /* only the close's answer: it holds nothing back */
        }
        break;
    default:
        return;
    }
    if (w.prev_id == MJ_JOIN_ID_UNKNOWN || w.prev_id == MJ_JOIN_ID_NONE)
        w.prev_id = 0;
    /* the account's share: what one session's close may leave (owed.h) */
    size_t rooms = s->tr->cfg.max_rooms, pending = s->tr->cfg.max_pending;
    size_t cap = MJ_OWED_MAX;
    if (rooms < MJ_OWED_MAX && pending < MJ_OWED_MAX - rooms)
        cap = rooms + pending;
    if (cap < MJ_OWED_PER_ACCOUNT)
        cap = MJ_OWED_PER_ACCOUNT;
    mj_owed_add(s->tr, &s->tr->owed, &s->tr->key, mj_session_pjid(s),
                s->pjid_len, mj_entry_room(e)->s, mj_entry_room(e)->len, &w,
                until, cap);
}

void mj_session_close(mj_session *s)
{
    if (s == NULL || MJ_IN_HOOK(s->tr))
        return;
    mj_tracker *tr = s->tr;
    double until = mj_now(tr) + tr->cfg.pending_timeout;
    for (size_t i = 0; i < s->rooms.cap; i++) {
        mj_entry *e = mj_session_slot(s, i);
        if (e == NULL)
            continue;
        if (e->state != MJ_S_PENDING && e->state != MJ_S_NONE)
            mj_emit(e, MJ_EV_LEFT, MJ_R_SESSION_CLOSED, mj_str_none(),
                    mj_str_none(), mj_str_none(), mj_str_none());
        remember_owed(s, e, until);
    }
    mj_table_remove_item(&tr->sessions, s->hash, s, session_hash);
    mj_session_free(s);
    /* no walk of the sessions closes one (the iteration API says the
     * tracker must not change during it) */
    mj_table_trim(tr, &tr->sessions, session_hash);
}

mj_str mj_session_jid(const mj_session *s)
{
    if (s == NULL)
        return mj_str_none();
    return mj_str_of(s->jid, s->jid_len);
}

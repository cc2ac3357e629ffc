/*
 * mj_sessions.c - the Lua binding's session handle cache (see
 * mucjoins_lua.h).
 */
#include "mucjoins_lua.h"

/*
 * Session handles, cached by the bytes of their JID in a C table owned by
 * the tracker userdata (struct scache), so that the module's calls, which
 * always pass the same session.full_jid bytes, skip mj_session_find(): a
 * cheap hash of the bytes, a compare of hashes and one of bytes instead of
 * preparing the JID and hashing it with SipHash, and no Lua API call.
 *
 * The table is a cache, not an index: a handle sits in one of the SC_WAY
 * slots from the one its hash picks (open addressing, probes bounded), and
 * when all of them are taken it replaces the first. Its hash is keyed per
 * tracker but cheap: JIDs made to collide (a local user can choose
 * resources) only make lookups miss, and a miss costs what the core's own
 * lookup costs, the path every stanza took before the cache; no lookup
 * looks at more than SC_WAY slots. A hit is accepted only when the
 * handle's own JID (mj_session_jid()) has exactly the bytes asked for.
 *
 * Invariants: a handle is cached only under the very bytes it was opened
 * with, so in the SC_WAY slots its bytes pick; and every
 * mj_session_close() of this binding first clears its slot and u->last
 * (the handle of the previous call, checked first) through cache_forget()
 * (l_close; l_restore only closes a session it has just opened, never
 * cached). Handles live until mj_session_close() or mj_tracker_free(), and
 * the cache goes with the tracker, so a cached handle is never dangling,
 * across a module reload too (the module keeps the tracker, and so its
 * cache). The slots come from Lua's allocator function (which never runs
 * the collector); when it fails, the cache simply stays as it is. Its
 * bytes are counted in t:stats().bytes.
 */

/* The table doubles while half of its slots are in use, from SC_MIN
 * slots, and when a close leaves an eighth of them in use it is made the
 * smallest size (at least SC_MIN) with at most a quarter in use, as the
 * core's tables (a resize takes an eighth of the slots in closes, or a
 * quarter in new handles: O(1) amortised). Before, it kept the size of
 * the largest number of sessions ever cached at once (16 bytes a slot),
 * for the tracker's life, across reloads. */
#define SC_MIN 64
#define SC_WAY 8
_Static_assert(SC_MIN >= SC_WAY, "a probe window fits in the table");

static uint32_t sc_hash(uint64_t seed, const char *p, size_t len)
{
    uint64_t h = seed ^ len, w;

    while (len >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15u;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    w = 0;
    memcpy(&w, p, len);
    h ^= w;
    /* the whole word into the low bits the mask keeps (murmur3's fmix64) */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return (uint32_t)(h ^ (h >> 33));
}

static int same_jid(const mj_session *s, const char *p, size_t len)
{
    mj_str sj = mj_session_jid(s);

    return sj.len == len && memcmp(sj.ptr, p, len) == 0;
}

void scache_free(struct tracker *u)
{
    struct scache *c = &u->sc;

    if (c->slot != NULL)
        u->col.alloc(u->col.alloc_ud, c->slot, (c->mask + 1) * sizeof *c->slot,
                     0);
    c->slot = NULL;
    c->mask = 0;
    c->used = 0;
}

size_t scache_bytes(const struct tracker *u)
{
    return u->sc.slot == NULL ? 0 : (u->sc.mask + 1) * sizeof *u->sc.slot;
}

MJ_HOT mj_session *session_cached(struct tracker *u, const char *p, size_t len)
{
    const struct scache *c = &u->sc;
    struct scslot *e;
    uint32_t h;
    size_t i, k;

    if (u->last != NULL && same_jid(u->last, p, len))
        return u->last; /* presences come in bursts per session */
    if (c->slot == NULL)
        return NULL;
    h = sc_hash(c->seed, p, len);
    for (i = (size_t)h, k = 0; k < SC_WAY; i++, k++) {
        e = &c->slot[i & c->mask];
        if (e->h == h && e->s != NULL && same_jid(e->s, p, len)) {
            u->last_slot = e;
            return u->last = e->s;
        }
    }
    return NULL;
}

/* Put s, whose hash is h, into the table slot[0..mask] (not grown), with
 * the watch epoch watch; returns 1 if it took an empty slot. *at, if not
 * NULL: the slot that holds s. */
static int sc_put(struct scslot *slot, size_t mask, uint32_t h, mj_session *s,
                  uint32_t watch, struct scslot **at)
{
    struct scslot *free = NULL, *e;
    size_t i, k;

    for (i = (size_t)h, k = 0; k < SC_WAY; i++, k++) {
        e = &slot[i & mask];
        if (e->s == s) {
            if (at != NULL)
                *at = e;
            return 0;
        }
        if (e->s == NULL && free == NULL)
            free = e;
    }
    e = free != NULL ? free : &slot[h & mask]; /* full: replaces one */
    e->s = s;
    e->h = h;
    e->watch = watch;
    if (at != NULL)
        *at = e;
    return free != NULL;
}

/* Move the handles into a table of n slots (a power of two, at least
 * SC_MIN; made when there is none); 0 if the allocator failed (the table
 * stays as it was). A smaller table may leave out a handle whose probe
 * window is full: a cache. */
static int sc_resize(struct tracker *u, size_t n)
{
    struct scache *c = &u->sc;
    size_t old = c->slot == NULL ? 0 : c->mask + 1;
    size_t i, used = 0;
    struct scslot *slot;

    if (n > SIZE_MAX / sizeof *slot / 2)
        return 0;
    slot = u->col.alloc(u->col.alloc_ud, NULL, 0, n * sizeof *slot);
    if (slot == NULL)
        return 0;
    memset(slot, 0, n * sizeof *slot);
    if (old == 0) /* ASLR makes both addresses differ from run to run */
        c->seed =
            sc_hash((uint64_t)(uintptr_t)u, (const char *)&slot, sizeof slot);
    for (i = 0; i < old; i++)
        if (c->slot[i].s != NULL)
            used += (size_t)sc_put(slot, n - 1, c->slot[i].h, c->slot[i].s,
                                   c->slot[i].watch, NULL);
    scache_free(u);
    u->last_slot = NULL; /* the slots moved */
    c->slot = slot;
    c->mask = n - 1;
    c->used = used;
    return 1;
}

/* Double the table (or make the first one); 0 if the allocator failed. */
static int sc_grow(struct tracker *u)
{
    return sc_resize(u, u->sc.slot == NULL ? SC_MIN : 2 * (u->sc.mask + 1));
}

/* After a handle left: the smallest table with at most a quarter of its
 * slots in use, once an eighth or fewer are (no memory: kept as it is). */
static void sc_trim(struct tracker *u)
{
    const struct scache *c = &u->sc;
    size_t n = SC_MIN;

    if (c->slot == NULL || c->mask + 1 <= SC_MIN ||
        c->used > (c->mask + 1) / 8)
        return;
    while (n < 4 * c->used)
        n *= 2;
    (void)sc_resize(u, n);
}

void session_remember(struct tracker *u, mj_session *s, const char *p,
                      size_t len)
{
    struct scache *c = &u->sc;

    if (!same_jid(s, p, len))
        return;
    u->last = s;
    u->last_slot = NULL;
    if ((c->slot == NULL || c->used >= (c->mask + 1) / 2) && !sc_grow(u) &&
        c->slot == NULL)
        return; /* out of memory: not cached */
    c->used += (size_t)sc_put(c->slot, c->mask, sc_hash(c->seed, p, len), s, 0,
                              &u->last_slot);
}

int session_of(lua_State *L, struct tracker *u, mj_session **out)
{
    size_t len;
    const char *jid = lua_tolstring(L, 2, &len);
    int rc;

    *out = session_cached(u, jid, len);
    if (*out != NULL)
        return MJ_OK;
    rc = mj_session_find(u->tr, jid, len, out);
    if (rc == MJ_OK)
        session_remember(u, *out, jid, len);
    return rc;
}

/* The slot holding s (looked up by its own JID's bytes), or NULL. A
 * handle is in one slot at most: sc_put() never puts it in a second. */
static struct scslot *slot_of(const struct scache *c, const mj_session *s)
{
    mj_str sj;
    uint32_t h;
    size_t i, k;

    if (c->slot == NULL)
        return NULL;
    sj = mj_session_jid(s);
    h = sc_hash(c->seed, sj.ptr, sj.len);
    for (i = h, k = 0; k < SC_WAY; i++, k++)
        if (c->slot[i & c->mask].s == s)
            return &c->slot[i & c->mask];
    return NULL;
}

/* The slot holding s, taken from the last lookup when that found s (no
 * hashing), else looked up. */
static struct scslot *slot_known(struct tracker *u, const mj_session *s)
{
    struct scslot *e = u->last_slot;

    if (u->last != s || e == NULL || e->s != s)
        e = slot_of(&u->sc, s);
    return e;
}

void cache_forget(struct tracker *u, const mj_session *s)
{
    struct scslot *e = slot_of(&u->sc, s);

    u->closes++; /* a handle a hook looked up may be s (feed()) */
    if (u->last == s) {
        u->last = NULL;
        u->last_slot = NULL;
    }
    if (e != NULL) {
        e->s = NULL;
        e->h = 0;
        e->watch = 0;
        u->sc.used--;
        sc_trim(u);
    }
}

int session_watch_due(struct tracker *u, const mj_session *s)
{
    /* the feed that asks has just looked s up: its slot is known unless
     * the cache was rebuilt or the slot given to another handle since */
    struct scslot *e = slot_known(u, s);

    if (e == NULL)
        return 1; /* not cached (replaced): due every time */
    if (e->watch == u->watch)
        return 0;
    e->watch = u->watch;
    return 1;
}

void session_watch_epoch(struct tracker *u)
{
    if (++u->watch == 0) /* slots hold 0 when never watched */
        u->watch = 1;
}

void session_watch_failed(struct tracker *u, const char *p, size_t len)
{
    /* looked up again: the Lua call may have closed the session */
    mj_session *s = session_cached(u, p, len);
    struct scslot *e = s != NULL ? slot_known(u, s) : NULL;

    if (e != NULL)
        e->watch = 0; /* never an epoch */
}

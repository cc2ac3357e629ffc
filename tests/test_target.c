/* Tests for the received presence's fast path (src/target.c, src/store.c,
 * src/hash.c, src/classify.c): the same input taken the fast way and the
 * slow way gives the same answer. A room JID as the room sends it
 * (prepared) is found through the session's own table; the same room
 * written in another case or with a trailing dot is prepared and looked
 * up; a nick of printable ASCII is compared as bytes, any other one
 * through Resourceprep. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "env.h"
#include "fixture.h"
#include "hash.h"
#include "jid.h"
#include "store.h"
#include "target.h"

#define ROOM "room@muc.example.org"

/* ---- mj_classify against the one-rank-at-a-time reference ------------- */

/* What mj_classify did before it took one pass: each removal code looked
 * for in turn, strongest first. */
static void classify_ref(const mj_stanza *st, mj_class *out)
{
    static const struct {
        int code;
        mj_reason reason;
    } codes[] = {
        {333, MJ_R_TECHNICAL},   {332, MJ_R_SHUTDOWN},
        {301, MJ_R_BANNED},      {307, MJ_R_KICKED},
        {321, MJ_R_AFFILIATION}, {322, MJ_R_MEMBERS_ONLY},
    };
    memset(out, 0, sizeof *out);
    out->removal = MJ_R_NONE;
    if (!st->has_muc_user)
        return;
    size_t n = st->nstatus < MJ_MAX_STATUS ? st->nstatus : MJ_MAX_STATUS;
    for (size_t i = 0; i < n; i++) {
        if (st->status[i] == 110)
            out->self = 1;
        else if (st->status[i] == 303)
            out->has303 = 1;
        else if (st->status[i] == 332)
            out->has332 = 1;
    }
    for (size_t r = 0; r < sizeof codes / sizeof codes[0]; r++)
        for (size_t i = 0; i < n; i++)
            if (st->status[i] == codes[r].code) {
                out->removal = codes[r].reason;
                return;
            }
    if (st->has_destroy)
        out->removal = MJ_R_DESTROYED;
}

/* Every sequence of up to four codes from the ones that mean something
 * (and two that do not), with and without muc#user and <destroy/>. */
TEST(classify_matches_reference)
{
    static const int set[] = {0,   110, 303, 333, 332, 301,
                              307, 321, 322, 100, 170};
    const size_t k = sizeof set / sizeof set[0];
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++)
            for (size_t c = 0; c < k; c++)
                for (size_t d = 0; d < k; d++)
                    for (int flags = 0; flags < 4; flags++) {
                        mj_stanza st;
                        mj_class got, want;
                        mj_stanza_init(&st);
                        st.has_muc_user = flags & 1;
                        st.has_destroy = (flags >> 1) & 1;
                        const size_t idx[4] = {a, b, c, d};
                        for (int i = 0; i < 4; i++)
                            if (set[idx[i]] != 0)
                                st.status[st.nstatus++] = set[idx[i]];
                        mj_classify(&st, &got);
                        classify_ref(&st, &want);
                        if (got.self != want.self ||
                            got.has303 != want.has303 ||
                            got.has332 != want.has332 ||
                            got.removal != want.removal) {
                            FAIL_AT("codes %d %d %d %d flags %d", set[a],
                                    set[b], set[c], set[d], flags);
                            return;
                        }
                    }
}

/* A view holds MJ_MAX_STATUS codes; one that comes later replaces one the
 * decisions do not read (mj_stanza_add_status()), so the list of codes
 * that decide (mj_status_decides()) must be mj_classify()'s: every code from
 * 100 to 999, after MJ_MAX_STATUS that decide nothing, classifies as it
 * does alone. */
TEST(status_code_past_the_view_classifies_as_alone)
{
    char buf[4];
    for (int code = 100; code <= 999; code++) {
        mj_stanza st, alone;
        mj_class got, want;
        mj_stanza_init(&st);
        mj_stanza_init(&alone);
        st.has_muc_user = alone.has_muc_user = 1;
        for (int i = 0; i < MJ_MAX_STATUS; i++) {
            snprintf(buf, sizeof buf, "%d", 170 + i); /* 170..185 */
            mj_stanza_add_status(&st, buf, 3);
        }
        snprintf(buf, sizeof buf, "%d", code);
        mj_stanza_add_status(&st, buf, 3);
        mj_stanza_add_status(&alone, buf, 3);
        mj_classify(&st, &got);
        mj_classify(&alone, &want);
        if (got.self != want.self || got.has303 != want.has303 ||
            got.has332 != want.has332 || got.removal != want.removal) {
            FAIL_AT("code %d past the view", code);
            return;
        }
    }
}

/* ---- mj_qhash ------------------------------------------------------------
 */

/* Equal bytes hash equal wherever they lie; one byte changed, one byte
 * more or another key changes the hash (a 64-bit hash: a collision here
 * would be a broken function, not bad luck). */
TEST(qhash_depends_on_every_byte_length_and_key)
{
    mj_hkey k1 = {UINT64_C(0x243f6a8885a308d3), UINT64_C(0x13198a2e03707344)};
    mj_hkey k2 = k1;
    k2.k1 ^= 1;
    unsigned char buf[80], copy[96];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)('a' + i % 26);
    for (size_t len = 0; len <= 64; len++) {
        uint64_t h = mj_qhash(&k1, buf, len);
        for (size_t off = 0; off < 8; off++) {
            memcpy(copy + off, buf, len);
            CHECK(mj_qhash(&k1, copy + off, len) == h);
        }
        CHECK(mj_qhash(&k2, buf, len) != h);
        CHECK(mj_qhash(&k1, buf, len + 1) != h);
        for (size_t i = 0; i < len; i++)
            for (int bit = 0; bit < 8; bit++) {
                buf[i] ^= (unsigned char)(1u << bit);
                if (mj_qhash(&k1, buf, len) == h)
                    FAIL_AT("len %zu: byte %zu bit %d changes nothing", len, i,
                            bit);
                buf[i] ^= (unsigned char)(1u << bit);
            }
    }
}

/* ---- mj_parse_target: the fast way and the slow way ------------------- */

struct parsed {
    int rc;
    mj_outcome bad;
    mj_istr *room;
    mj_entry *entry;
    char bare[2 * MJ_PART_MAX + 2];
    size_t blen;
    int has_res;
    mj_str raw_res;
};

static struct parsed parse(mj_session *s, const char *jid, size_t len)
{
    struct parsed p;
    mj_target t;
    memset(&p, 0, sizeof p);
    p.bad = MJ_O_IGNORED;
    p.rc = mj_parse_target(s, mj_str_of(jid, len), &t, &p.bad);
    if (p.rc == MJ_OK) {
        p.room = t.room;
        p.entry = t.entry;
        memcpy(p.bare, t.bare, t.blen);
        p.blen = t.blen;
        p.has_res = t.has_res;
        p.raw_res = t.raw_res;
    }
    return p;
}

/* fast: the JID as the room sends it; slow: the same room written
 * otherwise, with the same resource (as written, so at the same offset
 * from the end). Both must name the same entry with the same resource,
 * or fail alike. */
static void check_same(mj_session *s, const char *fast, const char *slow)
{
    mj_stats st0, st1, st2;
    mj_tracker_stats(s->tr, &st0);
    struct parsed a = parse(s, fast, strlen(fast));
    mj_tracker_stats(s->tr, &st1);
    struct parsed b = parse(s, slow, strlen(slow));
    mj_tracker_stats(s->tr, &st2);
    if (a.rc != b.rc || a.room != b.room || a.entry != b.entry ||
        a.blen != b.blen || memcmp(a.bare, b.bare, a.blen) != 0 ||
        a.has_res != b.has_res || a.raw_res.len != b.raw_res.len ||
        (a.raw_res.ptr == NULL) != (b.raw_res.ptr == NULL) ||
        (a.raw_res.ptr &&
         memcmp(a.raw_res.ptr, b.raw_res.ptr, a.raw_res.len) != 0) ||
        (a.rc != MJ_OK && a.bad != b.bad))
        FAIL_AT("\"%s\" (rc %d) and \"%s\" (rc %d) differ", fast, a.rc, slow,
                b.rc);
    /* an unusable JID is counted once per stanza, the same way */
    CHECK_INT(st1.bad_jids - st0.bad_jids, st2.bad_jids - st1.bad_jids);
    CHECK_INT(st1.limits - st0.limits, st2.limits - st1.limits);
}

TEST(parse_target_fast_and_slow_agree)
{
    mj_tracker *tr = fx_tracker();
    mj_session *s = fx_session(tr, "user@example.org/phone");
    mj_session *o = fx_session(tr, "other@example.org/phone");
    fx_join(s, ROOM "/nick");
    fx_self(s, "available", ROOM "/nick");
    fx_join(s, "muc.example.org/nick");        /* a room JID without a node */
    fx_join(o, "elsewhere@muc.example.org/x"); /* interned, not s's */
    fx_take();

    struct parsed p = parse(s, ROOM "/nick", strlen(ROOM "/nick"));
    CHECK_INT(p.rc, MJ_OK);
    CHECK(p.entry != NULL && p.room == mj_entry_room(p.entry));

    static const char *const res[] = {
        "/nick",    "/Nick Name", "/ni\xC2\xADk", "/\xEF\xBD\x8E\xEF\xBD\x89",
        "/a@b/c",   "",           "/ni\x01k",     "/ni\x7Fk",
        "/ni\xFFk", "/",          "/\xD8\xA7" /* RandALCat alone: fine */};
    static const char *const rooms[][2] = {
        {ROOM, "ROOM@MUC.Example.ORG"},
        {ROOM, "room@muc.example.org."},
        {ROOM, "Room@muc.example.org."},
        {"muc.example.org", "MUC.example.org"},
        {"elsewhere@muc.example.org", "ElseWhere@muc.example.org"},
        {"never@muc.example.org", "NEVER@muc.example.org"},
    };
    char fast[64], slow[64];
    for (size_t r = 0; r < sizeof rooms / sizeof rooms[0]; r++)
        for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
            snprintf(fast, sizeof fast, "%s%s", rooms[r][0], res[i]);
            snprintf(slow, sizeof slow, "%s%s", rooms[r][1], res[i]);
            check_same(s, fast, slow);
        }

    /* a resource over the limit: too long both ways */
    static char big_fast[1200], big_slow[1200];
    snprintf(big_fast, sizeof big_fast, ROOM "/%01100d", 0);
    snprintf(big_slow, sizeof big_slow, "ROOM@muc.example.org/%01100d", 0);
    p = parse(s, big_fast, strlen(big_fast));
    CHECK_INT(p.rc, MJ_ETOOLONG);
    CHECK_INT(p.bad, MJ_O_LIMIT);
    check_same(s, big_fast, big_slow);

    /* A room JID whose preparation does not split back into itself: a
     * node of only a soft hyphen prepares to "" ("@muc..."), a domain
     * with U+FF0F or U+FF20 to one holding '/' or '@', one with U+2100
     * to "a/c". Prosody's prep gives the same strings, but its router
     * splits them again, so no room answers from them; as a key such a
     * JID would not find itself (mj_session_nick(), restore). Refused
     * as bad JIDs, as a domain ending in ".." is; nothing is tracked. */
    static const char *const unsplit[] = {
        "\xC2\xAD@muc.example.org/nick",
        "\xE2\x80\x8B@MUC.example.org/nick",
        "room@\xC2\xAD/nick",
        "room@muc.example.org\xEF\xBC\x8Fx/nick", /* U+FF0F */
        "room@muc.example.org\xEF\xBC\xA0x/nick", /* U+FF20 */
        "room@muc\xE2\x84\x80/nick",              /* U+2100 */
        "muc.example.org\xEF\xBC\x8Fx/nick",      /* no node */
        ("muc\xEF\xBC\xA0"
         "example.org/nick"), /* no node, an @ */
        "room@muc.example.org../nick",
    };
    size_t pending = mj_session_count(s, MJ_S_PENDING);
    for (size_t i = 0; i < sizeof unsplit / sizeof unsplit[0]; i++) {
        fx_join(s, unsplit[i]);
        p = parse(s, unsplit[i], strlen(unsplit[i]));
        if (p.rc != MJ_EJID || p.bad != MJ_O_BAD_JID)
            FAIL_AT("\"%s\": rc %d, expected a bad JID", unsplit[i], p.rc);
    }
    CHECK(mj_session_count(s, MJ_S_PENDING) == pending);
    fx_take();

    /* not JIDs: refused alike (the fast way does not take them) */
    static const char *const bad[] = {"", "/nick", "@" ROOM, ROOM "@x/n",
                                      "a@/n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = parse(s, bad[i], strlen(bad[i]));
        CHECK_INT(p.rc, MJ_EJID);
        CHECK_INT(p.bad, MJ_O_BAD_JID);
    }
    mj_tracker_free(tr);
}

/* ---- mj_parse_target on mutated JIDs ----------------------------------
 * A session with no rooms never takes the fast way (its table is empty),
 * so it is the slow way's answer: for every JID, the session with rooms
 * must find the same interned room, the entry the slow way would look up
 * for it, and the same resource, or fail alike. The JIDs are room JIDs
 * as written (prepared or not, ASCII or not, one that does not split
 * once prepared) with a byte changed, a dot, an '@', a '/' or a soft
 * hyphen added, or a byte removed, and a resource. */

static uint32_t mut_state = 0x9E3779B9u;

static uint32_t mut_rnd(uint32_t n)
{
    mut_state ^= mut_state << 13;
    mut_state ^= mut_state >> 17;
    mut_state ^= mut_state << 5;
    return mut_state % n;
}

static size_t mutate(char *j, size_t jl)
{
    size_t p = jl ? mut_rnd((uint32_t)jl) : 0;
    switch (mut_rnd(6)) {
    case 0: /* another case */
        if (jl && ((j[p] | 32) >= 'a' && (j[p] | 32) <= 'z'))
            j[p] ^= 32;
        return jl;
    case 1:
        j[jl] = '.';
        return jl + 1;
    case 2:
    case 3:
        memmove(j + p + 1, j + p, jl - p);
        j[p] = mut_rnd(2) ? '@' : '/';
        return jl + 1;
    case 4:
        if (jl)
            memmove(j + p, j + p + 1, jl - p - 1);
        return jl ? jl - 1 : 0;
    default:
        memmove(j + p + 2, j + p, jl - p);
        memcpy(j + p, "\xC2\xAD", 2);
        return jl + 2;
    }
}

TEST(parse_target_mutated_jids_agree)
{
    static const char *const rooms[] = {
        ROOM,
        "caf\xC3\xA9@muc.example.org", /* prepared, not ASCII */
        "Stra\u00DFe@muc.example.org", /* prepares to strasse */
        "muc.example.org",             /* no node */
        "\xE2\x84\xAA@m",              /* Kelvin sign: k@m */
        "k@m",
        "\xC2\xAD@m", /* "@m": does not split */
        "r r@m",      /* a space: not a node */
        "x@ h ",      /* spaces in a host: nameprep keeps them */
        "a@b",
    };
    static const char *const res[] = {
        "",     "/n",     "/N",           "/ a b ",       "/\xC3\xA9",
        "/a/b", "/@",     "/\x7F",        "/\t",          "/",
        "//",   "/nick1", "/ni\xC2\xADk", "/\xEF\xBD\x8E"};
    const size_t nr = sizeof rooms / sizeof rooms[0];
    const size_t nres = sizeof res / sizeof res[0];
    mj_tracker *tr = fx_tracker();
    mj_session *s = fx_session(tr, "user@example.org/phone");
    mj_session *e = fx_session(tr, "empty@example.org/phone");
    char j[128];
    long found = 0, bad = 0;

    for (size_t i = 0; i < nr; i++) {
        snprintf(j, sizeof j, "%s/nick%zu", rooms[i], i);
        fx_join(s, j);
        if (i % 2)
            fx_self(s, "available", j);
        fx_take();
    }
    for (int it = 0; it < 40000; it++) {
        const char *r = rooms[mut_rnd((uint32_t)nr)];
        const char *x = res[mut_rnd((uint32_t)nres)];
        size_t jl = strlen(r);
        memcpy(j, r, jl);
        for (uint32_t m = mut_rnd(3); m > 0; m--)
            jl = mutate(j, jl);
        memcpy(j + jl, x, strlen(x));
        jl += strlen(x);
        struct parsed a = parse(s, j, jl), b = parse(e, j, jl);
        mj_entry *want = b.room ? mj_entry_find(s, b.room) : NULL;
        if (a.rc != b.rc || a.room != b.room || a.entry != want ||
            a.blen != b.blen || memcmp(a.bare, b.bare, a.blen) != 0 ||
            a.has_res != b.has_res || a.raw_res.ptr != b.raw_res.ptr ||
            a.raw_res.len != b.raw_res.len ||
            (a.rc != MJ_OK && a.bad != b.bad)) {
            if (bad++ < 5)
                FAIL_AT("\"%.*s\": rc %d and %d", (int)jl, j, a.rc, b.rc);
        }
        found += a.entry != NULL;
    }
    CHECK(found > 5000); /* the fast way was taken, and often */
    mj_tracker_free(tr);
}

/* ---- mj_nick_equal: bytes for printable ASCII, Resourceprep otherwise -- */

static int nick_equal_ref(const char *a, const char *b)
{
    char pa[MJ_PART_MAX + 1], pb[MJ_PART_MAX + 1];
    size_t la, lb;
    if (strcmp(a, b) == 0)
        return 1;
    if (mj_prep_part_slow(MJ_PROFILE_RESOURCE, a, strlen(a), pa, sizeof pa,
                          &la) != MJ_OK ||
        mj_prep_part_slow(MJ_PROFILE_RESOURCE, b, strlen(b), pb, sizeof pb,
                          &lb) != MJ_OK)
        return 0;
    return la == lb && memcmp(pa, pb, la) == 0;
}

TEST(nick_equal_fast_and_slow_agree)
{
    static const char *const nicks[] = {
        "nick",
        "Nick",
        "nick ",
        "ni\xC2\xADk" /* soft hyphen: "nik" */,
        "nik",
        "\xEF\xBD\x8E\xEF\xBD\x89\xEF\xBD\x83\xEF\xBD\x8B" /* fullwidth
                                                              nick */
        ,
        "ni\x01k",
        "ni\x7Fk",
        "ni\xFFk",
        "",
        "a",
        "ab",
        "abc",
        "abcd",
        "nick\xC2\xAD",
        "N\xC3\xA9",
        "Ne\xCC\x81" /* the same, decomposed */};
    const size_t n = sizeof nicks / sizeof nicks[0];
    mj_tracker *tr = fx_tracker();
    mj_session *s = fx_session(tr, "u@example.org/r");
    /* twice: the held nick's prepared form made, then from the cache */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                int got = mj_nick_equal(tr, nicks[i], strlen(nicks[i]),
                                        nicks[j], strlen(nicks[j]));
                int want = nick_equal_ref(nicks[i], nicks[j]);
                char jid[64];
                mj_target t;
                if (got != want)
                    FAIL_AT("pass %d: mj_nick_equal(%zu, %zu) = %d", pass, i,
                            j, got);
                /* the same through a parsed target's resource, whose
                 * plainness mj_parse_target() found */
                snprintf(jid, sizeof jid, "room@muc.example.org/%s", nicks[i]);
                if (mj_parse_target(s, mj_str_of(jid, strlen(jid)), &t,
                                    NULL) != MJ_OK)
                    continue; /* a resource that does not prepare */
                got = mj_nick_equal_res(tr, &t, nicks[j], strlen(nicks[j]));
                if (got != want)
                    FAIL_AT("pass %d: mj_nick_equal_res(%zu, %zu) = %d", pass,
                            i, j, got);
            }
    /* the cases the slow way decides */
    CHECK(mj_nick_equal(tr, "ni\xC2\xADk", 5, "nik", 3));
    CHECK(mj_nick_equal(tr, "\xEF\xBD\x8E\xEF\xBD\x89\xEF\xBD\x83\xEF\xBD\x8B",
                        12, "nick", 4));
    mj_tracker_free(tr);
}

/* A groupchat message "hi there" from room/romeo to s. */
static mj_msg_class held_msg(mj_session *s, const char *room)
{
    char from[128];
    snprintf(from, sizeof from, "%s/romeo", room);
    mj_stanza m;
    mj_stanza_init(&m);
    m.kind = MJ_KIND_MESSAGE;
    m.type = MJ_T_GROUPCHAT;
    m.from = mj_str_of(from, strlen(from));
    m.body = mj_str_of("hi there", 8);
    mj_msg_class c = MJ_M_OTHER;
    if (mj_session_message(s, &m, &c) != MJ_OK)
        return MJ_M_OTHER;
    return c;
}

/* A held nick that is not printable ASCII is prepared once while held,
 * whatever the number of stanzas compared with it and of other nicks
 * held (before the fix, a 1008-byte nick of combining marks, set by a room's
 * 210, was prepared and folded again for every message: ~900 times a
 * typical message's cost; before the fix, a cache of 256 slots let 256 nicks
 * bring that back). Records go with their holders: the tracker's bytes
 * return to their baseline. */
TEST(held_nick_prepared_once)
{
    mj_tracker *tr = fx_tracker();
    mj_session *s = fx_session(tr, "user@example.org/phone");
    char occ[MJ_PART_MAX + 64];
    int n = snprintf(occ, sizeof occ, "room@muc.example.org/");
    /* 'a' + 30 combining acute accents, 16 times: 1008 bytes */
    for (int k = 0; k < 16; k++) {
        occ[n++] = 'a';
        for (int m = 0; m < 30; m++) {
            occ[n++] = '\xCC';
            occ[n++] = '\x81';
        }
    }
    occ[n] = '\0';
    fx_join(s, occ);
    fx_self(s, "available", occ);
    CHECK_INT(fx_state(s, "room@muc.example.org"), MJ_S_JOINED);
    CHECK_INT(tr->nicks.preps, 1);
    for (int i = 0; i < 1000; i++)
        CHECK_INT(held_msg(s, "room@muc.example.org"), MJ_M_CHATTER);
    CHECK_INT(tr->nicks.preps, 1);
    CHECK_INT(tr->nicks.folds, 1);
    /* 600 rooms, each with a nick of its own: each prepared once, and
     * messages in turn to all of them prepare and fold nothing again */
    char room[64], o[128];
    for (int i = 0; i < 600; i++) {
        snprintf(room, sizeof room, "r%d@muc.example.org", i);
        snprintf(o, sizeof o, "%s/\xC3\xA9%d", room, i);
        fx_join(s, o);
        fx_self(s, "available", o);
    }
    CHECK_INT(tr->nicks.preps, 601);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 600; i++) {
            snprintf(room, sizeof room, "r%d@muc.example.org", i);
            CHECK_INT(held_msg(s, room), MJ_M_CHATTER);
        }
    CHECK_INT(tr->nicks.preps, 601);
    CHECK_INT(tr->nicks.folds, 601);
    mj_session_close(s); /* every holder gone: every record too */
    CHECK_INT(tr->nicks.table.count, 0);
    mj_tracker_free(tr);
}

/* ---- decisions: the same stream both ways --------------------------------
 */

/* One scenario on two trackers: the room's JIDs as a room sends them, and
 * the same JIDs written otherwise (room in another case, nicks that
 * prepare to the same one). Outcomes and the state shown must agree. */
TEST(decisions_agree_fast_and_slow)
{
    static const struct {
        int out; /* sent by the session */
        const char *type;
        int code; /* a muc#user status code (0: none) */
        const char *fast, *slow;
    } steps[] = {
        {1, "available", 0, ROOM "/nick", "Room@MUC.example.org/nick"},
        {0, "available", 0, ROOM "/other", "ROOM@muc.example.org/other"},
        {0, "available", 110, ROOM "/nick", "ROOM@muc.example.org./nick"},
        {0, "available", 0, ROOM "/other", "room@Muc.Example.Org/other"},
        {0, "available", 110, ROOM "/nick",
         "rOOm@muc.example.org/ni\xC2\xAD"
         "ck"},
        {0, "available", 110, ROOM "/nick",
         "room@muc.example.org/\xEF\xBD\x8E\xEF\xBD\x89\xEF\xBD\x83\xEF\xBD"
         "\x8B"},
        {1, "available", 0, ROOM "/nick",
         "ROOM@muc.example.org/ni\xC2\xAD"
         "ck"},
        {0, "unavailable", 0, ROOM "/other", "ROOM@muc.example.org/other"},
        {0, "unavailable", 0, ROOM "/nick",
         "Room@muc.example.org/n\xC2\xAD"
         "ick"},
        {1, "available", 0, ROOM "/Nick2", "ROOM@muc.example.org/Nick2"},
        {0, "available", 110, ROOM "/Nick2", "ROOM@muc.example.org/Nick2"},
        /* another occupant's: ignored; a self-presence: bad-jid, counted */
        {0, "available", 0, ROOM "/bad\x01", "ROOM@muc.example.org/bad\x01"},
        {0, "available", 110, ROOM "/bad\x01", "ROOM@muc.example.org/bad\x01"},
        {0, "available", 110, "never@muc.example.org/nick",
         "NEVER@muc.example.org/nick"},
        {1, "unavailable", 0, ROOM "/Nick2", "ROOM@MUC.EXAMPLE.ORG/Nick2"},
        {0, "unavailable", 110, ROOM "/Nick2", "ROOM@muc.example.org/Nick2"},
    };
    mj_tracker *ta = fx_tracker(), *tb = fx_tracker();
    mj_session *sa = fx_session(ta, "user@example.org/phone");
    mj_session *sb = fx_session(tb, "user@example.org/phone");
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        mj_stanza a = fx_pres(steps[i].type, steps[i].fast);
        mj_stanza b = fx_pres(steps[i].type, steps[i].slow);
        if (steps[i].out) {
            a.has_muc_x = b.has_muc_x = 1;
        } else if (steps[i].code) {
            fx_codes(&a, steps[i].code, 0);
            fx_codes(&b, steps[i].code, 0);
        } else {
            a.has_muc_user = b.has_muc_user = 1;
        }
        mj_outcome oa = steps[i].out ? fx_out(sa, a) : fx_in(sa, a);
        mj_outcome ob = steps[i].out ? fx_out(sb, b) : fx_in(sb, b);
        if (oa != ob)
            FAIL_AT("step %zu: %s (fast) != %s (slow)", i, mj_outcome_name(oa),
                    mj_outcome_name(ob));
        if (fx_state(sa, ROOM) != fx_state(sb, ROOM))
            FAIL_AT("step %zu: states differ", i);
    }
    mj_stats st_a, st_b;
    mj_tracker_stats(ta, &st_a);
    mj_tracker_stats(tb, &st_b);
    CHECK_INT(st_a.joins, st_b.joins);
    CHECK_INT(st_a.leaves, st_b.leaves);
    CHECK_INT(st_a.forged, st_b.forged);
    CHECK_INT(st_a.bad_jids, st_b.bad_jids);
    CHECK_INT(st_a.limits, st_b.limits);
    CHECK_INT(st_a.ambiguous, st_b.ambiguous);
    CHECK_INT(st_a.rooms_shown, st_b.rooms_shown);
    CHECK_INT(st_a.joins, 1);
    CHECK_INT(st_a.forged, 1);
    CHECK_INT(st_a.bad_jids, 1);
    CHECK_INT(st_a.ambiguous, 1);
    mj_tracker_free(ta);
    mj_tracker_free(tb);
}

/* ---- the asked nick: in mj_aux's buffer up to 19 bytes, a copy beyond */

/* Every length around the buffer's edge and the longest nick: the asked
 * nick comes back whole (nick-rewritten names it), replaced by a longer
 * or a shorter one on the way (a copy freed, the buffer reused), and the
 * tracker gives back every byte it took. */
TEST(asked_nick_every_length)
{
    static const size_t lens[] = {1, 18, 19, 20, 21, 40, MJ_PART_MAX};
    static char a[MJ_PART_MAX + 1], b[MJ_PART_MAX + 1];
    static char occ[2 * MJ_PART_MAX], want[4 * MJ_PART_MAX];
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            mj_tracker *tr = fx_tracker();
            mj_stats st0;
            /* the tables a join makes stay at their smallest size (the
             * join answered: a room owes a closed session nothing) */
            mj_session *s = fx_session(tr, "user@example.org/phone");
            fx_join(s, ROOM "/warm");
            fx_self(s, "available", ROOM "/warm");
            mj_session_close(s);
            fx_take();
            mj_tracker_stats(tr, &st0);
            s = fx_session(tr, "user@example.org/phone");
            memset(a, 'a', lens[i]);
            a[lens[i]] = '\0';
            memset(b, 'b', lens[j]);
            b[lens[j]] = '\0';
            /* asked a, then b (replacing a in PENDING), answered as "x" */
            snprintf(occ, sizeof occ, ROOM "/%s", a);
            CHECK_INT(fx_join(s, occ), MJ_O_CHANGED);
            snprintf(occ, sizeof occ, ROOM "/%s", b);
            CHECK_INT(fx_join(s, occ), MJ_O_CHANGED);
            CHECK_INT(fx_self(s, "available", ROOM "/x"), MJ_O_CHANGED);
            snprintf(want, sizeof want,
                     "joined " ROOM " x; nick-rewritten " ROOM " %s>x", b);
            CHECK_EVENTS(want);
            /* a nick change to a, announced (303) as b, confirmed */
            snprintf(occ, sizeof occ, ROOM "/%s", a);
            mj_stanza ch = fx_pres("available", occ);
            CHECK_INT(fx_out(s, ch), MJ_O_CHANGED);
            mj_stanza ann = fx_pres("unavailable", ROOM "/x");
            fx_codes(&ann, 303, 110, 0);
            ann.item_nick = S(b);
            CHECK_INT(fx_in(s, ann), MJ_O_CHANGED);
            snprintf(occ, sizeof occ, ROOM "/%s", b);
            CHECK_INT(fx_self(s, "available", occ), MJ_O_CHANGED);
            snprintf(want, sizeof want, "nick-changed " ROOM " x>%s", b);
            CHECK_EVENTS(want);
            CHECK_NICK(s, ROOM, b);
            mj_session_close(s);
            fx_take();
            mj_stats st1;
            mj_tracker_stats(tr, &st1);
            CHECK_INT(st1.bytes, st0.bytes);
            mj_tracker_free(tr);
        }
}

/* CPU time of the thread (time preempted by other processes does not
 * count). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The CPU time of one occupant's stanzas (an available presence, an
 * unavailable one, a groupchat message), each handed to every one of
 * nsess sessions in ROOM as the module hands a stanza fanned out by the
 * room, rounds times; the fastest round. */
static double fan_out_ms(mj_session **ss, size_t nsess, const char *nick)
{
    static char from[4096];
    double best = 1e9;
    snprintf(from, sizeof from, ROOM "/%s", nick);
    for (int round = 0; round < 5; round++) {
        double t0 = cpu_ms();
        for (size_t i = 0; i < nsess; i++) {
            mj_stanza st = fx_pres("available", from);
            st.to = S(NULL);
            fx_codes(&st, 100, 0);
            fx_in(ss[i], st);
            st.type = MJ_T_UNAVAILABLE;
            fx_in(ss[i], st);
            mj_stanza m;
            mj_stanza_init(&m);
            m.kind = MJ_KIND_MESSAGE;
            m.type = MJ_T_GROUPCHAT;
            m.from = S(from);
            m.body = S("hello there");
            fx_in(ss[i], m);
        }
        double t = cpu_ms() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

/* An occupant's stanza reaches every session in the room: its nick, when
 * not printable ASCII, is prepared once, not once per session (and once
 * per comparison). Before, a 1020-byte nick of U+FDFA (each expands to 18
 * characters under NFKC) cost ~26 us a session for an available presence
 * that changes nothing, ~190 times an ASCII nick of the same length. */
TEST(occupant_nick_prepared_once_per_stanza)
{
    enum { NSESS = 200 };
    static char ascii[1100], wide[1100];
    mj_session *ss[NSESS];
    mj_tracker *tr = fx_tracker();
    memset(ascii, 'a', 1020);
    ascii[1020] = '\0';
    wide[0] = '\0';
    while (strlen(wide) + 3 <= 1020)
        strcat(wide, "\xef\xb7\xba"); /* U+FDFA */
    for (size_t i = 0; i < NSESS; i++) {
        char jid[64], occ[128];
        snprintf(jid, sizeof jid, "u%zu@s.example/r", i);
        snprintf(occ, sizeof occ, ROOM "/me%zu", i);
        ss[i] = fx_session(tr, jid);
        fx_join(ss[i], occ);
        fx_self(ss[i], "available", occ);
    }
    fx_take();
    size_t before = tr->res.preps;
    double t_ascii = fan_out_ms(ss, NSESS, ascii);
    double t_wide = fan_out_ms(ss, NSESS, wide);
    /* one preparation for all the rounds: the same bytes every time */
    CHECK_INT(tr->res.preps - before, 1);
    if (t_wide > 20 * t_ascii + 1.0)
        FAIL_AT("a non-ASCII nick: %.3f ms, an ASCII one %.3f ms", t_wide,
                t_ascii);
    CHECK_EVENTS("");
    mj_tracker_free(tr);
}

int main(void)
{
    RUN(classify_matches_reference);
    RUN(status_code_past_the_view_classifies_as_alone);
    RUN(qhash_depends_on_every_byte_length_and_key);
    RUN(parse_target_fast_and_slow_agree);
    RUN(parse_target_mutated_jids_agree);
    RUN(nick_equal_fast_and_slow_agree);
    RUN(held_nick_prepared_once);
    RUN(decisions_agree_fast_and_slow);
    RUN(asked_nick_every_length);
    RUN(occupant_nick_prepared_once_per_stanza);
    return test_summary("target");
}

/* JID splitting and RFC 6122 preparation: the same results as Prosody
 * 0.12's non-strict util.jid.prep on Debian (util/encodings built with
 * ICU). See docs/semantics.md section 4.
 *
 * Prosody's ICU binding (util-src/encodings.c, icu_stringprep_prep) does,
 * per part:
 *   - refuse an input of 1024 bytes or more, before anything else (even if
 *     preparation would shrink it, e.g. soft hyphens mapped to nothing);
 *   - UTF-8 -> UTF-16 (u_strFromUTF8), refuse bad UTF-8;
 *   - usprep_prepare(profile, USPREP_ALLOW_UNASSIGNED) into 1024 UChars;
 *   - UTF-16 -> UTF-8, refuse a result of 1024 bytes or more.
 * An empty result is accepted: nodeprep("\xC2\xAD") is "", so
 * util.jid.prep("\xC2\xAD@example.com") is "@example.com". We do the same.
 *
 * The ASCII fast path below (eight bytes at a time, no tables, no
 * allocation) is the exact behaviour of those ICU profiles on ASCII input;
 * tests/test_jid.c proves it for every byte at every position, every pair
 * of bytes and random strings:
 *   Nodeprep:     A-Z -> a-z; refuses 0x00-0x20, 0x7F and "&'/:<>@
 *   Nameprep:     A-Z -> a-z; refuses nothing (space, NUL and controls
 *                 are allowed: RFC 3491 only prohibits non-ASCII ones)
 *   Resourceprep: unchanged; refuses 0x00-0x1F and 0x7F (space allowed)
 * Mapping never changes the length of ASCII text and no ASCII character is
 * RandALCat, so the bidi rule never fails on ASCII.
 *
 * One difference from Prosody: a part that is not stream-safe (UAX #15: a
 * run of more than 30 non-starters, counted in NFKD; streamsafe.h) does
 * not prepare (MJ_EJID). ICU's normaliser sorts such a run in time
 * quadratic in its length (a 1 KB nick of "a" and alternating U+0301
 * U+0316 cost 16 times a Cyrillic one); no name needs that many marks in
 * a row. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <unicode/usprep.h>
#include <unicode/ustring.h>

#include "jid.h"
#include "streamsafe.h"

/* ---------------------------------------------------------------------- */
/* ICU profiles, opened once                                               */

static UStringPrepProfile *icu_profile[3];
static pthread_once_t icu_once = PTHREAD_ONCE_INIT;

static void icu_open(void)
{
    static const UStringPrepProfileType types[3] = {
        USPREP_RFC3920_NODEPREP,
        USPREP_RFC3491_NAMEPREP,
        USPREP_RFC3920_RESOURCEPREP,
    };
    for (int i = 0; i < 3; i++) {
        UErrorCode err = U_ZERO_ERROR;
        UStringPrepProfile *p = usprep_openByType(types[i], &err);
        icu_profile[i] = U_SUCCESS(err) ? p : NULL;
    }
}

/* The profiles stay open for the life of the process, like Prosody's;
 * usprep_prepare() on a shared profile is thread-safe. pthread_once is in
 * libc since glibc 2.34 (older systems link with -pthread). */
static const UStringPrepProfile *icu_get(mj_profile profile)
{
    pthread_once(&icu_once, icu_open);
    return icu_profile[profile];
}

/* ---------------------------------------------------------------------- */
/* Eight bytes at a time (SWAR)                                            */

/* The masks have bit 7 of a byte set where a condition holds for that
 * byte. On words whose bytes are all ASCII (< 0x80) no addition carries
 * into the next byte, so each byte is computed on its own and the results
 * do not depend on the byte order. Words with a byte >= 0x80 give garbage
 * here, which is never used: such input goes to ICU. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGH UINT64_C(0x8080808080808080)

/* bytes < n, for 1 <= n <= 0x80 */
static inline uint64_t swar_lt(uint64_t w, unsigned n)
{
    return ~(w + ONES * (0x80 - n)) & HIGH;
}

/* bytes == c */
static inline uint64_t swar_eq(uint64_t w, unsigned c)
{
    return swar_lt(w ^ (ONES * c), 1);
}

/* bytes == 0x7F */
static inline uint64_t swar_del(uint64_t w)
{
    return (w + ONES) & HIGH;
}

/* Table B.2 on ASCII: A-Z to a-z by setting bit 5 (= bit 7 >> 2) */
static inline uint64_t swar_fold(uint64_t w)
{
    return w | ((~swar_lt(w, 'A') & swar_lt(w, 'Z' + 1)) >> 2);
}

/* Nodeprep refuses 0x00-0x20, 0x7F and " & ' / : < > @ ('&' and '\''
 * differ only in bit 0, '<' and '>' only in bit 1). */
static inline uint64_t swar_node_bad(uint64_t w)
{
    return swar_lt(w, 0x21) | swar_del(w) | swar_eq(w, '"') |
           swar_eq(w & (ONES * 0xfe), '&') | swar_eq(w, '/') |
           swar_eq(w, ':') | swar_eq(w & (ONES * 0xfd), '<') | swar_eq(w, '@');
}

/* Resourceprep refuses 0x00-0x1F and 0x7F. Nameprep refuses nothing. */
static inline uint64_t swar_resource_bad(uint64_t w)
{
    return swar_lt(w, 0x20) | swar_del(w);
}

/* One word of a part: ORs what the profile refuses into *bad and returns
 * the mapped word. */
static inline uint64_t swar_prep(mj_profile profile, uint64_t w, uint64_t *bad)
{
    if (profile == MJ_PROFILE_NODE) {
        *bad |= swar_node_bad(w);
        return swar_fold(w);
    }
    if (profile == MJ_PROFILE_NAME)
        return swar_fold(w);
    *bad |= swar_resource_bad(w);
    return w;
}

/* ---------------------------------------------------------------------- */
/* One part                                                                */

static int check_args(mj_profile profile, const char *in, size_t len,
                      const char *out, size_t cap, const size_t *out_len)
{
    if ((unsigned)profile > MJ_PROFILE_RESOURCE || (in == NULL && len) ||
        (out == NULL && cap) || out_len == NULL)
        return MJ_EINVAL;
    return MJ_OK;
}

int mj_prep_part_slow(mj_profile profile, const char *in, size_t len,
                      char *out, size_t cap, size_t *out_len)
{
    UChar src[MJ_PART_MAX + 1], dst[MJ_PART_MAX + 1];
    int32_t src_len = 0, dst_len, utf8_len = 0;
    UErrorCode err = U_ZERO_ERROR;
    const UStringPrepProfile *prof;
    int rc = check_args(profile, in, len, out, cap, out_len);

    if (rc != MJ_OK)
        return rc;
    /* Prosody refuses 1024 input bytes or more whatever they prepare to. */
    if (len > MJ_PART_MAX)
        return MJ_ETOOLONG;
    prof = icu_get(profile);
    if (prof == NULL)
        return MJ_ENOMEM; /* ICU could not load its profile data */

    /* Not stream-safe (a run of more than MJ_SAFE_RUN non-starters):
     * refused before the normaliser, which would sort the run in
     * quadratic time. Prosody would accept such a part. Checked on the
     * UTF-8, so that a refusal stops at the run instead of converting
     * the whole part first (bad UTF-8 is refused either way). */
    switch (mj_safe_check_utf8(in, (int32_t)len)) {
    case 0:
        return MJ_EJID;
    case 1:
        break;
    default:
        return MJ_ENOMEM; /* ICU's data could not be loaded */
    }
    /* At most 1023 bytes of UTF-8 always fit in 1024 UTF-16 units. */
    if (len > 0) {
        u_strFromUTF8(src, MJ_PART_MAX + 1, &src_len, in, (int32_t)len, &err);
        if (U_FAILURE(err))
            return MJ_EJID;
    }

    dst_len = usprep_prepare(prof, src, src_len, dst, MJ_PART_MAX + 1,
                             USPREP_ALLOW_UNASSIGNED, NULL, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR)
        return MJ_ETOOLONG; /* > 1024 UTF-16 units: > 1023 bytes */
    if (err == U_MEMORY_ALLOCATION_ERROR)
        return MJ_ENOMEM;
    if (U_FAILURE(err))
        return MJ_EJID; /* prohibited, bidi */
    err = U_ZERO_ERROR; /* drop a "not terminated" warning */

    /* Straight into out; a result over 1023 bytes or over cap overflows. */
    u_strToUTF8(out, (int32_t)(cap < MJ_PART_MAX ? cap : MJ_PART_MAX),
                &utf8_len, dst, dst_len, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR)
        return MJ_ETOOLONG;
    if (U_FAILURE(err))
        return MJ_EJID;
    *out_len = (size_t)utf8_len;
    return MJ_OK;
}

int mj_prep_part(mj_profile profile, const char *in, size_t len, char *out,
                 size_t cap, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)in;
    unsigned char *o = (unsigned char *)out;
    uint64_t w, hi = 0, bad = 0;
    int store = len <= cap;
    size_t i;
    int rc = check_args(profile, in, len, out, cap, out_len);

    if (rc != MJ_OK)
        return rc;
    if (len > MJ_PART_MAX)
        return MJ_ETOOLONG;

    /* One pass over the input, eight bytes at a time, writing the mapped
     * bytes as we go (unless out is too small: then only classify).
     * Shorter ends are read as overlapping pieces: mapping a byte twice
     * gives the same byte, so this is right even when out == in. */
    if (len >= 8) {
        for (i = 0; i + 8 < len; i += 8) {
            memcpy(&w, s + i, 8);
            if (w & HIGH) /* not ASCII: ICU's, without reading the rest */
                return mj_prep_part_slow(profile, in, len, out, cap, out_len);
            w = swar_prep(profile, w, &bad);
            if (store)
                memcpy(o + i, &w, 8);
        }
        memcpy(&w, s + len - 8, 8); /* the last eight bytes */
        hi |= w;
        w = swar_prep(profile, w, &bad);
        if (store)
            memcpy(o + len - 8, &w, 8);
    } else if (len >= 4) {
        uint32_t a, b; /* the first four and the last four bytes */
        memcpy(&a, s, 4);
        memcpy(&b, s + len - 4, 4);
        w = (uint64_t)a | (uint64_t)b << 32;
        hi |= w;
        w = swar_prep(profile, w, &bad);
        if (store) {
            a = (uint32_t)w;
            b = (uint32_t)(w >> 32);
            memcpy(o, &a, 4);
            memcpy(o + len - 4, &b, 4);
        }
    } else if (len > 0) {
        /* first, middle and last byte, the other five set to 'a', which
         * every profile accepts */
        w = UINT64_C(0x6161616161000000) | s[0] | (uint64_t)s[len / 2] << 8 |
            (uint64_t)s[len - 1] << 16;
        hi |= w;
        w = swar_prep(profile, w, &bad);
        if (store) {
            o[0] = (unsigned char)w;
            o[len / 2] = (unsigned char)(w >> 8);
            o[len - 1] = (unsigned char)(w >> 16);
        }
    }
    if (hi & HIGH)
        return mj_prep_part_slow(profile, in, len, out, cap, out_len);
    if (bad)
        return MJ_EJID;
    if (!store)
        return MJ_ETOOLONG;
    *out_len = len;
    return MJ_OK;
}

/* ---------------------------------------------------------------------- */
/* Whole JIDs                                                              */

/* util.jid.split:
 *   node     = match(jid, "^([^@/]+)@()")
 *   host     = match(jid, "^([^@/]+)()", nodepos)
 *   resource = match(jid, "^/(.+)$", hostpos)
 * and nil unless the host is there and the resource, when absent, leaves
 * nothing after the host. */
int mj_jid_split(const char *s, size_t len, mj_str *node, mj_str *host,
                 mj_str *res)
{
    mj_str n = {NULL, 0}, h = {NULL, 0}, r = {NULL, 0};
    size_t hs = 0, he;
    const char *slash, *at;

    if (s == NULL)
        return MJ_EJID;
    /* The first '/' ends the host: what follows is the resource, whatever
     * it holds. Before it, an '@' ends a non-empty node, and a second one
     * is an error (the host would end at it). memchr reads a word or a
     * vector at a time. */
    slash = len ? memchr(s, '/', len) : NULL;
    he = slash ? (size_t)(slash - s) : len;
    at = he ? memchr(s, '@', he) : NULL;
    if (at != NULL) {
        size_t a = (size_t)(at - s);
        if (a == 0)
            return MJ_EJID; /* "@b": no node, and the host stops at '@' */
        if (a + 1 < he && memchr(at + 1, '@', he - a - 1) != NULL)
            return MJ_EJID; /* "a@b@c" */
        n.ptr = s;
        n.len = a;
        hs = a + 1;
    }
    if (he == hs)
        return MJ_EJID; /* "", "a@", "a@/r", "/r" */
    h.ptr = s + hs;
    h.len = he - hs;
    if (slash != NULL) {
        if (he + 1 == len)
            return MJ_EJID; /* "b/" */
        r.ptr = s + he + 1;
        r.len = len - he - 1;
    }
    if (node)
        *node = n;
    if (host)
        *host = h;
    if (res)
        *res = r;
    return MJ_OK;
}

int mj_jid_bare_is_key(const char *b, size_t len, int has_node)
{
    mj_str n, h, r;

    if (b == NULL || len == 0 || b[len - 1] == '.')
        return 0;
    return mj_jid_split(b, len, &n, &h, &r) == MJ_OK && r.ptr == NULL &&
           (n.ptr != NULL) == (has_node != 0);
}

/* Prepare node@host (or host) into out. Prosody prepares the host first,
 * then the node; either failing gives nil, so the order only decides which
 * error code is returned. */
int mj_jid_prep_bare(mj_str node, mj_str host, char *out, size_t cap,
                     size_t *out_len)
{
    size_t pos = 0, n;
    int rc;

    /* util.jid.prepped_split: host "." is refused, else one trailing dot
     * (the empty root label) is stripped before nameprep. */
    if (host.len == 1 && host.ptr[0] == '.')
        return MJ_EJID;
    if (host.ptr[host.len - 1] == '.')
        host.len--;

    if (node.ptr != NULL) {
        rc = mj_prep_part(MJ_PROFILE_NODE, node.ptr, node.len, out, cap, &n);
        if (rc != MJ_OK)
            return rc;
        if (n >= cap)
            return MJ_ETOOLONG;
        out[n] = '@';
        pos = n + 1;
    }
    /* out is NULL only with cap 0, so pos is 0 then */
    rc = mj_prep_part(MJ_PROFILE_NAME, host.ptr, host.len,
                      out ? out + pos : NULL, cap - pos, &n);
    if (rc != MJ_OK)
        return rc;
    *out_len = pos + n;
    return MJ_OK;
}

int mj_jid_prep_split(const char *s, size_t len, char *bare, size_t bare_cap,
                      size_t *bare_len, char *res, size_t res_cap,
                      size_t *res_len)
{
    mj_str node, host, resource;
    char tmp[MJ_PART_MAX];
    size_t n;
    int rc;

    if (s == NULL || (bare == NULL && bare_cap) || bare_len == NULL ||
        (res == NULL && res_cap))
        return MJ_EINVAL;
    rc = mj_jid_split(s, len, &node, &host, &resource);
    if (rc != MJ_OK)
        return rc;
    rc = mj_jid_prep_bare(node, host, bare, bare_cap, bare_len);
    if (rc != MJ_OK)
        return rc;
    if (resource.ptr == NULL) {
        n = (size_t)-1;
    } else {
        /* res == NULL: check the resource without keeping it. */
        rc = mj_prep_part(MJ_PROFILE_RESOURCE, resource.ptr, resource.len,
                          res ? res : tmp, res ? res_cap : sizeof tmp, &n);
        if (rc != MJ_OK)
            return rc;
    }
    if (res_len)
        *res_len = n;
    return MJ_OK;
}

int mj_jid_prep(const char *jid, size_t len, char *out, size_t out_cap,
                size_t *out_len)
{
    mj_str node, host, resource;
    size_t pos, n;
    int rc;

    if (jid == NULL || (out == NULL && out_cap) || out_len == NULL)
        return MJ_EINVAL;
    rc = mj_jid_split(jid, len, &node, &host, &resource);
    if (rc != MJ_OK)
        return rc;
    rc = mj_jid_prep_bare(node, host, out, out_cap, &pos);
    if (rc != MJ_OK)
        return rc;
    if (resource.ptr != NULL) {
        if (pos >= out_cap)
            return MJ_ETOOLONG;
        out[pos++] = '/';
        rc = mj_prep_part(MJ_PROFILE_RESOURCE, resource.ptr, resource.len,
                          out + pos, out_cap - pos, &n);
        if (rc != MJ_OK)
            return rc;
        pos += n;
    }
    *out_len = pos;
    return MJ_OK;
}

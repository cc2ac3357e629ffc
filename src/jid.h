/* Internal: JID splitting and RFC 6122 preparation (ICU usprep, with an
 * exact ASCII fast path). Not part of the public API. */
#ifndef MJ_JID_H
#define MJ_JID_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mucjoins.h"

#define MJ_PART_MAX 1023

typedef enum mj_profile {
    MJ_PROFILE_NODE = 0,    /* Nodeprep */
    MJ_PROFILE_NAME = 1,    /* Nameprep (domain; one trailing dot is
                               stripped by the JID functions, not here) */
    MJ_PROFILE_RESOURCE = 2 /* Resourceprep */
} mj_profile;

/* Split like Prosody's util.jid.split: node and resource optional and
 * non-empty when present; host required and non-empty. Parts point into
 * s. Returns MJ_OK or MJ_EJID. */
int mj_jid_split(const char *s, size_t len, mj_str *node, mj_str *host,
                 mj_str *res);

/* Prepare one part with a profile (unassigned code points allowed), into
 * out (cap bytes, not NUL-terminated). MJ_OK, MJ_EJID (prohibited
 * character, bad UTF-8, bidi rule, empty result where not allowed),
 * MJ_ETOOLONG (> MJ_PART_MAX bytes after preparation, or cap too small),
 * MJ_ENOMEM. Uses the ASCII fast path when every byte is ASCII. */
int mj_prep_part(mj_profile profile, const char *in, size_t len, char *out,
                 size_t cap, size_t *out_len);

/* The same through the library only (no fast path): for tests proving the
 * fast path equal. */
int mj_prep_part_slow(mj_profile profile, const char *in, size_t len,
                      char *out, size_t cap, size_t *out_len);

/* 1 when (p, len) is 1 to MJ_PART_MAX bytes of printable ASCII (0x20 to
 * 0x7E): Resourceprep maps none of those bytes and refuses none, so such
 * a resource prepares to itself (what mj_prep_part would say, without
 * writing it). 0 otherwise, which says nothing: ask mj_prep_part.
 * Eight bytes at a time; a byte >= 0x80 may make the arithmetic of the
 * bytes above it wrong, but is refused on its own. */
static inline int mj_res_plain(const char *p, size_t len)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    const uint64_t high = UINT64_C(0x8080808080808080);
    uint64_t w, bad = 0;
    if (len - 1 >= MJ_PART_MAX) /* 0 wraps */
        return 0;
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8) {
            memcpy(&w, p + i, 8);
            /* >= 0x80; < 0x20 (no carry from + 0x60); 0x7F */
            bad |= w | ~(w + ones * 0x60) | (w + ones);
        }
        memcpy(&w, p + len - 8, 8);
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + len - 4, 4);
        w = (uint64_t)a | (uint64_t)b << 32;
    } else {
        /* the first, middle and last byte; the others 'a' */
        const unsigned char *u = (const unsigned char *)p;
        w = UINT64_C(0x6161616161000000) | u[0] | (uint64_t)u[len / 2] << 8 |
            (uint64_t)u[len - 1] << 16;
    }
    bad |= w | ~(w + ones * 0x60) | (w + ones);
    return (bad & high) == 0;
}

/* Whether a prepared bare JID (b, len) is usable as a room key: it splits
 * again into a node (exactly when has_node) and a host, with no resource,
 * and does not end in '.'. Preparation can give bare JIDs that do not:
 * Nameprep maps U+FF0F, U+FF20, U+2100, U+FE6B... to '/' or '@'
 * ("room@conf\uFF0Fx" -> "room@conf/x"), a part may prepare to ""
 * (a soft hyphen: "@conf", "room@"), and a domain ending in ".." keeps a
 * dot. Prosody's util.jid.prep returns such strings too, but its router
 * splits them again, so no room answers from one, and a key that does not
 * split to itself is not found by the queries (mj_session_nick(),
 * mj_session_restore()) nor by preparing it again. */
int mj_jid_bare_is_key(const char *b, size_t len, int has_node);

/* Prepare the bare JID of parts from mj_jid_split (node.ptr NULL: no
 * node) into out: node@host or host, one trailing dot of host stripped.
 * The errors of mj_prep_part. */
int mj_jid_prep_bare(mj_str node, mj_str host, char *out, size_t cap,
                     size_t *out_len);

/* Prepare a JID and split it: writes the prepared bare JID
 * (node@host or host, trailing dot of host stripped) into bare (cap
 * bytes) and the prepared resource into res (cap bytes). *res_len is
 * set to (size_t)-1 when there is no resource. Both buffers should be
 * at least 2 * MJ_PART_MAX + 2 and MJ_PART_MAX bytes. */
int mj_jid_prep_split(const char *s, size_t len, char *bare, size_t bare_cap,
                      size_t *bare_len, char *res, size_t res_cap,
                      size_t *res_len);

#endif

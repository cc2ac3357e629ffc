/* Tests for src/jid.c: splitting, RFC 6122 preparation, the ASCII fast path
 * proven equal to ICU, and Prosody's own results as an oracle
 * (tests/data/jids.txt, tests/data/jids.expected). Run from the repository
 * root. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "jid.h"
#include "streamsafe.h"
#include "test.h"

#define BIG (3 * MJ_PART_MAX + 2)

static mj_str S(const char *p, size_t n)
{
    mj_str s = {p, n};
    return s;
}

static const char *const profile_name[3] = {"nodeprep", "nameprep",
                                            "resourceprep"};

/* Print bytes readably into a static buffer (for failure messages). */
static const char *show(const char *p, size_t n)
{
    static char buf[4][200];
    static int k;
    char *b = buf[k++ & 3];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof buf[0] - 8; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            b[o++] = (char)c;
        else
            o += (size_t)snprintf(b + o, 5, "\\x%02x", c);
    }
    b[o] = 0;
    return b;
}

/* ---------------------------------------------------------------------- */
/* Splitting                                                               */

static const struct split_case {
    const char *in;
    int rc;
    const char *node, *host, *res; /* NULL: absent */
} split_cases[] = {
    {"a@b/c", MJ_OK, "a", "b", "c"},
    {"b", MJ_OK, NULL, "b", NULL},
    {"a@b", MJ_OK, "a", "b", NULL},
    {"b/c", MJ_OK, NULL, "b", "c"},
    {"a/b@c", MJ_OK, NULL, "a", "b@c"},
    {"a@b/c/d@e", MJ_OK, "a", "b", "c/d@e"},
    {"a@b//", MJ_OK, "a", "b", "/"},
    {"a@b/ ", MJ_OK, "a", "b", " "},
    {"a@b@c", MJ_EJID, NULL, NULL, NULL},
    {"a@", MJ_EJID, NULL, NULL, NULL},
    {"@b", MJ_EJID, NULL, NULL, NULL},
    {"b/", MJ_EJID, NULL, NULL, NULL},
    {"", MJ_EJID, NULL, NULL, NULL},
    {"@", MJ_EJID, NULL, NULL, NULL},
    {"/", MJ_EJID, NULL, NULL, NULL},
    {"/r", MJ_EJID, NULL, NULL, NULL},
    {"a@/r", MJ_EJID, NULL, NULL, NULL},
    {"a@@b", MJ_EJID, NULL, NULL, NULL},
    {"a@b/", MJ_EJID, NULL, NULL, NULL},
    {"a@b@c/d", MJ_EJID, NULL, NULL, NULL},
};

TEST(split_like_prosody)
{
    for (size_t i = 0; i < sizeof split_cases / sizeof split_cases[0]; i++) {
        const struct split_case *c = &split_cases[i];
        mj_str n, h, r;
        int rc = mj_jid_split(c->in, strlen(c->in), &n, &h, &r);
        CHECK_INT(rc, c->rc);
        if (rc != MJ_OK || c->rc != MJ_OK)
            continue;
        CHECK_STR(n, c->node);
        CHECK_STR(h, c->host);
        CHECK_STR(r, c->res);
    }
}

TEST(split_embedded_nul)
{
    mj_str n, h, r;
    CHECK_INT(mj_jid_split("a\0b@c\0d/e\0f", 11, &n, &h, &r), MJ_OK);
    CHECK_INT(n.len, 3);
    CHECK_INT(h.len, 3);
    CHECK_INT(r.len, 3);
    CHECK_INT(mj_jid_split(NULL, 0, &n, &h, &r), MJ_EJID);
}

/* util.jid.split written the plain way, byte by byte, as a reference. */
static int split_ref(const char *s, size_t len, size_t *hs, size_t *he)
{
    size_t i = 0;
    while (i < len && s[i] != '@' && s[i] != '/')
        i++;
    *hs = (i > 0 && i < len && s[i] == '@') ? i + 1 : 0;
    for (i = *hs; i < len && s[i] != '@' && s[i] != '/';)
        i++;
    *he = i;
    if (*he == *hs || (*he < len && (s[*he] != '/' || *he + 1 == len)))
        return MJ_EJID;
    return MJ_OK;
}

/* The word-at-a-time separator search against the reference: '@' or '/'
 * at any two positions of strings up to 20 bytes. */
TEST(split_separator_positions)
{
    char s[20];
    for (size_t len = 1; len <= sizeof s; len++)
        for (size_t i = 0; i < len; i++)
            for (size_t j = i; j < len; j++)
                for (int k = 0; k < 4; k++) {
                    mj_str n, h, r;
                    size_t hs, he;
                    int want, rc;
                    memset(s, 'x', len);
                    s[i] = k & 1 ? '@' : '/';
                    s[j] = k & 2 ? '@' : '/';
                    want = split_ref(s, len, &hs, &he);
                    rc = mj_jid_split(s, len, &n, &h, &r);
                    if (rc != want) {
                        FAIL_AT("split(\"%s\") = %d, want %d", show(s, len),
                                rc, want);
                        return;
                    }
                    if (rc != MJ_OK)
                        continue;
                    CHECK(h.ptr == s + hs && h.len == he - hs);
                    CHECK(hs ? (n.ptr == s && n.len == hs - 1) : !n.ptr);
                    CHECK(he < len
                              ? (r.ptr == s + he + 1 && r.len == len - he - 1)
                              : !r.ptr);
                }
}

/* The same with neighbours a borrow or a carry could mistake for a
 * separator ('A' is '@' + 1, '0' is '/' + 1, '?' and '.' one below, and
 * the same with bit 7 set, NUL): each string split both ways. */
TEST(split_separator_neighbours)
{
    static const char fill[] = {'A', '0', '?', '.', '\xc0', '\xaf', '\0', 'x'};
    char s[20];
    for (size_t f = 0; f < sizeof fill; f++)
        for (size_t len = 1; len <= sizeof s; len++)
            for (size_t i = 0; i < len; i++)
                for (size_t j = i; j < len; j++)
                    for (int k = 0; k < 4; k++) {
                        mj_str n, h, r;
                        size_t hs, he;
                        memset(s, fill[f], len);
                        s[i] = k & 1 ? '@' : '/';
                        s[j] = k & 2 ? '@' : '/';
                        int want = split_ref(s, len, &hs, &he);
                        int rc = mj_jid_split(s, len, &n, &h, &r);
                        if (rc != want ||
                            (rc == MJ_OK &&
                             (h.ptr != s + hs || h.len != he - hs))) {
                            FAIL_AT("split(\"%s\") = %d, want %d",
                                    show(s, len), rc, want);
                            return;
                        }
                    }
}

/* ---------------------------------------------------------------------- */
/* Whole JIDs, table driven (results checked against Prosody 0.12.3)       */

static const struct prep_case {
    const char *in;
    int rc;
    const char *out;
} prep_cases[] = {
    {"room@conference.example.org/Nick", MJ_OK,
     "room@conference.example.org/Nick"},
    {"ROOM@Conference.Example.ORG/Nick Name", MJ_OK,
     "room@conference.example.org/Nick Name"},
    {"User@EXAMPLE.com", MJ_OK, "user@example.com"},
    {"EXAMPLE.com/Res", MJ_OK, "example.com/Res"},
    /* non-ASCII case folding and compatibility mappings */
    {"\xC3\x84@host", MJ_OK, "\xC3\xA4@host"}, /* Ä */
    {"Stra\xC3\x9F"
     "e@host",
     MJ_OK, "strasse@host"}, /* ß */
    {"a@b/Stra\xC3\x9F"
     "e",
     MJ_OK,
     "a@b/Stra\xC3\x9F"
     "e"},                                   /* kept */
    {"\xEF\xAC\x80@host", MJ_OK, "ff@host"}, /* ﬀ */
    {"a@\xEF\xAC\x80.example", MJ_OK, "a@ff.example"},
    {"a@b/\xEF\xAC\x80", MJ_OK, "a@b/ff"},
    {"\xEF\xBC\xA1@host", MJ_OK, "a@host"},     /* Ａ */
    {"\xC4\xB0@host", MJ_OK, "i\xCC\x87@host"}, /* İ */
    /* mapped to nothing: soft hyphen U+00AD, ZWSP U+200B, BOM */
    {"a\xC2\xAD"
     "b@host",
     MJ_OK, "ab@host"},
    {"a@ho\xC2\xADst/r\xC2\xAD"
     "es",
     MJ_OK, "a@host/res"},
    {"a\xE2\x80\x8B"
     "b@host",
     MJ_OK, "ab@host"},
    {"\xEF\xBB\xBFnode@host", MJ_OK, "node@host"},
    /* ... down to empty parts, which Prosody keeps */
    {"\xC2\xAD@example.com", MJ_OK, "@example.com"},
    {"a@b/\xC2\xAD", MJ_OK, "a@b/"},
    {"a@\xC2\xAD", MJ_OK, "a@"},
    {"\xC2\xAD@\xC2\xAD/\xC2\xAD", MJ_OK, "@/"},
    /* prohibited */
    {"a b@host", MJ_EJID, NULL},
    {"a:b@host", MJ_EJID, NULL},
    {"a'b@host", MJ_EJID, NULL},
    {"a\x7f@host", MJ_EJID, NULL},
    {"a\xC2\xA0"
     "b@host",
     MJ_EJID, NULL}, /* NBSP: NFKC makes it a space */
    /* ... but NFKC maps it to a space, allowed in host and resource */
    {"a@b\xC2\xA0", MJ_OK, "a@b "},
    {"a@b/c\xC2\xA0", MJ_OK, "a@b/c "},
    {"a@b/\xE1\x9A\x80", MJ_EJID, NULL}, /* U+1680 ogham space */
    {"a@b/\xEE\x80\x80", MJ_EJID, NULL}, /* private use */
    {"a@b/\xE2\x80\xAE"
     "evil",
     MJ_EJID, NULL}, /* RLO, C.8 */
    {"a@b/\x01", MJ_EJID, NULL},
    {"a@b/\t", MJ_EJID, NULL},
    /* nameprep allows ASCII space and controls; resourceprep space */
    {"a@b c", MJ_OK, "a@b c"},
    {"a@b\x01", MJ_OK, "a@b\x01"},
    {"a@b\x7f/ ", MJ_OK, "a@b\x7f/ "},
    /* bidi */
    {"\xD7\x90@host", MJ_OK, "\xD7\x90@host"},
    {"\xD7\x90"
     "a@host",
     MJ_EJID, NULL},
    {"1\xD7\x90@host", MJ_EJID, NULL},
    {"\xD7\x90"
     "1\xD7\x90@host",
     MJ_OK,
     "\xD7\x90"
     "1\xD7\x90@host"},
    {"a@\xD7\x90.com", MJ_EJID, NULL}, /* the whole host, not per label */
    {"a@b/\xD7\x90 \xD7\x91", MJ_OK, "a@b/\xD7\x90 \xD7\x91"},
    {"a@b/\xD7\x90-", MJ_EJID, NULL},
    /* unassigned in Unicode 3.2: allowed */
    {"a@b/\xF0\x9F\x98\x80", MJ_OK, "a@b/\xF0\x9F\x98\x80"},
    {"\xC8\xA1@host", MJ_OK, "\xC8\xA1@host"},
    /* trailing dot */
    {"a@b.", MJ_OK, "a@b"},
    {"a@B./R", MJ_OK, "a@b/R"},
    {"a@b..", MJ_OK, "a@b."},
    {"..", MJ_OK, "."},
    {".", MJ_EJID, NULL},
    {"a@.", MJ_EJID, NULL},
    {"a@./r", MJ_EJID, NULL},
    {"a@\xEF\xBC\x8E", MJ_OK, "a@."}, /* U+FF0E, stripped too late */
    {"a@b\xE3\x80\x82", MJ_OK, "a@b\xE3\x80\x82"}, /* U+3002 kept */
    /* splitting */
    {"a@b@c", MJ_EJID, NULL},
    {"a@", MJ_EJID, NULL},
    {"@b", MJ_EJID, NULL},
    {"b/", MJ_EJID, NULL},
    {"", MJ_EJID, NULL},
    {"a/B@C", MJ_OK, "a/B@C"},
    /* bad UTF-8 */
    {"\x80@host", MJ_EJID, NULL},
    {"a@b\xC3", MJ_EJID, NULL},
    {"a@b/\xC3(", MJ_EJID, NULL},
    {"\xC0\xAF@host", MJ_EJID, NULL},        /* overlong */
    {"a@b/\xED\xA0\x80", MJ_EJID, NULL},     /* surrogate */
    {"a@b/\xF4\x90\x80\x80", MJ_EJID, NULL}, /* > U+10FFFF */
    {"a@\xFF", MJ_EJID, NULL},
};

TEST(prep_table)
{
    static char out[BIG];
    for (size_t i = 0; i < sizeof prep_cases / sizeof prep_cases[0]; i++) {
        const struct prep_case *c = &prep_cases[i];
        size_t n = 0;
        int rc = mj_jid_prep(c->in, strlen(c->in), out, sizeof out, &n);
        if (rc != c->rc) {
            FAIL_AT("prep(\"%s\") = %d, want %d", show(c->in, strlen(c->in)),
                    rc, c->rc);
            continue;
        }
        if (rc == MJ_OK && (n != strlen(c->out) || memcmp(out, c->out, n)))
            FAIL_AT("prep(\"%s\") = \"%s\", want \"%s\"",
                    show(c->in, strlen(c->in)), show(out, n),
                    show(c->out, strlen(c->out)));
    }
}

TEST(prep_nul_in_host)
{
    char out[64];
    size_t n;
    CHECK_INT(mj_jid_prep("a@B\0c", 5, out, sizeof out, &n), MJ_OK);
    CHECK_INT(n, 5);
    CHECK(memcmp(out, "a@b\0c", 5) == 0);
    CHECK_INT(mj_jid_prep("a\0@b", 4, out, sizeof out, &n), MJ_EJID);
    CHECK_INT(mj_jid_prep("a@b/\0", 5, out, sizeof out, &n), MJ_EJID);
}

/* ---------------------------------------------------------------------- */
/* One part                                                                */

static const struct part_case {
    mj_profile p;
    const char *in;
    int rc;
    const char *out;
} part_cases[] = {
    {MJ_PROFILE_NODE, "AbC", MJ_OK, "abc"},
    {MJ_PROFILE_NAME, "AbC", MJ_OK, "abc"},
    {MJ_PROFILE_RESOURCE, "AbC", MJ_OK, "AbC"},
    {MJ_PROFILE_NODE, "", MJ_OK, ""},
    {MJ_PROFILE_NAME, "", MJ_OK, ""},
    {MJ_PROFILE_RESOURCE, "", MJ_OK, ""},
    {MJ_PROFILE_NODE, "\xC3\x84", MJ_OK, "\xC3\xA4"},
    {MJ_PROFILE_RESOURCE, "\xC3\x84", MJ_OK, "\xC3\x84"},
    {MJ_PROFILE_NODE, "\xC3\x9F", MJ_OK, "ss"},
    {MJ_PROFILE_NAME, "\xC3\x9F", MJ_OK, "ss"},
    {MJ_PROFILE_RESOURCE, "\xC3\x9F", MJ_OK, "\xC3\x9F"},
    {MJ_PROFILE_NODE, "\xEF\xAC\x80", MJ_OK, "ff"},
    {MJ_PROFILE_RESOURCE, "\xEF\xAC\x80", MJ_OK, "ff"}, /* NFKC */
    {MJ_PROFILE_NODE, "\xC2\xAD", MJ_OK, ""},
    {MJ_PROFILE_NAME, "\xC2\xAD", MJ_OK, ""},
    {MJ_PROFILE_RESOURCE, "\xC2\xAD", MJ_OK, ""},
    {MJ_PROFILE_NODE, " ", MJ_EJID, NULL},
    {MJ_PROFILE_NAME, " ", MJ_OK, " "},
    {MJ_PROFILE_RESOURCE, " ", MJ_OK, " "},
    {MJ_PROFILE_NODE, "\x1f", MJ_EJID, NULL},
    {MJ_PROFILE_NAME, "\x1f", MJ_OK, "\x1f"},
    {MJ_PROFILE_RESOURCE, "\x1f", MJ_EJID, NULL},
    {MJ_PROFILE_NAME, "@/:", MJ_OK, "@/:"},
    {MJ_PROFILE_RESOURCE, "@/:", MJ_OK, "@/:"},
    {MJ_PROFILE_NODE, "\xE2\x80\x80", MJ_EJID, NULL}, /* U+2000 -> space */
    {MJ_PROFILE_NAME, "\xE2\x80\x80", MJ_OK, " "},
    {MJ_PROFILE_RESOURCE,
     "\xD7\x90"
     "a",
     MJ_EJID, NULL},
    {MJ_PROFILE_NAME, "\xC3", MJ_EJID, NULL},
    {MJ_PROFILE_NODE,
     "a\xC3"
     "A",
     MJ_EJID, NULL},
};

TEST(part_table)
{
    char out[BIG], out2[BIG];
    for (size_t i = 0; i < sizeof part_cases / sizeof part_cases[0]; i++) {
        const struct part_case *c = &part_cases[i];
        size_t n = 99, n2 = 99, len = strlen(c->in);
        int rc = mj_prep_part(c->p, c->in, len, out, sizeof out, &n);
        int rc2 = mj_prep_part_slow(c->p, c->in, len, out2, sizeof out2, &n2);
        if (rc != c->rc || rc2 != c->rc) {
            FAIL_AT("%s(\"%s\") = %d/%d, want %d", profile_name[c->p],
                    show(c->in, len), rc, rc2, c->rc);
            continue;
        }
        if (rc != MJ_OK)
            continue;
        CHECK_STR(S(out, n), c->out);
        CHECK_STR(S(out2, n2), c->out);
    }
}

TEST(part_bad_args)
{
    char out[8];
    size_t n;
    CHECK_INT(mj_prep_part((mj_profile)3, "a", 1, out, 8, &n), MJ_EINVAL);
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, NULL, 1, out, 8, &n), MJ_EINVAL);
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, "a", 1, NULL, 8, &n), MJ_EINVAL);
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, "a", 1, out, 8, NULL), MJ_EINVAL);
    CHECK_INT(mj_prep_part_slow((mj_profile)-1, "a", 1, out, 8, &n),
              MJ_EINVAL);
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, NULL, 0, NULL, 0, &n), MJ_OK);
    CHECK_INT(n, 0);
    CHECK_INT(mj_prep_part_slow(MJ_PROFILE_NODE, NULL, 0, NULL, 0, &n), MJ_OK);
    CHECK_INT(n, 0);
    CHECK_INT(mj_jid_prep(NULL, 0, out, 8, &n), MJ_EINVAL);
    CHECK_INT(mj_jid_prep("a", 1, NULL, 8, &n), MJ_EINVAL);
    CHECK_INT(mj_jid_prep("a", 1, out, 8, NULL), MJ_EINVAL);
}

TEST(part_small_buffer)
{
    char out[16];
    size_t n;
    /* exactly enough */
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, "ABC", 3, out, 3, &n), MJ_OK);
    CHECK_STR(S(out, n), "abc");
    CHECK_INT(mj_prep_part_slow(MJ_PROFILE_NODE, "ABC", 3, out, 3, &n), MJ_OK);
    CHECK_STR(S(out, n), "abc");
    /* one short */
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, "ABC", 3, out, 2, &n),
              MJ_ETOOLONG);
    CHECK_INT(mj_prep_part_slow(MJ_PROFILE_NODE, "ABC", 3, out, 2, &n),
              MJ_ETOOLONG);
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, "ABC", 3, NULL, 0, &n),
              MJ_ETOOLONG);
    /* a prohibited character wins over a small buffer, on both paths */
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, "A C", 3, out, 2, &n), MJ_EJID);
    CHECK_INT(mj_prep_part_slow(MJ_PROFILE_NODE, "A C", 3, out, 2, &n),
              MJ_EJID);
    /* expansion: ß is 2 bytes and stays 2; U+3392 is 3 bytes, gives 3 */
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, "\xC3\x9F", 2, out, 1, &n),
              MJ_ETOOLONG);
    CHECK_INT(mj_prep_part(MJ_PROFILE_NODE, "\xC3\x9F", 2, out, 2, &n), MJ_OK);
    CHECK_STR(S(out, n), "ss");
    /* U+FDFA: 3 bytes -> 33 bytes */
    CHECK_INT(
        mj_prep_part(MJ_PROFILE_RESOURCE, "\xEF\xB7\xBA", 3, out, 16, &n),
        MJ_ETOOLONG);
}

TEST(whole_jid_small_buffer)
{
    const char *j = "Room@Conf.Example/Nick";
    char out[64];
    size_t n, full = strlen("room@conf.example/Nick");
    CHECK_INT(mj_jid_prep(j, strlen(j), out, full, &n), MJ_OK);
    CHECK_STR(S(out, n), "room@conf.example/Nick");
    for (size_t cap = 0; cap < full; cap++)
        CHECK_INT(mj_jid_prep(j, strlen(j), cap ? out : NULL, cap, &n),
                  MJ_ETOOLONG);
    CHECK_INT(mj_jid_prep("Room@Conf", 9, out, 5, &n), MJ_ETOOLONG);
    CHECK_INT(mj_jid_prep("Room@Conf", 9, out, 9, &n), MJ_OK);
}

/* ---------------------------------------------------------------------- */
/* Lengths: 1023 bytes per part, counted on the input as Prosody does      */

static char *repeat(const char *unit, size_t times, const char *pre,
                    const char *post, size_t *len)
{
    size_t ul = strlen(unit), pl = strlen(pre), sl = strlen(post);
    char *s = malloc(pl + ul * times + sl + 1);
    if (!s)
        abort();
    memcpy(s, pre, pl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + pl + i * ul, unit, ul);
    memcpy(s + pl + ul * times, post, sl + 1);
    *len = pl + ul * times + sl;
    return s;
}

static int prep_rc(const char *unit, size_t times, const char *pre,
                   const char *post, size_t *out_len)
{
    static char out[BIG];
    size_t len, n = 0;
    char *s = repeat(unit, times, pre, post, &len);
    int rc = mj_jid_prep(s, len, out, sizeof out, &n);
    free(s);
    *out_len = n;
    return rc;
}

TEST(part_lengths)
{
    size_t n;
    CHECK_INT(prep_rc("A", 1023, "", "@host", &n), MJ_OK);
    CHECK_INT(n, 1028);
    CHECK_INT(prep_rc("a", 1024, "", "@host", &n), MJ_ETOOLONG);
    CHECK_INT(prep_rc("a", 1023, "node@", "", &n), MJ_OK);
    CHECK_INT(prep_rc("a", 1024, "node@", "", &n), MJ_ETOOLONG);
    /* the trailing dot is stripped before the length check */
    CHECK_INT(prep_rc("a", 1023, "node@", ".", &n), MJ_OK);
    CHECK_INT(n, 1028);
    CHECK_INT(prep_rc("a", 1024, "node@", ".", &n), MJ_ETOOLONG);
    CHECK_INT(prep_rc("a", 1023, "node@host/", "", &n), MJ_OK);
    CHECK_INT(prep_rc("a", 1024, "node@host/", "", &n), MJ_ETOOLONG);
    /* all three parts at the limit */
    {
        static char out[BIG];
        size_t len;
        char *a = repeat("a", 1023, "", "", &len);
        char *s = malloc(3 * 1023 + 3);
        if (!s)
            abort();
        memcpy(s, a, 1023);
        s[1023] = '@';
        memcpy(s + 1024, a, 1023);
        s[2047] = '/';
        memcpy(s + 2048, a, 1023);
        CHECK_INT(mj_jid_prep(s, 3071, out, sizeof out, &n), MJ_OK);
        CHECK_INT(n, 3071);
        CHECK_INT(mj_jid_prep(s, 3071, out, 3070, &n), MJ_ETOOLONG);
        free(s);
        free(a);
    }
    /* non-ASCII near the limit: ß is 2 bytes -> "ss" */
    CHECK_INT(prep_rc("\xC3\x9F", 511, "", "@host", &n), MJ_OK);
    CHECK_INT(prep_rc("\xC3\x9F", 512, "", "@host", &n), MJ_ETOOLONG);
    /* shrinking does not help: Prosody refuses >= 1024 input bytes */
    CHECK_INT(prep_rc("\xC2\xAD", 511, "a", "@host", &n), MJ_OK);
    CHECK_INT(n, 6);
    CHECK_INT(prep_rc("\xC2\xAD", 512, "a", "@host", &n), MJ_ETOOLONG);
    CHECK_INT(prep_rc("\xC2\xAD", 5000, "a", "@host", &n), MJ_ETOOLONG);
    /* growing past 1023 after preparation: U+FDFA is 3 -> 33 bytes */
    CHECK_INT(prep_rc("\xEF\xB7\xBA", 31, "node@host/", "", &n), MJ_OK);
    CHECK_INT(n, 10 + 1023);
    CHECK_INT(prep_rc("\xEF\xB7\xBA", 32, "node@host/", "", &n), MJ_ETOOLONG);
    /* U+3392 -> "mhz": same length */
    CHECK_INT(prep_rc("\xE3\x8E\x92", 341, "node@", "", &n), MJ_OK);
    CHECK_INT(prep_rc("\xE3\x8E\x92", 342, "node@", "", &n), MJ_ETOOLONG);
}

/* ---------------------------------------------------------------------- */
/* mj_jid_prep_split                                                       */

TEST(prep_split)
{
    char bare[2 * MJ_PART_MAX + 2], res[MJ_PART_MAX];
    size_t bl, rl;
    const char *j = "Room@Conference.Example.ORG./Nick";
    CHECK_INT(mj_jid_prep_split(j, strlen(j), bare, sizeof bare, &bl, res,
                                sizeof res, &rl),
              MJ_OK);
    CHECK_STR(S(bare, bl), "room@conference.example.org");
    CHECK_STR(S(res, rl), "Nick");
    CHECK_INT(mj_jid_prep_split("Example.ORG", 11, bare, sizeof bare, &bl, res,
                                sizeof res, &rl),
              MJ_OK);
    CHECK_STR(S(bare, bl), "example.org");
    CHECK_INT(rl, (size_t)-1);
    CHECK_INT(mj_jid_prep_split("a@b/\xC2\xAD", 6, bare, sizeof bare, &bl, res,
                                sizeof res, &rl),
              MJ_OK);
    CHECK_INT(rl, 0);
    /* res may be NULL: the resource is checked, not kept */
    CHECK_INT(
        mj_jid_prep_split("a@b/c", 5, bare, sizeof bare, &bl, NULL, 0, &rl),
        MJ_OK);
    CHECK_INT(rl, 1);
    CHECK_INT(
        mj_jid_prep_split("a@b/\x01", 5, bare, sizeof bare, &bl, NULL, 0, &rl),
        MJ_EJID);
    CHECK_INT(
        mj_jid_prep_split("a@b/cd", 6, bare, sizeof bare, &bl, res, 1, &rl),
        MJ_ETOOLONG);
    CHECK_INT(mj_jid_prep_split("a@b@c", 5, bare, sizeof bare, &bl, res,
                                sizeof res, &rl),
              MJ_EJID);
    CHECK_INT(mj_jid_prep_split("a b@c", 5, bare, sizeof bare, &bl, res,
                                sizeof res, &rl),
              MJ_EJID);
    CHECK_INT(mj_jid_prep_split(".", 1, bare, sizeof bare, &bl, res,
                                sizeof res, &rl),
              MJ_EJID);
}

/* ---------------------------------------------------------------------- */
/* The fast path equals ICU                                                */

static int same(mj_profile p, const char *in, size_t len, size_t cap)
{
    static char a[BIG], b[BIG];
    size_t na = 7, nb = 7;
    int ra = mj_prep_part(p, in, len, a, cap, &na);
    int rb = mj_prep_part_slow(p, in, len, b, cap, &nb);
    if (ra != rb || (ra == MJ_OK && (na != nb || memcmp(a, b, na) != 0))) {
        FAIL_AT("%s(\"%s\", cap %zu): fast %d \"%s\", icu %d \"%s\"",
                profile_name[p], show(in, len), cap, ra, ra ? "" : show(a, na),
                rb, rb ? "" : show(b, nb));
        return 0;
    }
    return 1;
}

/* What RFC 6122 says about each ASCII byte, independently of both paths. */
static int spec_allowed(mj_profile p, unsigned c)
{
    switch (p) {
    case MJ_PROFILE_NODE:
        return c > 0x20 && c < 0x7f && !strchr("\"&'/:<>@", (int)c);
    case MJ_PROFILE_NAME:
        return 1;
    default:
        return c >= 0x20 && c < 0x7f;
    }
}

TEST(fast_equals_icu_every_byte)
{
    for (int p = 0; p < 3; p++) {
        for (unsigned c = 0; c < 256; c++) {
            char in[1] = {(char)c}, out[8];
            size_t n;
            int rc;
            same((mj_profile)p, in, 1, 8);
            same((mj_profile)p, in, 1, 0);
            if (c >= 0x80)
                continue;
            rc = mj_prep_part((mj_profile)p, in, 1, out, 8, &n);
            CHECK_INT(rc, spec_allowed((mj_profile)p, c) ? MJ_OK : MJ_EJID);
            if (rc == MJ_OK) {
                unsigned want =
                    (p != MJ_PROFILE_RESOURCE && c >= 'A' && c <= 'Z') ? c + 32
                                                                       : c;
                CHECK_INT(n, 1);
                CHECK_INT((unsigned char)out[0], want);
            }
        }
    }
}

TEST(fast_equals_icu_every_pair)
{
    for (int p = 0; p < 3; p++)
        for (unsigned c = 0; c < 128; c++)
            for (unsigned d = 0; d < 128; d++) {
                char in[2] = {(char)c, (char)d};
                if (!same((mj_profile)p, in, 2, 8))
                    return;
            }
}

/* Every ASCII byte at every position of strings of 1-17 bytes, the rest
 * 'a' or 'A': covers each byte lane of the word-at-a-time fast path and
 * its short and overlapping ends. */
TEST(fast_equals_icu_every_byte_every_position)
{
    char in[17];
    for (int p = 0; p < 3; p++)
        for (unsigned c = 0; c < 128; c++)
            for (size_t len = 1; len <= sizeof in; len++)
                for (size_t pos = 0; pos < len; pos++) {
                    memset(in, (c + pos) & 1 ? 'a' : 'A', len);
                    in[pos] = (char)c;
                    if (!same((mj_profile)p, in, len, sizeof in) ||
                        !same((mj_profile)p, in, len, len - 1))
                        return;
                }
}

/* mj_res_plain says 1 exactly for printable ASCII, and then Resourceprep
 * (ICU's, no fast path) gives the input back: every byte at every
 * position of strings of 1-17 bytes, and the length bounds. */
TEST(res_plain_every_byte_every_position)
{
    char in[17], out[64];
    for (unsigned c = 0; c < 256; c++)
        for (size_t len = 1; len <= sizeof in; len++)
            for (size_t pos = 0; pos < len; pos++) {
                size_t n;
                memset(in, pos & 1 ? 'a' : '~', len);
                in[pos] = (char)c;
                int want = c >= 0x20 && c < 0x7f;
                if (mj_res_plain(in, len) != want) {
                    FAIL_AT("mj_res_plain(\"%s\") != %d", show(in, len), want);
                    return;
                }
                if (want && (mj_prep_part_slow(MJ_PROFILE_RESOURCE, in, len,
                                               out, sizeof out, &n) != MJ_OK ||
                             n != len || memcmp(out, in, len) != 0)) {
                    FAIL_AT("resourceprep(\"%s\") changed it", show(in, len));
                    return;
                }
            }
    static char big[MJ_PART_MAX + 1];
    memset(big, 'a', sizeof big);
    CHECK_INT(mj_res_plain(big, 0), 0);
    CHECK_INT(mj_res_plain(big, MJ_PART_MAX), 1);
    CHECK_INT(mj_res_plain(big, MJ_PART_MAX + 1), 0);
}

/* out == in works (mapping a byte twice gives the same byte). */
TEST(fast_in_place)
{
    static const char *const cases[] = {"A",
                                        "AbC",
                                        "ABCD",
                                        "ABCDEFG",
                                        "ABCDEFGH",
                                        "ABCDEFGHI",
                                        "Conference.Example.ORG"};
    char buf[64], want[64];
    for (int p = 0; p < 3; p++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            size_t len = strlen(cases[i]), n, nw;
            memcpy(buf, cases[i], len);
            CHECK_INT(mj_prep_part_slow((mj_profile)p, cases[i], len, want,
                                        sizeof want, &nw),
                      MJ_OK);
            CHECK_INT(
                mj_prep_part((mj_profile)p, buf, len, buf, sizeof buf, &n),
                MJ_OK);
            CHECK_STR(S(buf, n), (want[nw] = 0, want));
        }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

TEST(fast_equals_icu_random_ascii)
{
    /* Half drawn from all of ASCII, half mostly from letters so that many
     * strings pass nodeprep and resourceprep too. */
    static const char common[] = "abcXYZ09.-_ @/:\"&'<>\x7f\x01\t";
    char in[20];
    rng_state = 0x9e3779b97f4a7c15u;
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < 200000; i++) {
            size_t len = (size_t)(rng() % 21), cap = sizeof in;
            for (size_t k = 0; k < len; k++) {
                uint64_t r = rng();
                if (i & 1)
                    in[k] = (char)(r & 0x7f);
                else if (r % 8)
                    in[k] = (char)("AbCdEfGhIjKlMnOpQrStUvWxYz"[r % 26]);
                else
                    in[k] = common[(r >> 8) % (sizeof common - 1)];
            }
            if (i % 16 == 0)
                cap = (size_t)(rng() % 21); /* small buffers too */
            if (!same((mj_profile)p, in, len, cap))
                return;
        }
    }
}

TEST(fast_equals_icu_long_ascii)
{
    static char in[1100];
    rng_state = 12345;
    for (int p = 0; p < 3; p++)
        for (size_t len = 1000; len <= sizeof in; len += 3) {
            for (size_t k = 0; k < len; k++)
                in[k] = (char)("aBc.-_ 9"[rng() % (p == 0 ? 7 : 8)]);
            if (!same((mj_profile)p, in, len, BIG))
                return;
        }
}

/* ---------------------------------------------------------------------- */
/* Oracle: Prosody's util.jid.prep on tests/data/jids.txt                  */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode "\xHH" escapes in place; -1 on a malformed escape. */
static long unescape(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            s[o++] = s[i];
            continue;
        }
        if (i + 3 >= len || s[i + 1] != 'x' || hexval(s[i + 2]) < 0 ||
            hexval(s[i + 3]) < 0)
            return -1;
        s[o++] = (char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
        i += 3;
    }
    return (long)o;
}

static long unhex(const char *h, size_t len, char *out)
{
    if (len % 2)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        int a = hexval(h[i]), b = hexval(h[i + 1]);
        if (a < 0 || b < 0)
            return -1;
        out[i / 2] = (char)(a * 16 + b);
    }
    return (long)(len / 2);
}

/* Read one line (without the newline, NUL-terminated) into a growing
 * buffer; -1 at the end of the file. */
static long read_line(FILE *f, char **buf, size_t *cap)
{
    size_t n = 0;
    int c;
    for (;;) {
        if (n + 1 >= *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *buf = realloc(*buf, *cap);
            if (!*buf)
                abort();
        }
        c = getc(f);
        if (c == EOF || c == '\n')
            break;
        (*buf)[n++] = (char)c;
    }
    (*buf)[n] = 0;
    if (c == EOF && n == 0)
        return -1;
    return (long)n;
}

/* Append the UTF-8 of c (< 0x10000) to b at n. */
static size_t put_utf8(char *b, size_t n, unsigned c)
{
    if (c < 0x80) {
        b[n++] = (char)c;
    } else if (c < 0x800) {
        b[n++] = (char)(0xC0 | c >> 6);
        b[n++] = (char)(0x80 | (c & 63));
    } else {
        b[n++] = (char)(0xE0 | c >> 12);
        b[n++] = (char)(0x80 | (c >> 6 & 63));
        b[n++] = (char)(0x80 | (c & 63));
    }
    return n;
}

/* "a" then k non-starters (alternating U+0301 class 230 and U+0316 class
 * 220, which the normaliser must reorder), repeated reps times. */
static size_t marks(char *b, int k, int reps, unsigned mark)
{
    size_t n = 0;
    for (int r = 0; r < reps; r++) {
        b[n++] = 'a';
        for (int i = 0; i < k; i++)
            n = put_utf8(b, n, mark ? mark : (i & 1 ? 0x301 : 0x316));
    }
    return n;
}

/* A part with a run of more than 30 non-starters (counted in NFKD) does
 * not prepare: ICU would sort the run in quadratic time. 30 is fine, in
 * every profile, and a starter ends a run. */
TEST(not_stream_safe_refused)
{
    char in[1100], out[2200], jid[1200];
    size_t n, len;
    for (int p = 0; p < 3; p++) {
        len = marks(in, 30, 1, 0);
        CHECK_INT(mj_prep_part((mj_profile)p, in, len, out, sizeof out, &n),
                  MJ_OK);
        len = marks(in, 31, 1, 0);
        CHECK_INT(mj_prep_part((mj_profile)p, in, len, out, sizeof out, &n),
                  MJ_EJID);
        len = marks(in, 30, 10, 0); /* ten runs of 30 */
        CHECK_INT(mj_prep_part((mj_profile)p, in, len, out, sizeof out, &n),
                  MJ_OK);
        len = marks(in, 500, 1, 0); /* the reviewer's 1 KB nick */
        CHECK_INT(mj_prep_part((mj_profile)p, in, len, out, sizeof out, &n),
                  MJ_EJID);
        /* U+0F73 (class 0) decomposes into two non-starters: 15 fit */
        len = marks(in, 15, 1, 0x0F73);
        CHECK_INT(mj_prep_part((mj_profile)p, in, len, out, sizeof out, &n),
                  MJ_OK);
        len = marks(in, 16, 1, 0x0F73);
        CHECK_INT(mj_prep_part((mj_profile)p, in, len, out, sizeof out, &n),
                  MJ_EJID);
    }
    /* whole JIDs, in each part */
    len = (size_t)snprintf(jid, sizeof jid, "room@conf.example/");
    len += marks(jid + len, 31, 1, 0);
    CHECK_INT(mj_jid_prep(jid, len, out, sizeof out, &n), MJ_EJID);
    len = marks(jid, 31, 1, 0);
    len += (size_t)snprintf(jid + len, sizeof jid - len, "@conf.example/a");
    CHECK_INT(mj_jid_prep(jid, len, out, sizeof out, &n), MJ_EJID);
    len = (size_t)snprintf(jid, sizeof jid, "room@");
    len += marks(jid + len, 31, 1, 0);
    CHECK_INT(mj_jid_prep(jid, len, out, sizeof out, &n), MJ_EJID);
    len = (size_t)snprintf(jid, sizeof jid, "room@conf.example/");
    len += marks(jid + len, 30, 1, 0);
    CHECK_INT(mj_jid_prep(jid, len, out, sizeof out, &n), MJ_OK);
}

/* The check on UTF-8 (before the conversion, so that a refused part
 * costs the code points up to its long run) gives the same answer as the
 * one on UTF-16, on random text mixing starters, marks of both classes,
 * code points decomposing into non-starters and supplementary ones. */
TEST(stream_safe_utf8_same_as_utf16)
{
    static const UChar32 pool[] = {
        'a',     0x0431, 0x0301, 0x0316, 0x0F73, 0x0344,  0x1D165,
        0x1D167, 0xAC00, 0xFDFA, 0x00E9, 0x4E2D, 0x1F600, 0x0345,
    };
    const size_t npool = sizeof pool / sizeof pool[0];
    uint32_t seed = 12345;
    for (int t = 0; t < 3000; t++) {
        char u8[1200];
        UChar u16[1200];
        int32_t n8 = 0, n16 = 0;
        int len = 1 + t % 200;
        for (int i = 0; i < len;) {
            seed = seed * 1103515245u + 12345u;
            UChar32 c = pool[(seed >> 16) % npool];
            /* long stretches of one code point, now and then */
            int rep = (seed >> 8) % 4 == 0 ? 1 + (int)((seed >> 10) % 40) : 1;
            for (int r = 0; r < rep && i < len; r++, i++) {
                UBool e = 0;
                U8_APPEND(u8, n8, (int32_t)sizeof u8, c, e);
                U16_APPEND(u16, n16, 1200, c, e);
                CHECK(!e);
            }
        }
        CHECK_INT(mj_safe_check_utf8(u8, n8), mj_safe_check(u16, n16));
    }
    /* runs of exactly 30 and 31 marks, anywhere */
    for (int lead = 0; lead < 40; lead++) {
        for (int run = 29; run <= 32; run++) {
            char u8[200];
            UChar u16[200];
            int32_t n8 = 0, n16 = 0;
            UBool e = 0;
            for (int i = 0; i < lead; i++) {
                U8_APPEND(u8, n8, 200, 0x0431, e);
                U16_APPEND(u16, n16, 200, 0x0431, e);
            }
            for (int i = 0; i < run; i++) {
                U8_APPEND(u8, n8, 200, 0x0301, e);
                U16_APPEND(u16, n16, 200, 0x0301, e);
            }
            CHECK(!e);
            CHECK_INT(mj_safe_check_utf8(u8, n8), run <= 30);
            CHECK_INT(mj_safe_check(u16, n16), run <= 30);
        }
    }
    /* it stops at the run: what follows is not read (here bad UTF-8,
     * which the conversion would have refused); the part is refused
     * either way */
    {
        char in[200], out[400];
        size_t len = marks(in, 31, 1, 0), n;
        in[len++] = '\xff';
        CHECK_INT(mj_safe_check_utf8(in, (int32_t)len), 0);
        CHECK_INT(
            mj_prep_part(MJ_PROFILE_RESOURCE, in, len, out, sizeof out, &n),
            MJ_EJID);
        len = marks(in, 30, 1, 0);
        in[len++] = '\xff';
        CHECK_INT(mj_safe_check_utf8(in, (int32_t)len), 1);
        CHECK_INT(
            mj_prep_part(MJ_PROFILE_RESOURCE, in, len, out, sizeof out, &n),
            MJ_EJID);
    }
}

/* The bound the stream-safe shortcut rests on: no code point's NFKD
 * gives a run more than MJ_SAFE_CP_MAX non-starters (leading, trailing,
 * or all of it), and an inert code point gives none. */
TEST(stream_safe_bound_every_code_point)
{
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2 *nfkd = unorm2_getNFKDInstance(&err);
    int worst = 0;
    CHECK(U_SUCCESS(err));
    for (UChar32 c = 0; c <= 0x10FFFF; c++) {
        UChar d[64];
        int32_t dl, k = 0;
        int lead = 0, trail = 0, all = 1;
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        err = U_ZERO_ERROR;
        dl = unorm2_getDecomposition(nfkd, c, d, 64, &err);
        if (U_FAILURE(err) || dl < 0) {
            dl = 0;
            U16_APPEND_UNSAFE(d, dl, c);
        }
        while (k < dl) {
            UChar32 x;
            U16_NEXT(d, k, dl, x);
            if (u_getCombiningClass(x) != 0) {
                trail++;
                if (all)
                    lead++;
            } else {
                all = 0;
                trail = 0;
            }
        }
        if (unorm2_isInert(nfkd, c) && (lead || trail)) {
            FAIL_AT("U+%04X inert with non-starters", (unsigned)c);
            return;
        }
        if (lead > worst)
            worst = lead;
        if (trail > worst)
            worst = trail;
    }
    CHECK(worst <= MJ_SAFE_CP_MAX);
    CHECK((MJ_SAFE_MIN_SPAN - 1) * MJ_SAFE_CP_MAX <= MJ_SAFE_RUN);
}

TEST(prosody_oracle)
{
    FILE *in = fopen("tests/data/jids.txt", "rb");
    FILE *exp = fopen("tests/data/jids.expected", "rb");
    char *l1 = NULL, *l2 = NULL;
    size_t c1 = 0, c2 = 0, count = 0;
    static char out[BIG], want[BIG], input[8192], bare[BIG], res[BIG];
    long n1, n2;

    if (!in || !exp) {
        FAIL_AT("cannot open tests/data/jids.txt or jids.expected "
                "(run from the repository root)");
        goto done;
    }
    while ((n1 = read_line(in, &l1, &c1)) >= 0) {
        long len, wl = -1, il;
        size_t ol = 0, bl, rl;
        char *sp;
        int rc;

        if (n1 == 0 || l1[0] == '#')
            continue;
        len = unescape(l1, (size_t)n1);
        n2 = read_line(exp, &l2, &c2);
        if (len < 0 || n2 < 0) {
            FAIL_AT("bad input line or jids.expected too short");
            break;
        }
        count++;
        sp = strchr(l2, ' ');
        if (!sp || (il = unhex(l2, (size_t)(sp - l2), input)) < 0) {
            FAIL_AT("bad expected line %zu", count);
            break;
        }
        /* the expected file belongs to this very input */
        if (il != len || memcmp(input, l1, (size_t)len) != 0) {
            FAIL_AT("jids.expected line %zu is for another input: "
                    "regenerate it",
                    count);
            break;
        }
        if (strncmp(sp + 1, "ok:", 3) == 0)
            wl = unhex(sp + 4, strlen(sp + 4), want);
        else if (strcmp(sp + 1, "nil") != 0) {
            FAIL_AT("bad expected line %zu", count);
            break;
        }
        rc = mj_jid_prep(l1, (size_t)len, out, sizeof out, &ol);
        if (wl < 0 && rc == MJ_OK)
            FAIL_AT("\"%s\": Prosody nil, we \"%s\"", show(l1, (size_t)len),
                    show(out, ol));
        else if (wl >= 0 && rc != MJ_OK)
            FAIL_AT("\"%s\": Prosody \"%s\", we error %d",
                    show(l1, (size_t)len), show(want, (size_t)wl), rc);
        else if (wl >= 0 && (ol != (size_t)wl || memcmp(out, want, ol) != 0))
            FAIL_AT("\"%s\": Prosody \"%s\", we \"%s\"", show(l1, (size_t)len),
                    show(want, (size_t)wl), show(out, ol));
        /* mj_jid_prep_split agrees: bare + "/" + resource */
        rc = mj_jid_prep_split(l1, (size_t)len, bare, sizeof bare, &bl, res,
                               sizeof res, &rl);
        CHECK_INT(rc == MJ_OK, wl >= 0);
        if (rc == MJ_OK && wl >= 0) {
            size_t total = bl + (rl == (size_t)-1 ? 0 : rl + 1);
            CHECK_INT(total, (size_t)wl);
            CHECK(memcmp(bare, want, bl) == 0);
            if (rl != (size_t)-1 && total == (size_t)wl) {
                CHECK_INT(want[bl], '/');
                CHECK(memcmp(res, want + bl + 1, rl) == 0);
            }
        }
    }
    if (read_line(exp, &l2, &c2) >= 0)
        FAIL_AT("jids.expected has more lines than jids.txt: regenerate it");
    if (count < 200)
        FAIL_AT("only %zu oracle cases", count);
done:
    free(l1);
    free(l2);
    if (in)
        fclose(in);
    if (exp)
        fclose(exp);
}

int main(void)
{
    RUN(split_like_prosody);
    RUN(split_embedded_nul);
    RUN(split_separator_positions);
    RUN(split_separator_neighbours);
    RUN(prep_table);
    RUN(prep_nul_in_host);
    RUN(part_table);
    RUN(part_bad_args);
    RUN(part_small_buffer);
    RUN(whole_jid_small_buffer);
    RUN(part_lengths);
    RUN(prep_split);
    RUN(fast_equals_icu_every_byte);
    RUN(fast_equals_icu_every_pair);
    RUN(fast_equals_icu_every_byte_every_position);
    RUN(fast_in_place);
    RUN(res_plain_every_byte_every_position);
    RUN(fast_equals_icu_random_ascii);
    RUN(fast_equals_icu_long_ascii);
    RUN(not_stream_safe_refused);
    RUN(stream_safe_bound_every_code_point);
    RUN(stream_safe_utf8_same_as_utf16);
    RUN(prosody_oracle);
    return test_summary("jid");
}

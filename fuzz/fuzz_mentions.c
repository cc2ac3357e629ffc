/* libFuzzer target for src/mentions.c (and src/normal.c). The input is split
 * into a nick, a uri and a body: byte 0 is the nick length, byte 1 the uri
 * length (both clamped to what is left), then nick, uri, body follow. Checks:
 *   - both functions return MJ_OK and set the flag to 0 or 1;
 *   - the fast paths (ASCII body and nick; ASCII nick) equal the ICU
 *     path, mj_mention_text_slow(), on every input;
 *   - a valid UTF-8 nick is mentioned by a body equal to itself and by
 *     " nick " (the normal form is idempotent and local), unless it is
 *     white space and invisible characters only (never found);
 *   - a nick that Resourceprep accepts is mentioned by the reference
 *     xmpp:room@muc.example.org/<nick, every byte %-encoded>.
 * Any failure aborts. With FUZZ_COST_RATIO set, so does an input costing
 * more than that many times a typical one of the same size (cost_bound.h).
 *
 * clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 \
 *   -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *   fuzz/fuzz_mentions.c src/mentions.c src/normal.c src/jid.c \
 *   -licuuc -o fuzz_mentions
 * ./fuzz_mentions fuzz/corpus/mentions -max_total_time=60 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "cost_bound.h"
#include "jid.h"
#include "mentions.h"
#include "mentions_impl.h"
#include "normal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* For the cost bound (cost_bound.h): the nick "juliet", no uri, a body
 * of Cyrillic prose. */
static size_t typical_input(uint8_t *buf, size_t n)
{
    if (n < 8)
        return 0;
    buf[0] = 6;
    buf[1] = 0;
    memcpy(buf + 2, "juliet", 6);
    mj_fuzz_cyrillic(buf + 8, n - 8, 1);
    return n;
}

#define ROOM "room@muc.example.org"
#define USER "user@example.org"

static int valid_utf8(const char *s, size_t n)
{
    int32_t i = 0;
    while ((size_t)i < n) {
        UChar32 c;
        U8_NEXT(s, i, (int32_t)n, c);
        if (c < 0)
            return 0;
    }
    return 1;
}

/* Valid UTF-8 made of white space and characters Resourceprep maps to
 * nothing only: a nick never found in a body. */
static int blank_utf8(const char *s, size_t n)
{
    int32_t i = 0;
    while ((size_t)i < n) {
        UChar32 c;
        U8_NEXT(s, i, (int32_t)n, c);
        if (c < 0 || !(u_isUWhiteSpace(c) || mj_invisible(c)))
            return 0;
    }
    return 1;
}

static int text(const char *body, size_t bl, const char *nick, size_t nl,
                int slow)
{
    int m = -1;
    int rc = slow ? mj_mention_text_slow(body, bl, nick, nl, &m)
                  : mj_mention_text(body, bl, nick, nl, &m);
    if (rc != MJ_OK || (m != 0 && m != 1))
        abort();
    return m;
}

static int uri_match(const char *uri, size_t ul, const char *nick, size_t nl)
{
    int m = -1;
    int rc = mj_mention_uri(uri, ul, ROOM, strlen(ROOM), nick, nl, USER,
                            strlen(USER), &m);
    if (rc != MJ_OK || (m != 0 && m != 1))
        abort();
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[3 * 256 + 64], spaced[256 + 2], pn[MJ_PART_MAX];
    const char *s = (const char *)data + 2;
    size_t nl, ul, bl, pl, o;

    if (size < 2)
        return 0;
    size -= 2;
    nl = data[0] < size ? data[0] : size;
    ul = data[1] < size - nl ? data[1] : size - nl;
    bl = size - nl - ul;
    const char *nick = s, *uri = s + nl, *body = s + nl + ul;

    /* the input as given, and the whole input as a body or a uri */
    if (text(body, bl, nick, nl, 0) != text(body, bl, nick, nl, 1))
        abort();
    uri_match(uri, ul, nick, nl);
    uri_match(s, size, nick, nl);
    if (text(s, size, nick, nl, 0) != text(s, size, nick, nl, 1))
        abort();

    if (nl == 0 || !valid_utf8(nick, nl))
        return 0;
    /* a body that is the nick, alone or between spaces (a nick of white
     * space only is never found) */
    int want = !blank_utf8(nick, nl);
    if (text(nick, nl, nick, nl, 0) != want ||
        text(nick, nl, nick, nl, 1) != want)
        abort();
    spaced[0] = ' ';
    memcpy(spaced + 1, nick, nl);
    spaced[nl + 1] = ' ';
    if (text(spaced, nl + 2, nick, nl, 0) != want)
        abort();

    /* the nick's own reference */
    o = (size_t)snprintf(buf, sizeof buf, "xmpp:%s/", ROOM);
    for (size_t i = 0; i < nl; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%%%02X",
                              (unsigned char)nick[i]);
    if (mj_prep_part(MJ_PROFILE_RESOURCE, nick, nl, pn, sizeof pn, &pl) ==
            MJ_OK &&
        !uri_match(buf, o, nick, nl))
        abort();
    return 0;
}

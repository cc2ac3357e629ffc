/* Mentions (docs/semantics.md §6): does a groupchat body name a nick as a
 * whole word, and does a XEP-0372 reference uri point at room/nick or at the
 * user?
 *
 * Body mentions
 * -------------
 * Both body and nick are brought to one normal form, NFKC(fold(NFKC(s))),
 * with full Unicode case folding and ICU's NFKC, after dropping what
 * Resourceprep maps to nothing (ZWNJ, ZWJ, variation selectors, soft
 * hyphen...; normal.c says how and why, and how the normaliser's work is
 * bounded).
 *
 * Then every occurrence of the folded nick in the folded body is tried,
 * left to right (KMP, so the work is linear in body + nick whatever the
 * text), and the first whose neighbouring code points in the folded text
 * (the one before the start, the one after the end) are not word
 * characters is a mention. Word characters: general category L*, M*, N*,
 * and '_'. Only the code points outside the match are looked at, so a
 * nick edged with punctuation ("-=Ann=-") matches after a space, and an
 * ideographic nick never matches inside ideographic text without spaces
 * ("你好" is not mentioned by "你好吗": ideographs are Lo, letters). A nick
 * without any word character ("-", "...", an emoji) is joined also by a
 * neighbour of the same class (P* or S*) as its own code point next to it
 * ("wait..." does not mention "."; attaching code points, as the
 * enclosing keycap of "#\ufe0f\u20e3", neither make a word nor give the
 * class).
 * White space at the nick's ends is no part of it (Resourceprep accepts
 * a space): " Ann" is mentioned by "hi Ann", and a nick of white space
 * only is never found (it would stand alone between any two emoji).
 * Nor may a match cut into a grapheme cluster at its edges (edges_ok16():
 * a mark or skin tone after it; a Prepend character before it; an
 * attaching first code point after anything but white space; a flag's
 * half; an emoji next to the nick's emoji, their ZWJ being gone), which
 * only the ICU path can meet: ASCII has no such characters.
 *
 * Bounds: only the first MJ_MENTION_BODY_MAX (64 KiB) bytes of a body are
 * looked at (cut back to the start of a UTF-8 sequence), and a match that
 * runs up to that cut does not count, since the code point after it is
 * unknown. Only those bytes are checked for UTF-8 validity. The first
 * NFKC of a long body is bounded too, and runs of combining marks are
 * made stream-safe first (normal.c). A nick over 64 KiB never matches
 * (nicks are JID resources, 1023 bytes at most). Invalid UTF-8 in body
 * or nick: no match, MJ_OK.
 *
 * ASCII fast path: when body (the scanned part) and nick are all ASCII,
 * NFKC is the identity, full folding is A-Z -> a-z, and the word
 * characters are [0-9A-Za-z_], so the same search runs on bytes with no
 * ICU call and no allocation for nicks up to MJ_STACK_UNITS bytes. It
 * first looks for the nick's least common byte (either case): one pass
 * over the body, sixteen bytes a step, tells both whether the body is
 * ASCII and whether that byte is in it, and a message that mentions
 * nobody mostly ends there, without folding anything. Only an all-ASCII
 * body is answered this way: a non-ASCII one can hold the nick's bytes
 * in its normal form only ("\uff14" is "4", U+33C2 is "a.m.").
 * An ASCII nick in a non-ASCII body is likewise lower-cased without ICU.
 * mj_mention_text_slow() is the ICU path alone, without either shortcut;
 * the tests and the fuzz target prove both give the same answers.
 *
 * Reference mentions
 * ------------------
 * RFC 5122 section 2.8 order: the URI is split on its raw delimiters
 * first, then decoded, so a "%3F" in a nick stays in the nick:
 *   1. the scheme must be "xmpp:" (any case); every "%" in the whole URI
 *      must start a two-hex-digit escape, else the URI is malformed;
 *   2. the authority form "xmpp://account@host/jid" does not match: the
 *      authority names the account to act as, XEP-0372 never uses it, and
 *      the header (mentions.h) excludes it;
 *   3. the path ends at the first raw "?" (query) or "#" (fragment);
 *   4. the path is percent-decoded (raw non-ASCII bytes, an IRI, are kept
 *      as they are) and prepared as a JID (mj_jid_prep_split; bad UTF-8,
 *      prohibited characters and overlong parts are "no match");
 *   5. with a resource, it matches when the bare JID equals the prepared
 *      room and the resource equals the nick after Resourceprep; without
 *      one, when the bare JID equals the prepared user_bare. A full JID
 *      of the user (user@host/phone) does NOT match: docs/semantics.md §6
 *      names the bare JID only, and a resource points at one client,
 *      which need not be the session asking.
 * room, nick and user_bare are prepared here too (any spelling works); a
 * NULL room or nick disables the room/nick comparison, a NULL user_bare
 * the bare-JID one. If one of them does not prepare (or room/user_bare
 * has a resource), or nick is empty, that comparison just fails. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/utf16.h>

#include "jid.h"
#include "mentions.h"
#include "mentions_impl.h"
#include "nickcache.h"
#include "normal.h"

/* ---------------------------------------------------------------------- */
/* ASCII helpers                                                           */

static inline unsigned char lower(unsigned char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* lower() as a table, for the byte search's inner loops: one load */
#define ID4(x)  x, x + 1, x + 2, x + 3
#define ID16(x) ID4(x), ID4(x + 4), ID4(x + 8), ID4(x + 12)
static const unsigned char fold8[256] = {
    ID16(0x00),
    ID16(0x10),
    ID16(0x20),
    ID16(0x30),
    /* 0x40: '@', 'A'-'O' -> 'a'-'o' */
    0x40,
    ID4(0x61),
    ID4(0x65),
    ID4(0x69),
    0x6d,
    0x6e,
    0x6f,
    /* 0x50: 'P'-'Z' -> 'p'-'z', '[' ... '_' */
    ID4(0x70),
    ID4(0x74),
    0x78,
    0x79,
    0x7a,
    0x5b,
    0x5c,
    0x5d,
    0x5e,
    0x5f,
    ID16(0x60),
    ID16(0x70),
    ID16(0x80),
    ID16(0x90),
    ID16(0xa0),
    ID16(0xb0),
    ID16(0xc0),
    ID16(0xd0),
    ID16(0xe0),
    ID16(0xf0),
};
#undef ID16
#undef ID4

/* Eight bytes at a time. A word has a zero byte exactly when
 * (w - ONES) & ~w & HIGH is nonzero; it has a non-ASCII byte when
 * w & HIGH is. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGH UINT64_C(0x8080808080808080)

/* ---------------------------------------------------------------------- */
/* Whole-word search in UTF-16 (ICU path)                                  */

static int is_word(UChar32 c)
{
    return c == '_' ||
           (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_M_MASK | U_GC_N_MASK)) != 0;
}

/* KMP failure function: f[i] is the length of the longest proper border
 * of p[0..i]. */
static void kmp_table16(const UChar *p, int32_t m, int32_t *f)
{
    int32_t k = 0;

    f[0] = 0;
    for (int32_t i = 1; i < m; i++) {
        while (k > 0 && p[i] != p[k])
            k = f[k - 1];
        if (p[i] == p[k])
            k++;
        f[i] = k;
    }
}

/* A code point that belongs to the grapheme cluster before it
 * (Grapheme_Cluster_Break Extend, ZWJ, SpacingMark): combining marks
 * (also word characters), emoji modifiers, variation selectors past 16
 * (those up to 16, ZWJ and ZWNJ are gone from the normal form). */
static int extends(UChar32 c)
{
    int32_t b = u_getIntPropertyValue(c, UCHAR_GRAPHEME_CLUSTER_BREAK);

    return b == U_GCB_EXTEND || b == U_GCB_ZWJ || b == U_GCB_SPACING_MARK;
}

static int is_ri(UChar32 c)
{
    return c >= 0x1F1E6 && c <= 0x1F1FF; /* Regional_Indicator */
}

/* Regional indicators pair into flags from the start of their run. The
 * number of them just before t[i] (counted back to RI_RUN_MAX at most:
 * a bounded cost per match, whatever the body). */
#define RI_RUN_MAX 64
static int ri_run_before(const UChar *t, int32_t i)
{
    int run = 0;
    UChar32 c;

    while (i > 0 && run < RI_RUN_MAX) {
        U16_PREV(t, 0, i, c);
        if (!is_ri(c))
            break;
        run++;
    }
    return run;
}

/* Punctuation (P*: 1) or a symbol (S*: 2), else 0. */
static int ps_class(UChar32 c)
{
    uint32_t m = U_GET_GC_MASK(c);

    return (m & U_GC_P_MASK) ? 1 : (m & U_GC_S_MASK) ? 2 : 0;
}

static int is_pict(UChar32 c)
{
    return u_hasBinaryProperty(c, UCHAR_EXTENDED_PICTOGRAPHIC);
}

/* An emoji modifier (a skin tone, U+1F3FB..U+1F3FF): in a ZWJ sequence
 * it comes between an emoji and the ZWJ ("<person><tone><ZWJ><laptop>"),
 * so it is what precedes the next emoji once the ZWJ is gone. */
static int is_tone(UChar32 c)
{
    return c >= 0x1F3FB && c <= 0x1F3FF;
}

/* Whether a neighbour c of a match keeps it from standing alone: a word
 * character; an emoji (Extended_Pictographic) or a skin tone when the
 * nick's code point next to it (edge) is an emoji, since the ZWJ that
 * made the two one picture is gone from the normal form ("Ann<woman>" is
 * not found in "Ann<woman><ZWJ><laptop>", nor "<laptop>Ann" in
 * "<person><tone><ZWJ><laptop>Ann"); for a nick without any word character
 * (bare: "-", "...", an emoji), also a character of the same class
 * (ps_class()) as edge: "wait..." does not mention ".", nor "--" "-",
 * while "hi <emoji>!" mentions the emoji. */
static int joins16(UChar32 c, int bare, UChar32 edge)
{
    int k;

    if (is_word(c) || (is_pict(edge) && (is_pict(c) || is_tone(c))))
        return 1;
    k = bare ? ps_class(edge) : 0;
    return k != 0 && ps_class(c) == k;
}

/* What edges_ok16() needs of the nick (the match is its copy), found
 * once per search (nick_edges()): a cost per match independent of the
 * nick's length. */
struct edges {
    int bare;      /* no word character (has_word16()) */
    UChar32 first; /* its first code point */
    UChar32 last;  /* its last code point */
    UChar32 base;  /* the base of its last cluster (what joins16()
                      compares a neighbour with): the last code point
                      that does not attach to the one before, else last */
};

/* The match t[s..e) stands as a word: the code points around it do not
 * join it (joins16()), and it cuts into no grapheme cluster at its edges
 * (an emoji nick is not found inside a longer emoji sequence: ZWJ, a
 * skin tone, a flag's other half). Well-formed UTF-16 on both sides
 * means s and e never split a surrogate pair. */
static int edges_ok16(const UChar *t, int32_t n, int32_t s, int32_t e, int cut,
                      const struct edges *g)
{
    UChar32 c;
    int32_t i;
    const int bare = g->bare;
    const UChar32 first = g->first, last = g->last;

    if (s > 0) {
        i = s;
        U16_PREV(t, 0, i, c);
        if (joins16(c, bare, first) ||
            u_getIntPropertyValue(c, UCHAR_GRAPHEME_CLUSTER_BREAK) ==
                U_GCB_PREPEND)
            return 0;
        /* a match starting with what attaches to the character before:
         * only after white space (on which it sits alone) */
        if (extends(first) && !u_isUWhiteSpace(c))
            return 0;
        /* starting after an odd run (or a run too long to count) of
         * regional indicators: the second half of a flag */
        if (is_ri(first)) {
            int run = ri_run_before(t, s);

            if (run % 2 != 0 || run == RI_RUN_MAX)
                return 0;
        }
    }
    if (e == n)
        return !cut;
    i = e;
    U16_NEXT(t, i, n, c);
    if (joins16(c, bare, g->base) || extends(c))
        return 0;
    /* ending on a regional indicator that pairs with the next one */
    if (is_ri(last) && is_ri(c)) {
        int run = ri_run_before(t, e);

        if (run % 2 != 0 || run == RI_RUN_MAX)
            return 0;
    }
    return 1;
}

static int find_word16(const UChar *t, int32_t n, const UChar *p, int32_t m,
                       const int32_t *f, int cut, const struct edges *g)
{
    int32_t k = 0;

    for (int32_t i = 0; i < n; i++) {
        while (k > 0 && t[i] != p[k])
            k = f[k - 1];
        if (t[i] == p[k])
            k++;
        if (k == m) {
            if (edges_ok16(t, n, i + 1 - m, i + 1, cut, g))
                return 1;
            k = f[k - 1];
        }
    }
    return 0;
}

/* The nick in normal form into nk (*nl units). fast: an ASCII nick is
 * folded without ICU (A-Z -> a-z is its whole normal form);
 * mj_mention_text_slow() does not take that shortcut. */
static int fold_nick(const char *nick, size_t nlen, int fast, ubuf *nk,
                     int32_t *nl)
{
    ubuf tmp;
    int rc;

    if (fast && mj_ascii(nick, nlen)) {
        rc = mj_ubuf_reserve(nk, (int32_t)nlen);
        for (*nl = 0; rc == MJ_OK && (size_t)*nl < nlen; (*nl)++)
            nk->p[*nl] = lower((unsigned char)nick[*nl]);
        return rc;
    }
    mj_ubuf_init(&tmp);
    rc = mj_normal_form(nick, (int32_t)nlen, nk, &tmp, nl, NULL);
    mj_ubuf_free(&tmp);
    return rc;
}

/* Whether the folded nick has a word character, not counting those that
 * attach to the character before them (extends(): the enclosing keycap
 * of "#\ufe0f\u20e3" is a mark, yet that nick has no word). */
static int has_word16(const UChar *p, int32_t m)
{
    UChar32 c;

    for (int32_t i = 0; i < m;) {
        U16_NEXT(p, i, m, c);
        if (is_word(c) && !extends(c))
            return 1;
    }
    return 0;
}

/* The folded nick without the white space at its ends (*p, *m updated;
 * *m becomes 0 for white space only). A space is valid in a nick, and
 * is no part of the word: " Ann" is mentioned by "hi Ann", and " " by
 * nothing, whereas it would stand alone between any two emoji. */
static void trim16(const UChar **p, int32_t *m)
{
    int32_t i = 0, e = *m, k;
    UChar32 c;

    while (i < e) {
        k = i;
        U16_NEXT(*p, k, e, c);
        if (!u_isUWhiteSpace(c))
            break;
        i = k;
    }
    while (e > i) {
        k = e;
        U16_PREV(*p, i, k, c);
        if (!u_isUWhiteSpace(c))
            break;
        e = k;
    }
    *p += i;
    *m = e - i;
}

/* The folded nick's struct edges (m >= 1 units). */
static void nick_edges(const UChar *p, int32_t m, struct edges *g)
{
    int32_t i = 0;

    g->bare = !has_word16(p, m);
    U16_NEXT(p, i, m, g->first);
    i = m;
    U16_PREV(p, 0, i, g->last);
    g->base = g->last;
    while (i > 0 && extends(g->base))
        U16_PREV(p, 0, i, g->base);
    if (extends(g->base))
        g->base = g->last; /* nothing but attaching code points */
}

/* The folded nick (nl units) as a word in the folded body (bl units). */
static int search16(const UChar *b, int32_t bl, int cut, const UChar *nk,
                    int32_t nl, int *match)
{
    int32_t fstack[MJ_STACK_UNITS], *f = fstack;
    struct edges g;

    trim16(&nk, &nl);
    if (nl == 0 || nl > bl)
        return MJ_OK;
    if (nl > MJ_STACK_UNITS)
        f = malloc((size_t)nl * sizeof *f);
    if (f == NULL)
        return MJ_ENOMEM;
    kmp_table16(nk, nl, f);
    nick_edges(nk, nl, &g);
    *match = find_word16(b, bl, nk, nl, f, cut, &g);
    if (f != fstack)
        free(f);
    return MJ_OK;
}

static int text_icu(const char *body, size_t blen, const char *nick,
                    size_t nlen, int cut, int fast, int *match)
{
    ubuf b, nk, tmp;
    int32_t bl = 0, nl = 0;
    int rc;

    mj_ubuf_init(&b);
    mj_ubuf_init(&nk);
    mj_ubuf_init(&tmp);
    rc = fold_nick(nick, nlen, fast, &nk, &nl);
    if (rc == MJ_OK)
        rc = mj_normal_form(body, (int32_t)blen, &b, &tmp, &bl, &cut);
    if (rc == MJ_OK)
        rc = search16(b.p, bl, cut, nk.p, nl, match);
    mj_ubuf_free(&b);
    mj_ubuf_free(&nk);
    mj_ubuf_free(&tmp);
    return rc == NOT_UTF8 ? MJ_OK : rc;
}

/* ---------------------------------------------------------------------- */
/* ASCII fast path: the same search on bytes                               */

/* text_ascii(): the body or the nick is not ASCII (the ICU path answers;
 * NOT_UTF8 is 1, normal.h) */
#define NOT_ASCII 2

/* ps_class() of an ASCII byte that is no word character: the symbols
 * (S*) are $+<=>^`|~, the other printable ones punctuation (P*). */
static inline int ps_class8(unsigned char c)
{
    if (c <= ' ' || c >= 0x7F)
        return 0;
    return strchr("$+<=>^`|~", c) != NULL ? 2 : 1;
}

/* u_isUWhiteSpace() of an ASCII byte: TAB to CR, and the space */
static inline int is_space8(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int is_word8(unsigned char c)
{
    c = fold8[c];
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_';
}

/* How common a byte is in chat text: letters by their frequency in
 * English, then the space and the usual punctuation; digits and the
 * other bytes rank 0. The search looks for the nick's least common byte
 * first (a nick that cannot occur is ruled out in one pass over the
 * body), so only its speed depends on this table. A letter ranks the
 * same in either case (the search folds the body). */
#define RANK(l, v) [l] = v, [l - 'a' + 'A'] = v
static const unsigned char rank[256] = {
    RANK('z', 20), RANK('q', 21), RANK('x', 22), RANK('j', 23), RANK('k', 24),
    RANK('v', 25), RANK('b', 26), RANK('p', 27), RANK('y', 28), RANK('g', 29),
    RANK('f', 30), RANK('w', 31), RANK('m', 32), RANK('u', 33), RANK('c', 34),
    RANK('l', 35), RANK('d', 36), RANK('r', 37), RANK('h', 38), RANK('s', 39),
    RANK('n', 40), RANK('i', 41), RANK('o', 42), RANK('a', 43), RANK('t', 44),
    RANK('e', 45), [' '] = 60,    ['.'] = 40,    [','] = 38,    ['\''] = 30,
    ['-'] = 28,    ['!'] = 25,    ['?'] = 25,    [':'] = 25,    ['"'] = 22,
    ['/'] = 22,    ['('] = 20,    [')'] = 20,    ['0'] = 12,    ['1'] = 12,
};
#undef RANK

/* The first j >= i (i < n) with (t[j] | set) == c or t[j] > 0x7F, or n.
 * For a lowercase letter c, set is 0x20: an ASCII byte b has b | 0x20 ==
 * c exactly when lower(b) == c. For any other c set is 0 (c == 0x80
 * finds the first byte that is not ASCII). */
#if defined(__SSE2__) && !defined(MJ_NO_SIMD)
#include <emmintrin.h>

/* The bytes of t[0..16) that scan() stops at have their top bit set. */
static inline __m128i stops16(const unsigned char *t, __m128i set, __m128i c)
{
    __m128i w = _mm_loadu_si128((const __m128i *)(const void *)t);
    return _mm_or_si128(w, _mm_cmpeq_epi8(_mm_or_si128(w, set), c));
}

static inline unsigned bits16(__m128i v)
{
    return (unsigned)_mm_movemask_epi8(v);
}

static size_t scan(const unsigned char *t, size_t i, size_t n, unsigned char c,
                   unsigned char set)
{
    /* (a 32-bit broadcast is two instructions, a byte one four) */
    const __m128i vc = _mm_set1_epi32((int)(c * 0x01010101u));
    const __m128i vs = _mm_set1_epi32((int)(set * 0x01010101u));
    unsigned m;

    if (n < 16) {
        while (i < n && (t[i] | set) != c && t[i] < 0x80)
            i++;
        return i;
    }
    for (; i + 32 <= n; i += 32) {
        __m128i x = stops16(t + i, vs, vc), y = stops16(t + i + 16, vs, vc);
        if (bits16(_mm_or_si128(x, y))) {
            m = bits16(x) | bits16(y) << 16;
            return i + (size_t)__builtin_ctz(m);
        }
    }
    if (i + 16 <= n) {
        m = bits16(stops16(t + i, vs, vc));
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
    if (i == n)
        return n;
    /* the last sixteen bytes, those before i left out */
    m = bits16(stops16(t + n - 16, vs, vc)) >> (16 - (n - i));
    return m ? i + (size_t)__builtin_ctz(m) : n;
}
#else
static size_t scan(const unsigned char *t, size_t i, size_t n, unsigned char c,
                   unsigned char set)
{
    uint64_t s8 = ONES * set, want = ONES * c;

    /* eight bytes at a time, up to the word holding the first stop */
    for (; i + 8 <= n; i += 8) {
        uint64_t w, x;
        memcpy(&w, t + i, 8);
        x = (w | s8) ^ want;
        if ((((x - ONES) & ~x) | w) & HIGH)
            break;
    }
    while (i < n && (t[i] | set) != c && t[i] < 0x80)
        i++;
    return i;
}
#endif

/* joins16() in ASCII. */
static inline int joins8(unsigned char c, int bare, unsigned char edge)
{
    if (is_word8(c))
        return 1;
    return bare && ps_class8(c) != 0 && ps_class8(c) == ps_class8(edge);
}

/* t (folded on the fly) against the folded nick p, from i on (no match
 * starts before i); r is the index of p's least common byte. KMP, with
 * two shortcuts that keep it linear: with no partial match, it jumps to
 * the next possible start (a match starting at i or later has p[r] at
 * i + r or later: scan() finds it; successive scans read disjoint bytes,
 * and KMP reads again at most the r bytes a scan passed before the start
 * it found, so each byte is read at most twice), and a partial match is
 * extended in a tight loop while the bytes agree. */
static int find_word8(const unsigned char *t, size_t i, size_t n,
                      const unsigned char *p, size_t m, size_t r,
                      const size_t *f, int cut, int bare)
{
    const unsigned char pr = p[r], set = pr >= 'a' && pr <= 'z' ? 0x20 : 0;
    size_t k = 0;

    for (;;) {
        unsigned char c;
        if (k == 0) {
            if (n - i < m)
                return 0;
            if (fold8[t[i + r]] != pr) {
                i = scan(t, i + r + 1, n, pr, set);
                if (i == n)
                    return 0;
                i -= r;
            }
        }
        /* t[i - k, i) == p[0, k) */
        while (k < m && i < n && fold8[t[i]] == p[k]) {
            i++;
            k++;
        }
        if (k == m) {
            size_t s = i - m;
            if ((s == 0 || !joins8(t[s - 1], bare, p[0])) &&
                (i == n ? !cut : !joins8(t[i], bare, p[m - 1])))
                return 1;
            k = f[m - 1];
            continue;
        }
        if (i == n)
            return 0;
        /* t[i] != p[k]: the longest border that t[i] extends */
        c = fold8[t[i++]];
        while (k > 0 && c != p[k])
            k = f[k - 1];
        if (c == p[k])
            k++; /* still below m: a border of p[0, k) plus one */
    }
}

/* The KMP part of text_ascii(): the body (ASCII) has the nick's byte
 * p[r] at j, the first place it does. */
static int ascii_kmp(const unsigned char *t, size_t blen, size_t j,
                     const unsigned char *q, size_t nlen, size_t r, int cut,
                     int *match)
{
    unsigned char pstack[MJ_STACK_UNITS], *p = pstack;
    size_t fstack[MJ_STACK_UNITS], *f = fstack, k = 0;
    int bare = 1;

    if (nlen > MJ_STACK_UNITS) {
        p = malloc(nlen);
        f = malloc(nlen * sizeof *f);
        if (p == NULL || f == NULL) {
            free(p);
            free(f);
            return MJ_ENOMEM;
        }
    }
    for (size_t i = 0; i < nlen; i++) {
        p[i] = lower(q[i]);
        bare = bare && !is_word8(p[i]);
    }
    f[0] = 0;
    for (size_t i = 1; i < nlen; i++) {
        while (k > 0 && p[i] != p[k])
            k = f[k - 1];
        if (p[i] == p[k])
            k++;
        f[i] = k;
    }
    /* no match starts before j - r */
    *match = find_word8(t, j >= r ? j - r : 0, blen, p, nlen, r, f, cut, bare);
    if (p != pstack) {
        free(p);
        free(f);
    }
    return MJ_OK;
}

/* The byte search, when body (blen bytes, the scanned part) and nick
 * (nlen >= 1 bytes) are both ASCII: MJ_OK with *match set, or MJ_ENOMEM;
 * NOT_ASCII when either is not. A body without the nick's least common
 * byte (in either case), as nearly every message that mentions nobody,
 * is read once and never folded; the nick is folded and its KMP table
 * made only when the body has that byte. */
static int text_ascii(const char *body, size_t blen, const char *nick,
                      size_t nlen, int cut, int *match)
{
    const unsigned char *t = (const unsigned char *)body;
    const unsigned char *q = (const unsigned char *)nick;
    unsigned char c, set, best;
    size_t r = 0, j;

    if (!mj_ascii(nick, nlen))
        return NOT_ASCII;
    /* the white space at its ends is no part of it (trim16()) */
    while (nlen > 0 && is_space8(q[0])) {
        q++;
        nlen--;
    }
    while (nlen > 0 && is_space8(q[nlen - 1]))
        nlen--;
    if (nlen == 0)
        return MJ_OK;
    best = rank[q[0]];
    for (size_t i = 1; i < nlen; i++) {
        if (rank[q[i]] < best) {
            best = rank[q[i]];
            r = i;
        }
    }
    c = lower(q[r]);
    set = c >= 'a' && c <= 'z' ? 0x20 : 0;
    j = scan(t, 0, blen, c, set);
    if (j == blen)
        return MJ_OK; /* ASCII, and the byte is not there */
    if (t[j] > 0x7F || (j + 1 < blen && scan(t, j + 1, blen, 0x80, 0) < blen))
        return NOT_ASCII;
    if (nlen > blen)
        return MJ_OK;
    return ascii_kmp(t, blen, j, q, nlen, r, cut, match);
}

/* ---------------------------------------------------------------------- */
/* Body mentions                                                           */

/* The part of a body looked at: its first MJ_MENTION_BODY_MAX bytes, cut
 * at the start of a UTF-8 sequence (at most 3 bytes back). Returns the
 * length; *cut is set when bytes were left out. */
static size_t body_cut(const char *body, size_t body_len, int *cut)
{
    size_t n = body_len;

    *cut = 0;
    if (n > MJ_MENTION_BODY_MAX) {
        n = MJ_MENTION_BODY_MAX;
        for (int i = 0; i < 3 && ((unsigned char)body[n] & 0xC0) == 0x80; i++)
            n--;
        *cut = 1;
    }
    return n;
}

static int mention_text(const char *body, size_t body_len, const char *nick,
                        size_t nick_len, int *match, int fast)
{
    size_t n;
    int cut;

    if (match == NULL || (body == NULL && body_len) ||
        (nick == NULL && nick_len))
        return MJ_EINVAL;
    *match = 0;
    if (body_len == 0 || nick_len == 0 || nick_len > MJ_MENTION_BODY_MAX)
        return MJ_OK;
    n = body_cut(body, body_len, &cut);
    if (fast) {
        int rc = text_ascii(body, n, nick, nick_len, cut, match);
        if (rc != NOT_ASCII)
            return rc;
    }
    return text_icu(body, n, nick, nick_len, cut, fast, match);
}

/* The ICU part of mj_mention_text_cached(), apart so that the byte
 * path does not set up its buffers. */
static int text_cached_icu(struct mj_tracker *tr, mj_body_cache *c,
                           mj_nick_cache *nicks, const char *body, size_t n,
                           int cut, const char *nick, size_t nick_len,
                           int *match)
{
    ubuf b, nk;
    const UChar *t;
    int32_t tl = 0, nl = 0;
    int rc = MJ_OK;

    /* The cache is keyed by the bytes themselves: one memcmp (64 KiB at
     * most, far less than a hash of them) both finds and confirms; and by
     * whether more bytes followed them (a match at their end counts only
     * when none did). */
    mj_ubuf_init(&b);
    mj_ubuf_init(&nk);
    if (c->bytes != NULL && c->len == n && c->incut == (cut != 0) &&
        memcmp(c->bytes, body, n) == 0) {
        t = (const UChar *)c->u;
        tl = c->ulen;
        cut = c->cut;
        if (c->bad)
            rc = NOT_UTF8;
    } else {
        rc = mj_body_cache_fill(tr, c, body, n, cut, &b, &tl, &cut);
        t = c->bytes != NULL ? (const UChar *)c->u : b.p;
    }
    const UChar *np = NULL;
    if (rc == MJ_OK && !mj_ascii(nick, nick_len) && nick_len <= MJ_PART_MAX) {
        /* a held nick's fold is kept (nickcache.h): its cost is the
         * nick's, once, not every message's */
        const uint16_t *f = NULL;
        rc = mj_nick_fold(tr, nicks, nick, nick_len, &nk, &f, &nl);
        np = (const UChar *)f;
    } else if (rc == MJ_OK) {
        rc = fold_nick(nick, nick_len, 1, &nk, &nl);
        np = nk.p;
    }
    if (rc == MJ_OK)
        rc = search16(t, tl, cut, np, nl, match);
    mj_ubuf_free(&b);
    mj_ubuf_free(&nk);
    return rc == NOT_UTF8 ? MJ_OK : rc;
}

MJ_HOT int mj_mention_text_cached(struct mj_tracker *tr, mj_body_cache *c,
                                  mj_nick_cache *nicks, const char *body,
                                  size_t body_len, const char *nick,
                                  size_t nick_len, int *match)
{
    size_t n;
    int cut, rc;

    if (tr == NULL || c == NULL)
        return mention_text(body, body_len, nick, nick_len, match, 1);
    if (match == NULL || (body == NULL && body_len) ||
        (nick == NULL && nick_len))
        return MJ_EINVAL;
    *match = 0;
    if (body_len == 0 || nick_len == 0 || nick_len > MJ_MENTION_BODY_MAX)
        return MJ_OK;
    n = body_cut(body, body_len, &cut);
    rc = text_ascii(body, n, nick, nick_len, cut, match);
    if (rc != NOT_ASCII)
        return rc;
    return text_cached_icu(tr, c, nicks, body, n, cut, nick, nick_len, match);
}

int mj_mention_text(const char *body, size_t body_len, const char *nick,
                    size_t nick_len, int *match)
{
    return mention_text(body, body_len, nick, nick_len, match, 1);
}

int mj_mention_text_slow(const char *body, size_t body_len, const char *nick,
                         size_t nick_len, int *match)
{
    return mention_text(body, body_len, nick, nick_len, match, 0);
}

/* ---------------------------------------------------------------------- */
/* Reference mentions                                                      */

/* A hex digit's value plus one; 0 for any other byte. */
static const unsigned char hex1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Prepare a bare JID (a resource makes it fail): MJ_OK, MJ_ENOMEM, or
 * MJ_EJID for anything else. */
static int prep_bare(const char *s, size_t len, char *out, size_t cap,
                     size_t *out_len)
{
    size_t rl = 0;
    int rc = mj_jid_prep_split(s, len, out, cap, out_len, NULL, 0, &rl);

    if (rc == MJ_ENOMEM)
        return rc;
    return rc == MJ_OK && rl == (size_t)-1 ? MJ_OK : MJ_EJID;
}

static int same(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

int mj_mention_uri_path(const char *uri, size_t uri_len, size_t *path_len)
{
    const unsigned char *u = (const unsigned char *)uri;
    const char *q;
    size_t end, i;

    *path_len = 0;
    /* 1. scheme (the path's escapes are checked as it is decoded, in
     * mj_mention_uri_jid(): any failure is "no match", so the order is
     * free) */
    if (uri_len < 5 || lower((unsigned char)uri[0]) != 'x' ||
        lower((unsigned char)uri[1]) != 'm' ||
        lower((unsigned char)uri[2]) != 'p' ||
        lower((unsigned char)uri[3]) != 'p' || uri[4] != ':')
        return 0;
    /* 2. no authority */
    if (uri_len >= 7 && uri[5] == '/' && uri[6] == '/')
        return 0;
    /* 3. path up to the query or fragment (an escape is "%" and two hex
     * digits: never a "?" or "#") */
    q = memchr(uri + 5, '?', uri_len - 5);
    end = q ? (size_t)(q - uri) : uri_len;
    q = memchr(uri + 5, '#', end - 5);
    end = q ? (size_t)(q - uri) : end;
    /* the escapes of the query and fragment */
    for (i = end; i < uri_len; i++) {
        if (uri[i] != '%')
            continue;
        if (uri_len - i < 3 || !hex1[u[i + 1]] || !hex1[u[i + 2]])
            return 0;
        i += 2; /* two hex digits, neither a '%' */
    }
    *path_len = end;
    return 1;
}

int mj_mention_uri_jid(const char *path, size_t path_len, char *bare,
                       size_t *bl, char *res, size_t *rl, int *names)
{
    char jid[URI_JID_MAX];
    const unsigned char *u = (const unsigned char *)path;
    size_t jl = 0, i;
    int rc;

    *names = 0;
    /* 4. decode the path (after "xmpp:"), checking its escapes */
    for (i = 5; i < path_len; jl++) {
        if (jl == sizeof jid)
            return MJ_OK; /* too long to be a JID */
        if (path[i] != '%') {
            jid[jl] = path[i++];
            continue;
        }
        if (path_len - i < 3 || !hex1[u[i + 1]] || !hex1[u[i + 2]])
            return MJ_OK;
        jid[jl] = (char)((hex1[u[i + 1]] - 1) * 16 + hex1[u[i + 2]] - 1);
        i += 3;
    }
    rc = mj_jid_prep_split(jid, jl, bare, MJ_URI_BARE_MAX, bl, res,
                           MJ_PART_MAX, rl);
    if (rc == MJ_ENOMEM)
        return rc;
    *names = rc == MJ_OK;
    return MJ_OK;
}

int mj_mention_jid_match(const char *bare, size_t bl, const char *res,
                         size_t rl, const char *room, size_t room_len,
                         const char *nick, size_t nick_len,
                         const char *user_bare, size_t user_bare_len,
                         int *match)
{
    char other[2 * MJ_PART_MAX + 2];
    size_t ol = 0;
    int rc;

    *match = 0;
    /* 5. compare */
    if (rl == (size_t)-1) {
        if (user_bare == NULL)
            return MJ_OK;
        rc = prep_bare(user_bare, user_bare_len, other, sizeof other, &ol);
        if (rc == MJ_OK)
            *match = same(bare, bl, other, ol);
    } else {
        if (room == NULL || nick == NULL || nick_len == 0)
            return MJ_OK;
        rc = prep_bare(room, room_len, other, sizeof other, &ol);
        if (rc != MJ_OK || !same(bare, bl, other, ol))
            return rc == MJ_ENOMEM ? rc : MJ_OK;
        rc = mj_prep_part(MJ_PROFILE_RESOURCE, nick, nick_len, other,
                          MJ_PART_MAX, &ol);
        if (rc == MJ_OK)
            *match = same(res, rl, other, ol);
    }
    return rc == MJ_ENOMEM ? rc : MJ_OK;
}

int mj_mention_jid_is(const char *bare, size_t bl, const char *res, size_t rl,
                      const char *proom, size_t proom_len, const char *pnick,
                      size_t pnick_len, const char *puser_bare,
                      size_t puser_bare_len)
{
    if (rl == (size_t)-1)
        return puser_bare != NULL &&
               same(bare, bl, puser_bare, puser_bare_len);
    return proom != NULL && pnick != NULL &&
           same(bare, bl, proom, proom_len) && same(res, rl, pnick, pnick_len);
}

int mj_mention_uri(const char *uri, size_t uri_len, const char *room,
                   size_t room_len, const char *nick, size_t nick_len,
                   const char *user_bare, size_t user_bare_len, int *match)
{
    char bare[MJ_URI_BARE_MAX], res[MJ_PART_MAX];
    size_t path_len, bl = 0, rl = 0;
    int rc, names;

    if (match == NULL || (uri == NULL && uri_len) ||
        (room == NULL && room_len) || (nick == NULL && nick_len) ||
        (user_bare == NULL && user_bare_len))
        return MJ_EINVAL;
    *match = 0;
    if (!mj_mention_uri_path(uri, uri_len, &path_len))
        return MJ_OK;
    rc = mj_mention_uri_jid(uri, path_len, bare, &bl, res, &rl, &names);
    if (rc != MJ_OK || !names)
        return rc;
    return mj_mention_jid_match(bare, bl, res, rl, room, room_len, nick,
                                nick_len, user_bare, user_bare_len, match);
}

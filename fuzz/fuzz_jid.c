/* libFuzzer target for src/jid.c: whole JIDs through mj_jid_prep and
 * mj_jid_prep_split, and the input as one part through each profile. On
 * ASCII input the fast path must equal the ICU path (return code and
 * bytes); any difference aborts. With FUZZ_COST_RATIO set, so does an
 * input costing more than that many times a typical one of the same size
 * (cost_bound.h).
 *
 * clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 \
 *   -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *   fuzz/fuzz_jid.c src/jid.c -licuuc -o fuzz_jid
 * ./fuzz_jid fuzz/corpus/jid -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cost_bound.h"
#include "jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* For the cost bound (cost_bound.h): a JID of three Cyrillic parts of
 * the input's size, each at most 1020 bytes (a longer benign JID does
 * not exist: parts are bounded). */
static size_t typical_input(uint8_t *buf, size_t n)
{
    size_t part = n >= 5 ? (n - 2) / 3 : 0;
    part -= part % 2;
    if (part > 1020)
        part = 1020;
    if (part == 0)
        return 0;
    mj_fuzz_cyrillic(buf, part, 0);
    buf[part] = '@';
    mj_fuzz_cyrillic(buf + part + 1, part, 0);
    buf[2 * part + 1] = '/';
    mj_fuzz_cyrillic(buf + 2 * part + 2, part, 0);
    return 3 * part + 2;
}

static char out[3 * MJ_PART_MAX + 2];
static char bare[2 * MJ_PART_MAX + 2], res[MJ_PART_MAX];
static char fast[MJ_PART_MAX + 1], slow[MJ_PART_MAX + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t n = 0, bl = 0, rl = 0, nf = 0, ns = 0, cap;
    int ascii = 1, rc, rc2;

    for (size_t i = 0; i < size; i++)
        if (data[i] >= 0x80)
            ascii = 0;

    /* a whole JID, and the same split: both must agree */
    rc = mj_jid_prep(s, size, out, sizeof out, &n);
    rc2 = mj_jid_prep_split(s, size, bare, sizeof bare, &bl, res, sizeof res,
                            &rl);
    if (rc != rc2)
        abort();
    if (rc == MJ_OK) {
        if (n > sizeof out || bl > n || memcmp(out, bare, bl) != 0)
            abort();
        if (rl == (size_t)-1 ? n != bl
                             : (n != bl + 1 + rl || out[bl] != '/' ||
                                memcmp(out + bl + 1, res, rl) != 0))
            abort();
    } else if (rc != MJ_EJID && rc != MJ_ETOOLONG) {
        abort();
    }

    /* one part per profile; a buffer size taken from the input too */
    cap = size ? data[0] % (sizeof fast + 1) : 0;
    for (int p = 0; p < 3; p++) {
        for (int pass = 0; pass < 2; pass++) {
            size_t c = pass ? cap : sizeof fast;
            rc = mj_prep_part((mj_profile)p, s, size, fast, c, &nf);
            if (rc == MJ_OK && nf > c)
                abort();
            if (!ascii)
                continue;
            rc2 = mj_prep_part_slow((mj_profile)p, s, size, slow, c, &ns);
            if (rc != rc2)
                abort();
            if (rc == MJ_OK && (nf != ns || memcmp(fast, slow, nf) != 0))
                abort();
        }
    }
    return 0;
}

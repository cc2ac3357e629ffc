/* A per-input cost bound for libFuzzer targets (the rule: no input may
 * cost more than 10x a typical input of the same size).
 *
 * A target includes this header before its own declarations and defines
 *     static size_t typical_input(uint8_t *buf, size_t n);
 * which writes a benign input of the target's format into buf (n bytes
 * available) and returns its length (at most n; shorter when the format
 * caps what a benign input can be, e.g. a JID of three 1020-byte parts).
 * The header renames the target's LLVMFuzzerTestOneInput to mj_fuzz_one
 * and wraps it.
 *
 * Off unless FUZZ_COST_RATIO is set (scripts/fuzz.sh sets it from
 * FUZZ_COST=1). Then every input is timed in CPU time of the thread
 * (CLOCK_THREAD_CPUTIME_ID: time the process spends preempted by others
 * on this shared machine does not count). An input under the floor
 * (FUZZ_COST_FLOOR_MS, default 0.1 ms) passes. Above it, its cost per
 * byte is compared with the typical cost per byte of its size class
 * (sizes 2^k..2^(k+1)-1; the typical input measured once per class,
 * minimum of three runs): nearly every input passes there, so the fuzzer
 * keeps its speed. One over FUZZ_COST_RATIO times that is measured
 * again, the minimum of three runs, next to the minimum of three runs of
 * the typical input of exactly its size; if it is still over, the target
 * prints both and aborts, and libFuzzer saves the input as a crash. Both sides
 * run under the same sanitizers, so their ratio holds under ASan; ICU (not
 * instrumented) runs at full speed on both sides alike. */
#ifndef MJ_FUZZ_COST_BOUND_H
#define MJ_FUZZ_COST_BOUND_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t typical_input(uint8_t *buf, size_t n);
int mj_fuzz_one(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* For typical_input(): benign non-ASCII text (Cyrillic letters and
 * spaces), n bytes (n even for whole letters; an odd last byte is a
 * space). */
static void mj_fuzz_cyrillic(uint8_t *p, size_t n, int spaces)
{
    static const char letters[] = "съешьжеещёэтихмягкихфранцузскихбулок";
    size_t k = 0, L = sizeof letters - 1, w = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (spaces && ++w % 7 == 0) {
            p[i] = ' ';
            p[i + 1] = ' ';
            continue;
        }
        p[i] = (uint8_t)letters[k];
        p[i + 1] = (uint8_t)letters[k + 1];
        k = (k + 2) % L;
    }
    if (n % 2)
        p[n - 1] = spaces ? ' ' : 'x';
}

static double mj_fuzz_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mj_fuzz_time(const uint8_t *data, size_t size)
{
    double t0 = mj_fuzz_cpu();
    mj_fuzz_one(data, size);
    return mj_fuzz_cpu() - t0;
}

/* Minimum of three runs of the typical input of size n, per byte; -1 if
 * the format has no typical input of that size. */
static double mj_fuzz_typical(size_t n, size_t *m_out)
{
    uint8_t *buf = malloc(n);
    double best = 1e300;
    size_t m = buf ? typical_input(buf, n) : 0;
    for (int i = 0; i < 3 && m > 0; i++) {
        double x = mj_fuzz_time(buf, m);
        if (x < best)
            best = x;
    }
    free(buf);
    *m_out = m;
    return m > 0 ? best / (double)m : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int on = -1;
    static double ratio, floor_s;
    static double typ_pb[64]; /* typical cost per byte, by log2(size) */
    if (on < 0) {
        const char *r = getenv("FUZZ_COST_RATIO");
        const char *f = getenv("FUZZ_COST_FLOOR_MS");
        ratio = r ? atof(r) : 0;
        on = ratio > 0;
        floor_s = (f ? atof(f) : 0.1) / 1000;
    }
    if (!on)
        return mj_fuzz_one(data, size);
    double t = mj_fuzz_time(data, size);
    if (t < floor_s || size == 0)
        return 0;
    /* the cheap test: against the typical cost per byte of this size
     * class, measured once */
    int b = 0;
    size_t m;
    while (((size_t)1 << (b + 1)) <= size && b < 62)
        b++;
    if (typ_pb[b] == 0)
        typ_pb[b] = mj_fuzz_typical(size, &m);
    if (typ_pb[b] < 0 || t / (double)size <= ratio * typ_pb[b])
        return 0;
    /* over it: measure both again at exactly this size, minimum of three */
    double per_t = mj_fuzz_typical(size, &m);
    for (int i = 0; i < 3; i++) {
        double y = mj_fuzz_time(data, size);
        if (y < t)
            t = y;
    }
    double per_x = t / (double)size;
    if (per_t > 0 && t >= floor_s && per_x > ratio * per_t) {
        fprintf(stderr,
                "cost bound: this input (%zu bytes) costs %.3f ms of CPU, "
                "%.1fx per byte a typical input of the same size (%.3f ms "
                "for %zu bytes); bound %gx (FUZZ_COST_RATIO)\n",
                size, t * 1e3, per_x / per_t, per_t * (double)m * 1e3, m,
                ratio);
        abort();
    }
    return 0;
}

#define LLVMFuzzerTestOneInput mj_fuzz_one

#endif

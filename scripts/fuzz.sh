#!/bin/bash
# `make fuzz`: build the libFuzzer targets (clang, ASan+UBSan) into
# build/fuzz/ and run each for a bounded time, one after the other (never
# two fuzzers at once), on a copy of its seed corpus.
#
#   fuzz_tracker   the presence view state machine, with invariants
#   fuzz_jid       JID preparation (fast path == ICU path)
#   fuzz_mentions  mention matching
#   fuzz_replay    the replay tool's XML trace input
#   fuzz_binding   the Lua binding (lua/*.c, liblua5.4) fed stanza tables
#                  of every shape, valid and corrupted
#
# Usage: scripts/fuzz.sh [TARGET...]        (default: all five)
# FUZZ_SECONDS   seconds per target (default 30); 0 only replays the seed
#                corpora and the regression inputs once (a quick check)
# FUZZ_JOBS      ignored: one fuzzer process at a time, always
# FUZZ_ARGS      more libFuzzer options (e.g. -max_len=8192)
#
# Slow inputs (the rule: no input may cost more than 10x a typical input
# of the same size). Two mechanisms, because libFuzzer's own is coarse:
# FUZZ_SLOW_SECONDS  libFuzzer's -report_slow_units (default 1, its finest
#                grain: whole seconds of wall time). Every target, always
#                on: an input over it is saved as slow-unit-* in the
#                artifacts directory and listed at the end of the run. It
#                only reports (wall time on this shared machine is noise
#                at that grain; a listed input is re-run by hand, or with
#                FUZZ_COST=1, to decide); FUZZ_SLOW_FATAL=1 makes a listed
#                input fail the run. A typical input of the largest size
#                fuzzed (-max_len, 4096 by default) costs well under a
#                millisecond even under ASan, so 1 s is far over 10x: it
#                catches only the gross cases (the quadratic ones at
#                larger -max_len, e.g. -max_len=65536 for mentions).
# FUZZ_COST=1    the 10x rule itself, per input, inside fuzz_mentions and
#                fuzz_jid (fuzz/cost_bound.h): an input taking over
#                FUZZ_COST_FLOOR_MS (0.1) of the thread's CPU time is
#                compared per byte with a typical input of its size class
#                in the same format (Cyrillic text: the costlier benign
#                kind), measured once per class; one over FUZZ_COST_RATIO
#                (10) times it is measured again (minimum of three) next to
#                the typical input of exactly its size, and if still over,
#                aborts and is saved as a crash.
#                Reliable under ASan: CPU time of the thread ignores time
#                spent preempted, both sides run under the same
#                sanitizers, the minimum of three removes the rest of the
#                noise, and only the rare slow input is measured again (the
#                fuzzer keeps its speed). Off by default,
#                so that `make test`'s short runs cannot fail on timing.
#                fuzz_tracker and fuzz_replay have no cost check of their
#                own (what a "typical" stanza stream of the same size is
#                is not defined by their byte formats): the slow-unit
#                report covers them, and bench/bench_adversarial.c
#                measures their inputs' worst cases. Nor has
#                fuzz_binding (a program of at most 64 steps, whose
#                cost is mostly Lua's): the slow-unit report covers it.
# Corpora grow in build/fuzz/corpus-TARGET (seeds copied from
# fuzz/corpus/TARGET); crashes land in build/fuzz/artifacts/TARGET/ and
# make the script fail. Save a crash as a regression seed with
#   cp build/fuzz/artifacts/T/crash-... fuzz/corpus/T/regress-<what>
# The last line is "fuzz: N passed, N failed" (one per target).
set -u
cd "$(dirname "$0")/.."
out=build/fuzz
secs=${FUZZ_SECONDS:-30}
CLANG=${CLANG:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 $SAN -Wall -Wextra -Werror"
all_targets="fuzz_tracker fuzz_jid fuzz_mentions fuzz_replay fuzz_binding"
targets=${*:-$all_targets}
mkdir -p "$out/obj"

if ! command -v "$CLANG" >/dev/null; then
    echo "fuzz: clang is missing (scripts/deps.sh build installs it)" >&2
    exit 1
fi

# ---- build: the core with coverage for the fuzzer, then each target ------
build_lib() {
    local objs="" s o
    for s in src/*.c; do
        o=$out/obj/$(basename "${s%.c}").o
        if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ include/mucjoins.h -nt "$o" ] ||
            [ -n "$(find src -name '*.h' -newer "$o" 2>/dev/null)" ]; then
            # shellcheck disable=SC2086
            "$CLANG" $CFLAGS -fsanitize=fuzzer-no-link -fvisibility=hidden \
                -Iinclude -Isrc -c "$s" -o "$o" || return 1
        fi
        objs="$objs $o"
    done
    rm -f "$out/libmucjoins-fuzz.a"
    # shellcheck disable=SC2086
    ar rcs "$out/libmucjoins-fuzz.a" $objs
}

build_target() {
    local t=$1 extra="" srcs="" libs="" s
    case $t in
    fuzz_replay)
        # the replay tool's parts, all but its main()
        extra="-D_GNU_SOURCE -Itools/replay"
        for s in tools/replay/*.c; do
            [ "$s" = tools/replay/main.c ] || srcs="$srcs $s"
        done
        libs="-lexpat"
        ;;
    fuzz_binding)
        # the binding's C files (all of lua/*.c, as the Makefile's
        # BINDING_SRC) and Lua 5.4
        extra="-Ilua -I/usr/include/lua5.4"
        srcs=$(echo lua/*.c)
        libs="-llua5.4 -lm"
        ;;
    fuzz_jid | fuzz_mentions) extra="-Isrc" ;;
    esac
    # shellcheck disable=SC2086
    "$CLANG" $CFLAGS -fsanitize=fuzzer -Iinclude $extra "fuzz/$t.c" $srcs \
        "$out/libmucjoins-fuzz.a" -licuuc $libs -o "$out/$t"
}

echo "fuzz: building into $out/ (clang, -fsanitize=fuzzer,address,undefined)"
build_lib || { echo "fuzz: building the library failed"; echo "fuzz: 0 passed, 1 failed"; exit 1; }

passed=0
failed=0
total_execs=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
slow=${FUZZ_SLOW_SECONDS:-1}
if [ "${FUZZ_COST:-}" = 1 ]; then
    export FUZZ_COST_RATIO=${FUZZ_COST_RATIO:-10}
    export FUZZ_COST_FLOOR_MS=${FUZZ_COST_FLOOR_MS:-0.1}
    echo "fuzz: per-input cost bound on (fuzz_mentions, fuzz_jid): ${FUZZ_COST_RATIO}x a typical input, inputs over ${FUZZ_COST_FLOOR_MS} ms checked"
fi
total_slow=0
for t in $targets; do
    if [ ! -f "fuzz/$t.c" ]; then
        echo "fuzz: no target fuzz/$t.c"
        failed=$((failed + 1))
        continue
    fi
    if ! build_target "$t"; then
        echo "fuzz: $t: build failed"
        failed=$((failed + 1))
        continue
    fi
    name=${t#fuzz_}
    corpus=$out/corpus-$name
    art=$out/artifacts/$name
    mkdir -p "$corpus" "$art"
    [ -d "fuzz/corpus/$name" ] && cp -n fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
    log=$out/$t.log
    # the replay tool reports each bad trace on stderr: close the target's
    # stderr (libFuzzer and the sanitizers keep their own)
    mask=""
    [ "$t" = fuzz_replay ] && mask="-close_fd_mask=2"
    if [ "$secs" = 0 ]; then
        # every seed and regression input once
        # shellcheck disable=SC2086
        nice -n 19 "$out/$t" -runs=0 -artifact_prefix="$art/" ${FUZZ_ARGS:-} \
            "fuzz/corpus/$name" >"$log" 2>&1
        rc=$?
    else
        # shellcheck disable=SC2086
        nice -n 19 "$out/$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
            -report_slow_units="$slow" -print_final_stats=1 -artifact_prefix="$art/" $mask ${FUZZ_ARGS:-} \
            "$corpus" >"$log" 2>&1
        rc=$?
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -E '^#[0-9]+.*(DONE|INITED)' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
    total_execs=$((total_execs + ${execs:-0}))
    nslow=$(grep -c '^Slowest unit' "$log" 2>/dev/null)
    if [ "$nslow" -gt 0 ]; then
        echo "fuzz: $t: $nslow slow input(s) over ${slow}s (slow-unit-* in $art/):"
        grep -A1 '^Slowest unit' "$log" | head -10
        total_slow=$((total_slow + nslow))
        [ "${FUZZ_SLOW_FATAL:-}" = 1 ] && [ "$rc" -eq 0 ] && rc=3
    fi
    if grep -q '^cost bound:' "$log"; then
        grep '^cost bound:' "$log" | head -3
    fi
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: $t: ok, ${execs:-?} executions in ${secs}s${cov:+, $cov}, corpus $(find "$corpus" -type f | wc -l) files"
        passed=$((passed + 1))
    else
        echo "fuzz: $t: FAILED (exit $rc); log $log; input in $art/"
        grep -E 'ERROR|invariant|SUMMARY|#[0-9]+ in ' "$log" | head -30
        failed=$((failed + 1))
    fi
done
echo "fuzz: $total_execs executions in total; $total_slow slow input(s) over ${slow}s"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

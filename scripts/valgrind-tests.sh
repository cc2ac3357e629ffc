#!/bin/sh
# The C unit test binaries (build/tests/test_*, gcc -O2 -g, built by
# `make`) under Debian's valgrind (memcheck): invalid reads and writes,
# uses of uninitialised values, and leaks (--leak-check=full; definite and
# possible leaks are errors) fail the test. A binary passes when valgrind
# reports no error AND the test program itself passes.
#
# Usage, from anywhere: scripts/valgrind-tests.sh [BINARY...]
# One line per binary, then the summary "valgrind: N passed, N failed"
# (the format scripts/run-tests.sh adds up). Logs: build/valgrind/NAME.log.
set -u
cd "$(dirname "$0")/.." || exit 2
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind: not installed (Debian package valgrind; scripts/deps.sh test)"
    echo "valgrind: 0 passed, 1 failed"
    exit 1
fi
if [ $# -eq 0 ]; then
    set -- build/tests/test_*
fi
mkdir -p build/valgrind
passed=0
failed=0
for t in "$@"; do
    if [ ! -x "$t" ]; then
        echo "FAIL $t: not an executable (run make first)"
        failed=$((failed + 1))
        continue
    fi
    name=$(basename "$t")
    log=build/valgrind/$name.log
    start=$(date +%s)
    valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible \
        --track-origins=yes --num-callers=30 --log-file="$log.vg" "$t" >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    summary=$(grep -m1 'ERROR SUMMARY' "$log.vg" | sed 's/^==[0-9]*== //')
    if [ "$rc" -eq 0 ]; then
        echo "ok   $name (${secs}s; $summary)"
        passed=$((passed + 1))
    elif [ "$rc" -eq 99 ]; then
        echo "FAIL $name: valgrind found errors (${secs}s; $summary); see $log.vg"
        grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|[0-9,]+ bytes in)' "$log.vg" | head -10
        failed=$((failed + 1))
    else
        echo "FAIL $name: the test failed under valgrind (exit $rc, ${secs}s); see $log"
        tail -5 "$log"
        failed=$((failed + 1))
    fi
done
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

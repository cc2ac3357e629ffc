#!/bin/bash
# Run every test suite, print each one's output, and end with one line
# summing them: "N passed, N failed". Exit non-zero if anything failed.
# Called by `make test` after the build; run from the repository root.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
skipped=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run NAME CMD...: run a suite, add the counts of its summary line
# (ours: "N passed, N failed"; pytest: "N passed, N failed in ...").
run() {
    local name=$1
    shift
    echo "=== $name: $*"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line p f e
    line=$(grep -E '[0-9]+ (passed|failed|error)' "$log" | tail -n 1)
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
    e=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || true)
    p=${p:-0}
    f=$((${f:-0} + ${e:-0}))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "--- $name exited with $rc"
        f=1
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && grep -q '^skipped: ' "$log"; then
        # a suite whose server could not be installed says so: reported, not passed
        skipped="$skipped
$name: $(grep -m1 '^skipped: ' "$log" | cut -c10-)"
        return
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        echo "--- $name ran no test"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

# one-check suites: a command that must succeed
check() {
    local name=$1
    shift
    echo "=== $name: $*"
    if "$@"; then
        echo "$name: 1 passed, 0 failed"
        passed=$((passed + 1))
    else
        echo "$name: 0 passed, 1 failed"
        failed=$((failed + 1))
    fi
}

for t in build/tests/test_*; do
    run "unit $(basename "$t")" "$t"
done

check "build with clang, ASan+UBSan" make -s test-sanitize
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build/asan/tests/test_*; do
    run "sanitized $(basename "$t")" "$t"
done

check "build without SIMD (-DMJ_NO_SIMD)" make -s test-nosimd
for t in build/nosimd/tests/test_mentions build/nosimd/tests/test_messages; do
    run "without SIMD $(basename "$t")" "$t"
done

run "valgrind (unit tests)" scripts/valgrind-tests.sh
if [ -x scripts/fuzz.sh ]; then
    export FUZZ_SECONDS=${FUZZ_SECONDS:-15}
    run "fuzz (${FUZZ_SECONDS}s per target, ASan+UBSan)" scripts/fuzz.sh
fi

check "format" make -s format-check
check "links in the docs" scripts/check-links.sh
check "exported symbols" scripts/check-symbols.sh
check "layers (no cycle)" scripts/check-layers.sh

if [ -f tests/lua/test_binding.lua ]; then
    run "lua binding" lua5.4 tests/lua/test_binding.lua build/plugins/mod_track_muc_joins/mucjoins.so
    # memcheck: a stale cached session handle would be a read of freed memory
    run "lua binding (valgrind)" valgrind -q --error-exitcode=99 \
        lua5.4 tests/lua/test_binding.lua build/plugins/mod_track_muc_joins/mucjoins.so
    # the "nothing changed" paths allocate nothing (counting allocator)
    run "lua binding (allocations)" build/tests/lua-alloc-host tests/lua/test_alloc.lua \
        build/plugins/mod_track_muc_joins/mucjoins.so
    # allocations failing at every point: no raise from a hook, no event
    # lost uncounted (t:stats().dropped_events), nothing leaked
    run "lua binding (allocation failures)" valgrind -q --error-exitcode=99 --leak-check=full \
        --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        build/tests/lua-alloc-host tests/lua/test_oom.lua build/plugins/mod_track_muc_joins/mucjoins.so
    # a plugin folder missing files, a mucjoins.so that cannot be loaded,
    # a load on "*": refused in one line before anything is hooked
    run "lua module load (incomplete folder, global)" lua5.4 tests/lua/test_module_load.lua build/plugins
    # the s2s link wiring reports each domain once, at a bounded cost
    run "lua wiring (link events)" lua5.4 tests/lua/test_link_events.lua
    # the self-ping iq hooks never raise, whatever another module routes
    run "lua wiring (self-ping iq hooks)" lua5.4 tests/lua/test_selfping_hooks.lua \
        build/plugins/mod_track_muc_joins/mucjoins.so
    # the join-error filter on what BOSH sends through it (strings, copies)
    run "lua wiring (join-error filter)" lua5.4 tests/lua/test_out_filter.lua
    # the CSI and push hooks' verdicts (wake.lib.lua over the binding)
    run "lua wiring (CSI and push)" lua5.4 tests/lua/test_wake.lua \
        build/plugins/mod_track_muc_joins/mucjoins.so
    # the options the module reads are the ones README.md and lua/README.markdown list
    run "options documented" lua5.4 tests/lua/test_options_doc.lua \
        build/plugins/mod_track_muc_joins/mucjoins.so
    # the binding and the replay tool read the same stanzas alike
    run "lua binding and replay tool agree" lua5.4 tests/lua/test_agree.lua \
        build/plugins/mod_track_muc_joins/mucjoins.so build/mucjoins-replay \
        tests/agree/*.xml examples/*.xml
fi
if [ -x tests/replay/run.sh ]; then
    run "replay tool" tests/replay/run.sh build/mucjoins-replay
    run "replay tool (sanitized)" tests/replay/run.sh build/asan/mucjoins-replay
fi
if [ -x tests/install/test-deps.sh ]; then
    run "scripts/deps.sh (stubs)" tests/install/test-deps.sh
fi
if [ -x tests/install/test-demo.sh ]; then
    run "make run's demo (Ctrl-C)" tests/install/test-demo.sh
fi
if [ -x scripts/test-install.sh ]; then
    run "make install" scripts/test-install.sh
fi
if [ -x scripts/test-rockspec.sh ]; then
    run "prosodyctl install (rock)" scripts/test-rockspec.sh
fi
if [ -x scripts/integration.sh ]; then
    run "integration (real Prosody)" scripts/integration.sh
fi
if [ -x scripts/ejabberd-tests.sh ]; then
    run "integration (ejabberd 23.01 over s2s)" scripts/ejabberd-tests.sh
fi

echo
[ -n "$skipped" ] && echo "SKIPPED suites:$skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

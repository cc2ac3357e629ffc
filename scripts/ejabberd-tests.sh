#!/bin/bash
# The ejabberd suite: tests/integration/test_ejabberd.py against a private
# ejabberd 23.01 (Debian's package, started on free loopback ports with its
# own config, spool, log and cookie; never the system service) talking s2s
# with a private Prosody running the module from build/plugins (run `make`
# first). See tests/integration/README.md.
#
# Usage: scripts/ejabberd-tests.sh [pytest args]   e.g. -k ghost, -x, -v
# The last line is "ejabberd: N passed, N failed", or, when the ejabberd
# package is not installed (scripts/deps.sh test could not install it),
# "skipped: <reason>" (exit 0: a skipped suite is reported, never passed).
cd "$(dirname "$0")/.." || exit 2
export PYTHONDONTWRITEBYTECODE=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/integration/test_ejabberd.py "$@" 2>&1 |
    tee "$out"
rc=${PIPESTATUS[0]}
line=$(grep -E '^[=]* ?[0-9]+ (passed|failed|skipped|errors?|deselected)' "$out" | tail -n 1)
num() { echo "$line" | grep -oE "[0-9]+ $1" | grep -oE '[0-9]+' || echo 0; }
p=$(num passed)
f=$(($(num failed) + $(num 'errors?')))
s=$(num skipped)
if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -gt 0 ]; then
    reason=$(grep -m1 -oE 'ejabberd suite skipped: .*' "$out" || echo "see above")
    echo "skipped: $reason"
    exit 0
fi
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
echo "ejabberd: $p passed, $f failed"
[ "$f" -eq 0 ]

#!/bin/bash
# `make run`'s demo (scripts/run-demo.sh) with the real Prosody: it says
# which Prosody runs on which port, shows two real clients' joins and a
# mention as they happen, and Ctrl-C (SIGINT to its process
# group, as a terminal sends it; twice) leaves no process and no file
# behind. As the current
# user and, when root, as nobody too (no access to /etc/prosody).
# Usage: tests/install/test-demo.sh   (after `make all`)
# The last line is "demo: N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mucjoins-demo.XXXXXX") || exit 2
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
# ok, not_ok, summary: the install tests' helpers
. "$root/scripts/install-test-lib.sh"

# clients NAME OUT: two real clients (demo-clients.py) join a room on the
# demo whose output is OUT and one mentions the other: the demo shows the
# joins and the mention as they happen, and its metrics (the URL it
# prints) count them
clients() {
    local name=$1 out=$2 port apw bpw url line
    port=$(sed -n 's/.* is running on 127\.0\.0\.1:\([0-9]*\) with.*/\1/p' "$out")
    apw=$(sed -n 's/.*alice@localhost  *password \([^ ]*\)$/\1/p' "$out")
    bpw=$(sed -n 's/.*bob@localhost  *password \([^ ]*\)$/\1/p' "$out")
    url=$(sed -n 's/.*curl -s \(http:[^ ]*\) .*/\1/p' "$out")
    if ! /usr/bin/python3 "$root/tests/install/demo-clients.py" "$port" "$apw" "$bpw" "$url" 2>"$tmp/clients.err"; then
        not_ok "$name: two clients join a room, one mentions the other, the metrics count it" "$(grep -v "slower stringprep" "$tmp/clients.err")"
        return
    fi
    ok "$name: two clients join a room, one mentions the other, the metrics count it"
    for line in "alice@localhost/demo joined lobby@conference.localhost as alice" \
        "bob@localhost/demo joined lobby@conference.localhost as bob" \
        "alice@localhost/demo mentioned in lobby@conference.localhost as alice by bob"; do
        # the log reaches the demo's output through Prosody's buffer
        for _ in $(seq 100); do
            grep -qF "$line" "$out" && break
            sleep 0.1
        done
        if grep -qF "$line" "$out"; then
            ok "$name: the demo shows \"$line\""
        else
            not_ok "$name: the demo shows \"$line\"" "$(tail -n 5 "$out")"
        fi
    done
}

# demo NAME [setpriv args...]; with clients set, clients() runs too
demo() {
    local name=$1 out=$tmp/out.$1 i dir sid left
    shift
    : >"$out"
    chmod 666 "$out"
    # started from a script with &, the demo would ignore SIGINT (and could
    # not trap it): give it the disposition a terminal's job has
    setsid "$@" env --default-signal=INT "$root/scripts/run-demo.sh" >"$out" 2>&1 </dev/null &
    sid=$!
    for i in $(seq 300); do
        grep -q 'Ctrl-C stops the server' "$out" && break
        kill -0 "$sid" 2>/dev/null || break
        sleep 0.1
    done
    dir=$(sed -n "s/.*--config '\\(.*\\)\\/prosody\\.cfg\\.lua' shell\$/\\1/p" "$out")
    if grep -Eq '^  Prosody [0-9][^ ]* is running on 127\.0\.0\.1:[0-9]+ with mod_track_muc_joins\.$' "$out"; then
        ok "$name: the banner names Prosody's version and the port"
    else
        not_ok "$name: the banner names Prosody's version and the port" "$(head -n 5 "$out")"
    fi
    [ -n "$clients" ] && clients "$name" "$out"
    # Ctrl-C pressed twice: the second must not cut the cleanup short
    kill -INT -- -"$sid" 2>/dev/null
    sleep 0.05
    kill -INT -- -"$sid" 2>/dev/null
    for i in $(seq 100); do
        kill -0 "$sid" 2>/dev/null || break
        sleep 0.1
    done
    sleep 0.5
    # zombies (a parent that exited, not yet reaped) do not count
    ps -e -o pid=,sid=,stat=,args= >"$tmp/ps"
    left=$(awk -v s="$sid" -v d="$dir" \
        '$3 !~ /^Z/ && ($2 == s || (d != "" && index($0, d)))' "$tmp/ps")
    if [ -n "$dir" ] && [ -z "$left" ]; then
        ok "$name: Ctrl-C leaves nothing running"
    else
        not_ok "$name: Ctrl-C leaves nothing running" "$left"
        [ -n "$dir" ] && pkill -KILL -f "$dir/prosody.cfg.lua"
    fi
    if [ -n "$dir" ] && [ ! -e "$dir" ] && grep -q 'removed its files' "$out"; then
        ok "$name: Ctrl-C removes the demo's files"
    else
        not_ok "$name: Ctrl-C removes the demo's files" "$(tail -n 2 "$out")"
    fi
    [ -n "$dir" ] && case $dir in */mucjoins-run.*) rm -rf "$dir" ;; esac
}

if [ ! -f "$root/build/plugins/mod_track_muc_joins/mucjoins.so" ]; then
    echo "demo: build first (make all)"
    echo "demo: 0 passed, 1 failed"
    exit 1
fi
clients=1
demo "as $(id -un)"
clients=
nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    # only where nobody can reach the checkout (not under /root, 0700)
    # shellcheck disable=SC2086
    if $nobody sh -c 'test -x "$1/scripts/run-demo.sh" &&
        test -r "$1/build/plugins/mod_track_muc_joins/mucjoins.so"' _ "$root"; then
        # shellcheck disable=SC2086
        demo "as nobody" $nobody env HOME=/tmp
    else
        echo "skip as nobody: the checkout ($root) is not readable by nobody"
    fi
fi
summary demo

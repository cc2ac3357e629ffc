#!/bin/sh
# scripts/deps.sh against stubs (no package is installed, nothing outside a
# temporary folder is touched): the policy-rc.d that keeps Debian's prosody
# and ejabberd from starting is removed again, also when Ctrl-C interrupts
# the install; one that was already there is left alone; a server it
# installs is disabled at boot.
# Usage: tests/install/test-deps.sh   (any user; needs setsid)
# The last line is "deps: N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mucjoins-deps.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
# ok, not_ok, summary: the install tests' helpers
. "$root/scripts/install-test-lib.sh"

mkdir -p "$tmp/bin"
# id -u: root; dpkg-query: installed once apt-get "installed" it
cat >"$tmp/bin/id" <<'SH'
#!/bin/sh
echo 0
SH
cat >"$tmp/bin/dpkg-query" <<'SH'
#!/bin/sh
for a; do p=$a; done
grep -qx "$p" "$STUB_DIR/installed" 2>/dev/null && echo "install ok installed"
exit 0
SH
# apt-get install: records the packages; STUB_INTERRUPT=1: Ctrl-C (SIGINT
# to the whole process group, as a terminal sends it) in the middle
cat >"$tmp/bin/apt-get" <<'SH'
#!/bin/sh
[ "$1" = update ] && exit 0
[ -x "$MUCJOINS_POLICY_RC_D" ] && echo present >>"$STUB_DIR/policy-seen"
if [ "${STUB_INTERRUPT:-}" = 1 ]; then
    kill -INT 0
    sleep 5
fi
for a; do case $a in -*|install) ;; *) echo "$a" >>"$STUB_DIR/installed" ;; esac; done
exit 0
SH
for t in deb-systemd-helper update-rc.d; do
    printf '#!/bin/sh\necho "%s $*" >>"$STUB_DIR/disabled"\n' "$t" >"$tmp/bin/$t"
done
chmod +x "$tmp/bin"/*

# deps WHAT: runs scripts/deps.sh in its own session (process group),
# with SIGINT at its default: a shell cannot trap a signal ignored when
# it started, and a test run started in the background (`make test &`
# from a script) has SIGINT ignored (perl-base, in every Debian, resets it)
deps() {
    STUB_DIR=$tmp PATH="$tmp/bin:$PATH" MUCJOINS_POLICY_RC_D=$tmp/policy-rc.d \
        setsid -w perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or exit 127' \
        "$root/scripts/deps.sh" "$1" >"$tmp/out" 2>&1 </dev/null
    rc=$?
}
reset() { rm -f "$tmp/installed" "$tmp/policy-seen" "$tmp/disabled" "$tmp/policy-rc.d"; }

reset
deps run
if [ "$rc" -eq 0 ] && [ -s "$tmp/policy-seen" ] && [ ! -e "$tmp/policy-rc.d" ]; then
    ok "policy-rc.d in place during the install, removed after"
else
    not_ok "policy-rc.d in place during the install, removed after" "exit $rc: $(cat "$tmp/out")"
fi
if grep -qx 'deb-systemd-helper disable prosody.service' "$tmp/disabled" 2>/dev/null &&
    grep -qx 'update-rc.d prosody disable' "$tmp/disabled"; then
    ok "the prosody it installed is disabled at boot"
else
    not_ok "the prosody it installed is disabled at boot" "$(cat "$tmp/disabled" 2>/dev/null)"
fi

reset
STUB_INTERRUPT=1
export STUB_INTERRUPT
deps run
unset STUB_INTERRUPT
if [ "$rc" -ne 0 ] && [ -s "$tmp/policy-seen" ] && [ ! -e "$tmp/policy-rc.d" ]; then
    ok "Ctrl-C during the install: policy-rc.d removed"
else
    not_ok "Ctrl-C during the install: policy-rc.d removed" "exit $rc, policy-rc.d $(ls "$tmp/policy-rc.d" 2>&1)"
fi

reset
printf '#!/bin/sh\nexit 101\n# the admin'"'"'s\n' >"$tmp/policy-rc.d"
chmod +x "$tmp/policy-rc.d"
deps run
if [ "$rc" -eq 0 ] && grep -q "the admin's" "$tmp/policy-rc.d"; then
    ok "a policy-rc.d that was there stays"
else
    not_ok "a policy-rc.d that was there stays" "exit $rc"
fi

reset
printf 'prosody\n' >"$tmp/installed"
deps run
if [ "$rc" -eq 0 ] && ! grep -q prosody "$tmp/disabled" 2>/dev/null; then
    ok "a prosody that was installed before is left enabled"
else
    not_ok "a prosody that was installed before is left enabled" "$(cat "$tmp/disabled" 2>/dev/null)"
fi

summary deps

#!/bin/sh
# Install the Debian packages mucjoins needs, only those missing.
# Usage: scripts/deps.sh [build|test|run]   (test and run include build)
# The baseline is a minimal Debian 12 (debootstrap --variant=minbase) with
# build-essential and git: everything `make test` and `make run` call beyond
# that is listed here. test: clang-format (the format check), valgrind,
# zip/unzip and luarocks (the rock, prosodyctl install), python3 with
# slixmpp and pytest (integration tests), prosody (also the Lua binding
# test: util.stanza), lua-unbound (s2s tests), libclang-rt-14-dev (ASan,
# UBSan, libFuzzer). run: iproute2 (ss, free ports). nm, readelf, ldd, ar
# come with build-essential; diff, cmp, awk, tar, gzip, timeout with the
# minimal system.
# Installing Debian's prosody (or ejabberd) would start the system service
# on port 5222; a temporary policy-rc.d keeps it from starting (our tests
# and `make run` start their own servers on free loopback ports).
# ejabberd (test set: the ejabberd suite) is installed on its own: if it
# cannot be, the rest goes on and that suite reports itself skipped.
set -eu
what=${1:-build}
pkgs="make gcc clang libicu-dev libexpat1-dev liblua5.4-dev lua5.4 pkg-config"
case "$what" in
test) pkgs="$pkgs prosody lua-unbound python3 python3-slixmpp python3-pytest libclang-rt-14-dev valgrind luarocks zip unzip clang-format" ;;
run) pkgs="$pkgs prosody lua-unbound iproute2" ;;
esac
optional=""
[ "$what" = test ] && optional="ejabberd"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for p in $pkgs; do
    installed "$p" || missing="$missing $p"
done
for p in $optional; do
    installed "$p" && optional=""
done
[ -z "$missing" ] && [ -z "$optional" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    if [ -z "$missing" ]; then
        echo "deps: $optional is not installed (run as root to install it): the ejabberd suite will be skipped" >&2
        exit 0
    fi
    echo "deps: missing Debian packages:$missing${optional:+ $optional} (run as root, or install them)" >&2
    exit 1
fi
echo "deps: installing$missing${optional:+ $optional}" >&2
export DEBIAN_FRONTEND=noninteractive
# (MUCJOINS_POLICY_RC_D: tests/install/test-deps.sh only)
policy=${MUCJOINS_POLICY_RC_D:-/usr/sbin/policy-rc.d}
added_policy=""
# dash runs no EXIT trap when a signal kills it: Ctrl-C during apt-get
# would leave the policy-rc.d behind, denying every later service start
trap '[ -z "$added_policy" ] || rm -f "$policy"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
if [ ! -e "$policy" ]; then
    added_policy=1
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
fi
apt-get update -qq >/dev/null || apt-get update
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ -n "$optional" ] &&
    ! apt-get install -y -qq --no-install-recommends $optional >/dev/null; then
    echo "deps: could not install$optional: the ejabberd suite will be skipped" >&2
fi
# Not started now, and not at the next boot either: a server we installed
# for the tests or the demo must not come up with /etc's config (public
# c2s and s2s ports) when the machine restarts.
for svc in prosody ejabberd; do
    case " $missing $optional " in
    *" $svc "*) ;;
    *) continue ;;
    esac
    installed "$svc" || continue
    if command -v deb-systemd-helper >/dev/null 2>&1; then
        deb-systemd-helper disable "$svc.service" >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
    echo "deps: $svc installed, its system service not started and disabled at boot (systemctl enable $svc to use it)" >&2
done

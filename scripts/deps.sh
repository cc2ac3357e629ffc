#!/bin/sh
# Install the Debian packages mucjoins needs, only those missing.
# Usage: scripts/deps.sh [build|test|run]   (test and run include build)
# Installing Debian's prosody would start the system service on port 5222;
# a temporary policy-rc.d keeps it from starting (our tests and `make run`
# start their own server on free loopback ports).
set -eu
what=${1:-build}
pkgs="make gcc clang libicu-dev libexpat1-dev liblua5.4-dev lua5.4 pkg-config"
case "$what" in
test) pkgs="$pkgs prosody lua-unbound python3-slixmpp python3-pytest libclang-rt-14-dev valgrind luarocks" ;;
run) pkgs="$pkgs prosody lua-unbound iproute2" ;;
esac
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
added_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
fi
trap '[ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq >/dev/null || apt-get update
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

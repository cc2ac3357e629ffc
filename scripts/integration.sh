#!/bin/sh
# Integration tests: a real Prosody 0.12 (Debian's, started privately on free
# loopback ports, never the system service) with the module from
# build/plugins (run `make` first), real XMPP clients (Debian's slixmpp) and a
# scripted MUC component. Needs Debian's python3-slixmpp and python3-pytest,
# hence /usr/bin/python3 rather than whatever python3 is first on PATH.
#
# Usage: scripts/integration.sh [pytest args]   e.g. -k nick, -x, -v,
#        or test files/ids (then only those run).
# MUCJOINS_MODULE_DIR=<dir holding mod_track_muc_joins/> tests another build;
# MUCJOINS_PROSODY=<path of prosody> another Prosody (its prosodyctl next to it,
# or MUCJOINS_PROSODYCTL), e.g. /opt/prosody13/bin/prosody;
# MUCJOINS_IT_KEEP=1 keeps each server's temp dir (config, log);
# MUCJOINS_IT_LOG_LINES=N lines of Prosody log attached to a failure (300).
# The last line printed is pytest's own summary; the exit code is pytest's.
cd "$(dirname "$0")/.." || exit 2
# the ejabberd suite runs on its own (scripts/ejabberd-tests.sh, make
# test-ejabberd) unless named
paths="tests/integration --ignore=tests/integration/test_ejabberd.py"
for a in "$@"; do
    case "$a" in tests/integration*) paths="" ;; esac
done
export PYTHONDONTWRITEBYTECODE=1
# shellcheck disable=SC2086
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider $paths "$@"

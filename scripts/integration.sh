#!/bin/sh
# Integration tests: a real Prosody 0.12 (Debian's, started privately on free
# loopback ports, never the system service) with the module from
# build/plugins (run `make` first), real XMPP clients (Debian's slixmpp) and a
# scripted MUC component. Needs Debian's python3-slixmpp and python3-pytest,
# hence /usr/bin/python3 rather than whatever python3 is first on PATH.
# Extra arguments go to pytest (e.g. -k nick, -x, -v).
# MUCJOINS_MODULE_DIR=<dir with mod_track_muc_joins/> tests another build.
# The last line printed is pytest's own summary; the exit code is pytest's.
cd "$(dirname "$0")/.." || exit 2
PYTHONDONTWRITEBYTECODE=1 exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"

#!/bin/sh
# Only the intended symbols leave the libraries: mj_* from libmucjoins.so,
# luaopen_mucjoins from the Lua module.
set -eu
cd "$(dirname "$0")/.."
bad=$(nm -D --defined-only build/libmucjoins.so | awk '{print $3}' | grep -v '^mj_' || true)
if [ -n "$bad" ]; then
    echo "libmucjoins.so exports unexpected symbols:"; echo "$bad"; exit 1
fi
bad=$(nm -D --defined-only build/plugins/mod_track_muc_joins/mucjoins.so | awk '{print $3}' | grep -v '^luaopen_mucjoins$' || true)
if [ -n "$bad" ]; then
    echo "mucjoins.so exports unexpected symbols:"; echo "$bad"; exit 1
fi
if ldd build/plugins/mod_track_muc_joins/mucjoins.so | grep -q liblua; then
    echo "mucjoins.so links liblua (Prosody's lua5.4 provides the symbols)"; exit 1
fi
echo "exported: $(nm -D --defined-only build/libmucjoins.so | grep -c ' T mj_') mj_* functions; luaopen_mucjoins"

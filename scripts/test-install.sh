#!/bin/sh
# Test of `make install` / `make uninstall` (README.md, "Install with make
# install"): install into a temp DESTDIR with PREFIX=/usr/local, check every
# file, build tests/install/consumer.c against the installed library with
# pkg-config (shared, static, and with --define-prefix) and run it, run the
# installed replay tool, have a private Prosody load the installed plugin
# folder, then uninstall and check that nothing is left.
# Run from anywhere, as root (Prosody's test config sets run_as_root).
# One line per check; the last line is "install: N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
. scripts/install-test-lib.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mucjoins-install.XXXXXX") || exit 2
trap 'kill_prosody; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
dest=$tmp/dest
prefix=/usr/local
stage=$dest$prefix
version=$(header_version "$root")
cc=${CC:-cc}
command -v "$cc" >/dev/null || cc=gcc

if timeout "$(left)" make -s install DESTDIR="$dest" PREFIX="$prefix" >"$tmp/make.log" 2>&1; then
    ok "make install DESTDIR=... PREFIX=$prefix"
else
    not_ok "make install DESTDIR=... PREFIX=$prefix" "$(tail -n 5 "$tmp/make.log" | tr '\n' ' ')"
    summary install
    exit 1
fi

# --- the files ----------------------------------------------------------
plugin=lib/prosody/modules/mod_track_muc_joins
files="bin/mucjoins-replay share/man/man1/mucjoins-replay.1 include/mucjoins.h
lib/libmucjoins.a lib/libmucjoins.so.$version lib/pkgconfig/mucjoins.pc
$plugin/mod_track_muc_joins.lua $plugin/mucjoins.so $plugin/README.markdown"
for f in lua/*.lib.lua; do
    [ -e "$f" ] && files="$files $plugin/$(basename "$f")"
done
missing=""
for f in $files; do
    [ -f "$stage/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
    ok "installed: $(echo $files | wc -w) files under $prefix"
else
    not_ok "installed files" "missing:$missing"
fi
check "lib/libmucjoins.so.0 -> libmucjoins.so.$version" \
    test "$(readlink "$stage/lib/libmucjoins.so.0")" = "libmucjoins.so.$version"
check "lib/libmucjoins.so -> libmucjoins.so.0" \
    test "$(readlink "$stage/lib/libmucjoins.so")" = "libmucjoins.so.0"
soname=$(readelf -d "$stage/lib/libmucjoins.so.$version" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
check "SONAME is libmucjoins.so.0 (got '$soname')" test "$soname" = libmucjoins.so.0
check "the installed header is include/mucjoins.h" cmp "$stage/include/mucjoins.h" include/mucjoins.h
check "the man page says mucjoins $version" grep -q "^\.TH .*\"mucjoins $version\"" \
    "$stage/share/man/man1/mucjoins-replay.1"
check "the plugin's mod_track_muc_joins.lua is lua/'s" cmp "$stage/$plugin/mod_track_muc_joins.lua" \
    lua/mod_track_muc_joins.lua

# --- pkg-config, then a program built and run against the installed library
export PKG_CONFIG_PATH="$stage/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$dest"
v=$(pkg-config --modversion mucjoins 2>&1)
check "pkg-config --modversion mucjoins is $version (got '$v')" test "$v" = "$version"
# has_flags FLAGS: the install's include and lib dirs and -lmucjoins are in
# FLAGS (icu-uc's own -I comes along: pkgconf adds Requires.private cflags)
has_flags() {
    case " $1 " in *" -I$stage/include "*) ;; *) return 1 ;; esac
    case " $1 " in *" -L$stage/lib "*) ;; *) return 1 ;; esac
    case " $1 " in *" -lmucjoins "*) ;; *) return 1 ;; esac
}
flags=$(pkg-config --cflags --libs mucjoins 2>&1)
check "pkg-config --cflags --libs mucjoins: -I/-L in the install, -lmucjoins" has_flags "$flags"
check "pkg-config --static --libs includes icu-uc (Requires.private)" \
    sh -c "pkg-config --static --libs mucjoins | grep -q -- -licuuc"
# shellcheck disable=SC2086
if out=$("$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer" tests/install/consumer.c \
    $(pkg-config --cflags --libs mucjoins) 2>&1); then
    ok "cc consumer.c \$(pkg-config --cflags --libs mucjoins)"
else
    not_ok "cc consumer.c \$(pkg-config --cflags --libs mucjoins)" "$out"
fi
if [ -x "$tmp/consumer" ]; then
    check "consumer resolves libmucjoins.so.0 in the install" sh -c \
        "LD_LIBRARY_PATH='$stage/lib' ldd '$tmp/consumer' | grep -q 'libmucjoins.so.0 => $stage/lib/libmucjoins.so.0'"
    if out=$(LD_LIBRARY_PATH="$stage/lib" "$tmp/consumer" 2>&1); then
        ok "consumer runs: $(echo "$out" | head -n 1)"
    else
        not_ok "consumer runs" "$out"
    fi
fi
# static: the same flags with --static, libmucjoins.a instead of the .so
static=$(pkg-config --static --libs mucjoins | sed 's/-lmucjoins/-l:libmucjoins.a/')
# shellcheck disable=SC2086
if out=$("$cc" -std=c11 -o "$tmp/consumer-static" tests/install/consumer.c \
    $(pkg-config --cflags mucjoins) $static 2>&1) && "$tmp/consumer-static" >/dev/null 2>&1 &&
    ! ldd "$tmp/consumer-static" | grep -q libmucjoins; then
    ok "static: cc consumer.c -l:libmucjoins.a \$(pkg-config --static --libs), runs"
else
    not_ok "static: cc consumer.c -l:libmucjoins.a \$(pkg-config --static --libs), runs" "$out"
fi
# --define-prefix: the .pc relocated to where it lies, no sysroot
unset PKG_CONFIG_SYSROOT_DIR
flags=$(pkg-config --define-prefix --cflags --libs mucjoins 2>&1)
check "pkg-config --define-prefix (no sysroot): -I/-L in the install" has_flags "$flags"
unset PKG_CONFIG_PATH

# --- the replay tool and the plugin folder --------------------------------
v=$("$stage/bin/mucjoins-replay" --version 2>&1)
check "mucjoins-replay --version: $v" test "$v" = "mucjoins-replay $version"
ex=$(ls examples/*.xml 2>/dev/null | head -n 1)
if [ -n "$ex" ]; then
    check "installed mucjoins-replay $(basename "$ex") prints its .expected" \
        sh -c "'$stage/bin/mucjoins-replay' '$ex' | cmp -s - '${ex%.xml}.expected'"
fi
prosody_config "$tmp/prosody.cfg.lua" "$tmp/prosody" true \
    "plugin_paths = { \"$stage/lib/prosody/modules\" }"
prosody_load "plugin folder $prefix/lib/prosody/modules" "$tmp/prosody.cfg.lua" "$tmp/prosody" "$version"

# --- installing again over a loaded plugin ---------------------------------
# A running Prosody has mucjoins.so mapped: rewriting that file in place
# (cp over it) crashes it (SIGSEGV at its next tick); `make install` must
# put a new file there instead (README.md, "Upgrading"). Holding the old
# file open keeps its inode from being reused.
so=$stage/$plugin/mucjoins.so
if exec 3<"$so"; then
    before=$(stat -c %i "$so")
    if timeout "$(left)" make -s install DESTDIR="$dest" PREFIX="$prefix" >"$tmp/make.log" 2>&1; then
        check "make install again replaces mucjoins.so by a new file (not rewritten in place)" \
            test "$(stat -c %i "$so")" != "$before"
    else
        not_ok "make install again" "$(tail -n 5 "$tmp/make.log" | tr '\n' ' ')"
    fi
    exec 3<&-
fi

# --- uninstall ---------------------------------------------------------------
if timeout "$(left)" make -s uninstall DESTDIR="$dest" PREFIX="$prefix" >"$tmp/make.log" 2>&1; then
    ok "make uninstall DESTDIR=... PREFIX=$prefix"
else
    not_ok "make uninstall DESTDIR=... PREFIX=$prefix" "$(tail -n 5 "$tmp/make.log" | tr '\n' ' ')"
fi
left=$(cd "$dest" && find . ! -type d | head -n 5 | tr '\n' ' ')
check "uninstall leaves no file${left:+ (left: $left)}" test -z "$left"
check "uninstall removes the plugin folder" test ! -e "$stage/$plugin"

summary install

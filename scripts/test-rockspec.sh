#!/bin/sh
# Test of the LuaRocks route (README.md, "Install with prosodyctl"), offline:
# build the rock from this checkout (scripts/make-rock.sh, as `make rock`),
# `prosodyctl install` it into a temp installer_plugin_path the way Debian
# 12's prosodyctl does it for an operator (as the prosody user, with
# Debian's luarocks), start a real Prosody that finds the module only there
# and check it loads; `prosodyctl remove`; then the same with the rockspec
# whose source.url is the local archive. Also: one version everywhere.
# Needs root, Debian's prosody and luarocks (scripts/deps.sh test).
# One line per check; the last line is "rockspec: N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
. scripts/install-test-lib.sh
version=$(header_version "$root")
name=mucjoins-$version

for tool in luarocks prosodyctl prosody; do
    if ! command -v $tool >/dev/null; then
        not_ok "$tool is installed" "missing (scripts/deps.sh test installs it)"
        summary rockspec
        exit 1
    fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mucjoins-rock.XXXXXX") || exit 2
trap 'kill_prosody; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
chmod 755 "$tmp" # prosodyctl runs luarocks as the prosody user

# --- one version -----------------------------------------------------------
spec=rockspec/$name-1.rockspec
check "$spec exists (MJ_VERSION $version)" test -f "$spec"
check "$spec says version = \"$version-1\"" grep -q "^version = \"$version-1\"" "$spec"
check "CHANGELOG.md has an entry for $version" grep -q "^## \[\?$version\]\?" CHANGELOG.md

# --- the rock --------------------------------------------------------------
if timeout "$(left)" scripts/make-rock.sh "$version" "$tmp/rock" >"$tmp/make-rock.log" 2>&1; then
    ok "make-rock.sh (make rock): $name-1.src.rock, $name-1.rockspec"
else
    not_ok "make-rock.sh (make rock)" "$(tail -n 3 "$tmp/make-rock.log" | tr '\n' ' ')"
    summary rockspec
    exit 1
fi
check "the .src.rock holds the rockspec and $name.tar.gz" sh -c \
    "unzip -Z1 '$tmp/rock/$name-1.src.rock' | sort | tr '\n' ' ' | grep -qx '$name-1.rockspec $name.tar.gz '"
check "the archive holds $name/lua/mod_track_muc_joins.lua" sh -c \
    "tar tzf '$tmp/rock/$name.tar.gz' | grep -qx '$name/lua/mod_track_muc_joins.lua'"
chmod -R a+rX "$tmp/rock"
# with a file:// source.url luarocks unpacks the archive next to it: the
# prosody user must be able to write there
chown -R prosody:prosody "$tmp/rock" 2>/dev/null || chmod -R a+w "$tmp/rock"

tree=$tmp/plugins # installer_plugin_path
mkdir -p "$tree"
chown prosody:prosody "$tree" 2>/dev/null || chmod 777 "$tree"
# prosodyctl: without run_as_root it switches to the prosody user (as for
# an operator); prosody itself, started here as root, needs run_as_root.
prosody_config "$tmp/ctl.cfg.lua" "$tmp/prosody" false "installer_plugin_path = \"$tree\""
prosody_config "$tmp/run.cfg.lua" "$tmp/prosody" true "installer_plugin_path = \"$tree\""
chmod -R a+rX "$tmp/prosody"
deployed=$tree/share/lua/5.4/mod_track_muc_joins

# install_route NAME FILE: prosodyctl install FILE, check the files, load
# it in Prosody, prosodyctl remove
install_route() {
    _route=$1 _file=$2
    if (cd / && timeout "$(left 150)" prosodyctl --config "$tmp/ctl.cfg.lua" install "$_file") \
        >"$tmp/install.log" 2>&1; then
        ok "$_route: prosodyctl install $(basename "$_file")"
    else
        not_ok "$_route: prosodyctl install $(basename "$_file")" \
            "$(grep -v '^gcc' "$tmp/install.log" | tail -n 5 | tr '\n' ' ')"
        return
    fi
    _missing=""
    for _f in mod_track_muc_joins.lua mucjoins.so README.markdown $(cd lua && ls ./*.lib.lua 2>/dev/null); do
        [ -f "$deployed/$(basename "$_f")" ] || _missing="$_missing $(basename "$_f")"
    done
    check "$_route: share/lua/5.4/mod_track_muc_joins/ holds the module and mucjoins.so${_missing:+ (missing:$_missing)}" \
        test -z "$_missing"
    check "$_route: prosodyctl list shows mucjoins $version-1" sh -c \
        "cd / && timeout $(left 15) prosodyctl --config '$tmp/ctl.cfg.lua' list 2>&1 | grep -A1 '^mucjoins' | grep -q '$version-1'"
    # plugin_paths not set: the module can only come from the installer path
    prosody_load "$_route" "$tmp/run.cfg.lua" "$tmp/prosody" "$version"
    if [ -n "${IT_CHECK:-}" ]; then
        if MUCJOINS_MODULE_DIR=$tree/share/lua/5.4 timeout "$(left 20)" scripts/integration.sh $IT_CHECK \
            >"$tmp/it.log" 2>&1; then
            ok "$_route: the installed module passes $IT_CHECK (real clients)"
        else
            not_ok "$_route: the installed module passes $IT_CHECK (real clients)" "$(tail -n 3 "$tmp/it.log" | tr '\n' ' ')"
        fi
        IT_CHECK=""
    fi
    (cd / && timeout "$(left 15)" prosodyctl --config "$tmp/ctl.cfg.lua" remove mucjoins) >"$tmp/remove.log" 2>&1
    check "$_route: prosodyctl remove mucjoins removes the module" test ! -e "$deployed"
}

# one end-to-end check with real XMPP clients on the installed rock
t=tests/integration/test_real_muc.py
IT_CHECK="$t::test_join_records_room_and_nick $t::test_nick_rewritten_by_real_muc_status_210"
[ -f "$t" ] || IT_CHECK=""
install_route ".src.rock" "$tmp/rock/$name-1.src.rock"
install_route "rockspec (file:// source)" "$tmp/rock/$name-1.rockspec"

summary rockspec

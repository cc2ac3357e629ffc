#!/bin/sh
# Build the LuaRocks artefacts from this checkout, offline (`make rock`).
# Usage: scripts/make-rock.sh VERSION OUTDIR
# Writes into OUTDIR (emptied first):
#   mucjoins-VERSION.tar.gz        the source: the files git knows about
#                                  (tracked, or untracked and not ignored)
#                                  under mucjoins-VERSION/
#   mucjoins-VERSION-1.src.rock    rockspec/mucjoins-VERSION-1.rockspec and
#                                  that archive: installs on any machine,
#                                  without network
#   mucjoins-VERSION-1.rockspec    the same rockspec with source.url set to
#                                  the archive's absolute file:// path
# Then `prosodyctl install /abs/path/OUTDIR/mucjoins-VERSION-1.src.rock`
# (prosodyctl changes directory to Prosody's data path: absolute paths).
set -eu
cd "$(dirname "$0")/.."
version=${1:?usage: make-rock.sh VERSION OUTDIR}
out=${2:?usage: make-rock.sh VERSION OUTDIR}
name=mucjoins-$version
spec=rockspec/$name-1.rockspec

if [ ! -f "$spec" ]; then
    echo "make-rock: $spec is missing: MJ_VERSION in include/mucjoins.h is $version;" >&2
    echo "make-rock: copy the previous rockspec to that name and set its version and source" >&2
    exit 1
fi
if ! grep -q "^version = \"$version-1\"" "$spec"; then
    echo "make-rock: $spec does not say version = \"$version-1\"" >&2
    exit 1
fi
url=$(sed -n 's/^ *url = "\([^"]*\)".*/\1/p' "$spec" | head -n 1)
case "$url" in
*/"$name.tar.gz" | "$name.tar.gz") ;;
*)
    echo "make-rock: source.url of $spec must end in $name.tar.gz (it is \"$url\")" >&2
    exit 1
    ;;
esac
for tool in tar gzip zip; do
    command -v "$tool" >/dev/null || {
        echo "make-rock: $tool is needed (Debian package $tool)" >&2
        exit 1
    }
done

rm -rf "$out"
mkdir -p "$out"
outabs=$(cd "$out" && pwd)
list=$outabs/.files
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard |
        while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done | LC_ALL=C sort >"$list"
else
    find . -path ./build -prune -o -path ./.git -prune -o -type f -print |
        sed "s,^\./,," | LC_ALL=C sort >"$list"
fi
# reproducible: fixed owner, order and time (the last commit's, if any)
mtime=$(git log -1 --format=%cI 2>/dev/null || echo 2025-01-01)
tar --create --gzip --file "$outabs/$name.tar.gz" --no-recursion \
    --transform "flags=r;s,^,$name/," --sort=name --owner=0 --group=0 \
    --numeric-owner --mtime="$mtime" --files-from "$list"
rm -f "$list"

cp "$spec" "$outabs/"
(cd "$outabs" && zip -q -X "$name-1.src.rock" "$name-1.rockspec" "$name.tar.gz")
sed "s|^\( *url = \)\"[^\"]*\"|\1\"file://$outabs/$name.tar.gz\"|" "$spec" >"$outabs/$name-1.rockspec"

echo "rock: $outabs/$name-1.src.rock"
echo "rock: $outabs/$name-1.rockspec (source.url file://$outabs/$name.tar.gz)"

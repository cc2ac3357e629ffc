#!/bin/bash
# The core's object files depend on each other in one direction only:
# no cycle in the graph "A.o uses a symbol B.o defines" over build/obj/*.o
# (docs/design.md, "Layers", draws the intended order).
#
# And each header of src/ is included by some file of src/ (no umbrella
# header for the tests).
#
# Usage, from anywhere: scripts/check-layers.sh [OBJDIR]  (default build/obj,
# built by `make all`). Prints each object's dependencies, then either
# "layers: N objects, no cycle" (exit 0) or the cycle found, as
# "cycle: a.o -> b.o -> a.o" (exit 1). Exit 2 when nothing is built.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
dir=${1:-build/obj}
shopt -s nullglob
# the objects of the sources there are (a stale object of a removed
# source would only add noise)
objs=()
for o in "$dir"/*.o; do
    s=src/$(basename "${o%.o}").c
    [ -f "$s" ] && objs+=("$o")
done
if [ ${#objs[@]} -eq 0 ]; then
    echo "check-layers: no object files in $dir (run make all first)" >&2
    exit 2
fi

# "obj D sym" for each defined global symbol, "obj U sym" for each undefined
for o in "${objs[@]}"; do
    nm "$o" | awk -v o="$(basename "$o")" '
        NF == 2 && $1 == "U" { print o, "U", $2; next }
        NF == 3 && $2 ~ /^[A-TV-Z]$/ { print o, "D", $3 }'
done | awk '
    $2 == "D" { def[$3] = $1; objs[$1] = 1; next }
    { use[NR] = $1 " " $3; objs[$1] = 1 }
    END {
        for (i in use) {
            split(use[i], u, " ")
            d = def[u[2]]
            if (d != "" && d != u[1] && !((u[1], d) in edge)) {
                edge[u[1], d] = 1
                deps[u[1]] = deps[u[1]] " " d
            }
        }
        n = 0
        for (o in objs) names[++n] = o
        # sort the names (stable output)
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && names[j-1] > names[j]; j--) {
                t = names[j]; names[j] = names[j-1]; names[j-1] = t
            }
        for (i = 1; i <= n; i++) {
            m = split(deps[names[i]], ds, " ")
            for (a = 2; a <= m; a++)
                for (b = a; b > 1 && ds[b-1] > ds[b]; b--) {
                    t = ds[b]; ds[b] = ds[b-1]; ds[b-1] = t
                }
            line = ""
            for (a = 1; a <= m; a++) line = line " " ds[a]
            sorted[names[i]] = line
            printf "%s ->%s\n", names[i], (line == "" ? " (nothing)" : line)
        }
        # depth-first search; colour 1: on the path, 2: done
        for (i = 1; i <= n; i++)
            if (!colour[names[i]] && visit(names[i], 0)) {
                printf "cycle:"
                for (k = start; k <= top; k++) printf " %s ->", path[k]
                printf " %s\n", path[start]
                exit 1
            }
        printf "layers: %d objects, no cycle\n", n
    }
    function visit(o, depth,    m, ds, a, k) {
        colour[o] = 1
        top = depth; path[depth] = o
        m = split(sorted[o], ds, " ")
        for (a = 1; a <= m; a++) {
            if (colour[ds[a]] == 1) {
                for (k = 0; k <= depth; k++)
                    if (path[k] == ds[a]) start = k
                top = depth
                return 1
            }
            if (!colour[ds[a]] && visit(ds[a], depth + 1)) return 1
            top = depth; path[depth] = o
        }
        colour[o] = 2
        return 0
    }' || exit 1

# Each header of src/ is a layer's own header, included by some file of
# src/: a header only the tests include would be an umbrella over the
# layers (a test includes the headers of the layers it looks into).
bad=0
for h in src/*.h; do
    b=$(basename "$h")
    if ! grep -q "^#include \"$b\"" src/*.c src/*.h; then
        echo "header $h: no file of src/ includes it" >&2
        bad=1
    fi
done
[ "$bad" -eq 0 ] || exit 1
echo "headers: each included by src/"

#!/bin/bash
# The docs point only at files that exist in this repository.
#
# Usage, from anywhere: scripts/check-links.sh [FILE...]
# (default: README.md, docs/*.md, lua/README.markdown,
# tests/integration/README.md, bench/RESULTS.md, CHANGELOG.md)
#
# Checked, outside fenced code blocks:
#   * Markdown links, inline `[text](target)` and reference `[id]: target`,
#     relative to the file (URLs with a scheme and pure #anchors are not
#     checked): the target must exist and stay inside the repository;
#   * backticked paths, `like/this.c`, relative to the repository root (or,
#     failing that, to the file's folder): any word of a code span whose
#     first component is a top-level entry of the repository must exist
#     (globs and <placeholders> must match at least one file; a trailing
#     :LINE or ::test is ignored). build/ is generated, so not checked;
#   * a link that leaves the repository, and any backticked path starting
#     with ../, fail: readers who clone the project have nothing there.
# And in every tracked file (code comments, tests, examples included):
#   * no path to the developers' machines, no name of their private notes
#     (SPEC.md and the like);
#   * no citation of that private reference (the word SPEC on its own:
#     "SPEC 2", "SPEC §5", "the SPEC"): cite docs/semantics.md §N, whose
#     sections are numbered the same way.
# And in the FILEs, in a clone with its whole history: every commit id they
# cite (7 to 12 hex digits) is an ancestor of HEAD.
# One line per problem ("FILE:LINE: ..."); the last line is
# "links: N checked, N broken". Exit 1 if anything is broken.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

if [ $# -eq 0 ]; then
    set -- README.md docs/*.md lua/README.markdown tests/integration/README.md \
        bench/RESULTS.md CHANGELOG.md
fi

# top-level entries of the repository (what git tracks, else what is here),
# never build/
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    tops=$(git ls-files --cached --others --exclude-standard | sed 's,/.*,,' | sort -u)
else
    tops=$(ls -A)
fi
tops=$(printf '%s\n' "$tops" | grep -vx -e build -e .git)

checked=0
broken=0
bad() {
    echo "$1:$2: $3"
    broken=$((broken + 1))
}

# normalise PATH (relative, may hold ./ and ../) -> prints it, or fails
# when it climbs above the repository root
normalise() {
    local IFS=/ part parts out=()
    read -ra parts <<<"$1" # split on /, never globbed
    for part in "${parts[@]}"; do
        case $part in
        '' | .) ;;
        ..)
            [ ${#out[@]} -eq 0 ] && return 1
            unset 'out[${#out[@]}-1]'
            ;;
        *) out+=("$part") ;;
        esac
    done
    printf '%s' "${out[*]}"
}

# exists PATH: a file or folder, or a glob (<placeholder> = *) matching one
exists() {
    local p=$1 m
    case $p in
    *'<'*'>'* | *'*'* | *'?'* | *'['*)
        p=$(printf '%s' "$p" | sed 's/<[^>]*>/*/g')
        for m in $p; do
            [ -e "$m" ] && return 0
        done
        return 1
        ;;
    esac
    [ -e "$p" ]
}

is_top() {
    case $'\n'"$tops"$'\n' in
    *$'\n'"$1"$'\n'*) return 0 ;;
    esac
    return 1
}

# check_link FILE LINE TARGET: a Markdown link target
check_link() {
    local file=$1 line=$2 t=$3 dir n
    t=${t%% *} # drop a "title"
    t=${t#<}
    t=${t%>}
    case $t in
    '' | '#'* | *://* | mailto:* | xmpp:*) return ;;
    esac
    t=${t%%#*}
    checked=$((checked + 1))
    dir=$(dirname "$file")
    if ! n=$(normalise "$dir/$t") || [ -z "$n" ]; then
        bad "$file" "$line" "link to $t leaves the repository"
    elif ! exists "$n"; then
        bad "$file" "$line" "link to $t: no such file in the repository"
    fi
}

# check_word FILE LINE WORD: one word of a code span
check_word() {
    local file=$1 line=$2 w=$3 dir first n
    # surrounding punctuation, a trailing :LINE or ::test id
    w=${w#[(\"\']}
    w=${w%[),.;\"\']}
    w=${w%%::*}
    [[ $w =~ ^(.*):[0-9]+(-[0-9]+)?$ ]] && w=${BASH_REMATCH[1]}
    case $w in
    ../*) # backticked paths are read from the repository root
        checked=$((checked + 1))
        bad "$file" "$line" "\`$w\` is outside the repository"
        return
        ;;
    */* | *.md | *.markdown | Makefile | LICENSE) ;;
    *) return ;;
    esac
    case $w in
    *...* | *'$'* | *=* | /* | ./* | *://* | *'{'*) return ;;
    esac
    first=${w%%/*}
    dir=$(dirname "$file")
    if is_top "$first"; then
        checked=$((checked + 1))
        exists "$w" || bad "$file" "$line" "\`$w\`: no such file in the repository"
    elif [ "$dir" != . ] && [ -e "$dir/$first" ] && [ "$first" != "$w" ]; then
        checked=$((checked + 1))
        exists "$dir/$w" || bad "$file" "$line" "\`$w\` (in $dir/): no such file in the repository"
    elif [ "$first" = "$w" ] && { [ -e "$w" ] || [ -e "$dir/$w" ]; }; then
        checked=$((checked + 1)) # a top-level file named alone
    fi
}

# One pass of awk over each file: outside fenced code blocks, print
# "LINE<TAB>W<TAB>WORD" for each word of a code span that may be a path and
# "LINE<TAB>L<TAB>TARGET" for each Markdown link target.
extract() {
    awk '
    function words(span,    n, i, a) {
        n = split(span, a, /[ \t]+/)
        for (i = 1; i <= n; i++)
            if (a[i] ~ /\// || a[i] ~ /\.(md|markdown)$/ || a[i] == "Makefile" || a[i] == "LICENSE")
                print NR "\tW\t" a[i]
    }
    /^[ \t]*(```|~~~)/ {
        f = substr($0, match($0, /(```|~~~)/), 3)
        if (fence == "") fence = f; else if (fence == f) fence = ""
        next
    }
    fence != "" { next }
    {
        line = $0
        plain = ""
        while (match(line, /`[^`]+`/)) {
            words(substr(line, RSTART + 1, RLENGTH - 2))
            plain = plain substr(line, 1, RSTART - 1) " "
            line = substr(line, RSTART + RLENGTH)
        }
        plain = plain line
        rest = plain
        while (match(rest, /\]\([^)]*\)/)) {
            print NR "\tL\t" substr(rest, RSTART + 2, RLENGTH - 3)
            rest = substr(rest, RSTART + RLENGTH)
        }
        if (match(plain, /^[ ]?[ ]?[ ]?\[[^]]+\]:[ \t]*[^ \t]+/)) {
            t = substr(plain, RSTART, RLENGTH)
            sub(/^[^]]*\]:[ \t]*/, "", t)
            print NR "\tL\t" t
        }
    }' "$1"
}

for file in "$@"; do
    if [ ! -f "$file" ]; then
        bad "$file" 0 "no such file"
        continue
    fi
    while IFS=$'\t' read -r lineno kind item; do
        if [ "$kind" = L ]; then
            check_link "$file" "$lineno" "$item"
        else
            check_word "$file" "$lineno" "$item"
        fi
    done < <(extract "$file")
done
# no tracked file (code comments included) names a place outside the
# repository that only the developers' machines have
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    while IFS=: read -r f l _; do
        bad "$f" "$l" "points outside the repository"
    done < <(git grep -n -I -E '/work/(shared|main)|\.\./shared/|(SPEC|STYLE|PROSODY-VERSIONS|S2S-ON-LOOPBACK)\.md' \
        -- . ':!scripts/check-links.sh')
    checked=$((checked + 1))
    # ... nor cites the developers' private reference document: the word
    # SPEC on its own ("SPEC 2", "SPEC §5", "SPEC sections 2 and 3", "the
    # SPEC", "SPEC review"; SPEC.md is caught above); SPECIAL, MJ_SPEC_x,
    # rockspec and the like are other words
    while IFS=: read -r f l _; do
        bad "$f" "$l" "cites SPEC, a document outside the repository: cite docs/semantics.md §N"
    done < <(git grep -n -I -E '(^|[^A-Za-z0-9_])SPEC([^A-Za-z0-9_.]|\.([^m]|$)|$)' \
        -- . ':!scripts/check-links.sh')
    checked=$((checked + 1))
    # every commit the docs cite (an abbreviated id: 7 to 12 hex digits,
    # letters and digits both) is in this history: a branch rebased after
    # its docs cited one of its own commits leaves an id nobody can look
    # up. Commits of other repositories the docs cite are listed here.
    foreign_commits=" b439ad72f " # Prosody's 13.0 branch (docs/prosody-versions.md)
    if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = false ]; then
        for file in "$@"; do
            [ -f "$file" ] || continue
            while IFS=$'\t' read -r lineno id; do
                case $foreign_commits in *" $id "*) continue ;; esac
                checked=$((checked + 1))
                if ! git rev-parse -q --verify "$id^{commit}" >/dev/null ||
                    ! git merge-base --is-ancestor "$id" HEAD 2>/dev/null; then
                    bad "$file" "$lineno" "cites commit $id, which is not in this branch's history (rebased since?)"
                fi
            done < <(awk '
            /^[ \t]*(```|~~~)/ { fence = !fence; next }
            fence { next }
            {
                n = split($0, w, /[^A-Za-z0-9_]+/)
                for (i = 1; i <= n; i++)
                    if (w[i] ~ /^[0-9a-f]+$/ && length(w[i]) >= 7 && length(w[i]) <= 12 &&
                        w[i] ~ /[a-f]/ && w[i] ~ /[0-9]/)
                        print NR "\t" w[i]
            }' "$file")
        done
    fi
fi
echo "links: $checked checked, $broken broken"
[ "$broken" -eq 0 ]

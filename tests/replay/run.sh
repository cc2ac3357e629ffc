#!/bin/sh
# Tests of the mucjoins-replay tool: every examples/*.xml trace must print
# exactly its .expected file, and bad input must be refused cleanly (exit 2,
# a message that names the file and line), never crash.
# Usage, from the repository root: tests/replay/run.sh build/mucjoins-replay
# One line per check; the last line is "replay: N passed, N failed".
set -u
tool=${1:-build/mucjoins-replay}
root=$(cd "$(dirname "$0")/../.." && pwd)
examples=$root/examples
header=$root/include/mucjoins.h
tmp=$(mktemp -d "${TMPDIR:-/tmp}/replay-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0

ok() {
    passed=$((passed + 1))
    echo "ok   $1"
}

not_ok() {
    failed=$((failed + 1))
    echo "FAIL $1: $2"
}

if [ ! -x "$tool" ]; then
    echo "replay: $tool is not an executable (build it: make $tool)" >&2
    echo "replay: 0 passed, 1 failed"
    exit 1
fi

# run NAME ARGS...: runs the tool, output in $tmp/out, $tmp/err, code in $rc
run() {
    "$tool" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
}

# expect_error NAME CODE PATTERN FILE [ARGS...]: exit CODE, and stderr
# matching the grep -E PATTERN (file name and line:column included).
expect_error() {
    name=$1 code=$2 pattern=$3
    shift 3
    run "$@"
    if [ "$rc" -ne "$code" ]; then
        not_ok "$name" "exit $rc, expected $code ($(head -c 200 "$tmp/err"))"
    elif ! grep -Eq -- "$pattern" "$tmp/err"; then
        not_ok "$name" "stderr does not match '$pattern': $(head -c 200 "$tmp/err")"
    elif [ "$code" -eq 2 ] && [ -s "$tmp/out" ] && grep -q '^final state' "$tmp/out"; then
        not_ok "$name" "printed a final table despite the error"
    else
        ok "$name"
    fi
}

# --- examples: exact output ------------------------------------------------
for xml in "$examples"/*.xml; do
    [ -e "$xml" ] || continue
    ex=$(basename "$xml" .xml)
    expected=$examples/$ex.expected
    if [ ! -f "$expected" ]; then
        not_ok "example $ex" "no $ex.expected"
        continue
    fi
    run "$xml"
    if [ "$rc" -ne 0 ]; then
        not_ok "example $ex" "exit $rc: $(head -c 200 "$tmp/err")"
    elif ! diff -u "$expected" "$tmp/out" >"$tmp/diff"; then
        not_ok "example $ex" "output differs from $ex.expected:"
        sed 's/^/    /' "$tmp/diff"
    else
        ok "example $ex"
    fi
done

# --- options -----------------------------------------------------------------
ex=$examples/pending-timeout.xml

run -q "$ex"
sed -n '/^final state at/,$p' "$examples/pending-timeout.expected" >"$tmp/table"
if [ "$rc" -eq 0 ] && cmp -s "$tmp/table" "$tmp/out"; then
    ok "-q prints only the final table"
else
    not_ok "-q prints only the final table" "exit $rc, or output differs"
fi

"$tool" - <"$ex" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && cmp -s "$examples/pending-timeout.expected" "$tmp/out"; then
    ok "- reads the trace from standard input"
else
    not_ok "- reads the trace from standard input" "exit $rc, or output differs"
fi

version=$(sed -n 's/^#define MJ_VERSION "\(.*\)"$/\1/p' "$header")
run --version
if [ "$rc" -eq 0 ] && [ -n "$version" ] && grep -qF "$version" "$tmp/out"; then
    ok "--version prints MJ_VERSION ($version)"
else
    not_ok "--version prints MJ_VERSION" "exit $rc, got '$(cat "$tmp/out")'"
fi

for opt in -h --help; do
    run "$opt"
    if [ "$rc" -eq 0 ] && grep -q '^usage: ' "$tmp/out"; then
        ok "$opt prints the usage"
    else
        not_ok "$opt prints the usage" "exit $rc"
    fi
done

expect_error "unknown option refused" 2 "unknown option '--bogus'" --bogus "$ex"
expect_error "no trace given refused" 2 "no trace given"
expect_error "two traces refused" 2 "more than one trace" "$ex" "$ex"
expect_error "--max-rooms without a number refused" 2 "--max-rooms needs a whole number, not 'x'" --max-rooms x "$ex"
expect_error "--max-rooms negative: said so" 2 "--max-rooms cannot be negative" --max-rooms -1 "$ex"
expect_error "--max-rooms beyond any size: said so" 2 "--max-rooms is too large" --max-rooms 99999999999999999999999 "$ex"
expect_error "--max-rooms with no value: said so" 2 "--max-rooms needs a value" "$ex" --max-rooms
expect_error "--pending-timeout with no value: said so" 2 "--pending-timeout needs a value" "$ex" --pending-timeout
expect_error "--pending-timeout negative refused" 2 "--pending-timeout" --pending-timeout=-5 "$ex"

run --pending-timeout 1000 "$ex"
if [ "$rc" -eq 0 ] && ! grep -q 'reason=timeout' "$tmp/out"; then
    ok "--pending-timeout 1000: no timeout within 251 s"
else
    not_ok "--pending-timeout 1000: no timeout within 251 s" "exit $rc"
fi

run --pending-timeout=10 "$ex"
if [ "$rc" -eq 0 ] && grep -A1 '^  49 tick' "$tmp/out" | grep -q 'join-failed.*reason=timeout'; then
    ok "--pending-timeout=10: the join times out at the first tick"
else
    not_ok "--pending-timeout=10: the join times out at the first tick" "exit $rc"
fi

run --max-pending 1 "$ex"
if [ "$rc" -eq 0 ] && grep -q 'to=darkcave@chat.shakespeare.lit/hag x=muc => limit$' "$tmp/out"; then
    ok "--max-pending 1: a second pending join hits the bound"
else
    not_ok "--max-pending 1: a second pending join hits the bound" "exit $rc"
fi

cat >"$tmp/legacy.xml" <<'XML'
<trace>
  <out session='hag66@shakespeare.lit/pda'>
    <presence to='coven@chat.shakespeare.lit/thirdwitch'/>
  </out>
  <in session='hag66@shakespeare.lit/pda'>
    <presence from='coven@chat.shakespeare.lit/thirdwitch'>
      <x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x>
    </presence>
  </in>
</trace>
XML
run "$tmp/legacy.xml"
if [ "$rc" -eq 0 ] && grep -q '=> forged$' "$tmp/out" && grep -q '(no rooms)' "$tmp/out"; then
    ok "a join without the MUC <x/> is not tracked by default"
else
    not_ok "a join without the MUC <x/> is not tracked by default" "exit $rc"
fi
run --legacy-joins "$tmp/legacy.xml"
if [ "$rc" -eq 0 ] && grep -q 'joined room=coven@chat.shakespeare.lit nick=thirdwitch' "$tmp/out"; then
    ok "--legacy-joins tracks a join without the MUC <x/>"
else
    not_ok "--legacy-joins tracks a join without the MUC <x/>" "exit $rc"
fi

# the tracker's log names an option as the tool takes it
run -v --max-pending 1 "$ex"
if [ "$rc" -eq 0 ] && grep -q 'log warn: .*: --max-pending limit (1) reached' "$tmp/err"; then
    ok "-v: the log names the option as --max-pending"
else
    not_ok "-v: the log names the option as --max-pending" "exit $rc: $(grep limit "$tmp/err")"
fi

run --no-self-ping "$examples/self-ping.xml"
if [ "$rc" -eq 0 ] && grep -q '=> ambiguous$' "$tmp/out" && ! grep -q 'ping-needed' "$tmp/out"; then
    ok "--no-self-ping: ambiguity asks for no ping"
else
    not_ok "--no-self-ping: ambiguity asks for no ping" "exit $rc"
fi

run --ping-start-delay 20 "$examples/self-ping.xml"
if [ "$rc" -eq 0 ] && ! grep -q 'ping-id=2' "$tmp/out"; then
    ok "--ping-start-delay 20: no ping 11 s after the link loss"
else
    not_ok "--ping-start-delay 20: no ping 11 s after the link loss" "exit $rc"
fi

expect_error "--ping-retries without a number refused" 2 "--ping-retries" --ping-retries=-1 "$ex"
# the bounds a server's configuration has (the library's option table, as
# the module reads it)
expect_error "--max-rooms 0 refused" 2 "--max-rooms must be more than 0" --max-rooms 0 "$ex"
expect_error "--ping-timeout 0 refused" 2 "--ping-timeout must be more than 0" --ping-timeout=0 "$ex"
expect_error "--ping-retries over 1000 refused" 2 "--ping-retries is at most 1000" --ping-retries 5000 "$ex"

# docs/semantics.md §6: a groupchat message naming the session's nick as a word
# is a mention; the tool shows the class and the mention event.
cat >"$tmp/mention.xml" <<'XML'
<trace>
  <out session='hag66@shakespeare.lit/pda'>
    <presence to='coven@chat.shakespeare.lit/thirdwitch'><x xmlns='http://jabber.org/protocol/muc'/></presence>
  </out>
  <in session='hag66@shakespeare.lit/pda'>
    <presence from='coven@chat.shakespeare.lit/thirdwitch'>
      <x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x>
    </presence>
  </in>
  <in session='hag66@shakespeare.lit/pda'>
    <message from='coven@chat.shakespeare.lit/firstwitch' type='groupchat'><body>Hail, thirdwitch!</body></message>
  </in>
  <in session='hag66@shakespeare.lit/pda'>
    <message from='coven@chat.shakespeare.lit/firstwitch' type='groupchat'><body>Hail, thirdwitches!</body></message>
  </in>
</trace>
XML
run "$tmp/mention.xml"
if [ "$rc" -eq 0 ] && grep -q '^  11 in .* class=mention ' "$tmp/out" &&
    grep -q '^           \* mention room=coven@chat.shakespeare.lit nick=thirdwitch from-nick=firstwitch$' "$tmp/out" &&
    grep -q '^  14 in .* class=chatter ' "$tmp/out"; then
    ok "messages: class and mention event shown"
else
    not_ok "messages: class and mention event shown" "exit $rc: $(cat "$tmp/out")"
fi

# --- bad input -----------------------------------------------------------------
printf '<trace>\n  <out session="a@b.example/c">\n    <presence to="r@m.example/n">\n  </out>\n</trace>\n' >"$tmp/malformed.xml"
expect_error "malformed XML: exit 2, file:line:column" 2 \
    'malformed\.xml:4:[0-9]+: not well-formed XML: mismatched tag' "$tmp/malformed.xml"

: >"$tmp/empty.xml"
expect_error "empty file: exit 2" 2 'empty\.xml:1:[0-9]+: not well-formed XML: no element found' "$tmp/empty.xml"

{
    printf '\000\001\002\377\376<trace>'
    LC_ALL=C awk 'BEGIN { srand(7); for (i = 0; i < 4096; i++) printf "%c", int(rand() * 255) + 1 }'
} >"$tmp/garbage.bin"
expect_error "binary garbage: exit 2" 2 'garbage\.bin:1:[0-9]+: not well-formed XML' "$tmp/garbage.bin"

printf '<trace>\n  <out session="a@b.example/c"><presence/></out>\n  <foo session="a@b.example/c"/>\n</trace>\n' >"$tmp/unknown.xml"
expect_error "unknown wrapper element: exit 2 with its line" 2 \
    'unknown\.xml:3:[0-9]+: unknown element <foo>' "$tmp/unknown.xml"

printf '<trace>\n\n  <in><presence/></in>\n</trace>\n' >"$tmp/nosession.xml"
expect_error "missing session attribute: exit 2 with its line" 2 \
    'nosession\.xml:3:[0-9]+: <in> needs a session attribute' "$tmp/nosession.xml"

printf '<log/>\n' >"$tmp/root.xml"
expect_error "root element other than <trace>: exit 2" 2 'root\.xml:1:[0-9]+: the root element must be <trace>' "$tmp/root.xml"

printf '<trace><out session="a@b.example/c"><foo/></out></trace>\n' >"$tmp/notstanza.xml"
expect_error "non-stanza inside <out>: exit 2" 2 'notstanza\.xml:1:[0-9]+: <foo> in <out> is not a stanza' "$tmp/notstanza.xml"

printf '<trace><out session="a@b.example/c"><presence/><presence/></out></trace>\n' >"$tmp/two.xml"
expect_error "two stanzas in one <out>: exit 2" 2 'two\.xml:1:[0-9]+: <out> holds more than one stanza' "$tmp/two.xml"

printf '<trace><in session="a@b.example/c"></in></trace>\n' >"$tmp/nostanza.xml"
expect_error "<in> without a stanza: exit 2" 2 'nostanza\.xml:1:[0-9]+: <in> holds no stanza' "$tmp/nostanza.xml"

printf '<trace>\n  <tick seconds="soon"/>\n</trace>\n' >"$tmp/tick.xml"
expect_error "<tick> with a bad seconds value: exit 2" 2 'tick\.xml:2:[0-9]+: <tick seconds=soon>' "$tmp/tick.xml"

printf '<trace>\n  <link-lost/>\n</trace>\n' >"$tmp/linklost.xml"
expect_error "<link-lost> without a domain: exit 2" 2 'linklost\.xml:2:[0-9]+: <link-lost> needs a domain attribute' "$tmp/linklost.xml"
printf '<trace>\n  <link-up/>\n</trace>\n' >"$tmp/linkup.xml"
expect_error "<link-up> without a domain: exit 2" 2 'linkup\.xml:2:[0-9]+: <link-up> needs a domain attribute' "$tmp/linkup.xml"
# A close's events come by room, whatever order the tracker's (randomly
# keyed) table holds the rooms in: the same trace prints the same output in
# every run. And a close of a session never seen lists none.
cat >"$tmp/close.xml" <<'XML'
<trace>
XML
for i in 1 2 3 4 5 6; do
    cat >>"$tmp/close.xml" <<XML
  <out session='a@b.example/c'><presence to='r$i@m$i.example/n'><x xmlns='http://jabber.org/protocol/muc'/></presence></out>
  <in session='a@b.example/c'><presence from='r$i@m$i.example/n'><x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x></presence></in>
XML
done
cat >>"$tmp/close.xml" <<'XML'
  <close session='a@b.example/c'/>
  <close session='z@b.example/c'/>
</trace>
XML
outputs=$(for i in 1 2 3 4 5 6 7 8 9 10; do "$tool" "$tmp/close.xml" | cksum; done | sort -u | wc -l)
run "$tmp/close.xml"
if [ "$outputs" -eq 1 ] && [ "$rc" -eq 0 ] &&
    [ "$(grep '^ *\* left' "$tmp/out" | sed 's/.*room=r\([0-9]\).*/\1/' | tr -d '\n')" = 123456 ] &&
    ! grep -q '^z@b.example/c' "$tmp/out"; then
    ok "a close's events by room, the same in every run; no unknown session listed"
else
    not_ok "a close's events by room, the same in every run; no unknown session listed" "$outputs outputs, exit $rc: $(tail -c 400 "$tmp/out")"
fi

# Ping answers held for the room's disco#info, with the module's bounds:
# 64 requests at once (65 accounts, each in a room on its own domain: the
# 65th taken without the reply), 4 per account and per room service
# (before the fix, one account held all 64); a request times out after
# --ping-timeout at a tick, its answer taken without the reply.
U="xmlns='http://jabber.org/protocol/muc#user'"
E="<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
NA="<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
{
    echo "<trace>"
    i=1
    while [ $i -le 65 ]; do
        echo "<out session='u$i@b.example/c'><presence to='r$i@m$i.example/n'><x xmlns='http://jabber.org/protocol/muc'/></presence></out>"
        echo "<in session='u$i@b.example/c'><presence from='r$i@m$i.example/n'><x $U><status code='110'/></x></presence></in>"
        echo "<in session='u$i@b.example/c'><message from='r$i@m$i.example' type='error'>$NA</message></in>"
        i=$((i + 1))
    done
    i=1
    while [ $i -le 65 ]; do
        echo "<in session='u$i@b.example/c'><iq from='r$i@m$i.example/n' id='mjping-$i-s' type='error'>$E</iq></in>"
        i=$((i + 1))
    done
    echo "<in session='u1@b.example/c'><iq from='r1@m1.example' id='mjdisco-1-s' type='result'><query xmlns='http://jabber.org/protocol/disco#info'/></iq></in>"
    # the other 63 requests time out
    echo "<tick seconds='61'/>"
    echo "<in session='u2@b.example/c'><iq from='r2@m2.example' id='mjdisco-2-s' type='result'><query xmlns='http://jabber.org/protocol/disco#info'/></iq></in>"
    # one account in five rooms of one service, another in five services
    for who in a b; do
        i=1
        while [ $i -le 5 ]; do
            if [ $who = a ]; then room="q$i@one.example"; else room="q@d$i.example"; fi
            echo "<out session='$who@b.example/c'><presence to='$room/n'><x xmlns='http://jabber.org/protocol/muc'/></presence></out>"
            echo "<in session='$who@b.example/c'><presence from='$room/n'><x $U><status code='110'/></x></presence></in>"
            echo "<in session='$who@b.example/c'><message from='$room' type='error'>$NA</message></in>"
            i=$((i + 1))
        done
    done
    echo "</trace>"
} >"$tmp/held.xml"
run "$tmp/held.xml"
if [ "$rc" -eq 0 ] && [ "$(grep -c 'ping-answer held' "$tmp/out")" -eq 64 ] &&
    grep -q 'id=mjping-65-s .* (taken without disco#info: 64 requests out)' "$tmp/out" &&
    grep -q 'id=mjdisco-1-s => ping-answer joined (settled by disco#info)' "$tmp/out" &&
    [ "$(grep -c '^ *\. disco#info request mjdisco-[0-9]*-\.\.\. for u[0-9]*@b.example/c unanswered: ping-answer ' "$tmp/out")" -eq 63 ] &&
    grep -q 'id=mjdisco-2-s => disco-answer for no request out' "$tmp/out"; then
    ok "64 disco#info requests at once, the next answer taken without; a request times out"
else
    not_ok "64 disco#info requests at once, the next answer taken without; a request times out" "exit $rc: $(grep -E 'mjping-65|mjdisco-[12]-|unanswered' "$tmp/out" | head -c 400)"
fi
# the last two accounts' pings: 4 held each, the fifth taken without
{
    sed '$d' "$tmp/held.xml"
    for who in a b; do
        i=1
        while [ $i -le 5 ]; do
            if [ $who = a ]; then room="q$i@one.example"; else room="q@d$i.example"; fi
            n=$(grep -o "room=$room nick=n ping-id=[0-9]*" "$tmp/out" | sed 's/.*=//' | tail -1)
            echo "<in session='$who@b.example/c'><iq from='$room/n' id='mjping-$n-s' type='error'>$E</iq></in>"
            i=$((i + 1))
        done
    done
    echo "</trace>"
} >"$tmp/held2.xml"
run "$tmp/held2.xml"
if [ "$rc" -eq 0 ] &&
    [ "$(grep -c 'a@b.example/c .*ping-answer held: asks' "$tmp/out")" -eq 4 ] &&
    grep -q 'a@b.example/c .*from=q5@one.example/n .*(taken without disco#info: 4 requests out to the room.s domain)' "$tmp/out" &&
    [ "$(grep -c 'b@b.example/c .*ping-answer held: asks' "$tmp/out")" -eq 4 ] &&
    grep -q 'b@b.example/c .*from=q@d5.example/n .*(taken without disco#info: 4 requests out for the account)' "$tmp/out"; then
    ok "4 disco#info requests per room service and per account"
else
    not_ok "4 disco#info requests per room service and per account" "exit $rc: $(grep -E 'q5@one|q@d5' "$tmp/out" | head -c 400)"
fi

# check_trace NAME FILE OPTIONS PATTERN...: the tool run with OPTIONS (split
# at spaces; "" for none) on tests/replay/traces/FILE exits 0 and its
# output matches every grep PATTERN.
traces=$root/tests/replay/traces
check_trace() {
    name=$1 file=$2 opts=$3
    shift 3
    # shellcheck disable=SC2086 # OPTIONS are words
    run $opts "$traces/$file"
    for pat in "$@"; do
        if ! grep -q -- "$pat" "$tmp/out"; then
            not_ok "$name" "exit $rc, no '$pat': $(tail -c 500 "$tmp/out")"
            return
        fi
    done
    if [ "$rc" -ne 0 ]; then
        not_ok "$name" "exit $rc"
    else
        ok "$name"
    fi
}

# The module's requests are keyed by JID, answered only by the room, and
# an account that left one unanswered has one out:
check_trace "a request survives its session's close and serves the next session under the JID" disco-reopened-session.xml "" \
    'id=mjping-2-x .*is asked already (iq id mjdisco-1-' \
    'id=mjdisco-1-x .*=> ping-answer not-joined (settled by disco#info)'
check_trace "only the room's own reply ends a request" disco-reply-not-from-the-room.xml "" \
    'from=c@m.example/w id=mjdisco-1-x => disco-answer for no request out' \
    'from=c@m.example id=mjdisco-1-x => ping-answer joined (settled by disco#info)'
check_trace "an account that left a request unanswered has one out" disco-silent-account.xml "" \
    'id=mjping-2-x .*=> ping-answer held: asks' \
    'id=mjping-3-x .*(taken without disco#info: a request out for the account, which left one unanswered)'

# A reply is matched as Prosody's send_iq() matches it: by its from (the
# room's bare JID, prepared) and id, to whichever resource; it opens no
# session; an error reply without <error/> is the module's own hook's: the
# answer goes with it at once (unknown), the request stays out until its
# timeout and a later answer is taken without; an id with leading zeros is
# not the module's; timeouts come in deadline order.
check_trace "a reply to another resource of the JID ends the request" disco-reply-to-another-resource.xml "--ping-retries 0" \
    'h@s.example/q .*id=mjdisco-1-x => ping-answer joined (settled by disco#info)'
check_trace "a reply from the room's JID in another case ends the request" disco-reply-room-case.xml "--ping-retries 0" \
    'from=C@M.example id=mjdisco-1-x => ping-answer joined (settled by disco#info)'
check_trace "a reply after the session closed opens none" disco-reply-after-close.xml "--ping-retries 0" \
    'id=mjdisco-1-x .*=> no session under that JID now$' '(closed at line 7)'
check_trace "an error reply without <error/> settles the answer at once, the request times out" disco-error-without-error.xml "--ping-retries 0" \
    'id=mjdisco-1-x error=? => disco-answer without <error/>: ping-answer unknown (the request stays out until its timeout)$' \
    'mjdisco-1-\.\.\. for h@s.example/p unanswered: its answer went with the reply without <error/>$' \
    'id=mjping-3-x .*(taken without disco#info: a request out for the account, which left one unanswered)'
check_trace "only the room's first reply without <error/> counts; a retry's answer meanwhile is taken without" disco-error-without-error-then-retry.xml "--ping-retries 1" \
    'from=other@m.example id=mjdisco-1-x error=? => disco-answer without <error/>: ignored$' \
    '6 in .*from=c@m.example id=mjdisco-1-x error=? => disco-answer without <error/>: ping-answer unknown' \
    '7 in .*from=c@m.example id=mjdisco-1-x error=? => disco-answer without <error/>: ignored$' \
    'id=mjping-2-x .*=> ping-answer unknown (taken without disco#info: the room.s reply to the request out had no <error/>)' \
    'unanswered: its answer went with the reply without <error/>$'
check_trace "a reply id with leading zeros is not the module's" disco-id-leading-zeros.xml "--ping-retries 0" \
    'id=mjdisco-001-x => ignored'
run --ping-retries 0 "$traces/disco-timeouts-in-order.xml"
if [ "$rc" -eq 0 ] && [ "$(grep -o 'request mjdisco-[0-9]' "$tmp/out" | tr -d '\n')" = "request mjdisco-2request mjdisco-3" ]; then
    ok "requests time out in the order of their deadlines"
else
    not_ok "requests time out in the order of their deadlines" "exit $rc: $(grep unanswered "$tmp/out")"
fi

# The self-ping answers that name who answered (docs/semantics.md §5):
# the service's gone and an empty by's not-acceptable end the room, the
# room's item-not-found keeps it, our server's bounce and an error by
# another occupant's server are unknown.
check_trace "ping answers read by who answered" ping-answers-by-who.xml "" \
    'id=mjping-1-x .*error-by=m.example => ping-answer not-joined' \
    'id=mjping-2-x .*error-by="" => ping-answer not-joined' \
    'id=mjping-3-x .*error-by=c@m.example => ping-answer joined' \
    'id=mjping-4-x .*error-by=s.example => ping-answer unknown' \
    'id=mjping-5-x .*error-by=mallory.example => ping-answer unknown'

# A join under another nick than the shown one crossing a removal the room
# sent before it saw the join: its answer shows the room again (before
# the fix, it was refused as forged, the session in the room without an entry).
check_trace "a removal crossing a join under another nick waits for its answer" kick-crossing-join-under-another-nick.xml "" \
    'left room=c@m.example nick=witch reason=kicked' \
    'joined room=c@m.example nick=hag' \
    'c@m.example  joined    nick=hag'

# The same with a self-presence from the shown nick before the kick (an
# update's echo): it must not end the join's record (before the fix, the
# echo ended CHANGING, the kick the entry, and the join's answer was
# refused as forged).
check_trace "an echo from the shown nick keeps a join under another nick" echo-then-kick-crossing-join-under-another-nick.xml "" \
    'left room=c@m.example nick=witch reason=kicked' \
    'joined room=c@m.example nick=hag' \
    'c@m.example  joined    nick=hag'

# The same with a conflict refusing a plain nick change sent
# before the join (its id, from where it went) instead of the echo.
check_trace "an error to an earlier change keeps a join under another nick" error-to-earlier-change-then-kick-crossing-join-under-another-nick.xml "" \
    'left room=c@m.example nick=witch reason=kicked' \
    'joined room=c@m.example nick=hag' \
    'c@m.example  joined    nick=hag'

# With legacy joins on, a presence without the <x/> to another nick is a
# join: the answer to a ping sent before it is stale, as for one with the
# <x/> (before the fix, a "not joined" ended the entry as a ghost and the
# join's answer was refused as forged).
check_trace "a legacy join under another nick makes earlier pings stale" legacy-join-under-another-nick-crossing-a-ping.xml "--legacy-joins" \
    'mjping-1-x error=not-acceptable error-type=cancel => ping-answer stale' \
    'c@m.example  joined    nick=hag'

# A close while a join under another nick waits hands that join's id
# and answers to the next session under the JID (before the fix, the join's
# answer was taken for the rejoin's, the close's answer ended the entry
# and the rejoin's answer was refused as forged).
check_trace "a close while a join under another nick waits" close-while-a-join-under-another-nick-waits.xml "" \
    'c@m.example  joined    nick=hag'

# A ghost found after a 303 whose new self-presence never came: the
# notice comes from the announced nick, where the room knows the session
# (before the fix, it came from the old one, which the client saw leave).
check_trace "a rejoin after a leave crossing a nick change waits past the 303's self-presence" rejoin-after-a-leave-crossing-a-nick-change.xml "" \
    'a@m.example  joined    nick=witch' \
    'b@m.example  joined    nick=witch' \
    'c@m.example  joined    nick=witch' \
    'd@m.example  joined    nick=witch'

check_trace "a rejoin after a close crossing a nick change waits past the 303's self-presence" rejoin-after-a-close-crossing-a-nick-change.xml "" \
    'a@m.example  joined    nick=witch' \
    'b@m.example  joined    nick=witch' \
    'c@m.example  joined    nick=witch'

check_trace "a nick change from EXPECTING starts from the announced nick" change-from-expecting.xml "" \
    'nick-changed room=a@m.example old-nick=witch nick=hag' \
    'a@m.example  joined    nick=hag' \
    'nick-changed room=b@m.example old-nick=hag nick=crone' \
    'b@m.example  joined    nick=crone'

check_trace "a ghost's notice after a 303 comes from the announced nick" expecting-ghost-notice-nick.xml "" \
    'left room=c@m.example nick=olga room-nick=mia reason=ghost'

# One disco#info request per (session, room) at a time, as the module: the
# room's next answer waits for the same reply, which settles the latest
# ping (before the fix, each was held on its own, and the reply settled the
# older, stale one: the ghost was kept).
cat >"$tmp/samereq.xml" <<'XML'
<trace>
  <out session='h@s.example/p'><presence to='c@m.example/w'><x xmlns='http://jabber.org/protocol/muc'/></presence></out>
  <in session='h@s.example/p'><presence from='c@m.example/w'><x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x></presence></in>
  <link-lost domain='m.example'/>
  <tick seconds='11'/>
  <tick seconds='50'/>
  <in session='h@s.example/p'><iq type='error' id='mjping-1-x' from='c@m.example/w'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq></in>
  <tick seconds='20'/>
  <tick seconds='31'/>
  <in session='h@s.example/p'><iq type='error' id='mjping-2-x' from='c@m.example/w'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq></in>
  <in session='h@s.example/p'><iq type='error' id='mjdisco-1-x' from='c@m.example'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq></in>
</trace>
XML
run "$tmp/samereq.xml"
if [ "$rc" -eq 0 ] &&
    grep -q 'id=mjping-2-x .*=> ping-answer held: the room.s disco#info is asked already (iq id mjdisco-1-\.\.\.)' "$tmp/out" &&
    grep -q 'id=mjdisco-1-x .*=> ping-answer not-joined (settled by disco#info)' "$tmp/out" &&
    grep -q '^ *\* left room=c@m.example nick=w reason=ghost' "$tmp/out"; then
    ok "one disco#info request per session and room, settling the latest answer"
else
    not_ok "one disco#info request per session and room, settling the latest answer" "exit $rc: $(tail -c 600 "$tmp/out")"
fi

# a domain the library refuses is a malformed trace, as a session JID that
# is not one (it was taken quietly, exit 0)
printf '<trace>\n  <link-lost domain="u@m.example"/>\n</trace>\n' >"$tmp/linkbad.xml"
expect_error "<link-lost> of a JID that is no domain: exit 2" 2 'linkbad\.xml:2:[0-9]+: <link-lost domain=u@m.example> is not a domain: malformed JID' "$tmp/linkbad.xml"
printf '<trace>\n  <link-up domain=""/>\n</trace>\n' >"$tmp/linkbad2.xml"
expect_error "<link-up> of an empty domain: exit 2" 2 'linkbad2\.xml:2:[0-9]+: <link-up domain=""> is not a domain' "$tmp/linkbad2.xml"

printf '<trace>\n  <in session="a@b.example/c" optimized="maybe"><iq type="result"/></in>\n</trace>\n' >"$tmp/optimized.xml"
expect_error "<in optimized> other than yes/no: exit 2" 2 'optimized\.xml:2:[0-9]+: <in optimized=maybe>' "$tmp/optimized.xml"

printf '<trace>\n  stray text\n</trace>\n' >"$tmp/text.xml"
expect_error "text outside a stanza: exit 2" 2 'text\.xml:2:[0-9]+: text outside a stanza' "$tmp/text.xml"

printf '<?xml version="1.0"?>\n<!DOCTYPE trace [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n<trace/>\n' >"$tmp/doctype.xml"
expect_error "DOCTYPE (entity expansion) refused: exit 2" 2 'doctype\.xml:2:[0-9]+: a trace may not have a DOCTYPE' "$tmp/doctype.xml"

printf '<trace><out session="@@"><presence/></out></trace>\n' >"$tmp/badjid.xml"
expect_error "session that is not a JID: exit 2" 2 'badjid\.xml:1:[0-9]+: session @@ is not usable as a full JID' "$tmp/badjid.xml"

{
    printf '<trace><in session="a@b.example/c"><presence>'
    i=0
    while [ $i -lt 100 ]; do printf '<x>'; i=$((i + 1)); done
    i=0
    while [ $i -lt 100 ]; do printf '</x>'; i=$((i + 1)); done
    printf '</presence></in></trace>\n'
} >"$tmp/deep.xml"
expect_error "deep nesting refused: exit 2" 2 'deep\.xml:1:[0-9]+: elements nested deeper than 64' "$tmp/deep.xml"

head -c 17000000 /dev/zero >"$tmp/huge.xml"
expect_error "trace file over 16 MiB refused: exit 2" 2 'huge\.xml: trace larger than 16 MiB' "$tmp/huge.xml"

{
    printf '<trace>'
    yes '<!-- padding padding padding padding padding padding -->' | head -c 17000000
} | "$tool" - >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q '<stdin>: trace larger than 16 MiB' "$tmp/err"; then
    ok "standard input over 16 MiB refused: exit 2"
else
    not_ok "standard input over 16 MiB refused: exit 2" "exit $rc: $(head -c 200 "$tmp/err")"
fi

expect_error "missing file: exit 2" 2 'no-such-file\.xml: ' "$tmp/no-such-file.xml"

# Attribute values with newlines, quotes and bidi controls must not forge
# output lines.
cat >"$tmp/escape.xml" <<'XML'
<trace><in session='a@b.example/c'><presence from='r@m.example/a&#10;  99 in    forged&#x202e;' type='&quot;'/></in></trace>
XML
run "$tmp/escape.xml"
if [ "$rc" -eq 0 ] && [ "$(grep -c '^   1 in ' "$tmp/out")" -eq 1 ] &&
    ! grep -q '^  99' "$tmp/out" &&
    grep -qF 'from="r@m.example/a\n  99 in    forged\u{202e}"' "$tmp/out"; then
    ok "control characters are escaped in the output"
else
    not_ok "control characters are escaped in the output" "exit $rc: $(head -c 300 "$tmp/out")"
fi

# The other bidi controls (Unicode's Bidi_Control: ALM, LRM, RLM) are
# escaped too, as the man page says.
cat >"$tmp/bidi.xml" <<'XML'
<trace><in session='a@b.example/c'><presence from='r@m.example/a&#x61c;b&#x200e;c&#x200f;d'/></in></trace>
XML
run "$tmp/bidi.xml"
if [ "$rc" -eq 0 ] && grep -qF 'from="r@m.example/a\u{061c}b\u{200e}c\u{200f}d"' "$tmp/out"; then
    ok "bidi marks (ALM, LRM, RLM) are escaped in the output"
else
    not_ok "bidi marks (ALM, LRM, RLM) are escaped in the output" "exit $rc: $(head -c 300 "$tmp/out")"
fi

# One token as large as a trace may be (a 16 MB comment) is read in time
# linear in its size: expat 2.5 (Debian 12) scans a token that is not
# complete again at every chunk it is given, so small chunks make it
# quadratic (64 KiB chunks: 2.2 s, against 0.05 s for the same bytes in
# many small comments).
ms() { date +%s%N | cut -c1-13; }
{
    printf '<trace><!--'
    head -c 16000000 /dev/zero | tr '\000' a
    printf -- '--></trace>\n'
} >"$tmp/token.xml"
{
    printf '<trace>\n'
    yes '<!-- padding padding padding padding padding padding -->' | head -n 275000
    printf '</trace>\n'
} >"$tmp/comments.xml"
t0=$(ms)
run "$tmp/comments.xml"
rc1=$rc
t1=$(ms)
run "$tmp/token.xml"
rc2=$rc
t2=$(ms)
base=$((t1 - t0))
one=$((t2 - t1))
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$one" -le $((10 * base + 500)) ]; then
    ok "a 16 MB token is read in linear time (${one} ms, many small ones ${base} ms)"
else
    not_ok "a 16 MB token is read in linear time" "exit $rc1/$rc2, ${one} ms against ${base} ms"
fi
rm -f "$tmp/token.xml" "$tmp/comments.xml"

# A stanza of many small elements takes about the memory the 1 MiB bound
# counts, not several times it (each element's text took 256 bytes).
# Peak RSS as GNU time(1) reports it, when installed (Debian package
# time); not under AddressSanitizer (its own allocator).
if [ -x /usr/bin/time ] && ! grep -q __asan_init "$tool"; then
    {
        printf "<trace><in session='a@b.example/c'><presence from='r@m.example/n'>"
        i=0
        while [ $i -lt 95 ]; do
            printf '<a>x</a>%.0s' 1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8 9 10 \
                1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8 9 10 \
                1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8 9 10
            i=$((i + 1))
        done
        printf '</presence></in></trace>\n'
    } >"$tmp/children.xml"
    printf "<trace><in session='a@b.example/c'><presence from='r@m.example/n'><a>x</a></presence></in></trace>\n" >"$tmp/one.xml"
    rss() {
        /usr/bin/time -f %M -o "$tmp/rss" "$tool" -q "$1" >/dev/null 2>&1
        tail -n 1 "$tmp/rss"
    }
    small=$(rss "$tmp/one.xml")
    big=$(rss "$tmp/children.xml")
    if [ $((big - small)) -lt 3072 ]; then
        ok "9,500 small elements in a stanza: $((big - small)) KiB more memory (< 3 MiB)"
    else
        not_ok "9,500 small elements in a stanza" "$((big - small)) KiB more memory than one element (>= 3 MiB)"
    fi
fi

# Every prefix of every example is handled without a crash (exit 0 or 2).
for xml in "$examples"/*.xml; do
    [ -e "$xml" ] || continue
    ex=$(basename "$xml" .xml)
    size=$(wc -c <"$xml")
    bad=""
    cut=1
    while [ "$cut" -lt "$size" ]; do
        head -c "$cut" "$xml" >"$tmp/cut.xml"
        run "$tmp/cut.xml"
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
            bad="exit $rc at $cut bytes"
            break
        fi
        cut=$((cut + 37))
    done
    if [ -z "$bad" ]; then
        ok "truncated $ex: no crash"
    else
        not_ok "truncated $ex: no crash" "$bad"
    fi
done

echo "replay: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

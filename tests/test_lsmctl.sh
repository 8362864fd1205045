#!/usr/bin/env bash
#
# test_lsmctl.sh -- end-to-end tests of the lsmctl tool, run by ctest as
#
#     bash tests/test_lsmctl.sh PATH/TO/lsmctl
#
# Every check runs the real binary on real stores in a private temporary
# directory and compares exit codes, stdout bytes and stderr messages with
# what the help text promises: the get/put/del round trip (binary values from
# stdin included), the scan options against exact expected listings, the dump
# format and `dump | load | dump` identity on keys and values that use every
# escape, load's refusal of malformed input (exit 6, the line number, nothing
# written from the bad batch), the lock held by another process (exit 3 and
# its pid), verify on a good store and on one with a flipped byte (exit 4),
# usage errors (exit 2) and the help itself. Then the administration
# commands: get --offset/--length, a streaming put of 100 MiB from stdin whose
# peak RSS must stay far below the value's size, compact, sst-dump, wal-dump
# and manifest-dump (good and damaged files: exit 4 naming file and offset),
# checkpoint (hard links, identical contents) and repair of a store whose
# log has a torn tail (the report, the final count, exit 3 while the store is
# in use). Last, the progress line: nothing on stderr without a terminal;
# under script(1), load and dump draw it and erase it, and dump does not draw
# it among its own output on the terminal. A failing check prints what it
# expected and what it got, and the script stops with status 1.
#
set -euo pipefail

LSMCTL=${1:?usage: test_lsmctl.sh PATH/TO/lsmctl}
[[ -x $LSMCTL ]] || { echo "not executable: $LSMCTL" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/lsmctl-test.XXXXXX")
BG_PID=
cleanup() {
    if [[ -n $BG_PID ]]; then
        kill "$BG_PID" 2>/dev/null || true
        wait "$BG_PID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

N_CHECKS=0
fail() {
    echo "FAIL: $*" >&2
    if [[ -s $T/err ]]; then
        echo "--- stderr of the last lsmctl run:" >&2
        head -c 2000 "$T/err" >&2
    fi
    exit 1
}
ok() { N_CHECKS=$((N_CHECKS + 1)); }

# run ARGS...: run lsmctl with stdin from /dev/null; RC, $T/out, $T/err.
run() {
    set +e
    "$LSMCTL" "$@" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
    set -e
}
# run_in FILE ARGS...: the same with stdin from FILE.
run_in() {
    local in=$1
    shift
    set +e
    "$LSMCTL" "$@" <"$in" >"$T/out" 2>"$T/err"
    RC=$?
    set -e
}
expect_rc() { # CODE WHAT
    [[ $RC == "$1" ]] || fail "$2: exit code $RC, expected $1"
    ok
}
# expect_out TEXT WHAT: stdout is exactly TEXT (printf %b escapes allowed).
expect_out() {
    printf '%b' "$1" >"$T/want"
    if ! cmp -s "$T/want" "$T/out"; then
        echo "--- expected:" >&2; od -c "$T/want" | head -20 >&2
        echo "--- got:" >&2; od -c "$T/out" | head -20 >&2
        fail "$2: wrong output"
    fi
    ok
}
expect_err() { # PATTERN WHAT: stderr matches the grep -E pattern
    grep -Eq -- "$1" "$T/err" || fail "$2: stderr does not match /$1/"
    ok
}
# Every message starts with "lsmctl: "; a usage error adds a usage line.
expect_usage_error() { # WHAT
    expect_rc 2 "$1"
    [[ $(head -c 8 "$T/err") == "lsmctl: " ]] || fail "$1: message lacks the lsmctl: prefix"
    expect_err '^usage: lsmctl ' "$1"
    [[ ! -s $T/out ]] || fail "$1: a usage error wrote to stdout"
}

S=$T/store

echo "== help"
run --help
expect_rc 0 "--help"
for want in 'Dump format' '\\xHH' '\\t' '\\n' 'Exit codes' 'batches written before .* stay' \
    'get' 'put' 'del' 'link' 'scan' 'dump' 'load' 'flush' 'stats' 'verify' 'check-values' \
    '--sync' '--create' '--read-only'; do
    grep -Eq -- "$want" "$T/out" || fail "--help does not mention $want"
done
for code in 0 1 2 3 4 5 6 7; do
    grep -Eq "^  $code  " "$T/out" || fail "--help does not list exit code $code"
done
ok
run load --help
expect_rc 0 "load --help"
grep -q 'already been written' "$T/out" || fail "load --help does not warn about partial loads"
grep -q 'Dump format' "$T/out" || fail "load --help does not describe the format"
run "$S" scan --help
expect_rc 0 "STORE scan --help"
grep -q -- '--prefix' "$T/out" || fail "scan --help lacks --prefix"
[[ ! -e $S ]] || fail "help created the store"
ok

echo "== usage errors"
run
expect_usage_error "no arguments"
run "$S"
expect_usage_error "no command"
run "$S" frobnicate
expect_usage_error "unknown command"
run --bogus "$S" get k
expect_usage_error "unknown global option"
run "$S" get
expect_usage_error "get without a key"
run "$S" get a b
expect_usage_error "get with two keys"
run "$S" scan --nope
expect_usage_error "scan with an unknown option"
run "$S" scan --prefix a --from b
expect_usage_error "scan --prefix with --from"
run "$S" scan --limit ten
expect_usage_error "scan --limit ten"
run "$S" scan --limit
expect_usage_error "scan --limit without a value"
run --read-only "$S" put k v
expect_usage_error "--read-only put"
run "$S" put --escaped 'bad\q' v
expect_usage_error "put --escaped with a bad escape"
run "$S" dump extra
expect_usage_error "dump with an argument"
[[ ! -e $S ]] || fail "a usage error created the store"
ok

echo "== no such store"
run "$S" get k
expect_rc 7 "get on a missing store"
expect_err "^lsmctl: .*no such store" "get on a missing store"
expect_err "--create" "get on a missing store"
[[ ! -e $S ]] || fail "get created the store without --create"
run "$S" del k
expect_rc 7 "del on a missing store"
run "$S" dump
expect_rc 7 "dump on a missing store"
[[ ! -e $S ]] || fail "a read command created the store"
run --create "$T/made" stats
expect_rc 0 "--create stats"
[[ -f $T/made/CURRENT ]] || fail "--create did not make a store"
ok

echo "== put, get, del"
run "$S" put greeting 'hello world'
expect_rc 0 "put creates the store"
run "$S" get greeting
expect_rc 0 "get"
expect_out 'hello world' "get writes the value with no newline"
head -c 100000 /dev/urandom >"$T/random"
run_in "$T/random" "$S" put blob
expect_rc 0 "put from stdin"
run "$S" get blob
expect_rc 0 "get binary"
cmp -s "$T/random" "$T/out" || fail "100000 random bytes did not round-trip through put/get"
ok
printf 'two\n\nlines\n\n' >"$T/nl"
run_in "$T/nl" "$S" put nl
run "$S" get nl
cmp -s "$T/nl" "$T/out" || fail "trailing newlines of a stdin value were not kept"
ok
run_in /dev/null "$S" put empty
expect_rc 0 "put of an empty value"
run "$S" get empty
expect_rc 0 "get of an empty value is found"
expect_out '' "empty value"
run "$S" get missing
expect_rc 1 "get of a missing key"
expect_err '^lsmctl: key not found: missing$' "get of a missing key"
[[ ! -s $T/out ]] || fail "get of a missing key wrote to stdout"
run "$S" put -- -dash 'starts with a dash'
expect_rc 0 "put -- -dash"
# A read-only open writes nothing: no new log, manifest or info log (LOCK,
# which records the holder's pid, aside).
list_files() { find "$S" -type f ! -name LOCK -printf '%f %s\n' | sort; }
list_files >"$T/files.before"
run --read-only "$S" get -- -dash
expect_rc 0 "--read-only get"
expect_out 'starts with a dash' "key after --"
list_files >"$T/files.after"
cmp -s "$T/files.before" "$T/files.after" || fail "--read-only get changed the store's files"
ok
run "$S" put --escaped 'nul\x00key' 'a\tb\\c\n\xff'
expect_rc 0 "put --escaped"
run "$S" get --escaped 'nul\x00key'
expect_out 'a\tb\\c\n\xff' "put/get --escaped"
run "$S" del greeting
expect_rc 0 "del"
run "$S" get greeting
expect_rc 1 "get after del"
run "$S" del never-there
expect_rc 0 "del of an absent key"
run --sync "$S" put synced yes
expect_rc 0 "--sync put"
run "$S" --sync get synced
expect_out 'yes' "--sync between STORE and the command"
run "$S" stats
expect_rc 0 "stats"
[[ -s $T/out ]] || fail "stats printed nothing"
ok

echo "== link: two names of one value"
L=$T/links
run --create "$L" put a small-value
expect_rc 0 "put before link"
run "$L" link a b
expect_rc 0 "link"
run "$L" get b
expect_out 'small-value' "get of the new name"
head -c 3000000 /dev/urandom >"$T/big.bin"
run_in "$T/big.bin" "$L" put big
expect_rc 0 "put of a 3 MB value"
run "$L" link big big2
expect_rc 0 "link of a large value"
run "$L" link big2 big3
expect_rc 0 "link from the second name"
"$LSMCTL" "$L" get big3 >"$T/big3.out" 2>"$T/err" || fail "get big3"
cmp -s "$T/big.bin" "$T/big3.out" || fail "get of a third name differs from the value"
run "$L" del big
expect_rc 0 "del of the first name"
"$LSMCTL" "$L" get big2 >"$T/big2.out" 2>"$T/err" || fail "get big2 after del big"
cmp -s "$T/big.bin" "$T/big2.out" || fail "a name lost its value when another was deleted"
run "$L" put big3 replaced
expect_rc 0 "put onto a name"
"$LSMCTL" "$L" get big2 >"$T/big2.out" 2>"$T/err" || fail "get big2 after put big3"
cmp -s "$T/big.bin" "$T/big2.out" || fail "a put onto one name changed another"
run "$L" link nothing x
expect_rc 1 "link of a missing key"
run "$L" get x
expect_rc 1 "a failed link wrote nothing"
run "$L" verify
expect_rc 0 "verify after links"
# Left: a and b (one shared value), big2 (shared, its only name now), big3 (inline).
run "$L" check-values
expect_rc 0 "check-values after links"
expect_out 'large values: 2 (2 shared), held by 3 keys\nunfinished writers: 0\nleaked values: 0 (0 chunks)\nwrong counts: 0\nnames without their value: 0\ncheck-values: ok\n' \
    "check-values after links"
run "$L" flush
expect_rc 0 "flush"
found=0
for f in "$L"/*.sst; do
    "$LSMCTL" sst-dump "$f" >"$T/out" 2>"$T/err" || true
    grep -q 'shared value_id=' "$T/out" && found=1
done
[[ $found == 1 ]] || fail "sst-dump shows no shared value"
ok

echo "== scan"
R=$T/range
# Keys in store order: a ab abc abd ac b b\xff b\xff\xff c \xff
cat >"$T/range.dump" <<'EOF'
b	v-b
a	v-a
abd	v-abd
ab	v-ab
abc	v-abc
ac	v-ac
b\xff	v-bff
b\xff\xff	v-bffff
c	v-c
\xff	v-ff
EOF
run_in "$T/range.dump" "$R" load
expect_rc 0 "load the scan fixture"
run "$R" scan --keys-only
expect_out 'a\nab\nabc\nabd\nac\nb\nb\\xff\nb\\xff\\xff\nc\n\\xff\n' "scan --keys-only"
run "$R" scan --prefix ab
expect_out 'ab\tv-ab\nabc\tv-abc\nabd\tv-abd\n' "scan --prefix ab"
run "$R" scan --prefix ab --keys-only --reverse
expect_out 'abd\nabc\nab\n' "scan --prefix ab --keys-only --reverse"
run "$R" scan --from ab --to b --keys-only
expect_out 'ab\nabc\nabd\nac\n' "scan --from ab --to b (to is exclusive)"
run "$R" scan --from ab --to b --keys-only --reverse
expect_out 'ac\nabd\nabc\nab\n' "scan --from ab --to b --reverse"
run "$R" scan --from=ac --keys-only
expect_out 'ac\nb\nb\\xff\nb\\xff\\xff\nc\n\\xff\n' "scan --from=ac"
run "$R" scan --to abc
expect_out 'a\tv-a\nab\tv-ab\n' "scan --to abc"
run "$R" scan --limit 2
expect_out 'a\tv-a\nab\tv-ab\n' "scan --limit 2"
run "$R" scan --limit 0
expect_rc 0 "scan --limit 0"
expect_out '' "scan --limit 0"
run "$R" scan --reverse --limit 3 --keys-only
expect_out '\\xff\nc\nb\\xff\\xff\n' "scan --reverse --limit 3"
run "$R" scan --escaped --prefix 'b\xff' --keys-only
expect_out 'b\\xff\nb\\xff\\xff\n' "scan --prefix b\\xff (successor drops 0xff)"
run "$R" scan --escaped --prefix '\xff'
expect_out '\\xff\tv-ff\n' "scan --prefix \\xff (no upper bound)"
run "$R" scan --prefix zz
expect_rc 0 "scan of an empty range"
expect_out '' "scan of an empty range"
run "$R" del abc
run "$R" put ab2 new
run "$R" scan --prefix ab --keys-only
expect_out 'ab\nab2\nabd\n' "scan sees a delete and a put over older tables"
run --read-only "$R" scan --prefix ab --keys-only --reverse --limit 2
expect_out 'abd\nab2\n' "--read-only scan --reverse --limit 2"

echo "== dump format and dump | load | dump"
D=$T/dumpsrc
cat >"$T/tricky.dump" <<'EOF'
	value of the empty key
empty value	
tab\there	new\nline
back\\slash	\\\\
nul\x00in\x00key	\x00
high\x80\xff\xfe	caf\xc3\xa9
upper\x4A	hex digits in \x4a either case
EOF
run_in "$T/tricky.dump" "$D" load
expect_rc 0 "load the tricky records"
run "$D" get --escaped 'tab\there'
expect_out 'new\nline' "escaped tab and newline decode"
run "$D" get --escaped 'nul\x00in\x00key'
expect_out '\0' "NUL key and value"
run "$D" get ''
expect_out 'value of the empty key' "empty key"
run "$D" get 'empty value'
expect_rc 0 "empty value present"
expect_out '' "empty value"
run "$D" get upperJ
expect_out 'hex digits in J either case' "upper-case \\xHH accepted"
# Every byte value, in a key and in a value.
printf "$(printf '\\x%02x' $(seq 0 255))" >"$T/allbytes"
[[ $(stat -c %s "$T/allbytes") == 256 ]] || fail "could not build the 256-byte fixture"
run_in "$T/allbytes" "$D" put all-bytes
run "$D" put blob-key-below
run_in "$T/random" "$D" put random
run "$D" scan --prefix upper
expect_out 'upperJ\thex digits in J either case\n' "the writer uses no escape for printable bytes"
run "$D" scan --prefix back
expect_out 'back\\\\slash\t\\\\\\\\\n' "backslashes are doubled"
run "$D" scan --prefix high
expect_out 'high\\x80\\xff\\xfe\tcaf\\xc3\\xa9\n' "high bytes as lower-case \\xHH"
run "$D" dump
expect_rc 0 "dump"
cp "$T/out" "$T/dump1"
[[ $(wc -l <"$T/dump1") == 10 ]] || fail "dump has $(wc -l <"$T/dump1") lines, expected 10"
if LC_ALL=C grep -q $'[^\t -~]' "$T/dump1"; then
    fail "the dump holds a byte outside printable ASCII and tab"
fi
grep -q "^all-bytes	\\\\x00\\\\x01" "$T/dump1" || fail "all-bytes value not escaped as expected"
ok
run_in "$T/dump1" "$T/copy" load
expect_rc 0 "load a dump"
run "$T/copy" dump
cmp -s "$T/dump1" "$T/out" || fail "dump | load | dump is not byte-identical"
ok
run "$T/copy" get random
cmp -s "$T/random" "$T/out" || fail "random value changed through dump | load"
run "$T/copy" get all-bytes
cmp -s "$T/allbytes" "$T/out" || fail "all-bytes value changed through dump | load"
ok
# More records than one batch, so load writes several.
awk 'BEGIN { for (i = 1; i <= 2500; i++) printf "key%06d\tvalue %d with a \\t tab\n", i, i }' \
    >"$T/many.dump"
grep -qF "key002500	value 2500 with a \\t tab" "$T/many.dump" || fail "bad awk fixture"
run_in "$T/many.dump" "$T/many" load
expect_rc 0 "load 2500 records"
run "$T/many" dump
cmp -s "$T/many.dump" "$T/out" || fail "2500 loaded records do not dump back identically"
ok

echo "== load rejects malformed input"
check_bad() { # NAME LINE-NUMBER PATTERN CONTENT
    local name=$1 line=$2 pat=$3 content=$4 store=$T/bad-$RANDOM
    printf '%b' "$content" >"$T/bad.dump"
    run_in "$T/bad.dump" "$store" load
    expect_rc 6 "load: $name"
    expect_err "^lsmctl: load: line $line: " "load: $name"
    expect_err "$pat" "load: $name"
    run "$store" dump
    expect_out '' "load: $name wrote records from its batch"
}
check_bad "unknown escape" 2 'unknown escape \\q' 'k1\tv1\nk\\q\tv\n'
check_bad "missing tab" 3 'no tab' 'k1\tv1\nk2\tv2\nno-tab-here\nk4\tv4\n'
check_bad "trailing backslash" 1 'backslash at the end' 'k\tv\\\n'
check_bad "trailing backslash in key" 1 'backslash at the end' 'k\\\tv\n'
check_bad "bad hex" 1 'two hex digits' 'k\\xg1\tv\n'
check_bad "short hex" 1 'two hex digits' 'k\tv\\x4\n'
check_bad "second tab" 1 'second tab' 'k\tv\tw\n'
check_bad "raw CR" 2 'raw byte 0x0d' 'a\tb\nk\tv\r\n'
check_bad "raw high byte" 1 'raw byte 0xff' 'k\xff\tv\n'
check_bad "empty line" 2 'no tab' 'a\tb\n\nc\td\n'
check_bad "no final newline" 2 'no newline' 'a\tb\nc\td'
# A bad line after the first batch: batch one (1000 records) stays, the batch
# holding the bad line and everything after it is not written.
{
    seq -f 'k%06g	v' 1 1500
    printf 'bad\\zline\tv\n'
    seq -f 'k%06g	v' 1502 1600
} >"$T/late.dump"
run_in "$T/late.dump" "$T/late" load
expect_rc 6 "load with a bad line 1501"
expect_err "line 1501: " "load with a bad line 1501"
expect_err "1000 records" "load says how many records were written"
run "$T/late" scan --keys-only
seq -f 'k%06g' 1 1000 >"$T/want"
cmp -s "$T/want" "$T/out" || fail "a failed load did not keep exactly the first batch"
ok

echo "== locked store"
mkfifo "$T/fifo"
exec 3<>"$T/fifo"
# The background load holds the store while it waits for the fifo. Our probe
# could, by bad luck, take the lock first and make the load fail with exit 3:
# then start the load again.
locked=0
for _attempt in 1 2 3 4 5; do
    "$LSMCTL" "$S" load <"$T/fifo" 3>&- 2>"$T/bg.err" &
    BG_PID=$!
    for _ in $(seq 1 100); do
        kill -0 "$BG_PID" 2>/dev/null || break
        run "$S" get blob
        # The engine writes the holder's pid into LOCK just after taking the
        # lock: a probe landing in between sees no pid, so look again.
        if [[ $RC == 3 ]] && grep -Eq "\\b$BG_PID\\b" "$T/err"; then
            locked=1
            break 2
        fi
        sleep 0.1
    done
    # Still running after 10 s: it holds the store, yet the probe was not
    # refused with exit 3 and the holder's pid.
    if kill -0 "$BG_PID" 2>/dev/null; then
        expect_rc 3 "get on a store held by another process"
        expect_err "\\b$BG_PID\\b" "locked store message names the holder's pid $BG_PID"
    fi
    set +e
    wait "$BG_PID"
    bg_rc=$?
    set -e
    BG_PID=
    [[ $bg_rc == 3 ]] || fail "the background load exited $bg_rc: $(cat "$T/bg.err")"
done
((locked)) || fail "could not hold the store with a background load"
expect_rc 3 "get on a store held by another process"
expect_err "^lsmctl: .*(in use|lock)" "locked store"
expect_err "\\b$BG_PID\\b" "locked store message names the holder's pid $BG_PID"
run "$S" put k v
expect_rc 3 "put on a locked store"
printf 'from-fifo\tloaded while locked\n' >&3
exec 3>&-
set +e
wait "$BG_PID"
bg_rc=$?
set -e
BG_PID=
[[ $bg_rc == 0 ]] || fail "the background load exited $bg_rc: $(cat "$T/bg.err")"
run "$S" get from-fifo
expect_out 'loaded while locked' "the record written by the lock holder"

echo "== verify"
V=$T/verify
# About 1 MiB of values: one table whose middle is data, not index.
awk 'BEGIN { for (i = 1; i <= 8000; i++)
                 printf "vkey%06d\t%d-%s%s\n", i, i, "0123456789abcdef0123456789abcdef",
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }' \
    >"$T/verify.dump"
run_in "$T/verify.dump" "$V" load
expect_rc 0 "load the verify fixture"
run "$V" flush
expect_rc 0 "flush"
run "$V" verify
expect_rc 0 "verify of a good store"
expect_out 'verify: ok, 1 table checked\n' "verify summary"
run "$V" verify -v
expect_rc 0 "verify -v"
expect_err 'checking .*\.sst' "verify -v names the tables"
sst=$(ls -S "$V"/*.sst | head -1)
size=$(stat -c %s "$sst")
((size > 500000)) || fail "the verify fixture table is only $size bytes"
off=$((size / 2))
byte=$(od -An -tu1 -j "$off" -N1 "$sst" | tr -d ' ')
printf "$(printf '\\x%02x' $((byte ^ 0x55)))" |
    dd of="$sst" bs=1 seek="$off" conv=notrunc status=none
run "$V" verify
expect_rc 4 "verify of a damaged table"
expect_err "^lsmctl: verify: " "verify of a damaged table"
expect_err "$(basename "$sst")" "verify names the damaged file"
expect_err "offset" "verify names the offset"
run "$V" dump
[[ $RC == 4 ]] || fail "dump over a damaged block exited $RC, expected 4"
ok

echo "== get --offset/--length, streaming put"
A=$T/admin
slice() { # FILE OFFSET COUNT: those bytes of FILE
    dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=65536 status=none
}
head -c 3000000 /dev/urandom >"$T/v3m"
run_in "$T/v3m" "$A" put big
expect_rc 0 "put of a 3 MB value from stdin"
run "$A" get big
expect_rc 0 "get of a 3 MB value"
cmp -s "$T/v3m" "$T/out" || fail "a 3 MB value did not round-trip through a streaming put"
ok
run "$A" get big --offset 1000000 --length 5000
expect_rc 0 "get --offset --length"
slice "$T/v3m" 1000000 5000 >"$T/want"
cmp -s "$T/want" "$T/out" || fail "get --offset 1000000 --length 5000 returned the wrong bytes"
ok
run "$A" get --offset=2999990 big
tail -c 10 "$T/v3m" >"$T/want"
cmp -s "$T/want" "$T/out" || fail "get --offset near the end did not return the last 10 bytes"
ok
run "$A" get big --offset 5000000
expect_rc 0 "get --offset past the end"
expect_out '' "get --offset past the end"
run "$A" get big --length 0
expect_out '' "get --length 0"
run "$A" put small 'hello world'
run "$A" get small --offset 6 --length 3
expect_out 'wor' "get --offset 6 --length 3 of an inline value"
run "$A" get missing --offset 1
expect_rc 1 "get --offset of a missing key"
run "$A" get big --offset ten
expect_usage_error "get --offset ten"
run "$A" get big --length -1
expect_usage_error "get --length -1"

# The peak resident set of a process, in KiB: /usr/bin/time when there is
# one, else VmHWM sampled from /proc while it runs.
peak_rss() { # OUTFILE INFILE CMD...
    local out=$1 in=$2
    shift 2
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f %M -o "$T/rss" "$@" <"$in" >"$out" 2>"$T/err"
        RC=$?
        RSS=$(tail -n 1 "$T/rss")
    else
        "$@" <"$in" >"$out" 2>"$T/err" &
        local pid=$! hwm
        RSS=0
        while kill -0 "$pid" 2>/dev/null; do
            hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
            [[ -n $hwm ]] && ((hwm > RSS)) && RSS=$hwm
            sleep 0.05
        done
        wait "$pid"
        RC=$?
    fi
}
head -c $((100 << 20)) /dev/urandom >"$T/v100m"
set +e
peak_rss "$T/out" "$T/v100m" "$LSMCTL" "$A" put huge
set -e
expect_rc 0 "streaming put of 100 MiB"
echo "   put of 100 MiB from stdin: peak RSS $RSS KiB"
# A sanitizer's runtime (shadow memory, freed-memory quarantine) says nothing
# about the tool's own memory use: the bound is checked in normal builds.
# (No `ldd | grep -q` under pipefail: grep's early exit can fail ldd.)
libs=$(ldd "$LSMCTL" 2>/dev/null || true)
if [[ $libs == *libasan* || $libs == *libtsan* ]]; then
    echo "   (sanitizer build: memory bound not checked)"
else
    ((RSS > 0 && RSS < 40 * 1024)) || fail "put of a 100 MiB value used $RSS KiB of memory"
fi
ok
set +e
"$LSMCTL" "$A" get huge </dev/null 2>"$T/err" | cmp -s - "$T/v100m"
st=("${PIPESTATUS[@]}")
set -e
[[ ${st[0]} == 0 && ${st[1]} == 0 ]] || fail "100 MiB value did not round-trip (exit ${st[0]}, cmp ${st[1]})"
ok
run "$A" get huge --offset $(((100 << 20) - 4096)) --length 100000
tail -c 4096 "$T/v100m" >"$T/want"
cmp -s "$T/want" "$T/out" || fail "get of the last 4 KiB of a 100 MiB value"
ok
rm -f "$T/v100m"

echo "== compact"
run "$T/many" dump
cp "$T/out" "$T/many.before"
run "$T/many" compact
expect_rc 0 "compact the whole store"
run "$T/many" compact --from key000100 --to key000200
expect_rc 0 "compact --from --to"
run "$T/many" compact --escaped --from 'key\x30' --to key001000
expect_rc 0 "compact --escaped"
run "$T/many" dump
cmp -s "$T/many.before" "$T/out" || fail "compact changed the contents"
ok
run "$T/many" compact extra
expect_usage_error "compact with an argument"
run --read-only "$T/many" compact
expect_usage_error "--read-only compact"
run "$T/nothing" compact
expect_rc 7 "compact of a missing store"

echo "== sst-dump, manifest-dump, checkpoint"
D=$T/inspect
printf 'a\t1\nb\ttwo\\ttabs\nc\t3\n' >"$T/inspect.dump"
run_in "$T/inspect.dump" "$D" load
expect_rc 0 "load the inspect fixture"
run "$D" del c
run "$D" flush
sst=$(ls "$D"/*.sst | head -1)
run sst-dump "$sst"
expect_rc 0 "sst-dump"
[[ ! -s $T/err ]] || fail "sst-dump wrote to stderr"
grep -q "^table $sst: [0-9]* bytes$" "$T/out" || fail "sst-dump header"
grep -q '^property entries 3$' "$T/out" || fail "sst-dump properties"
grep -q '^ks=0 key=a seq=1 type=put value=1$' "$T/out" || fail "sst-dump entry a"
grep -q '^ks=0 key=b seq=2 type=put value=two\\ttabs$' "$T/out" || fail "sst-dump escapes a tab"
grep -q '^end: 3 entries, 0 range deletions$' "$T/out" || fail "sst-dump end line"
ok
all=""
for f in "$D"/*.sst; do
    run sst-dump "$f"
    expect_rc 0 "sst-dump $f"
    all+=$(cat "$T/out")
done
grep -q 'ks=0 key=c seq=4 type=del' <<<"$all" || fail "no table holds the deletion of c"
ok
cp "$sst" "$T/damaged.sst"
printf '\x55' | dd of="$T/damaged.sst" bs=1 seek=3 conv=notrunc status=none
run sst-dump "$T/damaged.sst"
expect_rc 4 "sst-dump of a damaged table"
expect_err "damaged.sst" "sst-dump names the damaged file"
expect_err "offset 0" "sst-dump names the damaged offset"
grep -q '^property entries 3$' "$T/out" || fail "sst-dump prints the lines before the damage"
ok
run sst-dump "$T/no-such.sst"
expect_rc 5 "sst-dump of a missing file"
run sst-dump
expect_usage_error "sst-dump without a file"
run "$D" sst-dump "$sst"
expect_usage_error "STORE sst-dump"
run --read-only sst-dump "$sst"
expect_usage_error "--read-only sst-dump"
run sst-dump --help
expect_rc 0 "sst-dump --help"
grep -q 'usage: lsmctl sst-dump FILE' "$T/out" || fail "sst-dump --help shows its usage"
ok
run "$D" manifest-dump
expect_rc 0 "manifest-dump"
grep -q '^CURRENT names MANIFEST-[0-9]*$' "$T/out" || fail "manifest-dump names the manifest"
grep -q "^  add L[0-6] $(basename "$sst")" "$T/out" || fail "manifest-dump lists the table"
grep -q '^end: clean end at offset [0-9]*$' "$T/out" || fail "manifest-dump end line"
ok
run "$T/nothing" manifest-dump
expect_rc 7 "manifest-dump of a missing store"
run "$D" checkpoint "$T/ckpt"
expect_rc 0 "checkpoint"
run "$D" dump
cp "$T/out" "$T/ckpt.want"
run --read-only "$T/ckpt" dump
cmp -s "$T/ckpt.want" "$T/out" || fail "the checkpoint holds other records than the store"
ok
for f in "$T"/ckpt/*.sst; do
    [[ $(stat -c %i "$f") == $(stat -c %i "$D/$(basename "$f")") ]] ||
        fail "checkpoint table $(basename "$f") is not a hard link"
done
ok
run "$T/ckpt" verify
expect_rc 0 "verify of the checkpoint"
run "$D" checkpoint "$T/ckpt"
expect_rc 5 "checkpoint into an existing directory"
expect_err "exists" "checkpoint into an existing directory"
run "$D" checkpoint
expect_usage_error "checkpoint without a directory"

echo "== wal-dump and repair"
Rp=$T/repairme
rm -f "$T/fifo"
mkfifo "$T/fifo"
"$LSMCTL" "$Rp" load <"$T/fifo" >/dev/null 2>"$T/bg.err" &
BG_PID=$!
disown "$BG_PID" # it is killed below: no "Killed" notice from the shell
exec 4>"$T/fifo"
awk 'BEGIN { for (i = 1; i <= 2000; i++) printf "r%06d\tvalue-%d\n", i, i }' >&4
# The load writes one 1000-record batch per record of the log; wait until
# both are there, then kill it: the writes are only in the log.
for _ in $(seq 1 200); do
    log=$(ls "$Rp"/*.log 2>/dev/null | head -1 || true)
    if [[ -n $log ]] && "$LSMCTL" wal-dump "$log" 2>/dev/null | grep -q 'seq=1001 ops=1000'; then
        break
    fi
    sleep 0.05
done
run "$Rp" repair
expect_rc 3 "repair of a store in use"
kill -9 "$BG_PID"
for _ in $(seq 1 500); do
    kill -0 "$BG_PID" 2>/dev/null || break
    sleep 0.01
done
BG_PID=
exec 4>&-
run wal-dump "$log"
expect_rc 0 "wal-dump"
size=$(stat -c %s "$log")
grep -q "^log $log: $size bytes$" "$T/out" || fail "wal-dump header"
grep -q '^record offset=0 length=[0-9]* seq=1 ops=1000$' "$T/out" || fail "wal-dump first record"
grep -q '^  ks=0 key=r000001 seq=1 type=put value=value-1$' "$T/out" || fail "wal-dump first operation"
grep -q '^record offset=[0-9]* length=[0-9]* seq=1001 ops=1000$' "$T/out" || fail "wal-dump second record"
grep -q "^end: clean end at offset $size$" "$T/out" || fail "wal-dump end line"
ok
second=$(sed -n 's/^record offset=\([0-9]*\) .* seq=1001 .*/\1/p' "$T/out")
cp "$log" "$T/damaged.log"
printf '\x55' | dd of="$T/damaged.log" bs=1 seek=$((second + 20)) conv=notrunc status=none
run wal-dump "$T/damaged.log"
expect_rc 4 "wal-dump of a damaged log"
expect_err "damaged.log" "wal-dump names the damaged file"
expect_err "offset $second" "wal-dump names the damaged record's offset"
grep -q 'key=r001000 seq=1000 ' "$T/out" || fail "wal-dump prints the records before the damage"
ok
truncate -s $((size - 5)) "$log"
dropped=$((size - 5 - second))
run wal-dump "$log"
expect_rc 0 "wal-dump of a torn log (what a crash leaves)"
grep -q "^end: truncated record at offset $second ($dropped bytes after it)$" "$T/out" ||
    fail "wal-dump end line of a torn log"
ok
run "$Rp" repair
expect_rc 0 "repair"
grep -q "$(basename "$log"): truncated record at offset $second: $dropped bytes dropped" "$T/out" ||
    fail "repair reports the torn tail"
grep -q "^recovered 1000 entries (.* 1 logs); 0 blocks and $dropped bytes of log could not be read$" \
    "$T/out" || fail "repair's final line"
ok
run "$Rp" get r000999
expect_out 'value-999' "a key from the log after repair"
run "$Rp" get r001500
expect_rc 1 "a key of the torn record after repair"
ls -d "$Rp"/lost-* >/dev/null 2>&1 || fail "repair left no lost-* directory"
ls "$Rp"/lost-*/"$(basename "$log")" >/dev/null 2>&1 || fail "the old log is not in lost-*"
ok
run "$Rp" repair
expect_rc 0 "repair of a healthy store"
run "$Rp" get r000001
expect_out 'value-1' "a repaired store repaired again"
run "$T/nothing" repair
expect_rc 7 "repair of a missing store"
run "$Rp" repair extra
expect_usage_error "repair with an argument"

echo "== progress: drawn only on a terminal, erased at the end"
P=$T/progress-store
# 3000 records of 100-byte values: dump's 320 KB of output overfill a pipe.
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "p%05d\t%0100d\n", i, i }' >"$T/p.dump"
# Not a terminal: nothing on stderr, from any of the long commands.
run_in "$T/p.dump" --create "$P" load
expect_rc 0 "load (no terminal)"
for cmd in dump verify compact repair; do
    run "$P" "$cmd"
    expect_rc 0 "$cmd (no terminal)"
    [[ ! -s $T/err ]] || fail "$cmd wrote to stderr without a terminal: $(head -c 300 "$T/err")"
    ok
done
run "$P" dump
cp "$T/out" "$T/p.expected"
# tty_run SHELL-COMMAND: run it under script(1), its stdin, stdout and stderr
# a terminal unless the command redirects them; the typescript is $T/tty.
tty_run() {
    script -qec "$1" /dev/null </dev/null >"$T/tty" 2>&1 || fail "under script(1): $1 failed: $(cat -v "$T/tty" | head -c 500)"
}
# ends_erased WHAT: the typescript ends with the progress line blanked out
# ("\r", spaces, "\r"), so nothing of it stays on the screen.
ends_erased() {
    local tail
    tail=$(tail -c 200 "$T/tty" | tr -d '\n')
    [[ $tail =~ $'\r'\ +$'\r'$ ]] || fail "$1: the progress line is not erased at the end: [$(cat -v "$T/tty" | tail -c 200)]"
    ok
}
# load, with a pause in its input longer than the drawing interval: the line
# after the pause counts the records and bytes read.
tty_run "(printf 'a\\t1\\n'; sleep 0.6; printf 'b\\t2\\n') | '$LSMCTL' --create '$T/p2' load"
grep -Eq $'\r''load: 2 records, 8 B, ' "$T/tty" || fail "load on a terminal shows no progress: [$(cat -v "$T/tty")]"
ok
ends_erased "load"
run "$T/p2" dump
expect_out 'a\t1\nb\t2\n' "the records loaded on a terminal"
# dump to a slow reader, stderr on the terminal: progress, and the data intact.
tty_run "'$LSMCTL' '$P' dump | (sleep 0.6; cat >'$T/p.out')"
grep -Eq $'\r''dump: [0-9]+ records, [0-9.]+ [KM]iB, ' "$T/tty" ||
    fail "dump on a terminal shows no progress: [$(cat -v "$T/tty" | head -c 500)]"
ok
ends_erased "dump"
cmp -s "$T/p.out" "$T/p.expected" || fail "dump with progress wrote different records"
ok
# dump to the terminal itself: the data alone, no progress line among it.
tty_run "'$LSMCTL' '$P' dump"
! grep -q 'dump: ' "$T/tty" || fail "dump to a terminal drew a progress line among its output"
ok

echo "PASS: $N_CHECKS checks"

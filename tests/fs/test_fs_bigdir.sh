#!/bin/bash
# test_fs_bigdir.sh LSMFS LSMCTL -- a directory of a million files lists
# (docs/FS.md §5: readdir streams a keys-only range scan and resumes from its
# offset, so listing N entries costs O(N) and holds no list in memory).
#
# The keys are loaded with lsmctl (writing a million files through the mount
# would take most of the test's time and is not what is tested here), then
# the mount lists the directory three ways:
#   - `ls -f` (getdents64 only, no stat): exactly N names, each once, the
#     first and last as expected, and a file beside the directory untouched;
#   - `find -type f -size -100c` (a stat of every entry: readdirplus and
#     lookups);
#   - a listing of a subdirectory between the big one's entries, to show the
#     scan skips the big directory's subtree instead of walking it.
# The daemon's peak RSS after the listings is printed (and must stay under
# 1 GiB: the listing must not hold the directory in memory beyond the
# kernel's inode cache).
#
# LSM_TEST_SCALE scales N (default 1,000,000). Exit 0 on success, 1 on a
# failure, 77 when /dev/fuse is missing.
set -u
source "$(dirname "$0")/fslib.sh" fs_bigdir "$@"

# Seconds since $1 (a `date +%s.%N`), one decimal.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

SCALE=${LSM_TEST_SCALE:-1}
N=$(awk -v s="$SCALE" 'BEGIN { n = int(1000000 * s); if (n < 1000) n = 1000; print n }')
S=$T/store
M=$T/mnt

# big/f0000000 .. big/f(N-1), big0/inner (a directory sorting between), zz.
t0=$(date +%s.%N)
{
    awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "big/f%07d\tv%d\n", i, i % 10 }'
    printf 'big0/inner\tIN\nzz\tZZ\n'
} | "$LSMCTL" --create "$S" load >/dev/null || die "lsmctl load of $N keys failed"
echo "# loaded $N keys in $(since "$t0") s"

must_mount "$S" "$M"

t0=$(date +%s.%N)
ls -f "$M/big" >"$T/names" || fail "ls -f of the big directory failed"
echo "# ls -f: $(wc -l <"$T/names") lines in $(since "$t0") s"
n_files=$(grep -vcx '\.\|\.\.' "$T/names")
if [[ $n_files == "$N" ]]; then ok; else fail "ls -f listed $n_files files, expected $N"; fi
n_unique=$(grep -vx '\.\|\.\.' "$T/names" | sort -u | wc -l)
if [[ $n_unique == "$N" ]]; then ok; else fail "ls -f listed $n_unique distinct names, expected $N"; fi
first=$(grep -vx '\.\|\.\.' "$T/names" | LC_ALL=C sort | head -1)
last=$(grep -vx '\.\|\.\.' "$T/names" | LC_ALL=C sort | tail -1)
expect_last=$(printf 'f%07d' $((N - 1)))
if [[ $first == f0000000 && $last == "$expect_last" ]]; then ok; else
    fail "names run from $first to $last, expected f0000000 to $expect_last"
fi

# -size needs a stat of every entry: lookups (or readdirplus attributes).
t0=$(date +%s.%N)
n_find=$(find "$M/big" -type f -size -100c | wc -l)
echo "# find -type f -size -100c: $n_find files in $(since "$t0") s"
if [[ $n_find == "$N" ]]; then ok; else fail "find found $n_find files, expected $N"; fi

# The root lists big, big0 and zz only: the scan seeks past big's subtree.
root=$(ls "$M" | xargs)
if [[ $root == "big big0 zz" ]]; then ok; else fail "root lists [$root], expected [big big0 zz]"; fi
got="$(cat "$M/big0/inner") $(cat "$M/zz")"
if [[ $got == "IN ZZ" ]]; then ok; else fail "big0/inner and zz read [$got], expected [IN ZZ]"; fi
got=$(cat "$M/big/$expect_last")
if [[ $got == "v$(((N - 1) % 10))" ]]; then ok; else fail "big/$expect_last reads [$got]"; fi

pid=${FS_PID[$M]}
rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
echo "# daemon peak RSS: $((rss_kb / 1024)) MiB"
if ((rss_kb < 1024 * 1024)); then ok; else fail "the daemon's peak RSS is $((rss_kb / 1024)) MiB after listing"; fi

must_unmount "$M"
finish

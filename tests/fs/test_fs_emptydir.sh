#!/usr/bin/env bash
#
# test_fs_emptydir.sh -- rmdir and readdir of a directory emptied by many
# unlinks cost nothing that grows with the deletions, run by ctest as
#
#     bash tests/fs/test_fs_emptydir.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# Deleting a file leaves a tombstone in the engine until compaction drops
# it; a scan of an emptied directory's keys steps over every one. lsmfs keeps
# an exact count of a directory's entries on its inode (docs/FS.md §3.3), so
# a directory known to be empty is not scanned. The engine's "iterator
# steps" (internal entries iterators stepped over, deletions included) come
# from the root's virtual attribute lsmfs.stats.
#   1. a directory made with mkdir, N files created and unlinked: ls -a
#      lists . and .. and rmdir succeeds, each stepping over fewer than 50
#      entries (a scan steps over the N tombstones of each keyspace);
#   2. after a remount (no count known), a directory of N files listed
#      first (as rm -rf does), its files unlinked, then rmdir: the same;
#      and rm -rf of another such directory steps over less than the
#      listing's steps + 2N (its unlinks about N; without the count, its
#      rmdir adds 4N: every version of the deleted keys);
#   3. the count stays exact through every change of entries: create,
#      mknod, mkdir, symlink, link, an O_TMPFILE file named by a link,
#      rename in, out and within,
#      RENAME_EXCHANGE, a file unlinked while open, a long name ("%c"
#      directory): rmdir is ENOTEMPTY while an entry is left (and ls shows
#      it), and succeeds once none is.
#
# LSM_TEST_SCALE scales N (default 10,000, at least 1,000). Exit 0 if every
# check passed, 1 otherwise, 77 when /dev/fuse is missing.
set -u
source "$(dirname "$0")/fslib.sh" emptydir "$@"

SCALE=${LSM_TEST_SCALE:-1}
N=$(awk -v s="$SCALE" 'BEGIN { n = int(10000 * s); if (n < 1000) n = 1000; print n }')
S=$T/store
M=$T/mnt
mkdir -p "$M"

# counter NAME: the value of one line of lsmfs.stats ("iterator steps  N").
counter() {
    local v
    v=$(getfattr --only-values -n lsmfs.stats "$M" 2>/dev/null |
        awk -v n="$1" 'index($0, n) == 1 { sub(n, ""); print $1 + 0; exit }')
    [[ -n $v ]] || die "no '$1' in lsmfs.stats of $M"
    echo "$v"
}
steps() { counter "iterator steps"; }

# fill DIR: N empty files f1..fN in DIR; unfill DIR: unlink them.
fill() { (cd "$1" && seq -f f%g "$N" | xargs touch) || die "cannot create $N files in $1"; }
unfill() { (cd "$1" && seq -f f%g "$N" | xargs rm) || die "cannot unlink the files of $1"; }

# emptied DIR WHAT: DIR's files were just unlinked: its listing and its
# rmdir each step over fewer than 50 entries.
emptied() {
    local d=$1 what=$2 s0 s1 s2 list
    s0=$(steps)
    list=$(ls -a "$d" | tr '\n' ' ')
    s1=$(steps)
    [[ $list == ". .. " ]] && ok || fail "$what: ls -a of the emptied directory: $list"
    echo "# $what: ls -a of the emptied directory stepped over $((s1 - s0)) entries"
    ((s1 - s0 < 50)) && ok ||
        fail "$what: ls -a after $N unlinks stepped over $((s1 - s0)) entries (expected < 50)"
    rmdir "$d" && ok || fail "$what: rmdir of the emptied directory failed"
    s2=$(steps)
    echo "# $what: rmdir after $N unlinks stepped over $((s2 - s1)) entries"
    ((s2 - s1 < 50)) && ok ||
        fail "$what: rmdir after $N unlinks stepped over $((s2 - s1)) entries (expected < 50)"
    [[ ! -e $d ]] && ok || fail "$what: $d still exists"
}

# The count lives on the directory's inode, which the kernel may forget
# between two commands under memory pressure; rm -rf keeps the directory
# open while it empties it, and so do these steps (descriptor 4).

# ---- 1. a directory made through this mount ----
must_mount "$S" "$M"
mkdir "$M/fresh" || die "mkdir"
exec 4<"$M/fresh"
fill "$M/fresh"
unfill "$M/fresh"
emptied "$M/fresh" "mkdir, $N files"
exec 4<&-

mkdir "$M/listed" "$M/rmrf" || die "mkdir"
fill "$M/listed"
fill "$M/rmrf"
must_unmount "$M"

# ---- 2. after a remount: counted by a complete listing ----
must_mount "$S" "$M"
exec 4<"$M/listed"
s0=$(steps)
n=$(ls -f "$M/listed" | wc -l)
s1=$(steps)
((n == N + 2)) && ok || fail "ls -f of $N files listed $n names"
unfill "$M/listed"
emptied "$M/listed" "remount, listed"
exec 4<&-

s2=$(steps)
rm -rf "$M/rmrf" && ok || fail "rm -rf of $N files failed"
s3=$(steps)
echo "# rm -rf of $N files stepped over $((s3 - s2)) entries; listing them: $((s1 - s0))"
# (Each unlink steps over about one entry: the end of its search for the
# file's extended attributes. Without the count, rmdir adds four per file.)
((s3 - s2 < s1 - s0 + 2 * N)) && ok ||
    fail "rm -rf of $N files stepped over $((s3 - s2)) entries (a listing: $((s1 - s0)); expected < $((s1 - s0 + 2 * N)))"
[[ ! -e $M/rmrf ]] && ok || fail "rmrf still exists"

# ---- 3. the count stays exact ----
# notempty DIR WHAT: rmdir DIR must fail with ENOTEMPTY and ls must list
# something.
notempty() {
    local out
    out=$(rmdir "$1" 2>&1) && fail "$2: rmdir succeeded with entries left" ||
        { [[ $out == *"not empty"* ]] && ok || fail "$2: rmdir: $out"; }
    [[ -n $(ls -A "$1") ]] && ok || fail "$2: ls -A lists nothing in a directory rmdir says is not empty"
}
# exchange A B: renameat2(RENAME_EXCHANGE)
exchange() {
    python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
if libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD, sys.argv[2].encode(), 2) != 0:
    e = ctypes.get_errno()
    sys.exit("renameat2: " + os.strerror(e))
' "$1" "$2"
}
E=$M/e
mkdir "$E" "$M/other" || die "mkdir"
exec 4<"$E"
echo x >"$M/other/y"

touch "$E/a" && notempty "$E" "create"
rm "$E/a"
mkfifo "$E/p" && notempty "$E" "mknod"
rm "$E/p"
mkdir "$E/sub" && notempty "$E" "mkdir"
rmdir "$E/sub"
ln -s target "$E/l" && notempty "$E" "symlink"
rm "$E/l"
ln "$M/other/y" "$E/y" && notempty "$E" "link"
rm "$E/y"
python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b"t")
# linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH)
if libc.linkat(fd, b"", -100, (sys.argv[1] + "/t").encode(), 0x1000) != 0:
    sys.exit("linkat: " + os.strerror(ctypes.get_errno()))
' "$E" && notempty "$E" "an O_TMPFILE file named by a link" || fail "O_TMPFILE and a link"
rm "$E/t"
touch "$E/a" "$E/b"
mv "$E/a" "$M/other/a" || fail "rename out"
mv "$E/b" "$E/c" || fail "rename within"
notempty "$E" "rename within"
mv "$E/c" "$M/other/c" || fail "rename out"
mv "$M/other/a" "$E/a2" && notempty "$E" "rename in"
mv "$E/a2" "$M/other/a" || fail "rename out"
mv "$M/other/a" "$M/other/c" || fail "rename onto"
touch "$E/z"
exchange "$E/z" "$M/other/c" && ok || fail "RENAME_EXCHANGE failed"
notempty "$E" "exchange"
rm "$E/z"
mkdir "$E/d2"
exchange "$E/d2" "$M/other/y" && ok || fail "RENAME_EXCHANGE of a directory and a file failed"
notempty "$E" "exchange of a directory"
rm "$E/d2"
exec 3>"$E/open"
echo data >&3
rm "$E/open"
rmdir "$E" && ok || fail "rmdir with a file unlinked while open failed"
echo more >&3 && ok || fail "write to the file unlinked while open"
exec 3>&- 4<&-
[[ ! -e $E ]] && ok || fail "$E exists after its rmdir"

# A long name: a segment of 300 bytes (not a name: over 255) is shown as
# two "%c" directories and a "%x" file (docs/FS.md §2.1); the directory
# holding it lists the first "%c" directory.
mkdir "$E" || die "mkdir"
exec 4<"$E"
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
long=$(printf 'n%.0s' $(seq 300))
c1=%c$(hex "${long:0:126}")
c2=%c$(hex "${long:126:126}")
x=%x$(hex "${long:252}")
# (An empty "%c" directory lasts only while the kernel holds it: held
# open here, descriptors 5 and 6.)
mkdir "$E/$c1" && exec 5<"$E/$c1" && mkdir "$E/$c1/$c2" && exec 6<"$E/$c1/$c2" &&
    touch "$E/$c1/$c2/$x" && ok || fail "create a long name"
notempty "$E" "long name"
rm "$E/$c1/$c2/$x" && ok || fail "unlink the long name"
exec 5<&- 6<&-
[[ -z $(ls -A "$E") ]] && ok || fail "$E lists $(ls -A "$E") after the long name went"
rmdir "$E" && ok || fail "rmdir after the long name went"
exec 4<&-

must_unmount "$M"
check "lsmctl verify" "$LSMCTL" "$S" verify
finish

#!/bin/bash
# test_fs_fixture.sh LSMFS LSMCTL -- a store written through the mount by the
# format-1 lsmfs (commit a943e59) mounts with today's lsmfs and shows exactly
# the tree it was given (docs/FORMAT.md §0, docs/FS.md).
#
# tests/fixtures/v1-fs-store holds the tree of tests/fixtures/v1_tree.sh,
# copied in with cp -a and unmounted, then mounted again, changed (a file
# written in one piece, a file of 100,000 bytes, a file removed) and the
# daemon killed with kill -9, so the last changes are only in its log. The
# test mounts a copy, compares it with the tree made again here (contents,
# modes, symlink, extended attribute, times), changes it through today's
# lsmfs, remounts and compares again, and checks the store with lsmctl.
# Its directory records are of version 1, without subdirectory counts
# (docs/FS.md §3.1): their st_nlink is 1 until a change counts them, and
# exact from then on, across a remount; the first read-write mount upgrades
# the store to format 2 and a read-only mount afterwards reads it the same.
#
# tests/fixtures/v4-fs-store is a store of lsmfs format 4 (hard links in
# lsmfs.inode, hole marks in lsmfs.holes) written by make_v4_fs_store.sh:
# today's lsmfs shows its linked names as one file (the last change, made
# through one name, only in the log), its sparse files with their stored
# marks (st_blocks from their chunks, no count of zeros), links a new name,
# and lsmctl check-values finds every name count right afterwards.
source "$(dirname "$0")/fslib.sh" fixture "$@"
FIX=$(realpath "$(dirname "$0")/../fixtures")

expect=$T/expect
bash "$FIX/v1_tree.sh" "$expect"
printf 'written before a kill -9\n' >"$expect/docs/in-log"
head -c 100000 /dev/zero | tr '\0' 'q' >"$expect/src/lib/big-in-log"
rm "$expect/src/file3.txt"

store=$T/store
cp -a "$FIX/v1-fs-store" "$store"
mnt=$T/mnt

# compare A B: same files, bytes, modes, symlink targets, sizes and the mtimes
# the tree script set.
compare() {
    diff -r --no-dereference "$1" "$2" >"$T/diff.out" 2>&1 || { cat "$T/diff.out"; return 1; }
    (cd "$1" && find . \( -type d -printf '%P d %m\n' \) -o -printf '%P %y %m %s %l\n' | sort) >"$T/a.list"
    (cd "$2" && find . \( -type d -printf '%P d %m\n' \) -o -printf '%P %y %m %s %l\n' | sort) >"$T/b.list"
    diff "$T/a.list" "$T/b.list" || return 1
    [[ $(stat -c %Y "$1/README") == $(stat -c %Y "$2/README") ]] || { echo "mtime differs"; return 1; }
}

# nlink_is DIR N: st_nlink of DIR is N. nlinks_ok DIR: every directory
# below DIR has st_nlink 1 (unknown) or 2 + its subdirectories.
nlink_is() { [[ $(stat -c %h "$1") == "$2" ]] || { echo "st_nlink of $1: $(stat -c %h "$1"), expected $2"; return 1; }; }
nlinks_ok() {
    local d n sub
    while IFS= read -r -d '' d; do
        n=$(stat -c %h "$d")
        sub=$(find "$d" -mindepth 1 -maxdepth 1 -type d | wc -l)
        [[ $n == 1 || $n == $((sub + 2)) ]] || { echo "st_nlink of $d: $n, $sub subdirectories"; return 1; }
    done < <(find "$1" -type d -print0)
}

must_mount "$store" "$mnt"
check "the v1 store shows the tree" compare "$expect" "$mnt"
check "version-1 directory records: st_nlink 1" nlink_is "$mnt/docs" 1
check "root of a v1 store: st_nlink 1" nlink_is "$mnt" 1
check "extended attribute kept" bash -c "[[ \$(getfattr --only-values -n user.color '$mnt/README') == blue ]]"

# Changes through today's lsmfs, then a remount.
for d in "$expect" "$mnt"; do
    printf 'appended\n' >>"$d/src/file5.txt"
    head -c 200000 /dev/zero | tr '\0' 'w' >"$d/src/lib/big.txt"
    printf 'new\n' >"$d/docs/new"
    mv "$d/src/file9.txt" "$d/docs/moved9"
    truncate -s 50000 "$d/src/lib/big-in-log"
done
mkdir "$expect/docs/sub" "$mnt/docs/sub"
check "a changed directory is counted" nlink_is "$mnt/docs" 4
check "src, changed, is counted" nlink_is "$mnt/src" 3
must_unmount "$mnt"
check "lsmctl verify" "$LSMCTL" "$store" verify
check "lsmctl reads a file" bash -c "[[ \$('$LSMCTL' '$store' get docs/new) == new ]]"
must_mount "$store" "$mnt"
check "after changes and a remount" compare "$expect" "$mnt"
check "counts kept across the remount" nlink_is "$mnt/docs" 4
check "every count is exact or 1" nlinks_ok "$mnt"
must_unmount "$mnt"
must_mount "$store" "$mnt" -o ro
check "read-only mount of the upgraded store" compare "$expect" "$mnt"
check "read-only: counts kept" nlink_is "$mnt/docs" 4
must_unmount "$mnt"

# ---- a format-4 store: hard links and hole marks -----------------------------
store4=$T/store4
cp -a "$FIX/v4-fs-store" "$store4"
ino() { stat -c %i "$1"; }
blocks_at_most() { local b; b=$(stat -c %b "$1"); ((b <= $2)) || { echo "st_blocks of $1: $b, expected <= $2"; return 1; }; }
size_is() { [[ $(stat -c %s "$1") == "$2" ]] || { echo "size of $1: $(stat -c %s "$1"), expected $2"; return 1; }; }
must_mount "$store4" "$mnt"
check "v4: two names, one inode" bash -c "[[ $(ino "$mnt/d/a") == $(ino "$mnt/d/sub/b") ]]"
check "v4: the change in the log shows through the other name" \
    bash -c "[[ \$(cat '$mnt/d/a') == \$'one file, two names\nappended through b' ]]"
check "v4: three names" nlink_is "$mnt/t" 3
check "v4: one mode for all names" bash -c "[[ \$(stat -c %a '$mnt/d/t3') == 640 ]]"
check "v4: one attribute for all names" bash -c "[[ \$(getfattr --only-values -n user.k '$mnt/t') == linked ]]"
check "v4: sparse file's size" size_is "$mnt/sparse" $((10 * 1024 * 1024))
check "v4: sparse file's blocks (its mark)" blocks_at_most "$mnt/sparse" 256
check "v4: sparse file's data" \
    bash -c "[[ \$(dd if='$mnt/sparse' bs=1 skip=$((5 * 1024 * 1024)) count=13 status=none) == 'in the middle' ]]"
check "v4: file written past its end" size_is "$mnt/grown" $((3 * 1024 * 1024 + 12))
check "v4: its blocks" blocks_at_most "$mnt/grown" 512
check "v4: symlink" bash -c "[[ \$(readlink '$mnt/link-to-a') == d/a ]]"
ln "$mnt/t" "$mnt/d/sub/t4" || fail "v4: link a fourth name"
check "v4: four names" nlink_is "$mnt/t2" 4
must_unmount "$mnt"
check "v4: lsmctl check-values" "$LSMCTL" "$store4" check-values
must_mount "$store4" "$mnt"
check "v4: four names after a remount" nlink_is "$mnt/d/t3" 4
check "v4: sparse file's blocks after a remount" blocks_at_most "$mnt/sparse" 256
must_unmount "$mnt"
finish

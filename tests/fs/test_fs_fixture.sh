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

must_mount "$store" "$mnt"
check "the v1 store shows the tree" compare "$expect" "$mnt"
check "extended attribute kept" bash -c "[[ \$(getfattr --only-values -n user.color '$mnt/README') == blue ]]"

# Changes through today's lsmfs, then a remount.
for d in "$expect" "$mnt"; do
    printf 'appended\n' >>"$d/src/file5.txt"
    head -c 200000 /dev/zero | tr '\0' 'w' >"$d/src/lib/big.txt"
    printf 'new\n' >"$d/docs/new"
    mv "$d/src/file9.txt" "$d/docs/moved9"
    truncate -s 50000 "$d/src/lib/big-in-log"
done
must_unmount "$mnt"
check "lsmctl verify" "$LSMCTL" "$store" verify
check "lsmctl reads a file" bash -c "[[ \$('$LSMCTL' '$store' get docs/new) == new ]]"
must_mount "$store" "$mnt"
check "after changes and a remount" compare "$expect" "$mnt"
must_unmount "$mnt"
finish

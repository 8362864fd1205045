#!/usr/bin/env bash
#
# test_fs_links_tools.sh -- hard links through the tools people use, run by ctest as
#
#     bash tests/fs/test_fs_links_tools.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# A tree with hard-linked pairs and a triple (in one directory and across
# directories, a linked symlink) is made outside the mount, then:
#   - rsync -aH into the mount and back out, and tar (create from the tree,
#     extract into the mount; create from the mount, extract outside): each
#     copy has the same inode groups (the names sharing an inode) as the
#     original, and the same contents;
#   - cp -al of a directory inside the mount, then a write through one copy
#     shows in both (and st_nlink counts both names);
#   - du counts a linked file once;
#   - after the unmount, `lsmctl get` of each name of a group returns the
#     current bytes, and `lsmctl verify` passes; after a remount the groups
#     are the same;
#   - git clone --local of a small repository on the mount (git links the
#     object files), when git is installed; then git fsck.
# A failing check is reported and the script goes on; it exits 1 if any
# check failed, 77 if /dev/fuse is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" links_tools "$@"

STORE=$T/store
MNT=$T/mnt
must_mount "$STORE" "$MNT"

# groups DIR: one line per inode with more than one name under DIR: its
# names (relative, sorted) joined by spaces; the lines sorted.
groups() {
    (cd "$1" && find . -mindepth 1 ! -type d -links +1 -printf '%i %p\n') |
        awk '{ n[$1] = n[$1] " " $2 } END { for (i in n) print n[i] }' |
        while read -r line; do tr ' ' '\n' <<<"$line" | LC_ALL=C sort | tr '\n' ' '; echo; done |
        LC_ALL=C sort
}
# same_groups WHAT A B: the inode groups of A and B are the same, and not empty.
same_groups() {
    groups "$2" >"$T/groups.a"
    groups "$3" >"$T/groups.b"
    if [[ ! -s $T/groups.a ]]; then
        fail "$1: $2 has no hard-linked names"
    elif cmp -s "$T/groups.a" "$T/groups.b"; then
        ok
    else
        fail "$1: inode groups differ ($2 vs $3): $(diff "$T/groups.a" "$T/groups.b" | head -20)"
    fi
}

# ---- the source tree ------------------------------------------------------------
SRC=$T/src/tree
mkdir -p "$SRC/d1/d2" "$SRC/other"
for i in 1 2 3 4 5; do
    head -c $((i * 3000)) /dev/urandom >"$SRC/f$i"
done
printf 'small\n' >"$SRC/d1/small"
head -c 200000 /dev/urandom >"$SRC/d1/big"
ln "$SRC/f1" "$SRC/f1.link"                 # a pair in one directory
ln "$SRC/f2" "$SRC/d1/d2/f2.link"           # a pair across directories
ln "$SRC/d1/big" "$SRC/other/big.1"         # a triple
ln "$SRC/d1/big" "$SRC/other/big.2"
ln "$SRC/d1/small" "$SRC/small.link"
ln -s f3 "$SRC/sym"
ln "$SRC/sym" "$SRC/d1/sym.link"            # a linked symlink (ext4 allows it)
chmod 640 "$SRC/f1"
[[ -n $(groups "$SRC") ]] || die "the source tree has no hard links"

# ---- rsync -aH in and out ------------------------------------------------------------
check "rsync -aH into the mount" rsync -aH "$SRC/" "$MNT/rs/"
check "diff -r after rsync -aH in" diff -r --no-dereference "$SRC" "$MNT/rs"
same_groups "rsync -aH in" "$SRC" "$MNT/rs"
check "rsync -aH out of the mount" rsync -aH "$MNT/rs/" "$T/rs-out/"
check "diff -r after rsync -aH out" diff -r --no-dereference "$SRC" "$T/rs-out"
same_groups "rsync -aH out" "$SRC" "$T/rs-out"
out=$(rsync -aHni "$SRC/" "$MNT/rs/" 2>&1) && [[ -z $out ]] && ok ||
    fail "rsync -aHni has work left: $(head -c 2000 <<<"$out")"

# ---- tar in and out -----------------------------------------------------------------
tar -C "$SRC" -cf "$T/src.tar" . || die "tar of the source"
mkdir "$MNT/tar"
check "tar x into the mount" tar -C "$MNT/tar" -xpf "$T/src.tar"
check "diff -r after tar x" diff -r --no-dereference "$SRC" "$MNT/tar"
same_groups "tar x into the mount" "$SRC" "$MNT/tar"
check "tar c from the mount" tar -C "$MNT/tar" -cf "$T/mnt.tar" .
nhard=$(tar -tvf "$T/mnt.tar" | grep -c ' link to ' || true)
[[ $nhard == 6 ]] && ok || fail "the mount's archive has $nhard hard-link members, expected 6"
mkdir "$T/tar-out"
check "tar x of the mount's archive" tar -C "$T/tar-out" -xpf "$T/mnt.tar"
check "diff -r after tar out" diff -r --no-dereference "$SRC" "$T/tar-out"
same_groups "tar out of the mount" "$SRC" "$T/tar-out"

# ---- cp -al, then a write through one copy ------------------------------------------------
check "cp -al inside the mount" cp -al "$MNT/rs" "$MNT/al"
n=$(stat -c %h "$MNT/al/f3" 2>&1 || true)
[[ $n == 2 ]] && ok || fail "st_nlink of al/f3 after cp -al: $n, expected 2"
n=$(stat -c %h "$MNT/al/d1/big" 2>&1 || true)
[[ $n == 6 ]] && ok || fail "st_nlink of al/d1/big after cp -al: $n, expected 6"
[[ $(stat -c %i "$MNT/al/f3" 2>&1 || true) == $(stat -c %i "$MNT/rs/f3" 2>&1 || true) ]] && ok ||
    fail "cp -al: al/f3 and rs/f3 have different inode numbers"
printf 'appended through the copy' >>"$MNT/al/f3" || fail "append to al/f3"
check "a write through the cp -al copy shows in the original" cmp "$MNT/al/f3" "$MNT/rs/f3"
tail -c 25 "$MNT/rs/f3" | grep -q 'appended through the copy' && ok ||
    fail "rs/f3 does not end with the bytes appended through al/f3"
printf 'rewritten' >"$MNT/rs/d1/small" || fail "rewrite rs/d1/small" # O_TRUNC through one name
for n in al/d1/small rs/small.link al/small.link; do
    got=$(cat "$MNT/$n" 2>&1 || true)
    [[ $got == rewritten ]] && ok || fail "$n after a rewrite of rs/d1/small: $got"
done

# ---- du counts a linked file once ---------------------------------------------------------
a=$(du -s --apparent-size -B1 "$MNT/rs" | cut -f1)
[[ -d $MNT/al ]] || mkdir -p "$MNT/al"
b=$(du -s --apparent-size -B1 "$MNT/rs" "$MNT/al" | awk 'NR == 2 { print $1 }')
(( b < a / 10 )) && ok || fail "du counted the cp -al copy again: $a then $b bytes"

# ---- git clone --local ---------------------------------------------------------------------
if command -v git >/dev/null; then
    G="$MNT/git"
    mkdir "$G"
    (
        set -e
        export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
        git init -q "$G/repo"
        cd "$G/repo"
        for i in 1 2 3; do echo "line $i" >"file$i"; git add "file$i"; git commit -qm "commit $i"; done
        git gc -q
    ) >"$T/git.log" 2>&1 || fail "git init/commit on the mount: $(tail -5 "$T/git.log")"
    check "git clone --local on the mount" git clone -q --local "$G/repo" "$G/clone"
    pack=$(find "$G/clone/.git/objects/pack" -name '*.pack' 2>/dev/null | head -1 || true)
    [[ -n $pack && $(stat -c %h "$pack") == 2 ]] && ok ||
        fail "git clone --local did not hard-link the pack (st_nlink $(stat -c %h "$pack" 2>/dev/null))"
    check "git fsck of the clone" git -C "$G/clone" fsck --strict
    [[ $(git -C "$G/clone" log --oneline 2>/dev/null | wc -l) == 3 ]] && ok || fail "the clone lacks commits"
else
    echo "# git not installed: git clone --local skipped"
fi

# ---- unmount: lsmctl sees every name; remount: the same groups --------------------------
cp "$MNT/rs/f3" "$T/f3.now"
groups "$MNT" >"$T/groups.mnt"
must_unmount "$MNT"
for n in al/f3 rs/f3; do
    "$LSMCTL" "$STORE" get "$n" >"$T/got" || fail "lsmctl get $n: exit $?"
    cmp -s "$T/got" "$T/f3.now" && ok || fail "lsmctl get $n differs from the file's bytes"
done
for n in rs/d1/big rs/other/big.1 rs/other/big.2 al/d1/big tar/other/big.2; do
    "$LSMCTL" "$STORE" get "$n" >"$T/got" || fail "lsmctl get $n: exit $?"
    cmp -s "$T/got" "$SRC/d1/big" && ok || fail "lsmctl get $n differs from d1/big"
done
for n in rs/d1/small rs/small.link al/d1/small; do
    got=$("$LSMCTL" "$STORE" get "$n" 2>&1) || fail "lsmctl get $n: exit $?"
    [[ $got == rewritten ]] && ok || fail "lsmctl get $n: [$got]"
done
check "lsmctl verify" "$LSMCTL" "$STORE" verify
must_mount "$STORE" "$MNT"
groups "$MNT" >"$T/groups.again"
check "inode groups after a remount" cmp "$T/groups.mnt" "$T/groups.again"
must_unmount "$MNT"

finish

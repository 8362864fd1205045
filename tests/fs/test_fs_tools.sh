#!/usr/bin/env bash
#
# test_fs_tools.sh -- ordinary tools on a mounted lsmfs, run by ctest as
#
#     bash tests/fs/test_fs_tools.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# A real tree (/usr/include: ~9,000 files, symlinks, modes 644/755/777;
# LSM_TEST_SCALE < 1 takes a sample of its files, see below) goes
# through the mount and back with the tools people use, and every copy is
# compared with the original:
#   - cp -a into the mount; diff -r; the same listing of (path, type, mode,
#     owner, size, mtime to the nanosecond, symlink target) as the original;
#   - tar -d (--compare) of an archive of the original against the copy in
#     the mount (contents, modes, owners, mtimes, symlinks), and of an archive
#     made from the mount against the original; no member of the mount's
#     archive is a hard link (equal inode numbers would make tar write one);
#     tar x of the original archive into the mount, compared the same way;
#   - rsync -a in and out, after which rsync -ani (and -anic, by checksum)
#     has nothing to do;
#   - mv of a directory inside the mount and across file systems, rm -rf;
#   - find: the counts by type, name, size (of files: a directory's size is
#     each file system's own) and permission match the original; -newer lists exactly the files touched after a reference;
#   - an editor-style save (write a temporary file, fsync it, rename it over
#     the original, fsync the directory), by python3 and by dd + mv + sync,
#     and an Emacs-style save (the original renamed to a backup first);
#   - all of it again after an unmount and a remount, and lsmctl verify of
#     the store.
# A failing check is reported and the script goes on; it exits 1 if any
# check failed, 77 if /dev/fuse is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" tools "$@"

SRC=${LSMFS_TEST_TREE:-/usr/include}
[[ -d $SRC ]] || die "no source tree $SRC"
# Below scale 1 (the sanitizer builds run at 0.3 or less) the tree is a
# sample of SRC: every directory and symlink, and that fraction of the
# regular files, copied with tar so modes, owners and times are kept. The
# checks are the same; only the number of files shrinks.
SCALE=${LSM_TEST_SCALE:-1}
if [[ -z ${LSMFS_TEST_TREE:-} ]] && awk -v s="$SCALE" 'BEGIN { exit !(s < 1) }'; then
    (cd "$(dirname "$SRC")" && find "$(basename "$SRC")" \( -type f -o -type d -o -type l \) -printf '%y %p\n' |
        awk -v s="$SCALE" '$1 != "f" || (NR * 7919) % 1000 < s * 1000 { print substr($0, 3) }') >"$T/sample.list"
    mkdir "$T/sample"
    tar -C "$(dirname "$SRC")" --no-recursion -cf - -T "$T/sample.list" | tar -C "$T/sample" -xpf -
    SRC=$T/sample/$(basename "$SRC")
fi
STORE=$T/store
MNT=$T/mnt
must_mount "$STORE" "$MNT"

# listing DIR [s]: one line per entry with everything cp -a and tar keep;
# mtimes to the nanosecond, or to the second with "s" (tar's archive format
# keeps whole seconds).
listing() {
    local t='%TY-%Tm-%Td+%TT'
    [[ ${2:-} == s ]] && t='%Ts'
    (cd "$1" && find . -mindepth 1 \( -type d -printf "%p d %m %U:%G $t\n" \) \
        -o \( -type l -printf '%p l %l\n' \) \
        -o -printf "%p %y %m %U:%G %s $t\n" | LC_ALL=C sort)
}
# same_listing WHAT A B [s]
same_listing() {
    local what=$1
    listing "$2" "${4:-}" >"$T/list.a"
    listing "$3" "${4:-}" >"$T/list.b"
    if cmp -s "$T/list.a" "$T/list.b"; then
        ok
    else
        fail "$what: listings differ ($2 vs $3): $(diff "$T/list.a" "$T/list.b" | head -20)"
    fi
}

N_SRC=$(find "$SRC" | wc -l)
echo "# source tree $SRC: $N_SRC entries"

# ---- cp -a ------------------------------------------------------------------
mkdir "$MNT/cp"
check "cp -a $SRC into the mount" cp -a "$SRC" "$MNT/cp/"
DST=$MNT/cp/$(basename "$SRC")
check "diff -r of the cp -a copy" diff -r --no-dereference "$SRC" "$DST"
same_listing "cp -a copy" "$SRC" "$DST"

# ---- tar ----------------------------------------------------------------------
SRCPARENT=$(dirname "$SRC")
SRCBASE=$(basename "$SRC")
tar -C "$SRCPARENT" -cf "$T/orig.tar" "$SRCBASE"
check "tar -d of the original's archive against the cp -a copy" \
    tar -C "$MNT/cp" -df "$T/orig.tar"
check "tar c from the mount" tar -C "$MNT/cp" -cf "$T/mnt.tar" "$SRCBASE"
check "tar -d of the mount's archive against the original" \
    tar -C "$SRCPARENT" -df "$T/mnt.tar"
n_links=$(tar -tvf "$T/mnt.tar" | grep -c ' link to ' || true)
if [[ $n_links == 0 ]]; then
    ok
else
    fail "tar stored $n_links hard links from the mount (files sharing an inode number): " \
        "$(tar -tvf "$T/mnt.tar" | grep ' link to ' | head -5)"
fi
mkdir "$T/untar"
tar -C "$T/untar" -xf "$T/mnt.tar"
check "diff -r of the mount's archive, extracted, against the original" \
    diff -r --no-dereference "$SRC" "$T/untar/$SRCBASE"
same_listing "the mount's archive extracted" "$SRC" "$T/untar/$SRCBASE" s
mkdir "$MNT/tarx"
check "tar x into the mount" tar -C "$MNT/tarx" -xf "$T/orig.tar"
check "tar -d against the tree tar x made in the mount" tar -C "$MNT/tarx" -df "$T/orig.tar"
same_listing "tar x into the mount" "$SRC" "$MNT/tarx/$SRCBASE" s

# ---- rsync ----------------------------------------------------------------------
check "rsync -a into the mount" rsync -a "$SRC/" "$MNT/rsync/"
out=$(rsync -ani "$SRC/" "$MNT/rsync/" 2>&1) || true
if [[ -z $out ]]; then ok; else fail "rsync -ani after rsync -a in reports changes: $(head -c 2000 <<<"$out")"; fi
out=$(rsync -anic "$SRC/" "$MNT/rsync/" 2>&1) || true
if [[ -z $out ]]; then ok; else fail "rsync -anic (checksums) after rsync -a in: $(head -c 2000 <<<"$out")"; fi
check "rsync -a out of the mount" rsync -a "$MNT/rsync/" "$T/rsync-out/"
out=$(rsync -ani "$MNT/rsync/" "$T/rsync-out/" 2>&1) || true
if [[ -z $out ]]; then ok; else fail "rsync -ani after rsync -a out reports changes: $(head -c 2000 <<<"$out")"; fi
check "diff -r after rsync out" diff -r --no-dereference "$SRC" "$T/rsync-out"
same_listing "rsync -a out" "$SRC" "$T/rsync-out"
# An update: change three files in the original copy, rsync again, compare.
cp -a "$SRC" "$T/src2"
echo "changed" >>"$T/src2/$(cd "$T/src2" && find . -type f -name '*.h' | LC_ALL=C sort | head -1)"
rm -f "$T/src2/$(cd "$T/src2" && find . -type f -name '*.h' | LC_ALL=C sort | sed -n 2p)"
mkdir "$T/src2/new-dir" && echo new >"$T/src2/new-dir/new-file"
check "rsync -a --delete of an update" rsync -a --delete "$T/src2/" "$MNT/rsync/"
out=$(rsync -anic --delete "$T/src2/" "$MNT/rsync/" 2>&1) || true
if [[ -z $out ]]; then ok; else fail "rsync -anic --delete after the update: $(head -c 2000 <<<"$out")"; fi
check "diff -r after the rsync update" diff -r --no-dereference "$T/src2" "$MNT/rsync"

# ---- find -------------------------------------------------------------------------
for expr in "" "-type f" "-type d" "-type l" "-name *.h" "-type f -size +20k" "-perm 0755" "-empty"; do
    read -ra e <<<"$expr"
    a=$(cd "$SRC" && find . "${e[@]}" | wc -l)
    b=$(cd "$DST" && find . "${e[@]}" | wc -l)
    if [[ $a == "$b" ]]; then ok; else fail "find $expr: $b entries in the mount, $a in $SRC"; fi
done
touch -d "@$(($(date +%s) - 60))" "$MNT/cp/ref"
mapfile -t some < <(cd "$DST" && find . -type f | LC_ALL=C sort | awk 'NR % 997 == 1' | head -5)
for f in "${some[@]}"; do touch -d "@$(($(date +%s) + 100))" "$DST/$f"; done
got=$(cd "$DST" && find . -newer "$MNT/cp/ref" | LC_ALL=C sort)
want=$(printf '%s\n' "${some[@]}" | LC_ALL=C sort)
if [[ $got == "$want" ]]; then ok; else fail "find -newer: got [$got], expected [$want]"; fi
# Restore those files so later comparisons hold.
for f in "${some[@]}"; do touch -r "$SRC/$f" "$DST/$f"; done

# ---- mv and rm -rf --------------------------------------------------------------------
check "mv of a directory inside the mount" mv "$MNT/rsync" "$MNT/moved"
[[ ! -e $MNT/rsync ]] && ok || fail "the old name still exists after mv"
check "diff -r after mv" diff -r --no-dereference "$T/src2" "$MNT/moved"
SUB=$(cd "$SRC" && find . -mindepth 1 -maxdepth 1 -type d | LC_ALL=C sort | head -1)
SUB=${SUB#./}
check "mv of $SUB out of the mount (copy + delete)" mv "$MNT/moved/$SUB" "$T/mv-out"
[[ ! -e $MNT/moved/$SUB ]] && ok || fail "mv across file systems left $MNT/moved/$SUB"
check "diff -r of the directory moved out" diff -r --no-dereference "$T/src2/$SUB" "$T/mv-out"
same_listing "the directory moved out" "$T/src2/$SUB" "$T/mv-out"
check "mv back into the mount" mv "$T/mv-out" "$MNT/moved/$SUB"
check "diff -r after mv back" diff -r --no-dereference "$T/src2/$SUB" "$MNT/moved/$SUB"
check "rm -rf of a tree in the mount" rm -rf "$MNT/moved"
[[ ! -e $MNT/moved ]] && ok || fail "rm -rf left $MNT/moved"
left=$(ls -A "$MNT")
want_left=$(printf '%s\n' cp tarx)
if [[ $left == "$want_left" ]]; then ok; else fail "after rm -rf the root lists [$left], expected [$want_left]"; fi

# ---- editor-style saves ---------------------------------------------------------------------
mkdir "$MNT/edit"
printf 'version 1\n' >"$MNT/edit/doc.txt"
chmod 640 "$MNT/edit/doc.txt"
cat >"$T/save.py" <<'EOF'
import os, sys
path, text = sys.argv[1], sys.argv[2].encode()
d = os.path.dirname(path)
st = os.stat(path)
tmp = os.path.join(d, "." + os.path.basename(path) + ".swp")
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, text)
os.fchmod(fd, st.st_mode & 0o7777)
os.fsync(fd)
os.close(fd)
os.rename(tmp, path)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(dfd)
os.close(dfd)
EOF
# A reader that opened the file before the save.
exec {old_fd}<"$MNT/edit/doc.txt"
check "python3 save (temp, fsync, rename over, fsync dir)" \
    python3 "$T/save.py" "$MNT/edit/doc.txt" $'version 2\nwith more lines\n'
got=$(cat "$MNT/edit/doc.txt")
if [[ $got == $'version 2\nwith more lines' ]]; then ok; else fail "after the save doc.txt holds [$got]"; fi
mode=$(stat -c %a "$MNT/edit/doc.txt")
[[ $mode == 640 ]] && ok || fail "the saved file has mode $mode, expected 640"
left=$(ls -A "$MNT/edit")
[[ $left == doc.txt ]] && ok || fail "after the save the directory lists [$left], expected [doc.txt]"
old=$(cat <&$old_fd 2>&1) || old="read failed: $old"
exec {old_fd}<&-
if [[ $old == "version 1" ]]; then ok; else
    fail "a descriptor opened before the save (rename over the file) read [$old], expected [version 1] as on ext4"
fi
# dd conv=fsync + mv + sync.
printf 'version 3 from dd\n' >"$T/v3"
check "dd conv=fsync into a temporary file" \
    dd if="$T/v3" of="$MNT/edit/doc.txt.tmp" conv=fsync status=none
check "mv over the original" mv -f "$MNT/edit/doc.txt.tmp" "$MNT/edit/doc.txt"
check "sync -f" sync -f "$MNT/edit/doc.txt"
check "content after the dd save" cmp "$T/v3" "$MNT/edit/doc.txt"
# Emacs-style: the original becomes the backup, a new file takes the name.
mv "$MNT/edit/doc.txt" "$MNT/edit/doc.txt~"
printf 'version 4\n' >"$MNT/edit/doc.txt"
sync "$MNT/edit/doc.txt"
check "backup keeps the previous version" cmp "$T/v3" "$MNT/edit/doc.txt~"
[[ $(cat "$MNT/edit/doc.txt") == "version 4" ]] && ok || fail "doc.txt after the Emacs-style save: $(cat "$MNT/edit/doc.txt")"
# Many saves in a row, as an editor's autosave does.
for i in $(seq 1 50); do python3 "$T/save.py" "$MNT/edit/doc.txt" "autosave $i"; done
[[ $(cat "$MNT/edit/doc.txt") == "autosave 50" ]] && ok || fail "after 50 saves: $(cat "$MNT/edit/doc.txt")"

# ---- df ---------------------------------------------------------------------------------
a=$(df --output=size "$MNT" | tail -1)
b=$(df --output=size "$T" | tail -1)
[[ $a == "$b" ]] && ok || fail "df size of the mount $a, of the store's file system $b"

# ---- after a remount ---------------------------------------------------------------------
must_unmount "$MNT"
check "lsmctl verify after the unmount" "$LSMCTL" "$STORE" verify
must_mount "$STORE" "$MNT"
check "diff -r of the cp -a copy after a remount" diff -r --no-dereference "$SRC" "$DST"
same_listing "cp -a copy after a remount" "$SRC" "$DST"
check "tar -d after a remount" tar -C "$MNT/cp" -df "$T/orig.tar"
check "tar -d of the tar x tree after a remount" tar -C "$MNT/tarx" -df "$T/orig.tar"
[[ $(cat "$MNT/edit/doc.txt") == "autosave 50" ]] && ok || fail "doc.txt after a remount: $(cat "$MNT/edit/doc.txt")"
check "backup after a remount" cmp "$T/v3" "$MNT/edit/doc.txt~"
check "rm -rf everything" rm -rf "$MNT/cp" "$MNT/tarx" "$MNT/edit"
left=$(ls -A "$MNT")
[[ -z $left ]] && ok || fail "the root is not empty after rm -rf: [$left]"
must_unmount "$MNT"
check "lsmctl verify at the end" "$LSMCTL" "$STORE" verify
finish

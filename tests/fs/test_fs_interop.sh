#!/usr/bin/env bash
#
# test_fs_interop.sh -- the store seen as files and the files seen as keys,
# run by ctest as
#
#     bash tests/fs/test_fs_interop.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# docs/FS.md §1-§4 promise that the contents keyspace is exactly what an
# embedded program sees. Keys are put with lsmctl before mounting -- plain
# names, nested paths that imply directories, an empty value, binary and
# 3 MiB values, and keys that are not valid paths: an empty segment (a//b),
# ".", "..", a leading "/", a trailing "/", a 300-byte segment, a NUL byte, a
# segment that is itself an escape (%x61), a key that is also a directory
# prefix -- and segments starting with "%" that are not escapes (%20, a
# 126-byte one), shown as they are -- and the mount must show each at the
# path of §2.1's escape with the right bytes,
# the right listings, mode 0644, size from the engine, and an inode number in
# the top range (2^62 |...) that does not change across a remount or a rename.
#
# Then files are written, renamed and deleted through the mount, escaped
# names included; every name can be created, those starting with "%" too
# (only an escape of a segment shown literally is refused, EINVAL: it names
# the file a directory shadows), and after the unmount `lsmctl dump` of the store must
# be byte-identical to the dump of a reference store given the same changes
# with lsmctl directly: the mount changed exactly those keys and nothing
# else. `lsmctl get` reads what was written through the mount, and
# `lsmctl verify` passes. A failing check is reported and the script goes on;
# exit 1 if any failed, 77 if /dev/fuse is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" interop "$@"

STORE=$T/store
REF=$T/ref
MNT=$T/mnt

hex() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
L300=$(printf 'L%.0s' $(seq 300))
P126=%$(printf 'p%.0s' $(seq 125))
head -c $((3 * 1024 * 1024 + 77)) /dev/urandom >"$T/big.bin"
printf 'bin\000ary\377\n\001' >"$T/bin.bin"

# ctl STORE ARGS...: lsmctl, failing the script on a non-zero exit.
ctl() { "$LSMCTL" "$@" || die "lsmctl $* failed with $?"; }

populate() {
    local s=$1
    ctl --create "$s" put hello.txt "hello world"
    ctl "$s" put dir/sub/file "nested"
    ctl "$s" put dir/other "other"
    ctl "$s" put empty ""
    ctl "$s" put bin <"$T/bin.bin"
    ctl "$s" put big <"$T/big.bin"
    ctl "$s" put imp/only "only file of an implied directory"
    ctl "$s" put "a//b" "empty segment"
    ctl "$s" put "." "dot"
    ctl "$s" put ".." "dotdot"
    ctl "$s" put "/lead" "leading slash"
    ctl "$s" put "trail/" "trailing slash"
    ctl "$s" put "$L300" "three hundred"
    ctl "$s" put "deep/$L300/leaf" "under a long segment"
    ctl "$s" put "%20" "percent"
    ctl "$s" put "$P126" "percent 126"
    ctl "$s" put --escaped 'nul\x00byte' "nul"
    ctl "$s" put "x/./y" "dot segment"
    ctl "$s" put "sh" "file shadowed by a directory"
    ctl "$s" put "sh/child" "child"
    ctl "$s" put "a%b" "percent inside"
    ctl "$s" put "sp ace" "space"
    ctl "$s" put "%x61" "a segment that is an escape"
}
populate "$STORE"
populate "$REF"

# The escaped paths of §2.1.
E_DOT=%x2e
E_DOTDOT=%x2e2e
E_NUL=%x6e756c0062797465
# Segments starting with "%" that are not escapes are shown as they are;
# one that is an escape is escaped.
E_PCT=%20
E_P126=$P126
E_X61=%x$(hex %x61)
# A segment over 126 bytes: "%c" parts of 126 bytes (252 hex digits: a
# 254-byte name; docs/FS.md says 254 digits, which would make 256-byte names
# that no file system accepts), then "%x" and the rest: 126 + 126 + 48.
H=$(hex "$(printf 'L%.0s' $(seq 126))")
E_L300="%c$H/%c$H/%x$(hex "$(printf 'L%.0s' $(seq 48))")"
E_SH=%x$(hex sh)

must_mount "$STORE" "$MNT"

# expect_file PATH CONTENT-FILE-OR-STRING
expect_str() {
    local path=$1 want=$2 got
    if got=$(cat "$path" 2>&1; printf x); then
        got=${got%x}
        if [[ $got == "$want" ]]; then ok; else fail "$path holds [$got], expected [$want]"; fi
    else
        fail "cat $path: ${got%x}"
    fi
}
expect_ls() {
    local dir=$1 got want
    shift
    got=$(ls -A "$dir" 2>&1 | LC_ALL=C sort) || true
    want=$(printf '%s\n' "$@" | LC_ALL=C sort)
    if [[ $got == "$want" ]]; then ok; else
        fail "ls -A $dir: [$(tr '\n' ' ' <<<"$got")], expected [$(tr '\n' ' ' <<<"$want")]"
    fi
}

# ---- keys as files ---------------------------------------------------------------
expect_str "$MNT/hello.txt" "hello world"
expect_str "$MNT/dir/sub/file" "nested"
expect_str "$MNT/dir/other" "other"
expect_str "$MNT/empty" ""
check "binary value" cmp "$T/bin.bin" "$MNT/bin"
check "3 MiB value" cmp "$T/big.bin" "$MNT/big"
expect_str "$MNT/imp/only" "only file of an implied directory"
expect_str "$MNT/a/%x/b" "empty segment"
expect_str "$MNT/$E_DOT" "dot"
expect_str "$MNT/$E_DOTDOT" "dotdot"
expect_str "$MNT/%x/lead" "leading slash"
expect_str "$MNT/trail/%x" "trailing slash"
expect_str "$MNT/$E_L300" "three hundred"
expect_str "$MNT/deep/$E_L300/leaf" "under a long segment"
expect_str "$MNT/$E_PCT" "percent"
expect_str "$MNT/$E_P126" "percent 126"
expect_str "$MNT/$E_NUL" "nul"
expect_str "$MNT/x/$E_DOT/y" "dot segment"
expect_str "$MNT/sh/child" "child"
expect_str "$MNT/$E_SH" "file shadowed by a directory"
expect_str "$MNT/a%b" "percent inside"
expect_str "$MNT/sp ace" "space"
expect_str "$MNT/$E_X61" "a segment that is an escape"

expect_ls "$MNT" hello.txt dir empty bin big imp a "$E_DOT" "$E_DOTDOT" %x trail \
    "${E_L300%%/*}" deep "$E_PCT" "$E_P126" "$E_NUL" x sh "$E_SH" "a%b" "sp ace" "$E_X61"
expect_ls "$MNT/dir" sub other
expect_ls "$MNT/a" %x
expect_ls "$MNT/a/%x" b
expect_ls "$MNT/%x" lead
expect_ls "$MNT/trail" %x
expect_ls "$MNT/${E_L300%%/*}" "%c$H"
expect_ls "$MNT/${E_L300%/*}" "${E_L300##*/}"
expect_ls "$MNT/sh" child
for d in dir dir/sub imp a a/%x %x trail "${E_L300%%/*}" "${E_L300%/*}" deep x sh; do
    [[ -d $MNT/$d && ! -L $MNT/$d ]] && ok || fail "$MNT/$d is not a directory"
done
# Metadata of files written by a program (§3): mode 0644, the mounting user,
# the engine's size; inode numbers in the top range (§4).
for f in hello.txt big empty "$E_NUL" "$E_L300"; do
    read -r mode uid size ino < <(stat -c '%a %u %s %i' "$MNT/$f")
    [[ $mode == 644 ]] && ok || fail "stat $f: mode $mode, expected 644"
    [[ $uid == "$(id -u)" ]] && ok || fail "stat $f: uid $uid, expected $(id -u)"
    ((ino >= 4611686018427387904)) && ok || fail "stat $f: st_ino $ino is below 2^62 (§4: 2^62 | hash)"
done
[[ $(stat -c %s "$MNT/big") == $(stat -c %s "$T/big.bin") ]] && ok || fail "size of big: $(stat -c %s "$MNT/big")"
[[ $(stat -c %s "$MNT/empty") == 0 ]] && ok || fail "size of empty: $(stat -c %s "$MNT/empty")"
declare -A INO
for f in hello.txt big "$E_NUL" "$E_L300" dir/sub/file; do INO[$f]=$(stat -c %i "$MNT/$f"); done

# ---- every name can be created (§2.1) ------------------------------------------------
# errno_of PYTHON-EXPR: the errno name an os call raises, or OK.
errno_of() {
    python3 - "$@" <<'EOF'
import errno, os, sys
try:
    eval(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}
# Names starting with "%" that are not escapes are files and directories of
# their own name (and keys of that name): bad hex, uppercase, odd digits, a
# short "%c", a "%x" spelling a '/', vim's undo and swap names.
mkdir "$MNT/lit"
LIT=(%zz %x2 %xZZ %xg0 %c41 % %% 100% '%tmp%x' %x2f '%home%me%notes.txt.swp')
for name in "${LIT[@]}"; do
    got=$(errno_of "os.close(os.open('$MNT/lit/$name', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))")
    [[ $got == OK ]] && ok || fail "create lit/$name: $got, expected OK (§2.1)"
    printf '%s' "$name" >"$MNT/lit/$name"
    ctl "$REF" put "lit/$name" "$name"
    got=$(errno_of "os.mkdir('$MNT/lit/d$name')")
    [[ $got == OK ]] && ok || fail "mkdir lit/d$name: $got, expected OK (§2.1)"
done
expect_str "$MNT/lit/%x2f" "%x2f"
# The escape of a segment shown literally names only the file shadowed by a
# directory of that name: with no such directory it cannot be created.
for esc in %x25 %x2574 "%x$(hex 100%)"; do
    got=$(errno_of "os.close(os.open('$MNT/lit/$esc', os.O_CREAT | os.O_WRONLY, 0o644))")
    [[ $got == EINVAL ]] && ok || fail "create lit/$esc: $got, expected EINVAL (§2.1)"
    got=$(errno_of "os.stat('$MNT/lit/$esc')")
    [[ $got == ENOENT ]] && ok || fail "stat lit/$esc: $got, expected ENOENT (§2.1)"
done
# A name that is itself an escape is written escaped: the key %x62.
printf 'esc' >"$MNT/lit/%x$(hex %x62)"
ctl "$REF" put "lit/%x62" esc
expect_ls "$MNT/lit" "${LIT[@]}" "${LIT[@]/#/d}" "%x$(hex %x62)"
got=$(errno_of "os.rename('$MNT/hello.txt', '$MNT/%nothex')")
[[ $got == OK ]] && ok || fail "rename to %nothex: $got, expected OK"
expect_str "$MNT/%nothex" "hello world"
mv "$MNT/%nothex" "$MNT/hello.txt"

# ---- changes through the mount, mirrored on the reference store -----------------------
# Overwrite an escaped file.
printf 'dot new' >"$MNT/$E_DOT"
ctl "$REF" put . "dot new"
# Rename an escaped file inside an escaped directory.
mv "$MNT/a/%x/b" "$MNT/a/%x/c"
ctl "$REF" del "a//b"
ctl "$REF" put "a//c" "empty segment"
# Delete the NUL-byte key.
rm "$MNT/$E_NUL"
ctl "$REF" del --escaped 'nul\x00byte'
# Create a literal % and %%.
printf 'pct' >"$MNT/%"
ctl "$REF" put % pct
: >"$MNT/%%"
ctl "$REF" put %% ""
# Append to the file under the 300-byte segment.
printf '+more' >>"$MNT/$E_L300"
ctl "$REF" put "$L300" "three hundred+more"
# Delete the only file of the directory the key /lead implies.
rm "$MNT/%x/lead"
ctl "$REF" del "/lead"
# Rename the shadowed file to a plain name.
mv "$MNT/$E_SH" "$MNT/sh-file"
ctl "$REF" del sh
ctl "$REF" put sh-file "file shadowed by a directory"
# New files, one nested in a new directory, one large.
mkdir "$MNT/new"
printf 'written through the mount' >"$MNT/new/file.txt"
ctl "$REF" put new/file.txt "written through the mount"
head -c $((2 * 1024 * 1024 + 5)) /dev/urandom >"$T/blob.bin"
cp "$T/blob.bin" "$MNT/blob"
ctl "$REF" put blob <"$T/blob.bin"
# Move an escaped file into a nested directory, and a plain one out to an
# escaped name.
mv "$MNT/$E_DOTDOT" "$MNT/dir/sub/$E_DOTDOT"
ctl "$REF" del ..
ctl "$REF" put dir/sub/.. dotdot
mv "$MNT/hello.txt" "$MNT/dir/$E_DOT"
ctl "$REF" del hello.txt
ctl "$REF" put dir/. "hello world"
# Overwrite the trailing-slash key.
printf 'trailing, rewritten' >"$MNT/trail/%x"
ctl "$REF" put "trail/" "trailing, rewritten"
# Rename a directory holding escaped names.
mv "$MNT/a" "$MNT/a2"
ctl "$REF" del "a//c"
ctl "$REF" put "a2//c" "empty segment"
# A literal name with % inside, created through the mount.
printf 'mid' >"$MNT/b%c"
ctl "$REF" put "b%c" mid
# Metadata-only changes add no contents keys.
chmod 600 "$MNT/big"
touch -d @1000000000 "$MNT/dir/other"
mkdir "$MNT/empty-dir"
setfattr -n user.k -v v "$MNT/bin" 2>/dev/null || true

# The implied directory of /lead stays after its last file went (§5 unlink).
[[ -d $MNT/%x ]] && ok || fail "the directory %x (implied by the key /lead) vanished with its last file"
rm "$MNT/imp/only"
ctl "$REF" del imp/only
[[ -d $MNT/imp ]] && ok || fail "the implied directory imp vanished when its only file was unlinked"
expect_ls "$MNT/imp"
# Renames keep the inode number of a file that had no metadata (§4).
mv "$MNT/big" "$MNT/big-renamed"
ctl "$REF" del big
ctl "$REF" put big-renamed <"$T/big.bin"
[[ $(stat -c %i "$MNT/big-renamed") == "${INO[big]}" ]] && ok ||
    fail "rename changed the inode number of big: ${INO[big]} -> $(stat -c %i "$MNT/big-renamed")"
[[ $(stat -c %a "$MNT/big-renamed") == 600 ]] && ok || fail "mode lost by rename"
expect_str "$MNT/dir/$E_DOT" "hello world"
[[ $(stat -c %i "$MNT/dir/$E_DOT") == "${INO[hello.txt]}" ]] && ok || fail "rename changed the inode number of hello.txt"
[[ -e $MNT/%x/lead ]] && fail "%x/lead exists after rm" || ok

# ---- after the unmount: lsmctl sees exactly the same keys ------------------------------
must_unmount "$MNT"
check "lsmctl verify" "$LSMCTL" "$STORE" verify
ctl "$STORE" dump >"$T/dump.store"
ctl "$REF" dump >"$T/dump.ref"
if cmp -s "$T/dump.store" "$T/dump.ref"; then ok; else
    fail "the keys of the store differ from the reference (< store, > reference): " \
        "$(diff <(cut -c1-200 "$T/dump.store") <(cut -c1-200 "$T/dump.ref") | head -30)"
fi
got=$("$LSMCTL" "$STORE" get new/file.txt)
[[ $got == "written through the mount" ]] && ok || fail "lsmctl get new/file.txt: [$got]"
"$LSMCTL" "$STORE" get blob >"$T/blob.out" || fail "lsmctl get blob: exit $?"
check "lsmctl get of a 2 MiB file written through the mount" cmp "$T/blob.bin" "$T/blob.out"
got=$("$LSMCTL" "$STORE" get "$L300")
[[ $got == "three hundred+more" ]] && ok || fail "lsmctl get <300-byte key>: [$got]"
got=$("$LSMCTL" "$STORE" get .)
[[ $got == "dot new" ]] && ok || fail "lsmctl get .: [$got]"
"$LSMCTL" "$STORE" get --escaped 'nul\x00byte' >/dev/null 2>&1 && fail "the NUL key still exists" || ok

# ---- a remount: same files, same inode numbers ------------------------------------------
must_mount "$STORE" "$MNT"
for f in "$E_L300" dir/sub/file; do
    [[ $(stat -c %i "$MNT/$f") == "${INO[$f]}" ]] && ok ||
        fail "remount changed the inode number of $f: ${INO[$f]} -> $(stat -c %i "$MNT/$f")"
done
[[ $(stat -c %i "$MNT/big-renamed") == "${INO[big]}" ]] && ok || fail "remount changed the inode of big-renamed"
expect_str "$MNT/$E_L300" "three hundred+more"
expect_str "$MNT/a2/%x/c" "empty segment"
expect_str "$MNT/%" "pct"
check "big-renamed after remount" cmp "$T/big.bin" "$MNT/big-renamed"
[[ $(stat -c %Y "$MNT/dir/other") == 1000000000 ]] && ok || fail "mtime of dir/other lost at remount"
[[ -d $MNT/empty-dir ]] && ok || fail "empty-dir lost at remount"
[[ -d $MNT/imp ]] && ok || fail "imp (kept after its last file) lost at remount"
must_unmount "$MNT"
finish

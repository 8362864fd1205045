#!/usr/bin/env bash
#
# test_fs_posix_tools.sh -- what people do with ACLs, odd names and databases on a
# mounted lsmfs, with the real tools, run by ctest as
#
#     bash tests/fs/test_fs_posix_tools.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
#   - POSIX ACLs (docs/FS.md §5): a tree on the local disk with access ACLs
#     (named users and groups, masks) and default ACLs, and files made under
#     them, goes into the mount with cp -a and with rsync -aA and back out
#     with both: getfacl of every copy equals the original's, modes and
#     contents too; setfacl -m u:nobody:r lets user nobody (setpriv) read a
#     file of mode 0600 and nothing else, and the ACL and its effect are
#     still there after a remount;
#   - names (§2.1): vim with undodir=DIR// and directory=DIR// on the mount
#     writes its swap file and its undo file (names like %tmp%...%notes.txt)
#     and a second vim undoes with that undo file; a tree holding "%c"
#     directories (keys with segments over 255 bytes) copied out with cp -a
#     and back in with cp -a and tar x gives the same keys;
#   - SQLite in WAL mode (locks, shared memory maps): two writers at once,
#     every row there and integrity_check ok, before and after a remount.
#
# A failing check is reported and the script goes on; exit 1 if any failed,
# 77 if /dev/fuse is missing. Needs root (setpriv, allow_other), getfacl,
# setfacl, rsync, vim (+persistent_undo) and sqlite3: tools/install-deps.sh.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" posix_tools "$@"

for tool in getfacl setfacl rsync vim sqlite3 setpriv tar; do
    command -v "$tool" >/dev/null || die "$tool is missing (tools/install-deps.sh installs it)"
done
[[ $(id -u) == 0 ]] || die "needs root (setpriv to user nobody, -o allow_other)"
vim --version | grep -q '+persistent_undo' || die "this vim has no +persistent_undo"

STORE=$T/store
MNT=$T/mnt
chmod 755 "$T" # user nobody walks down to the mount
must_mount "$STORE" "$MNT" -o allow_other

# ---- ACLs: cp -a and rsync -aA, in and out ----------------------------------------------
SRC=$T/src
mkdir -p "$SRC/shared/old-sub" "$SRC/private" "$SRC/plain"
printf 'readme\n' >"$SRC/README"
printf 'team notes\n' >"$SRC/shared/notes"
printf 'key\n' >"$SRC/private/key"
printf 'plain\n' >"$SRC/plain/file"
ln -s ../README "$SRC/shared/link"
chmod 0640 "$SRC/README"
chmod 0700 "$SRC/private"
chmod 0600 "$SRC/private/key"
setfacl -m u:nobody:r,g:nogroup:rw "$SRC/README"
setfacl -m u:daemon:rwx,m::r-x "$SRC/private"
setfacl -m u:nobody:r "$SRC/private/key"
setfacl -d -m u:nobody:rwx,g:nogroup:r-x,o::- "$SRC/shared"
setfacl -m u:nobody:rwx "$SRC/shared"
# Made under the default ACL: they inherit it (on the local disk).
printf 'inherited\n' >"$SRC/shared/made-later"
mkdir -p "$SRC/shared/sub/deeper"
printf 'deep\n' >"$SRC/shared/sub/deeper/f"
printf 'not inherited\n' >"$SRC/shared/old-sub/f"
setfacl -b "$SRC/plain/file"

# acls DIR: every path's ACLs (numeric ids), the paths sorted, so two trees
# compare whatever order readdir gives.
acls() {
    (cd "$1" && find . -mindepth 1 ! -type l -print0 | LC_ALL=C sort -z |
        xargs -0 getfacl -n -p --absolute-names 2>&1)
}
# modes DIR: path, type, mode, and the size of what is not a directory.
modes() {
    (cd "$1" && find . -mindepth 1 \( -type d -printf '%p d %m\n' \) -o -printf '%p %y %m %s %l\n' |
        LC_ALL=C sort)
}
same_tree() {
    local what=$1 a=$2 b=$3
    if ! diff <(acls "$a") <(acls "$b") >"$T/acl.diff"; then
        fail "$what: ACLs differ ($a vs $b): $(head -30 "$T/acl.diff")"
    elif ! diff <(modes "$a") <(modes "$b") >"$T/mode.diff"; then
        fail "$what: modes differ ($a vs $b): $(head -20 "$T/mode.diff")"
    elif ! diff -r --no-dereference "$a" "$b" >"$T/data.diff" 2>&1; then
        fail "$what: contents differ: $(head -10 "$T/data.diff")"
    else
        ok
    fi
}
# The source must really hold ACLs for the checks to mean anything.
[[ $(getfacl -c "$SRC/shared/sub/deeper/f" 2>/dev/null | grep -c '^user:nobody') == 1 ]] ||
    die "the local disk did not apply the default ACL (mounted noacl?)"

check "cp -a of a tree with ACLs into the mount" cp -a "$SRC" "$MNT/cp"
same_tree "cp -a in" "$SRC" "$MNT/cp"
check "rsync -aA into the mount" rsync -aA "$SRC/" "$MNT/rs/"
same_tree "rsync -aA in" "$SRC" "$MNT/rs"
check "rsync -aA out of the mount" rsync -aA "$MNT/rs/" "$T/rs-out/"
same_tree "rsync -aA out" "$SRC" "$T/rs-out"
check "cp -a out of the mount" cp -a "$MNT/cp" "$T/cp-out"
same_tree "cp -a out" "$SRC" "$T/cp-out"
# Inheritance inside the mount matches the local disk's.
printf 'inherited\n' >"$MNT/cp/shared/made-in-mount"
printf 'inherited\n' >"$SRC/shared/made-in-mount"
mkdir "$MNT/cp/shared/dir-in-mount" "$SRC/shared/dir-in-mount"
same_tree "files made under a default ACL" "$SRC/shared" "$MNT/cp/shared"

# ---- setfacl -m u:nobody:r, enforced, kept across a remount -------------------------
printf 'for nobody\n' >"$MNT/granted"
printf 'not for nobody\n' >"$MNT/denied"
chmod 0600 "$MNT/granted" "$MNT/denied"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
# nobody_reads FILE WANT / nobody_denied FILE: checks of what user nobody may do.
nobody_reads() {
    local got
    if got=$(as_nobody cat "$1" 2>&1) && [[ $got == "$2" ]]; then ok; else
        fail "user nobody reading $1: [$got], expected [$2]"
    fi
}
nobody_denied() {
    local got
    if got=$(as_nobody cat "$1" 2>&1); then
        fail "user nobody read $1 ([$got]), expected Permission denied"
    elif [[ $got == *"Permission denied"* ]]; then ok; else
        fail "user nobody reading $1: [$got], expected Permission denied"
    fi
}
nobody_denied "$MNT/granted"
check "setfacl -m u:nobody:r" setfacl -m u:nobody:r "$MNT/granted"
nobody_reads "$MNT/granted" "for nobody"
nobody_denied "$MNT/denied"
if as_nobody sh -c 'echo x >>"$1"' sh "$MNT/granted" 2>/dev/null; then
    fail "user nobody could write a file its ACL entry lets it only read"
else
    ok
fi
getfacl -n -p --absolute-names "$MNT/granted" >"$T/granted.acl"
check "ls -l shows the ACL (+) and the mask as group bits" bash -c "[[ \$(stat -c %A '$MNT/granted') == -rw-r----- ]] && ls -l '$MNT/granted' | grep -q '^-rw-r-----+'"
must_unmount "$MNT"
must_mount "$STORE" "$MNT" -o allow_other
check "the ACL after a remount" diff "$T/granted.acl" <(getfacl -n -p --absolute-names "$MNT/granted")
nobody_reads "$MNT/granted" "for nobody"
nobody_denied "$MNT/denied"
same_tree "cp -a copy after a remount" "$SRC" "$MNT/cp"

# ---- vim: undodir=DIR// and directory=DIR// on the mount ----------------------------
mkdir "$MNT/undo" "$MNT/swap" "$MNT/work"
printf 'line one\n' >"$MNT/work/notes.txt"
VIMSET="set undofile undodir=$MNT/undo// directory=$MNT/swap//"
if vim -u NONE -i NONE -N -e -s --cmd "$VIMSET" \
    -c "call writefile([swapname('%'), filereadable(swapname('%'))], '$T/swapinfo')" \
    -c 'call append("$", "line two")' -c 'wq' "$MNT/work/notes.txt" >"$T/vim.out" 2>&1; then
    ok
else
    fail "vim editing with undodir and directory on the mount: exit $?: $(head -5 "$T/vim.out")"
fi
SWAPNAME=$MNT/swap/${MNT//\//%}%work%notes.txt.swp
UNDONAME=$MNT/undo/${MNT//\//%}%work%notes.txt
if [[ $(sed -n 1p "$T/swapinfo" 2>/dev/null) == "$SWAPNAME" && $(sed -n 2p "$T/swapinfo") == 1 ]]; then
    ok
else
    fail "vim's swap file: [$(tr '\n' ' ' <"$T/swapinfo" 2>/dev/null)], expected $SWAPNAME, readable"
fi
[[ -f $UNDONAME && -s $UNDONAME ]] && ok || fail "no undo file $UNDONAME: $(ls -A "$MNT/undo")"
[[ -z $(ls -A "$MNT/swap") ]] && ok || fail "swap file left behind: $(ls -A "$MNT/swap")"
[[ $(cat "$MNT/work/notes.txt") == $'line one\nline two' ]] && ok || fail "vim's write: $(cat "$MNT/work/notes.txt")"
vim -u NONE -i NONE -N -e -s --cmd "$VIMSET" -c 'undo' -c 'wq' "$MNT/work/notes.txt" >/dev/null 2>&1 ||
    fail "vim undo: exit $?"
[[ $(cat "$MNT/work/notes.txt") == 'line one' ]] && ok ||
    fail "undo with the undo file on the mount left [$(cat "$MNT/work/notes.txt")]"

# ---- a tree holding "%c" directories, out and back in --------------------------------
must_unmount "$MNT"
L300=$(printf 'L%.0s' $(seq 300))
D260=$(printf 'D%.0s' $(seq 260))
"$LSMCTL" "$STORE" put "long/$L300" "three hundred" || die "lsmctl put"
"$LSMCTL" "$STORE" put "long/$D260/inner" "below a long directory" || die "lsmctl put"
"$LSMCTL" "$STORE" put "long/$D260/$L300" "long below long" || die "lsmctl put"
"$LSMCTL" "$STORE" put --escaped "long/$(printf 'N%.0s' $(seq 130))\\x00end" "with a NUL" || die "lsmctl put"
"$LSMCTL" "$STORE" put "long/short" "short" || die "lsmctl put"
must_mount "$STORE" "$MNT" -o allow_other
check "cp -a of a tree with %c directories out of the mount" cp -a "$MNT/long" "$T/long-out"
check "cp -a of it back in (new directories)" cp -a "$T/long-out" "$MNT/long2"
check "the copy in the mount" diff -r "$T/long-out" "$MNT/long2"
check "cp -a back over the existing copy" cp -a "$T/long-out/." "$MNT/long2/"
tar -C "$T/long-out" -cf "$T/long.tar" .
mkdir "$MNT/long3"
check "tar x of it into the mount" tar -C "$MNT/long3" -xf "$T/long.tar"
check "the tar copy" diff -r "$T/long-out" "$MNT/long3"
must_unmount "$MNT"
"$LSMCTL" "$STORE" scan --prefix long/ --keys-only --escaped | sed 's|^long/||' >"$T/keys.1"
"$LSMCTL" "$STORE" scan --prefix long2/ --keys-only --escaped | sed 's|^long2/||' >"$T/keys.2"
"$LSMCTL" "$STORE" scan --prefix long3/ --keys-only --escaped | sed 's|^long3/||' >"$T/keys.3"
[[ $(wc -l <"$T/keys.1") == 5 ]] && ok || fail "expected 5 keys under long/: $(cat "$T/keys.1")"
check "cp -a gave the same keys" diff "$T/keys.1" "$T/keys.2"
check "tar x gave the same keys" diff "$T/keys.1" "$T/keys.3"
must_mount "$STORE" "$MNT" -o allow_other

# ---- SQLite in WAL mode ------------------------------------------------------------------
DB=$MNT/db/test.sqlite
mkdir "$MNT/db"
check "create a WAL database" bash -c "[[ \$(sqlite3 '$DB' 'PRAGMA journal_mode=WAL; CREATE TABLE t(i INTEGER, who TEXT);') == wal ]]"
writer() {
    local who=$1 i
    for i in $(seq 150); do
        printf "BEGIN IMMEDIATE; INSERT INTO t VALUES(%d, '%s'); COMMIT;\n" "$i" "$who"
    done | sqlite3 -cmd '.timeout 30000' "$DB"
}
writer A & wa=$!
writer B & wb=$!
wait "$wa" && wait "$wb" && ok || fail "a sqlite writer failed"
check "every row, by each writer" bash -c "[[ \$(sqlite3 '$DB' 'SELECT who, count(*) FROM t GROUP BY who ORDER BY who;' | xargs) == 'A|150 B|150' ]]"
check "integrity_check" bash -c "[[ \$(sqlite3 '$DB' 'PRAGMA integrity_check;') == ok ]]"
must_unmount "$MNT"
must_mount "$STORE" "$MNT" -o allow_other
check "rows after a remount" bash -c "[[ \$(sqlite3 '$DB' 'SELECT count(*) FROM t;') == 300 ]]"
check "integrity_check after a remount" bash -c "[[ \$(sqlite3 '$DB' 'PRAGMA integrity_check;') == ok ]]"
must_unmount "$MNT"
check "lsmctl verify" "$LSMCTL" "$STORE" verify
finish

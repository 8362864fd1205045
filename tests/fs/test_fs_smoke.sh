#!/bin/bash
# test_fs_smoke.sh LSMFS LSMCTL -- a quick end-to-end check of lsmfs on a
# real mount (docs/FS.md): keys written with lsmctl appear as files, the main
# operations give exactly the expected results through ordinary tools, and
# after unmounting lsmctl finds exactly the expected keys and values. Also a
# read-only remount and the refusals (a store in use, a store inside its mount
# point). The full suite is the C tests beside this file.
#
# Exit 0 on success, 1 on the first failure (with the daemon's log), 77 when
# /dev/fuse is missing. Cleans up its mounts and temporary directory always.
set -u
LSMFS=${1:?usage: test_fs_smoke.sh LSMFS LSMCTL}
CTL=${2:?usage: test_fs_smoke.sh LSMFS LSMCTL}

if [ ! -e /dev/fuse ]; then
    echo "SKIP: /dev/fuse is missing"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lsmfs-smoke-XXXXXX")
store=$tmp/store
mnt=$tmp/mnt
log=$tmp/lsmfs.log
mkdir "$mnt"
pid=

is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

cleanup() {
    if is_mounted "$mnt"; then
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null
    fi
    if [ -n "$pid" ]; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    [ -s "$log" ] && { echo "--- daemon log:"; tail -20 "$log"; }
    exit 1
}
# check WHAT EXPECTED ACTUAL
check() { [ "$2" = "$3" ] || fail "$1: expected [$2], got [$3]"; }
# fails WHAT MESSAGE-PART COMMAND...: the command must fail with that message
fails() {
    local what=$1 msg=$2 out
    shift 2
    if out=$("$@" 2>&1); then fail "$what: succeeded, expected '$msg'"; fi
    case $out in *"$msg"*) ;; *) fail "$what: expected '$msg', got [$out]" ;; esac
}

mount_fs() { # extra lsmfs options...
    "$LSMFS" -f "$@" "$store" "$mnt" >>"$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        is_mounted "$mnt" && return 0
        kill -0 "$pid" 2>/dev/null || fail "lsmfs exited instead of mounting"
        sleep 0.1
    done
    fail "no mount after 10 s"
}
umount_fs() { # the daemon must exit 0 (store flushed, lock released)
    fusermount3 -u "$mnt" || fail "fusermount3 -u"
    wait "$pid"
    local rc=$?
    pid=
    check "daemon exit status" 0 "$rc"
}

# ---- a store written by a program, before mounting -------------------------
"$CTL" --create "$store" put greeting "hello" >/dev/null || fail "lsmctl put"
"$CTL" "$store" put dir/a "A" >/dev/null
"$CTL" "$store" put "odd//key" "O" >/dev/null
check "store directory mode" 700 "$(stat -c %a "$store")"

mount_fs
m=$mnt

# ---- library interop: keys are files ------------------------------------------
check "cat greeting" hello "$(cat "$m/greeting")"
check "ls dir" a "$(ls "$m/dir")"
check "escaped empty segment" O "$(cat "$m/odd/%x/key")"
check "stat size without metadata" 5 "$(stat -c %s "$m/greeting")"

# ---- contents -------------------------------------------------------------------
printf abc >"$m/f"
check "write/read" abc "$(cat "$m/f")"
printf def >>"$m/f"
check "append" abcdef "$(cat "$m/f")"
printf XY | dd of="$m/f" bs=1 seek=1 conv=notrunc status=none
check "write at offset" aXYdef "$(cat "$m/f")"
truncate -s 2 "$m/f"
check "truncate down" aX "$(cat "$m/f")"
truncate -s 5 "$m/f"
check "truncate up reads zeros" "61 58 00 00 00" "$(od -An -tx1 "$m/f" | xargs)"
check "size" 5 "$(stat -c %s "$m/f")"

head -c 1048576 /dev/urandom >"$tmp/big"
cp "$tmp/big" "$m/big"
cmp -s "$tmp/big" "$m/big" || fail "1 MiB file differs"
ino=$(stat -c %i "$m/big")
mkdir "$m/sub"
mv "$m/big" "$m/sub/big2"
cmp -s "$tmp/big" "$m/sub/big2" || fail "renamed file differs"
check "rename keeps the inode number" "$ino" "$(stat -c %i "$m/sub/big2")"
check "rename keeps the size" 1048576 "$(stat -c %s "$m/sub/big2")"

# ---- directories ------------------------------------------------------------------
mkdir -p "$m/a/b/c"
fails "rmdir non-empty" "Directory not empty" rmdir "$m/a"
echo deep >"$m/a/b/c/file"
mv "$m/a" "$m/moved"
check "directory rename moves its files" deep "$(cat "$m/moved/b/c/file")"
rm -r "$m/moved"
fails "removed tree" "No such file" ls "$m/moved"

# ---- names ---------------------------------------------------------------------------
ln -s f "$m/link"
check "readlink" f "$(readlink "$m/link")"
check "read through symlink" 5 "$(stat -L -c %s "$m/link")"
ln "$m/f" "$m/hard"
check "hard link: two names" 2 "$(stat -c %h "$m/f")"
rm "$m/hard"
echo 1 >"$m/r1"
echo 2 >"$m/r2"
mv "$m/r1" "$m/r2"
check "rename replaces" 1 "$(cat "$m/r2")"
echo pct >"$m/%"
check "a name starting with %" pct "$(cat "$m/%")"
echo esc >"$m/%x25783631"
check "escaped name (the key %x61)" esc "$(cat "$m/%x25783631")"
fails "escape of a literal name" "Invalid argument" touch "$m/%x25"
echo gone >"$m/tmp"
rm "$m/tmp"
fails "unlinked" "No such file" cat "$m/tmp"

# ---- attributes ----------------------------------------------------------------------
chmod 640 "$m/f"
check "chmod" 640 "$(stat -c %a "$m/f")"
touch -d @1000000000 "$m/f"
check "utimens" 1000000000 "$(stat -c %Y "$m/f")"
if command -v setfattr >/dev/null && command -v getfattr >/dev/null; then
    setfattr -n user.color -v blue "$m/f"
    check "xattr" blue "$(getfattr --absolute-names --only-values -n user.color "$m/f")"
fi
sync "$m/f" || fail "fsync"

check "listing" "% %x25783631 dir f greeting link odd r2 sub" "$(LC_ALL=C ls "$m" | xargs)"
check "tree" "./% ./%x25783631 ./dir ./dir/a ./f ./greeting ./link ./odd ./odd/%x ./odd/%x/key ./r2 ./sub ./sub/big2" \
    "$(cd "$m" && find . -mindepth 1 | LC_ALL=C sort | xargs)"

# ---- refusals while mounted -------------------------------------------------------------
mkdir "$tmp/mnt2"
fails "second mount of a locked store" "in use" "$LSMFS" -f "$store" "$tmp/mnt2"
fails "store inside its mount point" "inside its mount point" "$LSMFS" -f "$mnt/x" "$mnt"

umount_fs

# ---- the store seen by the library ---------------------------------------------------------
check "lsmctl: greeting" hello "$("$CTL" "$store" get greeting)"
check "lsmctl: f" "61 58 00 00 00" "$("$CTL" "$store" get f | od -An -tx1 | xargs)"
check "lsmctl: % key" pct "$("$CTL" "$store" get %)"
check "lsmctl: escaped key" esc "$("$CTL" "$store" get %x61)"
"$CTL" "$store" get sub/big2 >"$tmp/big.out" || fail "lsmctl get sub/big2"
cmp -s "$tmp/big" "$tmp/big.out" || fail "lsmctl reads the big file differently"
check "lsmctl: keys" "% %x61 dir/a f greeting odd//key r2 sub/big2" \
    "$("$CTL" "$store" scan --keys-only | xargs)"

# ---- read-only remount ------------------------------------------------------------------------
mount_fs -o ro
check "read-only read" hello "$(cat "$m/greeting")"
fails "read-only write" "Read-only file system" touch "$m/new"
umount_fs

echo "PASS: fs_smoke"

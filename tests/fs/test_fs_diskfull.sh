#!/bin/bash
# test_fs_diskfull.sh LSMFS LSMCTL -- lsmfs on a full disk (docs/FS.md §5,
# docs/API.md "A full disk").
#
# The store lives on a small ext4 file system (a loop-mounted image). Each
# cycle fills the mount with 4 MiB files until ENOSPC, checks every complete
# file byte for byte and the interrupted one as an exact prefix, then -- on
# the full disk -- removes files with rm and rm -rf, removes an empty
# directory, truncates a file to a smaller size and overwrites one with
# less: all must succeed, and df must show the space coming back within a
# bounded time, so the next cycle fills again. Then: unmount and remount
# read-write on the full disk, delete with lsmctl on the full disk, and
# kill -9 the daemon in the middle of a full-disk cycle and check every
# complete file after the remount.
#
# Needs root (loop mounts): skips (77) only where that or a loop device is
# missing -- and never under LSM_TEST_NO_SKIP (CI), where it fails instead.
source "$(dirname "$0")/fslib.sh" diskfull "$@"

skip() {
    if [[ -n ${LSM_TEST_NO_SKIP:-} ]]; then
        echo "FAIL: $* (LSM_TEST_NO_SKIP is set)" >&2
        exit 1
    fi
    echo "# SKIP: $*"
    exit 77
}
[[ $(id -u) == 0 ]] || skip "loop mounts need root"
losetup -f >/dev/null 2>&1 || skip "no free loop device"

small=$T/small
mkdir -p "$small"
truncate -s 160M "$T/img"
mkfs.ext4 -q -m 0 -F "$T/img" || die "mkfs.ext4"
mount -o loop "$T/img" "$small" || skip "cannot loop-mount an ext4 image"
umount_small() { umount "$small" 2>/dev/null || umount -l "$small" 2>/dev/null || true; }
# The daemons go first (their store is on the image), then the image, then
# the rest of fslib's cleanup.
trap 'for m in "${!FS_PID[@]}"; do fs_is_mounted "$m" && fs_kill "$m"; done; umount_small; fs_cleanup' EXIT

store=$small/store
mnt=$T/mnt
# The bytes files are cut from: random, outside the small file system.
head -c $((24 << 20)) /dev/urandom >"$T/pool"
FILE=$((4 << 20))

used() { df --output=used -B1 "$small" | tail -n 1 | tr -d ' '; }
# piece I: the FILE bytes file I is made of.
piece() { dd if="$T/pool" bs=1M skip=$(($1 % 20)) count=4 status=none; }

# fill PREFIX: write PREFIX0, PREFIX1, ... until one fails; sets $filled to
# the number of complete files. The interrupted file must be an exact prefix
# of its piece (checked here), and is removed.
fill() {
    local p=$1 i=0
    while piece $i >"$mnt/$p$i" 2>"$T/fill.err"; do
        i=$((i + 1))
        ((i < 1000)) || die "the disk never filled up"
    done
    local part=$mnt/$p$i
    if [[ -e $part ]]; then
        local n
        n=$(stat -c %s "$part")
        cmp -s -n "$n" <(piece $i) "$part" ||
            fail "interrupted file $p$i ($n bytes) is not a prefix of what was written"
        rm -f "$part" || fail "rm of the interrupted file on the full disk"
    fi
    filled=$i
}

# verify PREFIX N: files PREFIX0..N-1 hold their pieces.
verify() {
    local p=$1 n=$2 i bad=0
    for ((i = 0; i < n; i++)); do
        [[ -e $mnt/$p$i ]] || continue
        cmp -s <(piece $i) "$mnt/$p$i" || { fail "$p$i differs from what was written"; bad=1; }
    done
    ((bad == 0)) && ok
}

# wait_used_below N: df's used bytes fall to N or less within 20 s.
wait_used_below() {
    local i
    for i in $(seq 200); do
        (($(used) <= $1)) && return 0
        sleep 0.1
    done
    return 1
}

must_mount "$store" "$mnt"
for cycle in 1 2 3 4; do
    mkdir -p "$mnt/tree$cycle/sub" "$mnt/empty$cycle"
    piece 1 >"$mnt/tree$cycle/a"
    piece 2 >"$mnt/tree$cycle/sub/b"
    fill "c$cycle."
    n=$filled
    ((n >= 2)) || { fail "cycle $cycle: only $n files fit: $(cat "$T/fill.err")"; grep -v "flushed\|moved" "$store/LOG" | tail -n 25 >&2; }
    verify "c$cycle." "$n"
    before=$(used)
    # Every way of freeing space works on the full disk.
    check "cycle $cycle: rm on the full disk" rm "$mnt/c$cycle.0"
    check "cycle $cycle: rm -rf on the full disk" rm -rf "$mnt/tree$cycle"
    check "cycle $cycle: rmdir on the full disk" rmdir "$mnt/empty$cycle"
    check "cycle $cycle: truncate to a smaller size" truncate -s 4096 "$mnt/c$cycle.1"
    check "cycle $cycle: overwrite with less" bash -c "head -c 8192 '$T/pool' >'$mnt/c$cycle.2'"
    freed=$((4 * FILE - 8192 - 4096))
    if wait_used_below $((before - freed * 3 / 4)); then
        ok
    else
        fail "cycle $cycle: about $freed bytes deleted, df went from $before to $(used) used bytes"
    fi
    cmp -s -n 4096 <(piece 1) "$mnt/c$cycle.1" || fail "cycle $cycle: truncated file differs"
    cmp -s <(head -c 8192 "$T/pool") "$mnt/c$cycle.2" || fail "cycle $cycle: overwritten file differs"
    echo "# cycle $cycle: $n files filled the disk; $freed bytes deleted, df $before -> $(used)"
    # Make room for the next cycle.
    rm -f "$mnt"/c$cycle.*
done

# Full, unmounted (the final flush may find no room: the log keeps it), and
# mounted read-write again on the full disk.
fill "r."
n=$filled
verify r. "$n"
fs_unmount "$mnt" || echo "# unmount on the full disk: lsmfs exited non-zero (see its log)"
fs_is_mounted "$mnt" && die "still mounted"
must_mount "$store" "$mnt"
verify r. "$n"
before=$(used)
check "rm after a remount on the full disk" rm "$mnt/r.0" "$mnt/r.1"
wait_used_below $((before - FILE)) && ok || fail "remounted: df did not fall after rm"

# lsmctl on the full disk (the mount refills it first).
fill "l."
m=$filled
must_unmount "$mnt"
check "lsmctl del on the full disk" "$LSMCTL" "$store" del l.0
must_mount "$store" "$mnt"
[[ ! -e $mnt/l.0 ]] && ok || fail "l.0 still there after lsmctl del"
verify l. "$m"

# kill -9 in the middle of a full-disk cycle: every complete file survives.
rm -f "$mnt"/r.* "$mnt"/l.*
fill "k."
k=$filled
rm -f "$mnt/k.0"
for ((i = 0; i < 3; i++)); do
    piece $((k + i)) >"$mnt/k.new$i" 2>/dev/null || break
done
fs_kill "$mnt"
must_mount "$store" "$mnt"
verify k. "$k"
must_unmount "$mnt"
check "lsmctl verify" "$LSMCTL" "$store" verify
finish

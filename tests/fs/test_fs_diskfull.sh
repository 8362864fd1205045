#!/bin/bash
# test_fs_diskfull.sh LSMFS LSMCTL -- lsmfs on a full disk (docs/FS.md §5,
# docs/API.md "A full disk").
#
# The store lives on a small ext4 file system (a loop-mounted image). Each
# of 4 cycles (2 when LSM_TEST_SCALE < 1) fills the mount with 4 MiB files until ENOSPC, checks every complete
# file byte for byte and the interrupted one as an exact prefix, then -- on
# the full disk -- removes files with rm and rm -rf, removes an empty
# directory, truncates a file to a smaller size and overwrites one with
# less: all must succeed, and df must show the space coming back within a
# bounded time, so the next cycle fills again. Then: unmount and remount
# read-write on the full disk, delete with lsmctl on the full disk,
# kill -9 the daemon in the middle of a full-disk cycle and check every
# complete file after the remount, and write one large file with dd (1 MiB,
# then 3 MiB writes) until ENOSPC: the file holds exactly what dd reports
# written, as a prefix, across a remount, and once it is removed a large
# file fits again.
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

# Four fill-and-free cycles, two at a reduced LSM_TEST_SCALE (the sanitizer
# builds: each cycle writes the whole image through a slowed daemon).
CYCLES=$(awk -v s="${LSM_TEST_SCALE:-1}" 'BEGIN { print s < 1 ? 2 : 4 }')
must_mount "$store" "$mnt"
for ((cycle = 1; cycle <= CYCLES; cycle++)); do
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
# (The space the cycles above freed comes back as compactions run: the disk
# may fill after a single file, which is then the one removed.)
((n >= 1)) || die "the disk filled up before one file of r. was written"
gone=("$mnt/r.0")
((n >= 2)) && gone+=("$mnt/r.1")
check "rm after a remount on the full disk" rm "${gone[@]}"
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

# One large file written with dd until the disk is full, twice: 1 MiB
# writes (one request each), then 3 MiB writes (the kernel splits each into
# requests of at most max_write, so one can end part-way). dd must fail with
# ENOSPC; the file must hold exactly the bytes dd reports written -- every
# acknowledged byte, nothing more -- as a prefix of the stream, before and
# after a remount; after rm the space comes back and a large file (half the
# size) can be written and read back again.
rm -f "$mnt"/k.*
if ! wait_used_below $((40 << 20)); then
    fail "the space of the k.* files did not come back: $(used) bytes used"
    ls -l "$store" >&2
    grep -v "flushed\|moved" "$store/LOG" | tail -n 25 >&2
fi
# stream: 1 MiB blocks, block i from a generator seeded with i, forever.
cat >"$T/stream.py" <<'EOF2'
import random, sys
out = sys.stdout.buffer
i = int(sys.argv[1]) if len(sys.argv) > 1 else 0
n = int(sys.argv[2]) if len(sys.argv) > 2 else -1
try:
    while n != 0:
        out.write(random.Random(i).randbytes(1 << 20))
        i += 1
        n -= 1
except BrokenPipeError:
    pass
EOF2
stream() { python3 "$T/stream.py" 0 "$@"; }
for bs in 1M 3M; do
    before=$(used)
    rc=0
    stream | dd of="$mnt/big" bs=$bs iflag=fullblock 2>"$T/dd.err" || rc=$?
    acked=$(grep -oE '^[0-9]+ bytes' "$T/dd.err" | cut -d' ' -f1)
    if [[ $rc == 0 ]] || ! grep -q "No space left on device" "$T/dd.err"; then
        fail "dd bs=$bs of one large file: exit $rc, not ENOSPC: $(cat "$T/dd.err")"
    else
        ok
    fi
    size=$(stat -c %s "$mnt/big")
    [[ $size == "$acked" ]] && ok || fail "dd bs=$bs: dd reports $acked bytes written, the file has $size"
    cmp -s -n "$size" <(stream) "$mnt/big" && ok || fail "dd bs=$bs: the $size bytes of the file are not the stream's first bytes"
    must_unmount "$mnt"
    must_mount "$store" "$mnt"
    size2=$(stat -c %s "$mnt/big")
    [[ $size2 == "$size" ]] && cmp -s -n "$size" <(stream) "$mnt/big" && ok ||
        fail "dd bs=$bs: after a remount the file has $size2 bytes (before: $size), or other bytes"
    echo "# dd bs=$bs: ENOSPC after $acked bytes ($(used) bytes used on the disk, $before before)"
    full=$(used)
    check "dd bs=$bs: rm of the large file on the full disk" rm "$mnt/big"
    wait_used_below $((full - size * 3 / 4)) && ok ||
        fail "dd bs=$bs: $size bytes deleted, df went from $full to $(used) used bytes"
    half=$((size / 2 >> 20))
    if stream "$half" | dd of="$mnt/again" bs=1M iflag=fullblock 2>"$T/dd2.err"; then
        cmp -s <(stream "$half") "$mnt/again" && ok || fail "dd bs=$bs: the new large file ($half MiB) reads back wrong"
    else
        fail "dd bs=$bs: a new large file of $half MiB after the rm: $(cat "$T/dd2.err")"
    fi
    full=$(used)
    rm -f "$mnt/again"
    wait_used_below $((full - (half << 20) * 3 / 4)) ||
        fail "dd bs=$bs: the $half MiB of the second file did not come back: df $full -> $(used)"
done
must_unmount "$mnt"
check "lsmctl verify" "$LSMCTL" "$store" verify
finish

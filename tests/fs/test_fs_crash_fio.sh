#!/usr/bin/env bash
#
# test_fs_crash_fio.sh -- kill -9 of the daemon under fio's random writes,
# and fio's own verification afterwards; run by ctest as
#
#     bash tests/fs/test_fs_crash_fio.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# Each cycle: fio writes 4 KiB blocks at random offsets of a 64 MiB file on
# the mount (psync, one at a time; each block carries fio's verify header
# and a crc32c; an fsync every 8 writes), and the daemon is killed with
# SIGKILL 0.3 to 2.3 s after fio's first writes reached it. fio stops on the error and saves its verify
# state: how many writes it had issued (verify_state_save). The store is
# mounted again and fio, with the same job, reads back and checks every
# block those writes put there (--verify_only --verify_state_load=1). Every
# write fio saw complete must be there, byte for byte: docs/FS.md §5
# promises that a write survives kill -9 of the daemon once write()
# returned, fsync or not -- more than "up to the last fsync". The one write
# that failed when the daemon died (if the kill did not fall on an fsync)
# is counted in fio's state although it never completed, so a verify
# failure at that one offset, and only there, is allowed. Then
# `lsmctl verify` must pass after the unmount.
#
# fio is installed by tools/install-deps.sh --fs-bench (CI has it). Without
# it the test skips (77), and fails instead under LSM_TEST_NO_SKIP (CI).
# Exit 1 if a check failed, 77 if /dev/fuse or fio is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" crash_fio "$@"

if ! command -v fio >/dev/null; then
    if [[ -n ${LSM_TEST_NO_SKIP:-} ]]; then
        echo "FAIL: fio is missing (tools/install-deps.sh --fs-bench installs it; LSM_TEST_NO_SKIP is set)" >&2
        exit 1
    fi
    echo "# SKIP: fio is missing (tools/install-deps.sh --fs-bench installs it)"
    exit 77
fi

STORE=$T/store
MNT=$T/mnt
CYCLES=${LSMFS_CRASH_FIO_CYCLES:-2}

# The job; FIO_FILE, FIO_SEED and DO_VERIFY come from the environment (in a
# job file an option overrides the command line, so the verify run sets
# do_verify through the environment).
cat >"$T/job.fio" <<'EOF'
; Random 4 KiB writes, an fsync every 8, each block with a verify header and
; crc32c; the verify state is saved when the job stops during its writes.
[crash]
filename=${FIO_FILE}
size=64m
bs=4k
rw=randwrite
ioengine=psync
iodepth=1
fsync=8
randseed=${FIO_SEED}
verify=crc32c
do_verify=${DO_VERIFY}
verify_fatal=0
verify_state_save=1
EOF

must_mount "$STORE" "$MNT"
for cycle in $(seq 1 "$CYCLES"); do
    file=$MNT/fio$cycle.dat
    aux=$T/aux$cycle
    mkdir -p "$aux"
    # The file at its full size first, so that fio does not lay it out
    # (and the kill falls among the random writes).
    truncate -s 64M "$file"
    DAEMON=${FS_PID[$MNT]}
    FIO_FILE=$file FIO_SEED=$((1000 + cycle)) DO_VERIFY=0 \
        fio --aux-path="$aux" --output="$T/write$cycle.out" "$T/job.fio" >"$T/write$cycle.err" 2>&1 &
    FIO=$!
    # fio starts slowly on a loaded machine: the random delay runs from its
    # first writes, seen as the daemon writing (wchar of /proc/PID/io: 64
    # blocks' worth more than before fio).
    wchar() { awk '$1 == "wchar:" { print $2 }' "/proc/$DAEMON/io" 2>/dev/null || echo 0; }
    w0=$(wchar)
    for _ in $(seq 600); do
        (($(wchar) > w0 + 64 * 4096)) && break
        kill -0 "$FIO" 2>/dev/null || break
        sleep 0.05
    done
    delay=$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + 2.0 * r / 32767 }')
    sleep "$delay"
    kill -9 "$DAEMON"
    wait "$DAEMON" 2>/dev/null || true
    FS_PID[$MNT]=
    for _ in $(seq 300); do kill -0 "$FIO" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$FIO" 2>/dev/null && { fail "cycle $cycle: fio did not stop within 30 s"; kill -9 "$FIO"; }
    wait "$FIO" 2>/dev/null || true
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    fs_is_mounted "$MNT" && die "cycle $cycle: the dead mount is still mounted"
    if ! ls "$aux"/*verify.state >/dev/null 2>&1; then
        fail "cycle $cycle: fio saved no verify state: $(grep -m1 -E 'err=' "$T/write$cycle.out" || true)"
        must_mount "$STORE" "$MNT"
        continue
    fi
    writes=$(grep -oE 'issued rwts: total=[0-9]+,[0-9]+' "$T/write$cycle.out" | cut -d, -f2 || true)
    # The write that failed when the daemon died, if one did.
    failed=$(grep -ohE 'write offset=[0-9]+' "$T/write$cycle.out" "$T/write$cycle.err" | head -n 1 |
        cut -d= -f2 || true)
    must_mount "$STORE" "$MNT"
    FIO_FILE=$file FIO_SEED=$((1000 + cycle)) DO_VERIFY=1 \
        fio --aux-path="$aux" --output="$T/verify$cycle.out" --verify_only \
        --verify_state_load=1 "$T/job.fio" >"$T/verify$cycle.err" 2>&1 || true
    reads=$(grep -oE 'issued rwts: total=[0-9]+' "$T/verify$cycle.out" | cut -d= -f2 || true)
    bad=$(grep -ohE '^verify: .* at file [^ ]+ offset [0-9]+' "$T/verify$cycle.out" "$T/verify$cycle.err" |
        grep -oE '[0-9]+$' | sort -u || true)
    others=$(grep -vxF "${failed:-none}" <<<"$bad" || true)
    if [[ -z $reads ]] || ((reads == 0)); then
        fail "cycle $cycle: fio verified nothing; the write run: $(grep -h -m3 -E 'err|error' "$T/write$cycle.out" "$T/write$cycle.err"); the verify run: $(grep -h -m3 -E 'err|error|issued' "$T/verify$cycle.out" "$T/verify$cycle.err")"
    elif [[ -n $others ]]; then
        fail "cycle $cycle: blocks written before the kill are wrong at offsets $(echo $others | head -c 300): $(grep -h -m3 '^verify:' "$T/verify$cycle.out" "$T/verify$cycle.err")"
    else
        ok
    fi
    echo "# cycle $cycle: killed after ${delay}s; fio had issued ${writes:-?} writes${failed:+ (the last, at $failed, failed)}; verify read ${reads:-?} blocks$([[ -n $bad ]] && echo ", the failed one not there")"
    must_unmount "$MNT"
    check "cycle $cycle: lsmctl verify" "$LSMCTL" "$STORE" verify
    must_mount "$STORE" "$MNT"
done
must_unmount "$MNT"
finish

#!/usr/bin/env bash
#
# test_fs_remount.sh -- unmount, then use the store at once (docs/FS.md §6.3),
# run by ctest as
#
#     bash tests/fs/test_fs_remount.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# What scripts, backup jobs and service managers do:
#   1. `fusermount3 -u M; wait $pid` means "on disk": once `lsmfs -f` has
#      returned (with -o sync=none, so nothing but the close makes it so),
#      the memtable is in a table, every log is empty, LOG ends with
#      "closed", the lock is free, and a copy of the directory (a backup) is
#      a store holding every file.
#   2. After SIGTERM (the daemon unmounts itself) the mount goes only once
#      the store is closed: LOG already ends with "closed" when it is gone.
#   3. 20 rounds of: write a file; `fusermount3 -u M && lsmfs -f S M` at
#      once (the old daemon may still be closing the store: the new one waits
#      for it); the file is there; write another; `fusermount3 -u M &&
#      lsmctl S get` of both at once. Not one may fail; every old daemon
#      exits 0. Then the same once with the detaching `lsmfs S M`.
#   4. A store held by a daemon that is serving is still refused at once:
#      lsmctl exits 3 naming the daemon's pid, within 5 s.
#
# Exit 0 if every check passed, 1 otherwise, 77 when /dev/fuse is missing.
set -u
source "$(dirname "$0")/fslib.sh" remount "$@"

S=$T/store
M=$T/mnt
mkdir -p "$M"

# fusermount3 -u, retried while the mount is busy (a reader just ending).
unmount_now() {
    local _
    for _ in $(seq 50); do
        fusermount3 -u "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fusermount3 -u "$1"
}

last_log_line() { tail -n 1 "$S/LOG" 2>/dev/null | sed 's/^[-0-9]* [0-9:.]* //'; }

# ---- 1. after `wait`, the store is on disk -----------------------------------------
echo "== fusermount3 -u, wait: on disk"
must_mount "$S" "$M" -o sync=none
for i in 1 2 3 4 5; do
    printf 'file %d\n' "$i" >"$M/disk$i" || fail "write $M/disk$i"
done
mkdir -p "$M/dir/sub" && echo deep >"$M/dir/sub/f" || fail "mkdir -p and a file in it"
pid=${FS_PID[$M]}
unmount_now "$M" || die "fusermount3 -u $M failed"
rc=0
wait "$pid" || rc=$?
FS_PID[$M]=
[[ $rc == 0 ]] && ok || fail "lsmfs -f exited $rc after the unmount"
[[ $(last_log_line) == closed ]] && ok || fail "LOG does not end with 'closed': [$(tail -n 2 "$S/LOG")]"
n_tables=$(find "$S" -maxdepth 1 -name '*.sst' | wc -l)
((n_tables > 0)) && ok || fail "no table in $S after the unmount: the memtable was not flushed"
nonempty=$(find "$S" -maxdepth 1 -name '*.log' -size +0c -printf '%f %s\n')
[[ -z $nonempty ]] && ok || fail "logs still hold data after lsmfs -f returned: $nonempty"
[[ ! -s $S/LOCK ]] && ok || fail "LOCK still names a holder: [$(cat "$S/LOCK")]"
cp -a "$S" "$T/backup" || die "cp -a of the store"
for i in 1 2 3 4 5; do
    got=$("$LSMCTL" "$T/backup" get "disk$i" 2>&1)
    [[ $got == "file $i" ]] && ok || fail "backup copy: disk$i reads [$got]"
done
check "lsmctl verify of the backup copy" "$LSMCTL" "$T/backup" verify

# ---- 2. SIGTERM: closed before the mount goes ---------------------------------------
echo "== SIGTERM: the store is closed before the mount goes"
# 24 MiB in a memtable of 64 MiB: the close has a flush to do that takes
# long enough to be seen.
must_mount "$S" "$M" -o memtable=64M,sync=none
head -c $((24 << 20)) /dev/urandom >"$T/big" || die "make $T/big"
cp "$T/big" "$M/big" || fail "write $M/big"
pid=${FS_PID[$M]}
kill -TERM "$pid"
for _ in $(seq 3000); do
    fs_is_mounted "$M" || break
    sleep 0.01
done
fs_is_mounted "$M" && die "$M still mounted 30 s after SIGTERM"
line=$(last_log_line)
rc=0
wait "$pid" || rc=$?
FS_PID[$M]=
[[ $line == closed ]] && ok || fail "the mount was gone before the store was closed (LOG ended with [$line])"
[[ $rc == 0 ]] && ok || fail "lsmfs -f exited $rc after SIGTERM"
check "big, after SIGTERM" cmp "$T/big" <("$LSMCTL" "$S" get big)
rm -f "$T/big"

# ---- 3. unmount, then mount or lsmctl at once, 20 times -------------------------------
echo "== 20 rounds: unmount, then lsmfs at once; unmount, then lsmctl at once"
must_mount "$S" "$M"
n_waits=0
for round in $(seq 20); do
    printf 'first %d\n' "$round" >"$M/a$round" || fail "round $round: write a$round"
    old=${FS_PID[$M]}
    unmount_now "$M" || die "round $round: fusermount3 -u failed"
    if ! fs_mount "$S" "$M"; then
        fail "round $round: lsmfs started right after the unmount did not mount"
        wait "$old"
        break
    fi
    rc=0
    wait "$old" || rc=$?
    [[ $rc == 0 ]] && ok || fail "round $round: the previous daemon exited $rc"
    got=$(cat "$M/a$round" 2>&1)
    [[ $got == "first $round" ]] && ok || fail "round $round: a$round reads [$got] after the remount"
    printf 'second %d\n' "$round" >"$M/b$round" || fail "round $round: write b$round"

    old=${FS_PID[$M]}
    unmount_now "$M" || die "round $round: fusermount3 -u failed"
    rc=0
    got=$("$LSMCTL" "$S" get "a$round" 2>"$T/ctl.err") || rc=$?
    [[ $rc == 0 && $got == "first $round" ]] && ok ||
        fail "round $round: lsmctl get right after the unmount: exit $rc, [$got] $(cat "$T/ctl.err")"
    grep -q "waiting for it" "$T/ctl.err" && n_waits=$((n_waits + 1))
    rc=0
    got=$("$LSMCTL" "$S" get "b$round" 2>&1) || rc=$?
    [[ $rc == 0 && $got == "second $round" ]] && ok || fail "round $round: b$round: exit $rc, [$got]"
    rc=0
    wait "$old" || rc=$?
    FS_PID[$M]=
    [[ $rc == 0 ]] && ok || fail "round $round: the daemon exited $rc"
    must_mount "$S" "$M"
done
n_waits_fs=$(grep -c "waiting for it" "$T/lsmfs.mnt.log" || true)
echo "lsmctl waited for a closing daemon in $n_waits of 20 rounds, lsmfs in $n_waits_fs"

# The same with the detaching lsmfs: it exits 0 once mounted.
old=${FS_PID[$M]}
unmount_now "$M" || die "fusermount3 -u failed"
rc=0
"$LSMFS" "$S" "$M" >"$T/daemon.out" 2>&1 || rc=$?
wait "$old" || fail "the previous daemon exited $?"
FS_PID[$M]=
if [[ $rc == 0 ]] && fs_is_mounted "$M"; then
    ok
    got=$(cat "$M/b20" 2>&1)
    [[ $got == "second 20" ]] && ok || fail "detached daemon: b20 reads [$got]"
    dpid=$(tr -dc 0-9 <"$S/LOCK")
    unmount_now "$M" || die "fusermount3 -u of the detached daemon's mount failed"
    rc=0
    # stderr apart: it may say that lsmctl waits for the closing daemon.
    got=$("$LSMCTL" "$S" get a1 2>"$T/ctl.err") || rc=$?
    [[ $rc == 0 && $got == "first 1" ]] && ok ||
        fail "lsmctl right after the detached daemon's unmount: exit $rc, [$got] $(cat "$T/ctl.err")"
    for _ in $(seq 300); do
        [[ -n $dpid ]] && kill -0 "$dpid" 2>/dev/null || break
        sleep 0.1
    done
else
    fail "lsmfs (detaching) right after the unmount: exit $rc, $(cat "$T/daemon.out")"
fi

# ---- 4. a serving daemon: refused at once ---------------------------------------------
echo "== a store held by a serving daemon is refused at once"
must_mount "$S" "$M"
pid=${FS_PID[$M]}
start=$(date +%s%N)
rc=0
"$LSMCTL" "$S" get a1 >/dev/null 2>"$T/ctl.err" || rc=$?
took_ms=$((($(date +%s%N) - start) / 1000000))
[[ $rc == 3 ]] && ok || fail "lsmctl on a mounted store: exit $rc (expected 3): $(cat "$T/ctl.err")"
grep -q "process $pid\\b" "$T/ctl.err" && ok || fail "the refusal does not name the daemon's pid $pid: $(cat "$T/ctl.err")"
grep -q "waiting" "$T/ctl.err" && fail "lsmctl waited for a serving daemon: $(cat "$T/ctl.err")"
((took_ms < 5000)) && ok || fail "the refusal took $took_ms ms"
must_unmount "$M"

finish

#!/usr/bin/env bash
#
# test_fs_cli.sh -- the safety promises of the daemon's command line
# (docs/FS.md §6), run by ctest as
#
#     bash tests/fs/test_fs_cli.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
#   - --help exits 0 and lists the options of §6;
#   - a store already open elsewhere -- mounted by another lsmfs, or held by
#     an lsmctl waiting on stdin -- is refused with a non-zero exit and a
#     message naming the holder's pid, and nothing is mounted;
#   - a store inside its own mount point (directly, as the mount point
#     itself, or through a symlink) is refused the same way;
#   - a missing mount point, a mount point that is a file, a bad -o value, an
#     unknown option and missing arguments each give a message and a non-zero
#     exit within seconds, and leave nothing mounted (also without -f, where a
#     daemon that forked before checking would report success);
#   - a missing store directory is created, mode 0700;
#   - without -f the daemon detaches, the mount works, and fusermount3 -u
#     ends the daemon and releases the lock (lsmctl can open the store);
#   - -o ro refuses writes with EROFS and serves reads; -o sync=always,
#     memtable=, cache=, inline= are accepted.
# A failing check is reported and the script goes on; exit 1 if any failed,
# 77 if /dev/fuse is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" cli "$@"
cd "$T"

# run_refused WHAT MNT ARGS...: lsmfs ARGS must exit non-zero within 20 s with
# a message on stderr, and MNT must not be mounted. Sets $ERR (stderr).
ERR=
run_refused() {
    local what=$1 mnt=$2 rc=0
    shift 2
    FS_PID[$mnt]=${FS_PID[$mnt]:-} # so that the cleanup unmounts it if need be
    timeout 20 "$LSMFS" "$@" </dev/null >"$T/out" 2>"$T/err" || rc=$?
    ERR=$(cat "$T/err" "$T/out")
    if [[ $rc == 124 ]]; then
        fail "$what: lsmfs $* did not exit within 20 s"
    elif [[ $rc == 0 ]]; then
        fail "$what: lsmfs $* exited 0, expected a refusal"
    elif [[ -z $ERR ]]; then
        fail "$what: lsmfs $* exited $rc without a message"
    else
        ok
    fi
    sleep 0.3 # a daemon that forked before failing would mount now
    if fs_is_mounted "$mnt"; then
        fail "$what: $mnt is mounted after lsmfs $* (exit $rc)"
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" || true
    else
        ok
    fi
}
# mentions WHAT PATTERN: $ERR must match the extended regex.
mentions() {
    if grep -Eiq -- "$2" <<<"$ERR"; then ok; else fail "$1: the message does not mention /$2/: [$ERR]"; fi
}

# ---- --help --------------------------------------------------------------------
rc=0
"$LSMFS" --help >"$T/help" 2>&1 || rc=$?
[[ $rc == 0 ]] && ok || fail "lsmfs --help exited $rc"
for word in -f -o ro 'sync=' memtable cache allow_other STORE; do
    grep -q -- "$word" "$T/help" && ok || fail "lsmfs --help does not mention $word"
done

# ---- bad command lines ---------------------------------------------------------------
mkdir -p "$T/m1"
run_refused "missing mount point" "$T/missing" -f "$T/s1" "$T/missing"
mentions "missing mount point" "missing|No such file|not found|does not exist"
run_refused "missing mount point (daemon mode)" "$T/missing" "$T/s1" "$T/missing"
: >"$T/afile"
run_refused "mount point is a file" "$T/afile" -f "$T/s1" "$T/afile"
run_refused "bad sync= value" "$T/m1" -f -o sync=bogus "$T/s1" "$T/m1"
mentions "bad sync= value" "sync"
run_refused "bad sync= value (daemon mode)" "$T/m1" -o sync=bogus "$T/s1" "$T/m1"
run_refused "bad memtable= value" "$T/m1" -f -o memtable=lots "$T/s1" "$T/m1"
mentions "bad memtable= value" "memtable"
run_refused "bad cache= value" "$T/m1" -f -o cache=-5 "$T/s1" "$T/m1"
run_refused "bad inline= value" "$T/m1" -f -o inline=small "$T/s1" "$T/m1"
mentions "bad inline= value" "inline"
run_refused "inline= too large" "$T/m1" -f -o inline=2M "$T/s1" "$T/m1"
run_refused "unknown -o option" "$T/m1" -f -o no_such_option_xyz "$T/s1" "$T/m1"
run_refused "unknown flag" "$T/m1" -f --no-such-flag "$T/s1" "$T/m1"
run_refused "no arguments" "$T/m1"
run_refused "one argument" "$T/m1" -f "$T/s1"
run_refused "three arguments" "$T/m1" -f "$T/s1" "$T/m1" "$T/extra"

run_refused "max_threads=0" "$T/m1" -f -o max_threads=0 "$T/s1" "$T/m1"
mentions "max_threads=0" "max_threads"
run_refused "negative max_threads" "$T/m1" -f -o max_threads=-1 "$T/s1" "$T/m1"
run_refused "negative max_idle_threads" "$T/m1" -f -o max_idle_threads=-1 "$T/s1" "$T/m1"
[[ ! -e $T/s1 ]] && ok || fail "a refused start created the store directory"

# ---- refused starts change nothing in the store directory ------------------------------
# snap DIR: every file with its mode, size and bytes.
snap() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum; find . -printf '%p %m %s\n' | sort); }
mkdir -p "$T/foreign"
echo "my notes" >"$T/foreign/notes.txt"
echo "my own log" >"$T/foreign/LOG"
before=$(snap "$T/foreign")
run_refused "a directory that is neither a store nor empty" "$T/m1" -f "$T/foreign" "$T/m1"
mentions "a directory that is neither a store nor empty" "not a store"
[[ $(snap "$T/foreign") == "$before" ]] && ok || fail "the refused start changed $T/foreign"
# A user's file named LOG alone (a store made there would rename it LOG.old).
mkdir -p "$T/onlylog"
echo "my own log" >"$T/onlylog/LOG"
before=$(snap "$T/onlylog")
run_refused "a directory holding only a file named LOG" "$T/m1" -f "$T/onlylog" "$T/m1"
mentions "a directory holding only a file named LOG" "not a store.*'LOG'"
[[ $(snap "$T/onlylog") == "$before" ]] && ok || fail "the refused start changed $T/onlylog"
"$LSMCTL" --create "$T/damaged" put k v >/dev/null || fail "setup: lsmctl put"
echo garbage >"$T/damaged/CURRENT"
before=$(snap "$T/damaged")
run_refused "a damaged CURRENT" "$T/m1" -f "$T/damaged" "$T/m1"
mentions "a damaged CURRENT" "CURRENT"
[[ $(snap "$T/damaged") == "$before" ]] && ok || fail "the refused start changed $T/damaged"
rc=0
"$LSMCTL" "$T/damaged" get k >/dev/null 2>&1 || rc=$?
[[ $rc == 4 ]] && ok || fail "lsmctl get on a damaged CURRENT exited $rc, expected 4"
[[ $(snap "$T/damaged") == "$before" ]] && ok || fail "lsmctl on a damaged CURRENT changed the store"

# ---- store inside its own mount point ---------------------------------------------------
mkdir -p "$T/m2"
run_refused "store inside its mount point" "$T/m2" -f "$T/m2/store" "$T/m2"
mentions "store inside its mount point" "mount ?point|inside|within"
run_refused "store inside its mount point (daemon mode)" "$T/m2" "$T/m2/store" "$T/m2"
mkdir -p "$T/m2/existing-store"
run_refused "existing store dir inside its mount point" "$T/m2" -f "$T/m2/existing-store" "$T/m2"
run_refused "store is the mount point" "$T/m2" -f "$T/m2" "$T/m2"
ln -s "$T/m2" "$T/link-to-m2"
run_refused "store inside the mount point through a symlink" "$T/m2" -f "$T/link-to-m2/store" "$T/m2"
run_refused "relative store path inside the mount point" "$T/m2" -f "m2/store" "$T/m2"
[[ ! -e $T/m2/store ]] && ok || fail "a refused store inside its mount point was created anyway"

# ---- a missing store is created, mode 0700 (its parent must exist) -----------------------------
mkdir "$T/new"
must_mount "$T/new/store" "$T/m3"
mode=$(stat -c %a "$T/new/store")
[[ $mode == 700 ]] && ok || fail "the new store directory has mode $mode, expected 700"
echo data >"$T/m3/file"

# ---- a store already open elsewhere ---------------------------------------------------------
HOLDER=${FS_PID[$T/m3]}
mkdir -p "$T/m4"
run_refused "store mounted by another lsmfs" "$T/m4" -f "$T/new/store" "$T/m4"
mentions "store mounted by another lsmfs" "\\b$HOLDER\\b"
run_refused "store mounted by another lsmfs (daemon mode)" "$T/m4" "$T/new/store" "$T/m4"
mentions "store mounted by another lsmfs (daemon mode)" "\\b$HOLDER\\b"
rc=0
"$LSMCTL" "$T/new/store" get file >/dev/null 2>&1 || rc=$?
[[ $rc == 3 ]] && ok || fail "lsmctl on the mounted store exited $rc, expected 3 (locked)"
[[ $(cat "$T/m3/file") == data ]] && ok || fail "the first mount was disturbed by the refused ones"
must_unmount "$T/m3"
# The lock is released at unmount.
rc=0
got=$("$LSMCTL" "$T/new/store" get file 2>&1) || rc=$?
[[ $rc == 0 && $got == data ]] && ok || fail "lsmctl get after the unmount: exit $rc, [$got]"
# Held by lsmctl waiting on stdin.
mkfifo "$T/fifo"
"$LSMCTL" "$T/new/store" put held <"$T/fifo" &
CTL=$!
exec {fifo_fd}>"$T/fifo"
held=0
for _ in $(seq 100); do
    [[ $(cat "$T/new/store/LOCK" 2>/dev/null) == "$CTL" ]] && { held=1; break; }
    sleep 0.05
done
[[ $held == 1 ]] || fail "setup: lsmctl put (pid $CTL) does not hold the store's lock"
run_refused "store held by lsmctl" "$T/m4" -f "$T/new/store" "$T/m4"
mentions "store held by lsmctl" "\\b$CTL\\b"
echo -n "value" >&$fifo_fd
exec {fifo_fd}>&-
wait "$CTL" || fail "lsmctl put exited $?"

# ---- daemon mode ----------------------------------------------------------------------
mkdir -p "$T/m5"
FS_PID[$T/m5]=
rc=0
timeout 30 "$LSMFS" "$T/new/store" "$T/m5" >"$T/out" 2>&1 || rc=$?
if [[ $rc != 0 ]]; then
    fail "lsmfs without -f exited $rc: $(cat "$T/out")"
elif ! fs_is_mounted "$T/m5"; then
    fail "lsmfs without -f exited 0 but $T/m5 is not mounted"
else
    ok
    DPID=$(cat "$T/new/store/LOCK" 2>/dev/null || true)
    [[ $(cat "$T/m5/held" 2>/dev/null) == value ]] && ok || fail "daemon mode: held reads [$(cat "$T/m5/held" 2>&1)]"
    [[ $(cat "$T/m5/file" 2>/dev/null) == data ]] && ok || fail "daemon mode: file reads [$(cat "$T/m5/file" 2>&1)]"
    fusermount3 -u "$T/m5" || fail "fusermount3 -u of the daemon-mode mount failed"
    gone=0
    for _ in $(seq 300); do
        if [[ -n $DPID ]] && kill -0 "$DPID" 2>/dev/null; then sleep 0.1; else gone=1; break; fi
    done
    [[ $gone == 1 ]] && ok || fail "the daemon (pid $DPID) still runs 30 s after fusermount3 -u"
    rc=0
    "$LSMCTL" "$T/new/store" verify >/dev/null 2>&1 || rc=$?
    [[ $rc == 0 ]] && ok || fail "lsmctl verify after the daemon-mode unmount exited $rc"
fi

# ---- -o ro, and the tuning options -------------------------------------------------------
must_mount "$T/new/store" "$T/m6" -o ro
[[ $(cat "$T/m6/file" 2>/dev/null) == data ]] && ok || fail "-o ro: cannot read file"
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
got=$(errno_of "os.close(os.open('$T/m6/newfile', os.O_CREAT | os.O_WRONLY, 0o644))")
[[ $got == EROFS ]] && ok || fail "-o ro: create gave $got, expected EROFS"
got=$(errno_of "os.close(os.open('$T/m6/file', os.O_WRONLY))")
[[ $got == EROFS ]] && ok || fail "-o ro: open for writing gave $got, expected EROFS"
got=$(errno_of "os.unlink('$T/m6/file')")
[[ $got == EROFS ]] && ok || fail "-o ro: unlink gave $got, expected EROFS"
must_unmount "$T/m6"
must_mount "$T/new/store" "$T/m7" -o sync=always,memtable=1M,cache=8M,inline=4K
echo "sync always" >"$T/m7/s"
[[ $(cat "$T/m7/s") == "sync always" ]] && ok || fail "-o sync=always: write/read failed"
must_unmount "$T/m7"
for mode in none interval; do
    must_mount "$T/new/store" "$T/m8" -o "sync=$mode"
    echo "$mode" >"$T/m8/s"
    must_unmount "$T/m8"
done
rc=0
got=$("$LSMCTL" "$T/new/store" get s 2>&1) || rc=$?
[[ $got == interval ]] && ok || fail "lsmctl get s after the sync= mounts: exit $rc, [$got]"
finish

# fslib.sh -- shared by the shell tests of tests/fs/: sourced as
#
#     source "$(dirname "$0")/fslib.sh" NAME "$@"     # "$@": LSMFS LSMCTL
#
# It exits 77 (skip) when /dev/fuse is missing, makes the private temporary
# directory $T, and installs an EXIT trap that unmounts every mount made with
# fs_mount (lazily and killing the daemon if a plain unmount does not work)
# before removing $T -- never crossing into a mount that is still there.
#
# Checks do not stop the script: `fail MSG` records a failure (printed at
# once, with the tail of the daemon's log), and `finish` exits 1 if any check
# failed, 0 otherwise. `die MSG` stops at once, for states the rest cannot
# run from.

FS_NAME=${1:?usage: source fslib.sh NAME LSMFS LSMCTL}
LSMFS=${2:?usage: $0 PATH/TO/lsmfs PATH/TO/lsmctl}
LSMCTL=${3:?usage: $0 PATH/TO/lsmfs PATH/TO/lsmctl}

if [[ ! -e /dev/fuse ]]; then
    echo "# SKIP: /dev/fuse is missing"
    exit 77
fi
[[ -x $LSMFS ]] || { echo "not executable: $LSMFS" >&2; exit 1; }
[[ -x $LSMCTL ]] || { echo "not executable: $LSMCTL" >&2; exit 1; }
LSMFS=$(realpath "$LSMFS")
LSMCTL=$(realpath "$LSMCTL")

T=$(mktemp -d "${TMPDIR:-/tmp}/lsmfs-$FS_NAME.XXXXXX")
N_FAIL=0
N_CHECKS=0
declare -A FS_PID=()     # mount point -> daemon pid
declare -A FS_LOG=()     # mount point -> daemon log
FS_LAST_LOG=

fs_is_mounted() {
    awk -v m="$1" '$2 == m && $3 ~ /^fuse/ { found = 1 } END { exit !found }' /proc/mounts
}

fs_cleanup() {
    local m pid
    for m in "${!FS_PID[@]}"; do
        if fs_is_mounted "$m"; then
            fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true
        fi
        pid=${FS_PID[$m]}
        if [[ -n $pid ]]; then
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
        fs_is_mounted "$m" && fusermount3 -u -z "$m" 2>/dev/null || true
    done
    if awk -v t="$T/" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        echo "something under $T is still mounted: $T left in place" >&2
    else
        rm -rf --one-file-system "$T"
    fi
}
trap fs_cleanup EXIT
trap 'exit 130' INT TERM HUP

log_tail() {
    local log=${1:-$FS_LAST_LOG}
    if [[ -n $log && -s $log ]]; then
        echo "--- last lines of $log:" >&2
        tail -n 15 "$log" >&2
        echo "---" >&2
    fi
}

fail() {
    N_FAIL=$((N_FAIL + 1))
    echo "FAIL: $*" >&2
    log_tail
}
die() {
    echo "FATAL: $*" >&2
    log_tail
    exit 1
}
ok() { N_CHECKS=$((N_CHECKS + 1)); }
# check DESCRIPTION COMMAND...: run the command; fail with its output if it
# exits non-zero.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok
    else
        fail "$what (exit $?): $(printf '%s' "$out" | head -c 3000)"
    fi
}
finish() {
    if ((N_FAIL > 0)); then
        echo "$FS_NAME: $N_FAIL of $((N_CHECKS + N_FAIL)) checks FAILED" >&2
        exit 1
    fi
    echo "$FS_NAME: all $N_CHECKS checks passed"
    exit 0
}

# fs_mount STORE MNT [LSMFS OPTIONS...]: start `lsmfs -f OPTIONS STORE MNT` in
# the background and wait (30 s at most) until MNT is a FUSE mount. Returns 1
# (with the log shown) if the daemon exits first or no mount appears.
fs_mount() {
    local store=$1 mnt=$2 pid log
    shift 2
    mkdir -p "$mnt"
    log="$T/lsmfs.$(basename "$mnt").log"
    FS_LAST_LOG=$log
    echo "=== lsmfs -f $* $store $mnt" >>"$log"
    "$LSMFS" -f "$@" "$store" "$mnt" </dev/null >>"$log" 2>&1 &
    pid=$!
    FS_PID[$mnt]=$pid
    FS_LOG[$mnt]=$log
    for _ in $(seq 1500); do
        if fs_is_mounted "$mnt"; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            echo "lsmfs exited with $? before mounting $mnt" >&2
            FS_PID[$mnt]=
            log_tail "$log"
            return 1
        fi
        sleep 0.02
    done
    echo "no mount at $mnt after 30 s" >&2
    log_tail "$log"
    return 1
}

# fs_unmount MNT: fusermount3 -u (retried while busy, 30 s), then wait for the
# daemon; returns its exit status (1 if the unmount itself failed).
fs_unmount() {
    local mnt=$1 pid rc=0
    pid=${FS_PID[$mnt]:-}
    local i
    for i in $(seq 150); do
        fusermount3 -u "$mnt" 2>/dev/null && break
        sleep 0.2
    done
    if fs_is_mounted "$mnt"; then
        echo "fusermount3 -u $mnt failed for 30 s" >&2
        return 1
    fi
    if [[ -n $pid ]]; then
        for i in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "lsmfs (pid $pid) still running 120 s after the unmount of $mnt" >&2
            return 1
        fi
        wait "$pid" || rc=$?
        FS_PID[$mnt]=
    fi
    return $rc
}

# fs_kill MNT: kill -9 the daemon, reap it, and lazily unmount the dead mount.
fs_kill() {
    local mnt=$1 pid
    pid=${FS_PID[$mnt]:-}
    if [[ -n $pid ]]; then
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        FS_PID[$mnt]=
    fi
    fusermount3 -u -z "$mnt" 2>/dev/null || true
}

# must_mount / must_unmount: the same, stopping the script on failure.
must_mount() { fs_mount "$@" || die "mount of $1 at $2 failed"; ok; }
must_unmount() {
    local rc=0
    fs_unmount "$1" || rc=$?
    [[ $rc == 0 ]] || fail "unmount of $1: lsmfs exited with status $rc (expected 0)"
    fs_is_mounted "$1" && die "$1 is still mounted"
    ok
}

#!/bin/bash
#
# emptydir.sh -- what rmdir and a listing of a directory emptied by N
# unlinks cost lsmfs (docs/BENCHMARKS.md §10.10, docs/FS.md §3.3).
#
#   bench/fs/emptydir.sh LSMFS N [LSMFS OPTIONS...]
#
# Three cases, each in a fresh mount of a fresh store:
#   mkdir    a directory made with mkdir, N empty files created in it and
#            unlinked (xargs touch, xargs rm), then rmdir;
#   listed   the same files created, a remount, ls -f of the directory (as
#            rm -rf and shell globs list first), the files unlinked, rmdir;
#   unlisted the same without the ls -f: the daemon has no count (rmdir
#            alone is measured: a listing would count the directory).
# For each it reports the time of the rmdir call itself (python's os.rmdir,
# and the system time of the calling process during it: the kernel's own
# work, such as dropping the dentries the unlinked names left), the daemon's CPU time during it (the sum of
# its threads' /proc schedstat run times, so the other processes of a busy
# machine do not count) and the engine's iterator steps during it (the
# root's lsmfs.stats), and the same for a listing of the emptied directory
# just before (python's os.listdir). E.g.
#   bench/fs/emptydir.sh build/lsmfs 100000
# Needs python3, getfattr (attr) and fusermount3. Exit 1 if a step fails.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help || $# -lt 2 ]]; then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
    [[ $# -ge 2 ]] && exit 0 || exit 2
fi
L=$1
N=$2
shift 2
source "$(dirname "$0")/mountlib.sh" emptydir
steps() {
    getfattr --only-values -n lsmfs.stats "$M" 2>/dev/null |
        awk '/^iterator steps/ { print $3 }'
}
# measure WHAT CMD...: CMD's own time (µs), the daemon's CPU and the steps.
measure() {
    local what=$1 s0 c0 us c1 s1
    shift
    s0=$(steps)
    c0=$(cpu_us)
    read -r us sys < <("$@")
    c1=$(cpu_us)
    s1=$(steps)
    printf '%-8s %-6s call %8d us (%s us in the kernel)   daemon cpu %8d us   iterator steps %8d\n' \
        "$case" "$what" "$us" "${sys:--}" $((c1 - c0)) $((s1 - s0))
}
timed_rmdir() {
    python3 -c 'import os, resource, sys, time
r = resource.getrusage(resource.RUSAGE_SELF).ru_stime
t = time.perf_counter(); os.rmdir(sys.argv[1]); t = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_SELF).ru_stime - r
print(int(t * 1e6), int(r * 1e6))' "$1"
}
timed_ls() {
    python3 -c 'import os, sys, time
t = time.perf_counter(); n = len(os.listdir(sys.argv[1])); print(int((time.perf_counter() - t) * 1e6))
assert n == 0' "$1"
}
for case in mkdir listed unlisted; do
    S=$W/store-$case
    mount_it "$@"
    mkdir "$M/d"
    (cd "$M/d" && seq -f f%g "$N" | xargs touch)
    if [[ $case != mkdir ]]; then
        unmount_it
        mount_it "$@"
    fi
    [[ $case == listed ]] && ls -f "$M/d" >/dev/null
    (cd "$M/d" && seq -f f%g "$N" | xargs rm)
    # (Unlisted: a listing would count the directory; rmdir alone.)
    [[ $case != unlisted ]] && measure "ls -a" timed_ls "$M/d"
    measure rmdir timed_rmdir "$M/d"
    unmount_it
done

#!/bin/bash
#
# meta_ab.sh -- two lsmfs binaries side by side on fs-meta-bench's phases, in
# one run (docs/BENCHMARKS.md §10.11).
#
#   bench/fs/meta_ab.sh LSMFS_A LSMFS_B FS_META_BENCH [ROUNDS [FILES]]
#
# Each round gives both binaries a new store, then runs the phases create,
# stat, read, rename and unlink of FILES files (10000) in one directory, one
# phase per mount (so every phase starts with the kernel's caches empty and
# every request reaches the daemon), A and B taking turns at each phase (A
# first in odd rounds, B first in even ones). Per phase and binary it prints
# a CSV line:
#   round,binary,phase,ops_per_sec,daemon_cpu_us_per_op,gets,value_lookups,prefix_checks
# the last three per operation, from the engine's counters (lsmfs.stats:
# lsm_get calls, lsm_value_size/lsm_read_value lookups, prefix checks the
# filters answered), which are exact whatever the load on the machine; the
# daemon's CPU time (utime + stime, all threads) moves less with the load
# than the rate does. Both binaries need the "value lookups" counter.
# Needs bc, getfattr (attr) and fusermount3. Exit 1 if a step fails.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help || $# -lt 3 ]]; then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
    [[ $# -ge 3 ]] && exit 0 || exit 2
fi
declare -A BIN=([A]=$(realpath "$1") [B]=$(realpath "$2")) PID=()
FMB=$(realpath "$3")
ROUNDS=${4:-3}
N=${5:-10000}
W=$(mktemp -d "${TMPDIR:-/tmp}/lsmfs-meta-ab.XXXXXX")
cleanup() {
    for t in A B; do
        fusermount3 -u -z "$W/$t-mnt" 2>/dev/null || true
        [[ -n ${PID[$t]:-} ]] && wait "${PID[$t]}" 2>/dev/null || true
    done
    rm -rf "$W"
}
trap cleanup EXIT

mount_one() {
    local t=$1
    mkdir -p "$W/$t-mnt"
    "${BIN[$t]}" -f "$W/$t-store" "$W/$t-mnt" </dev/null >>"$W/$t.log" 2>&1 &
    PID[$t]=$!
    for _ in $(seq 1500); do
        awk -v m="$W/$t-mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts && return 0
        sleep 0.02
    done
    echo "meta_ab: no mount of ${BIN[$t]}" >&2
    cat "$W/$t.log" >&2
    exit 1
}
unmount_one() {
    fusermount3 -u "$W/$1-mnt"
    wait "${PID[$1]}"
    PID[$1]=
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
counter() {
    getfattr --absolute-names --only-values -n lsmfs.stats "$W/$1-mnt" |
        awk -v n="$2" 'index($0, n) == 1 { sub(n, ""); print $1 + 0; found = 1; exit }
                       END { if (!found) exit 1 }'
}
per_op() { echo "scale=2; ($2 - $1) / $N" | bc; }

tck=$(getconf CLK_TCK)
echo "round,binary,phase,ops_per_sec,daemon_cpu_us_per_op,gets,value_lookups,prefix_checks"
for r in $(seq "$ROUNDS"); do
    rm -rf "$W/A-store" "$W/B-store"
    order="A B"
    ((r % 2 == 0)) && order="B A"
    for ph in create stat read rename unlink; do
        for t in $order; do
            mount_one "$t"
            mkdir -p "$W/$t-mnt/d"
            g0=$(counter "$t" gets)
            v0=$(counter "$t" "value lookups")
            p0=$(counter "$t" "prefix checks")
            c0=$(cpu_ticks "${PID[$t]}")
            line=$("$FMB" --files="$N" --layout=flat --phases="$ph" --csv "$W/$t-mnt/d" |
                grep "^flat,$ph,")
            c1=$(cpu_ticks "${PID[$t]}")
            g1=$(counter "$t" gets)
            v1=$(counter "$t" "value lookups")
            p1=$(counter "$t" "prefix checks")
            echo "$r,$t,$ph,$(echo "$line" | cut -d, -f5),$(((c1 - c0) * 1000000 / tck / N)),$(per_op "$g0" "$g1"),$(per_op "$v0" "$v1"),$(per_op "$p0" "$p1")"
            unmount_one "$t"
        done
    done
done

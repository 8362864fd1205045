#!/bin/sh
# profile.sh -- where the time of one lsm-bench workload goes, for one engine.
#
# Fills a database first when the workload needs one (fillrandom + overwrite,
# outside the profile), then runs the workload alone under
# `perf record -g --call-graph dwarf` (the engine is built without frame
# pointers, so dwarf unwinding is what gives whole call chains) and prints the
# hottest symbols per thread and the call chains of the top ones.
#
# Usage: bench/profile.sh WORKLOAD [ENGINE [lsm-bench options...]]
#   e.g. bench/profile.sh readrandom lsm --num=1000000 --reads=300000
# Environment: LSM_BENCH (the binary; default build/lsm-bench, else
# build-bench/lsm-bench), OUT (directory for perf.data and reports; default
# /tmp/lsm-bench-profile). Needs linux-perf and perf_event_paranoid <= 2.
set -eu
wl=${1:?usage: profile.sh WORKLOAD [ENGINE [lsm-bench options...]]}
engine=${2:-lsm}
[ $# -ge 2 ] && shift 2 || shift $#
here=$(cd "$(dirname "$0")" && pwd)
bench=${LSM_BENCH:-}
if [ -z "$bench" ]; then
    for b in "$here/../build/lsm-bench" "$here/../build-bench/lsm-bench"; do
        [ -x "$b" ] && { bench=$b; break; }
    done
fi
[ -x "${bench:-}" ] || { echo "profile.sh: lsm-bench not found (set LSM_BENCH)" >&2; exit 1; }
out=${OUT:-/tmp/lsm-bench-profile}
mkdir -p "$out"
db="$out/db"

case "$wl" in
fill*)
    # A fill starts from an empty database: profile the whole run.
    perf record -F 999 -g --call-graph dwarf,16384 -o "$out/$engine-$wl.data" -- \
        "$bench" --engines="$engine" --db="$db" --benchmarks="$wl" "$@" | grep "^$engine "
    ;;
*)
    "$bench" --engines="$engine" --db="$db" --benchmarks=fillrandom,overwrite "$@" |
        grep "^$engine "
    perf record -F 999 -g --call-graph dwarf,16384 -o "$out/$engine-$wl.data" -- \
        "$bench" --engines="$engine" --db="$db" --use-existing-db --benchmarks="$wl" "$@" |
        grep "^$engine "
    ;;
esac

data="$out/$engine-$wl.data"
{
    echo "== $engine $wl: samples per thread"
    perf report -i "$data" --no-children --stdio -g none --sort pid 2>/dev/null | grep '%'
    echo "== hottest symbols (self time, all threads)"
    perf report -i "$data" --no-children --stdio -g none --sort sym --percent-limit 1 \
        2>/dev/null | grep '%'
    echo "== hottest symbols per thread"
    perf report -i "$data" --no-children --stdio -g none --sort pid,sym --percent-limit 1 \
        2>/dev/null | grep '%'
    echo "== inclusive time (children), engine functions"
    perf report -i "$data" --children --stdio -g none --sort sym --percent-limit 3 \
        2>/dev/null | grep '%'
} | tee "$out/$engine-$wl.txt"
echo "profile.sh: report in $out/$engine-$wl.txt; perf report -i $data for more"

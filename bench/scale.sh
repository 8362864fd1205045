#!/bin/bash
# scale.sh -- the scale run: this engine alone with 50 million keys (16-byte
# keys, 100-byte values; 5.4 GiB of keys and values), reporting write
# amplification, space amplification before and after a full compaction,
# random-read throughput, peak RSS and the time of each phase.
#
# Two lsm-bench runs, each into a new database:
#   random:    fillrandom, stats, compact, stats, readrandom
#   overwrite: fillseq, overwrite, stats, compact, stats, readrandom
# fillrandom writes every key once, so it leaves nothing for compaction to
# drop; overwrite (num random puts, with repeats) leaves older versions
# behind, which is what the space amplification before compaction shows.
# Each run's output, the engine's LOG and the file list go to the results
# directory, then a summary table (summary.md). The database is deleted at the
# end. lsm-bench's defaults apply: 4 MiB memtable, 8 MiB block cache, 10 bloom
# bits per key, no compression, LSM_SYNC_NONE. The page cache is not dropped:
# the reads find whatever of the database the kernel still caches (all of it
# when memory allows).
#
# Usage: bench/scale.sh [--bench PATH] [--out DIR] [--db DIR] [--num N]
#                       [--reads N] [--runs LIST] [-- LSM-BENCH ARGS]
#   --bench  the lsm-bench binary (default: build/lsm-bench)
#   --out    results directory (default: build/bench-results/scale-<date-time>)
#   --db     where the database goes (default: <out>/db); needs about 2x
#            the logical size free (10 GB for 50M keys)
#   --num    keys (50000000)
#   --reads  readrandom's lookups (5000000)
#   --runs   random,overwrite (the default), or one of them
# About 30 minutes for both runs on 2 busy cores.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bench=""
out=""
db=""
num=50000000
reads=5000000
runs="random,overwrite"
extra=()

while [ $# -gt 0 ]; do
    case "$1" in
    --bench) bench=$2; shift ;;
    --out) out=$2; shift ;;
    --db) db=$2; shift ;;
    --num) num=$2; shift ;;
    --reads) reads=$2; shift ;;
    --runs) runs=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "scale.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

[ -n "$bench" ] || bench="$repo/build/lsm-bench"
if [ ! -x "$bench" ]; then
    echo "scale.sh: lsm-bench not found at $bench; build it or pass --bench" >&2
    exit 1
fi
[ -n "$out" ] || out="$repo/build/bench-results/scale-$(date +%Y%m%d-%H%M%S)"
[ -n "$db" ] || db="$out/db"
mkdir -p "$out"
trap 'rm -rf "$db"' EXIT

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/progress.log"; }
log "lsm-bench: $bench; num=$num reads=$reads; results: $out; db: $db"
log "file system: $(df -hT "$out" | awk 'NR == 2 { print $2 " on " $1 ", " $5 " free" }')"

run() { # name workloads
    local name=$1 list=$2 start
    start=$(date +%s)
    log "run $name: $list (load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$bench" --engines=lsm --num="$num" --reads="$reads" --db="$db" --benchmarks="$list" \
        ${extra[@]+"${extra[@]}"} >"$out/$name.txt" 2>&1 ||
        { tail -20 "$out/$name.txt"; log "lsm-bench failed: see $out/$name.txt"; exit 1; }
    cp "$db/lsm/LOG" "$out/$name-LOG.txt" 2>/dev/null || true
    ls -l "$db/lsm" >"$out/$name-files.txt"
    log "run $name: done in $(( $(date +%s) - start )) s (load $(cut -d' ' -f1-3 /proc/loadavg))"
}
for r in $(echo "$runs" | tr ',' ' '); do
    case "$r" in
    random) run random fillrandom,stats,compact,stats,readrandom ;;
    overwrite) run overwrite fillseq,overwrite,stats,compact,stats,readrandom ;;
    *) echo "scale.sh: unknown run $r" >&2; exit 2 ;;
    esac
done

# One row per write workload and one for the rest of each run, from the
# result lines: time = operations / (ops/s); the settling after a write
# workload is printed apart.
summarize() { # file
    awk -v num="$num" -v reads="$reads" -v run="$(basename "$1" .txt)" '
    function field(after,   i, v) {
        for (i = 1; i <= NF; i++) if ($i == after) { v = $(i+1); sub(/;$/, "", v); return v }
        return "-"
    }
    $1 == "lsm" && $3 == ":" {
        w = $2; ops = $6
        if (w == "fillrandom" || w == "fillseq" || w == "overwrite")
            printf "| %s | %s | %.0f s + %s s settling | %.0f | %s | %s | %s MiB | %s | %s MiB |\n",
                run, w, num / ops, field("settle"), ops, field("wamp(io)"), field("wamp(eng)"),
                field("disk"), field("amp"), field("peak")
        if (w == "compact") {
            for (i = 1; i <= NF; i++)
                if ($i == "s;" && $(i-1) ~ /^[0-9.]+$/ && $(i-2) != "settle") secs = $(i-1)
            printf "| %s | compact | %s s | - | - | - | %s MiB | %s | %s MiB |\n",
                run, secs, field("disk"), field("amp"), field("peak")
        }
        if (w == "readrandom")
            printf "| %s | readrandom | %.0f s | %.0f | - | - | - | - | %s MiB |\n",
                run, reads / ops, ops, field("peak")
    }
    $1 == "lsm" && $2 == "peak" && $3 == "RSS" {
        printf "| %s | whole run | - | - | - | - | - | - | %s MiB |\n", run, $4 }' "$1"
}
{
    echo "| run | workload | time | ops/s | wamp io | wamp engine | disk after | space amp | rss peak |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for r in $(echo "$runs" | tr ',' ' '); do summarize "$out/$r.txt"; done
} >"$out/summary.md"
cat "$out/summary.md"
log "results in $out (summary.md, <run>.txt, <run>-LOG.txt, <run>-files.txt)"

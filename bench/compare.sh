#!/bin/bash
# compare.sh -- the standard comparison of this engine with LevelDB and RocksDB.
#
# Runs lsm-bench with 1,000,000 keys over every workload against each engine,
# three times (the engines take turns inside each repetition, so a burst of
# load on the machine hits all of them), plus fillsync with 4 threads (group
# commit) three times; takes the median of each figure; and writes into the
# results directory:
#   rep<N>.txt / rep<N>.csv          each repetition's full output and CSV
#   sync4-rep<N>.txt / .csv          fillsync with --threads=4
#   medians.csv                      engine,workload,ops_per_sec,micros_per_op,
#                                    mb_per_sec,write_amp,disk_bytes,engine_write_amp,
#                                    cpu_us_per_op,ops_per_sec_min,ops_per_sec_max
#   results.md                       the tables (ops/s, micros/op, write
#                                    amplification, bytes on disk, targets)
#   relative.png (+ relative.dat, relative.gp)  ops/s relative to RocksDB
#
# Usage: bench/compare.sh [--quick] [--reps N] [--num N] [--bench PATH]
#                         [--out DIR] [--db DIR] [--engines LIST] [-- ARGS]
#        bench/compare.sh --report-only DIR
#   --quick   100,000 keys, 1 repetition, large values 8 x 16 MiB (about 10 s)
#   default   1,000,000 keys, 3 repetitions, large values 32 x 64 MiB: about
#             7-8 min on an idle 2-core machine, 10-20 min when it is busy
#             (most of it fillbig/readbig, compact and readwhilewriting)
#   --bench   the lsm-bench binary (default: build/lsm-bench, else build-bench/)
#   --out     results directory (default: build/bench-results/<date-time>)
#   --db      where the databases go (default: <out>/db; deleted at the end)
#   --report-only DIR   only redo the medians, tables and chart of DIR
# Extra arguments after "--" go to every lsm-bench run.
# Every run uses fillsync with 2000 synced writes (--sync-ops=2000) instead of
# db_bench's num/1000: one fsync takes 0.2-5 ms here, and 100 of them are noise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
num=1000000
reps=3
big_values=32
big_size=64M
bench=""
out=""
db=""
engines="lsm,leveldb,rocksdb"
quick=0
report_only=0
extra=()

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1; num=100000; reps=1; big_values=8; big_size=16M ;;
    --reps) reps=$2; shift ;;
    --num) num=$2; shift ;;
    --bench) bench=$2; shift ;;
    --out) out=$2; shift ;;
    --db) db=$2; shift ;;
    --engines) engines=$2; shift ;;
    --report-only) report_only=1; out=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

if [ "$report_only" -eq 0 ]; then
if [ -z "$bench" ]; then
    for b in "$repo/build/lsm-bench" "$repo/build-bench/lsm-bench"; do
        [ -x "$b" ] && { bench=$b; break; }
    done
fi
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
    echo "compare.sh: lsm-bench not found; build it (cmake --build build) or pass --bench" >&2
    exit 1
fi
[ -n "$out" ] || out="$repo/build/bench-results/$(date +%Y%m%d-%H%M%S)"
[ -n "$db" ] || db="$out/db"
mkdir -p "$out"

# fillsync: 2000 synced writes rather than db_bench's num/1000, because one
# fsync here takes 0.2-5 ms and a run of 100 or 1000 of them is mostly noise.
common=(--num="$num" --engines="$engines" --db="$db" --big-values="$big_values"
        --big-value-size="$big_size" --sync-ops=2000)
[ ${#extra[@]} -gt 0 ] && common+=("${extra[@]}")

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/progress.log"; }
log "lsm-bench: $bench"
log "results:   $out (quick=$quick, num=$num, reps=$reps)"
log "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
for rep in $(seq 1 "$reps"); do
    log "repetition $rep/$reps: every workload (load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$bench" "${common[@]}" --csv="$out/rep$rep.csv" >"$out/rep$rep.txt" 2>&1 ||
        { log "lsm-bench failed (status $?): see $out/rep$rep.txt"; exit 1; }
    log "repetition $rep/$reps: fillsync with 4 threads (load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$bench" "${common[@]}" --benchmarks=fillsync --threads=4 --csv="$out/sync4-rep$rep.csv" \
        >"$out/sync4-rep$rep.txt" 2>&1 ||
        { log "lsm-bench failed (status $?): see $out/sync4-rep$rep.txt"; exit 1; }
done
log "load at end: $(cut -d' ' -f1-3 /proc/loadavg); $(( ($(date +%s) - start) / 60 )) min"
rm -rf "$db"
else
    reps=$(ls "$out"/rep*.csv | wc -l)
    num=$(sed -n 's/^Keys: *\([0-9]*\) x.*/\1/p' "$out/rep1.txt" | head -1)
fi

# ---- medians ------------------------------------------------------------------
# All rows of every repetition, fillsync with 4 threads renamed fillsync_4t,
# with the engine's own write amplification taken from the text output.
{
    for f in "$out"/rep*.csv; do tail -n +2 "$f"; done
    for f in "$out"/sync4-rep*.csv; do tail -n +2 "$f" | sed 's/,fillsync,/,fillsync_4t,/'; done
} >"$out/all.csv"
# engine,workload,engine_write_amp,cpu_us_per_op from the text output.
{
    for f in "$out"/rep*.txt; do
        awk '$3 == ":" && / micros\/op/ {
            ew = ""; cpu = ""
            for (i = 1; i <= NF; i++) {
                if ($i == "wamp(eng)") { ew = $(i+1); sub(/;$/, "", ew) }
                if ($i == "cpu") cpu = $(i+1)
            }
            print $1 "," $2 "," ew "," cpu
        }' "$f"
    done
    for f in "$out"/sync4-rep*.txt; do
        awk '$3 == ":" && / micros\/op/ {
            cpu = ""; for (i = 1; i <= NF; i++) if ($i == "cpu") cpu = $(i+1)
            print $1 ",fillsync_4t,," cpu
        }' "$f"
    done
} >"$out/extra.csv"

awk -F, -v CONVFMT=%.10g -v OFMT=%.10g '
function sorted(s, a,   n, i, j, t) {
    n = split(s, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
    return n
}
function median(s,   a, n) {
    n = sorted(s, a)
    if (n == 0) return ""
    return n % 2 ? a[(n + 1) / 2] : (a[n/2] + a[n/2 + 1]) / 2
}
function lowest(s,   a) { return sorted(s, a) ? a[1] : "" }
function highest(s,   a, n) { n = sorted(s, a); return n ? a[n] : "" }
FNR == 1 { file++ }
file == 1 {
    k = $1 "," $2
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    for (c = 3; c <= 7; c++) if ($c != "") v[k, c] = v[k, c] " " $c
    next
}
file == 2 {
    if ($3 != "") ew[$1 "," $2] = ew[$1 "," $2] " " $3
    if ($4 != "") cpu[$1 "," $2] = cpu[$1 "," $2] " " $4
}
END {
    print "engine,workload,ops_per_sec,micros_per_op,mb_per_sec,write_amp,disk_bytes,engine_write_amp,cpu_us_per_op,ops_per_sec_min,ops_per_sec_max"
    for (i = 1; i <= n; i++) {
        k = order[i]; line = k
        for (c = 3; c <= 7; c++) line = line "," median(v[k, c])
        print line "," median(ew[k]) "," median(cpu[k]) "," lowest(v[k, 3]) "," highest(v[k, 3])
    }
}' "$out/all.csv" "$out/extra.csv" >"$out/medians.csv"

# ---- tables -------------------------------------------------------------------
awk -F, -v reps="$reps" -v num="$num" '
NR == 1 { next }
{
    e = $1; w = $2
    if (w == "stats") next
    if (!(e in eseen)) { eseen[e] = 1; eng[++ne] = e }
    if (!(w in wseen)) { wseen[w] = 1; wl[++nw] = w }
    ops[e, w] = $3; us[e, w] = $4; mbs[e, w] = $5; wa[e, w] = $6; disk[e, w] = $7; ewa[e, w] = $8; cpu[e, w] = $9
    omin[e, w] = $10; omax[e, w] = $11
    have[e, w] = 1
    if ($9 != "") hascpu = 1
}
function fmt_ops(x) { return x == "" ? "-" : (x >= 100 ? sprintf("%.0f", x) : sprintf("%.2f", x)) }
function fmt_us(x) { return x == "" ? "-" : (x >= 1000 ? sprintf("%.0f", x) : sprintf("%.3f", x)) }
function mib(x) { return x == "" ? "-" : sprintf("%.1f MiB", x / 1048576) }
function hdr(title,   i, s, d) {
    s = "| " title; d = "|---"
    for (i = 1; i <= ne; i++) { s = s " | " eng[i]; d = d "|---:" }
    print s " |"; print d "|"
}
function isfill(w) { return w ~ /^fill/ || w == "overwrite" || w == "deleterandom" }
END {
    print "Medians of " reps " repetition(s), " num " keys. fillsync_4t is fillsync with --threads=4."
    print ""
    print "#### Throughput (ops/s; higher is better)" (reps > 1 ? ": median (lowest - highest)" : "")
    print ""
    hdr("workload")
    for (j = 1; j <= nw; j++) {
        s = "| " wl[j]
        for (i = 1; i <= ne; i++) {
            e = eng[i]
            c = have[e, wl[j]] ? fmt_ops(ops[e, wl[j]]) : "-"
            if (reps > 1 && have[e, wl[j]] && omin[e, wl[j]] != "")
                c = c " (" fmt_ops(omin[e, wl[j]]) " - " fmt_ops(omax[e, wl[j]]) ")"
            s = s " | " c
        }
        print s " |"
    }
    print ""
    print "#### Latency (micros/op = wall time x threads / ops; lower is better)"
    print ""
    hdr("workload")
    for (j = 1; j <= nw; j++) {
        s = "| " wl[j]
        for (i = 1; i <= ne; i++) s = s " | " (have[eng[i], wl[j]] ? fmt_us(us[eng[i], wl[j]]) : "-")
        print s " |"
    }
    print ""
    if (hascpu) {
        print "#### CPU time per operation (us; all threads, foreground + background, over the"
        print "#### workload and its settling: what an operation costs, whatever else runs on the machine)"
        print ""
        hdr("workload")
        for (j = 1; j <= nw; j++) {
            s = "| " wl[j]
            for (i = 1; i <= ne; i++) s = s " | " (cpu[eng[i], wl[j]] == "" ? "-" : fmt_us(cpu[eng[i], wl[j]]))
            print s " |"
        }
        print ""
    }
    print "#### Write amplification and bytes on disk after each writing workload"
    print ""
    print "wamp io = /proc/self/io write_bytes / logical bytes (log + tables + manifest, the same"
    print "measure for all); engine = flush + compaction bytes the engine reports / logical bytes"
    print "(RocksDB: 0.01 GB resolution; LevelDB: 1 MiB resolution and no settling)."
    print ""
    s = "| workload"; d = "|---"
    for (i = 1; i <= ne; i++) { s = s " | " eng[i] " wamp io / engine | " eng[i] " disk"; d = d "|---:|---:" }
    print s " |"; print d "|"
    for (j = 1; j <= nw; j++) {
        if (!isfill(wl[j]) && wl[j] != "compact") continue
        s = "| " wl[j]
        for (i = 1; i <= ne; i++) {
            e = eng[i]
            a = wa[e, wl[j]] == "" ? "-" : sprintf("%.2f", wa[e, wl[j]])
            b = ewa[e, wl[j]] == "" ? "-" : sprintf("%.2f", ewa[e, wl[j]])
            s = s " | " a " / " b " | " mib(disk[e, wl[j]])
        }
        print s " |"
    }
    print ""
    if (("lsm" in eseen) && ("rocksdb" in eseen) && ("leveldb" in eseen)) {
        print "#### Targets: lsm >= RocksDB ops/s and >= 1.5 x LevelDB ops/s on fills and reads"
        print ""
        print "| workload | lsm / rocksdb | lsm / leveldb | >= rocksdb | >= 1.5 x leveldb |"
        print "|---|---:|---:|:---:|:---:|"
        for (j = 1; j <= nw; j++) {
            w = wl[j]
            if (w == "stats" || w == "compact" || w == "flush" || w == "deleterandom") continue
            if (!have["lsm", w] || !have["rocksdb", w] || !have["leveldb", w]) continue
            if (ops["rocksdb", w] <= 0 || ops["leveldb", w] <= 0) continue
            r = ops["lsm", w] / ops["rocksdb", w]; l = ops["lsm", w] / ops["leveldb", w]
            printf "| %s | %.2f | %.2f | %s | %s |\n", w, r, l, ((r >= 1) ? "yes" : "**no**"), ((l >= 1.5) ? "yes" : "**no**")
        }
        print ""
        if (have["lsm", "fillsync"] && have["lsm", "fillsync_4t"] && ops["lsm", "fillsync"] > 0)
            printf "fillsync scaling (4 threads / 1 thread): lsm %.2f, leveldb %.2f, rocksdb %.2f (target for lsm: >= 3)\n\n", ops["lsm", "fillsync_4t"] / ops["lsm", "fillsync"], ops["leveldb", "fillsync_4t"] / ops["leveldb", "fillsync"], ops["rocksdb", "fillsync_4t"] / ops["rocksdb", "fillsync"]
    }
}' "$out/medians.csv" >"$out/results.md"

# ---- chart --------------------------------------------------------------------
# relative.dat: one row per workload, one column per engine, ops/s / RocksDB's.
awk -F, '
NR == 1 { next }
{ if (!($1 in es)) { es[$1] = 1; e[++ne] = $1 } if (!($2 in ws)) { ws[$2] = 1; w[++nw] = $2 } ops[$1, $2] = $3 }
END {
    if (!("rocksdb" in es)) exit 1
    s = "workload"; for (i = 1; i <= ne; i++) s = s " " e[i]; print s
    for (j = 1; j <= nw; j++) {
        if (w[j] == "stats" || w[j] == "flush") continue
        base = ops["rocksdb", w[j]]; if (base <= 0) continue
        s = w[j]; for (i = 1; i <= ne; i++) s = s " " sprintf("%.4f", ops[e[i], w[j]] / base); print s
    }
}' "$out/medians.csv" >"$out/relative.dat" || { echo "compare.sh: no RocksDB results: no chart"; rm -f "$out/relative.dat"; }

if [ -f "$out/relative.dat" ] && command -v gnuplot >/dev/null 2>&1; then
    term="png noenhanced size 1400,600"
    gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1 && term="pngcairo noenhanced size 1400,600 font 'sans,10'"
    ncols=$(head -1 "$out/relative.dat" | wc -w)
    cat >"$out/relative.gp" <<EOF
set terminal $term
set output '$out/relative.png'
set title "lsm-bench: ops/s relative to RocksDB (RocksDB = 1; log scale; medians of $reps run(s), $num keys)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.03125:32]
set ytics ("1/32" 0.03125, "1/16" 0.0625, "1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "1.5" 1.5, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32)
set grid ytics
set xtics rotate by -35
set key top left
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
plot for [i=2:$ncols] '$out/relative.dat' using i:xtic(1) title columnheader(i)
EOF
    gnuplot "$out/relative.gp" && echo "chart: $out/relative.png"
fi

echo
cat "$out/results.md"
echo
echo "done. Results in $out:"
echo "  results.md (tables), medians.csv, relative.png (chart), rep*.txt (full output with the machine header)"

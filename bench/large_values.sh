#!/bin/bash
# large_values.sh -- this engine's large-value throughput next to the disk's
# own sequential bandwidth, both measured in the same run on the same file
# system.
#
# 1. The disk, with fio on a probe file in the database directory's file
#    system, written and read in 1 MiB requests:
#      - sequential write with O_DIRECT, and buffered with one fsync at the end
#        (fio counts the fsync in the time);
#      - sequential read with O_DIRECT, and buffered (kernel readahead) after
#        dropping the page cache;
#      - random 4 KiB reads with O_DIRECT, one at a time, for reference.
#    Each sequential figure is the faster of two passes.
# 2. lsm-bench on one value of --size bytes (default 1 GiB):
#      - run 1 (--drop-caches=1: the page cache is synced and dropped before
#        every read workload): lvwrite, lvread, lvrandread, lvappend, lvread;
#      - run 2 (--use-existing-db, page cache left warm): lvread twice (the
#        first warms the cache), lvrandread.
#    lvwrite and lvappend count the final lsm_sync in their time, like the
#    fsync of the buffered disk write. Reads compare every byte with what was
#    written.
# 3. A table: workload, page cache, MiB/s, the disk's MiB/s for the same
#    direction (O_DIRECT and buffered) and the ratios.
#
# Usage: bench/large_values.sh [--bench PATH] [--out DIR] [--db DIR]
#                              [--size SIZE] [-- LSM-BENCH ARGS]
#   --bench  the lsm-bench binary (default: build/lsm-bench)
#   --out    results directory (default: build/bench-results/large-values-<date-time>)
#   --db     where the database and the probe file go (default: <out>/db;
#            deleted at the end)
#   --size   the value's size, also the size of the disk probe (default 1G)
# Dropping the page cache needs root; without it the reads are reported as
# "warm?" and the disk reads may come from memory too. Takes about a minute
# and a half for 1 GiB; needs twice --size of free space.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bench=""
out=""
db=""
size=1G
extra=()

while [ $# -gt 0 ]; do
    case "$1" in
    --bench) bench=$2; shift ;;
    --out) out=$2; shift ;;
    --db) db=$2; shift ;;
    --size) size=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "large_values.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

[ -n "$bench" ] || bench="$repo/build/lsm-bench"
if [ ! -x "$bench" ]; then
    echo "large_values.sh: lsm-bench not found at $bench; build it or pass --bench" >&2
    exit 1
fi
command -v fio >/dev/null || { echo "large_values.sh: fio is needed (apt-get install fio)" >&2; exit 1; }
[ -n "$out" ] || out="$repo/build/bench-results/large-values-$(date +%Y%m%d-%H%M%S)"
[ -n "$db" ] || db="$out/db"
mkdir -p "$out" "$db"
trap 'rm -rf "$db"' EXIT

# The size in MiB, for fio.
case "$size" in
*[Gg]) mib=$(( ${size%[Gg]} * 1024 )) ;;
*[Mm]) mib=${size%[Mm]} ;;
*) echo "large_values.sh: --size takes M or G (e.g. 1G, 256M)" >&2; exit 2 ;;
esac

can_drop=0
if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi
drop() { sync; [ "$can_drop" -eq 0 ] || echo 3 >/proc/sys/vm/drop_caches; }
cold=cold
[ "$can_drop" -eq 1 ] || cold="warm?"

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/progress.log"; }
log "lsm-bench: $bench; value and probe: $size; results: $out"
log "file system: $(df -T "$db" | awk 'NR == 2 { print $2 " on " $1 }'); load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the disk -------------------------------------------------------------------
# MiB/s of one fio job from its terse output: field 6/9 are the read KiB and
# milliseconds, 47/50 the write ones.
probe="$db/disk-probe"
fio_mibs() { # name dir(read|write) fio-args...
    local name=$1 dir=$2
    shift 2
    fio --name="$name" --filename="$probe" --size="${mib}M" --ioengine=psync --minimal "$@" \
        >"$out/fio-$name.txt"
    awk -F';' -v d="$dir" '{
        kib = d == "read" ? $6 : $47; ms = d == "read" ? $9 : $50
        printf "%.1f\n", (ms > 0 ? kib / 1024 / (ms / 1000) : 0) }' "$out/fio-$name.txt"
}
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
# Two passes of each, keeping the faster: on a virtual disk one pass can be
# far off (here the first buffered read of a freshly written file often runs
# at a third of the second), and the better figure keeps the ratios honest.
log "disk: sequential writes (two passes each)"
w_direct=()
w_buf=()
for pass in 1 2; do
    rm -f "$probe"; drop
    w_direct+=("$(fio_mibs seqwrite-direct-$pass write --rw=write --bs=1M --direct=1 --end_fsync=1)")
    rm -f "$probe"; drop
    w_buf+=("$(fio_mibs seqwrite-buffered-$pass write --rw=write --bs=1M --end_fsync=1)")
done
log "disk: sequential reads (two passes each, page cache dropped before each)"
r_direct=()
r_buf=()
for pass in 1 2; do
    drop
    r_direct+=("$(fio_mibs seqread-direct-$pass read --rw=read --bs=1M --direct=1)")
    drop
    r_buf+=("$(fio_mibs seqread-buffered-$pass read --rw=read --bs=1M)")
done
log "disk passes MiB/s: write direct ${w_direct[*]}, buffered+fsync ${w_buf[*]};" \
    "read direct ${r_direct[*]}, buffered ${r_buf[*]}"
disk_w_direct=$(max "${w_direct[@]}")
disk_w_buf=$(max "${w_buf[@]}")
disk_r_direct=$(max "${r_direct[@]}")
disk_r_buf=$(max "${r_buf[@]}")
log "disk: random 4 KiB reads (O_DIRECT, one at a time, 10 s)"
disk_rr_direct=$(fio_mibs randread-direct read --rw=randread --bs=4k --direct=1 \
    --runtime=10 --time_based)
rm -f "$probe"
log "disk MiB/s: write direct $disk_w_direct, buffered+fsync $disk_w_buf; read direct" \
    "$disk_r_direct, buffered $disk_r_buf; random 4 KiB direct $disk_rr_direct"

# ---- the engine -----------------------------------------------------------------
common=(--engines=lsm --db="$db" --lv-size="$size")
[ ${#extra[@]} -gt 0 ] && common+=("${extra[@]}")
log "lsm-bench run 1: lvwrite, then cold reads and appends"
drop
"$bench" "${common[@]}" --benchmarks=lvwrite,lvread,lvrandread,lvappend,lvread \
    --drop-caches="$can_drop" >"$out/run1.txt" 2>&1 ||
    { cat "$out/run1.txt"; log "lsm-bench failed: see $out/run1.txt"; exit 1; }
log "lsm-bench run 2: warm reads"
"$bench" "${common[@]}" --use-existing-db --benchmarks=lvread,lvread,lvrandread \
    >"$out/run2.txt" 2>&1 ||
    { cat "$out/run2.txt"; log "lsm-bench failed: see $out/run2.txt"; exit 1; }
log "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# The Nth result line of a workload in a run: its MiB/s field.
mibs() { # file workload n
    awk -v w="$2" -v n="$3" '$1 == "lsm" && $2 == w && $3 == ":" && /MiB\/s/ {
        if (++k == n) { for (i = 4; i <= NF; i++) if ($i ~ /^MiB\/s/) { print $(i-1); exit } } }' "$1"
}
row() { # label cache value disk_direct disk_buffered note
    awk -v l="$1" -v c="$2" -v v="$3" -v dd="$4" -v db="$5" -v note="$6" 'BEGIN {
        rd = dd > 0 ? sprintf("%.2f", v / dd) : "-"; rb = db > 0 ? sprintf("%.2f", v / db) : "-"
        printf "| %s | %s | %.1f | %.1f | %s | %.1f | %s | %s |\n", l, c, v, dd, rd, db, rb, note }'
}
{
    echo "| workload | page cache | lsm MiB/s | disk O_DIRECT MiB/s | ratio | disk buffered MiB/s | ratio | notes |"
    echo "|---|---|---:|---:|---:|---:|---:|---|"
    row "lvwrite" "as left" "$(mibs "$out/run1.txt" lvwrite 1)" "$disk_w_direct" "$disk_w_buf" \
        "streamed in 1 MiB appends; lsm_sync at the end counted; writes the log and the tables"
    row "lvread" "$cold" "$(mibs "$out/run1.txt" lvread 1)" "$disk_r_direct" "$disk_r_buf" \
        "1 MiB ranged reads, every byte checked"
    row "lvread" "warm" "$(mibs "$out/run2.txt" lvread 2)" "$disk_r_direct" "$disk_r_buf" \
        "second of two passes"
    row "lvrandread" "$cold" "$(mibs "$out/run1.txt" lvrandread 1)" "$disk_r_direct" "$disk_r_buf" \
        "4 KiB at random aligned offsets; disk random 4 KiB O_DIRECT: $disk_rr_direct MiB/s"
    row "lvrandread" "warm" "$(mibs "$out/run2.txt" lvrandread 1)" "$disk_r_direct" "$disk_r_buf" ""
    row "lvappend" "as left" "$(mibs "$out/run1.txt" lvappend 1)" "$disk_w_direct" "$disk_w_buf" \
        "4 KiB ranged writes at the end; lsm_sync at the end counted"
    row "lvread after appends" "$cold" "$(mibs "$out/run1.txt" lvread 2)" "$disk_r_direct" \
        "$disk_r_buf" "the grown value, every byte checked"
} >"$out/table.md"
cat "$out/table.md"
echo
echo "large_values.sh: results in $out (table.md, run1.txt, run2.txt, fio-*.txt)"

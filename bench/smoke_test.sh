#!/bin/sh
# bench_smoke: lsm-bench itself works. Runs every workload with 20,000 keys
# (and two 4 MiB large values) against this engine and, when lsm-bench was
# built with them, LevelDB and RocksDB; passes when lsm-bench exits 0 (its own
# result checks passed: every readrandom found its key, no readmissing did...)
# and the CSV holds a row for every (engine, workload). Measures nothing:
# performance is never asserted in a test.
#   usage: smoke_test.sh path/to/lsm-bench
set -eu
bench=${1:?usage: smoke_test.sh path/to/lsm-bench}
workloads="fillseq fillrandom overwrite readrandom readmissing readseq readreverse seekrandom \
readwhilewriting compact flush deleterandom stats fillsync fillbig readbig"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lsm-bench-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

list=$(echo $workloads | tr ' ' ',')
status=0
"$bench" --num=20000 --engines=lsm,leveldb,rocksdb --benchmarks="$list" --threads=2 \
    --big-values=2 --big-value-size=4M --db="$tmp/db" --csv="$tmp/out.csv" >"$tmp/out.txt" 2>&1 \
    || status=$?
if [ "$status" -ne 0 ]; then
    cat "$tmp/out.txt"
    echo "bench_smoke: lsm-bench exited with status $status" >&2
    exit 1
fi

missing=0
for engine in lsm leveldb rocksdb; do
    if grep -q "^$engine: skipped: not built with" "$tmp/out.txt"; then
        echo "bench_smoke: $engine not built: skipped"
        continue
    fi
    for w in $workloads; do
        if ! grep -q "^$engine,$w,[0-9.]*,[0-9.]*,[0-9.]*,[0-9.]*,[0-9]*\$" "$tmp/out.csv"; then
            echo "bench_smoke: no CSV row for $engine $w" >&2
            missing=1
        fi
        if ! grep -q "^$engine *$w *: *[0-9.]* micros/op" "$tmp/out.txt"; then
            echo "bench_smoke: no result line for $engine $w" >&2
            missing=1
        fi
    done
done
if [ "$missing" -ne 0 ]; then
    cat "$tmp/out.txt"
    exit 1
fi
echo "bench_smoke: ok ($(($(wc -l <"$tmp/out.csv") - 1)) rows)"

#!/bin/sh
# tests/fuzz/run.sh -- build the libFuzzer targets and run each for a while.
#
#   tests/fuzz/run.sh [SECONDS [TARGET...]]
#
# SECONDS per target (default 60); TARGETs from: table wal manifest open patch value_desc
# fs_paths fs_meta (default all, one after the other). Each target runs on a
# fresh copy of its seed corpus (tests/fuzz/corpus/TARGET) in a scratch directory, with
# ASan+UBSan, -rss_limit_mb=2048 and -timeout=10. The build goes to
# build-fuzz (CC=clang, -DLSM_FUZZ=ON); set LSM_FUZZ_BUILD to use another
# directory.
#
# Exit status: 0 if no target found anything, else 1, after printing each
# failing target's report and the path of its reproducer. Replay one with
#   build-fuzz/fuzz_TARGET REPRODUCER
# The scratch directory is removed on success unless LSM_FUZZ_KEEP=1 (it then
# holds each target's grown corpus and log); it is always kept on failure.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-table wal manifest open patch value_desc fs_paths fs_meta}

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${LSM_FUZZ_BUILD:-$root/build-fuzz}

if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S "$root" -B "$build" -DLSM_FUZZ=ON -DLSM_BUILD_TESTS=OFF -DLSM_WERROR=ON
fi
bins=""
for t in $targets; do
    bins="$bins fuzz_$t"
done
# shellcheck disable=SC2086  # word splitting of $bins is intended
cmake --build "$build" -j "$(nproc)" --target $bins

work=$(mktemp -d "${TMPDIR:-/tmp}/lsm-fuzz.XXXXXX")
failed=0
for t in $targets; do
    dir=$work/$t
    mkdir -p "$dir/corpus"
    cp "$root/tests/fuzz/corpus/$t/"* "$dir/corpus/"
    echo "== fuzz_$t: $secs s (log: $dir/log)"
    status=0
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
        "$build/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1 ||
        status=$?
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^stat::peak_rss_mb' "$dir/log" || true
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "!! fuzz_$t failed (exit status $status); end of its log:"
        tail -n 60 "$dir/log"
        for f in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* "$dir"/slow-unit-*; do
            [ -e "$f" ] && echo "!! reproducer: $f  (replay: $build/fuzz_$t $f)"
        done
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "fuzzing found problems; everything is in $work"
    exit 1
fi
if [ "${LSM_FUZZ_KEEP:-0}" = 1 ]; then
    echo "no findings; corpora and logs kept in $work"
else
    rm -rf "$work"
    echo "no findings"
fi

#!/bin/sh
# fs_bench_smoke: bench/fs/run.sh works end to end. Runs it in --quick mode
# (a 16 MiB file, 0.2 s per timed fio job, 200 small files, the engine's
# sources as the tree) against lsmfs, passthrough_ll and the native directory
# in a temporary directory, and passes when it exits 0 (every step ran and
# its checks held), the mounts are gone, and results.md holds a row with a
# figure for each target for every workload. Measures nothing: performance is
# never asserted in a test. Skips (77), saying why, when /dev/fuse is missing
# or a tool only the benchmark needs is not installed (fio: a plain
# tools/install-deps.sh does not install it; --fs-bench or --bench does). With
# LSM_TEST_NO_SKIP set (CI: .ci/run) those are failures instead: there the
# test must run.
#   usage: smoke_test.sh BUILD_DIR   (the directory holding lsmfs and fs-meta-bench)
set -eu
build=${1:?usage: smoke_test.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
skip() {
    if [ -n "${LSM_TEST_NO_SKIP:-}" ]; then
        echo "fs_bench_smoke: $1; LSM_TEST_NO_SKIP is set: failing" >&2
        exit 1
    fi
    echo "fs_bench_smoke: skipped: $1"
    exit 77
}
[ -c /dev/fuse ] || skip "/dev/fuse is missing"
# What run.sh needs beyond the build and test dependencies: fio.
command -v fio >/dev/null 2>&1 ||
    skip "fio is not installed (benchmark only: tools/install-deps.sh --fs-bench installs it)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fs-bench-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

status=0
bash "$here/run.sh" --quick --build "$build" --work "$tmp/work" --out "$tmp/out" \
    >"$tmp/run.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    cat "$tmp/run.log"
    echo "fs_bench_smoke: run.sh exited with status $status" >&2
    exit 1
fi
if grep -q "$tmp/work" /proc/mounts; then
    grep "$tmp/work" /proc/mounts
    echo "fs_bench_smoke: run.sh left a mount behind" >&2
    exit 1
fi

missing=0
for w in seqwrite seqread randread randwrite fsyncwrite smallfiles-write smallfiles-read \
         meta-flat-create meta-flat-stat meta-flat-read meta-flat-readdir meta-flat-rename \
         meta-flat-unlink meta-subdirs-create meta-subdirs-stat meta-subdirs-read \
         meta-subdirs-readdir meta-subdirs-rename meta-subdirs-unlink \
         untar tar-c find-ls rm-rf; do
    # | workload | unit | lsmfs | passthrough_ll | native | ratio | ratio |
    if ! grep -Eq "^\| $w \| [^|]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+x \| [0-9.]+x \|\$" \
            "$tmp/out/results.md"; then
        echo "fs_bench_smoke: no complete row for $w in results.md" >&2
        missing=1
    fi
done
if [ "$missing" -ne 0 ]; then
    cat "$tmp/out/results.md"
    exit 1
fi
echo "fs_bench_smoke: ok ($(($(wc -l <"$tmp/out/results.csv") - 1)) measurements)"

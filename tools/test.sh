#!/bin/sh
# Install what is missing, build, and run the whole test suite:
#   1. the normal build (RelWithDebInfo): every ctest test (with the install
#      test, tests/test_install.sh: DESTDIR install, pkg-config and
#      find_package clients);
#   2. a Release build of the whole tree, built only (-O3 finds warnings
#      the other builds do not);
#   3. AddressSanitizer + UndefinedBehaviorSanitizer: every test, at reduced scale;
#   4. ThreadSanitizer: every test, at a smaller scale still (TSan is the
#      slowest: 0.2 against ASan's 0.3 keeps CI well under 30 minutes);
#   5. the fuzz targets (clang + libFuzzer), about a minute each.
# Every build here treats warnings as errors (-DLSM_WERROR=ON); a plain
# cmake build does not, so a newer compiler never breaks a user's build.
# Usage: tools/test.sh [--quick]   (--quick: step 1 only)
# Dependencies: tools/install-deps.sh --fs-bench, so fs_bench_smoke has fio.
# Environment: LSM_TEST_SCALE scales the randomized tests in step 1 (default 1);
# LSM_SAN_SCALE and LSM_TSAN_SCALE those of steps 3 and 4 (0.3 and 0.2);
# LSM_TEST_NO_SKIP=1 (set by .ci/run) turns the skips of the tests that honour
# it (fs_bench_smoke, fs_mount_helper) into failures;
# LSM_FUZZ_SECONDS sets the time per fuzz target (default 60); JOBS (default nproc).
set -eu
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
JOBS=${JOBS:-$(nproc)}

tools/install-deps.sh --fs-bench

run_suite() { # build-dir, cmake args..., then ctest
    dir=$1
    shift
    echo "== configure $dir $*"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSM_WERROR=ON "$@" >/dev/null
    echo "== build $dir"
    cmake --build "$dir" -j "$JOBS"
    echo "== test $dir"
    (cd "$dir" && ctest --output-on-failure -j "$JOBS" --timeout 1500)
}

run_suite build
[ "$quick" = 1 ] && exit 0

echo "== configure and build build-release (Release, no tests run)"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DLSM_WERROR=ON >/dev/null
cmake --build build-release -j "$JOBS"

# Sanitizer runs: the same tests, less work each (a sanitized binary is 3-10x
# slower). Leak checking is on; any report fails the test.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
LSM_TEST_SCALE=${LSM_SAN_SCALE:-0.3} run_suite build-asan -DLSM_SANITIZE=asan
LSM_TEST_SCALE=${LSM_TSAN_SCALE:-0.2} run_suite build-tsan -DLSM_SANITIZE=tsan

if [ -x tests/fuzz/run.sh ]; then
    echo "== fuzz"
    tests/fuzz/run.sh "${LSM_FUZZ_SECONDS:-60}"
fi
echo "== all tests passed"

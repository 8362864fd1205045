#!/bin/sh
# Install what lsmfs needs to build, test and benchmark on Debian 12.
# Idempotent: installs only the packages that are missing. Needs root or sudo.
#   tools/install-deps.sh             build + test dependencies
#   tools/install-deps.sh --fs-bench  also fio, which bench/fs/run.sh and so the
#                                     fs_bench_smoke test need (tools/test.sh)
#   tools/install-deps.sh --bench     also LevelDB, RocksDB, fio, gnuplot and perf for
#                                     the benchmarks (bench/compare.sh, bench/fs/run.sh)
set -eu

# acl (getfacl/setfacl), vim (the smallest Debian vim with +persistent_undo:
# vim-tiny has none) and sqlite3 are for the mounted-FS tests
# (tests/fs/test_fs_posix_tools.sh).
pkgs="build-essential cmake pkg-config libcmocka-dev liblz4-dev libzstd-dev \
libfuse3-dev fuse3 clang libclang-rt-14-dev attr acl rsync python3 vim sqlite3"
for arg in "$@"; do
    case $arg in
    --fs-bench) pkgs="$pkgs fio time" ;;
    --bench) pkgs="$pkgs libleveldb-dev librocksdb-dev fio time gnuplot-nox linux-perf" ;;
    *) echo "usage: tools/install-deps.sh [--fs-bench] [--bench]" >&2; exit 2 ;;
    esac
done

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null

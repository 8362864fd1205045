#!/bin/sh
# Install what is missing, build, and show the engine at work on a local store:
# an lsmctl put / get / scan round trip in ./demo-store.
# (lsmfs, the mount, is not built yet; when it is, this script mounts the demo.)
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target lsmctl
store=${1:-demo-store}
ctl=build/lsmctl
echo "== store: $store"
$ctl --create "$store" put greeting "hello, world"
printf 'line one\nline two\n' | $ctl --create "$store" put notes/today
for i in 1 2 3; do $ctl "$store" put "users/$i" "user number $i"; done
echo "== get greeting"
$ctl "$store" get greeting; echo
echo "== scan --prefix users/"
$ctl "$store" scan --prefix users/
echo "== dump (key<TAB>value, escaped)"
$ctl "$store" dump
echo "== stats"
$ctl "$store" stats

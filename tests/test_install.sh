#!/bin/sh
# test_install.sh -- what `cmake --install` puts in place works for a program
# outside the tree (README.md "Installing", docs/API.md "Linking"). Run by
# ctest (test `install`, label install) as
#
#     sh tests/test_install.sh BUILD_DIR SOURCE_DIR
#
# after the build. It installs BUILD_DIR with DESTDIR into a temporary
# directory, prefix /usr, and checks, using nothing of the source tree but
# docs/examples/*.c:
#   - the files: liblsm.a, liblsm.so -> liblsm.so.0 -> liblsm.so.0.1.0 (SONAME
#     liblsm.so.0), lsm.h, lsm.pc, the CMake package files, lsmfs, lsmctl,
#     mount.lsmfs (in sbin, runnable: --help), lsmfs.8, lsmctl.1;
#   - every docs/examples/*.c compiles and links against the installed tree
#     with only `pkg-config --cflags --libs lsm` (shared library), and with
#     `cc -static` and only `pkg-config --static --cflags --libs lsm` (a fully
#     static program: liblsm.a and every library it needs, so Libs.private
#     and Requires.private are complete), and one of each runs and exits 0;
#   - the shared library exports exactly the functions lsm.h declares with
#     LSM_API (nm -D --defined-only: nothing but lsm_ symbols), and every
#     function lsm.h declares carries LSM_API;
#   - the static library has no other global symbol (nm -g --defined-only:
#     the same lsm_ functions, its internal ones all local), so no name of
#     it collides with another library's in a program linking both;
#   - lsm_version() of the installed library is the project's version;
#   - a CMake project with find_package(lsm 0.1 REQUIRED) links lsm::lsm and
#     lsm::lsm_static and its programs run.
# Exits 1 at the first failure, with what was expected.
set -eu
build=$(cd "${1:?usage: test_install.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: test_install.sh BUILD_DIR SOURCE_DIR}" && pwd)
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || { echo "no project version in $build/CMakeCache.txt" >&2; exit 1; }
major=${version%%.*}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lsm-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "test_install: FAIL: $*" >&2
    exit 1
}
step() { echo "== $*"; }

step "cmake --install $build --prefix /usr, DESTDIR=$tmp/root"
DESTDIR=$tmp/root cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install failed"; }
root=$tmp/root/usr
pc=$(find "$root" -name lsm.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "no lsm.pc installed"
libdir=$(dirname "$(dirname "$pc")")

step "installed files"
for f in "$libdir/liblsm.a" "$libdir/liblsm.so" "$libdir/liblsm.so.$major" \
         "$libdir/liblsm.so.$version" "$root/include/lsm.h" \
         "$libdir/cmake/lsm/lsmConfig.cmake" "$libdir/cmake/lsm/lsmConfigVersion.cmake" \
         "$libdir/cmake/lsm/lsmTargets.cmake" "$root/share/man/man8/lsmfs.8" \
         "$root/share/man/man8/mount.lsmfs.8" "$root/share/man/man1/lsmctl.1"; do
    [ -e "$f" ] || fail "$f is missing"
done
for f in "$root/bin/lsmfs" "$root/bin/lsmctl" "$root/sbin/mount.lsmfs"; do
    [ -x "$f" ] || fail "$f is missing or not executable"
done
[ "$(readlink "$libdir/liblsm.so")" = "liblsm.so.$major" ] || fail "liblsm.so does not link to liblsm.so.$major"
[ "$(readlink "$libdir/liblsm.so.$major")" = "liblsm.so.$version" ] ||
    fail "liblsm.so.$major does not link to liblsm.so.$version"
soname=$(readelf -d "$libdir/liblsm.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "liblsm.so.$major" ] || fail "SONAME is '$soname', expected liblsm.so.$major"
"$root/sbin/mount.lsmfs" --help | grep -q 'mount -t lsmfs' || fail "mount.lsmfs --help"
"$root/bin/lsmctl" --version | grep -q "$version" || fail "lsmctl --version does not say $version"

step "exported symbols"
nm -D --defined-only "$libdir/liblsm.so" | awk '{ print $NF }' | sort >"$tmp/exported"
if grep -v '^lsm_' "$tmp/exported" >"$tmp/stray"; then
    cat "$tmp/stray"
    fail "liblsm.so exports symbols without the lsm_ prefix"
fi
# Every prototype in lsm.h starts with LSM_API, on the line naming the function.
if grep -nE '^[A-Za-z].*\blsm_[a-z0-9_]+\(' "$root/include/lsm.h" | grep -vE '^[0-9]+:(LSM_API|typedef) ' \
        >"$tmp/noapi"; then
    cat "$tmp/noapi"
    fail "lsm.h declares functions without LSM_API"
fi
grep -E '^LSM_API ' "$root/include/lsm.h" | grep -oE '\blsm_[a-z0-9_]+\(' | tr -d '(' | sort -u \
    >"$tmp/declared"
if ! cmp -s "$tmp/declared" "$tmp/exported"; then
    diff "$tmp/declared" "$tmp/exported" || true
    fail "the functions lsm.h declares (<) and those liblsm.so exports (>) differ"
fi
echo "$(wc -l <"$tmp/exported") functions exported, all declared LSM_API in lsm.h"
# liblsm.a: every defined global symbol (any type: text, data, bss, weak) of
# every member.
nm -g --defined-only "$libdir/liblsm.a" | awk 'NF == 3 { print $3 }' | sort >"$tmp/static_globals"
if grep -v '^lsm_' "$tmp/static_globals" >"$tmp/static_stray"; then
    head -n 20 "$tmp/static_stray"
    fail "liblsm.a has $(wc -l <"$tmp/static_stray") global symbols without the lsm_ prefix (first 20 above)"
fi
if ! cmp -s "$tmp/exported" "$tmp/static_globals"; then
    diff "$tmp/exported" "$tmp/static_globals" || true
    fail "the global symbols of liblsm.so (<) and liblsm.a (>) differ"
fi
echo "liblsm.a: the same $(wc -l <"$tmp/static_globals") global symbols, every other one local"

step "docs/examples/*.c with pkg-config (shared and --static)"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR= # the .pc file finds its prefix itself
shared_flags=$(pkg-config --cflags --libs lsm) || fail "pkg-config --cflags --libs lsm"
static_flags=$(pkg-config --static --cflags --libs lsm) || fail "pkg-config --static --cflags --libs lsm"
echo "shared: $shared_flags"
echo "static: $static_flags"
[ "$(pkg-config --modversion lsm)" = "$version" ] || fail "pkg-config --modversion lsm is not $version"
n=0
for ex in "$src"/docs/examples/*.c; do
    name=$(basename "$ex" .c)
    # shellcheck disable=SC2086 # the flags are words
    cc -std=gnu11 -Wall -o "$tmp/$name-shared" "$ex" $shared_flags ||
        fail "$name.c does not build with pkg-config --cflags --libs lsm"
    # A fully static program: liblsm.a and everything it needs must be named.
    # shellcheck disable=SC2086
    cc -std=gnu11 -Wall -static -o "$tmp/$name-static" "$ex" $static_flags ||
        fail "$name.c does not build with -static and pkg-config --static --cflags --libs lsm"
    n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no docs/examples/*.c"
echo "$n examples built twice"
if readelf -d "$tmp/basic-static" | grep -q NEEDED; then
    fail "basic-static needs shared libraries: it was not linked statically"
fi
readelf -d "$tmp/basic-shared" | grep -q "NEEDED.*\[liblsm.so.$major\]" ||
    fail "basic-shared does not need liblsm.so.$major"
(cd "$tmp" && LD_LIBRARY_PATH="$libdir" ./basic-shared >basic-shared.out) ||
    fail "basic (shared) exited non-zero"
(cd "$tmp" && ./basic-static >basic-static.out) || fail "basic (static) exited non-zero"

step "lsm_version() of the installed library"
cat >"$tmp/version.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include "lsm.h"
int main(void)
{
    printf("%s\n", lsm_version());
    return strcmp(lsm_version(), LSM_VERSION_STRING) != 0;
}
EOF
# shellcheck disable=SC2086
cc -o "$tmp/version" "$tmp/version.c" $shared_flags || fail "version.c does not build"
got=$(LD_LIBRARY_PATH="$libdir" "$tmp/version") || fail "lsm_version() differs from LSM_VERSION_STRING"
[ "$got" = "$version" ] || fail "lsm_version() is '$got', expected $version"

step "find_package(lsm) in a CMake project"
mkdir -p "$tmp/proj"
cp "$src/docs/examples/basic.c" "$tmp/proj/"
cat >"$tmp/proj/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(uses_lsm LANGUAGES C)
find_package(lsm 0.1 REQUIRED)
add_executable(basic_shared basic.c)
target_link_libraries(basic_shared PRIVATE lsm::lsm)
add_executable(basic_static basic.c)
target_link_libraries(basic_static PRIVATE lsm::lsm_static)
EOF
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$root" \
    -DCMAKE_BUILD_TYPE=Release >"$tmp/proj.log" 2>&1 ||
    { cat "$tmp/proj.log"; fail "configuring a project with find_package(lsm)"; }
cmake --build "$tmp/proj/build" >>"$tmp/proj.log" 2>&1 ||
    { cat "$tmp/proj.log"; fail "building a project with lsm::lsm and lsm::lsm_static"; }
readelf -d "$tmp/proj/build/basic_shared" | grep -q "NEEDED.*\[liblsm.so.$major\]" ||
    fail "lsm::lsm did not link liblsm.so"
readelf -d "$tmp/proj/build/basic_static" | grep -q liblsm && fail "lsm::lsm_static linked liblsm.so"
(cd "$tmp" && LD_LIBRARY_PATH="$libdir" "$tmp/proj/build/basic_shared" >/dev/null) ||
    fail "the find_package program (shared) exited non-zero"
(cd "$tmp" && "$tmp/proj/build/basic_static" >/dev/null) ||
    fail "the find_package program (static) exited non-zero"
echo "test_install: ok"

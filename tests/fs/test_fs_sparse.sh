#!/usr/bin/env bash
#
# test_fs_sparse.sh -- sparse files on a mounted lsmfs, run by ctest as
#
#     bash tests/fs/test_fs_sparse.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# Files are values split into 64 KiB chunks; a chunk never written is a hole
# (docs/FS.md). Checked:
#   - a 1 GiB file made by truncate -s with a few blocks written at known
#     offsets: lseek SEEK_DATA/SEEK_HOLE (python3 os.lseek) report exactly the
#     chunks written, and ENXIO at and past the end; the same after a remount;
#   - a copy by SEEK_DATA/SEEK_HOLE (python3) takes well under a second and
#     is identical;
#   - cp --sparse=always of it out of the mount takes a few seconds at most,
#     the copy is identical (cmp) and takes little space (du). (cp 9.1 asks
#     SEEK_DATA only of a file whose st_blocks is below its size, and lsmfs
#     reports st_blocks from the size, docs/FS.md: it reads the holes, which
#     cost a lookup per chunk and no I/O, and finds their zeros itself);
#   - fallocate --punch-hole and --zero-range (with and without --keep-size,
#     ranges inside a chunk, across chunks, past the end): the file equals a
#     reference file on the local file system given the same operations, the
#     whole chunks punched out are holes for SEEK_HOLE, and the same after a
#     remount; --collapse-range and --insert-range are refused;
#   - lsmctl verify of the store.
# A failing check is reported and the script goes on; it exits 1 if any
# check failed, 77 if /dev/fuse is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" sparse "$@"

STORE=$T/store
MNT=$T/mnt
CB=65536
GiB=$((1024 * 1024 * 1024))
must_mount "$STORE" "$MNT"

# regions FILE: the data regions as SEEK_DATA/SEEK_HOLE give them, one
# "start end" a line; then the answers at and past the end ("enxio" each).
regions() {
    python3 - "$1" <<'EOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
off = 0
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError as e:
        if e.errno != errno.ENXIO:
            raise
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    print(d, h)
    off = h
for whence in (os.SEEK_DATA, os.SEEK_HOLE):
    for at in (size, size + 1):
        try:
            print("unexpected", os.lseek(fd, at, whence))
        except OSError as e:
            print("enxio" if e.errno == errno.ENXIO else "errno %d" % e.errno)
EOF
}

# ---- a 1 GiB sparse file --------------------------------------------------------
F=$MNT/sparse.img
truncate -s 1G "$F"
# writeat OFFSET LEN SEED: LEN bytes of a pattern at OFFSET, without truncating.
writeat() {
    python3 -c '
import os, random, sys
off, n, seed = map(int, sys.argv[2:5])
random.seed(seed)
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, bytes(random.getrandbits(8) | 1 for _ in range(n)), off)
os.close(fd)' "$1" "$2" "$3" "$4"
}
writeat "$F" $((1024 * 1024)) 4096 1                  # chunk 16
writeat "$F" $((100 * 1024 * 1024 + 70000)) 4096 2    # chunk 1601, inside
writeat "$F" $((512 * 1024 * 1024 - 2048)) 4096 3     # chunks 8191 and 8192
writeat "$F" $((GiB - 10)) 10 4                       # the last chunk, 16383
cat >"$T/regions.want" <<EOF
$((16 * CB)) $((17 * CB))
$((1601 * CB)) $((1602 * CB))
$((8191 * CB)) $((8193 * CB))
$((16383 * CB)) $GiB
enxio
enxio
enxio
enxio
EOF
check_regions() {
    local what=$1
    if regions "$F" >"$T/regions.got" 2>&1 && cmp -s "$T/regions.want" "$T/regions.got"; then
        ok
    else
        fail "$what: SEEK_DATA/SEEK_HOLE regions: $(diff "$T/regions.want" "$T/regions.got" | head -20)"
    fi
}
check_regions "1 GiB file with 4 blocks"
# A hole in the middle of a data region's chunk is still data (chunk
# granularity), and SEEK_HOLE from inside the last chunk gives the end.
got=$(python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.lseek(fd, 16 * 65536 + 10, os.SEEK_DATA), os.lseek(fd, 16 * 65536 + 10, os.SEEK_HOLE),
      os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, (1 << 30) - 100, os.SEEK_HOLE))' "$F")
[[ $got == "$((16 * CB + 10)) $((17 * CB)) 0 $((GiB))" ]] && ok || fail "seeks inside chunks: $got"

# cp --sparse=always out of the mount: fast, identical, small.
start=$(date +%s%N)
cp --sparse=always "$F" "$T/copy.img" || fail "cp --sparse=always failed"
ms=$((($(date +%s%N) - start) / 1000000))
echo "# cp --sparse=always of a 1 GiB file with 4 blocks: $ms ms"
# No bound on its time: cp 9.1 seeks only when st_blocks shows holes, which
# lsmfs does not report (docs/FS.md), so it reads the whole GiB -- 0.3 s on an
# idle machine, 15 s in a ThreadSanitizer build. The copy below is the one
# that asks SEEK_DATA/SEEK_HOLE.
# A copy that asks SEEK_DATA/SEEK_HOLE, as cp does when st_blocks shows holes,
# reads the data regions only.
start=$(date +%s%N)
python3 - "$F" "$T/copy2.img" <<'EOF2' || fail "SEEK_DATA copy failed"
import errno, os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
dst = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
size = os.fstat(src).st_size
off = 0
while off < size:
    try:
        d = os.lseek(src, off, os.SEEK_DATA)
    except OSError as e:
        if e.errno != errno.ENXIO:
            raise
        break
    h = os.lseek(src, d, os.SEEK_HOLE)
    while d < h:
        b = os.pread(src, min(1 << 20, h - d), d)
        os.pwrite(dst, b, d)
        d += len(b)
    off = h
os.ftruncate(dst, size)
EOF2
ms=$((($(date +%s%N) - start) / 1000000))
echo "# copy of the same file by SEEK_DATA/SEEK_HOLE: $ms ms"
# (0.2 s idle, 0.4 s under ThreadSanitizer; reading the holes would take
# 0.3 s idle and 15 s under ThreadSanitizer -- the bound is loose for load.)
((ms < 3000)) && ok || fail "a SEEK_DATA/SEEK_HOLE copy took $ms ms"
check "SEEK_DATA copy identical" cmp "$F" "$T/copy2.img"
check "copy identical" cmp "$F" "$T/copy.img"
kb=$(du -k "$T/copy.img" | cut -f1)
echo "# du of the copy: $kb KiB"
((kb < 2048)) && ok || fail "the sparse copy takes $kb KiB"

# ---- punching holes, zeroing ranges --------------------------------------------
REF=$T/ref.bin
P=$MNT/punch.bin
SIZE=$((20 * CB + 12345))
head -c $SIZE /dev/urandom >"$REF"
cp "$REF" "$P"
# both FALLOCATE-ARGS...: the same fallocate on the reference (emulated with
# python3 if the local file system lacks the mode) and on the mount.
both() {
    if ! fallocate "$@" "$REF" 2>/dev/null; then
        python3 - "$REF" "$@" <<'EOF'
import os, sys
path, args = sys.argv[1], sys.argv[2:]
off = int(args[args.index("-o") + 1]); n = int(args[args.index("-l") + 1])
keep = "--keep-size" in args or "--punch-hole" in args
size = os.path.getsize(path)
end = min(off + n, size) if keep else off + n
with open(path, "r+b") as f:
    if end > off:
        f.seek(off); f.write(b"\0" * (end - off))
EOF
    fi
    check "fallocate $* in the mount" fallocate "$@" "$P"
}
both --punch-hole -o 100000 -l 300000                  # across chunks: 2..5 whole
both --punch-hole -o 0 -l $CB                          # exactly chunk 0
both --punch-hole -o $((7 * CB + 5)) -l 100            # inside chunk 7
both --zero-range -o $((9 * CB - 10)) -l $((2 * CB))   # chunk 9 whole, ends of 8, 10
both --zero-range --keep-size -o $((SIZE - 1000)) -l 100000   # past the end, kept
both --punch-hole -o $((19 * CB)) -l $((10 * CB))      # to the end and past it
check "size kept" test "$(stat -c %s "$P")" = $SIZE
check "punched file equals the reference" cmp "$REF" "$P"
both --zero-range -o $((SIZE - 5)) -l 200000            # extends the file
check "zero-range extends" test "$(stat -c %s "$P")" = $((SIZE - 5 + 200000))
check "extended file equals the reference" cmp "$REF" "$P"
# Whole chunks punched out are holes: 0, 2..5, 9, 19 and what lies past.
pr=$(python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, 0, os.SEEK_DATA),
      os.lseek(fd, 2 * 65536, os.SEEK_DATA), os.lseek(fd, 9 * 65536, os.SEEK_DATA),
      os.lseek(fd, 7 * 65536, os.SEEK_HOLE))' "$P")
[[ $pr == "0 $CB $((6 * CB)) $((10 * CB)) $((9 * CB))" ]] && ok || fail "holes after punching: $pr"
for mode in --collapse-range --insert-range; do
    if fallocate $mode -o 0 -l $CB "$P" 2>/dev/null; then
        fail "fallocate $mode succeeded"
    else
        ok
    fi
done
check "still equal after the refused modes" cmp "$REF" "$P"

# ---- after a remount -------------------------------------------------------------
must_unmount "$MNT"
must_mount "$STORE" "$MNT"
check_regions "after a remount"
check "copy identical after a remount" cmp "$F" "$T/copy.img"
check "punched file equals the reference after a remount" cmp "$REF" "$P"
must_unmount "$MNT"
check "lsmctl verify" "$LSMCTL" "$STORE" verify
finish

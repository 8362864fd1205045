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
#   - st_blocks (stat, du) counts the chunks that hold data: the 1 GiB
#     file shows its 5 chunks; a dense file its size; a punched hole takes
#     its chunks off, a write into it puts them back (docs/FS.md §7);
#   - cp --sparse=always of it out of the mount asks SEEK_DATA (cp 9.1 does
#     only when st_blocks is below the size): the daemon serves no read of a
#     hole, the copy is identical (cmp) and takes little space (du); the same
#     for a 10 GiB file (LSM_TEST_SCALE scales it, at least 1 GiB), in well
#     under a second; tar --sparse out of the mount and back into it;
#   - fallocate --punch-hole and --zero-range (with and without --keep-size,
#     ranges inside a chunk, across chunks, past the end): the file equals a
#     reference file on the local file system given the same operations, the
#     whole chunks punched out are holes for SEEK_HOLE, and the same after a
#     remount; --collapse-range and --insert-range are refused;
#   - the hole marks are stored: after a remount, st_blocks and du of the
#     sparse files are still small and cp --sparse=always of the 10 GiB file
#     still serves no hole, while files filled whole show their size; the
#     same for a file made sparse just before a kill -9 of the daemon; the
#     mark of a removed file is gone from the store (lsmctl sst-dump) and
#     the store's format is "lsmfs 4";
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

# ---- st_blocks counts what is stored ------------------------------------------
# The 5 chunks holding data: 16, 1601, 8191, 8192 and 16383 (64 KiB each).
check "st_blocks of the 1 GiB file" test "$(stat -c %b "$F")" = $((5 * CB / 512))
check "du of the 1 GiB file" test "$(du -k "$F" | cut -f1)" = $((5 * CB / 1024))
# served: the bytes the daemon has written to /dev/fuse -- read replies above
# all (the store's files are written with pwrite, not write).
served() { awk '$1 == "wchar:" { print $2 }' "/proc/${FS_PID[$MNT]}/io"; }

# cp --sparse=always out of the mount: it seeks (st_blocks shows the holes),
# so the daemon serves the data chunks only, not a GiB of zeros.
before=$(served)
start=$(date +%s%N)
cp --sparse=always "$F" "$T/copy.img" || fail "cp --sparse=always failed"
ms=$((($(date +%s%N) - start) / 1000000))
sent=$(($(served) - before))
echo "# cp --sparse=always of a 1 GiB file with 4 blocks: $ms ms, $sent bytes served"
((sent < 16 * 1024 * 1024)) && ok || fail "cp --sparse=always read the holes: $sent bytes served"
# A copy that asks SEEK_DATA/SEEK_HOLE itself reads the data regions only.
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

# ---- st_blocks of a dense file, a punched hole, a write into it -------------------
D=$MNT/dense.bin
head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/dense.ref"
cp "$T/dense.ref" "$D"
check "st_blocks of a dense file" test "$(stat -c %b "$D")" = 16384
fallocate --punch-hole -o $((1024 * 1024)) -l $((2 * 1024 * 1024)) "$D"
check "st_blocks after punching 2 MiB" test "$(stat -c %b "$D")" = $((16384 - 4096))
check "du after punching 2 MiB" test "$(du -k "$D" | cut -f1)" = $((8192 - 2048))
dd if="$T/dense.ref" of="$D" bs=64K skip=16 seek=16 count=16 conv=notrunc status=none
check "st_blocks after filling half of the hole" test "$(stat -c %b "$D")" = $((16384 - 2048))
dd if="$T/dense.ref" of="$D" bs=64K skip=32 seek=32 count=16 conv=notrunc status=none
check "st_blocks once the hole is filled" test "$(stat -c %b "$D")" = 16384
check "dense file equals its reference" cmp "$T/dense.ref" "$D"
# A file made by truncate and then written whole is dense again.
truncate -s 3M "$MNT/filled.bin"
check "st_blocks of a file extended by truncate" test "$(stat -c %b "$MNT/filled.bin")" = 0
dd if="$T/dense.ref" of="$MNT/filled.bin" bs=1M count=3 conv=notrunc status=none
check "st_blocks once it is written whole" test "$(stat -c %b "$MNT/filled.bin")" = 6144
# A file through two names: punched through one, counted through both.
ln "$D" "$MNT/dense.link"
fallocate --punch-hole -o 0 -l $((4 * 1024 * 1024)) "$MNT/dense.link"
check "st_blocks through the name punched" test "$(stat -c %b "$MNT/dense.link")" = 8192
check "st_blocks through the other name" test "$(stat -c %b "$D")" = 8192
rm "$MNT/dense.link"

# ---- a 10 GiB sparse file: cp --sparse=always and tar --sparse -------------------
# sparse_cmp A B: A and B have the same size and bytes, reading only the data
# regions either has (SEEK_DATA/SEEK_HOLE; what neither has is holes in both,
# zeros): cmp of 10 GiB of holes would take 40 s here.
sparse_cmp() {
    python3 - "$1" "$2" <<'EOF2'
import errno, os, sys
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[1:3]]
sizes = [os.fstat(fd).st_size for fd in fds]
if sizes[0] != sizes[1]:
    sys.exit("sizes differ: %d %d" % tuple(sizes))
def regions(fd, size):
    off = 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            return
        h = os.lseek(fd, d, os.SEEK_HOLE)
        yield d, h
        off = h
for d, h in sorted(r for fd in fds for r in regions(fd, sizes[0])):
    while d < h:
        n = min(1 << 20, h - d)
        a, b = (os.pread(fd, n, d) for fd in fds)
        if a != b or len(a) != n:
            sys.exit("differ in [%d, %d)" % (d, d + n))
        d += n
EOF2
}
BIG_GIB=$(awk -v s="${LSM_TEST_SCALE:-1}" 'BEGIN { n = int(10 * s); print n < 1 ? 1 : n }')
BIG=$MNT/big.img
truncate -s ${BIG_GIB}G "$BIG"
truncate -s ${BIG_GIB}G "$T/big.ref"
for at in 0 $((3 * CB + 100)) $((BIG_GIB * GiB / 2)) $((BIG_GIB * GiB - 4096)); do
    writeat "$BIG" $at 4096 $at
    writeat "$T/big.ref" $at 4096 $at
done
kb=$(du -k "$BIG" | cut -f1)
echo "# du of a $BIG_GIB GiB file with 4 blocks written: $kb KiB"
((kb == 4 * CB / 1024)) && ok || fail "du of the $BIG_GIB GiB file: $kb KiB"
before=$(served)
start=$(date +%s%N)
cp --sparse=always "$BIG" "$T/big.copy" || fail "cp --sparse=always of $BIG_GIB GiB failed"
ms=$((($(date +%s%N) - start) / 1000000))
sent=$(($(served) - before))
echo "# cp --sparse=always of a $BIG_GIB GiB file with 4 blocks: $ms ms, $sent bytes served"
# Reading the holes would serve the whole size (3 s for 10 GiB on an idle
# machine); seeking costs a lookup per chunk passed (25 ms for 10 GiB).
((sent < 16 * 1024 * 1024)) && ok || fail "cp --sparse=always read the holes: $sent bytes served"
((ms < 1000)) && ok || fail "cp --sparse=always of $BIG_GIB GiB took $ms ms"
check "cp of $BIG_GIB GiB identical" sparse_cmp "$T/big.ref" "$T/big.copy"
# (sparse_cmp sees a byte written into a hole.)
cp --sparse=always "$T/big.ref" "$T/big.bad"
writeat "$T/big.bad" $((BIG_GIB * GiB / 4)) 1 1
sparse_cmp "$T/big.ref" "$T/big.bad" 2>/dev/null && fail "sparse_cmp missed a difference" || ok
rm "$T/big.bad"
kb=$(du -k "$T/big.copy" | cut -f1)
((kb < 2048)) && ok || fail "the sparse copy of $BIG_GIB GiB takes $kb KiB"
# tar --sparse out of the mount, and back into it: small archive, sparse file.
before=$(served)
check "tar --sparse -c" tar --sparse -C "$MNT" -cf "$T/big.tar" big.img
sent=$(($(served) - before))
((sent < 16 * 1024 * 1024)) && ok || fail "tar --sparse read the holes: $sent bytes served"
kb=$(du -k "$T/big.tar" | cut -f1)
((kb < 2048)) && ok || fail "the sparse archive takes $kb KiB"
mkdir "$MNT/untar"
check "tar -x into the mount" tar -C "$MNT/untar" -xf "$T/big.tar"
kb=$(du -k "$MNT/untar/big.img" | cut -f1)
((kb <= 4 * CB / 1024)) && ok || fail "the file tar extracted into the mount takes $kb KiB"
check "tar round trip identical" sparse_cmp "$T/big.ref" "$MNT/untar/big.img"
rm -r "$MNT/untar" "$T/big.copy" "$T/big.tar"

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

# A sparse file removed: its stored hole mark goes with it (checked below).
G=$MNT/gone.img
truncate -s 1G "$G"
writeat "$G" $CB 100 5
gone_ino=$(stat -c %i "$G")
rm "$G"

# ---- after a remount -------------------------------------------------------------
must_unmount "$MNT"
must_mount "$STORE" "$MNT"
check_regions "after a remount"
check "copy identical after a remount" cmp "$F" "$T/copy.img"
check "punched file equals the reference after a remount" cmp "$REF" "$P"
# The marks of the files that may have holes are stored (docs/FS.md §7): a
# remount still counts their chunks...
check "st_blocks of the 1 GiB file after a remount" test "$(stat -c %b "$F")" = $((5 * CB / 512))
kb=$(du -k "$BIG" | cut -f1)
((kb == 4 * CB / 1024)) && ok || fail "du of the $BIG_GIB GiB file after a remount: $kb KiB"
before=$(served)
start=$(date +%s%N)
cp --sparse=always "$BIG" "$T/big.copy" || fail "cp --sparse=always of $BIG_GIB GiB failed"
ms=$((($(date +%s%N) - start) / 1000000))
sent=$(($(served) - before))
echo "# after a remount, cp --sparse=always of a $BIG_GIB GiB file with 4 blocks: $ms ms, $sent bytes served"
((sent < 16 * 1024 * 1024)) && ok || fail "cp --sparse=always read the holes after a remount: $sent bytes served"
((ms < 1000)) && ok || fail "cp --sparse=always of $BIG_GIB GiB took $ms ms after a remount"
check "cp of $BIG_GIB GiB identical after a remount" sparse_cmp "$T/big.ref" "$T/big.copy"
rm "$T/big.copy"
check "st_blocks of the file punched through a link after a remount" \
    test "$(stat -c %b "$D")" = 8192
# ... and a stale mark (a file marked, then filled) confirms nothing.
check "st_blocks of a filled file after a remount" test "$(stat -c %b "$MNT/filled.bin")" = 6144
# A mark is in the batch of the change that makes it: a kill -9 of the
# daemon just after the change keeps both.
K=$MNT/killed.img
truncate -s 1G "$K"
writeat "$K" $CB 100 6
fs_kill "$MNT"
must_mount "$STORE" "$MNT"
check "st_blocks of a sparse file after a kill -9" test "$(stat -c %b "$K")" = $((CB / 512))
big_ino=$(stat -c %i "$BIG")
must_unmount "$MNT"

# The stored marks, seen in the tables once compacted (deleted keys gone):
# the 10 GiB file's is there, the removed file's is not. holes_key INO: an
# inode's key as lsmctl sst-dump shows it (8 bytes big-endian, escaped).
holes_key() {
    python3 -c '
import sys
out = ""
for b in int(sys.argv[1]).to_bytes(8, "big"):
    out += {9: "\\t", 10: "\\n", 92: "\\\\"}.get(b, chr(b) if 32 <= b < 127 else "\\x%02x" % b)
print(out)' "$1"
}
check "lsmctl compact" "$LSMCTL" "$STORE" compact
for sst in "$STORE"/*.sst; do "$LSMCTL" sst-dump "$sst"; done >"$T/sst.txt" 2>&1
big_mark=$(grep -F " key=$(holes_key "$big_ino") " "$T/sst.txt" | grep -F "type=put value=" |
    awk '$NF == "value=" { print $1 }' | head -1 || true)
[[ -n $big_mark ]] && ok || fail "no stored hole mark of the $BIG_GIB GiB file (inode $big_ino)"
if [[ -n $big_mark ]] && grep -F "$big_mark key=$(holes_key "$gone_ino") " "$T/sst.txt" >&2; then
    fail "the removed file's hole mark (inode $gone_ino) is still stored"
else
    ok
fi
# The first mark made the store "lsmfs 4"; the link made since left it so.
fmt=$(grep -F " key=format " "$T/sst.txt" | sed -n 's/.* value=//p' || true)
[[ $fmt == "lsmfs 4" ]] && ok || fail "lsmfs format after marks and a link: '$fmt'"
check "lsmctl verify" "$LSMCTL" "$STORE" verify
finish

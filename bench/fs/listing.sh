#!/bin/bash
#
# listing.sh -- what listing, renaming, reading and removing a directory of
# small files costs lsmfs (docs/BENCHMARKS.md §10.9).
#
#   bench/fs/listing.sh LSMFS N [LSMFS OPTIONS...]
#
# Writes N files of 4 KiB into one directory through a fresh mount, remounts
# (so the kernel's and the daemon's caches start empty), then reports the
# table blocks the daemon read (lsmfs.stats) and the time of `ls -f`, the time
# of `mv` of the directory, of `cat` of every file and of `rm -rf`. E.g.
#   bench/fs/listing.sh build/lsmfs 20000 -o inline=256
# Needs python3, bc, getfattr (attr) and fusermount3. Exit 1 if a step fails.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help || $# -lt 2 ]]; then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
    [[ $# -ge 2 ]] && exit 0 || exit 2
fi
L=$1
N=$2
shift 2
source "$(dirname "$0")/mountlib.sh" listing
S=$W/store
mount_it "$@"
python3 - "$M" "$N" <<'PY'
import os, sys
m, n = sys.argv[1], int(sys.argv[2])
os.mkdir(m + "/d")
data = b"x" * 4096
for i in range(n):
    with open("%s/d/f%d" % (m, i), "wb") as f:
        f.write(data)
PY
unmount_it
mount_it "$@"
# Blocks read: block cache misses, i.e. blocks read from a table file or
# used for the first time through its mapping (the root's lsmfs.stats).
misses() {
    getfattr --only-values -n lsmfs.stats "$M" 2>/dev/null |
        awk '/^block cache misses/ { print $4 }'
}
b0=$(misses)
t0=$(now)
n=$(ls -f "$M/d" | wc -l)
t1=$(now)
b1=$(misses)
echo "ls -f: $n entries, $((b1 - b0)) blocks read, $(echo "$t1 - $t0" | bc) s"
t0=$(now); mv "$M/d" "$M/e"; t1=$(now)
echo "mv of the directory: $(echo "$t1 - $t0" | bc) s"
t0=$(now); cat "$M"/e/* | wc -c >/dev/null; t1=$(now)
echo "cat of every file: $(echo "$t1 - $t0" | bc) s"
t0=$(now); rm -rf "$M/e"; t1=$(now)
echo "rm -rf: $(echo "$t1 - $t0" | bc) s"
unmount_it

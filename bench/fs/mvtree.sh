#!/bin/bash
#
# mvtree.sh -- mv of a directory tree on lsmfs and on passthrough_ll, and
# whether the rest of the mount stalls meanwhile (docs/BENCHMARKS.md
# §10.14, issue 10 item 5).
#
#   bench/fs/mvtree.sh LSMFS PASSTHROUGH_LL N [LSMFS OPTIONS...]
#
# For each file system in turn -- lsmfs on a fresh store (with OPTIONS),
# then passthrough_ll over a fresh directory beside it (so on the same disk;
# bench/fs/run.sh compiles it into BUILD/fs-bench-passthrough) -- writes a
# tree of N files of 4 KiB in directories of 100 (t/d0/f0 ...; through
# lsmfs, and into passthrough_ll's directory directly), (re)mounts so the
# kernel's caches start empty, then times `mv t u` (one rename(2) of
# the tree's top directory) while another thread looks up names in a
# directory beside the tree, one new name after another, so every lookup
# reaches the daemon (names that do not exist: the kernel cannot answer
# from its caches). It reports the time of the mv, the entries it moved
# per second, the daemon's CPU time during it (the lookups' included), and
# the lookups made during
# the mv with their slowest and median latency, against the median before
# it: a mount that stops for the rename shows a slowest lookup as long as
# the mv. Then it checks that the tree arrived whole (a sample of files
# read back, the directory count). E.g.
#   bench/fs/mvtree.sh build/lsmfs build/fs-bench-passthrough/passthrough_ll 100000
# Needs python3 and fusermount3. Exit 1 if a step fails.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help || $# -lt 3 ]]; then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
    [[ $# -ge 3 ]] && exit 0 || exit 2
fi
L=$1
PT=$2
N=$3
shift 3
source "$(dirname "$0")/mountlib.sh" mvtree
S=$W/store
B=$W/backing
mkdir -p "$B"
mount_fs() { # lsmfs|passthrough_ll
    if [[ $1 == lsmfs ]]; then mount_it "${OPTS[@]}"; else mount_cmd "$PT" -f -o source="$B" "$M"; fi
}
OPTS=("$@")
for fs in lsmfs passthrough_ll; do
    # The tree is written through lsmfs, and straight into passthrough_ll's
    # directory (the same files on disk): passthrough_ll would hold a
    # descriptor for each of the N inodes the kernel keeps meanwhile.
    into=$M
    if [[ $fs == lsmfs ]]; then mount_fs "$fs"; else into=$B; fi
    python3 - "$into" "$N" <<'PY'
import os, sys
m, n = sys.argv[1], int(sys.argv[2])
data = bytes(range(256)) * 16
os.makedirs(m + "/t")
os.mkdir(m + "/o")
for i in range(n):
    if i % 100 == 0:
        d = "%s/t/d%d" % (m, i // 100)
        os.mkdir(d)
    with open("%s/f%d" % (d, i % 100), "wb") as f:
        f.write(data)
PY
    [[ $fs == lsmfs ]] && unmount_it
    sync -f "$W"
    mount_fs "$fs"
    python3 - "$M" "$N" "$fs" "$pid" <<'PY'
import glob, os, statistics, subprocess, sys, threading, time
m, n, fs, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def cpu():  # the daemon's threads' run time (ns)
    return sum(int(open(p).read().split()[0]) for p in glob.glob("/proc/%s/task/*/schedstat" % pid))
lat = []  # (start, seconds) of each lookup
stop = False
def probe():
    i = 0
    while not stop:
        t = time.perf_counter()
        try:
            os.lstat("%s/o/absent%d" % (m, i))
        except FileNotFoundError:
            pass
        lat.append((t, time.perf_counter() - t))
        i += 1
th = threading.Thread(target=probe)
th.start()
time.sleep(0.3)
c0 = cpu()
t0 = time.perf_counter()
subprocess.run(["mv", m + "/t", m + "/u"], check=True)
t1 = time.perf_counter()
c1 = cpu()
time.sleep(0.3)
stop = True
th.join()
before = [s for t, s in lat if t + s < t0]
during = [s for t, s in lat if t < t1 and t + s > t0]
entries = n + (n + 99) // 100 + 1
print("%-14s mv of %d entries: %.4f s (%.0f entries/s), daemon CPU %.1f ms; %d lookups during it, "
      "slowest %.1f ms, median %.3f ms (median before it %.3f ms)" % (
          fs, entries, t1 - t0, entries / (t1 - t0), (c1 - c0) / 1e6, len(during),
          max(during) * 1e3 if during else 0,
          statistics.median(during) * 1e3 if during else 0, statistics.median(before) * 1e3))
dirs = os.listdir(m + "/u")
assert len(dirs) == (n + 99) // 100, "the tree lost directories"
assert not os.path.exists(m + "/t")
data = bytes(range(256)) * 16
for i in range(0, n, max(1, n // 200)):
    with open("%s/u/d%d/f%d" % (m, i // 100, i % 100), "rb") as f:
        assert f.read() == data, "file %d differs after the mv" % i
PY
    unmount_it
done

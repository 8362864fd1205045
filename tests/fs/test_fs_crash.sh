#!/usr/bin/env bash
#
# test_fs_crash.sh -- kill -9 of the daemon under a write load, run by ctest as
#
#     bash tests/fs/test_fs_crash.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# Each cycle mounts the store, starts a writer (python3) on the mount and
# kills the daemon with SIGKILL at a random moment (0.3 to 3 s after the
# writer's first acknowledged fsync), then `fusermount3 -u -z`s the dead
# mount and mounts the store again. The writer works on 4,000 names in 10
# directories, with operations chosen at random: write + fsync; write +
# close without fsync; write a temporary file, fsync, rename it over the
# name, fsync the directory; unlink + fsync of the directory. Sizes go from
# 0 to 200 KB, with one file in ten over 1.5 MB (a chunked value). Before an
# operation it logs "start", after its fsync (or close) returned "done" (or
# "closed") -- in a file outside the mount.
#
# After every crash, for every name whose last logged operation completed:
#   - "done" (its fsync returned): the file holds exactly that version, or is
#     absent after an unlink (docs/FS.md §5: fsync makes data durable);
#   - "closed" (written and closed without fsync): the same, since §5 says a
#     written file survives kill -9 of the daemon (every write is in the log
#     before it returns). Reported separately from the fsync'ed files.
# Names whose last operation was cut by the crash are not checked. The store
# must mount again (it opens without error), and after each unmount
# `lsmctl STORE verify` must pass. The result accumulates over the cycles:
# files checked after crash 1 are checked again after crash 6.
#
# LSMFS_CRASH_CYCLES sets the number of cycles (default 6). A failing check is
# reported and the script goes on; exit 1 if any failed, 77 if /dev/fuse is
# missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" crash "$@"

STORE=$T/store
MNT=$T/mnt
REC=$T/records
CYCLES=${LSMFS_CRASH_CYCLES:-6}
: >"$REC"

cat >"$T/common.py" <<'EOF'
import hashlib

def content(name, gen):
    h = hashlib.sha256(("%s:%d" % (name, gen)).encode()).digest()
    n = int.from_bytes(h[:4], "little")
    size = n % 200000 if n % 10 else 1500000 + n % 100000
    return (h * (size // 32 + 1))[:size]
EOF

cat >"$T/writer.py" <<'EOF'
import os, random, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from common import content
mnt, rec_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
rec = open(rec_path, "a", buffering=1)
gen = seed * 10000000

def write_file(path, data, sync):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        off = 0
        while off < len(data):
            off += os.write(fd, data[off:off + 1048576])
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)

def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

n = 0
try:
    while True:
        gen += 1
        d = "d%d" % rnd.randrange(10)
        name = "%s/f%03d" % (d, rnd.randrange(400))
        path = os.path.join(mnt, name)
        os.makedirs(os.path.join(mnt, d), exist_ok=True)
        op = rnd.random()
        if op < 0.45:
            rec.write("start %s %d\n" % (name, gen))
            write_file(path, content(name, gen), True)
            rec.write("done %s %d\n" % (name, gen))
        elif op < 0.65:
            rec.write("start %s %d\n" % (name, gen))
            write_file(path, content(name, gen), False)
            rec.write("closed %s %d\n" % (name, gen))
        elif op < 0.9:
            rec.write("start %s %d\n" % (name, gen))
            tmp = path + ".tmp"
            write_file(tmp, content(name, gen), True)
            os.rename(tmp, path)
            fsync_dir(os.path.join(mnt, d))
            rec.write("done %s %d\n" % (name, gen))
        else:
            rec.write("start %s del\n" % name)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            fsync_dir(os.path.join(mnt, d))
            rec.write("done %s del\n" % name)
        n += 1
except OSError as e:
    print("# writer stopped after %d operations: %s" % (n, e), file=sys.stderr)
EOF

cat >"$T/verify.py" <<'EOF'
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from common import content
mnt, rec_path = sys.argv[1], sys.argv[2]
last = {}
for line in open(rec_path):
    parts = line.split()
    if len(parts) == 3:
        last[parts[1]] = (parts[0], parts[2])
bad = {"done": [], "closed": []}
counts = {"done": 0, "closed": 0, "start": 0}
for name, (kind, gen) in sorted(last.items()):
    counts[kind] = counts.get(kind, 0) + 1
    if kind == "start":
        continue
    path = os.path.join(mnt, name)
    if gen == "del":
        if os.path.lexists(path):
            bad[kind].append("%s: unlinked (and the directory fsync'ed) but exists" % name)
        continue
    want = content(name, int(gen))
    try:
        with open(path, "rb") as f:
            got = f.read()
    except OSError as e:
        bad[kind].append("%s: version %s (%d bytes) expected, open/read failed: %s"
                         % (name, gen, len(want), e))
        continue
    if got != want:
        i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
                 min(len(got), len(want)))
        bad[kind].append("%s: version %s expected (%d bytes), got %d bytes, first difference at %d"
                         % (name, gen, len(want), len(got), i))
print("# checked %d names whose fsync returned, %d written and closed without fsync; "
      "%d cut by the crash (not checked)" % (counts["done"], counts["closed"], counts["start"]))
rc = 0
for kind, what in (("done", "fsync returned"), ("closed", "closed without fsync, §5: survives kill -9")):
    if bad[kind]:
        rc = 1
        print("LOST (%s): %d files" % (what, len(bad[kind])))
        for b in bad[kind][:10]:
            print("  " + b)
sys.exit(rc)
EOF

for cycle in $(seq 1 "$CYCLES"); do
    must_mount "$STORE" "$MNT"
    DAEMON=${FS_PID[$MNT]}
    python3 "$T/writer.py" "$MNT" "$REC" "$cycle" 2>"$T/writer.err" &
    WRITER=$!
    # Wait for the first acknowledged fsync of this cycle, then a random time.
    base=$(grep -c . "$REC" || true)
    for _ in $(seq 200); do
        (($(grep -c . "$REC" || true) > base + 4)) && break
        sleep 0.05
    done
    delay=$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + 2.7 * r / 32767 }')
    sleep "$delay"
    kill -9 "$DAEMON"
    wait "$DAEMON" 2>/dev/null || true
    FS_PID[$MNT]=
    # The writer now gets ENOTCONN and stops.
    for _ in $(seq 300); do kill -0 "$WRITER" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$WRITER" 2>/dev/null; then
        fail "cycle $cycle: the writer did not stop within 30 s of the daemon's death"
        kill -9 "$WRITER" 2>/dev/null || true
    fi
    wait "$WRITER" 2>/dev/null || true
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    fs_is_mounted "$MNT" && die "cycle $cycle: the dead mount is still mounted after fusermount3 -u -z"
    echo "# cycle $cycle: killed after ${delay}s; $(grep -c '^done' "$REC" || true) fsyncs acknowledged so far; $(tail -1 "$T/writer.err")"
    # Remount: the store must open; every completed operation is there.
    if ! fs_mount "$STORE" "$MNT"; then
        fail "cycle $cycle: the store does not mount again after kill -9"
        break
    fi
    ok
    if out=$(python3 "$T/verify.py" "$MNT" "$REC" 2>&1); then
        ok
        echo "$out"
    else
        fail "cycle $cycle: after kill -9 and remount: $out"
    fi
    ls -R "$MNT" >/dev/null 2>"$T/ls.err" && ok || fail "cycle $cycle: ls -R of the remounted store: $(head -3 "$T/ls.err")"
    must_unmount "$MNT"
    check "cycle $cycle: lsmctl verify" "$LSMCTL" "$STORE" verify
done
finish

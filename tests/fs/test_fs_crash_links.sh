#!/usr/bin/env bash
#
# test_fs_crash_links.sh -- kill -9 of the daemon between link, unlink,
# rename and write cycles, run by ctest as
#
#     bash tests/fs/test_fs_crash_links.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# Each round mounts the store and starts a writer (python3) that works on 80
# names in 4 directories with operations chosen at random: write a file
# whole (sizes from a few bytes to 3 MiB, so inline, chunked and shared
# values all occur), write into one at an offset, link a name to another
# (replacing what that held), unlink, rename (onto another file, or onto a
# name of the same file), open a name, unlink it while open and write
# through the descriptor (the contents then live under an orphan key), close
# such descriptors, and now and then fsync. The daemon is killed with
# SIGKILL at a random moment (0.3 to 2.5 s in), while all of this runs.
#
# After each kill, before any remount, `lsmctl check-values` must find no
# leaked value, no name without its value and no wrong count in the store as
# the crash left it (docs/FS.md §3.2: a crash at any point leaves no leaked
# value and no name without its value). Then the store is mounted again and
# every name is checked: it can be stat'ed and read whole; the names that
# share an st_ino all read the same bytes, have the same size and show
# st_nlink equal to the number of names found for that inode. After the
# unmount (which removes the orphan keys), check-values runs again, and
# lsmctl verify.
#
# LSM_TEST_SCALE scales the number of rounds (12 at 1, at least 3);
# LSMFS_CRASH_LINKS_ROUNDS sets it outright. A failing check is reported and
# the script goes on; exit 1 if any failed, 77 if /dev/fuse is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" crash_links "$@"

STORE=$T/store
MNT=$T/mnt
ROUNDS=${LSMFS_CRASH_LINKS_ROUNDS:-$(awk -v s="${LSM_TEST_SCALE:-1}" 'BEGIN { n = int(12 * s); print n < 3 ? 3 : n }')}

cat >"$T/writer.py" <<'EOF'
import errno, os, random, sys
mnt, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
names = ["d%d/f%02d" % (d, i) for d in range(4) for i in range(20)]
for d in range(4):
    os.makedirs(os.path.join(mnt, "d%d" % d), exist_ok=True)
held = []  # descriptors kept open, some of them of unlinked names
n = 0

def some_bytes():
    k = rnd.random()
    size = (rnd.randrange(1, 5000) if k < 0.4 else
            rnd.randrange(60000, 300000) if k < 0.85 else rnd.randrange(1 << 20, 3 << 20))
    return rnd.randbytes(size)

def write_all(fd, data, off):
    while data:
        w = os.pwrite(fd, data[:1 << 20], off)
        data, off = data[w:], off + w

try:
    while True:
        a = os.path.join(mnt, rnd.choice(names))
        b = os.path.join(mnt, rnd.choice(names))
        op = rnd.random()
        try:
            if op < 0.22:                                   # write whole
                fd = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                write_all(fd, some_bytes(), 0)
                if rnd.random() < 0.2:
                    os.fsync(fd)
                os.close(fd)
            elif op < 0.32:                                 # write inside or past the end
                fd = os.open(a, os.O_WRONLY | os.O_CREAT, 0o644)
                size = os.fstat(fd).st_size
                write_all(fd, some_bytes()[:200000], rnd.randrange(0, size + 100000))
                os.close(fd)
            elif op < 0.52:                                 # link, replacing b
                if a != b and os.path.lexists(a) and os.path.lexists(b):
                    os.unlink(b)
                os.link(a, b)
            elif op < 0.66:                                 # unlink
                os.unlink(a)
            elif op < 0.80:                                 # rename, maybe onto a link of itself
                os.rename(a, b)
            elif op < 0.90 and len(held) < 6:               # open, maybe unlink while open
                fd = os.open(a, os.O_RDWR)
                held.append(fd)
                if rnd.random() < 0.6:
                    os.unlink(a)
                write_all(fd, some_bytes()[:100000], rnd.randrange(0, 200000))
            elif held:                                      # write through one, close it
                fd = held.pop(rnd.randrange(len(held)))
                write_all(fd, some_bytes()[:50000], rnd.randrange(0, 100000))
                os.close(fd)
            if rnd.random() < 0.05:
                os.sync()
            n += 1
        except (FileNotFoundError, FileExistsError, IsADirectoryError):
            pass
except OSError as e:
    print("writer stopped after %d operations: %s" % (n, e), file=sys.stderr)
EOF

cat >"$T/names.py" <<'EOF'
import collections, hashlib, os, stat, sys
mnt = sys.argv[1]
groups = collections.defaultdict(list)
bad = []
n_names = 0
for root, dirs, files in os.walk(mnt):
    for f in files:
        p = os.path.join(root, f)
        rel = os.path.relpath(p, mnt)
        try:
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            with open(p, "rb") as fh:
                data = fh.read()
        except OSError as e:
            bad.append("%s: stat or read failed: %s" % (rel, e))
            continue
        n_names += 1
        if len(data) != st.st_size:
            bad.append("%s: st_size %d, read %d bytes" % (rel, st.st_size, len(data)))
        groups[st.st_ino].append((rel, st.st_nlink, hashlib.sha256(data).hexdigest()))
linked = 0
for ino, group in groups.items():
    if len(group) > 1:
        linked += 1
    if len({h for _, _, h in group}) > 1:
        bad.append("inode %d: its names read different bytes: %s" % (ino, [r for r, _, _ in group]))
    for rel, nlink, _ in group:
        if nlink != len(group):
            bad.append("%s: st_nlink %d, %d names of inode %d found: %s"
                       % (rel, nlink, len(group), ino, [r for r, _, _ in group]))
print("# %d names, %d inodes, %d of them with several names" % (n_names, len(groups), linked))
for b in bad[:20]:
    print("BAD: " + b)
sys.exit(1 if bad else 0)
EOF

# check_values WHEN: lsmctl check-values on the (unmounted) store.
check_values() {
    local out
    if out=$("$LSMCTL" "$STORE" check-values 2>&1); then
        ok
        echo "# $1: $(echo "$out" | head -1)"
    else
        fail "$1: lsmctl check-values: $out"
    fi
}

for round in $(seq 1 "$ROUNDS"); do
    must_mount "$STORE" "$MNT"
    DAEMON=${FS_PID[$MNT]}
    python3 "$T/writer.py" "$MNT" "$round" 2>"$T/writer.err" &
    WRITER=$!
    delay=$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + 2.2 * r / 32767 }')
    sleep "$delay"
    kill -9 "$DAEMON"
    wait "$DAEMON" 2>/dev/null || true
    FS_PID[$MNT]=
    for _ in $(seq 300); do kill -0 "$WRITER" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$WRITER" 2>/dev/null; then
        fail "round $round: the writer did not stop within 30 s of the daemon's death"
        kill -9 "$WRITER" 2>/dev/null || true
    fi
    wait "$WRITER" 2>/dev/null || true
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    fs_is_mounted "$MNT" && die "round $round: the dead mount is still mounted after fusermount3 -u -z"
    echo "# round $round: killed after ${delay}s; $(tail -1 "$T/writer.err")"
    check_values "round $round, as the crash left it"
    if ! fs_mount "$STORE" "$MNT"; then
        fail "round $round: the store does not mount again after kill -9"
        break
    fi
    ok
    if out=$(python3 "$T/names.py" "$MNT" 2>&1); then
        ok
        echo "$out"
    else
        fail "round $round: after kill -9 and remount: $out"
    fi
    must_unmount "$MNT"
    check_values "round $round, after the unmount"
    check "round $round: lsmctl verify" "$LSMCTL" "$STORE" verify
done
finish

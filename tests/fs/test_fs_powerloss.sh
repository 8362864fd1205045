#!/usr/bin/env bash
#
# test_fs_powerloss.sh -- power failures under the mount, run by ctest as
#
#     bash tests/fs/test_fs_powerloss.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# lsmfs runs with its test hook -o test_powerloss (docs/FS.md §6.2): the store
# lives in the daemon's memory, and SIGUSR1 cuts the power under it -- every
# byte and directory entry the engine had not synced is lost -- after which
# the daemon ends the mount and leaves what survived in STORE as a store
# directory. Each cycle:
#
#   1. a writer (python3) works on the mount: it creates files (in the root
#      and in a subdirectory), writes at random offsets (1 byte to 120 KiB,
#      sometimes past the end: holes), truncates, unlinks, and now and then
#      (one operation in 33) fsyncs a file or a directory. Every operation
#      but a write is one request to the daemon, so one atomic batch of the
#      engine (§5). It logs each operation
#      before making it, and each fsync after it returned, to a file outside
#      the mount;
#   2. after a random time (0.2 to 1.5 s) the power is cut under it;
#   3. `lsmctl STORE verify` must pass on what survived;
#   4. a new daemon mounts STORE, and every file is read through the mount.
#
# What is asserted after each cut (verify.py): the files (names, sizes,
# every byte) are exactly the state after some prefix of the writer's
# operations -- the engine recovers a prefix of its writes, and the writer
# makes one request at a time -- and that prefix includes every operation
# made before the last fsync that returned (fsync syncs the whole store,
# §5). One allowance: the operation after the prefix may be a write present
# in part, cut at a page boundary -- the kernel sends one write() as several
# requests (a first page it does not have cached goes alone; then up to
# max_write bytes each), and each request, not the syscall, is one batch. So a file that was fsync'ed is intact, and a file that was not is
# absent or in a state it really had, consistent with every other file: no
# torn write, no write lost while a later one survived. In the cycles whose
# cut is a crash of the process (mode "process": nothing unsynced is lost)
# the prefix must include every operation that returned, as after kill -9.
#
# The cycles rotate the cut (power: all that was not synced is lost; torn: a
# random part of each file's unsynced tail survives; process), the sync mode
# (-o sync=none: only fsync and memtable flushes sync; the default interval)
# and the memtable (a small one makes flushes and compactions run under the
# cut). LSMFS_POWERLOSS_CYCLES sets the number of cycles (default 20 x
# LSM_TEST_SCALE, at least 4);
# LSMFS_POWERLOSS_SEED the seed (default: random, printed);
# LSMFS_POWERLOSS_KEEP=DIR keeps, on a failure, the image the cut left, the
# writer's log and the state before the cycle in DIR. Exit 1 if a check
# failed, 77 if /dev/fuse is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" powerloss "$@"

# The hook is refused without LSMFS_TEST_HOOKS=1, and then creates nothing.
mkdir "$T/m0"
rc=0
env -u LSMFS_TEST_HOOKS "$LSMFS" -f -o test_powerloss "$T/refused" "$T/m0" >"$T/refused.out" 2>&1 || rc=$?
if [[ $rc == 1 ]] && grep -q LSMFS_TEST_HOOKS=1 "$T/refused.out" && [[ ! -e $T/refused ]]; then
    ok
else
    fail "-o test_powerloss without LSMFS_TEST_HOOKS=1: exit $rc, $(cat "$T/refused.out"), store created: $([[ -e $T/refused ]] && echo yes || echo no)"
fi
export LSMFS_TEST_HOOKS=1

STORE=$T/store
MNT=$T/mnt
CYCLES=${LSMFS_POWERLOSS_CYCLES:-$(awk -v s="${LSM_TEST_SCALE:-1}" 'BEGIN { n = int(20 * s); print n < 4 ? 4 : n }')}
SEED=${LSMFS_POWERLOSS_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "# seed $SEED (LSMFS_POWERLOSS_SEED=$SEED reproduces the writer's choices)"

cat >"$T/common.py" <<'EOF'
import random

def data(tag, n):
    """The n bytes that operation `tag` writes."""
    return random.Random(tag).randbytes(n)

def read_log(path):
    """The operations of a writer's log, in order, and how many of them an
    fsync that returned covers, and how many returned."""
    ops, synced, done = [], 0, 0
    for line in open(path):
        p = line.split()
        if not p:
            continue
        if p[0] == "op":
            assert int(p[1]) == len(ops), "log out of order: %r" % line
            ops.append(p[2:])
        elif p[0] == "synced":
            synced = max(synced, int(p[1]) + 1)
        elif p[0] == "ok":
            done = max(done, int(p[1]) + 1)
    return ops, synced, done

def apply(state, op, payload=None):
    """Apply one logged operation to state (name -> bytearray); a write
    writes payload if given (a part of its data), else all its data."""
    kind, name = op[0], op[1]
    if kind == "c":
        state.setdefault(name, bytearray())
    elif kind == "w":
        off, n, tag = int(op[2]), int(op[3]), op[4]
        if payload is None:
            payload = data(tag, n)
        b = state[name]
        if len(b) < off:
            b.extend(bytes(off - len(b)))
        b[off:off + len(payload)] = payload
    elif kind == "t":
        size = int(op[2])
        b = state[name]
        if size < len(b):
            del b[size:]
        else:
            b.extend(bytes(size - len(b)))
    elif kind == "u":
        del state[name]
    # "f" (fsync of a file) and "F" (of a directory) change nothing
EOF

cat >"$T/writer.py" <<'EOF'
import os, random, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from common import data
mnt, log_path, seed, state_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rnd = random.Random(seed)
log = open(log_path, "w", buffering=1)
# The files that exist now (the verified state), and their sizes.
sizes = {}
for line in open(state_path):
    name, size = line.split()
    sizes[name] = int(size)
names = ["f%02d" % i for i in range(12)] + ["d/g%02d" % i for i in range(12)]
# Every path is resolved from this descriptor of the mount's root: once the
# daemon is gone and the mount detached, operations fail instead of reaching
# the directory that was under the mount. O_PATH: it opens nothing in the
# daemon (a directory handle open when the session ends is never released).
root = os.open(mnt, os.O_PATH | os.O_DIRECTORY)
# A writer that starts late (python's start-up under load) could open the
# directory under a mount already gone, and its operations would "succeed"
# there: it works only on the mount (another device than the parent's), and
# says when it is ready, so that the cut comes while it writes.
if os.fstat(root).st_dev == os.stat(os.path.dirname(os.path.abspath(mnt))).st_dev:
    print("# writer: %s is not mounted" % mnt)
    sys.exit(1)
open(log_path + ".ready", "w").close()
i = 0

def op(*fields):
    log.write("op %d %s\n" % (i, " ".join(str(f) for f in fields)))

try:
    while True:
        name = rnd.choice(names)
        r = rnd.random()
        if name not in sizes:
            op("c", name)
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=root))
            sizes[name] = 0
        elif r < 0.70:
            size = sizes[name]
            off = rnd.randrange(size + 65536) if rnd.random() < 0.3 else rnd.randrange(size + 1)
            n = rnd.randrange(1, 120 * 1024 + 1) if rnd.random() < 0.4 else rnd.randrange(1, 8193)
            tag = "%d.%d" % (seed, i)
            op("w", name, off, n, tag)
            fd = os.open(name, os.O_WRONLY, dir_fd=root)
            try:
                if os.pwrite(fd, data(tag, n), off) != n:
                    raise OSError("short write")
            finally:
                os.close(fd)
            sizes[name] = max(size, off + n)
        elif r < 0.78:
            size = rnd.randrange(sizes[name] + 4096)
            op("t", name, size)
            fd = os.open(name, os.O_WRONLY, dir_fd=root)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
            sizes[name] = size
        elif r < 0.97:
            op("u", name)
            os.unlink(name, dir_fd=root)
            del sizes[name]
        elif r < 0.99:
            op("f", name)
            fd = os.open(name, os.O_RDONLY, dir_fd=root)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            log.write("synced %d\n" % i)
        else:
            d = "d" if name.startswith("d/") else "."
            op("F", d)
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY, dir_fd=root)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            log.write("synced %d\n" % i)
        log.write("ok %d\n" % i)
        i += 1
except OSError as e:
    print("# writer stopped at operation %d: %s" % (i, e))
EOF

cat >"$T/verify.py" <<'EOF'
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from common import apply, data, read_log
mnt, log_path, state_path, mode = sys.argv[1:5]
ops, synced, done = read_log(log_path)

def read_tree():
    got = {}
    for dirpath, dirs, files in os.walk(mnt):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                got[os.path.relpath(p, mnt)] = bytes(fh.read())
    return got

before = {}
for line in open(state_path):
    name, size = line.split()
    before[name] = None
got = read_tree()
# The state before the cycle: what the previous check saw (its bytes are in
# state.data, written by the previous run of this script).
data_path = state_path + ".data"
state = {}
if os.path.exists(data_path):
    import pickle
    with open(data_path, "rb") as fh:
        state = {k: bytearray(v) for k, v in pickle.load(fh).items()}
assert set(state) == set(before)

# The prefixes that match: after k operations, for k from 0 to all of them.
# `differ` holds the names whose bytes differ between the model and the
# mount; an operation changes one name, so only that one is compared again.
must = done if mode == "process" else synced
matches = []
model = {k: bytearray(v) for k, v in state.items()}
differ = {n for n in set(model) | set(got) if model.get(n) != got.get(n)}
best = (0, len(differ))  # the prefix closest to the files: (k, names differing)
partial = {}  # k -> bytes of write k+1 in the files, when it was cut short
for k in range(len(ops) + 1):
    if k > 0:
        op = ops[k - 1]
        apply(model, op)
        if op[0] in "cwtu":
            n = op[1]
            if model.get(n) == got.get(n):
                differ.discard(n)
            else:
                differ.add(n)
    if k >= must and not differ:
        matches.append(k)
    elif k >= must and k < len(ops) and ops[k][0] == "w" and differ == {ops[k][1]}:
        # Write k+1 cut short: the kernel sends a write() as several requests,
        # split at page boundaries (a first partial page it does not have
        # cached goes alone), each one atomic: the file may hold a prefix of
        # them.
        name, off, n, tag = ops[k][1], int(ops[k][2]), int(ops[k][3]), ops[k][4]
        for b in range((off // 4096 + 1) * 4096, off + n, 4096):
            part = {name: bytearray(model[name])}
            apply(part, ["w", name, off, b - off, tag], data(tag, n)[:b - off])
            if part[name] == got.get(name):
                matches.append(k)
                partial[k] = b - off
                break
    if k == 0 or len(differ) < best[1]:
        best = (k, len(differ))
if not matches:
    # Describe the difference from the state the check needed at least.
    model = {k: bytearray(v) for k, v in state.items()}
    for op in ops[:must]:
        apply(model, op)
    lines = []
    for name in sorted(set(model) | set(got)):
        a, b = model.get(name), got.get(name)
        if a == b:
            continue
        if a is None:
            lines.append("%s: exists (%d bytes), absent after the required prefix" % (name, len(b)))
        elif b is None:
            lines.append("%s: missing, %d bytes after the required prefix" % (name, len(a)))
        else:
            i = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
            lines.append("%s: %d bytes, %d after the required prefix, first difference at %d"
                         % (name, len(b), len(a), i))
    print("NOT A PREFIX: the files are the state after no prefix of the %d operations that "
          "includes the first %d (%s); against the state after %d operations:"
          % (len(ops), must, "every one that returned" if mode == "process"
             else "every one before the last fsync that returned", must))
    for l in lines[:12]:
        print("  " + l)
    print("  (closest prefix: %d operations, %d names differ%s)"
          % (best[0], best[1], "; " + " ".join(ops[best[0]]) if 0 < best[0] < len(ops)
             and best[1] == 0 else ""))
    sys.exit(1)
k = matches[-1]
print("# %d operations logged, %d returned, %d covered by an fsync; the files are the state "
      "after %s of them%s (%d files, %d bytes)"
      % (len(ops), done, synced, "%d" % k if len(matches) == 1 else
         "%d..%d" % (matches[0], matches[-1]),
         " and the first %d bytes of write %d (the kernel's first requests of it)"
         % (partial[k], k) if k in partial else "",
         len(got), sum(len(v) for v in got.values())))
import pickle
with open(data_path, "wb") as fh:
    pickle.dump({k: bytes(v) for k, v in got.items()}, fh)
with open(state_path, "w") as fh:
    for name in sorted(got):
        fh.write("%s %d\n" % (name, len(got[name])))
EOF

: >"$T/state"
modes=(power torn power process)
must_mount "$STORE" "$MNT" -o test_powerloss
mkdir "$MNT/d"
python3 -c "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)" "$MNT"

for cycle in $(seq 1 "$CYCLES"); do
    mode=${modes[$(((cycle - 1) % 4))]}
    DAEMON=${FS_PID[$MNT]}
    rm -f "$T/log.ready"
    python3 "$T/writer.py" "$MNT" "$T/log" "$((SEED + cycle))" "$T/state" >"$T/writer.out" 2>&1 &
    WRITER=$!
    # The cut comes a while after the writer has begun, not after it was
    # started: under load python alone can take longer than the delay.
    for _ in $(seq 600); do
        [[ -e $T/log.ready ]] && break
        kill -0 "$WRITER" 2>/dev/null || break
        sleep 0.05
    done
    [[ -e $T/log.ready ]] || die "cycle $cycle: the writer did not start: $(cat "$T/writer.out")"
    delay=$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 1.5 * r / 32767 }')
    sleep "$delay"
    kill -USR1 "$DAEMON"
    # The daemon ends the mount and writes the image; then it exits 0.
    rc=0
    for _ in $(seq 300); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DAEMON" 2>/dev/null; then
        fail "cycle $cycle: the daemon did not exit within 30 s of SIGUSR1"
        kill -9 "$DAEMON" 2>/dev/null || true
    fi
    wait "$DAEMON" || rc=$?
    FS_PID[$MNT]=
    [[ $rc == 0 ]] && ok || fail "cycle $cycle: the daemon exited with status $rc after the power cut"
    for _ in $(seq 300); do kill -0 "$WRITER" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$WRITER" 2>/dev/null; then
        fail "cycle $cycle: the writer did not stop within 30 s of the power cut"
        kill -9 "$WRITER" 2>/dev/null || true
    fi
    wait "$WRITER" 2>/dev/null || true
    fs_is_mounted "$MNT" && fusermount3 -u -z "$MNT" 2>/dev/null
    fs_is_mounted "$MNT" && die "cycle $cycle: still mounted after the power cut"
    check "cycle $cycle: lsmctl verify of what survived" "$LSMCTL" "$STORE" verify
    rm -rf "$T/image" && cp -a "$STORE" "$T/image" # as the cut left it, for a report
    # Up again, with the next cycle's options.
    opts=test_powerloss=${modes[$((cycle % 4))]}
    ((cycle % 2)) && opts+=,sync=none
    ((cycle % 3 == 0)) && opts+=,memtable=256K
    if ! fs_mount "$STORE" "$MNT" -o "$opts"; then
        fail "cycle $cycle: the store does not mount after the power cut"
        break
    fi
    ok
    if out=$(python3 "$T/verify.py" "$MNT" "$T/log" "$T/state" "$mode" 2>&1); then
        ok
        echo "# cycle $cycle ($mode cut after ${delay}s, $(tail -n 1 "$T/writer.out" | sed 's/^# //')):"
        echo "$out"
    else
        fail "cycle $cycle ($mode cut after ${delay}s): $out"
        if [[ -n ${LSMFS_POWERLOSS_KEEP:-} ]]; then
            mkdir -p "$LSMFS_POWERLOSS_KEEP"
            cp -a "$T/image" "$T/log" "$T/state" "$T/state.data" "${FS_LOG[$MNT]}" \
                "$LSMFS_POWERLOSS_KEEP"/ 2>/dev/null || true
            echo "# the image the cut left, the writer's log and the state before the cycle: $LSMFS_POWERLOSS_KEEP"
        fi
        # The next cycle's model would start from a wrong state.
        break
    fi
done
must_unmount "$MNT"
check "lsmctl verify after the last clean unmount" "$LSMCTL" "$STORE" verify
finish

#!/usr/bin/env bash
#
# test_fs_lookup.sh -- what resolving a name costs the engine, run by ctest as
#
#     bash tests/fs/test_fs_lookup.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# A lookup must be point reads: the name's metadata record and its value's
# size, and no iterator -- the question "is anything below this name?" is
# answered by the engine's prefix filters (docs/FS.md §2, FORMAT.md §6.7.1).
# The engine's counters come from the root's virtual attribute lsmfs.stats.
#   1. 2,000 files in 20 directories written through the mount, and keys a
#      program wrote before (lib/a/b/c: implied directories lib and lib/a);
#   2. after a remount (a daemon that knows no name), stat of every file:
#      at most a handful of iterators for 2,000 lookups (the implied
#      directories need one each; a filter's false positive one);
#   3. after the kernel forgot the names (drop_caches), the same stats again
#      with the working set in the block cache: no block read (in one of up
#      to three rounds: a background compaction may replace a table between
#      two), and no more iterators than the first time;
#   4. the implied directories are still directories, and a file below a
#      file name (a key "x" and a key "x/y") still shows both;
#   5. lsmfs.stats cannot be set or removed, and is not listed;
#   6. with -o inline=256 (files stored apart from their names), ls -f of
#      2,000 files of 4 KiB reads under 200 blocks (the files fill 2,000)
#      and mv of their directory writes under 2 MiB in the daemon (wchar),
#      not the 8 MB the files hold, and the files are intact;
#   7. each name is resolved once per request (docs/FS.md §8): after the
#      kernel's lookup of a name, unlink, rename, chmod and stat read none
#      of what the lookup read (the name's record, its value's size, the
#      prefix checks for keys below it) -- only what the lookup did not
#      (the parent's record, attribute scans); and what is reused is never
#      stale: sizes, modes, hard links' shared attributes (changed through
#      the other name, or through a descriptor of it unlinked while open),
#      names removed and made again, an O_TMPFILE file linked where a name
#      was just found absent all show their new state at once
#      (attr_timeout=0, so every stat reaches the daemon);
#   8. with -o inline=256, a read of a file the kernel just looked up reads
#      its contents where the lookup found them, with no lookup of its name
#      (no value lookup), and reads by name whatever changed since.
#
# Exit 0 if every check passed, 1 otherwise, 77 when /dev/fuse is missing.
set -u
source "$(dirname "$0")/fslib.sh" lookup "$@"

S=$T/store
M=$T/mnt
mkdir -p "$M"

# counter NAME: the value of one line of lsmfs.stats ("iterators created  N");
# stops the test if the attribute or the line is missing.
counter() {
    local v
    v=$(getfattr --only-values -n lsmfs.stats "$M" 2>/dev/null |
        awk -v n="$1" 'index($0, n) == 1 { sub(n, ""); print $1 + 0; exit }')
    [[ -n $v ]] || die "no '$1' in lsmfs.stats of $M"
    echo "$v"
}

"$LSMCTL" "$S" put lib/a/b/c program-wrote-this >/dev/null || die "lsmctl put"
"$LSMCTL" "$S" put x file-x >/dev/null || die "lsmctl put"
"$LSMCTL" "$S" put x/y below-x >/dev/null || die "lsmctl put"

must_mount "$S" "$M"
for d in $(seq 0 19); do
    mkdir "$M/d$d"
    for f in $(seq 0 99); do
        echo "file $d/$f" >"$M/d$d/f$f"
    done
done
must_unmount "$M"

# ---- 2. a fresh daemon: every lookup resolves a name it does not know ----
must_mount "$S" "$M"
it0=$(counter "iterators created")
for d in $(seq 0 19); do
    (cd "$M/d$d" && stat -c %s f{0..99} >/dev/null) || fail "stat in d$d"
done
it1=$(counter "iterators created")
first=$((it1 - it0))
echo "# 2,000 lookups after a remount: $first iterators"
((first <= 10)) && ok || fail "2,000 lookups made $first iterators (expected at most 10)"

# ---- 3. the same names again, from the block cache ----
# A background compaction may replace tables between two rounds (a new
# table's blocks are read once): up to three rounds, one must read nothing.
# A block read from the file, or used for the first time through the
# table's mapping (mmap_reads), is a block cache miss; "data blocks read"
# counts every use of a mapped block.
cached=0
for round in 2 3 4; do
    sync
    # The kernel forgets the names, so the stats below reach the daemon
    # again (checked: its point reads, "gets", rise by one per file).
    echo 2 >/proc/sys/vm/drop_caches || die "cannot drop the kernel's dentry cache (needs root)"
    sleep 1
    g0=$(counter "gets")
    b0=$(counter "block cache misses")
    it2=$(counter "iterators created")
    for d in $(seq 0 19); do
        (cd "$M/d$d" && stat -c %s f{0..99} >/dev/null) || fail "stat in d$d (round $round)"
    done
    b1=$(counter "block cache misses")
    it3=$(counter "iterators created")
    g1=$(counter "gets")
    ((g1 - g0 >= 2000)) && ok || fail "round $round made $((g1 - g0)) point reads: the kernel answered the stats itself"
    echo "# 2,000 lookups, round $round: $((it3 - it2)) iterators, $((b1 - b0)) blocks read"
    ((it3 - it2 <= first)) && ok || fail "$((it3 - it2)) iterators in round $round, $first in the first"
    if ((b1 - b0 == 0)); then
        cached=1
        break
    fi
done
((cached)) && ok || fail "every round of 2,000 cached lookups read blocks (cache misses; expected a round with 0)"

# ---- 4. implied directories and a shadowed pair are still right ----
[[ -d $M/lib && -d $M/lib/a && -d $M/lib/a/b ]] && ok || fail "implied directories lib/a/b are not directories"
[[ $(cat "$M/lib/a/b/c" 2>&1) == program-wrote-this ]] && ok || fail "lib/a/b/c: $(cat "$M/lib/a/b/c" 2>&1)"
[[ -d $M/x && $(cat "$M/x/y" 2>&1) == below-x ]] && ok || fail "x is not a directory holding y"
[[ $(cat "$M/%x78" 2>&1) == file-x ]] && ok || fail "the file x is not shown as %x78: $(ls -a "$M")"
[[ $(cat "$M/d7/f42") == "file 7/42" ]] && ok || fail "d7/f42: $(cat "$M/d7/f42")"

# ---- 5. the statistics attribute is read-only and not listed ----
setfattr -n lsmfs.stats -v x "$M" 2>/dev/null && fail "setting lsmfs.stats succeeded" || ok
setfattr -x lsmfs.stats "$M" 2>/dev/null && fail "removing lsmfs.stats succeeded" || ok
getfattr -d -m - "$M" 2>/dev/null | grep -q lsmfs.stats && fail "lsmfs.stats is listed" || ok
getfattr --only-values -n lsmfs.stats "$M/d1" >/dev/null 2>&1 && fail "lsmfs.stats on a subdirectory" || ok

must_unmount "$M"
check "lsmctl verify" "$LSMCTL" "$S" verify

# ---- 6. -o inline=256: a listing reads names, a rename moves names ----
# 2,000 files of 4 KiB (8 MB) stored apart from their names: after a
# remount, ls -f of their directory reads a small part of their blocks and
# mv of it writes a small part of their bytes; with -o inline=64K (the
# default before 256; stated here so the test keeps its meaning) both
# touch every file.
S2=$T/store2
must_mount "$S2" "$M" -o inline=256
mkdir "$M/big"
python3 -c '
import sys
for i in range(2000):
    with open("%s/big/f%d" % (sys.argv[1], i), "wb") as f:
        f.write(bytes([i % 251]) * 4096)
' "$M" || fail "writing 2,000 files"
must_unmount "$M"
must_mount "$S2" "$M" -o inline=256
pid=${FS_PID[$M]}
wchar() { awk '/^wchar/ { print $2 }' "/proc/$pid/io"; }
b0=$(counter "block cache misses")
n=$(ls -f "$M/big" | wc -l)
b1=$(counter "block cache misses")
echo "# ls -f of 2,000 files of 4 KiB: $((b1 - b0)) blocks read"
[[ $n == 2002 ]] && ok || fail "ls -f listed $n entries (expected 2002)"
# Names and descriptors of 2,000 files fill a few dozen 4 KiB blocks; the
# files themselves fill 2,000.
((b1 - b0 < 200)) && ok || fail "ls -f read $((b1 - b0)) blocks (expected under 200; the files fill 2,000)"
w0=$(wchar)
check "mv of the directory" mv "$M/big" "$M/moved"
w1=$(wchar)
echo "# mv of the directory: the daemon wrote $(((w1 - w0) / 1024)) KiB"
((w1 - w0 < 2 * 1024 * 1024)) && ok || fail "mv wrote $((w1 - w0)) bytes (expected under 2 MiB: names, not contents)"
python3 -c '
import sys
for i in range(2000):
    with open("%s/moved/f%d" % (sys.argv[1], i), "rb") as f:
        if f.read() != bytes([i % 251]) * 4096:
            sys.exit("f%d differs after the move" % i)
' "$M" && ok || fail "contents after the move"
must_unmount "$M"
check "lsmctl verify of the second store" "$LSMCTL" "$S2" verify

# ---- 7. one resolution per name and request ----
# The engine's reads per operation, 50 files each, measured around the
# operation alone (the kernel's lookup before it is not counted): "gets"
# are record reads (attributes included), "value lookups" value sizes,
# "prefix checks" the questions "is anything below this name?" the filters
# answered. First with the kernel's attribute cache on (it keeps the
# directory's attributes and ACLs, so each count is the operation's own),
# then with attr_timeout=0 (every stat reaches the daemon).
S3=$T/store3
cat >"$T/reads.py" <<'PY'
import os, sys
M, what = sys.argv[1], sys.argv[2]
NAMES = ["gets", "value lookups", "prefix checks", "iterators created"]
def stats():
    out = {}
    for line in os.getxattr(M, "lsmfs.stats").decode().splitlines():
        for k in NAMES:
            if line.startswith(k + " "):
                out[k] = int(line[len(k):].split()[0])
    return out
def cost(fn):
    a = stats(); fn(); b = stats()
    return {k: b[k] - a[k] for k in a}
d = os.path.join(M, what)
os.mkdir(d)
N = 50
names = lambda i: [os.path.join(d, "%s%d" % (p, i)) for p in "abc"]
for i in range(N):
    for f in names(i):
        with open(f, "w") as fh:
            fh.write("x" * (i + 1))
os.sync()
open("/proc/sys/vm/drop_caches", "w").write("2") # the kernel forgets the names
ops = {}
def count(op, fn):
    c = cost(fn)
    t = ops.setdefault(op, dict.fromkeys(NAMES, 0))
    for k in NAMES:
        t[k] += c[k]
if what == "ops":
    for i in range(N):
        a, b, c = names(i)
        count("lookup", lambda: os.lstat(a))
        count("unlink", lambda: os.unlink(a))
        os.lstat(b)
        count("rename", lambda: os.rename(b, b + "-moved"))
        os.lstat(c)
        count("chmod", lambda: os.chmod(c, 0o600))
else:
    for i in range(N):
        count("lookup", lambda: os.lstat(names(i)[0]))
    for i in range(N):
        count("stat", lambda: os.lstat(names(i)[0]))
bad = 0
def expect(op, most):
    global bad
    t = ops[op]
    print("# %-6s x%d: %s" % (op, N, ", ".join("%s %d" % (k, t[k]) for k in NAMES)))
    for k, v in most.items():
        if t[k] > v * N:
            print("FAIL: %d %s: %d %s (expected at most %d each)" % (N, op, t[k], k, v))
            bad = 1
# A lookup reads the record, the size and asks the filters: the baseline
# (the first one looks the directory up again too).
expect("lookup", {"gets": 2, "value lookups": 1, "prefix checks": 2})
if what == "ops":
    # unlink: the parent's record (its times) and the attribute scan only.
    expect("unlink", {"gets": 1, "value lookups": 0, "prefix checks": 0, "iterators created": 1})
    # rename to a new name: the kernel's lookup of the new name (1 get, 1
    # size, 2 prefix checks) and the parent's record; the old name and the
    # new one are not read again.
    expect("rename", {"gets": 2, "value lookups": 1, "prefix checks": 2, "iterators created": 1})
    # chmod: the access ACL it rewrites (a get); nothing of the name.
    expect("chmod", {"gets": 1, "value lookups": 0, "prefix checks": 0})
else:
    # Nothing changed since the lookups: the stats read nothing.
    expect("stat", {"gets": 0, "value lookups": 0, "prefix checks": 0, "iterators created": 0})
sys.exit(bad)
PY
must_mount "$S3" "$M"
python3 "$T/reads.py" "$M" ops || fail "engine reads of unlink, rename, chmod after a lookup (above)"
must_unmount "$M"
must_mount "$S3" "$M" -o attr_timeout=0
python3 "$T/reads.py" "$M" stat || fail "engine reads of stat after a lookup (above)"

# What is reused is never stale (attr_timeout=0: every stat reaches the daemon).
python3 - "$M" <<'PY' || fail "a reused resolution was stale (above)"
import ctypes, os, stat, sys
M = sys.argv[1]
d = os.path.join(M, "s")
os.mkdir(d)
p = lambda n: os.path.join(d, n)
bad = 0
def want(what, got, exp):
    global bad
    if got != exp:
        print("FAIL: %s: %r, expected %r" % (what, got, exp))
        bad = 1
with open(p("f"), "w") as f:
    f.write("12345")
want("size", os.lstat(p("f")).st_size, 5)
with open(p("f"), "a") as f:      # a write through an open file
    f.write("678")
    f.flush()
    want("size after an append", os.lstat(p("f")).st_size, 8)
os.truncate(p("f"), 2)
want("size after a truncate", os.lstat(p("f")).st_size, 2)
os.link(p("f"), p("g"))           # hard links: one inode record for both
want("nlink", os.lstat(p("f")).st_nlink, 2)
os.chmod(p("g"), 0o640)
want("mode through the other name", stat.S_IMODE(os.lstat(p("f")).st_mode), 0o640)
fd = os.open(p("g"), os.O_RDWR)  # a descriptor of a name unlinked while open
os.unlink(p("g"))
want("nlink after unlinking the other name", os.lstat(p("f")).st_nlink, 1)
os.ftruncate(fd, 7)               # reaches the shared record, not the name's
os.fchmod(fd, 0o600)
want("size and mode through the unlinked name",
     (os.lstat(p("f")).st_size, stat.S_IMODE(os.lstat(p("f")).st_mode)), (7, 0o600))
os.close(fd)
os.truncate(p("f"), 2)
want("absent name", os.path.lexists(p("t")), False)   # kept absent on s
try:                              # an unnamed file linked there (FS.md §5)
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o644)
except OSError as e:
    print("note: O_TMPFILE: %s (not checked)" % e)
else:
    os.write(fd, b"tmp")
    libc = ctypes.CDLL(None, use_errno=True)   # linkat(..., AT_SYMLINK_FOLLOW)
    if libc.linkat(-100, b"/proc/self/fd/%d" % fd, -100, p("t").encode(), 0x400) != 0:
        print("FAIL: linkat of the unnamed file: %s" % os.strerror(ctypes.get_errno()))
        bad = 1
    os.close(fd)
    want("linked unnamed file", os.lstat(p("t")).st_size, 3)
    os.unlink(p("t"))
os.unlink(p("f"))
want("unlinked", os.path.lexists(p("f")), False)
with open(p("f"), "w") as f:      # the same name again: a new file
    f.write("new file")
want("size of the new file", os.lstat(p("f")).st_size, 8)
os.mkdir(p("x"))                  # a name that was a directory becomes a file
os.rmdir(p("x"))
want("absent", os.path.lexists(p("x")), False)
os.rename(p("f"), p("x"))
want("renamed", (os.path.isfile(p("x")), os.path.lexists(p("f"))), (True, False))
with open(p("y"), "w") as f:
    f.write("y")
os.lstat(p("y"))
os.rename(p("x"), p("y"))         # over a name the kernel just looked up
want("rename over a known name", open(p("y")).read(), "new file")
with open(p("%x2e"), "w") as f:   # escaped names (FS.md 2.1): the key "."
    f.write("dot")
want("escaped name", os.lstat(p("%x2e")).st_size, 3)
os.unlink(p("%x2e"))
want("escaped name unlinked", os.path.lexists(p("%x2e")), False)
os.mkdir(p("l"))                  # a file shadowed by a directory: "%x6c"
with open(p("l/in"), "w") as f:
    f.write("in")
with open(p("%x6c"), "w") as f:
    f.write("abc")
want("shadowed file", (os.lstat(p("%x6c")).st_size, os.path.isdir(p("l"))), (3, True))
os.unlink(p("%x6c"))
want("shadowed file unlinked", (os.path.lexists(p("%x6c")), os.path.isdir(p("l"))), (False, True))
os.unlink(p("l/in"))
os.rmdir(p("l"))
want("its directory removed", os.path.lexists(p("l")), False)
sys.exit(bad)
PY
must_unmount "$M"
check "lsmctl verify of the third store" "$LSMCTL" "$S3" verify

# ---- 8. a read after a lookup does not look the name up again ----
# Files stored apart from their names (-o inline=256): the lookup found
# where the contents lie, and while nothing in the store changed the read
# goes straight to them (no value lookup: the descriptor beside the name is
# not read again). Whatever changed since is read by name: new contents
# written, a file renamed over the name, truncations (one below the
# threshold: the file is inline again and its chunks are gone).
S4=$T/store4
cat >"$T/readat.py" <<'PY'
import os, sys
M, what = sys.argv[1], sys.argv[2]
N = 50
d = os.path.join(M, "r")
body = lambda i, tag=b"": (tag + bytes([65 + i % 26])) * (4096 // (len(tag) + 1))
def stats():
    for line in os.getxattr(M, "lsmfs.stats").decode().splitlines():
        if line.startswith("value lookups "):
            return int(line.split()[2])
    sys.exit("no value lookups in lsmfs.stats")
def read(p):
    with open(p, "rb") as f:
        return f.read()
if what == "write":
    os.mkdir(d)
    for i in range(N):
        with open(os.path.join(d, "f%d" % i), "wb") as f:
            f.write(body(i))
    sys.exit(0)
bad = 0
def want(what, got, exp):
    global bad
    if got != exp:
        print("FAIL: %s" % what)
        bad = 1
R = N - 10                       # f0..: read; the last ten only looked up
lookups = 0
for i in range(N):
    p = os.path.join(d, "f%d" % i)
    os.lstat(p)                  # the kernel's lookup
    if i >= R:
        continue                 # no page cache: their reads below reach the daemon
    a = stats()
    data = read(p)
    lookups += stats() - a
    want("contents of f%d" % i, data, body(i))
print("# value lookups of %d reads after their lookups: %d" % (R, lookups))
want("value lookups of %d reads after a lookup: %d, expected 0" % (R, lookups), lookups, 0)
p = lambda i: os.path.join(d, "f%d" % (R + i))
with open(p(0), "r+b") as f:     # new contents, the same length
    f.write(body(R, b"new"))
want("rewritten contents", read(p(0)), body(R, b"new"))
os.rename(p(2), p(1))            # over a name looked up
want("contents after a rename over it", read(p(1)), body(R + 2))
os.truncate(p(3), 300)
want("contents after a truncation", read(p(3)), body(R + 3)[:300])
os.truncate(p(4), 100)           # below 256: inline again, its chunks deleted
want("contents after a truncation below the threshold", read(p(4)), body(R + 4)[:100])
with open(p(5), "ab") as f:      # appended while another descriptor reads
    g = open(p(5), "rb")
    f.write(b"tail")
    f.flush()
    want("contents after an append", g.read(), body(R + 5) + b"tail")
    g.close()
os.unlink(p(6))                  # a new file under a name looked up before
with open(p(6), "wb") as f:
    f.write(body(7, b"other"))
want("contents of a file made again", read(p(6)), body(7, b"other"))
sys.exit(bad)
PY
must_mount "$S4" "$M" -o inline=256
python3 "$T/readat.py" "$M" write || fail "writing files stored apart"
must_unmount "$M"
# (The kernel's attribute cache on: with attr_timeout=0 its getattr before
# each read would resolve the name again.)
must_mount "$S4" "$M" -o inline=256
python3 "$T/readat.py" "$M" read && ok || fail "reads after a lookup (above)"
must_unmount "$M"
check "lsmctl verify of the fourth store" "$LSMCTL" "$S4" verify
finish

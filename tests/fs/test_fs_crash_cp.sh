#!/usr/bin/env bash
#
# test_fs_crash_cp.sh -- kill -9 of the daemon in the middle of `cp -a` of a
# tree, run by ctest as
#
#     bash tests/fs/test_fs_crash_cp.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# A generated tree (8 parts of about 7 MiB: nested directories, files of 0
# bytes to 100 KB and of 1 to 3 MB -- values stored whole and in chunks --,
# symbolic links, an empty directory; modes and times set) is copied into
# the mount one part at a time: `cp -a PART MNT/` then `sync MNT/PART` (an
# fsync of the directory: lsmfs syncs the whole store; `sync -f` would be
# syncfs(2), which the kernel does not send to FUSE daemons, docs/FS.md §7),
# and the part is logged as done. The daemon is killed with SIGKILL in the
# middle of a part (at a random point of the time a part took), three times; after each kill the store mounts again and:
#   - every part logged as done is intact: contents (diff -r), and the type,
#     mode, size and modification time of every entry, symlink targets;
#   - in the part cp was copying, every regular file there is a prefix,
#     byte for byte, of its source (cp writes a file from its start; docs/FS.md
#     §5 promises that what was written survives kill -9, but which bytes cp
#     had written is not known);
#   - after the unmount `lsmctl verify` passes.
# The interrupted part is then removed with rm -rf and the copy goes on from
# it; at the end the whole tree is compared again, through a remount.
# Exit 1 if a check failed, 77 if /dev/fuse is missing.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/fslib.sh" crash_cp "$@"

STORE=$T/store
MNT=$T/mnt
SRC=$T/src
PARTS=8
KILLS=3

python3 - "$SRC" "$PARTS" <<'EOF'
import os, random, sys
src, parts = sys.argv[1], int(sys.argv[2])
rnd = random.Random(20261207)
t0 = 1700000000
for p in range(parts):
    base = os.path.join(src, "part%d" % p)
    dirs = [base]
    for d in range(6):
        parent = rnd.choice(dirs)
        path = os.path.join(parent, "dir%d" % d)
        os.makedirs(path)
        dirs.append(path)
    os.makedirs(os.path.join(base, "empty"))
    for f in range(40):
        size = rnd.randrange(1000000, 3000000) if f % 16 == 0 else rnd.randrange(100000) if f % 5 else 0
        path = os.path.join(rnd.choice(dirs), "file%02d.bin" % f)
        with open(path, "wb") as fh:
            fh.write(rnd.randbytes(size))
        os.chmod(path, rnd.choice([0o644, 0o600, 0o755, 0o640]))
        os.utime(path, ns=((t0 + rnd.randrange(10**8)) * 10**9 + rnd.randrange(10**9),) * 2)
    for s in range(3):
        os.symlink("file%02d.bin" % rnd.randrange(40), os.path.join(rnd.choice(dirs), "link%d" % s))
    for d in reversed(dirs):
        os.utime(d, ns=((t0 + rnd.randrange(10**8)) * 10**9,) * 2)
EOF
echo "# source tree: $(find "$SRC" | wc -l) entries, $(du -sb "$SRC" | cut -f1) bytes in $PARTS parts"

# listing DIR: type, mode, size (files), mtime (not of symlinks), link target,
# for every entry under DIR, sorted.
listing() {
    (cd "$1" && find . -mindepth 1 \( -type f -printf '%P f %m %s %T@\n' \) -o \
        \( -type d -printf '%P d %m %T@\n' \) -o \( -type l -printf '%P l -> %l\n' \) | sort)
}
# part_intact I: part I of the mount is the source's part I.
part_intact() {
    local i=$1
    if ! out=$(diff -r --no-dereference "$SRC/part$i" "$MNT/part$i" 2>&1); then
        fail "part $i (copied and fsync'ed before the kill) differs: $(head -c 2000 <<<"$out")"
        return
    fi
    if ! out=$(diff <(listing "$SRC/part$i") <(listing "$MNT/part$i") 2>&1); then
        fail "part $i (copied and fsync'ed before the kill): types, modes, sizes or times differ: $(head -c 2000 <<<"$out")"
        return
    fi
    ok
}
# part_prefix I: every regular file of part I in the mount is a prefix of its source.
part_prefix() {
    local i=$1 n=0 bad=0 f size
    [[ -d $MNT/part$i ]] || { ok; return; }
    while IFS= read -r -d '' f; do
        size=$(stat -c %s "$MNT/part$i/$f")
        if [[ ! -f $SRC/part$i/$f ]] || ((size > $(stat -c %s "$SRC/part$i/$f"))) ||
            ! cmp -s -n "$size" "$SRC/part$i/$f" "$MNT/part$i/$f"; then
            fail "part $i (being copied at the kill): $f ($size bytes) is not a prefix of its source"
            bad=1
        fi
        n=$((n + 1))
    done < <(cd "$MNT/part$i" && find . -type f -printf '%P\0')
    ((bad == 0)) && ok
    echo "# part $i was being copied: $n files there, each a prefix of its source"
}

: >"$T/done"
next=0
must_mount "$STORE" "$MNT"
for kill in $(seq 1 "$KILLS"); do
    DAEMON=${FS_PID[$MNT]}
    date +%s.%N >"$T/start"
    (
        for ((i = next; i < PARTS; i++)); do
            cp -a "$SRC/part$i" "$MNT/" && sync "$MNT/part$i" || exit 1
            echo "$i $(date +%s.%N)" >>"$T/done"
        done
    ) >"$T/cp.out" 2>&1 &
    COPIER=$!
    # Let a part or two finish, then kill in the middle of the next one: at
    # a random point of the time one part took so far.
    target=$((next + 1 + RANDOM % 2))
    for _ in $(seq 6000); do
        (($(wc -l <"$T/done") >= target)) && break
        kill -0 "$COPIER" 2>/dev/null || break
        sleep 0.005
    done
    sleep "$(awk -v n="$((target - next))" -v r="$RANDOM" -v t0="$(cat "$T/start")" \
        '{ t = $2 } END { printf "%.3f", (t - t0) / n * 0.9 * r / 32767 }' "$T/done")"
    kill -9 "$DAEMON"
    wait "$DAEMON" 2>/dev/null || true
    FS_PID[$MNT]=
    for _ in $(seq 300); do kill -0 "$COPIER" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$COPIER" 2>/dev/null && { fail "kill $kill: cp did not stop within 30 s"; kill -9 "$COPIER"; }
    wait "$COPIER" 2>/dev/null || true
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    fs_is_mounted "$MNT" && die "kill $kill: the dead mount is still mounted"
    ndone=$(wc -l <"$T/done")
    echo "# kill $kill: $ndone parts copied and fsync'ed; cp: $(tail -n 1 "$T/cp.out")"
    if ! fs_mount "$STORE" "$MNT"; then
        fail "kill $kill: the store does not mount again after kill -9"
        break
    fi
    ok
    for ((i = 0; i < ndone; i++)); do part_intact "$i"; done
    if ((ndone < PARTS)); then
        part_prefix "$ndone"
        check "kill $kill: rm -rf of the interrupted part" rm -rf "$MNT/part$ndone"
    fi
    next=$ndone
    must_unmount "$MNT"
    check "kill $kill: lsmctl verify" "$LSMCTL" "$STORE" verify
    must_mount "$STORE" "$MNT"
done
# The rest, without a kill; then everything, through a remount.
for ((i = next; i < PARTS; i++)); do
    check "cp -a of part $i" cp -a "$SRC/part$i" "$MNT/"
done
must_unmount "$MNT"
must_mount "$STORE" "$MNT"
for ((i = 0; i < PARTS; i++)); do part_intact "$i"; done
must_unmount "$MNT"
check "lsmctl verify at the end" "$LSMCTL" "$STORE" verify
finish

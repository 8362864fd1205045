#!/usr/bin/env bash
#
# test_fs_mount_helper.sh -- lsmfs through mount(8): the helper mount.lsmfs
# (fs/mount.lsmfs.in; docs/FS.md §6, lsmfs(8)), run by ctest as
#
#     bash tests/fs/test_fs_mount_helper.sh LSMFS LSMCTL MOUNT_HELPER
#
#   - the helper's own command line: --help; option translation (what
#     mount(8), systemd and the fstab reader use is dropped, ro/rw last one
#     wins, the rest reaches lsmfs), seen with -f -v, which runs nothing;
#     usage errors exit 1;
#   - `mount -t lsmfs STORE MNT` mounts (type fuse.lsmfs, source STORE) with
#     the built lsmfs as the daemon; a file written there is read back, and
#     after `umount MNT` the daemon exits and the file is a key lsmctl reads;
#   - `mount -t lsmfs -o ro` serves reads and refuses writes (EROFS);
#   - an fstab line `STORE MNT lsmfs defaults,_netdev 0 0` in a temporary
#     fstab (`mount -T FSTAB MNT`) mounts read-write; one with
#     `ro,nofail,x-test=1` mounts read-only;
#   - the line `STORE MNT fuse.lsmfs defaults 0 0`, which mount(8) hands to
#     mount.fuse3 (it runs the `lsmfs` on its standard PATH), mounts too;
#   - a bad lsmfs option through mount(8) fails with lsmfs's message and
#     mounts nothing.
#
# How mount(8) finds the built helper. util-linux 2.38 runs helpers only from
# /sbin, /sbin/fs.d and /sbin/fs (man mount, "External helpers"; no variable
# or option changes that), and mount.fuse3 finds lsmfs on a PATH that mount(8)
# resets to the standard one (/usr/local/sbin first). Rather than writing
# into those directories on the host -- a leftover if the test is killed, a
# clash with an installed lsmfs -- the script re-runs itself in a private
# mount namespace (unshare --mount --propagation private) and there lays a
# read-only overlay over /sbin (its real directory: /usr/sbin on Debian) and
# /usr/local/sbin, whose upper layer holds only the links mount.lsmfs and
# lsmfs to the build tree. Nothing outside the namespace sees them or the
# test's mounts, and both vanish with it. So the test needs root (mount(8)
# runs helpers for root, and namespaces need it); it exits 77 (skipped) when
# /dev/fuse is missing or, for a user who is not root, says so and exits 77
# -- unless LSM_TEST_NO_SKIP is set (CI: .ci/run), where both are failures.
#
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
HELPER=${3:?usage: $0 LSMFS LSMCTL MOUNT_HELPER}

if [[ -z ${LSM_MOUNT_HELPER_NS:-} ]]; then
    skip() {
        if [[ -n ${LSM_TEST_NO_SKIP:-} ]]; then
            echo "fs_mount_helper: $1, and LSM_TEST_NO_SKIP is set: failing" >&2
            exit 1
        fi
        echo "# SKIP: $1"
        exit 77
    }
    [[ -e /dev/fuse ]] || skip "/dev/fuse is missing"
    [[ $(id -u) == 0 ]] || skip "needs root (mount(8) runs mount helpers for root only)"
    command -v unshare >/dev/null || { echo "unshare (util-linux) is not installed" >&2; exit 1; }
    export LSM_MOUNT_HELPER_NS=1
    exec unshare --mount --propagation private bash "$0" "$@"
fi

source "$HERE/fslib.sh" mount_helper "$@"
[[ -x $HELPER ]] || die "not executable: $HELPER"
HELPER=$(realpath "$HELPER")
cd "$T"

# ---- the overlay: mount.lsmfs in /sbin, lsmfs first on mount.fuse3's PATH --
mkdir "$T/links"
ln -s "$HELPER" "$T/links/mount.lsmfs"
ln -s "$LSMFS" "$T/links/lsmfs"
SBIN=$(realpath /sbin)
for d in "$SBIN" /usr/local/sbin; do
    [[ -d $d ]] || continue
    mount -t overlay lsmfs-test -o "lowerdir=$T/links:$d" "$d" ||
        die "cannot lay an overlay over $d (overlayfs, in a private mount namespace)"
done
[[ $(realpath /sbin/mount.lsmfs) == "$HELPER" ]] || die "/sbin/mount.lsmfs is not the built helper"

STORE=$(realpath "$T")/store
MNT=$(realpath "$T")/mnt
mkdir -p "$MNT"

# daemon_pid MNT: the pid of the lsmfs process serving MNT (the built one).
daemon_pid() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/exe" 2>/dev/null) == "$LSMFS" ]] || continue
        if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$1"; then
            echo "${p#/proc/}"
            return 0
        fi
    done
    return 1
}

# mounted_by WHAT COMMAND...: run a mount command; it must exit 0 and leave
# MNT a fuse.lsmfs mount of STORE served by the built lsmfs. Records the
# daemon's pid for the cleanup. Returns 1 (after a failure) if not.
mounted_by() {
    local what=$1 out rc=0 pid
    shift
    out=$("$@" 2>&1) || rc=$?
    if [[ $rc != 0 ]]; then
        fail "$what: '$*' exited $rc: $out"
        return 1
    fi
    if ! awk -v m="$MNT" -v s="$STORE" '$2 == m && $1 == s && $3 == "fuse.lsmfs" { f = 1 }
                                        END { exit !f }' /proc/mounts; then
        fail "$what: no fuse.lsmfs mount of $STORE at $MNT: $(grep -F "$MNT" /proc/mounts || true)"
        return 1
    fi
    if ! pid=$(daemon_pid "$MNT"); then
        fail "$what: the mount is not served by $LSMFS"
        FS_PID[$MNT]= # unmounted by the cleanup all the same
        return 1
    fi
    FS_PID[$MNT]=$pid
    ok
}

# unmount_with_umount: `umount MNT` as root; then the daemon exits (it
# releases the store's lock as it does) within 30 s.
unmount_with_umount() {
    local pid=${FS_PID[$MNT]:-} out
    if out=$(umount "$MNT" 2>&1); then ok; else fail "umount $MNT: $out"; fi
    if fs_is_mounted "$MNT"; then
        fusermount3 -u -z "$MNT" 2>/dev/null || true
        die "$MNT is still mounted after umount"
    fi
    if [[ -n $pid ]]; then
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            die "lsmfs (pid $pid) still running 30 s after umount $MNT"
        fi
        FS_PID[$MNT]=
    fi
    ok
}

# opts_of: the mount options of MNT (4th field of /proc/mounts).
opts_of() { awk -v m="$MNT" '$2 == m { print $4 }' /proc/mounts; }

# ---- the helper's own command line -------------------------------------------
out=$("$HELPER" --help) && grep -q 'mount -t lsmfs' <<<"$out" && ok || fail "mount.lsmfs --help: $out"

# translated OPTIONS EXPECTED: `mount.lsmfs -fv -o OPTIONS S M` prints the
# lsmfs command; its -o value must be EXPECTED (empty: no -o at all).
translated() {
    local out rc=0 want
    out=$("$HELPER" -fv -o "$1" /srv/s /mnt/m 2>&1) || rc=$?
    if [[ -n $2 ]]; then want="mount.lsmfs: $LSMFS -o $2 /srv/s /mnt/m"
    else want="mount.lsmfs: $LSMFS /srv/s /mnt/m"; fi
    if [[ $rc == 0 && $out == "$want" ]]; then ok; else fail "-o $1: got [$out] (exit $rc), expected [$want]"; fi
}
translated defaults ""
translated "defaults,_netdev,auto,noauto,user,users,nouser,owner,group,nofail,comment=a,x-systemd.automount,x-y=z" ""
translated "rw,sync=always,noatime,allow_other" "sync=always,noatime,allow_other"
translated "ro,nosuid,nodev,noexec,_netdev,memtable=64M" "ro,nosuid,nodev,noexec,memtable=64M"
translated "ro,rw" ""
translated "rw,ro" "ro"
# -f alone runs nothing (the paths do not exist); -s, -n accepted; -t TYPE too.
check "mount.lsmfs -f -s -n -t lsmfs" "$HELPER" /srv/nothing /mnt/nothing -f -s -n -t lsmfs -o ro
[[ -e /srv/nothing ]] && fail "-f created /srv/nothing"
usage_error() {
    local rc=0 out
    out=$("$HELPER" "$@" 2>&1) || rc=$?
    if [[ $rc == 1 && $out == *usage:* ]]; then ok; else fail "mount.lsmfs $*: exit $rc [$out], expected 1 and the usage"; fi
}
usage_error /srv/only-one
usage_error /srv/s /mnt/m /third
usage_error /srv/s /mnt/m -x
usage_error /srv/s /mnt/m -o

# ---- mount -t lsmfs, read-write --------------------------------------------------
if mounted_by "mount -t lsmfs" mount -t lsmfs "$STORE" "$MNT"; then
    [[ $(opts_of) == rw,* ]] && ok || fail "mount -t lsmfs: not read-write: $(opts_of)"
    check "write through the mount" sh -c "echo 'written via mount -t lsmfs' >'$MNT/one.txt'"
    [[ $(cat "$MNT/one.txt" 2>&1) == "written via mount -t lsmfs" ]] && ok || fail "read back one.txt"
    unmount_with_umount
fi
# The daemon has exited: the store is free, and the file is a key.
got=$("$LSMCTL" "$STORE" get one.txt 2>&1) || true
[[ $got == "written via mount -t lsmfs" ]] && ok || fail "lsmctl get one.txt after umount: [$got]"

# ---- mount -t lsmfs -o ro ------------------------------------------------------------
if mounted_by "mount -t lsmfs -o ro" mount -t lsmfs -o ro "$STORE" "$MNT"; then
    [[ $(opts_of) == ro,* ]] && ok || fail "mount -o ro: not read-only: $(opts_of)"
    [[ $(cat "$MNT/one.txt" 2>&1) == "written via mount -t lsmfs" ]] && ok || fail "ro: read one.txt"
    if err=$(sh -c "echo no >'$MNT/two.txt'" 2>&1); then
        fail "ro: a write succeeded"
    else
        [[ $err == *"Read-only file system"* ]] && ok || fail "ro: the write failed with [$err], not EROFS"
    fi
    unmount_with_umount
fi

# ---- fstab lines ---------------------------------------------------------------------------
printf '# lsmfs test fstab\n%s %s lsmfs defaults,_netdev 0 0\n' "$STORE" "$MNT" >"$T/fstab"
if mounted_by "fstab: lsmfs defaults,_netdev" mount -T "$T/fstab" "$MNT"; then
    [[ $(opts_of) == rw,* ]] && ok || fail "fstab defaults: not read-write: $(opts_of)"
    check "fstab mount: write" sh -c "echo 'written via fstab' >'$MNT/two.txt'"
    [[ $(cat "$MNT/two.txt" 2>&1) == "written via fstab" ]] && ok || fail "fstab: read back two.txt"
    unmount_with_umount
fi

printf '%s %s lsmfs ro,nofail,x-test=1 0 0\n' "$STORE" "$MNT" >"$T/fstab"
if mounted_by "fstab: lsmfs ro,nofail,x-test=1" mount -T "$T/fstab" "$MNT"; then
    [[ $(opts_of) == ro,* ]] && ok || fail "fstab ro: not read-only: $(opts_of)"
    [[ $(cat "$MNT/two.txt" 2>&1) == "written via fstab" ]] && ok || fail "fstab ro: read two.txt"
    if sh -c "echo no >'$MNT/three.txt'" 2>/dev/null; then fail "fstab ro: a write succeeded"; else ok; fi
    unmount_with_umount
fi

printf '%s %s fuse.lsmfs defaults 0 0\n' "$STORE" "$MNT" >"$T/fstab"
if mounted_by "fstab: fuse.lsmfs defaults (through mount.fuse3)" mount -T "$T/fstab" "$MNT"; then
    [[ $(cat "$MNT/one.txt" "$MNT/two.txt" 2>&1) == $'written via mount -t lsmfs\nwritten via fstab' ]] &&
        ok || fail "fuse.lsmfs: read one.txt and two.txt"
    check "fuse.lsmfs: write" sh -c "echo 'written via fuse.lsmfs' >'$MNT/three.txt'"
    unmount_with_umount
fi
got=$("$LSMCTL" "$STORE" get three.txt 2>&1) || true
[[ $got == "written via fuse.lsmfs" ]] && ok || fail "lsmctl get three.txt: [$got]"

# ---- a refusal passes through ------------------------------------------------------------------
rc=0
out=$(mount -t lsmfs -o sync=sometimes "$STORE" "$MNT" 2>&1) || rc=$?
[[ $rc != 0 ]] && ok || fail "mount -o sync=sometimes exited 0"
[[ $out == *"sync=sometimes"* ]] && ok || fail "mount -o sync=sometimes: lsmfs's message is missing: [$out]"
fs_is_mounted "$MNT" && fail "mount -o sync=sometimes left a mount" || ok

finish

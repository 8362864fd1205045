#!/usr/bin/env bash
#
# test_fs_killpriv.sh -- writes ask the daemon nothing about privileges, and
# set-ID bits and file capabilities still go as on any Linux file system;
# run by ctest as
#
#     bash tests/fs/test_fs_killpriv.sh PATH/TO/lsmfs PATH/TO/lsmctl
#
# Without FUSE_HANDLE_KILLPRIV_V2 the kernel sends a GETXATTR of
# security.capability before every write to learn whether the write must
# drop privileges: a second round trip per write. lsmfs asks for the flag
# (fs/fuse_io.c, docs/FS.md §5), and then drops set-user-ID and
# set-group-ID bits itself where the kernel says so.
#   1. 200 writes of 4 KiB to one file: the daemon sees 200 WRITEs and at
#      most 2 GETXATTRs (from its -d log; 200 without the flag);
#   2. set-ID bits after each operation equal what Linux file systems give
#      (the same steps on ext4 give the same modes): a write, truncate or
#      fallocate by a user without CAP_FSETID (nobody) drops set-user-ID,
#      and set-group-ID with group execute; root's write keeps them; chown
#      drops them, but not set-group-ID without group execute. The mode is
#      right at the first stat after the operation (the kernel's cached
#      attributes included) and after a remount (the store's record);
#   3. security.capability is removed by a write, also after many writes
#      that asked nothing (the kernel asks again once the attribute is set).
#
# Needs root (setpriv to user nobody, -o allow_other). Exit 0 if every
# check passed, 1 otherwise, 77 when /dev/fuse is missing.
set -u
source "$(dirname "$0")/fslib.sh" killpriv "$@"

for tool in setpriv setfattr getfattr fallocate; do
    command -v "$tool" >/dev/null || die "$tool is missing (tools/install-deps.sh installs it)"
done
[[ $(id -u) == 0 ]] || die "needs root (setpriv to user nobody, -o allow_other)"

S=$T/store
M=$T/mnt
must_mount "$S" "$M" -d -o allow_other
chmod 755 "$T" "$M" || die "chmod of $T or the mount's root failed"
LOG=${FS_LOG[$M]}

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
# requests OPCODE: how many the daemon's debug log shows so far.
requests() { grep -c "opcode: $1 " "$LOG"; }

# ---- 1. one privilege check per file, not per write --------------------------
: >"$M/w" || die "cannot create $M/w"
w0=$(requests WRITE)
x0=$(requests GETXATTR)
dd if=/dev/zero of="$M/w" bs=4096 count=200 conv=notrunc status=none || die "dd to $M/w failed"
w1=$(requests WRITE)
x1=$(requests GETXATTR)
if ((w1 - w0 >= 200 && x1 - x0 <= 2)); then
    ok
else
    fail "200 writes: $((w1 - w0)) WRITE and $((x1 - x0)) GETXATTR requests (want >= 200 and <= 2)"
fi

# ---- 2. set-ID bits ----------------------------------------------------------
# mode_is WHAT FILE WANT: the file's permission bits are WANT (octal).
mode_is() {
    local got
    got=$(stat -c %a "$2")
    if [[ $got == "$3" ]]; then ok; else fail "$1: mode $got, want $3"; fi
}
F=$M/s
: >"$F" || die "cannot create $F"
chmod 06777 "$F" && as_nobody sh -c "echo a >>'$F'"
mode_is "write by nobody to 6777" "$F" 777
chmod 02777 "$F" && as_nobody sh -c "echo a >>'$F'"
mode_is "write by nobody to 2777" "$F" 777
chmod 02766 "$F" && as_nobody sh -c "echo a >>'$F'"
mode_is "write by nobody to 2766 (no group execute)" "$F" 2766
chmod 06777 "$F" && echo a >>"$F"
mode_is "write by root to 6777" "$F" 6777
chmod 06777 "$F" && as_nobody truncate -s 1 "$F"
mode_is "truncate by nobody of 6777" "$F" 777
chmod 06777 "$F" && truncate -s 2 "$F"
mode_is "truncate by root of 6777" "$F" 6777
chmod 06777 "$F" && as_nobody fallocate -l 100000 "$F"
mode_is "fallocate by nobody of 6777" "$F" 777
chmod 06777 "$F" && as_nobody fallocate --punch-hole --keep-size --offset 0 --length 4096 "$F"
mode_is "hole punched by nobody in 6777" "$F" 777
chmod 06755 "$F" && chown nobody "$F"
mode_is "chown of 6755" "$F" 755
chmod 02644 "$F" && chown root "$F"
mode_is "chown of 2644 (no group execute)" "$F" 2644
# a remount: the modes are the store's, not only the kernel's
for f in a b; do : >"$M/$f"; done
chmod 06777 "$M/a" "$M/b" && as_nobody sh -c "echo a >>'$M/a'" && echo a >>"$M/b"
must_unmount "$M"
must_mount "$S" "$M" -d -o allow_other
LOG=${FS_LOG[$M]}
mode_is "after a remount, written by nobody" "$M/a" 777
mode_is "after a remount, written by root" "$M/b" 6777

# ---- 3. file capabilities ----------------------------------------------------
# (VFS_CAP_REVISION_2, CAP_NET_RAW permitted)
CAP=0x0000000200200000000000000000000000000000
C=$M/c
: >"$C" && chmod 0777 "$C" || die "cannot create $C"
has_cap() { getfattr -e hex -n security.capability "$1" 2>/dev/null | grep -q "=$CAP"; }
setfattr -n security.capability -v "$CAP" "$C" || die "setfattr security.capability failed"
has_cap "$C" && ok || fail "security.capability not set on $C"
as_nobody sh -c "echo a >>'$C'"
has_cap "$C" && fail "security.capability kept after a write by nobody" || ok
for _ in $(seq 20); do echo a >>"$C"; done
setfattr -n security.capability -v "$CAP" "$C" || die "setfattr security.capability failed"
echo a >>"$C"
has_cap "$C" && fail "security.capability kept after a write by root (set after 20 writes)" || ok

finish

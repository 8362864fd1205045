# mountlib.sh -- the setup the small benchmark scripts beside it share
# (listing.sh, emptydir.sh, mvtree.sh). Sourced, after the script has read
# its arguments, as
#     source "$(dirname "$0")/mountlib.sh" NAME
# it makes the work directory W (a temporary directory named after NAME,
# removed at exit after whatever is still mounted at M is unmounted) with
# the mount point M in it, and defines:
#   mount_cmd CMD...  start the FUSE daemon CMD (running in the foreground of
#                     its own process) in the background, its pid in $pid,
#                     and wait for its mount at M (exit 1 after 30 s)
#   mount_it OPTS...  mount_cmd of lsmfs ($L) on the store $S with OPTS
#   unmount_it        unmount M and wait for the daemon
#   now               the time in seconds, with nanoseconds
#   cpu_us            the daemon's CPU time so far in microseconds (the sum
#                     of its threads' run times in /proc schedstat, so the
#                     other processes of a busy machine do not count)
W=$(mktemp -d "${TMPDIR:-/tmp}/lsmfs-$1.XXXXXX")
M=$W/mnt
mkdir -p "$M"
pid=
cleanup() {
    fusermount3 -u -z "$M" 2>/dev/null || true
    [[ -n $pid ]] && wait "$pid" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
mount_cmd() {
    "$@" &
    pid=$!
    for _ in $(seq 300); do mountpoint -q "$M" && return 0; sleep 0.1; done
    echo "no mount at $M" >&2
    exit 1
}
mount_it() { mount_cmd "$L" -f "$@" "$S" "$M"; }
unmount_it() { fusermount3 -u "$M"; wait "$pid"; pid=; }
now() { date +%s.%N; }
cpu_us() { cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 / 1000 } END { printf "%.0f\n", s }'; }

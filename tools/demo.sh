#!/bin/sh
# Install what is missing, build, and show lsmfs at work: keys written with
# lsmctl into ./demo-store become files once the store is mounted at
# ./demo-mnt, and files written through the mount are keys. The demo stays
# mounted; the last lines say how to unmount it.
#   tools/demo.sh [STORE_DIR [MOUNTPOINT]]
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target lsmctl lsmfs
store=${1:-demo-store}
mnt=${2:-demo-mnt}
ctl=build/lsmctl
lsmfs=build/lsmfs
mkdir -p "$mnt"

# A previous run left the demo mounted: unmount it, and wait until its daemon
# has closed the store (it releases the lock as it exits, just after
# fusermount3 returns).
if awk -v m="$(realpath "$mnt")" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
    echo "== unmounting the previous demo"
    fusermount3 -u "$mnt"
    i=0
    while ! "$ctl" "$store" stats >/dev/null 2>&1 && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
fi

echo "== keys written with lsmctl (the library), before mounting: $store"
"$ctl" --create "$store" put greeting "hello, world"
printf 'line one\nline two\n' | "$ctl" "$store" put notes/today
for i in 1 2 3; do "$ctl" "$store" put "users/$i" "user number $i"; done
"$ctl" "$store" put "odd//key" "a key with an empty segment"
echo "== $ctl $store scan --keys-only"
"$ctl" "$store" scan --keys-only

echo
echo "== $lsmfs $store $mnt"
"$lsmfs" "$store" "$mnt"
echo "== the keys are files: ls -lR $mnt"
ls -lR "$mnt"
echo "== cat $mnt/greeting $mnt/notes/today"
cat "$mnt/greeting"
echo
cat "$mnt/notes/today"
echo "== an escaped key (docs/FS.md 2.1): cat $mnt/odd/%x/key"
cat "$mnt/odd/%x/key"
echo

echo "== files written through the mount"
echo "written through the mount" >"$mnt/from-mount.txt"
mkdir -p "$mnt/docs"
cp README.md docs/FS.md "$mnt/docs/"
mv "$mnt/users/3" "$mnt/users/three"
ln -sf ../greeting "$mnt/users/link-to-greeting"
ls -l "$mnt" "$mnt/users" "$mnt/docs"
echo "== find $mnt -type f | sort"
find "$mnt" -type f | sort
echo "== df -h $mnt (the disk that holds the store)"
df -h "$mnt"

cat <<EOF

The demo store stays mounted at $mnt: try ls, cp, mv, rm, find, tar there.
Unmount it with:
    fusermount3 -u $mnt
then read the files back as keys (once the daemon has exited):
    $ctl $store scan --keys-only
EOF

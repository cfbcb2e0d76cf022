#!/usr/bin/env bash
# User-namespace remapping benchmark: `docker run --rm busybox true`
# latency, interleaved, on a berthd without remapping, on one with
# --userns-remap (remapped containers and --userns=host ones). berthd runs
# in a mount namespace of its own where a test user and its subordinate
# ranges are bound over /etc/passwd, group, subuid and subgid (the host's
# files are never changed). Reports medians, never asserts. Never run in
# CI.
#
#   bench/userns.sh   (uses bin/berthd; run as root)
set -euo pipefail
BIN=$(cd "$(dirname "$0")/.." && pwd)/bin
root=$(mktemp -d /tmp/berth-userns-bench-XXXX); chmod 711 $root
for f in passwd group subuid subgid; do cp /etc/$f $root/$f; done
echo "berthremap:x:59999:59999::/nonexistent:/bin/false" >> $root/passwd
echo "berthremap:x:59999:" >> $root/group
echo "berthremap:231072:65536" >> $root/subuid
echo "berthremap:231072:65536" >> $root/subgid
mkdir $root/ns; mount --bind $root/ns $root/ns; mount --make-private $root/ns; touch $root/ns/mnt
unshare --mount=$root/ns/mnt --propagation slave sh -c "for f in passwd group subuid subgid; do mount --bind $root/\$f /etc/\$f; done"
sh "$BIN/../hack/busybox-rootfs.sh" $root/bb.tar >/dev/null 2>&1
echo '{}' > $root/d.json
pids=()
start() { # name extra...
  local n=$1; shift
  nsenter --mount=$root/ns/mnt -- $BIN/berthd --data-root $root/$n/data --exec-root $root/$n/exec -H unix://$root/$n.sock --pidfile $root/$n.pid --config-file $root/d.json --bridge=none --cgroup-parent berth-bench-userns-$n "$@" > $root/$n.log 2>&1 &
  pids+=($!)
  for i in $(seq 100); do docker -H unix://$root/$n.sock version >/dev/null 2>&1 && break; sleep 0.1; done
  docker -H unix://$root/$n.sock import --change 'CMD ["sh"]' $root/bb.tar busybox:latest >/dev/null
  docker -H unix://$root/$n.sock run --rm busybox true
}
measure() { # sock label args...
  local s=$1 l=$2; shift 2
  local ts=()
  for i in $(seq 10); do
    a=$(date +%s%N); docker -H unix://$root/$s.sock run --rm "$@" busybox true; b=$(date +%s%N)
    ts+=($(( (b-a)/1000000 )))
  done
  echo "$l: $(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print "median", (a[5]+a[6])/2, "ms; min", a[1], "max", a[NR]}')"
}
start plain
start remap --userns-remap berthremap
one() { local a=$(date +%s%N); docker -H unix://$root/$1.sock run --rm "${@:2}" busybox true; echo $(( ($(date +%s%N)-a)/1000000 )); }
P=(); R=(); H=()
for i in $(seq 20); do P+=($(one plain)); R+=($(one remap)); H+=($(one remap --userns=host)); done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print "median", (a[NR/2]+a[NR/2+1])/2, "ms; min", a[1]}'; }
echo "no remap daemon: $(med "${P[@]}")"
echo "remap daemon, remapped container: $(med "${R[@]}")"
echo "remap daemon, --userns=host: $(med "${H[@]}")"
for p in "${pids[@]}"; do kill $p; done; wait
for n in plain remap; do mp=$(cat $root/$n/exec/monitor.pid 2>/dev/null || true); [ -n "$mp" ] && grep -q monitor /proc/$mp/cmdline 2>/dev/null && kill -9 $mp; done
sleep 0.5
umount -l $root/ns/mnt; umount -l $root/ns
for n in plain remap; do for d in $(find /sys/fs/cgroup -maxdepth 6 -name berth-bench-userns-$n); do [ -d "$d" ] && find $d -depth -type d -exec rmdir {} \; 2>/dev/null; done; done
rm -rf $root

#!/usr/bin/env bash
# Volume benchmark: berthd vs Debian's dockerd (and podman, for latency,
# when installed), each on private temp roots. Reports (never asserts) the
# median latency of `volume create` and of `run --rm -v NAME:/d busybox
# true`, and the median of -r dd runs' write throughput (1 GiB by default,
# without and with conv=fsync) into a named volume, a bind mount and the
# container layer vs the host filesystem the data roots live on. Never run
# in CI.
#
#   bench/volumes.sh [-n RUNS] [-r DDRUNS] [-s MIB] [BERTHD]   (BERTHD defaults to bin/berthd)
set -euo pipefail

RUNS=20
DDRUNS=3
MIB=1024
BERTHD=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-r) DDRUNS=$2; shift 2 ;;
	-s) MIB=$2; shift 2 ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) BERTHD=$1; shift ;;
	esac
done
die() { echo "volumes.sh: $*" >&2; exit 1; }
[ "${CI:-}" = "" ] || die "benchmarks do not run in CI"
[ "$(id -u)" = 0 ] || die "needs root"
REPO=$(cd "$(dirname "$0")/.." && pwd)
BERTHD=$(readlink -f "${BERTHD:-$REPO/bin/berthd}")
[ -x "$BERTHD" ] || die "no berthd at $BERTHD (make build)"
command -v dockerd >/dev/null || die "no dockerd (apt-get install -y docker.io)"
[ ! -S /run/containerd/containerd.sock ] || die "a system containerd runs; dockerd would share it"

W=$(mktemp -d /var/tmp/berth-volbench.XXXXXX)
CGP=berth-volbench-${W##*.}
PIDS=()
cleanup() {
	for h in "$W/berth.sock" "$W/docker.sock"; do
		[ -S "$h" ] && docker -H "unix://$h" ps -aq 2>/dev/null | xargs -r docker -H "unix://$h" rm -f >/dev/null 2>&1 || true
	done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 1
	# berthd's monitor outlives berthd (live restore): stop ours by pid.
	if [ -f "$W/berth/exec/monitor.pid" ]; then
		m=$(cat "$W/berth/exec/monitor.pid")
		tr '\0' ' ' </proc/"$m"/cmdline 2>/dev/null | grep -q "$W" && kill "$m" || true
	fi
	for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
	grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l || true
	# berthd's cgroup parent, children first, in every hierarchy.
	find /sys/fs/cgroup -maxdepth 6 -type d -name "$CGP" 2>/dev/null | while read -r d; do
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	if [ -n "${POD:-}" ]; then
		$POD rm -af >/dev/null 2>&1 || true
		$POD volume prune -f >/dev/null 2>&1 || true
		$POD rmi -af >/dev/null 2>&1 || true
	fi
	grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l || true
	rm -rf "$W"
}
trap cleanup EXIT

sh "$REPO/hack/busybox-rootfs.sh" "$W/busybox.tar" >/dev/null
echo '{}' >"$W/daemon.json"
mkdir -p "$W/berth" "$W/docker"
"$BERTHD" --data-root "$W/berth/data" --exec-root "$W/berth/exec" -H "unix://$W/berth.sock" --pidfile "$W/berth/pid" \
	--config-file "$W/daemon.json" --bridge=none --cgroup-parent "$CGP" >"$W/berth/log" 2>&1 &
PIDS+=($!)
dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" -H "unix://$W/docker.sock" --pidfile "$W/docker/pid" \
	--config-file "$W/daemon.json" --bridge=none --iptables=false --ip6tables=false >"$W/docker/log" 2>&1 &
PIDS+=($!)
for s in berth docker; do
	for _ in $(seq 100); do docker -H "unix://$W/$s.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
	docker -H "unix://$W/$s.sock" import --change 'CMD ["sh"]' "$W/busybox.tar" busybox:latest >/dev/null
done

# median of RUNS timings (ms) of a command; $i is the run number.
median_ms() {
	local t=()
	for i in $(seq "$RUNS"); do
		local a b
		a=$(date +%s%N)
		eval "$1" >/dev/null
		b=$(date +%s%N)
		t+=($(((b - a) / 1000)))
	done
	printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

# dd_rate CLEAN CMD...: the median of DDRUNS runs of CMD (a dd of $MIB
# MiB) less $base ms, as MiB/s; CLEAN (a command string) runs after each.
dd_rate() {
	local clean=$1 a b r=()
	shift
	for _ in $(seq "$DDRUNS"); do
		a=$(date +%s%N)
		"$@"
		b=$(date +%s%N)
		eval "$clean"
		sync
		r+=($(awk -v ms="$(((b - a) / 1000000))" -v base="${base:-0}" -v mib="$MIB" 'BEGIN {printf "%.0f", mib * 1000 / (ms - base)}'))
	done
	printf '%s\n' "${r[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%s", a[int((NR+1)/2)]}'
}

echo "dd: $MIB MiB, median of $DDRUNS, MiB/s as nosync/fsync; latency: median of $RUNS"
printf '%-8s %14s %10s %14s %14s %14s\n' engine "vol create ms" "run -v ms" "dd -> volume" "dd -> bind" "dd -> layer"
for s in berth docker; do
	D="docker -H unix://$W/$s.sock"
	c=$(median_ms "$D volume create v\$i")
	r=$(median_ms "$D run --rm -v v\$i:/d busybox true")
	mkdir -p "$W/bind-$s"
	cid=$($D run -d -v ddv:/vol -v "$W/bind-$s:/bind" busybox sleep 600)
	# busybox dd prints no rate: time an exec of it, less an exec of true.
	base=$(median_ms "$D exec $cid true")
	rates=()
	for dir in /vol /bind /layer; do
		$D exec "$cid" mkdir -p "$dir"
		pair=
		for conv in notrunc fsync; do
			pair=$pair${pair:+/}$(dd_rate "$D exec $cid rm -f $dir/f" $D exec "$cid" sh -c "dd if=/dev/zero of=$dir/f bs=1M count=$MIB conv=$conv 2>/dev/null")
		done
		rates+=("$pair")
	done
	$D rm -f "$cid" >/dev/null
	printf '%-8s %14s %10s %14s %14s %14s\n' "$s" "$c" "$r" "${rates[@]}"
done
base=0
pair=
for conv in notrunc fsync; do
	pair=$pair${pair:+/}$(dd_rate 'rm -f "$W/hostfile"' dd if=/dev/zero of="$W/hostfile" bs=1M count="$MIB" conv=$conv 2>/dev/null)
done
printf '%-8s %14s %10s %14s\n' host - - "$pair"

# podman (latency only), on roots of its own. crun lacks hybrid cgroups
# and the sandbox may not raise rlimits: runc and explicit ulimits.
if command -v podman >/dev/null && command -v runc >/dev/null; then
	POD="podman --root $W/podman/root --runroot $W/podman/run --volumepath $W/podman/vol --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime runc"
	$POD import --change 'CMD ["sh"]' "$W/busybox.tar" busybox:latest >/dev/null 2>&1
	c=$(median_ms "$POD volume create v\$i")
	r=$(median_ms "$POD run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -v v\$i:/d busybox true")
	printf '%-8s %14s %10s\n' podman "$c" "$r"
fi

#!/usr/bin/env bash
# Local image operations: berthd vs Debian's dockerd, each on private temp
# roots. Reports (never asserts) the median time of `docker commit` of a
# container that wrote SIZE MiB, and of `docker save` and `docker load` of
# the resulting image (~SIZE MiB). Never run in CI.
#
#   bench/images.sh [-n RUNS] [-s MIB] [BERTHD]      (BERTHD defaults to bin/berthd)
set -euo pipefail

RUNS=5
MIB=100
BERTHD=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-s) MIB=$2; shift 2 ;;
	-h|--help) sed -n '2,7p' "$0"; exit 0 ;;
	*) BERTHD=$1; shift ;;
	esac
done
die() { echo "images.sh: $*" >&2; exit 1; }
[ "${CI:-}" = "" ] || die "benchmarks do not run in CI"
[ "$(id -u)" = 0 ] || die "needs root"
REPO=$(cd "$(dirname "$0")/.." && pwd)
BERTHD=$(readlink -f "${BERTHD:-$REPO/bin/berthd}")
[ -x "$BERTHD" ] || die "no berthd at $BERTHD (make build)"
command -v dockerd >/dev/null || die "no dockerd (apt-get install -y docker.io)"
[ ! -S /run/containerd/containerd.sock ] || die "a system containerd runs; dockerd would share it"

W=$(mktemp -d /var/tmp/berth-imgbench.XXXXXX)
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
	# berthd's containers lived under this cgroup parent in every hierarchy.
	find /sys/fs/cgroup/*/ -maxdepth 3 -depth -type d -path "*berth-imgbench-${W##*.}*" -exec rmdir {} \; 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

sh "$REPO/hack/busybox-rootfs.sh" "$W/busybox.tar" >/dev/null
echo '{}' >"$W/daemon.json"
mkdir -p "$W/berth" "$W/docker"
"$BERTHD" --data-root "$W/berth/data" --exec-root "$W/berth/exec" -H "unix://$W/berth.sock" --pidfile "$W/berth/pid" \
	--config-file "$W/daemon.json" --bridge=none --cgroup-parent "berth-imgbench-${W##*.}" >"$W/berth/log" 2>&1 &
PIDS+=($!)
dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" -H "unix://$W/docker.sock" --pidfile "$W/docker/pid" \
	--config-file "$W/daemon.json" --bridge=none --iptables=false >"$W/docker/log" 2>&1 &
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

printf '%-8s %12s %12s %12s\n' engine "commit ms" "save ms" "load ms"
for s in berth docker; do
	D="docker -H unix://$W/$s.sock"
	$D run --network none --name big busybox sh -c "dd if=/dev/urandom of=/big bs=1M count=$MIB 2>/dev/null"
	c=$(median_ms "$D commit big img:\$i")
	s_=$(median_ms "$D save -o $W/$s.tar img:1")
	$D rm -f big >/dev/null
	t=()
	for _ in $(seq "$RUNS"); do
		$D rmi -f $($D images -q img | sort -u) >/dev/null 2>&1 || true
		a=$(date +%s%N); $D load -i "$W/$s.tar" >/dev/null; b=$(date +%s%N)
		t+=($(((b - a) / 1000)))
	done
	l=$(printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}')
	printf '%-8s %12s %12s %12s\n' "$s" "$c" "$s_" "$l"
done

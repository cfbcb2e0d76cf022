#!/usr/bin/env bash
# Network benchmark: berthd vs dockerd, each in a network namespace of its
# own that the script makes and deletes (the host's network is not touched).
#
#   bench/net.sh [-n RUNS] [-t SECONDS] [--engines berth,docker] [BERTHD]
#
# Measures
#   * container-to-container TCP throughput over a user bridge network
#     (iperf3 from Debian: its binary, libraries and loader are copied into
#     a directory bind-mounted into busybox containers), against iperf3 over
#     the loopback of the same namespace;
#   * the latency of `docker run --rm --network bridge busybox true` (the
#     same docker CLI against berthd and against dockerd).
# Never run in CI. Needs root, iperf3 (apt-get install -y iperf3), a static
# busybox and, for the docker column, dockerd (apt-get install -y docker.io).
set -euo pipefail

RUNS=20
SECS=5
ENGINES=berth,docker
BERTHD=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	--engines) ENGINES=$2; shift 2 ;;
	-h|--help) sed -n '2,15p' "$0"; exit 0 ;;
	-*) echo "net.sh: unknown flag $1" >&2; exit 2 ;;
	*) BERTHD=$1; shift ;;
	esac
done

die() { echo "net.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
want() { case ",$ENGINES," in *",$1,"*) return 0 ;; esac; return 1; }

[ "${CI:-}" = "" ] || die "benchmarks do not run in CI"
[ "$(id -u)" = 0 ] || die "needs root (it starts container engines and makes network namespaces)"
IPERF3=$(command -v iperf3 || true)
[ -n "$IPERF3" ] || die "no iperf3 (apt-get install -y iperf3)"
if want berth; then
	[ -n "$BERTHD" ] || [ ! -x "$(dirname "$0")/../bin/berthd" ] || BERTHD=$(dirname "$0")/../bin/berthd
	[ -n "$BERTHD" ] && [ -x "$BERTHD" ] || die "no berthd binary (usage: bench/net.sh BERTHD)"
	BERTHD=$(readlink -f "$BERTHD")
fi
DOCKER_CLI=${DOCKER_CLI:-$(command -v docker || true)}
[ -n "$DOCKER_CLI" ] || die "no docker CLI in PATH (set DOCKER_CLI)"
BUSYBOX=${BUSYBOX:-/bin/busybox}
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || die "$BUSYBOX is not a static busybox (apt-get install -y busybox-static)"
if want docker; then
	command -v dockerd >/dev/null || die "no dockerd (apt-get install -y docker.io)"
	[ ! -S /run/containerd/containerd.sock ] || die "a system containerd runs at /run/containerd/containerd.sock; dockerd would share it"
fi

# Not under /tmp: overlay upper dirs want a real filesystem, not tmpfs.
W=$(mktemp -d /var/tmp/berth-netbench.XXXXXX)
TAG=${W##*.}
NSS=()

pids_matching() { # pids whose command line mentions $1
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$1" && echo "${p#/proc/}"
	done
	return 0
}
stop_pidfile() { # SIGTERM, wait up to 15s, SIGKILL
	local f=$1 pid i
	[ -s "$f" ] || return 0
	pid=$(cat "$f")
	kill -0 "$pid" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null || true
	for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
}
cleanup() {
	set +e
	log "cleaning up $W"
	local e s
	for e in berth docker; do
		s=$W/$e.sock
		[ -S "$s" ] && "$DOCKER_CLI" -H "unix://$s" rm -f $("$DOCKER_CLI" -H "unix://$s" ps -aq 2>/dev/null) >/dev/null 2>&1
	done
	stop_pidfile "$W/berth/berthd.pid"
	stop_pidfile "$W/berth/exec/monitor.pid"
	stop_pidfile "$W/docker/dockerd.pid"
	stop_pidfile "$W/iperf3-lo.pid"
	for p in $(pids_matching "$W"); do [ "$p" != $$ ] && kill -9 "$p" 2>/dev/null; done
	sleep 0.3
	awk -v w="$W" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	for s in "${NSS[@]}"; do ip netns del "$s"; done
	local h
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		find "$h" -maxdepth 4 -depth -type d -path "*netbench-$TAG*" -exec rmdir {} \; 2>/dev/null
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkns() { # name: a namespace of our own, loopback up
	ip netns add "$1" || die "ip netns add $1"
	NSS+=("$1")
	ip -n "$1" link set lo up
}
inns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }

log "making the busybox rootfs tar and the iperf3 directory"
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/proc" "$R/sys" "$R/dev" "$R/root"
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
tar -C "$R" -cf "$W/busybox.tar" .
# iperf3 is linked dynamically: its libraries and loader go along, and it
# runs as /iperf/ld.so --library-path /iperf /iperf/iperf3.
IP3=$W/iperf
mkdir -p "$IP3"
cp "$(readlink -f "$IPERF3")" "$IP3/iperf3"
LOADER=
while read -r lib; do
	cp "$(readlink -f "$lib")" "$IP3/$(basename "$lib")"
	case "$lib" in */ld-linux*) LOADER=$(basename "$lib") ;; esac
done < <(ldd "$IPERF3" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$LOADER" ] || die "no dynamic loader in ldd $IPERF3"
IPERF_IN=(/iperf/"$LOADER" --library-path /iperf /iperf/iperf3)

median_ms() { sort -n | awk '{ a[NR] = $1; s += $1 } END { if (NR == 0) exit 1; m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "median %.1f ms  mean %.1f ms  min %.1f ms  max %.1f ms  (n=%d)\n", m / 1e6, s / NR / 1e6, a[1] / 1e6, a[NR] / 1e6, NR }'; }
gbits() { awk '/receiver/ { for (i = 1; i <= NF; i++) if ($(i) == "Gbits/sec") v = $(i - 1) } END { if (v == "") exit 1; print v }'; }

RESULTS=$W/results
: >"$RESULTS"
record() { echo "$*" | tee -a "$RESULTS" >&2; }

bench_engine() { # engine ns sock
	local e=$1 ns=$2 sock=$3 i t0 t1
	local D=("$DOCKER_CLI" -H "unix://$sock")
	"${D[@]}" import "$W/busybox.tar" busybox:latest >/dev/null || die "$e: import busybox"
	log "$e: run --rm --network bridge busybox true x$RUNS (after one warm-up)"
	"${D[@]}" run --rm --network bridge busybox true || die "$e: run --network bridge failed"
	: >"$W/$e.lat"
	for i in $(seq "$RUNS"); do
		t0=$(date +%s%N)
		"${D[@]}" run --rm --network bridge busybox true
		t1=$(date +%s%N)
		echo $((t1 - t0)) >>"$W/$e.lat"
	done
	record "$e run --rm --network bridge: $(median_ms <"$W/$e.lat")"

	log "$e: iperf3 between two containers on a user bridge (${SECS}s)"
	"${D[@]}" network create benchnet >/dev/null
	"${D[@]}" run -d --name iperf-srv --network benchnet -v "$IP3:/iperf:ro" busybox "${IPERF_IN[@]}" -s -1 >/dev/null
	local ip
	ip=$("${D[@]}" inspect -f '{{(index .NetworkSettings.Networks "benchnet").IPAddress}}' iperf-srv)
	sleep 1
	local out
	out=$("${D[@]}" run --rm --network benchnet -v "$IP3:/iperf:ro" busybox "${IPERF_IN[@]}" -c "$ip" -t "$SECS" -f g) || die "$e: iperf3 client: $out"
	record "$e container->container (user bridge): $(echo "$out" | gbits) Gbit/s"
	"${D[@]}" rm -f iperf-srv >/dev/null
	"${D[@]}" network rm benchnet >/dev/null
}

if want berth; then
	NS=berth-netbench-$TAG-b
	mkns "$NS"
	mkdir -p "$W/berth"
	echo '{}' >"$W/berth/daemon.json"
	log "berth: starting $BERTHD in netns $NS"
	inns "$NS" "$BERTHD" --data-root "$W/berth/data" --exec-root "$W/berth/exec" -H "unix://$W/berth.sock" \
		--pidfile "$W/berth/berthd.pid" --config-file "$W/berth/daemon.json" --cgroup-parent "/netbench-$TAG-berth" \
		>"$W/berth/log" 2>&1 &
	for i in $(seq 100); do "$DOCKER_CLI" -H "unix://$W/berth.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
	"$DOCKER_CLI" -H "unix://$W/berth.sock" version >/dev/null 2>&1 || { tail -20 "$W/berth/log" >&2; die "berthd did not come up"; }

	log "loopback iperf3 inside $NS (${SECS}s)"
	inns "$NS" "$IPERF3" -s -1 -p 5301 >/dev/null 2>&1 &
	echo $! >"$W/iperf3-lo.pid"
	sleep 0.5
	out=$(inns "$NS" "$IPERF3" -c 127.0.0.1 -p 5301 -t "$SECS" -f g) || die "loopback iperf3: $out"
	record "host loopback (same netns): $(echo "$out" | gbits) Gbit/s"

	bench_engine berth "$NS" "$W/berth.sock"
fi

if want docker; then
	NS=berth-netbench-$TAG-d
	mkns "$NS"
	mkdir -p "$W/docker"
	echo '{}' >"$W/docker/daemon.json"
	log "docker: starting $(dockerd --version) in netns $NS"
	inns "$NS" dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" -H "unix://$W/docker.sock" \
		--pidfile "$W/docker/dockerd.pid" --config-file "$W/docker/daemon.json" \
		--cgroup-parent "/netbench-$TAG-docker" --log-level warn >"$W/docker/log" 2>&1 &
	for i in $(seq 150); do "$DOCKER_CLI" -H "unix://$W/docker.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
	"$DOCKER_CLI" -H "unix://$W/docker.sock" version >/dev/null 2>&1 || { tail -20 "$W/docker/log" >&2; die "dockerd did not come up"; }
	bench_engine docker "$NS" "$W/docker.sock"
fi

echo
echo "== results ($(uname -r), $(nproc) CPUs)"
cat "$RESULTS"

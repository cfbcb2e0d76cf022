#!/usr/bin/env bash
# Network benchmark: berthd vs dockerd vs podman, each in a network
# namespace of its own that the script makes and deletes (the host's
# network is not touched).
#
#   bench/net.sh [-n RUNS] [-t SECONDS] [--engines berth,docker,podman] [BERTHD]
#
# Measures
#   * container-to-container TCP throughput over a user bridge network
#     (iperf3 from Debian: its binary, libraries and loader are copied into
#     a directory bind-mounted into busybox containers), against iperf3 over
#     the loopback of the same namespace;
#   * the latency of `docker run --rm --network bridge busybox true` (the
#     same docker CLI against berthd and against dockerd), and of
#     `podman run --rm --network bridge busybox true` (podman's CLI, run in
#     its namespace with nsenter, on private roots, with a CNI config of its
#     own whose IPAM state stays in the work directory).
# Never run in CI. Needs root, iperf3 (apt-get install -y iperf3), a static
# busybox and, for the docker and podman columns, dockerd and podman
# (apt-get install -y docker.io podman).
set -euo pipefail

RUNS=20
SECS=5
ENGINES=berth,docker,podman
BERTHD=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	--engines) ENGINES=$2; shift 2 ;;
	-h|--help) sed -n '2,21p' "$0"; exit 0 ;;
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
if want podman; then
	command -v podman >/dev/null || die "no podman (apt-get install -y podman)"
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)

# Not under /tmp: overlay upper dirs want a real filesystem, not tmpfs.
W=$(mktemp -d /var/tmp/berth-netbench.XXXXXX)
TAG=${W##*.}
NSS=()
PODMAN=(podman --root "$W/podman/root" --runroot "$W/podman/run" --tmpdir "$W/podman/tmp" --storage-driver overlay
	--cgroup-manager cgroupfs --events-backend file --network-config-dir "$W/podman/net")
# podman's cgroupfs parent (conmon's) is fixed; removed afterwards only if we made it.
LIBPOD_PARENT_EXISTED=$(ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null | head -1 || true)
# libcni keeps its result cache in /var/lib/cni (no option moves it);
# removed afterwards, when empty, only if we made it.
CNI_CACHE_EXISTED=$([ -e /var/lib/cni ] && echo 1 || true)

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
	[ -d "$W/podman/root" ] && inns "$W.podman-ns" "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
	for p in $(pids_matching "$W"); do [ "$p" != $$ ] && kill -9 "$p" 2>/dev/null; done
	sleep 0.3
	awk -v w="$W" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	for s in "${NSS[@]}"; do ip netns del "$s"; done
	local h
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		find "$h" -maxdepth 4 -depth -type d -path "*netbench-$TAG*" -exec rmdir {} \; 2>/dev/null
		[ -n "$LIBPOD_PARENT_EXISTED" ] || [ ! -d "$h/libpod_parent" ] || find "$h/libpod_parent" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	[ -n "$CNI_CACHE_EXISTED" ] || rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkns() { # name: a namespace of our own, loopback up
	ip netns add "$1" || die "ip netns add $1"
	NSS+=("$1")
	ip -n "$1" link set lo up
}
inns() { # ns cmd...: "$W.podman-ns" stands for podman's namespace
	local ns=$1; shift
	[ "$ns" != "$W.podman-ns" ] || ns=${PODMAN_NS:-}
	[ -n "$ns" ] || return 1
	nsenter --net="/run/netns/$ns" -- "$@"
}

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

median_ns() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
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
	median_ns <"$W/$e.lat" >"$W/$e.median"

	log "$e: iperf3 between two containers on a user bridge (${SECS}s)"
	"${D[@]}" network create benchnet >/dev/null
	"${D[@]}" run -d --name iperf-srv --network benchnet -v "$IP3:/iperf:ro" busybox "${IPERF_IN[@]}" -s -1 >/dev/null
	local ip
	ip=$("${D[@]}" inspect -f '{{(index .NetworkSettings.Networks "benchnet").IPAddress}}' iperf-srv)
	sleep 1
	local out
	out=$("${D[@]}" run --rm --network benchnet -v "$IP3:/iperf:ro" busybox "${IPERF_IN[@]}" -c "$ip" -t "$SECS" -f g) || die "$e: iperf3 client: $out"
	echo "$out" | gbits >"$W/$e.gbits"
	record "$e container->container (user bridge): $(cat "$W/$e.gbits") Gbit/s"
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
	echo "$out" | gbits >"$W/loopback.gbits"
	record "host loopback (same netns): $(cat "$W/loopback.gbits") Gbit/s"

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

bench_podman() { # ns: podman's CLI in the namespace, on private roots
	local ns=$1 P=$W/podman i t0 t1
	PODMAN_NS=$ns
	mkdir -p "$P/tmp" "$P/net" "$P/ipam"
	# As bench/run.sh: rootful podman asks for RLIMIT_NOFILE/NPROC it may
	# not get without CAP_SYS_RESOURCE; ask for the hard limits we have.
	printf '[containers]\ndefault_ulimits = ["nofile=%s:%s"]\n' "$(ulimit -Hn)" "$(ulimit -Hn)" >"$P/containers.conf"
	export CONTAINERS_CONF=$P/containers.conf
	local capeff
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	if (((16#$capeff >> 24 & 1) == 0)); then
		(cd "$REPO" && go build -o "$W/apibench" ./bench/apibench) || die "build bench/apibench failed"
		local real
		real=$(command -v runc || command -v crun)
		printf '#!/bin/sh\nexec %s oci-wrap %s "$@"\n' "$W/apibench" "$real" >"$P/oci-wrap"
		chmod +x "$P/oci-wrap"
		PODMAN+=(--runtime "$P/oci-wrap")
		log "podman: no CAP_SYS_RESOURCE, running $real through apibench oci-wrap (drops RLIMIT_NPROC)"
	fi
	# podman's default network as the system's CNI file has it, with the
	# host-local IPAM state in our tree rather than /var/lib/cni.
	cat >"$P/net/87-podman-bridge.conflist" <<-JSON
	{ "cniVersion": "0.4.0", "name": "podman", "plugins": [
	  { "type": "bridge", "bridge": "cni-podman0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
	    "ipam": { "type": "host-local", "dataDir": "$P/ipam", "routes": [{ "dst": "0.0.0.0/0" }],
	              "ranges": [[{ "subnet": "10.88.0.0/16", "gateway": "10.88.0.1" }]] } },
	  { "type": "portmap", "capabilities": { "portMappings": true } },
	  { "type": "firewall" }, { "type": "tuning" } ] }
	JSON
	log "podman: $(podman --version), network backend $(inns "$ns" "${PODMAN[@]}" info --format '{{.Host.NetworkBackend}}')"
	inns "$ns" "${PODMAN[@]}" import "$W/busybox.tar" busybox:latest >/dev/null || die "podman: import busybox"
	local RUN=("${PODMAN[@]}" run --rm --network bridge --cgroup-parent "/netbench-$TAG-podman" busybox true)
	log "podman: run --rm --network bridge busybox true x$RUNS (after one warm-up)"
	inns "$ns" "${RUN[@]}" || die "podman: run --network bridge failed"
	: >"$W/podman.lat"
	for i in $(seq "$RUNS"); do
		t0=$(date +%s%N)
		inns "$ns" "${RUN[@]}"
		t1=$(date +%s%N)
		echo $((t1 - t0)) >>"$W/podman.lat"
	done
	record "podman run --rm --network bridge: $(median_ms <"$W/podman.lat")"
	median_ns <"$W/podman.lat" >"$W/podman.median"
}

if want podman; then
	NS=berth-netbench-$TAG-p
	mkns "$NS"
	bench_podman "$NS"
fi

echo
echo "== results ($(uname -r), $(nproc) CPUs, $(cut -d' ' -f1-3 /proc/loadavg) load)"
cat "$RESULTS"

# The table: medians, and each engine's ratio to berth.
cell() { # engine: "X ms (R x berth)"
	[ -s "$W/$1.median" ] || { echo "-"; return; }
	awk -v v="$(cat "$W/$1.median")" -v b="$(cat "$W/berth.median" 2>/dev/null)" -v e="$1" 'BEGIN {
		printf "%.1f ms", v / 1e6; if (b > 0 && e != "berth") printf " (%.1fx)", v / b }'
}
gcell() { [ -s "$W/$1.gbits" ] && echo "$(cat "$W/$1.gbits") Gbit/s" || echo "-"; }
echo
echo "| metric | berth | dockerd | podman |"
echo "|---|---|---|---|"
echo "| \`run --rm --network bridge busybox true\`, median of $RUNS | $(cell berth) | $(cell docker) | $(cell podman) |"
echo "| iperf3 container->container (user bridge), ${SECS}s | $(gcell berth) | $(gcell docker) | - |"
echo "| iperf3 over the namespace's loopback | $(gcell loopback) | | |"

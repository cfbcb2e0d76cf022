#!/usr/bin/env bash
# Side-by-side start-cost and memory benchmark: berthd vs dockerd vs podman.
# See bench/README.md. Never run in CI: it starts three daemons and takes
# minutes on a quiet machine.
#
#   bench/run.sh [-n RUNS] [-p PARALLEL] [--engines berth,docker,podman] [BERTHD]
#   bench/run.sh --engines docker,podman          (no berthd needed)
#   make bench                                    (BERTHD defaults to bin/berthd)
set -euo pipefail

RUNS=20
PAR=50
ENGINES=berth,docker,podman
BERTHD=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-p) PAR=$2; shift 2 ;;
	--engines) ENGINES=$2; shift 2 ;;
	-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
	-*) echo "run.sh: unknown flag $1" >&2; exit 2 ;;
	*) BERTHD=$1; shift ;;
	esac
done

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
want() { case ",$ENGINES," in *",$1,"*) return 0 ;; esac; return 1; }

[ "${CI:-}" = "" ] || die "benchmarks do not run in CI"
[ "$(id -u)" = 0 ] || die "needs root (it starts container engines)"
if want berth; then
	# `make bench` builds bin/berthd and passes nothing.
	[ -n "$BERTHD" ] || [ ! -x "$(dirname "$0")/../bin/berthd" ] || BERTHD=$(dirname "$0")/../bin/berthd
	[ -n "$BERTHD" ] || die "no berthd binary given (usage: bench/run.sh BERTHD, or --engines docker,podman)"
	[ -x "$BERTHD" ] || die "berthd binary $BERTHD is not executable"
	BERTHD=$(readlink -f "$BERTHD")
fi
DOCKER_CLI=${DOCKER_CLI:-$(command -v docker || true)}
[ -n "$DOCKER_CLI" ] || die "no docker CLI in PATH (set DOCKER_CLI)"
BUSYBOX=${BUSYBOX:-/bin/busybox}
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || die "$BUSYBOX is not a static busybox (apt-get install -y busybox-static)"
if want docker; then
	command -v dockerd >/dev/null || die "no dockerd (apt-get install -y docker.io)"
	# dockerd uses a system containerd when its socket exists; ours must be private.
	[ ! -S /run/containerd/containerd.sock ] || die "a system containerd runs at /run/containerd/containerd.sock; dockerd would share it"
fi
if want podman; then
	command -v podman >/dev/null || die "no podman (apt-get install -y podman)"
fi

REPO=$(cd "$(dirname "$0")/.." && pwd)
# Not under /tmp: overlay upper dirs want a real filesystem, not tmpfs.
W=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
TAG=${W##*.}
RESULTS=$W/results
: >"$RESULTS"
FAILED=
PODMAN_GLOBALS=(--root "$W/podman/root" --runroot "$W/podman/run" --tmpdir "$W/podman/tmp"
	--storage-driver overlay --cgroup-manager cgroupfs --events-backend file)
# podman's cgroupfs parent is fixed; remove it afterwards only if we made it.
LIBPOD_PARENT_EXISTED=$(ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null | head -1 || true)

# --- cleanup: everything lives under $W or is named after it ---
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
	[ -S "$W/berth.sock" ] && "$DOCKER_CLI" -H "unix://$W/berth.sock" rm -f $("$DOCKER_CLI" -H "unix://$W/berth.sock" ps -aq 2>/dev/null) >/dev/null 2>&1
	[ -S "$W/docker.sock" ] && "$DOCKER_CLI" -H "unix://$W/docker.sock" rm -f $("$DOCKER_CLI" -H "unix://$W/docker.sock" ps -aq 2>/dev/null) >/dev/null 2>&1
	[ -d "$W/podman/root" ] && podman_cli rm -af -t 0 >/dev/null 2>&1
	stop_pidfile "$W/berth/berthd.pid"
	stop_pidfile "$W/berth/exec/monitor.pid"
	stop_pidfile "$W/docker/dockerd.pid"
	stop_pidfile "$W/podman/service.pid"
	# Whatever still runs from our trees (shims, conmons, monitors).
	for p in $(pids_matching "$W"); do [ "$p" != $$ ] && kill -9 "$p" 2>/dev/null; done
	sleep 0.3
	awk -v w="$W" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	local try h left
	for try in 1 2 3 4 5; do
		left=
		for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
			find "$h" -depth -type d -path "*bench-$TAG*" -exec rmdir {} \; 2>/dev/null
			[ -n "$LIBPOD_PARENT_EXISTED" ] || [ ! -d "$h/libpod_parent" ] || find "$h/libpod_parent" -depth -type d -exec rmdir {} \; 2>/dev/null
			if [ -n "$(find "$h" -maxdepth 3 -type d -path "*bench-$TAG*" 2>/dev/null)" ]; then left=1; fi
			if [ -z "$LIBPOD_PARENT_EXISTED" ] && [ -d "$h/libpod_parent" ]; then left=1; fi
		done
		[ -z "$left" ] && break
		sleep 1
	done
	[ -z "$left" ] || echo "run.sh: some benchmark cgroups could not be removed (bench-$TAG, libpod_parent)" >&2
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building apibench"
(cd "$REPO" && go build -o "$W/apibench" ./bench/apibench) || die "build bench/apibench failed"
AB=$W/apibench

log "making the busybox rootfs tar"
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/proc" "$R/sys" "$R/dev" "$R/root"
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
tar -C "$R" -cf "$W/busybox.tar" .

wait_ping() { # sock seconds [pid]: fails early if pid exits
	local i
	for i in $(seq "$2"); do
		"$AB" ping -sock "$1" -timeout 1s 2>/dev/null && return 0
		if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
			echo "run.sh: the daemon (pid $3) exited" >&2
			return 1
		fi
	done
	return 1
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_kib() { # sum of PSS over pids
	local p s=0 v
	for p in "$@"; do
		v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
		s=$((s + ${v:-0}))
	done
	echo "$s"
}
record() { # engine: prefixes each "metric value" line of stdin
	while read -r k v; do echo "$1 $k $v" | tee -a "$RESULTS" >&2; done
}

# measure ENGINE SOCK SUPERVISOR-FUNCTION CLI...
measure() {
	local engine=$1 sock=$2 sup=$3
	shift 3
	log "$engine: API run --rm x$RUNS"
	"$AB" api -sock "$sock" -n "$RUNS" | record "$engine" || return 1
	log "$engine: CLI run --rm and create/start/rm x$RUNS"
	"$AB" cli -n "$RUNS" -- "$@" | record "$engine" || return 1
	log "$engine: $PAR containers started in parallel"
	"$AB" parallel -sock "$sock" -n "$PAR" -ids "$W/$engine.ids" | record "$engine" || return 1
	sleep 2 # let the supervisors settle
	local sp n
	sp=$($sup)
	n=$(echo $sp | wc -w)
	local total
	total=$(pss_kib $sp)
	echo "supervisor.procs $n" | record "$engine"
	echo "supervisor.pss.total $total" | record "$engine"
	echo "supervisor.pss.per.ctr $((total / PAR))" | record "$engine"
	"$AB" rmall -sock "$sock" -ids "$W/$engine.ids" | record "$engine" || return 1
}

# --- berth ---
berth_sup() { cat "$W/berth/exec/monitor.pid" 2>/dev/null; }
run_berth() {
	mkdir -p "$W/berth"
	echo '{}' >"$W/berth/daemon.json"
	log "berth: starting $BERTHD"
	"$BERTHD" --data-root "$W/berth/data" --exec-root "$W/berth/exec" -H "unix://$W/berth.sock" \
		--pidfile "$W/berth/berthd.pid" --config-file "$W/berth/daemon.json" --cgroup-parent "/bench-$TAG-berth" \
		--bridge=none --iptables=false \
		>"$W/berth/log" 2>&1 &
	wait_ping "$W/berth.sock" 20 $! || { tail -20 "$W/berth/log" >&2; echo "berthd did not come up on $W/berth.sock (its log tail is above)"; return 1; }
	"$DOCKER_CLI" -H "unix://$W/berth.sock" import "$W/busybox.tar" busybox:latest >/dev/null ||
		{ echo "berthd could not import the busybox rootfs (POST /images/create?fromSrc=-)"; return 1; }
	sleep 1
	echo "idle.rss.daemon $(rss_kib "$(cat "$W/berth/berthd.pid")")" | record berth
	measure berth "$W/berth.sock" berth_sup "$DOCKER_CLI" -H "unix://$W/berth.sock" || return 1
}

# --- docker ---
docker_sup() { pids_matching "-address $W/docker/exec/containerd/containerd.sock" | while read -r p; do
	{ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q '^[^ ]*containerd-shim' && echo "$p"; done; }
run_docker() {
	mkdir -p "$W/docker"
	echo '{}' >"$W/docker/daemon.json"
	log "docker: starting $(dockerd --version)"
	dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" -H "unix://$W/docker.sock" \
		--pidfile "$W/docker/dockerd.pid" --config-file "$W/docker/daemon.json" \
		--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--cgroup-parent "/bench-$TAG-docker" --log-level warn >"$W/docker/log" 2>&1 &
	wait_ping "$W/docker.sock" 30 $! || { tail -20 "$W/docker/log" >&2; echo "dockerd did not answer /_ping within 30s"; return 1; }
	"$DOCKER_CLI" -H "unix://$W/docker.sock" import "$W/busybox.tar" busybox:latest >/dev/null || return 1
	sleep 1
	local d c
	d=$(cat "$W/docker/dockerd.pid")
	c=$(pids_matching "$W/docker/exec/containerd/containerd.toml" | head -1)
	echo "idle.rss.daemon $(( $(rss_kib "$d") + $(rss_kib "${c:-0}") ))" | record docker
	measure docker "$W/docker.sock" docker_sup "$DOCKER_CLI" -H "unix://$W/docker.sock" || return 1
}

# --- podman ---
export CONTAINERS_CONF=$W/podman/containers.conf
podman_cli() { podman "${PODMAN_GLOBALS[@]}" "$@"; }
podman_sup() { pids_matching "$W/podman" | while read -r p; do
	{ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q '^[^ ]*conmon ' && echo "$p"; done; }
run_podman() {
	mkdir -p "$W/podman/tmp"
	# Rootful podman asks for RLIMIT_NOFILE/NPROC of 1048576/4194304; where
	# root lacks CAP_SYS_RESOURCE (containers, sandboxes) that fails, so
	# ask for the hard limits we have, as docker does by not asking.
	printf '[containers]\ndefault_ulimits = ["nofile=%s:%s"]\n' "$(ulimit -Hn)" "$(ulimit -Hn)" >"$W/podman/containers.conf"
	# RLIMIT_NPROC is applied with prlimit on the container, which fails
	# without CAP_SYS_RESOURCE even when lowering it: drop it in a wrapper.
	local capeff
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	if (( (16#$capeff >> 24 & 1) == 0 )); then
		local real
		real=$(command -v runc || command -v crun)
		printf '#!/bin/sh\nexec %s oci-wrap %s "$@"\n' "$AB" "$real" >"$W/podman/oci-wrap"
		chmod +x "$W/podman/oci-wrap"
		PODMAN_GLOBALS+=(--runtime "$W/podman/oci-wrap")
		log "podman: no CAP_SYS_RESOURCE, running $real through apibench oci-wrap (drops RLIMIT_NPROC)"
	fi
	log "podman: $(podman --version)"
	podman_cli import "$W/busybox.tar" busybox:latest >/dev/null || return 1
	podman "${PODMAN_GLOBALS[@]}" system service --time 0 "unix://$W/podman.sock" >"$W/podman/log" 2>&1 &
	echo $! >"$W/podman/service.pid"
	wait_ping "$W/podman.sock" 20 $! || { tail -20 "$W/podman/log" >&2; echo "podman system service did not answer"; return 1; }
	sleep 1
	echo "idle.rss.daemon $(rss_kib "$(cat "$W/podman/service.pid")")" | record podman
	measure podman "$W/podman.sock" podman_sup podman "${PODMAN_GLOBALS[@]}" || return 1
}

for e in berth docker podman; do
	want "$e" || continue
	if ! out=$("run_$e"); then
		echo "run.sh: the $e half FAILED${out:+: $out}" >&2
		FAILED="$FAILED $e"
	fi
done

echo
cgmode=v1
[ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] && cgmode=hybrid
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && cgmode=v2
echo "berth bench: $RUNS runs (medians), $PAR in parallel; kernel $(uname -r), cgroup $cgmode, $(nproc) CPUs"
"$AB" table "$RESULTS"
[ -z "$FAILED" ] || die "failed:$FAILED"

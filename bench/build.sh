#!/usr/bin/env bash
# Dockerfile builds: berthd (docker CLI, classic builder) vs Debian's dockerd
# (DOCKER_BUILDKIT=0, its classic builder) vs `podman build`, each on
# private temporary roots, the same ten-step Dockerfile and context (a few
# MiB of files). Reports (never asserts) the median of RUNS builds:
#   build.cold    --no-cache, after removing the image and pruning the cache
#   build.cached  every step a cache hit (after one unmeasured warm build)
# and prints ratios (above 1: berth is faster). Never run in CI.
#
#   bench/build.sh [-n RUNS] [-s MIB] [--engines berth,docker,podman] [BERTHD]
#   (BERTHD defaults to bin/berthd; `make bench-build` builds it first)
set -euo pipefail

RUNS=5
MIB=4
ENGINES=berth,docker,podman
BERTHD=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-s) MIB=$2; shift 2 ;;
	--engines) ENGINES=$2; shift 2 ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	-*) echo "build.sh: unknown flag $1" >&2; exit 2 ;;
	*) BERTHD=$1; shift ;;
	esac
done
die() { echo "build.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
want() { case ",$ENGINES," in *",$1,"*) return 0 ;; esac; return 1; }

[ "${CI:-}" = "" ] || die "benchmarks do not run in CI"
[ "$(id -u)" = 0 ] || die "needs root (it starts container engines)"
REPO=$(cd "$(dirname "$0")/.." && pwd)
if want berth; then
	BERTHD=$(readlink -f "${BERTHD:-$REPO/bin/berthd}")
	[ -x "$BERTHD" ] || die "no berthd at $BERTHD (make build)"
fi
DOCKER_CLI=${DOCKER_CLI:-$(command -v docker || true)}
[ -n "$DOCKER_CLI" ] || die "no docker CLI in PATH (set DOCKER_CLI)"
if want docker; then
	command -v dockerd >/dev/null || die "no dockerd (apt-get install -y docker.io)"
	[ ! -S /run/containerd/containerd.sock ] || die "a system containerd runs; dockerd would share it"
fi
if want podman; then
	command -v podman >/dev/null || die "no podman (apt-get install -y podman)"
fi

# Not under /tmp: overlay upper dirs want a real filesystem, not tmpfs.
W=$(mktemp -d /var/tmp/berth-buildbench.XXXXXX)
TAG=${W##*.}
RESULTS=$W/results
: >"$RESULTS"
PODMAN_GLOBALS=(--root "$W/podman/root" --runroot "$W/podman/run" --tmpdir "$W/podman/tmp"
	--storage-driver overlay --cgroup-manager cgroupfs --events-backend file)
LIBPOD_PARENT_EXISTED=$(ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null | head -1 || true)
PIDS=()
FAILED=
cleanup() {
	set +e
	log "cleaning up $W"
	for s in berth docker; do
		[ -S "$W/$s.sock" ] && "$DOCKER_CLI" -H "unix://$W/$s.sock" ps -aq 2>/dev/null | xargs -r "$DOCKER_CLI" -H "unix://$W/$s.sock" rm -f >/dev/null 2>&1
	done
	[ -d "$W/podman/root" ] && podman "${PODMAN_GLOBALS[@]}" rm -af -t 0 >/dev/null 2>&1
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null; done
	# berthd's monitor outlives berthd (live restore): stop ours by pid.
	if [ -f "$W/berth/exec/monitor.pid" ]; then
		m=$(cat "$W/berth/exec/monitor.pid")
		tr '\0' ' ' <"/proc/$m/cmdline" 2>/dev/null | grep -q "$W" && kill "$m"
	fi
	# whatever else still runs from our trees (dockerd's containerd and shims)
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$W" && [ "${p#/proc/}" != $$ ] && kill -9 "${p#/proc/}" 2>/dev/null
	done
	sleep 0.5
	awk -v w="$W" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		find "$h" -depth -type d -path "*buildbench-$TAG*" -exec rmdir {} \; 2>/dev/null
		[ -n "$LIBPOD_PARENT_EXISTED" ] || [ ! -d "$h/libpod_parent" ] || find "$h/libpod_parent" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the context: ten steps after FROM, MIB MiB of files to COPY ---
C=$W/context
mkdir -p "$C/data"
for i in $(seq 1 $((MIB * 8))); do head -c 131072 /dev/urandom >"$C/data/blob$i"; done
printf '#!/bin/sh\necho "bench app $(date +%%s)"\n' >"$C/app.sh"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY data/ /app/data/
RUN mkdir -p out && for i in $(seq 1 200); do echo "line $i" > out/f$i; done
RUN dd if=/dev/zero of=/app/zeros bs=1M count=4 2>/dev/null && sha256sum data/* > data.sums
COPY app.sh /app/app.sh
RUN chmod +x /app/app.sh && /app/app.sh > /app/generated.txt
LABEL org.example.bench=build
EXPOSE 8080
CMD ["/app/app.sh"]
EOF
sh "$REPO/hack/busybox-rootfs.sh" "$W/busybox.tar" >/dev/null
echo '{}' >"$W/daemon.json"

wait_up() { # cli... : up to 30 s
	for _ in $(seq 150); do "$@" version >/dev/null 2>&1 && return 0; sleep 0.2; done
	return 1
}
us_since() { echo $((($(date +%s%N) - $1) / 1000)); }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
record() { echo "$1 $2 $3" >>"$RESULTS"; log "$1 $2 $3 ms"; }

# --- berth and docker: the docker CLI with the classic builder ---
start_daemon() { # name binary extra-flags...
	local s=$1 bin=$2
	shift 2
	mkdir -p "$W/$s"
	"$bin" --data-root "$W/$s/data" --exec-root "$W/$s/exec" -H "unix://$W/$s.sock" --pidfile "$W/$s/pid" \
		--config-file "$W/daemon.json" --bridge=none --iptables=false --cgroup-parent "/buildbench-$TAG-$s" "$@" >"$W/$s/log" 2>&1 &
	PIDS+=($!)
	wait_up "$DOCKER_CLI" -H "unix://$W/$s.sock" || { tail -20 "$W/$s/log" >&2; die "$s did not come up"; }
	"$DOCKER_CLI" -H "unix://$W/$s.sock" import --change 'CMD ["sh"]' "$W/busybox.tar" busybox:latest >/dev/null
}
cli_build() { DOCKER_BUILDKIT=0 "$DOCKER_CLI" -H "unix://$W/$1.sock" build --network none -t bench "${@:2}" "$C" 2>&1; }
cli_clean() {
	local D=("$DOCKER_CLI" -H "unix://$W/$1.sock")
	"${D[@]}" rmi -f bench >/dev/null 2>&1 || true
	"${D[@]}" image prune -f >/dev/null 2>&1 || true
	"${D[@]}" builder prune -af >/dev/null 2>&1 || true
}
build_berth() { cli_build berth "$@"; }
clean_berth() { cli_clean berth; }
build_docker() { cli_build docker "$@"; }
clean_docker() { cli_clean docker; }
if want berth; then
	log "berth: $BERTHD"
	start_daemon berth "$BERTHD"
fi
if want docker; then
	log "docker: $(dockerd --version)"
	start_daemon docker dockerd --ip6tables=false --ip-forward=false --ip-masq=false --log-level warn
fi

# --- podman build (buildah), on roots of its own ---
if want podman; then
	log "podman: $(podman --version)"
	mkdir -p "$W/podman/tmp"
	# as in run.sh: ask for the nofile limit we have, and drop RLIMIT_NPROC
	# where root lacks CAP_SYS_RESOURCE (podman's runtime would fail)
	printf '[containers]\ndefault_ulimits = ["nofile=%s:%s"]\n' "$(ulimit -Hn)" "$(ulimit -Hn)" >"$W/podman/containers.conf"
	export CONTAINERS_CONF=$W/podman/containers.conf
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	if (((16#$capeff >> 24 & 1) == 0)); then
		(cd "$REPO" && go build -o "$W/apibench" ./bench/apibench) || die "build bench/apibench failed"
		printf '#!/bin/sh\nexec %s oci-wrap %s "$@"\n' "$W/apibench" "$(command -v runc)" >"$W/podman/oci-wrap"
		chmod +x "$W/podman/oci-wrap"
		PODMAN_GLOBALS+=(--runtime "$W/podman/oci-wrap")
	fi
	podman "${PODMAN_GLOBALS[@]}" import --change 'CMD ["sh"]' "$W/busybox.tar" busybox:latest >/dev/null 2>&1 || die "podman import failed"
fi
build_podman() { podman "${PODMAN_GLOBALS[@]}" build --network none --layers -t bench "$@" "$C" 2>&1; }
clean_podman() {
	podman "${PODMAN_GLOBALS[@]}" rmi -f bench >/dev/null 2>&1 || true
	podman "${PODMAN_GLOBALS[@]}" image prune -f >/dev/null 2>&1 || true
}

# Rounds interleave the engines, so that the load of a shared machine
# falls on all of them alike.
ACTIVE=()
for e in berth docker podman; do want "$e" && ACTIVE+=("$e"); done
for e in "${ACTIVE[@]}"; do : >"$W/$e.cold"; : >"$W/$e.cached"; done
timed() { # engine file build-args...: appends the build's µs to file
	local a out
	a=$(date +%s%N)
	out=$("build_$1" "${@:3}") || { echo "$1: build ${*:3} failed: $(tail -5 <<<"$out")" >&2; return 1; }
	us_since "$a" >>"$2"
	LAST_OUT=$out
}
log "cold builds (--no-cache after removing the image and pruning), $RUNS rounds"
for _ in $(seq "$RUNS"); do
	for e in "${ACTIVE[@]}"; do
		"clean_$e"
		timed "$e" "$W/$e.cold" --no-cache || FAILED="$FAILED $e"
	done
done
log "cached builds, one warm-up then $RUNS rounds"
for e in "${ACTIVE[@]}"; do timed "$e" /dev/null || FAILED="$FAILED $e"; done
for _ in $(seq "$RUNS"); do
	for e in "${ACTIVE[@]}"; do
		timed "$e" "$W/$e.cached" || FAILED="$FAILED $e"
		hits=$(grep -c 'Using cache' <<<"$LAST_OUT" || true)
		[ "$hits" -ge 10 ] || log "$e: a cached build hit the cache $hits times, not 10"
	done
done
for e in "${ACTIVE[@]}"; do
	for m in cold cached; do
		[ -s "$W/$e.$m" ] && record "$e" "build.$m" "$(median <"$W/$e.$m")"
	done
done

echo
echo "berth build bench: $RUNS runs (medians), $(du -sh "$C" | cut -f1) context; kernel $(uname -r), $(nproc) CPUs"
printf '%-14s %10s %10s %10s %14s %14s\n' "metric (ms)" berth docker podman docker/berth podman/berth
for m in build.cold build.cached; do
	b=$(awk -v m=$m '$1 == "berth" && $2 == m { print $3 }' "$RESULTS")
	d=$(awk -v m=$m '$1 == "docker" && $2 == m { print $3 }' "$RESULTS")
	p=$(awk -v m=$m '$1 == "podman" && $2 == m { print $3 }' "$RESULTS")
	ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo -; }
	printf '%-14s %10s %10s %10s %14s %14s\n' "$m" "${b:--}" "${d:--}" "${p:--}" "$(ratio "$d" "$b")" "$(ratio "$p" "$b")"
done
[ -z "$FAILED" ] || die "failed:$FAILED"

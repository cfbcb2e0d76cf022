#!/usr/bin/env bash
# Pull benchmark: berthd vs dockerd pulling the same multi-layer image
# (4 layers x 25 MiB of random data, gzip) from Debian's docker-registry on
# loopback. Reports wall time per pull (median of RUNS, each after rmi so
# every pull downloads and unpacks everything) and peak disk growth of the
# data root during a pull. Never run in CI.
#
#   bench/pull.sh [-n RUNS] [--engines berth,docker] [BERTHD]
set -euo pipefail
RUNS=3
ENGINES=berth,docker
BERTHD=
LAYERS=4
SIZE=$((25 << 20))
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	--engines) ENGINES=$2; shift 2 ;;
	-h|--help) sed -n '2,8p' "$0"; exit 0 ;;
	-*) echo "pull.sh: unknown flag $1" >&2; exit 2 ;;
	*) BERTHD=$1; shift ;;
	esac
done
die() { echo "pull.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
want() { case ",$ENGINES," in *",$1,"*) return 0 ;; esac; return 1; }
[ "${CI:-}" = "" ] || die "benchmarks do not run in CI"
[ "$(id -u)" = 0 ] || die "needs root"
command -v docker-registry >/dev/null || die "apt-get install -y docker-registry"
REPO=$(cd "$(dirname "$0")/.." && pwd)
[ -n "$BERTHD" ] || BERTHD=$REPO/bin/berthd
BERTHD=$(readlink -f "$BERTHD")
DOCKER_CLI=${DOCKER_CLI:-$(command -v docker)}
if want docker; then
	command -v dockerd >/dev/null || die "no dockerd (apt-get install -y docker.io)"
	[ ! -S /run/containerd/containerd.sock ] || die "a system containerd runs; dockerd would share it"
fi

W=$(mktemp -d /var/tmp/berth-pullbench.XXXXXX)
stop_pid() { local pid=$1 i; kill -0 "$pid" 2>/dev/null || return 0; kill "$pid" 2>/dev/null || true
	for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$pid" 2>/dev/null || true; }
cleanup() {
	set +e
	for f in "$W"/*.pid "$W"/berth/exec/monitor.pid; do [ -s "$f" ] && stop_pid "$(cat "$f")"; done
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$W" && [ "${p#/proc/}" != $$ ] && kill -9 "${p#/proc/}" 2>/dev/null
	done
	sleep 0.3
	awk -v w="$W" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$W"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$W/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: $REG
YML
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
echo $! >"$W/registry.pid"
for i in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
log "pushing fixture: $LAYERS layers x $SIZE bytes to $REG/bench/random"
(cd "$REPO" && go run ./bench/pullfixture -registry "http://$REG" -repo bench/random -layers "$LAYERS" -size "$SIZE") >/dev/null
IMG=$REG/bench/random:latest

# peak_du DIR PID: samples du of DIR while PID lives; prints max bytes.
peak_du() { local max=0 cur; while kill -0 "$2" 2>/dev/null; do
	cur=$(du -sxb "$1" 2>/dev/null | cut -f1); [ "${cur:-0}" -gt "$max" ] && max=$cur; sleep 0.05; done; echo "$max"; }

measure() { # name sock dataroot
	local name=$1 sock=$2 root=$3 i t0 t1 base peak times=()
	for i in $(seq "$RUNS"); do
		"$DOCKER_CLI" -H "unix://$sock" rmi -f "$IMG" >/dev/null 2>&1 || true
		sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
		base=$(du -sxb "$root" | cut -f1)
		t0=$(date +%s%N)
		"$DOCKER_CLI" -H "unix://$sock" pull -q "$IMG" >/dev/null &
		local pp=$!
		peak=$(peak_du "$root" $pp)
		wait $pp || die "$name: pull failed"
		t1=$(date +%s%N)
		times+=($(( (t1 - t0) / 1000000 )))
		echo "$name run $i: $(( (t1 - t0) / 1000000 )) ms, peak disk +$(( (peak - base) >> 20 )) MiB" >&2
	done
	local med
	med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
	echo "$name $med $(( (peak - base) >> 20 ))" >>"$W/results"
}

if want berth; then
	mkdir -p "$W/berth"; echo '{}' >"$W/berth/daemon.json"
	"$BERTHD" --data-root "$W/berth/data" --exec-root "$W/berth/exec" -H "unix://$W/berth.sock" \
		--pidfile "$W/berth/berthd.pid" --config-file "$W/berth/daemon.json" --log-level warn \
		--bridge=none --iptables=false >"$W/berth/log" 2>&1 &
	echo $! >"$W/berthd.pid"
	for i in $(seq 150); do "$DOCKER_CLI" -H "unix://$W/berth.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
	measure berth "$W/berth.sock" "$W/berth/data"
fi
if want docker; then
	mkdir -p "$W/docker"; echo '{}' >"$W/docker/daemon.json"
	dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" -H "unix://$W/docker.sock" \
		--pidfile "$W/docker/dockerd.pid" --config-file "$W/docker/daemon.json" \
		--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--insecure-registry "$REG" --log-level warn >"$W/docker/log" 2>&1 &
	echo $! >"$W/dockerd.pid"
	for i in $(seq 300); do "$DOCKER_CLI" -H "unix://$W/docker.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
	measure docker "$W/docker.sock" "$W/docker/data"
fi
echo
printf '%-8s %14s %16s\n' engine "pull (median)" "peak disk growth"
while read -r n t p; do printf '%-8s %11s ms %12s MiB\n' "$n" "$t" "$p"; done <"$W/results"

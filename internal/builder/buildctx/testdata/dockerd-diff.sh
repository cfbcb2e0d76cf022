#!/usr/bin/env bash
# Side-by-side check of COPY/ADD against dockerd's classic builder: the
# same contexts and Dockerfiles built with the docker CLI (DOCKER_BUILDKIT=0)
# on a private berthd and a private Debian dockerd (docker.io), each
# resulting tree listed (type, mode, owner, size, name, link) and diffed,
# failures compared by their last message line. Prints SAME/DIFF per
# case; the one expected DIFF is the setuid bit of "suid" (dockerd's late
# chown clears it, berth keeps it). Needs root; never run in CI.
#
#   internal/builder/buildctx/testdata/dockerd-diff.sh [BERTHD]   (default bin/berthd)
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../../../.." && pwd)
BERTHD=$(readlink -f "${1:-$REPO/bin/berthd}")
[ "${CI:-}" = "" ] || { echo "not in CI" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
[ -x "$BERTHD" ] || { echo "no berthd at $BERTHD (make build)" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "no dockerd (apt-get install -y docker.io)" >&2; exit 1; }
[ ! -S /run/containerd/containerd.sock ] || { echo "a system containerd runs; dockerd would share it" >&2; exit 1; }
W=$(mktemp -d /var/tmp/bctx-diff.XXXXXX)
TAG=${W##*.}
PIDS=()
cleanup() {
	for s in berth docker; do
		[ -S "$W/$s.sock" ] && docker -H "unix://$W/$s.sock" ps -aq 2>/dev/null | xargs -r docker -H "unix://$W/$s.sock" rm -f >/dev/null 2>&1
	done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null; done
	if [ -f "$W/berth/exec/monitor.pid" ]; then m=$(cat "$W/berth/exec/monitor.pid"); tr '\0' ' ' <"/proc/$m/cmdline" 2>/dev/null | grep -q "$W" && kill "$m"; fi
	for p in /proc/[0-9]*; do { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$W" && [ "${p#/proc/}" != $$ ] && kill -9 "${p#/proc/}" 2>/dev/null; done
	sleep 0.5
	awk -v w="$W" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do find "$h" -depth -type d -path "*bctxdiff-$TAG*" -exec rmdir {} \; 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
sh "$REPO/hack/busybox-rootfs.sh" "$W/busybox.tar" >/dev/null
echo '{}' >"$W/daemon.json"
start() { local s=$1 bin=$2; shift 2; mkdir -p "$W/$s"
	"$bin" --data-root "$W/$s/data" --exec-root "$W/$s/exec" -H "unix://$W/$s.sock" --pidfile "$W/$s/pid" \
		--config-file "$W/daemon.json" --bridge=none --iptables=false --cgroup-parent "/bctxdiff-$TAG-$s" "$@" >"$W/$s/log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 150); do docker -H "unix://$W/$s.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
	docker -H "unix://$W/$s.sock" import --change 'CMD ["sh"]' "$W/busybox.tar" busybox:latest >/dev/null
}
start berth "$BERTHD"
start docker dockerd --ip6tables=false --ip-forward=false --ip-masq=false --log-level warn
C=$W/ctx; mkdir -p $C/dir/sub $C/ignored
echo a >$C/a.txt; echo b >$C/b.txt; printf '#!/bin/sh\n' >$C/exec.sh; chmod 755 $C/exec.sh
echo x >$C/dir/x.txt; echo z >$C/dir/sub/z.txt; chmod 600 $C/dir/sub/z.txt; chmod 700 $C/dir; chmod 711 $C/dir/sub
ln -s x.txt $C/dir/link; ln -s /etc/passwd $C/dir/abslink
echo i >$C/ignored/i; echo l >$C/app.log
printf '*.log\nignored/\n' >$C/.dockerignore
mkdir -p $W/t/tt/sub; echo t >$W/t/tt/sub/f; ln -s / $W/t/lnroot; chown -R 1000:1000 $W/t/tt
tar -C $W/t -czf $C/l.tar.gz --numeric-owner tt lnroot
echo notar | gzip >$C/notar.gz
run() { # name dockerfile [dockerignore]
	local name=$1 df=$2
	printf '%s' "$df" >$C/Dockerfile
	printf '%s' "${3:-*.log
ignored/
}" >$C/.dockerignore
	for s in berth docker; do
		D=(docker -H "unix://$W/$s.sock")
		out=$(DOCKER_BUILDKIT=0 "${D[@]}" build -q --network none -t t-$name $C 2>&1)
		if [ $? -ne 0 ]; then echo "ERR $(echo "$out" | grep -v '^#\|DEPRECATED\|BuildKit\|Install the buildx\|^ *$\|environment-variable' | tail -1)" >$W/$s-$name.out; continue; fi
		cid=$("${D[@]}" create t-$name)
		"${D[@]}" export $cid | tar -tv --numeric-owner 2>/dev/null | grep -E ' (t|w|x|etc/a.txt|lnroot|victim)' | awk '{ $4=""; $5=""; print }' | sort -k4 >$W/$s-$name.out
		"${D[@]}" rm $cid >/dev/null
	done
	if diff -u $W/docker-$name.out $W/berth-$name.out >$W/diff-$name; then echo "SAME $name ($(wc -l <$W/berth-$name.out) lines: $(head -c 100 $W/berth-$name.out | head -1))"; else echo "DIFF $name"; cat $W/diff-$name; fi
}
ln $C/a.txt $C/hard.txt; cp $C/a.txt $C/suid; chmod 4755 $C/suid
tar -C $W/t -cJf $C/l.tar.xz tt; tar -C $W/t -cjf $C/l.tar.bz2 tt
mkdir -p $W/v/t/app; ln -s /victim $W/v/t/app/x.txt; ln -s /victimdir $W/v/t/app/sub; tar -C $W/v -cf $C/victim.tar t
mkdir -p $C/emptyd
ln $C/a.txt $C/hard.txt; cp $C/a.txt $C/suid; chmod 4755 $C/suid
tar -C $W/t -cJf $C/l.tar.xz tt; tar -C $W/t -cjf $C/l.tar.bz2 tt
mkdir -p $W/v/t/app; ln -s /victim $W/v/t/app/x.txt; ln -s /victimdir $W/v/t/app/sub; tar -C $W/v -cf $C/victim.tar t
run copy 'FROM busybox
COPY dir /t/d1
COPY dir/ /t/d2/
COPY a.txt /t/f1
COPY a.txt /t/f2/
COPY *.txt /t/glob/
COPY dir/*.txt /t/glob2/
COPY dir/link /t/lnk/
COPY exec.sh /t/
COPY . /t/all/
'
run add 'FROM busybox
ADD l.tar.gz /t/add/
ADD l.tar.gz notar.gz /t/add2/
ADD l.tar.gz /
COPY a.txt /lnroot/etc/
'
run workdir 'FROM busybox
WORKDIR /w
COPY a.txt .
COPY a.txt rel/
COPY b.txt rel2
'
run missing 'FROM busybox
COPY missing /x
'
run outside 'FROM busybox
COPY ../x /x
'
run multi 'FROM busybox
COPY a.txt b.txt /x
'
run nomatch 'FROM busybox
COPY *.none /x/
'
run ignored 'FROM busybox
COPY app.log /x/
'
run baduser 'FROM busybox
COPY --chown=nobodyxyz a.txt /x/
'
run badgroup 'FROM busybox
COPY --chown=root:nogroupxyz a.txt /x/
'
run chown2 'FROM busybox
COPY --chown=daemon dir /t/own
COPY --chown=www-data:staff a.txt /t/own2/
COPY --chown=nobody:nogroup a.txt /t/new/parent/x
COPY --chown=33 dir /t/own
COPY --chown=1:2 a.txt /t/
'
run ignore2 'FROM busybox
COPY . /t/all/
' 'Dockerfile
.dockerignore
dir
!dir/x.txt
*.gz
'
run nomatch2 'FROM busybox
COPY *.none a.txt /x/
'
run replace 'FROM busybox
ADD victim.tar /
COPY dir /t/app
'
run misc 'FROM busybox
COPY hard.txt a.txt suid /t/
ADD l.tar.xz /t/xz
ADD l.tar.bz2 /t/bz2/
COPY l.tar.xz /t/copied
'
run dotdest 'FROM busybox
WORKDIR /w
COPY a.txt b.txt .
'
run emptydir 'FROM busybox
COPY ignored /t/
'
run more 'FROM busybox
ADD --chown=1:2 l.tar.gz /t/x/
ADD --chown=1:2 notar.gz /t/y/
COPY emptyd /t/e
COPY di* /t/wild/
COPY a.txt /t/dot/.
ADD l.tar.gz /
COPY a.txt /lnroot/t/viaslink
COPY --chown=5:5 dir /t/
'

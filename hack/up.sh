#!/bin/sh
# Set up this machine and run berth: install dependencies, build, start berthd
# on the default paths (/var/lib/berth, /run/berth, unix:///run/berth.sock),
# make a busybox image from Debian's busybox-static and run a first container.
set -eu
cd "$(dirname "$0")/.."
./hack/deps.sh
export PATH="$PATH:/usr/local/go/bin"
make build
install -m 0755 bin/berthd bin/berth bin/berth-init /usr/local/bin/
sock=/run/berth.sock
if ! berth -H unix://$sock version >/dev/null 2>&1; then
	nohup berthd >>/var/log/berthd.log 2>&1 &
	for i in $(seq 1 100); do
		berth -H unix://$sock version >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
berth -H unix://$sock version >/dev/null || { echo "berthd did not start; see /var/log/berthd.log" >&2; exit 1; }
if ! berth -H unix://$sock image inspect busybox:latest >/dev/null 2>&1; then
	tmp=$(mktemp)
	./hack/busybox-rootfs.sh "$tmp"
	berth -H unix://$sock import --change 'CMD ["sh"]' "$tmp" busybox:latest
	rm -f "$tmp"
fi
berth -H unix://$sock run --rm busybox echo hello from berth
echo "berthd is running (log: /var/log/berthd.log). Try: berth run -it busybox sh   or   docker -H unix://$sock ps"

#!/bin/sh
# Install what berth builds, runs and tests with, from Debian's packages.
# docker.io gives the tests a dockerd to exchange save/load archives with;
# its service is never started here (the tests start private instances).
# Go itself comes with this kind of machine (/usr/local/go); berth needs 1.26.
set -eu
export DEBIAN_FRONTEND=noninteractive
need=""
for p in busybox-static runc crun iproute2 ca-certificates make git python3-docker docker-registry apache2-utils btrfs-progs xfsprogs openssh-server openssh-client docker.io; do
	dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
	# Another apt may hold the lock briefly (unattended upgrades, a parallel job).
	for i in 1 2 3 4 5 6; do
		apt-get update -qq && apt-get install -y -qq $need && break
		sleep 5
	done
fi
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
	echo "berth needs Go >= 1.26 (this kind of machine ships it at /usr/local/go)" >&2
	exit 1
fi

#!/bin/sh
# Run every fuzz target for FUZZTIME each (default 1m); CI only runs their
# seed corpora as ordinary tests. Usage: make fuzz [FUZZTIME=10m] [FUZZ=name-regexp]
set -eu
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-1m}
FUZZ=${FUZZ:-.}
GO=${GO:-go}
status=0
for pkg in $($GO list ./...); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "$t" | grep -Eq "$FUZZ" || continue
		echo "== $pkg $t ($FUZZTIME)"
		$GO test "$pkg" -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" || status=1
	done
done
exit $status

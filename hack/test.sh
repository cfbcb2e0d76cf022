#!/bin/sh
# The test command (README; .ci/run calls it): installs what the tests need,
# builds, vets, and runs unit, root integration and e2e tests.
set -eu
cd "$(dirname "$0")/.."
./hack/deps.sh
export PATH="$PATH:/usr/local/go/bin"
make build
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "gofmt needed: $unformatted" >&2; exit 1; }
# Root integration and e2e tests need root; they skip themselves otherwise.
export BERTH_BIN_DIR="$PWD/bin"
go test -count=1 -timeout 20m -p 2 ./... 2>&1 | tee /tmp/berth-test.log
# `tee` swallows go test's status: take it from the log.
if grep -Eq '^(FAIL|panic:|--- FAIL)' /tmp/berth-test.log; then
	echo "tests failed" >&2
	exit 1
fi

# berth build and test entry points. README names the two commands a user
# needs: `make up` (set up and run) and `make test`.
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/berth-dev/berth/internal/version.Version=$(VERSION) \
	-X github.com/berth-dev/berth/internal/version.GitCommit=$(shell git rev-parse --short HEAD 2>/dev/null)

.PHONY: build test unit up bench bench-build clean fuzz
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/berthd ./cmd/berthd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/berth-init ./cmd/berth-init
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/berth ./cmd/berth

# Everything CI runs: deps, build, vet, unit + root integration + e2e tests.
test:
	./hack/test.sh

# Unit tests only (no root needed).
unit:
	$(GO) test ./...

# Set up this machine and run berthd with a busybox image.
up:
	./hack/up.sh

# Every go test -fuzz target for FUZZTIME (default 1m) each; FUZZ=regexp picks some.
fuzz:
	FUZZTIME='$(FUZZTIME)' FUZZ='$(FUZZ)' ./hack/fuzz.sh

bench: build
	./bench/run.sh

# Dockerfile builds, cold and cached, vs dockerd's classic builder and podman.
bench-build: build
	./bench/build.sh

clean:
	rm -rf bin

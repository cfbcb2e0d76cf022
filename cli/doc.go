// Package cli is the berth command line: docker's commands, flags, output
// and exit codes, talking to a daemon only through the Engine API (moby's Go
// client, with API version negotiation). One file per command holds its
// xOptions, newXCommand and runX.
//
// Daemon address, first set wins: -H/--host, BERTH_HOST, DOCKER_HOST,
// unix:///run/berth.sock. Exit codes: a command's failure is 1; for run and
// create a daemon or usage error is 125, a command that cannot be invoked 126,
// one not found 127, and otherwise run exits with the container's status.
package cli

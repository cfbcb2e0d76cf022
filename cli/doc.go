// Package cli is the berth command line: docker's commands, flags, output
// and exit codes, talking to a daemon only through the Engine API (moby's Go
// client, with API version negotiation). One file per command holds its
// xOptions, newXCommand and runX; cli/opts maps container flags to the
// create request and cli/format renders tables and templates.
//
// Daemon address, first set wins: -H/--host, BERTH_HOST, DOCKER_HOST,
// unix:///run/berth.sock. TLS: --tls/--tlsverify with --tlscacert,
// --tlscert, --tlskey, or DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
//
// Exit codes, as the docker CLI 28 behaves:
//
//	0    success
//	1    a command failed (daemon error, missing object, wrong argument count)
//	125  bad flags for any command; for run, any daemon error before the
//	     container runs (create, pull, start)
//	126  run: the command could not be invoked ("permission denied")
//	127  run: the command was not found ("executable file not found",
//	     "no such file or directory")
//	n    run, start -a, attach: the container's exit status
//
// run follows docker's sequence: create (pulling a missing image first),
// attach before start so no output is lost, register the wait (next-exit,
// or removed for --rm) before start, start, then stream until the output
// ends and exit with the status the wait reports.
package cli

// Package monitor is the shared container supervisor: one process per host
// (`berthd monitor`, the berthd binary re-executed) that creates every
// container through the runtime seam, owns its stdio, writes its json-file
// log, serves attach streams, reaps it and records how it exited. berthd is
// never a container's parent, so it can restart while containers run.
//
// # Process
//
// berthd calls Ensure: it dials <exec-root>/monitor.sock and, when nothing
// answers, runs `<self> monitor --exec-root DIR --data-root DIR` with
// _BERTH_MONITOR_DAEMONIZE=1. That child starts the real monitor in a new
// session (stdio /dev/null, cwd /) and exits at once; berthd waits for the
// child only, so the monitor is reparented to init (or the nearest
// subreaper) and never becomes a zombie of berthd. The monitor (Main, then
// Serve):
//
//  1. flocks <exec-root>/monitor.pid and writes its pid (a second monitor
//     fails with Conflict);
//  2. becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so containers
//     whose runtime process exited (runc create) are still its children;
//  3. reaps on every SIGCHLD with reaper.Reap and routes each exit by pid;
//  4. recovers what an earlier monitor left (see Restart);
//  5. serves HTTP/1.1 on <exec-root>/monitor.sock (mode 0600).
//
// # Restart
//
// Containers keep running if the monitor dies. berthd's client (Ensure)
// starts a new monitor when a request finds the socket dead (berthd's
// exit watchers poll it, so within ~0.1-5 s of the death), and a berthd
// that starts runs Ensure too. The next monitor reloads every exit.json
// as an exited container, and every state.json without one as an
// orphan. If its init still runs (a pidfd is opened and the pid's start
// time checked against reuse) it is listed as running and adopted: the
// runtime named in state.json rebuilds its task (runtime.Adopter; berth's
// runtime from the pidfd, the init's /proc cgroup and the seccomp
// program kept in task/, runc from task/init.pid and its --root state),
// so exec, kill (--all), OOM state and delete work as for a container
// this monitor created. Without a task (a record without "runtime", a
// runtime that cannot adopt) Kill and Delete signal it through the pidfd
// and exec is NotImplemented. Its output is resumed (reopenStdio): the
// pipes that are the init's stdout and stderr (and stdin with OpenStdin)
// are opened again through /proc/<pid>/fd and pumped into the log (the
// record keeps its path and rotation) and to attach clients as before.
// What it wrote while no monitor held the read ends failed (EPIPE, or it
// died of SIGPIPE: an exit recorded as 141). A terminal's pty master died
// with the old monitor and cannot be reopened: attach streams of such an
// orphan end at once and nothing more is logged. Exec'd processes get new
// stdio as usual.
//
// The new monitor is not an adopted init's parent (it was reparented to
// init or the nearest subreaper), so it cannot wait for it. Its exit is
// seen when the pidfd turns readable, and its status is read from the
// kernel's taskstats exit record (see exitWatch in taskstats.go: a
// generic netlink socket, open only while adopted inits run, that gets a
// record of every task exiting on the host, exit code included, before
// the exit reaches the pidfd; made in the initial network namespace, the
// only one records go to, when the monitor runs in another). Where
// taskstats is unavailable (no CAP_NET_ADMIN, a monitor outside the
// initial user or pid namespace) or a record was lost, the status is 137
// if this monitor sent the init SIGKILL, else unknown: 255
// (UnknownExitCode, as Docker records for a lost shim). If this monitor
// happens to be its reaper the reaped status wins. An orphan that exited
// while no monitor ran is recorded with 255. docker wait and restart
// policies see these statuses.
//
// # Files
//
//	<exec-root>/
//	  monitor.sock              the API below
//	  monitor.pid               pid of the monitor, flock'd while it runs
//	  monitor.log               the monitor's log (and its stderr)
//	  containers/<id>/          OCI bundle (config.json), written by berthd
//	    task/                   runtime.CreateOpts.StateDir, removed by Task.Delete;
//	                            also runtime.AdoptOpts.StateDir (berth: seccomp.bpf;
//	                            runc: init.pid)
//	    state.json              written at create and start (temp file, fsync, rename):
//	                            {"id":"<id>","pid":1234,"pidStartTime":5678,
//	                             "bundle":"...","started":true,
//	                             "runtime":"berth"|"/usr/sbin/runc","runtimeArgs":[...],
//	                             "terminal":false,"openStdin":false,"stdinOnce":false,
//	                             "log":{"Path":"...","MaxSize":0,"MaxFiles":1}}
//	                            (runtime: the CreateRequest's, "berth" for ""; the
//	                            rest too: what a later monitor adopts the task and
//	                            resumes the output with)
//	    exit.json               written (temp file, fsync, rename) when the init is reaped:
//	                            {"id":"<id>","pid":1234,"exitCode":137,"oomKilled":false,
//	                             "exitedAt":"2026-11-27T10:00:00.123456789Z"}
//
// # Protocol
//
// JSON bodies are the Go types of client.go encoded with encoding/json
// (field names as in Go). Errors are {"message": "...", "exec": "not-found"
// | "permission"} with the errdefs class as status: 400 InvalidArgument, 403
// Forbidden, 404 NotFound, 409 Conflict, 501 NotImplemented, 503
// Unavailable, 500 anything else; "exec" carries runtime.ErrExecNotFound /
// ErrExecPermission from Start so the client's error still matches them.
//
//	GET    /_ping                          "OK"
//	GET    /containers                     [State, ...] (exited ones until deleted)
//	POST   /containers/{id}/create         CreateRequest -> {"Pid": n}
//	POST   /containers/{id}/start
//	POST   /containers/{id}/attach?stdin=1&stdout=1&stderr=1
//	                                       Connection: Upgrade, Upgrade: tcp ->
//	                                       101, then a raw bidirectional stream
//	POST   /containers/{id}/resize?h=H&w=W TIOCSWINSZ on the pty master
//	POST   /containers/{id}/kill?signal=N  Task.Kill(N) on the init
//	POST   /containers/{id}/wait           long poll -> Exit, once exited
//	GET    /containers/{id}                State
//	DELETE /containers/{id}                forget an exited container (a created,
//	                                       never started one is killed first)
//	POST   /containers/{id}/exec           ExecRequest; with Attach: Upgrade as for
//	                                       attach, 101 with "Exec-Pid: n", then the
//	                                       exec's stream; without: {"Pid": n}
//	POST   /containers/{id}/execs/{e}/resize?h=H&w=W
//	POST   /containers/{id}/execs/{e}/wait long poll -> Exit, then the exec is forgotten
//
// # Exec
//
// An exec'd process is created through the task's runtime.Execer (see
// internal/runtime/linux, "Exec"; runc exec for runc), started, and then
// supervised like a container: stdio pipes or its pty, pumps, attach
// client (registered before the pumps start, so no output is lost; what
// the process writes meanwhile waits in the pipe), exit routed by pid
// from the reaper, output drained for at most 2 s after the exit. Its
// output is not logged and nothing of it is written to disk: berthd keeps
// the exec records, the monitor only the running processes and their
// exits until ExecWait. It dies with its container (pid namespace). Exec
// into a container adopted after a monitor restart works through its
// rebuilt task (see Restart; NotImplemented only for an orphan without
// one); a berthd restart does not matter.
//
// # Attach streams
//
// After the 101 head the connection carries, from the monitor, the
// container's output from that moment on: with a terminal the raw pty
// bytes; without, Docker's stdcopy frames (byte 0: 1 stdout / 2 stderr,
// bytes 1-3 zero, bytes 4-7 big-endian payload length, then the payload).
// The client's bytes go to the container's stdin (pipe, or the pty master)
// when stdin=1 and the container has OpenStdin; otherwise they are
// discarded. A client's EOF (CloseWrite) closes the container's stdin pipe
// when StdinOnce is set; a terminal's master is never closed for it. The
// monitor closes the stream once the container's output reaches EOF.
//
// # Supervision and memory
//
// Per running container the monitor holds one goroutine per output stream
// (two, or one with a terminal), blocked on the netpoller with no buffer:
// a 32 KiB buffer from a shared pool is taken only while bytes are ready.
// Output is always drained: it is written to the log (one write(2) per
// entry, see internal/containerlog) and appended to each attached client's
// backlog. A client whose backlog passes 1 MiB is disconnected (it can
// read the rest from the log); output is never held back for a client and
// never thinned silently. No timers run per container.
//
// Measured (TestMonitorMemoryPerContainer, berthd binary, busybox sleeps
// with berth's runtime, cgroup v1 host): PSS 9.1 MiB idle, +0.07 MiB per
// running container from 1 to 50 (docker's shim: 2.56 MiB each, podman's
// conmon: 0.36 MiB).
//
// On the init's exit: wait for the output to reach EOF (at most 2 s: a
// process outside the pid namespace may hold the pipes), close stdin,
// close the log, read the OOM flag (Config.OOMKilled, or the task's
// OOMKilled method; before Task.Delete removes the cgroup), write
// exit.json, wake Wait callers, then Task.Delete.
package monitor

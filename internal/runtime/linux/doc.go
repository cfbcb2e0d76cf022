// Package linux is berth's own OCI runtime: it turns a bundle into a
// container without any external binary.
//
// Create forks a re-executed init binary ("<init> init": cmd/berth-init
// when it is installed next to the executable, else /proc/self/exe; the
// binary's main must call InitMain when os.Args[1] == "init") with the
// clone flags of the spec's new namespaces. That child, "init",
// finishes the setup from inside the namespaces and finally becomes the
// user's program through execve, so the program is PID 1 of its pid
// namespace and no extra process remains.
//
// # Parent <-> init protocol
//
// The two talk over a SOCK_SEQPACKET socketpair, init's end being fd 3
// (close-on-exec once init runs). Every message is one packet holding one
// JSON object {"type": ..., ...}; the pty master travels as SCM_RIGHTS.
//
//	parent                                   init (<init> init)
//	------                                   --------------------------
//	cgroups.New(cgroupsPath).Set(resources)
//	  (creates it, still empty)
//	socketpair; fork with clone flags
//	  (pid, mount, uts, ipc, net), setsid,
//	  into the unified cgroup
//	  (CLONE_INTO_CGROUP)                  -> Go runtime starts, reads fd 3
//	oom_score_adj
//	"config" {rootfs, spec (raw JSON),
//	  seccomp program, v1 tasks files}     ->
//	                                          write 0 to each v1 tasks file
//	                                            (moves this thread only)
//	                                          setns into namespaces given by path
//	                                          unshare(CLONE_NEWCGROUP) (now that
//	                                            the cgroup is final)
//	                                          mounts, /dev, pivot_root, masked
//	                                            and read-only paths, sysctls,
//	                                            hostname, rlimits, console,
//	                                            user, capabilities, cwd,
//	                                            exec lookup in the spec's PATH
//	                                       <- "ready" (+ pty master fd)
//	Create returns the Task
//	Task.Start: "start"                    ->
//	                                          umask (default 0022), no_new_privs
//	                                          execve(program): the socket closes
//	parent reads EOF: started
//
// Any failure in init is sent back as {"type": "error", "step": ...,
// "error": ..., "kind": "notfound"|"permission"|""} and init exits 1; the
// parent turns it into an error naming the step (kind maps to
// runtime.ErrExecNotFound / ErrExecPermission). EOF before "ready" means
// init died. On any Create error the parent kills init (pidfd), waits for
// it to exit and destroys the cgroup: nothing is left but a zombie for the
// caller's reaper. Like runc, the program is looked up at Create, so Create
// already fails with ErrExecNotFound or ErrExecPermission; Start can still
// fail with them if execve itself does.
//
// All of init runs on one locked OS thread: per-thread state (cgroup, net,
// uts and ipc namespaces joined by path, credentials, capabilities,
// no_new_privs) is set on it and carried over by the execve from it.
//
// # Exec
//
// Task.Exec (runtime.Execer) runs a further process in a running
// container, as runc exec does, with the same re-executed binary and the
// same protocol, its first message being "exec" instead of "config":
//
//	parent (the monitor)                     exec'd process (<self> init)
//	--------------------                     ----------------------------
//	open /proc/<init>/ns/{ipc,uts,net,
//	  cgroup,mnt,pid}; check the init is
//	  still alive through its pidfd (so
//	  the pid was not reused)
//	fork from a throw-away locked thread
//	  that did setns(pid): the child is in
//	  the container's pid namespace;
//	  fds 4.. are the other namespaces
//	  (and with CLONE_INTO_CGROUP into the
//	  container's unified cgroup)
//	oom_score_adj
//	"exec" {spec, ns: [...], tasks: [...]} ->
//	                                          write 0 to each v1 tasks file
//	                                            (moves this thread only)
//	                                          unshare(CLONE_FS), setns each fd
//	                                          rlimits, pty (opened in the
//	                                            container's devpts; made the
//	                                            controlling terminal), user and
//	                                            capabilities, cwd, exec lookup
//	                                       <- "ready" (+ pty master fd)
//	Process.Start: "start"                 ->
//	                                          umask, no_new_privs, execve
//
// Why this is correct without a C constructor: setns(CLONE_NEWNS) fails
// for a thread that shares its fs_struct (root, cwd, umask) with others,
// and every thread of a Go process does, which is why runc joins
// namespaces in C before the Go runtime starts. unshare(CLONE_FS) gives
// the calling thread a private fs_struct, after which setns into a mount
// namespace succeeds on that thread alone (containerd uses the same
// unshare for per-thread chdir). Namespaces, credentials and the fs_struct
// are per-thread, and all of the exec'd process's setup runs on its one
// locked thread, whose execve carries them into the program (execve kills
// the other threads). The pid namespace cannot be entered by the process
// itself (setns(CLONE_NEWPID) only affects children), hence the fork from
// a parent thread that joined it; that thread is discarded afterwards. The
// mount namespace's root is the container's (pivot_root made it so), so
// no chroot is needed. Time namespaces are never joined: this runtime does
// not create them. A container's user namespace cannot be joined this way
// (setns(CLONE_NEWUSER) refuses a multi-threaded caller); see Exec in
// userns.go.
//
// The cgroup is joined without moving a whole process: a cgroup.procs
// write of another process takes the kernel's global threadgroup lock,
// whose first taker waits for an RCU grace period (15 ms measured here
// under load, most of an exec's time). Instead the exec'd thread writes 0
// to the tasks file of each v1 hierarchy, which moves only the calling
// thread and skips that lock, and the fork itself lands in the unified
// hierarchy (clone3 CLONE_INTO_CGROUP); the execve from that thread leaves
// the program, and only it, in the container's cgroups. A cgroup manager
// without Dirs falls back to Apply from the parent.
//
// A container's init joins its cgroup the same way (prepareCgroup): the
// parent makes the cgroup and sets its limits before the fork, and no
// process is ever moved from outside, which took ~10 ms of a ~30 ms
// start on this v1 host. In a user namespace, whose root may not write
// the host's cgroup files, the parent still moves init (Apply).
//
// Cost: nothing is added to the container's start; an exec forks and
// execs the init binary once. That binary, for a container's init as for
// an exec, is cmd/berth-init when it is installed next to the executable
// (ExecInitName, Options.InitPath and ExecInitPath): it links only this
// package, so it is ready in about 1 ms where berthd, whose package
// initialisation (reference and digest regexps, compression tables, the
// Dockerfile parser, ...) runs in every re-exec, takes 5-7 ms; halving
// docker exec's time in the monitor. Without it, /proc/self/exe.
//
// # Adoption
//
// Adopt (runtime.Adopter) rebuilds the task of a running container whose
// creator is gone (the monitor restarted): nothing of the parent's side is
// needed but the init's pidfd (given, checked by the caller against pid
// reuse), its cgroup (read from /proc/<pid>/cgroup, since a relative
// cgroupsPath resolved against the creator's own cgroup) and the state
// directory, where Create kept the seccomp program (seccomp.bpf) that
// exec'd processes load. Exec opens the init's namespaces by pid as for
// any task, and the exec init binary is this process's. The adopted task
// has no console and no sync socket (it is started); Kill, Delete (cgroup
// and state dir), OOMKilled and Exec work as for a created task.
//
// # Not yet supported
//
// Time namespaces, joining a mount or user namespace by path and OCI
// hooks are refused (NotImplemented). A new user namespace (with its uid
// and gid mappings) is supported: see userns.go for what changes then. AppArmor and SELinux labels,
// scheduler, I/O priority and personality settings are ignored.
//
// # Seccomp
//
// spec.Linux.Seccomp is compiled by package seccomp (pure Go) in the
// parent, once per profile (seccomp.go keeps the programs, keyed by the
// profile's JSON), and init gets the program in its config message
// instead of compiling it (~0.6 ms for Docker's default profile, on the
// start path), so a bad profile fails Create. As runc: without
// no_new_privs the filter is loaded before the capabilities are dropped
// (loading needs CAP_SYS_ADMIN then); with it, as the last step before
// execve. Either way on init's locked thread, which the execve keeps.
// Exec'd processes get the same program (seccomp.go), as with runc.
//
// # Deliberate differences from runc
//
// Rlimits are clamped to the current hard limits and capabilities to the
// runtime's own permitted set, since berth may run without some (here:
// CAP_SYS_RESOURCE); runc fails instead. A new network namespace gets its
// loopback interface up, as Docker's "none" network has. A spec larger
// than the socket's send buffer is sent whole by forcing the buffer size.
//
// Processes are never waited for here: the caller reaps (see package
// reaper).
package linux

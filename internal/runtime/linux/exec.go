package linux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
)

// execNamespaces are the namespaces an exec'd process joins, in the order
// it joins them (all but pid, which it is forked into). User and time
// namespaces are not supported by this runtime, so a container never has
// its own.
var execNamespaces = []struct {
	name string
	flag int
}{
	{"ipc", unix.CLONE_NEWIPC},
	{"uts", unix.CLONE_NEWUTS},
	{"net", unix.CLONE_NEWNET},
	{"cgroup", unix.CLONE_NEWCGROUP},
	{"mnt", unix.CLONE_NEWNS},
}

// Exec implements runtime.Execer; see "Exec" in the package doc.
func (t *task) Exec(ctx context.Context, execID string, opts runtime.ExecOpts) (_ runtime.Process, retErr error) {
	if opts.Process == nil || len(opts.Process.Args) == 0 {
		return nil, errdefs.InvalidArgumentf("exec %s: no process args", execID)
	}
	spec, err := json.Marshal(opts.Process)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", execID, err)
	}
	t.mu.Lock()
	pidfd, deleted := t.pidfd, t.deleted
	t.mu.Unlock()
	if deleted || pidfd < 0 {
		return nil, errdefs.Conflictf("container %s is not running", t.id)
	}

	// The init's namespaces, opened by /proc path and then checked
	// through the pidfd: an init that is still alive has not had its pid
	// reused, so the files are its namespaces.
	var nsFiles []*os.File
	defer func() {
		for _, f := range nsFiles {
			f.Close()
		}
	}()
	var names []string
	for _, ns := range execNamespaces {
		f, err := os.Open("/proc/" + strconv.Itoa(t.pid) + "/ns/" + ns.name)
		if err != nil {
			return nil, errdefs.Conflictf("container %s is not running (%v)", t.id, err)
		}
		nsFiles, names = append(nsFiles, f), append(names, ns.name)
	}
	pidNS, err := os.Open("/proc/" + strconv.Itoa(t.pid) + "/ns/pid")
	if err != nil {
		return nil, errdefs.Conflictf("container %s is not running (%v)", t.id, err)
	}
	defer pidNS.Close()
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil || waitExit(pidfd, 0) {
		return nil, errdefs.Conflictf("container %s is not running", t.id)
	}
	userNS, err := ownUserNS(t.pid)
	if err != nil {
		return nil, errdefs.Conflictf("container %s is not running (%v)", t.id, err)
	}
	if userNS != nil {
		defer userNS.Close()
	}

	// The cgroup: the process moves its own thread into the v1
	// hierarchies (tasks files) and is forked into the unified one
	// (CLONE_INTO_CGROUP); neither waits for the RCU grace period that a
	// cgroup.procs write of another process does. Without the directories
	// the parent moves it after the fork (Apply).
	join, selfPlaced := cgroupJoin{fd: -1}, false
	if userNS == nil {
		if join, selfPlaced, err = joinOf(t.cg); err != nil {
			return nil, fmt.Errorf("exec %s: %w", execID, err)
		}
		if join.fd >= 0 {
			defer unix.Close(join.fd)
		}
	}

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec %s: sync socketpair: %w", execID, err)
	}
	childSock := os.NewFile(uintptr(pair[1]), "exec-sync")
	defer childSock.Close()
	childPidfd := -1
	cmd := &exec.Cmd{
		Path:       t.rt.execInitPath,
		Args:       []string{"berth-init", "init"},
		Env:        execSeccompEnviron(t.stateDir), // seccomp.go
		Dir:        "/",
		ExtraFiles: append([]*os.File{childSock}, nsFiles...),
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:      true,
			PidFD:       &childPidfd,
			UseCgroupFD: join.fd >= 0,
			CgroupFD:    join.fd,
		},
	}
	if userNS != nil {
		var closeAfter []*os.File
		names, closeAfter, err = execInUserNS(cmd, names, userNS, t.stateDir)
		for _, f := range closeAfter {
			defer f.Close()
		}
		if err != nil {
			unix.Close(pair[0])
			return nil, fmt.Errorf("exec %s in container %s: %w", execID, t.id, err)
		}
	}
	if !opts.Process.Terminal {
		if opts.Stdin != nil {
			cmd.Stdin = opts.Stdin
		}
		if opts.Stdout != nil {
			cmd.Stdout = opts.Stdout
		}
		if opts.Stderr != nil {
			cmd.Stderr = opts.Stderr
		}
	}
	if err := startInNS(cmd, pidNS); err != nil {
		unix.Close(pair[0])
		return nil, fmt.Errorf("exec %s in container %s: %w", execID, t.id, err)
	}
	if childPidfd < 0 {
		unix.Kill(cmd.Process.Pid, unix.SIGKILL)
		unix.Close(pair[0])
		return nil, errors.New("exec: kernel lacks pidfd support")
	}
	p := &process{id: execID, pid: cmd.Process.Pid, pidfd: childPidfd, sock: pair[0], stateDir: opts.StateDir}
	cmd.Process.Release() // the caller reaps
	defer func() {
		if retErr != nil {
			p.Delete(context.Background())
		}
	}()
	stop := context.AfterFunc(ctx, func() { unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0) })
	defer stop()

	if t.cg != nil && !selfPlaced {
		if err := t.cg.Apply(p.pid); err != nil {
			return nil, fmt.Errorf("exec %s: join cgroup: %w", execID, err)
		}
	}
	if adj := opts.Process.OOMScoreAdj; adj != nil {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", p.pid), []byte(strconv.Itoa(*adj)), 0); err != nil {
			return nil, fmt.Errorf("exec %s: set oom_score_adj: %w", execID, err)
		}
	}
	if err := send(p.sock, &message{Type: msgExec, Spec: spec, NS: names, Tasks: join.tasks}); err != nil {
		return nil, fmt.Errorf("exec %s: %w", execID, err)
	}
	_, fds, err := expect(p.sock, msgReady)
	if err != nil {
		var ie *initError
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("exec %s: %w", execID, ctx.Err())
		case errors.As(err, &ie):
			// Without the step, as runc's text reads: `exec: "x":
			// executable file not found in $PATH`, `chdir to cwd ...`.
			return nil, &execFailure{ie}
		}
		return nil, fmt.Errorf("exec %s: %w", execID, err)
	}
	if opts.Process.Terminal {
		if len(fds) != 1 {
			closeAll(fds)
			return nil, errors.New("exec: process sent no console")
		}
		p.console = os.NewFile(uintptr(fds[0]), "console")
	} else {
		closeAll(fds)
	}
	return p, nil
}

// startInNS starts cmd in the pid namespace ns, from a thread that is
// thrown away after (see startIn).
func startInNS(cmd *exec.Cmd, ns *os.File) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies with us
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWPID); err != nil {
			errc <- fmt.Errorf("setns pid: %w", err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// process is one exec'd process.
type process struct {
	id       string
	pid      int
	stateDir string

	mu      sync.Mutex
	pidfd   int // -1 once deleted
	sock    int // -1 once started or deleted
	console *os.File
}

func (p *process) Pid() int          { return p.pid }
func (p *process) Console() *os.File { return p.console }

// Start implements runtime.Process.
func (p *process) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sock < 0 {
		return errors.New("start exec: already started or deleted")
	}
	sock := p.sock
	defer func() {
		unix.Close(sock)
		p.sock = -1
	}()
	return startProgram(ctx, sock, p.pidfd, "exec "+p.id)
}

// Kill implements runtime.Process.
func (p *process) Kill(ctx context.Context, sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 {
		return fmt.Errorf("kill exec %s: %w", p.id, unix.ESRCH)
	}
	if err := unix.PidfdSendSignal(p.pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("kill exec %s: %w", p.id, err)
	}
	return nil
}

// Delete implements runtime.Process.
func (p *process) Delete(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 {
		return nil
	}
	if p.sock >= 0 {
		unix.Close(p.sock) // a process waiting for "start" sees EOF and exits
		p.sock = -1
	}
	if !waitExit(p.pidfd, 0) {
		unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
		if !waitExit(p.pidfd, 10*time.Second) {
			return fmt.Errorf("delete exec %s: pid %d did not exit after SIGKILL", p.id, p.pid)
		}
	}
	if p.console != nil {
		p.console.Close()
		p.console = nil
	}
	unix.Close(p.pidfd)
	p.pidfd = -1
	if p.stateDir != "" {
		os.RemoveAll(p.stateDir)
	}
	return nil
}

// runExec is the exec'd process's side (InitMain got msgExec): on its one
// locked thread it unshares its fs_struct (setns into a mount namespace
// refuses a thread that shares it, as every Go thread does), joins the
// namespaces whose fds follow the sync socket, then sets the process up as
// init does for the container's program, minus the rootfs work. The
// execve from this thread carries all of it into the program.
func runExec(m *message) (string, error) {
	var proc specs.Process
	if err := json.Unmarshal(m.Spec, &proc); err != nil {
		return "decode process", err
	}
	p := &initProc{spec: &specs.Spec{Process: &proc}, console: -1}
	// Only stdio, the sync socket and the namespaces reach the program.
	if err := unix.CloseRange(uint(initFd+1+len(m.NS)), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return "close inherited fds", err
	}
	// The container's seccomp profile, read before joining its mount
	// namespace; loaded as init loads it (see runInit).
	filter, err := loadExecSeccomp()
	if err != nil {
		return "compile seccomp profile", err
	}
	loadSeccompEarly := filter != nil && !proc.NoNewPrivileges
	join := func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare fs: %w", err)
		}
		for i, name := range m.NS {
			fd := initFd + 1 + i
			if name == "" {
				unix.Close(fd) // joined by nsenter (a user-namespaced container)
				continue
			}
			flag := -1
			for _, ns := range execNamespaces {
				if ns.name == name {
					flag = ns.flag
				}
			}
			if flag < 0 {
				return fmt.Errorf("unknown namespace %q", name)
			}
			if err := unix.Setns(fd, flag); err != nil {
				return fmt.Errorf("setns %s: %w", name, err)
			}
			unix.Close(fd)
		}
		return nil
	}
	console := func() error {
		if !proc.Terminal {
			return nil
		}
		slave, _, err := p.openPty()
		if err != nil {
			return err
		}
		defer unix.Close(slave)
		return ctty(slave)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"join cgroup", func() error { return joinTasks(m.Tasks) }}, // host paths: before the mount namespace
		{"join namespaces", join},
		{"set rlimits", p.setRlimits},
		{"set up console", console},
		{"load seccomp profile", func() error {
			if loadSeccompEarly {
				return filter.Load()
			}
			return nil
		}},
		{"set user and capabilities", p.setUser},
		{"set cwd", p.setCwd},
		{"look up program", p.lookPath},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return s.name, err
		}
	}
	var fds []int
	if p.console >= 0 {
		fds = []int{p.console}
	}
	if err := send(initFd, &message{Type: msgReady}, fds...); err != nil {
		return "report ready", err
	}
	if p.console >= 0 {
		unix.Close(p.console)
	}
	start, _, err := recv(initFd)
	if err != nil || start.Type != msgStart {
		os.Exit(1) // the parent gave up
	}
	umask := 0o022
	if u := proc.User.Umask; u != nil {
		umask = int(*u)
	}
	unix.Umask(umask)
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "set no_new_privs", err
		}
	}
	if filter != nil && !loadSeccompEarly {
		if err := filter.Load(); err != nil {
			return "load seccomp profile", err
		}
	}
	err = unix.Exec(p.path, proc.Args, p.env)
	return "exec", &exec.Error{Name: proc.Args[0], Err: err}
}

// execFailure is the exec'd process's report of why it could not start.
type execFailure struct{ ie *initError }

func (e *execFailure) Error() string { return e.ie.Msg }
func (e *execFailure) Unwrap() error { return e.ie }

package ocicli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
)

// Exec implements runtime.Execer with the runtime's exec command:
//
//	<bin> ... exec --process <state>/process.json --detach \
//	      --pid-file <state>/exec.pid [--console-socket <state>/console.sock] ID
//
// where <state> is ExecOpts.StateDir. The runtime starts the process at
// once (Process.Start has nothing left to do) and exits; the process is
// reparented to the caller, a subreaper.
func (t *task) Exec(ctx context.Context, execID string, opts runtime.ExecOpts) (_ runtime.Process, retErr error) {
	if opts.StateDir == "" {
		dir, err := os.MkdirTemp("", "berth-exec-")
		if err != nil {
			return nil, fmt.Errorf("exec %s: %w", execID, err)
		}
		opts.StateDir = dir // removed by Process.Delete
	}
	if opts.Process == nil || len(opts.Process.Args) == 0 {
		return nil, errdefs.InvalidArgumentf("exec %s: no process args", execID)
	}
	t.mu.Lock()
	deleted := t.deleted
	t.mu.Unlock()
	if deleted {
		return nil, errdefs.Conflictf("container %s is not running", t.id)
	}
	p := &process{stateDir: opts.StateDir, pidfd: -1}
	defer func() {
		if retErr != nil {
			p.Delete(context.Background())
		}
	}()
	spec, err := json.Marshal(opts.Process)
	if err != nil {
		return nil, err
	}
	procFile := filepath.Join(opts.StateDir, "process.json")
	if err := os.WriteFile(procFile, spec, 0o600); err != nil {
		return nil, fmt.Errorf("exec %s: %w", execID, err)
	}
	pidFile := filepath.Join(opts.StateDir, "exec.pid")
	args := []string{"--process", procFile, "--detach", "--pid-file", pidFile}
	io := stdio{opts.Stdin, opts.Stdout, opts.Stderr}
	var console chan consoleResult
	if opts.Process.Terminal {
		sock := filepath.Join(opts.StateDir, "console.sock")
		if len(sock) >= 100 {
			dir, err := os.MkdirTemp("", "berth-console-")
			if err != nil {
				return nil, fmt.Errorf("console socket: %w", err)
			}
			defer os.RemoveAll(dir)
			sock = filepath.Join(dir, "console.sock")
		}
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		defer l.Close()
		console = make(chan consoleResult, 1)
		go func() { console <- receiveConsole(l) }()
		args = append(args, "--console-socket", sock, "--tty")
		io = stdio{}
	}
	if err := t.r.run(ctx, opts.StateDir, "exec", io, append(args, t.id)...); err != nil {
		const prefix = "unable to start container process: "
		var ce *cliError
		switch {
		case errors.As(err, &ce) && strings.Contains(ce.msg, "not running"):
			return nil, errdefs.Conflictf("container %s is not running", t.id)
		case errors.As(err, &ce) && strings.Contains(ce.msg, prefix):
			// The process's part of runc's text, as berth's runtime words
			// it: `exec: "x": executable file not found in $PATH`.
			msg := ce.msg[strings.LastIndex(ce.msg, prefix)+len(prefix):]
			kind := ce.kind
			if !strings.HasPrefix(msg, `exec: "`) {
				kind = nil // a missing cwd is no missing program
			}
			return nil, &execError{msg: msg, kind: kind}
		}
		return nil, err
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, fmt.Errorf("%s exec: read pid file: %w", t.r.name, err)
	}
	if p.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return nil, fmt.Errorf("%s exec: pid file: %w", t.r.name, err)
	}
	// Until the caller reaps it the pid cannot be reused, so this pidfd is
	// the process's (or fails: it is gone already, and Kill says ESRCH).
	if fd, err := unix.PidfdOpen(p.pid, 0); err == nil {
		p.pidfd = fd
	}
	if opts.Process.Terminal {
		select {
		case c := <-console:
			if c.err != nil {
				return nil, fmt.Errorf("%s exec: receive console: %w", t.r.name, c.err)
			}
			p.console = c.f
		default:
			return nil, fmt.Errorf("%s exec: no console received", t.r.name)
		}
	}
	return p, nil
}

// process is a process started by the runtime's exec.
type process struct {
	pid      int
	stateDir string

	mu      sync.Mutex
	pidfd   int
	console *os.File
	deleted bool
}

func (p *process) Pid() int                        { return p.pid }
func (p *process) Console() *os.File               { return p.console }
func (p *process) Start(ctx context.Context) error { return nil } // exec --detach started it

func (p *process) Kill(ctx context.Context, sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 {
		return fmt.Errorf("kill exec'd process %d: %w", p.pid, unix.ESRCH)
	}
	return unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
}

// Delete implements runtime.Process: a process still running is killed;
// the console, pidfd and state directory go.
func (p *process) Delete(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deleted {
		return nil
	}
	if p.pidfd >= 0 {
		unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	if p.console != nil {
		p.console.Close()
		p.console = nil
	}
	p.deleted = true
	return os.RemoveAll(p.stateDir)
}

// execError is a process that could not be started, wrapping
// runtime.ErrExecNotFound or ErrExecPermission when that is why.
type execError struct {
	msg  string
	kind error
}

func (e *execError) Error() string { return e.msg }
func (e *execError) Unwrap() error { return e.kind }

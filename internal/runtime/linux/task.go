package linux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/cgroups"
)

type task struct {
	rt       *Runtime
	id       string
	pid      int
	pidfd    int // refers to the init even after the reaper collected it
	stateDir string
	console  *os.File
	cg       cgroups.Manager // nil without a cgroupsPath

	mu      sync.Mutex
	sock    int // -1 once closed (after start or delete)
	deleted bool
}

func (t *task) ID() string        { return t.id }
func (t *task) Pid() int          { return t.pid }
func (t *task) Console() *os.File { return t.console }

// OOMKilled reports whether the kernel's OOM killer killed a process of
// the container (the monitor asks for it, when a task has it, before
// Delete).
func (t *task) OOMKilled() (bool, error) {
	if t.cg == nil {
		return false, nil
	}
	return t.cg.OOMKilled()
}

// Start implements runtime.Task: init execs the program on "start"; the
// socket's close-on-exec turns into EOF here on success.
func (t *task) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sock < 0 {
		return errors.New("start container: already started or deleted")
	}
	sock := t.sock
	defer func() {
		unix.Close(sock)
		t.sock = -1
	}()
	return startProgram(ctx, sock, t.pidfd, "start container "+t.id)
}

// startProgram sends "start" on sock and waits for the execve (EOF) or an
// error; a process that neither execs nor answers is killed through pidfd
// when ctx ends, which ends the wait.
func startProgram(ctx context.Context, sock, pidfd int, what string) error {
	stop := context.AfterFunc(ctx, func() { unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0) })
	defer stop()
	if err := send(sock, &message{Type: msgStart}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	m, fds, err := recv(sock)
	closeAll(fds)
	switch {
	case errors.Is(err, io.EOF) && ctx.Err() != nil:
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case m.Type == msgError:
		return fmt.Errorf("%s: %w", what, &initError{Step: m.Step, Msg: m.Error, Kind: m.Kind})
	}
	return fmt.Errorf("%s: unexpected %q message", what, m.Type)
}

// Kill implements runtime.Task. The init is signalled through its pidfd,
// so a recycled pid is never hit; all=true also signals every process in
// the cgroup. A finished init gives an error wrapping ESRCH.
func (t *task) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	t.mu.Lock()
	pidfd := t.pidfd
	t.mu.Unlock()
	if pidfd < 0 {
		return fmt.Errorf("kill container %s: %w", t.id, unix.ESRCH)
	}
	// The init first: with it gone the kernel kills the rest of its pid
	// namespace, and it cannot exit on its own after its children die.
	initErr := unix.PidfdSendSignal(pidfd, sig, nil, 0)
	if all && t.cg != nil {
		pids, err := t.cg.Pids()
		if err != nil {
			return fmt.Errorf("kill container %s: %w", t.id, err)
		}
		for _, p := range pids {
			if p != t.pid {
				unix.Kill(p, sig)
			}
		}
	}
	if initErr != nil && !(all && initErr == unix.ESRCH) {
		return fmt.Errorf("kill container %s init (pid %d) with %v: %w", t.id, t.pid, sig, initErr)
	}
	return nil
}

// Delete implements runtime.Task. Processes still running are killed; the
// cgroup and the state directory are removed.
func (t *task) Delete(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deleted {
		return nil
	}
	if err := t.destroyLocked(); err != nil {
		return fmt.Errorf("delete container %s: %w", t.id, err)
	}
	if t.stateDir != "" {
		if err := os.RemoveAll(t.stateDir); err != nil {
			return fmt.Errorf("delete container %s: %w", t.id, err)
		}
	}
	t.deleted = true
	unix.Close(t.pidfd)
	t.pidfd = -1
	return nil
}

// destroy undoes a failed Create.
func (t *task) destroy() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.destroyLocked()
	t.deleted = true
	unix.Close(t.pidfd)
	t.pidfd = -1
}

func (t *task) destroyLocked() error {
	if t.sock >= 0 {
		unix.Close(t.sock) // an init waiting for "start" sees EOF and exits
		t.sock = -1
	}
	if t.console != nil {
		t.console.Close()
		t.console = nil
	}
	if !waitExit(t.pidfd, 0) {
		t.killAll()
		if !waitExit(t.pidfd, 10*time.Second) {
			return fmt.Errorf("init (pid %d) did not exit after SIGKILL", t.pid)
		}
	}
	if t.cg == nil {
		return nil
	}
	// Other processes of the container die with the init of their pid
	// namespace, but not instantly: the cgroup stays busy until they have.
	var err error
	for i := 0; i < 200; i++ {
		if err = t.cg.Destroy(); err == nil {
			return nil
		}
		if i == 0 {
			t.killAll()
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("destroy cgroup: %w", err)
}

func (t *task) killAll() {
	unix.PidfdSendSignal(t.pidfd, unix.SIGKILL, nil, 0)
	if t.cg != nil {
		if pids, err := t.cg.Pids(); err == nil {
			for _, p := range pids {
				unix.Kill(p, unix.SIGKILL)
			}
		}
	}
}

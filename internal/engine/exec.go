package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/term"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	execrouter "github.com/berth-dev/berth/internal/apiserver/router/exec"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/monitor"
	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/runtime"
)

// Exec records live in memory, as dockerd's do: an exec is created (its
// options checked and kept), started once (the monitor creates the
// process in the container and streams it), and watched until its exit
// code is known. A container's records go when it stops or is removed.

// Docker's exit codes for an exec that could not start.
const (
	execExitCannotRun = 126
	execExitNotFound  = 127
)

// maxExitedExecs bounds the exited exec records kept per container (the
// docker CLI inspects each right after its stream ends).
const maxExitedExecs = 64

// execRecord is one exec instance.
type execRecord struct {
	id, containerID string
	cfg             ctypes.ExecCreateRequest
	detachKeys      []byte

	mu       sync.Mutex
	started  bool
	running  bool
	pid      int
	exitCode *int
	done     chan struct{} // closed once exitCode is set
	// launched is closed once the process runs (pid set) or failed to.
	launched     chan struct{}
	launchedOnce sync.Once
}

func (x *execRecord) launch() { x.launchedOnce.Do(func() { close(x.launched) }) }

func (x *execRecord) finish(code int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.exitCode != nil {
		return
	}
	x.running = false
	x.exitCode = &code
	close(x.done)
	x.launch()
}

// execStore indexes exec records by id and by container. The zero value
// is ready to use.
type execStore struct {
	mu          sync.Mutex
	byID        map[string]*execRecord
	byContainer map[string][]*execRecord // in creation order
}

func (s *execStore) add(x *execRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID, s.byContainer = map[string]*execRecord{}, map[string][]*execRecord{}
	}
	s.byID[x.id] = x
	list := append(s.byContainer[x.containerID], x)
	// Forget the oldest exited records past the bound.
	exited := 0
	for _, y := range list {
		y.mu.Lock()
		if y.exitCode != nil {
			exited++
		}
		y.mu.Unlock()
	}
	for i := 0; exited > maxExitedExecs && i < len(list); {
		y := list[i]
		y.mu.Lock()
		done := y.exitCode != nil
		y.mu.Unlock()
		if done {
			delete(s.byID, y.id)
			list = slices.Delete(list, i, i+1)
			exited--
			continue
		}
		i++
	}
	s.byContainer[x.containerID] = list
}

func (s *execStore) get(id string) (*execRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.byID[id]; x != nil {
		return x, nil
	}
	return nil, errdefs.NotFoundf("No such exec instance: %s", id)
}

// running lists the ids of container id's running execs (inspect's
// ExecIDs), nil if none.
func (s *execStore) running(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, x := range s.byContainer[id] {
		x.mu.Lock()
		if x.exitCode == nil {
			ids = append(ids, x.id)
		}
		x.mu.Unlock()
	}
	return ids
}

// drop forgets container id's exec records.
func (s *execStore) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.byContainer[id] {
		delete(s.byID, x.id)
	}
	delete(s.byContainer, id)
}

// execReady fails as dockerd does for a container that cannot take an exec.
func execReady(c *container.Container) error {
	switch c.State.Status {
	case ctypes.StateRunning:
		return nil
	case ctypes.StatePaused:
		return errdefs.Conflictf("container %s is paused, unpause the container before exec", c.ID)
	case ctypes.StateRestarting:
		return errdefs.Conflictf("Container %s is restarting, wait until the container is running", c.ID)
	}
	return errdefs.Conflictf("container %s is not running", c.ID)
}

// ExecCreate records an exec of cfg.Cmd in a running container and
// returns its id.
func (e *Engine) ExecCreate(ctx context.Context, ref string, cfg ctypes.ExecCreateRequest) (string, error) {
	ent, err := e.store.Get(ref)
	if err != nil {
		return "", err
	}
	c := ent.Snapshot()
	if err := execReady(c); err != nil {
		return "", err
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.InvalidArgumentf("No exec command specified")
	}
	var keys []byte
	if cfg.DetachKeys != "" {
		if keys, err = term.ToBytes(cfg.DetachKeys); err != nil {
			return "", errdefs.InvalidArgumentf("Invalid escape keys (%s) provided", cfg.DetachKeys)
		}
	}
	b := make([]byte, 32)
	rand.Read(b)
	x := &execRecord{id: hex.EncodeToString(b), containerID: c.ID, cfg: cfg, detachKeys: keys, done: make(chan struct{}), launched: make(chan struct{})}
	x.cfg.Cmd = slices.Clone(cfg.Cmd)
	e.execs.add(x)
	e.logEvent(c, eventtypes.Action(string(eventtypes.ActionExecCreate)+": "+strings.Join(cfg.Cmd, " ")), map[string]string{"execID": x.id})
	return x.id, nil
}

// ExecStartOptions are a start's options and the client's streams.
type ExecStartOptions = execrouter.StartOptions

var _ execrouter.Backend = (*Engine)(nil)

// ExecInfo returns what the router needs before it hijacks the
// connection: whether the exec has a TTY. Unknown ids are NotFound.
func (e *Engine) ExecInfo(ctx context.Context, id string) (tty bool, err error) {
	x, err := e.execs.get(id)
	if err != nil {
		return false, err
	}
	return x.cfg.Tty, nil
}

// ExecStart runs the exec. Detached, it returns once the process runs;
// attached, it streams until the process's output ends (or the client
// detaches) and, unless detached, until its exit code is recorded, so the
// client's inspect that follows sees it.
func (e *Engine) ExecStart(ctx context.Context, id string, opts ExecStartOptions) (retErr error) {
	x, err := e.execs.get(id)
	if err != nil {
		return err
	}
	x.mu.Lock()
	switch {
	case x.exitCode != nil:
		x.mu.Unlock()
		return errdefs.Conflictf("Error: Exec command %s has already run", id)
	case x.started:
		x.mu.Unlock()
		return errdefs.Conflictf("Error: Exec command %s is already running", id)
	}
	x.started, x.running = true, true
	x.mu.Unlock()
	defer func() {
		if retErr == nil {
			return
		}
		code := execExitCannotRun
		if errors.Is(retErr, runtime.ErrExecNotFound) {
			code = execExitNotFound
		}
		x.finish(code)
	}()

	ent, err := e.store.Get(x.containerID)
	if err != nil {
		return err
	}
	c := ent.Snapshot()
	if err := execReady(c); err != nil {
		return err
	}
	mon, ok := e.cfg.Monitor.(monitor.ExecClient)
	if !ok {
		return errdefs.NotImplementedf("exec is not supported by this monitor")
	}
	proc, err := e.execProcess(c, x, opts.ConsoleSize)
	if err != nil {
		return err
	}
	req := monitor.ExecRequest{ID: x.id, Process: proc, OpenStdin: x.cfg.AttachStdin}
	tty := x.cfg.Tty
	stdin, stdout, stderr := opts.Stdin, opts.Stdout, opts.Stderr
	if !x.cfg.AttachStdin {
		stdin = nil
	}
	if !x.cfg.AttachStdout {
		stdout = nil
	}
	if !x.cfg.AttachStderr {
		stderr = nil
	}
	if tty {
		stderr = nil
	}
	if !opts.Detach {
		req.Attach = &monitor.AttachOptions{Stdin: stdin != nil, Stdout: stdout != nil, Stderr: stderr != nil}
	}
	pid, conn, err := mon.Exec(ctx, c.ID, req)
	if err != nil {
		if errdefs.ClassOf(err) == errdefs.Unknown {
			// The runtime's failure, in Docker's wording; the CLI prints
			// it and exits 126 (127: not found) from exec inspect.
			return fmt.Errorf("OCI runtime exec failed: exec failed: unable to start container process: %w: unknown", err)
		}
		return err
	}
	pidfd := execPidfd(pid, c.ID)
	x.mu.Lock()
	x.pid = pid
	x.mu.Unlock()
	x.launch()
	e.logEvent(c, eventtypes.Action(string(eventtypes.ActionExecStart)+": "+strings.Join(x.cfg.Cmd, " ")), map[string]string{"execID": x.id})
	go e.watchExec(c, x, mon, pidfd)
	if conn == nil {
		return nil
	}
	if tty && stdin != nil {
		keys := x.detachKeys
		if keys == nil {
			keys, _ = term.ToBytes(DefaultDetachKeys)
		}
		stdin = term.NewEscapeProxy(stdin, keys)
	}
	if err := pump(ctx, conn, stdin, stdout, stderr, tty); err != nil {
		return err
	}
	if stdout == nil && stderr == nil {
		return nil
	}
	select {
	case <-x.done:
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		// Output ended long before the exit (a process that closed its
		// stdio); the client inspects a running exec, as with dockerd.
	}
	return nil
}

// watchExec records the exec's exit code once the monitor reports it.
// A monitor that dies takes its execs with it (the exec keeps running,
// the pid's parent gone): the wait is asked again until a monitor
// answers (the client starts a new one). The new monitor never knew the
// exec (NotFound, as when a monitor forgets the execs of a stopped
// container), so the process is then watched through pidfd, taken at
// launch, until it ends; its status died with the old monitor and the
// exit is recorded as exitUnknown.
func (e *Engine) watchExec(c *container.Container, x *execRecord, mon monitor.ExecClient, pidfd int) {
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	retry := 50 * time.Millisecond
	for {
		ex, err := mon.ExecWait(e.ctx, c.ID, x.id)
		if errdefs.Is(err, errdefs.NotFound) {
			if !waitPidfd(e.ctx, pidfd) {
				return
			}
			ex, err = monitor.Exit{Code: exitUnknown}, nil
		}
		if err == nil {
			x.finish(ex.Code)
			e.logEvent(c, eventtypes.ActionExecDie, map[string]string{"execID": x.id, "exitCode": strconv.Itoa(ex.Code)})
			return
		}
		if e.ctx.Err() != nil {
			return
		}
		e.log.WithError(err).WithField("container", c.ID).WithField("exec", x.id).Warn("wait for exec exit; asking again")
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, 2*time.Second)
	}
}

// execPidfd pins the exec's process pid of container id, or returns -1:
// the process is gone, or pid is not in the container's cgroup.
func execPidfd(pid int, id string) int {
	if pid <= 0 {
		return -1
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil || !strings.Contains(string(b), id) {
		unix.Close(fd)
		return -1
	}
	return fd
}

// waitPidfd waits until the process of pidfd (none: -1) has ended; false
// if ctx ended first.
func waitPidfd(ctx context.Context, pidfd int) bool {
	for pidfd >= 0 {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 500)
		if n > 0 || (err != nil && err != unix.EINTR) {
			break
		}
		if ctx.Err() != nil {
			return false
		}
	}
	return ctx.Err() == nil
}

// execProcess builds the exec's OCI process from the container's spec
// (the bundle berthd wrote at start) as dockerd does.
func (e *Engine) execProcess(c *container.Container, x *execRecord, size *[2]uint) (*specs.Process, error) {
	data, err := os.ReadFile(filepath.Join(e.bundleDir(c.ID), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("exec in %s: read spec: %w", c.ID, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("exec in %s: decode spec: %w", c.ID, err)
	}
	in := ocispec.ExecInput{
		Spec: &spec, Config: c.Config, HostConfig: c.HostConfig,
		Cmd: x.cfg.Cmd, User: x.cfg.User, Env: x.cfg.Env, WorkingDir: x.cfg.WorkingDir,
		Tty: x.cfg.Tty, Privileged: x.cfg.Privileged, HostCapBounding: e.cfg.HostCapBounding,
	}
	switch {
	case size != nil:
		in.ConsoleSize = *size
	case x.cfg.ConsoleSize != nil:
		in.ConsoleSize = *x.cfg.ConsoleSize
	}
	return ocispec.ExecProcess(in)
}

// ExecResize sets the exec's terminal size.
func (e *Engine) ExecResize(ctx context.Context, id string, height, width uint) error {
	x, err := e.execs.get(id)
	if err != nil {
		return err
	}
	ent, err := e.store.Get(x.containerID)
	if err != nil {
		return err
	}
	if err := execReady(ent.Snapshot()); err != nil {
		return err
	}
	mon, ok := e.cfg.Monitor.(monitor.ExecClient)
	if !ok {
		return errdefs.NotImplementedf("exec is not supported by this monitor")
	}
	// The client resizes as soon as its stream is hijacked, which can be
	// before the process runs: wait for it, as dockerd does.
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-x.launched:
	case <-t.C:
		return errors.New("timeout waiting for exec session ready")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-x.done:
		return errdefs.Conflictf("exec %s is not running", id)
	default:
	}
	return mon.ExecResize(ctx, x.containerID, id, height, width)
}

// ExecInspect describes the exec as GET /exec/{id}/json.
func (e *Engine) ExecInspect(ctx context.Context, id string) (ctypes.ExecInspectResponse, error) {
	x, err := e.execs.get(id)
	if err != nil {
		return ctypes.ExecInspectResponse{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	priv := x.cfg.Privileged
	r := ctypes.ExecInspectResponse{
		ID:      x.id,
		Running: x.running,
		ProcessConfig: &ctypes.ExecProcessConfig{
			Tty: x.cfg.Tty, Entrypoint: x.cfg.Cmd[0], Arguments: slices.Clone(x.cfg.Cmd[1:]),
			Privileged: &priv, User: x.cfg.User,
		},
		OpenStdin:   x.cfg.AttachStdin,
		OpenStdout:  x.cfg.AttachStdout,
		OpenStderr:  x.cfg.AttachStderr,
		ContainerID: x.containerID,
		DetachKeys:  x.detachKeys,
		Pid:         x.pid,
	}
	if x.exitCode != nil {
		code := *x.exitCode
		r.ExitCode = &code
	}
	if r.DetachKeys == nil {
		r.DetachKeys = []byte{}
	}
	return r, nil
}

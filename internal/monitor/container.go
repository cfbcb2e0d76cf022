package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/containerlog"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/reaper"
)

// drainTimeout bounds how long an exited container's output is awaited:
// a process outside the container's pid namespace may still hold its
// pipes open.
const drainTimeout = 2 * time.Second

// copyBufPool holds the 32 KiB buffers output is read into. A buffer is
// taken only while bytes are ready, so an idle container holds none.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// container is one supervised container.
type container struct {
	s    *server
	id   string
	req  CreateRequest
	task runtime.Task
	pid  int
	// pidTime is the init's start time, recorded against pid reuse.
	pidTime uint64
	// orphan: adopted from a monitor that died; no task, no stdio, and
	// the init is watched and signalled through pidfd.
	orphan bool
	pidfd  *os.File
	// sentKill: this monitor sent the init SIGKILL (an orphan whose exit
	// status cannot be read died of it).
	sentKill bool

	console *os.File   // our dup of the pty master (nonblocking), or nil
	stdin   *os.File   // the pipe's write end, the console, or nil
	outputs []*os.File // read ends being pumped (pipes or the console)
	logw    *containerlog.Writer
	outDone chan struct{} // closed once every output stream reached EOF
	done    chan struct{} // closed once the exit is recorded
	// released is closed once Task.Delete has run after the exit.
	released chan struct{}

	// An exec'd process (see exec.go) has proc and parent set, and
	// pumpsStarted closed once its pumps run; a container has execs.
	proc         runtime.Process
	parent       *container
	pumpsStarted chan struct{}

	mu          sync.Mutex
	ready       bool // Create finished
	starting    bool
	started     bool
	pumping     int
	outputEnded bool
	stdinClosed bool
	exit        *Exit
	clients     map[*attachClient]struct{}
	execs       map[string]*container // exec id -> process, until ExecWait
}

func newContainer(s *server, id string) *container {
	return &container{s: s, id: id, outDone: make(chan struct{}), done: make(chan struct{}), released: make(chan struct{})}
}

func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\x00") && len(id) <= 128
}

// create sets up stdio, asks the runtime for a task and starts pumping its
// output. On error nothing is left (the runtime's Create guarantees the
// same for its part).
func (s *server) create(req CreateRequest) (pid int, retErr error) {
	if !validID(req.ID) {
		return 0, errdefs.InvalidArgumentf("monitor: invalid container id %q", req.ID)
	}
	if s.cfg.Runtimes == nil {
		return 0, errdefs.NotImplementedf("monitor: no runtimes configured")
	}
	c := newContainer(s, req.ID)
	c.req = req
	s.mu.Lock()
	if _, ok := s.containers[req.ID]; ok {
		s.mu.Unlock()
		return 0, errdefs.Conflictf("monitor: container %s already exists", req.ID)
	}
	s.containers[req.ID] = c
	s.creating++
	s.mu.Unlock()
	since := time.Now()
	defer func() {
		s.mu.Lock()
		if s.creating--; s.creating == 0 {
			clear(s.unclaimed)
		}
		if retErr != nil {
			delete(s.containers, req.ID)
		}
		s.mu.Unlock()
	}()

	rt, err := s.cfg.Runtimes(req.Runtime, req.RuntimeArgs)
	if err != nil {
		return 0, fmt.Errorf("monitor: create %s: %w", req.ID, err)
	}
	stateDir := filepath.Join(s.containerDir(req.ID), "task")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return 0, fmt.Errorf("monitor: create %s: %w", req.ID, err)
	}

	var undo []func()
	defer func() {
		if retErr != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	undo = append(undo, func() { os.RemoveAll(stateDir) })
	opts := runtime.CreateOpts{Bundle: req.Bundle, StateDir: stateDir}
	childEnds, closeOurs, err := c.openPipes(&opts)
	undo = append(undo, closeOurs)
	// The runtime has its own copies once Create returns.
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
	}()
	if err != nil {
		return 0, fmt.Errorf("monitor: create %s: %w", req.ID, err)
	}
	if req.Log.Path != "" {
		lw, err := containerlog.NewWriter(containerlog.Config{Path: req.Log.Path, MaxSize: req.Log.MaxSize, MaxFiles: req.Log.MaxFiles})
		if err != nil {
			return 0, fmt.Errorf("monitor: create %s: %w", req.ID, err)
		}
		undo = append(undo, func() { lw.Close() })
		c.logw = lw
	}

	task, err := rt.Create(s.ctx, req.ID, opts)
	if err != nil {
		return 0, fmt.Errorf("monitor: create %s: %w", req.ID, err)
	}
	undo = append(undo, func() {
		task.Kill(context.Background(), unix.SIGKILL, true)
		task.Delete(context.Background())
	})
	c.task, c.pid = task, task.Pid()
	if req.Terminal {
		console, err := dupNonblock(task.Console())
		if err != nil {
			return 0, fmt.Errorf("monitor: create %s: console: %w", req.ID, err)
		}
		undo = append(undo, func() { console.Close() })
		c.console = console
		c.outputs = []*os.File{console}
		if req.OpenStdin {
			c.stdin = console
		}
	}
	c.pidTime, _ = pidStartTime(c.pid)
	undo = append(undo, func() { os.Remove(filepath.Join(s.containerDir(req.ID), stateFile)) })
	if err := c.writeState(); err != nil {
		return 0, fmt.Errorf("monitor: create %s: %w", req.ID, err)
	}

	// From here on the container exists: its exit is handled by exited.
	early, exitedEarly := s.register(c, since)
	c.startPumps()
	if exitedEarly {
		go c.exited(early)
	}
	s.log.Info("created", "id", req.ID, "pid", c.pid, "runtime", rt.Name())
	return c.pid, nil
}

// openPipes makes the stdio pipes of a container without a terminal and
// sets opts' ends. childEnds are the runtime's ends, closeOurs undoes ours.
func (c *container) openPipes(opts *runtime.CreateOpts) (childEnds []*os.File, closeOurs func(), err error) {
	var ours []*os.File
	closeOurs = func() {
		for _, f := range ours {
			f.Close()
		}
	}
	if c.req.Terminal {
		return nil, closeOurs, nil
	}
	for _, dst := range []**os.File{&opts.Stdout, &opts.Stderr} {
		r, w, err := os.Pipe()
		if err != nil {
			return childEnds, closeOurs, err
		}
		ours, childEnds = append(ours, r), append(childEnds, w)
		c.outputs = append(c.outputs, r)
		*dst = w
	}
	if c.req.OpenStdin {
		r, w, err := os.Pipe()
		if err != nil {
			return childEnds, closeOurs, err
		}
		ours, childEnds = append(ours, w), append(childEnds, r)
		opts.Stdin, c.stdin = r, w
	}
	return childEnds, closeOurs, nil
}

// startPumps starts one pump per output stream.
func (c *container) startPumps() {
	c.mu.Lock()
	c.ready = true
	c.pumping = len(c.outputs)
	c.mu.Unlock()
	streams := []string{"stdout", "stderr"}
	for i, f := range c.outputs {
		var sw *containerlog.StreamWriter
		if c.logw != nil {
			sw = c.logw.Stream(streams[i])
		}
		stream := byte(i + 1)
		if c.req.Terminal {
			stream = 0
		}
		go c.pump(f, stream, sw)
	}
}

// dupNonblock returns a nonblocking duplicate of f, so reading it parks a
// goroutine on the poller instead of a thread.
func dupNonblock(f *os.File) (*os.File, error) {
	if f == nil {
		return nil, errors.New("runtime returned no pty master for a terminal")
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var derr error
	if err := rc.Control(func(sysfd uintptr) {
		fd, derr = unix.FcntlInt(sysfd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "ptmx"), nil
}

// pump copies one output stream into the log and to attached clients
// until EOF (or EIO: a pty whose slave side is closed). It never blocks on
// a client.
func (c *container) pump(f *os.File, stream byte, sw *containerlog.StreamWriter) {
	defer c.pumpDone()
	if sw != nil {
		defer sw.Close()
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	logFailed := false
	for {
		var (
			n    int
			rerr error
			buf  *[]byte
		)
		err := rc.Read(func(fd uintptr) bool {
			buf = copyBufPool.Get().(*[]byte)
			for {
				n, rerr = unix.Read(int(fd), *buf)
				if rerr != unix.EINTR {
					break
				}
			}
			if rerr == unix.EAGAIN {
				copyBufPool.Put(buf)
				buf = nil
				return false // wait for readiness
			}
			return true
		})
		if err != nil {
			return // closed by exited after drainTimeout
		}
		if n > 0 {
			data := (*buf)[:n]
			if sw != nil {
				// The stream writer keeps its first error and keeps
				// consuming: output flows on while the disk is full.
				if _, err := sw.Write(data); err != nil && !logFailed {
					logFailed = true
					c.s.log.Error("write container log", "id", c.id, "err", err)
				}
			}
			c.broadcast(stream, data)
		}
		copyBufPool.Put(buf)
		if n <= 0 || rerr != nil {
			return
		}
	}
}

func (c *container) pumpDone() {
	c.mu.Lock()
	c.pumping--
	last := c.pumping == 0
	var clients []*attachClient
	if last {
		c.outputEnded = true
		for cl := range c.clients {
			clients = append(clients, cl)
		}
	}
	c.mu.Unlock()
	if last {
		for _, cl := range clients {
			cl.endOutput()
		}
		close(c.outDone)
	}
}

// exited finishes a container whose init was reaped: drain output, close
// stdin and the log, read the OOM flag, record the exit durably, wake
// waiters, and release the runtime's resources.
func (c *container) exited(e reaper.Exit) {
	if c.proc != nil {
		c.execExited(e)
		return
	}
	t := time.NewTimer(drainTimeout)
	select {
	case <-c.outDone:
	case <-t.C:
		c.s.log.Warn("output still open after exit; closing", "id", c.id)
		for _, f := range c.outputs {
			f.Close()
		}
		<-c.outDone
	}
	t.Stop()
	for _, f := range c.outputs {
		f.Close()
	}
	c.closeStdin()
	if c.logw != nil {
		if err := c.logw.Close(); err != nil {
			c.s.log.Warn("close log", "id", c.id, "err", err)
		}
	}
	ex := Exit{Code: e.Status, At: e.At.UTC(), OOMKilled: c.oomKilled()}
	if err := writeExitFile(filepath.Join(c.s.containerDir(c.id), exitFile), exitRecord{ID: c.id, Pid: c.pid, Code: ex.Code, OOMKilled: ex.OOMKilled, At: ex.At}); err != nil {
		c.s.log.Error("record exit", "id", c.id, "err", err)
	}
	c.markExited(ex)
	c.s.log.Info("exited", "id", c.id, "pid", c.pid, "code", ex.Code, "oomKilled", ex.OOMKilled)
	if c.orphan {
		c.releaseOrphan()
	}
	if c.task != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := c.task.Delete(ctx); err != nil {
			c.s.log.Error("delete task", "id", c.id, "err", err)
		}
		cancel()
	}
	close(c.released)
}

func (c *container) markExited(ex Exit) {
	c.mu.Lock()
	c.exit = &ex
	c.ready = true
	c.mu.Unlock()
	close(c.done)
}

// oomKilled asks Config.OOMKilled, else the task if it knows, else the
// cgroup named by the bundle's spec.
func (c *container) oomKilled() bool {
	hook := c.s.cfg.OOMKilled
	if hook == nil {
		if r, ok := c.task.(interface{ OOMKilled() (bool, error) }); ok {
			oom, err := r.OOMKilled()
			if err != nil {
				c.s.log.Warn("read oom state", "id", c.id, "err", err)
			}
			return oom
		}
		hook = cgroupOOMKilled
	}
	data, err := os.ReadFile(filepath.Join(c.req.Bundle, "config.json"))
	var spec specs.Spec
	if err == nil {
		err = json.Unmarshal(data, &spec)
	}
	var oom bool
	if err == nil {
		oom, err = hook(c.id, &spec)
	}
	if err != nil {
		c.s.log.Warn("read oom state", "id", c.id, "err", err)
	}
	return oom
}

// cgroupOOMKilled reads the OOM kill count of the spec's cgroup. A relative
// cgroupsPath resolves against the monitor's own cgroup, as it did for the
// runtime (in-process, or the monitor's child).
func cgroupOOMKilled(_ string, spec *specs.Spec) (bool, error) {
	if spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return false, nil
	}
	m, err := cgroups.New(spec.Linux.CgroupsPath)
	if err != nil {
		return false, err
	}
	return m.OOMKilled()
}

func (c *container) exitStatus() Exit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.exit
}

// state is the container's State; ok is false while it is being created.
func (c *container) state() (State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return State{}, false
	}
	st := State{ID: c.id, Pid: c.pid, Running: c.started && c.exit == nil}
	if c.exit != nil {
		ex := *c.exit
		st.Exit = &ex
	}
	return st, true
}

func (c *container) start(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case !c.ready:
		c.mu.Unlock()
		return errdefs.NotFoundf("monitor: no such container: %s", c.id)
	case c.exit != nil:
		c.mu.Unlock()
		return errdefs.Conflictf("monitor: container %s has exited", c.id)
	case c.started || c.starting:
		c.mu.Unlock()
		return errdefs.Conflictf("monitor: container %s is already started", c.id)
	}
	c.starting = true
	c.mu.Unlock()
	err := c.task.Start(ctx)
	c.mu.Lock()
	c.starting = false
	c.started = err == nil
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("monitor: start %s: %w", c.id, err)
	}
	if err := c.writeState(); err != nil {
		c.s.log.Warn("record start", "id", c.id, "err", err)
	}
	return nil
}

func (c *container) kill(ctx context.Context, sig syscall.Signal) error {
	c.mu.Lock()
	running := c.ready && c.exit == nil
	c.mu.Unlock()
	if !running {
		return errdefs.Conflictf("monitor: container %s is not running", c.id)
	}
	if err := c.signal(ctx, sig, false); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errdefs.Conflictf("monitor: container %s is not running", c.id)
		}
		return fmt.Errorf("monitor: kill %s: %w", c.id, err)
	}
	return nil
}

// signal sends sig through the task, or the pidfd of an orphan without
// one.
func (c *container) signal(ctx context.Context, sig syscall.Signal, all bool) (err error) {
	if c.orphan {
		defer func() {
			if err == nil && sig == unix.SIGKILL {
				c.mu.Lock()
				c.sentKill = true
				c.mu.Unlock()
			}
		}()
	}
	if c.task != nil {
		return c.task.Kill(ctx, sig, all)
	}
	rc, err := c.pidfd.SyscallConn()
	if err != nil {
		return unix.ESRCH
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); err != nil {
		return unix.ESRCH
	}
	return serr
}

func (c *container) resize(h, w uint16) error {
	if c.console == nil {
		return errdefs.InvalidArgumentf("monitor: resize %s: container has no terminal", c.id)
	}
	rc, err := c.console.SyscallConn()
	if err != nil {
		return errdefs.Conflictf("monitor: resize %s: %v", c.id, err)
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: h, Col: w})
	}); err != nil {
		return errdefs.Conflictf("monitor: resize %s: container has exited", c.id)
	}
	if ierr != nil {
		return fmt.Errorf("monitor: resize %s: ioctl TIOCSWINSZ: %w", c.id, ierr)
	}
	return nil
}

// closeStdin closes the container's stdin pipe (a terminal's is left
// alone: closing the master would hang the terminal up).
func (c *container) closeStdin() {
	c.mu.Lock()
	f := c.stdin
	if c.stdinClosed || f == nil || f == c.console {
		c.mu.Unlock()
		return
	}
	c.stdinClosed = true
	c.mu.Unlock()
	f.Close()
}

// delete forgets an exited container; a created one that never started is
// killed first.
func (c *container) delete(ctx context.Context) error {
	c.mu.Lock()
	ready, started, exited := c.ready, c.started || c.starting, c.exit != nil
	c.mu.Unlock()
	if !ready {
		return errdefs.NotFoundf("monitor: no such container: %s", c.id)
	}
	if !exited {
		if started {
			return errdefs.Conflictf("monitor: cannot delete running container %s", c.id)
		}
		if err := c.signal(ctx, unix.SIGKILL, true); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("monitor: delete %s: %w", c.id, err)
		}
	}
	// The runtime's resources (cgroup, state) are gone when Delete returns.
	select {
	case <-c.released:
	case <-ctx.Done():
		return ctx.Err()
	}
	dir := c.s.containerDir(c.id)
	for _, name := range []string{exitFile, stateFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("monitor: delete %s: %w", c.id, err)
		}
	}
	os.RemoveAll(filepath.Join(dir, "task"))
	c.s.mu.Lock()
	if c.s.containers[c.id] == c {
		delete(c.s.containers, c.id)
	}
	c.s.mu.Unlock()
	c.s.log.Info("deleted", "id", c.id)
	return nil
}

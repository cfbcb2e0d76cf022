package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/reaper"
)

// An exec'd process is supervised with the machinery of a container: it
// is a *container (stdio pipes or pty, pumps, attach clients, resize)
// whose proc is set, kept in its container's execs map rather than in
// the server's, never logged and never written to disk. Its exit is
// routed by pid like a container's and handled by execExited.

// handleExec creates, starts and (with Attach) streams an exec'd process;
// see the package doc.
func (s *server) handleExec(w http.ResponseWriter, r *http.Request) {
	var req ExecRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, errdefs.InvalidArgumentf("monitor: decode exec request: %v", err))
		return
	}
	c, err := s.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	x, err := c.exec(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Attach == nil {
		x.startPumps()
		close(x.pumpsStarted)
		writeJSON(w, struct{ Pid int }{x.pid})
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		x.startPumps() // output drains; nobody listens
		close(x.pumpsStarted)
		writeError(w, errors.New("monitor: exec: connection cannot be hijacked"))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		x.startPumps()
		close(x.pumpsStarted)
		return
	}
	cl := &attachClient{
		conn:    conn,
		stdout:  req.Attach.Stdout,
		stderr:  req.Attach.Stderr,
		raw:     x.req.Terminal,
		wake:    make(chan struct{}, 1),
		written: make(chan struct{}),
	}
	x.addClient(cl)
	x.startPumps()
	close(x.pumpsStarted)
	head := "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" +
		execPidHeader + ": " + strconv.Itoa(x.pid) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		cl.close()
		x.removeClient(cl)
		return
	}
	go cl.writeLoop(x)
	cl.signal()
	x.serveInput(cl, conn, brw.Reader, req.Attach.Stdin)
}

// execPidHeader carries the exec'd process's pid in the 101 head.
const execPidHeader = "Exec-Pid"

// exec creates and starts an exec'd process in c. The caller starts its
// pumps (after adding any attach client) and closes pumpsStarted.
func (c *container) exec(ctx context.Context, req ExecRequest) (_ *container, retErr error) {
	if !validID(req.ID) {
		return nil, errdefs.InvalidArgumentf("monitor: invalid exec id %q", req.ID)
	}
	if req.Process == nil || len(req.Process.Args) == 0 {
		return nil, errdefs.InvalidArgumentf("monitor: exec %s: no process", req.ID)
	}
	c.mu.Lock()
	running := c.ready && c.started && c.exit == nil
	if running {
		if _, dup := c.execs[req.ID]; dup {
			c.mu.Unlock()
			return nil, errdefs.Conflictf("monitor: exec %s already exists", req.ID)
		}
	}
	c.mu.Unlock()
	if !running {
		return nil, errdefs.Conflictf("container %s is not running", c.id)
	}
	// An orphan has a task when its runtime could rebuild it (see adopt).
	ex, ok := c.task.(runtime.Execer)
	if !ok {
		return nil, errdefs.NotImplementedf("monitor: exec into container %s is not supported (its runtime cannot exec, or cannot adopt a container after a monitor restart)", c.id)
	}
	s := c.s
	x := newContainer(s, req.ID)
	x.parent = c
	x.pumpsStarted = make(chan struct{})
	x.req = CreateRequest{ID: req.ID, Terminal: req.Process.Terminal, OpenStdin: req.OpenStdin, StdinOnce: true}
	c.mu.Lock()
	if c.execs == nil {
		c.execs = map[string]*container{}
	}
	c.execs[req.ID] = x
	c.mu.Unlock()
	s.mu.Lock()
	s.creating++
	s.mu.Unlock()
	since := time.Now()
	var undo []func()
	defer func() {
		s.mu.Lock()
		if s.creating--; s.creating == 0 {
			clear(s.unclaimed)
		}
		s.mu.Unlock()
		if retErr != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			c.mu.Lock()
			delete(c.execs, req.ID)
			c.mu.Unlock()
		}
	}()

	stateDir := filepath.Join(s.containerDir(c.id), "exec-"+req.ID)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("monitor: exec %s: %w", req.ID, err)
	}
	undo = append(undo, func() { os.RemoveAll(stateDir) })
	var copts runtime.CreateOpts
	childEnds, closeOurs, err := x.openPipes(&copts)
	undo = append(undo, closeOurs)
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("monitor: exec %s: %w", req.ID, err)
	}
	proc, err := ex.Exec(ctx, req.ID, runtime.ExecOpts{Process: req.Process, Stdin: copts.Stdin, Stdout: copts.Stdout, Stderr: copts.Stderr, StateDir: stateDir})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { proc.Delete(context.Background()) })
	x.proc, x.pid = proc, proc.Pid()
	if x.req.Terminal {
		console, err := dupNonblock(proc.Console())
		if err != nil {
			return nil, fmt.Errorf("monitor: exec %s: console: %w", req.ID, err)
		}
		undo = append(undo, func() { console.Close() })
		x.console = console
		x.outputs = []*os.File{console}
		if req.OpenStdin {
			x.stdin = console
		}
	}
	for _, f := range childEnds {
		f.Close()
	}
	childEnds = nil
	if err := proc.Start(ctx); err != nil {
		return nil, err
	}
	// From here on its exit is handled by exited (execExited).
	x.mu.Lock()
	x.started = true
	x.mu.Unlock()
	if early, exitedEarly := s.register(x, since); exitedEarly {
		go x.exited(early)
	}
	s.log.Info("exec started", "id", c.id, "exec", req.ID, "pid", x.pid, "args", req.Process.Args)
	return x, nil
}

// execExited finishes an exec'd process: drain its output, close its
// stdin, record the exit, release the runtime's hold.
func (x *container) execExited(e reaper.Exit) {
	<-x.pumpsStarted
	t := time.NewTimer(drainTimeout)
	select {
	case <-x.outDone:
	case <-t.C:
		for _, f := range x.outputs {
			f.Close()
		}
		<-x.outDone
	}
	t.Stop()
	for _, f := range x.outputs {
		f.Close()
	}
	x.closeStdin()
	x.markExited(Exit{Code: e.Status, At: e.At.UTC()})
	x.s.log.Info("exec exited", "id", x.parent.id, "exec", x.id, "pid", x.pid, "code", e.Status)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := x.proc.Delete(ctx); err != nil {
		x.s.log.Error("delete exec", "id", x.parent.id, "exec", x.id, "err", err)
	}
	cancel()
	close(x.released)
}

// serveInput copies an attach client's input to the exec's stdin (see
// handleAttach): EOF closes the stdin pipe; a hang-up detaches.
func (x *container) serveInput(cl *attachClient, conn interface {
	io.Reader
}, buffered interface {
	io.Reader
	Buffered() int
}, wantStdin bool) {
	in := io.MultiReader(io.LimitReader(buffered, int64(buffered.Buffered())), conn)
	var stdin io.Writer = io.Discard
	if wantStdin && x.stdin != nil {
		stdin = x.stdin
	}
	bp := copyBufPool.Get().(*[]byte)
	err := copyInput(stdin, in, *bp)
	copyBufPool.Put(bp)
	if err == nil && stdin != io.Discard {
		x.closeStdin()
	}
	if err != nil || peerClosed(cl.conn) {
		cl.close()
	}
	<-cl.written
}

func (s *server) getExec(id, execID string) (*container, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	x := c.execs[execID]
	c.mu.Unlock()
	if x == nil {
		return nil, errdefs.NotFoundf("monitor: no such exec: %s", execID)
	}
	return x, nil
}

func (s *server) handleExecResize(w http.ResponseWriter, r *http.Request) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, errdefs.InvalidArgumentf("monitor: resize: %v", err))
		return
	}
	x, err := s.getExec(r.PathValue("id"), r.PathValue("exec"))
	if err == nil {
		err = x.resize(uint16(h), uint16(wd))
	}
	if err != nil {
		writeError(w, err)
	}
}

// handleExecWait waits for the exit and then forgets the exec: berthd
// asks once, and records the exit itself.
func (s *server) handleExecWait(w http.ResponseWriter, r *http.Request) {
	x, err := s.getExec(r.PathValue("id"), r.PathValue("exec"))
	if err != nil {
		writeError(w, err)
		return
	}
	select {
	case <-x.done:
	case <-r.Context().Done():
		return
	}
	ex := x.exitStatus()
	p := x.parent
	p.mu.Lock()
	if p.execs[x.id] == x {
		delete(p.execs, x.id)
	}
	p.mu.Unlock()
	writeJSON(w, ex)
}

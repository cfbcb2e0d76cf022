package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"

	"github.com/moby/moby/api/pkg/stdcopy"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/term"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/containerlog"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/monitor"
)

// pendingAttach is a client attached to a container that is not running:
// the next start hands it the monitor stream before the program runs.
type pendingAttach struct {
	opts monitor.AttachOptions
	ch   chan attachResult // buffered 1
}

type attachResult struct {
	conn net.Conn
	err  error
}

// Attach connects the client's streams to the container. The router gives
// Stdout/Stderr writers that frame what they are given (non-TTY), so the
// monitor's stdcopy frames are demultiplexed into them.
func (e *Engine) Attach(ctx context.Context, ref string, opts containers.AttachOptions) error {
	// As dockerd, keys given are checked first, whatever the attach; only
	// a TTY attach watches for them.
	keys := opts.DetachKeys
	if keys == "" {
		keys = DefaultDetachKeys
	}
	detachKeys, err := term.ToBytes(keys)
	if err != nil {
		return errdefs.InvalidArgumentf("Invalid detach keys (%s) provided", keys)
	}
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	c := ent.Snapshot()
	e.logEvent(c, eventtypes.ActionAttach, nil)
	tty := c.Config.Tty
	ready := func() {
		if opts.Ready != nil {
			opts.Ready()
		}
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if tty && stdout == nil {
		stdout, stderr = stderr, nil
	}
	if tty {
		stderr = nil
	}
	if opts.Logs && c.LogPath != "" {
		ready()
		err := e.readLog(ctx, ent, containerlog.ReadOptions{Tail: -1}, func(m containerlog.Message) error {
			w := stdout
			if m.Stream == "stderr" && !tty {
				w = stderr
			}
			if w == nil {
				return nil
			}
			_, err := w.Write(m.Line)
			return err
		})
		if err != nil {
			return err
		}
	}
	if !opts.Stream {
		return nil
	}
	stdin := opts.Stdin
	if tty && stdin != nil {
		stdin = term.NewEscapeProxy(stdin, detachKeys)
	}
	mopts := monitor.AttachOptions{Stdin: stdin != nil, Stdout: stdout != nil, Stderr: stderr != nil}
	conn, err := e.attachConn(ctx, ent, mopts, ready)
	if err != nil {
		return err
	}
	ready()
	return pump(ctx, conn, stdin, stdout, stderr, tty)
}

// DefaultDetachKeys is dockerd's detach sequence.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// attachConn attaches to a running container at once; otherwise it waits
// for the next start to hand it the stream.
//
// ready is called once the pending attach is registered, so the client may
// start the container without losing its first output.
func (e *Engine) attachConn(ctx context.Context, ent *container.Entry, mopts monitor.AttachOptions, ready func()) (net.Conn, error) {
	id := ent.ID()
	ent.Lock()
	c := ent.Snapshot()
	if c.State.Running() {
		ent.Unlock()
		conn, err := e.cfg.Monitor.Attach(ctx, id, mopts)
		if gone(err) {
			// It exited between our look and the monitor's: its output
			// has ended, which is what the client would have seen.
			a, b := net.Pipe()
			b.Close()
			return a, nil
		}
		return conn, err
	}
	if !c.State.Running() && c.State.Status != "created" && c.State.Status != "exited" {
		ent.Unlock()
		return nil, errdefs.Conflictf("cannot attach to container %s: it is %s", id, c.State.Status)
	}
	p := &pendingAttach{opts: mopts, ch: make(chan attachResult, 1)}
	e.attachMu.Lock()
	e.pending[id] = append(e.pending[id], p)
	e.attachMu.Unlock()
	ent.Unlock()
	ready()
	select {
	case r := <-p.ch:
		return r.conn, r.err
	case <-ctx.Done():
		if e.dropPending(id, p) {
			return nil, ctx.Err()
		}
		if r := <-p.ch; r.conn != nil {
			r.conn.Close()
		}
		return nil, ctx.Err()
	}
}

// dropPending unregisters p; false means a start already took it.
func (e *Engine) dropPending(id string, p *pendingAttach) bool {
	e.attachMu.Lock()
	defer e.attachMu.Unlock()
	for i, q := range e.pending[id] {
		if q == p {
			e.pending[id] = append(e.pending[id][:i], e.pending[id][i+1:]...)
			if len(e.pending[id]) == 0 {
				delete(e.pending, id)
			}
			return true
		}
	}
	return false
}

func (e *Engine) takePending(id string) []*pendingAttach {
	e.attachMu.Lock()
	defer e.attachMu.Unlock()
	ps := e.pending[id]
	delete(e.pending, id)
	return ps
}

// handOffAttaches connects the waiting clients to a created task; the
// caller starts it afterwards.
func (e *Engine) handOffAttaches(ctx context.Context, id string) {
	for _, p := range e.takePending(id) {
		conn, err := e.cfg.Monitor.Attach(ctx, id, p.opts)
		p.ch <- attachResult{conn: conn, err: err}
	}
}

// cancelAttaches fails the waiting clients of a container being removed.
func (e *Engine) cancelAttaches(id string) {
	for _, p := range e.takePending(id) {
		p.ch <- attachResult{err: errdefs.NotFoundf("No such container: %s", id)}
	}
}

// pump copies between the client and the monitor stream until the
// container's output ends (or, without output streams, stdin ends).
func pump(ctx context.Context, conn net.Conn, stdin io.Reader, stdout, stderr io.Writer, tty bool) error {
	defer conn.Close()
	outDone := make(chan error, 1)
	go func() {
		var err error
		if tty {
			_, err = io.Copy(orDiscard(stdout), conn)
		} else {
			_, err = stdcopy.StdCopy(orDiscard(stdout), orDiscard(stderr), conn)
		}
		outDone <- err
	}()
	inDone := make(chan struct{})
	detached := make(chan struct{})
	if stdin != nil {
		go func() {
			defer close(inDone)
			_, err := io.Copy(conn, stdin)
			if errors.As(err, &term.EscapeError{}) {
				close(detached) // closing the conn detaches; stdin stays open
				return
			}
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	if stdout == nil && stderr == nil && stdin != nil {
		select {
		case <-inDone:
		case <-outDone:
		case <-ctx.Done():
		}
		return nil
	}
	select {
	case err := <-outDone:
		if err != nil && !isClosed(err) {
			return err
		}
	case <-detached:
	case <-ctx.Done():
	}
	return nil
}

func isClosed(err error) bool {
	return err == io.EOF || errorsIsNetClosed(err)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Resize sets the terminal size of a running container.
func (e *Engine) Resize(ctx context.Context, ref string, height, width uint) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	c := ent.Snapshot()
	if !c.State.Running() {
		return errNotRunning(c.ID)
	}
	if err := e.cfg.Monitor.Resize(ctx, c.ID, height, width); err != nil {
		return err
	}
	e.logEvent(c, eventtypes.ActionResize, map[string]string{"height": strconv.FormatUint(uint64(height), 10), "width": strconv.FormatUint(uint64(width), 10)})
	return nil
}

func errorsIsNetClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

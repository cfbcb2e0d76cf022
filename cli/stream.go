package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	msignal "github.com/moby/sys/signal"
	"github.com/moby/term"
)

const defaultDetachKeys = "ctrl-p,ctrl-q"

// ioStreamer copies the local streams over a hijacked attach connection:
// stdin until EOF (then half-closes the connection), and output raw for a
// TTY or demultiplexed (stdcopy) otherwise. With a TTY on a terminal, stdin
// is put in raw mode and the detach keys end the session.
type ioStreamer struct {
	c          *CLI
	in         io.Reader
	out, errw  io.Writer
	resp       client.HijackedResponse
	tty        bool
	detachKeys string

	restoreOnce sync.Once
	restore     func()
}

// start streams in the background; the channel yields the session's end:
// nil when the output ended, a term.EscapeError when the user detached.
func (s *ioStreamer) start(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.stream(ctx) }()
	return done
}

func (s *ioStreamer) stream(ctx context.Context) error {
	if err := s.setupInput(); err != nil {
		return err
	}
	defer s.restoreTerminal()

	outputDone := s.beginOutput()
	inputDone, detached := s.beginInput()

	select {
	case err := <-outputDone:
		return err
	case <-inputDone:
		if s.out != nil || s.errw != nil {
			select {
			case err := <-outputDone:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	case err := <-detached:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *ioStreamer) setupInput() error {
	s.restore = func() {}
	if s.in == nil || !s.tty {
		return nil
	}
	if fd, isTerm := term.GetFdInfo(s.in); isTerm {
		state, err := term.SetRawTerminal(fd)
		if err != nil {
			return err
		}
		s.restore = func() { _ = term.RestoreTerminal(fd, state) }
	}
	keys := s.detachKeys
	if keys == "" {
		keys = defaultDetachKeys
	}
	escape, err := term.ToBytes(keys)
	if err != nil {
		// As docker: the daemon refuses bad keys; here fall back.
		escape, _ = term.ToBytes(defaultDetachKeys)
	}
	s.in = term.NewEscapeProxy(s.in, escape)
	return nil
}

func (s *ioStreamer) restoreTerminal() {
	s.restoreOnce.Do(func() {
		if s.restore != nil {
			s.restore()
		}
	})
}

func (s *ioStreamer) beginOutput() <-chan error {
	done := make(chan error, 1)
	go func() {
		out, errw := s.out, s.errw
		if out == nil {
			out = io.Discard
		}
		if errw == nil {
			errw = io.Discard
		}
		var err error
		if s.tty {
			_, err = io.Copy(out, s.resp.Reader)
			// Restore now so the shell prompt is sane even if stdin blocks.
			s.restoreTerminal()
		} else {
			_, err = stdcopy.StdCopy(out, errw, s.resp.Reader)
		}
		done <- err
	}()
	return done
}

func (s *ioStreamer) beginInput() (<-chan struct{}, <-chan error) {
	inputDone := make(chan struct{})
	detached := make(chan error, 1)
	go func() {
		if s.in != nil {
			_, err := io.Copy(s.resp.Conn, s.in)
			s.restoreTerminal()
			var esc term.EscapeError
			if errors.As(err, &esc) {
				detached <- err
				return
			}
		}
		_ = s.resp.CloseWrite()
		close(inputDone)
	}()
	return inputDone, detached
}

// streams says which standard streams to attach and how.
type streams struct {
	stdin, stdout, stderr bool
	tty                   bool
	detachKeys            string
}

// attachStreams attaches to a container and starts copying the chosen
// streams (stderr goes to stdout with a TTY, as it is one stream then). The
// channel reports the end of the session; closeConn drops the connection.
func attachStreams(ctx context.Context, c *CLI, cl *client.Client, id string, st streams) (_ <-chan error, closeConn func(), _ error) {
	resp, err := cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream:     true,
		Stdin:      st.stdin,
		Stdout:     st.stdout,
		Stderr:     st.stderr,
		DetachKeys: st.detachKeys,
	})
	if err != nil {
		return nil, nil, err
	}
	s := &ioStreamer{c: c, resp: resp.HijackedResponse, tty: st.tty, detachKeys: st.detachKeys}
	if st.stdin {
		s.in = c.In
	}
	if st.stdout {
		s.out = c.Out
	}
	if st.stderr {
		s.errw = c.Err
		if st.tty {
			s.errw = c.Out
		}
	}
	return s.start(ctx), resp.Close, nil
}

// waitExitOrRemoved registers a wait for the container's next exit (or its
// removal, for --rm) and delivers the exit status; 125 when waiting failed.
func waitExitOrRemoved(ctx context.Context, c *CLI, cl *client.Client, id string, removed bool) <-chan int {
	cond := container.WaitConditionNextExit
	if removed {
		cond = container.WaitConditionRemoved
	}
	res := cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	status := make(chan int, 1)
	go func() {
		select {
		case r := <-res.Result:
			if r.Error != nil {
				fmt.Fprintf(c.Err, "Error waiting for container: %v\n", r.Error.Message)
				status <- 125
				return
			}
			status <- int(r.StatusCode)
		case err := <-res.Error:
			if ctx.Err() == nil { // not when we stopped waiting ourselves
				fmt.Fprintf(c.Err, "error waiting for container: %v\n", err)
			}
			status <- 125
		}
	}()
	return status
}

// monitorTTYSize sends a container's terminal size now (retrying briefly
// while the process starts) and again on every SIGWINCH.
func monitorTTYSize(ctx context.Context, c *CLI, cl *client.Client, id string) {
	watchTTYSize(ctx, c, func(h, w uint) error {
		_, err := cl.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
		return err
	})
}

// watchTTYSize calls send with the CLI's terminal size now (retrying
// while the process starts) and on every SIGWINCH, until ctx ends.
func watchTTYSize(ctx context.Context, c *CLI, send func(height, width uint) error) {
	fd, _ := c.outFd()
	resize := func() error {
		ws, err := term.GetWinsize(fd)
		if err != nil || ws.Height == 0 || ws.Width == 0 {
			return err
		}
		return send(uint(ws.Height), uint(ws.Width))
	}
	if err := resize(); err != nil {
		go func() {
			for i := 1; i < 10; i++ {
				time.Sleep(time.Duration(i*10) * time.Millisecond)
				if resize() == nil {
					return
				}
			}
			fmt.Fprintln(c.Err, "failed to resize tty, using default size")
		}()
	}
	if runtime.GOOS == "windows" {
		return
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(sigc)
		for {
			select {
			case <-sigc:
				_ = resize()
			case <-ctx.Done():
				return
			}
		}
	}()
}

// forwardSignals relays every signal the CLI receives to the container
// (as docker's sig-proxy), except those about the CLI's own terminal and
// children. The returned func stops relaying.
func forwardSignals(ctx context.Context, cl *client.Client, id string) func() {
	sigc := make(chan os.Signal, 128)
	signal.Notify(sigc)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigc:
				name, ok := signalName(s)
				if !ok {
					continue
				}
				_, _ = cl.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: name})
			}
		}
	}()
	return func() {
		signal.Stop(sigc)
		close(done)
	}
}

// signalName is the name the Engine API takes for s; false for signals
// that are not forwarded.
func signalName(s os.Signal) (string, bool) {
	ss, ok := s.(syscall.Signal)
	if !ok {
		return "", false
	}
	switch ss {
	case syscall.SIGCHLD, syscall.SIGPIPE, syscall.SIGURG, syscall.SIGWINCH:
		return "", false
	}
	for name, n := range msignal.SignalMap {
		if n == ss {
			return name, true
		}
	}
	return "", false
}

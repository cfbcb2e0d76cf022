package monitor

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// maxClientBacklog is how much output may wait for one attach client. A
// client that falls further behind is disconnected (its stream ends; it
// can read the rest from the log): output is never held back for it and
// never silently thinned.
const maxClientBacklog = 1 << 20

// attachClient is one attach stream.
type attachClient struct {
	conn           net.Conn
	stdout, stderr bool
	raw            bool // terminal: no stdcopy framing

	mu      sync.Mutex
	pending []byte
	spare   []byte
	ended   bool // no more output will come: flush, then close
	gone    bool
	wake    chan struct{}
	written chan struct{} // closed when the writer goroutine is done
}

func (cl *attachClient) wants(stream byte) bool {
	// A terminal's one stream is stdout, as in Docker.
	return (stream <= 1 && cl.stdout) || (stream == 2 && cl.stderr)
}

// enqueue adds output for the client, or drops the client if it is too
// far behind. It never blocks.
func (cl *attachClient) enqueue(stream byte, data []byte) {
	cl.mu.Lock()
	if cl.gone || cl.ended {
		cl.mu.Unlock()
		return
	}
	if len(cl.pending)+len(data)+8 > maxClientBacklog {
		cl.gone = true
		cl.pending = nil
		cl.mu.Unlock()
		cl.conn.Close() // unblocks the writer
		return
	}
	if !cl.raw {
		var hdr [8]byte
		hdr[0] = stream
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(data)))
		cl.pending = append(cl.pending, hdr[:]...)
	}
	cl.pending = append(cl.pending, data...)
	cl.mu.Unlock()
	cl.signal()
}

func (cl *attachClient) signal() {
	select {
	case cl.wake <- struct{}{}:
	default:
	}
}

func (cl *attachClient) endOutput() {
	cl.mu.Lock()
	cl.ended = true
	cl.mu.Unlock()
	cl.signal()
}

func (cl *attachClient) close() {
	cl.mu.Lock()
	cl.gone = true
	cl.pending = nil
	cl.mu.Unlock()
	cl.conn.Close()
	cl.signal()
}

// writeLoop sends queued output until the output ends or the client goes.
func (cl *attachClient) writeLoop(c *container) {
	defer close(cl.written)
	defer c.removeClient(cl)
	defer cl.conn.Close()
	for range cl.wake {
		for {
			cl.mu.Lock()
			if cl.gone {
				cl.mu.Unlock()
				return
			}
			if len(cl.pending) == 0 {
				ended := cl.ended
				cl.mu.Unlock()
				if ended {
					return
				}
				break
			}
			// Swap buffers: enqueue appends to one while the other is
			// written. spare is lent out, never shared.
			buf := cl.pending
			cl.pending, cl.spare = cl.spare[:0], nil
			cl.mu.Unlock()
			if _, err := cl.conn.Write(buf); err != nil {
				return
			}
			cl.mu.Lock()
			if cap(buf) <= 64*1024 {
				cl.spare = buf[:0]
			} else {
				cl.spare = nil
			}
			cl.mu.Unlock()
		}
	}
}

func (c *container) broadcast(stream byte, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for cl := range c.clients {
		if cl.wants(stream) {
			cl.enqueue(stream, data)
		}
	}
}

func (c *container) addClient(cl *attachClient) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outputEnded {
		cl.ended = true
		return
	}
	if c.clients == nil {
		c.clients = map[*attachClient]struct{}{}
	}
	c.clients[cl] = struct{}{}
}

func (c *container) removeClient(cl *attachClient) {
	c.mu.Lock()
	delete(c.clients, cl)
	if len(c.clients) == 0 {
		c.clients = nil
	}
	c.mu.Unlock()
}

// handleAttach upgrades the connection to a raw stream (see the package
// doc), then copies the client's input to the container's stdin.
func (s *server) handleAttach(w http.ResponseWriter, r *http.Request) {
	c, err := s.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	if !ready {
		writeError(w, errdefs.NotFoundf("monitor: no such container: %s", c.id))
		return
	}
	q := r.URL.Query()
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, errors.New("monitor: attach: connection cannot be hijacked"))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	cl := &attachClient{
		conn:    conn,
		stdout:  q.Get("stdout") == "1",
		stderr:  q.Get("stderr") == "1",
		raw:     c.req.Terminal,
		wake:    make(chan struct{}, 1),
		written: make(chan struct{}),
	}
	c.addClient(cl)
	if _, err := io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"); err != nil {
		c.removeClient(cl)
		conn.Close()
		return
	}
	go cl.writeLoop(c)
	cl.signal()

	// Input: bytes the HTTP server already buffered come first.
	in := io.MultiReader(io.LimitReader(brw.Reader, int64(brw.Reader.Buffered())), conn)
	var stdin io.Writer = io.Discard
	if q.Get("stdin") == "1" && c.stdin != nil {
		stdin = c.stdin
	}
	bp := copyBufPool.Get().(*[]byte)
	err = copyInput(stdin, in, *bp)
	copyBufPool.Put(bp)
	if err == nil && stdin != io.Discard && c.req.StdinOnce {
		c.closeStdin()
	}
	if err != nil || peerClosed(conn) {
		cl.close() // gone, not half-closed: detach now
	}
	<-cl.written
}

// copyInput copies the client's input to stdin until EOF (nil) or a read
// error. Input that arrives after the container's stdin closed is
// dropped, as Docker does.
func copyInput(stdin io.Writer, in io.Reader, buf []byte) error {
	for {
		n, err := in.Read(buf)
		if n > 0 && stdin != io.Discard {
			if _, werr := stdin.Write(buf[:n]); werr != nil {
				stdin = io.Discard
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// peerClosed tells a client that closed its connection from one that only
// half-closed it (both read as EOF): only the former hangs the socket up.
func peerClosed(conn net.Conn) bool {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return false
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return true
	}
	hup := false
	rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			hup = fds[0].Revents&unix.POLLHUP != 0
		}
	})
	return hup
}

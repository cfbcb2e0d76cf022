package stream

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/moby/moby/api/types"
)

// Conn is a hijacked client connection. Reads yield what the client sends
// (the container's stdin) and return io.EOF once the client half-closes
// its write side; Writes go to the client.
type Conn struct {
	net.Conn
	r         io.Reader
	closeOnce sync.Once
	closed    atomic.Bool
}

func (c *Conn) closedByUs() bool { return c.closed.Load() }

// Read reads client bytes, including any the HTTP server had buffered.
func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the client's read side (our output) when the
// transport supports it (TCP, unix), else closes the connection.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// Close closes the connection; it is safe to call more than once.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.shutdownBoth()
		err = c.Conn.Close()
	})
	return err
}

// HijackContentType is the media type of an attach stream: raw for a TTY,
// else stdcopy frames, announced as multiplexed from API 1.42 on (older
// clients get the raw type for both, as from dockerd).
func HijackContentType(tty, apiAtLeast142 bool) string {
	if !tty && apiAtLeast142 {
		return types.MediaTypeMultiplexedStream
	}
	return types.MediaTypeRawStream
}

// IsUpgrade reports whether the client asked to upgrade the connection
// (Upgrade: tcp, Connection: Upgrade), as the docker CLI does for attach.
func IsUpgrade(r *http.Request) bool {
	_, ok := r.Header["Upgrade"]
	return ok
}

// Hijack takes over the connection of w and writes the response header
// itself: "101 UPGRADED" with Connection/Upgrade headers when the client
// asked for an upgrade, else "200 OK". Headers already set on w (Api-Version,
// Server, ...) are sent too.
func Hijack(w http.ResponseWriter, r *http.Request, contentType string) (*Conn, error) {
	c, writeHeader, err := HijackDeferred(w, r, contentType)
	if err != nil {
		return nil, err
	}
	if err := writeHeader(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// HijackDeferred takes over the connection of w like Hijack but leaves the
// response header to the returned function (idempotent). Attach uses it to
// answer only once the backend is ready to stream: the docker CLI starts the
// container as soon as it sees the 101, and output written before the attach
// is registered would be lost.
func HijackDeferred(w http.ResponseWriter, r *http.Request, contentType string) (*Conn, func() error, error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack connection: %w", err)
	}
	// Bytes the server already buffered come first, then the raw conn.
	// Reading on through brw.Reader would go through net/http's conn
	// reader, which cancels the request context at the client's EOF: a
	// half-close (end of stdin) would end the whole attach.
	var in io.Reader = nc
	if n := brw.Reader.Buffered(); n > 0 {
		in = io.MultiReader(io.LimitReader(brw.Reader, int64(n)), nc)
	}
	c := &Conn{Conn: nc, r: in}
	h := w.Header().Clone()
	h.Del("Content-Length")
	h.Set("Content-Type", contentType)
	status := "200 OK"
	if IsUpgrade(r) {
		status = "101 UPGRADED"
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "tcp")
	}
	var (
		once    sync.Once
		written error
	)
	writeHeader := func() error {
		once.Do(func() {
			if _, err := fmt.Fprintf(brw.Writer, "HTTP/1.1 %s\r\n", status); err != nil {
				written = err
				return
			}
			if err := h.Write(brw.Writer); err != nil {
				written = err
				return
			}
			if _, err := io.WriteString(brw.Writer, "\r\n"); err != nil {
				written = err
				return
			}
			written = brw.Writer.Flush()
		})
		return written
	}
	return c, writeHeader, nil
}

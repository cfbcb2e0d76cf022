package monitor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
)

// client implements Client over <exec-root>/monitor.sock.
type client struct {
	sock string
	hc   *http.Client
	// spawn starts a monitor when none answers (Ensure's clients); nil
	// for Dial's. spawnMu makes concurrent requests start one.
	spawn   func(ctx context.Context) error
	spawnMu sync.Mutex
	closed  bool // under spawnMu: a closed client starts no monitor
}

// Dial connects to the monitor serving execRoot. It fails with an
// errdefs.Unavailable error when no monitor answers.
func Dial(execRoot string) (Client, error) {
	c := newClient(execRoot)
	if err := c.ping(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func newClient(execRoot string) *client {
	sock := filepath.Join(execRoot, "monitor.sock")
	c := &client{sock: sock}
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		// A connection per request: connecting a unix socket is cheap, and
		// a pooled one would go stale (and fail a POST) when the monitor
		// restarts.
		DisableKeepAlives: true,
	}}
	return c
}

func (c *client) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.do(ctx, http.MethodGet, "/_ping", nil, nil); err != nil {
		return errdefs.Unavailablef("monitor at %s: %v", c.sock, err)
	}
	return nil
}

// dial connects to the socket. When nobody listens (the monitor died) a
// client from Ensure starts a new monitor, which adopts the running
// containers (see "Restart" in the package doc), and connects to it.
func (c *client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.sock)
	if err == nil || c.spawn == nil || !(errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)) {
		return conn, err
	}
	c.spawnMu.Lock()
	defer c.spawnMu.Unlock()
	if conn, err := d.DialContext(ctx, "unix", c.sock); err == nil || c.closed {
		return conn, err // another request started it, or we may not
	}
	if err := c.spawn(ctx); err != nil {
		return nil, err
	}
	return d.DialContext(ctx, "unix", c.sock)
}

// daemonizeEnv marks the short-lived intermediate process of Ensure's
// double fork.
const daemonizeEnv = "_BERTH_MONITOR_DAEMONIZE"

// Ensure returns a client of the monitor serving execRoot, starting one
// (selfExe monitor --exec-root ... --data-root ...) if none answers, and
// again whenever a request finds none answering. The monitor is
// double-forked: the direct child only starts it in a new session and
// exits, and is waited for here, so the monitor is never berthd's child
// (it is reparented to init, or the nearest subreaper) and berthd neither
// reaps it nor leaves a zombie of it. Ensure waits for the socket until
// ctx ends (10 seconds if ctx has no deadline).
func Ensure(ctx context.Context, execRoot, dataRoot, selfExe string) (Client, error) {
	c := newClient(execRoot)
	c.spawn = func(ctx context.Context) error { return spawnMonitor(ctx, execRoot, dataRoot, selfExe) }
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := c.do(ctx, http.MethodGet, "/_ping", nil, nil); err != nil {
		c.Close()
		if errdefs.ClassOf(err) == errdefs.Unknown {
			err = errdefs.Unavailablef("monitor at %s: %v", c.sock, err)
		}
		return nil, err
	}
	return c, nil
}

// spawnMonitor starts a monitor and waits until its socket answers (until
// ctx ends, or for 10 seconds if ctx has no deadline).
func spawnMonitor(ctx context.Context, execRoot, dataRoot, selfExe string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	args := []string{"monitor", "--exec-root", execRoot}
	if dataRoot != "" {
		args = append(args, "--data-root", dataRoot)
	}
	cmd := exec.Command(selfExe, args...)
	cmd.Env = append(os.Environ(), daemonizeEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // the monitor itself gets /dev/null: this closes with the child
	if err := cmd.Run(); err != nil && !errors.Is(err, syscall.ECHILD) {
		// ECHILD: a reaper in this process collected it first.
		return fmt.Errorf("start monitor: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	sock := filepath.Join(execRoot, "monitor.sock")
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", sock)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return errdefs.Unavailablef("start monitor: no answer on %s (see %s): %v",
				sock, filepath.Join(execRoot, "monitor.log"), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// daemonize is the intermediate process: it starts the real monitor in a
// new session, detached from every stdio, and returns without waiting.
func daemonize(args []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "berthd monitor: %v\n", err)
		return 1
	}
	cmd := exec.Command(self, append([]string{"monitor"}, args...)...)
	for _, kv := range os.Environ() {
		if len(kv) < len(daemonizeEnv)+1 || kv[:len(daemonizeEnv)+1] != daemonizeEnv+"=" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "berthd monitor: %v\n", err)
		return 1
	}
	return 0
}

// do sends a request and decodes a JSON reply into out (if non-nil).
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://monitor"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errdefs.Unavailablef("monitor: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("monitor: decode %s %s reply: %w", method, path, err)
	}
	return nil
}

// decodeError rebuilds the server's error with its class, and the
// runtime's exec sentinels for Start.
func decodeError(resp *http.Response) error {
	var body errorBody
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if json.Unmarshal(data, &body) != nil || body.Message == "" {
		body.Message = fmt.Sprintf("monitor: %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	err := errors.New(body.Message)
	switch body.Exec {
	case "not-found":
		err = &wrapped{msg: body.Message, err: runtime.ErrExecNotFound}
	case "permission":
		err = &wrapped{msg: body.Message, err: runtime.ErrExecPermission}
	}
	if class := errdefs.ParseClass(body.Class); class != errdefs.Unknown {
		return errdefs.With(class, err)
	}
	return err
}

// wrapped carries the server's message and a sentinel for errors.Is.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

func pathFor(id string, verb string) string {
	p := "/containers/" + url.PathEscape(id)
	if verb != "" {
		p += "/" + verb
	}
	return p
}

func (c *client) Create(ctx context.Context, req CreateRequest) (int, error) {
	var out struct{ Pid int }
	if err := c.do(ctx, http.MethodPost, pathFor(req.ID, "create"), req, &out); err != nil {
		return 0, err
	}
	return out.Pid, nil
}

func (c *client) Start(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, pathFor(id, "start"), nil, nil)
}

func (c *client) Resize(ctx context.Context, id string, height, width uint) error {
	q := url.Values{"h": {strconv.FormatUint(uint64(height), 10)}, "w": {strconv.FormatUint(uint64(width), 10)}}
	return c.do(ctx, http.MethodPost, pathFor(id, "resize")+"?"+q.Encode(), nil, nil)
}

func (c *client) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	return c.do(ctx, http.MethodPost, pathFor(id, "kill")+"?signal="+strconv.Itoa(int(sig)), nil, nil)
}

func (c *client) Wait(ctx context.Context, id string) (Exit, error) {
	var ex Exit
	err := c.do(ctx, http.MethodPost, pathFor(id, "wait"), nil, &ex)
	return ex, err
}

func (c *client) State(ctx context.Context, id string) (State, error) {
	var st State
	err := c.do(ctx, http.MethodGet, pathFor(id, ""), nil, &st)
	return st, err
}

func (c *client) List(ctx context.Context) ([]State, error) {
	var sts []State
	err := c.do(ctx, http.MethodGet, "/containers", nil, &sts)
	return sts, err
}

func (c *client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, pathFor(id, ""), nil, nil)
}

func (c *client) Close() error {
	c.spawnMu.Lock()
	c.closed = true
	c.spawnMu.Unlock()
	c.hc.CloseIdleConnections()
	return nil
}

// Attach sends the attach request on a connection of its own and returns
// that connection, a *net.UnixConn, once the monitor has switched it to a
// raw stream. The response head is read byte by byte so that no output
// is buffered away from the caller.
func (c *client) Attach(ctx context.Context, id string, opts AttachOptions) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.sock)
	if err != nil {
		return nil, errdefs.Unavailablef("monitor: attach %s: %v", id, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	ok := false
	defer func() {
		if !ok {
			stop()
			conn.Close()
		}
	}()
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	q := url.Values{"stdin": {b(opts.Stdin)}, "stdout": {b(opts.Stdout)}, "stderr": {b(opts.Stderr)}}
	req := "POST " + pathFor(id, "attach") + "?" + q.Encode() + " HTTP/1.1\r\nHost: monitor\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, attachErr(ctx, id, err)
	}
	head := make([]byte, 0, 256)
	one := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) > 16*1024 {
			return nil, fmt.Errorf("monitor: attach %s: response head too long", id)
		}
		if _, err := io.ReadFull(conn, one); err != nil {
			return nil, attachErr(ctx, id, err)
		}
		head = append(head, one[0])
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return nil, fmt.Errorf("monitor: attach %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		n := resp.ContentLength
		if n < 0 || n > 64*1024 {
			n = 64 * 1024
		}
		resp.Body = io.NopCloser(io.LimitReader(conn, n))
		return nil, decodeError(resp)
	}
	if !stop() {
		return nil, ctx.Err() // the deadline has been spoiled
	}
	ok = true
	return conn, nil
}

func attachErr(ctx context.Context, id string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errdefs.Unavailablef("monitor: attach %s: %v", id, err)
}

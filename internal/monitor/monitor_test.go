package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/containerlog"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/linux"
)

func TestMain(m *testing.M) {
	// Ensure re-executes this binary as the monitor, berth's runtime as
	// the container init.
	if len(os.Args) > 1 && os.Args[1] == "monitor" {
		os.Exit(Main(os.Args[2:], testRuntimes))
	}
	if len(os.Args) > 1 && os.Args[1] == "init" {
		linux.InitMain()
	}
	os.Exit(m.Run())
}

type testMonitor struct {
	execRoot string
	client   Client
	stop     func()
}

// startMonitor serves a monitor in this process on a private exec-root.
func startMonitor(t *testing.T, execRoot string) *testMonitor {
	t.Helper()
	return startMonitorWith(t, execRoot, hostRuntimes)
}

// testRuntimes knows the host-process test runtime and berth's own.
func testRuntimes(name string, args []string) (runtime.Runtime, error) {
	if name == "berth" {
		return linux.New(linux.Options{}), nil
	}
	return hostRuntimes(name, args)
}

func startMonitorWith(t *testing.T, execRoot string, runtimes RuntimeFunc) *testMonitor {
	t.Helper()
	if execRoot == "" {
		execRoot = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.Default()
	}
	go func() { errc <- Serve(ctx, Config{ExecRoot: execRoot, Runtimes: runtimes, Logger: logger}) }()
	var c Client
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if c, err = Dial(execRoot); err == nil {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("Serve: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Dial: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := &testMonitor{execRoot: execRoot, client: c}
	stopped := false
	m.stop = func() {
		if stopped {
			return
		}
		stopped = true
		c.Close()
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(m.stop)
	return m
}

type ctrOpts struct {
	terminal, openStdin, stdinOnce bool
	log                            bool
	annotations                    map[string]string
	logMax                         int64
}

// create makes a bundle for args and creates the container. Cleanup kills
// and deletes it if the test did not.
func (m *testMonitor) create(t *testing.T, id string, o ctrOpts, args ...string) CreateRequest {
	t.Helper()
	bundle := filepath.Join(m.execRoot, "containers", id)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	spec := specs.Spec{
		Version:     specs.Version,
		Process:     &specs.Process{Args: args, Env: []string{"PATH=/usr/bin:/bin", "TERM=xterm"}, Terminal: o.terminal},
		Annotations: o.annotations,
	}
	data, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	req := CreateRequest{ID: id, Bundle: bundle, Runtime: "host-test", Terminal: o.terminal, OpenStdin: o.openStdin, StdinOnce: o.stdinOnce}
	if o.log {
		req.Log = LogConfig{Path: filepath.Join(m.execRoot, "logs", id+"-json.log"), MaxSize: o.logMax, MaxFiles: 2}
	}
	pid, err := m.client.Create(context.Background(), req)
	if err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
	if pid <= 0 {
		t.Fatalf("Create %s: pid %d", id, pid)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if st, err := m.client.State(ctx, id); err == nil && st.Exit == nil {
			syscall.Kill(st.Pid, syscall.SIGKILL)
			m.client.Wait(ctx, id)
		}
		m.client.Delete(ctx, id)
	})
	return req
}

func waitExit(t *testing.T, c Client, id string) Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ex, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait %s: %v", id, err)
	}
	return ex
}

func readWithTimeout(t *testing.T, conn net.Conn, d time.Duration) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	data, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read attach stream: %v (got %q)", err, data)
	}
	return data
}

func TestOutputGoesToLogAndAttachInStdcopyFrames(t *testing.T) {
	m := startMonitor(t, "")
	ctx := context.Background()
	req := m.create(t, "out", ctrOpts{log: true, annotations: map[string]string{"test.oom": "true"}},
		"sh", "-c", "echo out1; echo err1 >&2; printf 'no newline'; exit 3")
	conn, err := m.client.Attach(ctx, "out", AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := conn.(*net.UnixConn); !ok {
		t.Errorf("Attach returned %T, want *net.UnixConn", conn)
	}
	if st, _ := m.client.State(ctx, "out"); st.Running || st.Exit != nil {
		t.Errorf("before start: %+v", st)
	}
	if err := m.client.Start(ctx, "out"); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	raw := readWithTimeout(t, conn, 10*time.Second)
	if _, err := stdcopy.StdCopy(&stdout, &stderr, bytes.NewReader(raw)); err != nil {
		t.Fatalf("stdcopy: %v (raw %q)", err, raw)
	}
	if stdout.String() != "out1\nno newline" || stderr.String() != "err1\n" {
		t.Errorf("attach stdout %q stderr %q", stdout.String(), stderr.String())
	}
	ex := waitExit(t, m.client, "out")
	if ex.Code != 3 || !ex.OOMKilled || time.Since(ex.At) > time.Minute {
		t.Errorf("exit = %+v, want code 3, oomKilled (test runtime says so)", ex)
	}
	st, err := m.client.State(ctx, "out")
	if err != nil || st.Running || st.Exit == nil || st.Exit.Code != 3 {
		t.Errorf("State = %+v, %v", st, err)
	}
	// The log is complete when the exit is recorded.
	got := map[string]string{}
	err = containerlog.Read(ctx, req.Log.Path, containerlog.ReadOptions{Tail: -1}, func(msg containerlog.Message) error {
		got[msg.Stream] += string(msg.Line)
		return nil
	})
	if err != nil || got["stdout"] != "out1\nno newline\n" || got["stderr"] != "err1\n" {
		t.Errorf("log = %q, %v", got, err)
	}
	rec, err := readExitFile(filepath.Join(m.execRoot, "containers", "out", "exit.json"))
	if err != nil || rec.Code != 3 || !rec.OOMKilled || rec.Pid != st.Pid || !rec.At.Equal(ex.At) {
		t.Errorf("exit.json = %+v, %v", rec, err)
	}
	// Attaching after the exit ends at once.
	conn2, err := m.client.Attach(ctx, "out", AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	if data := readWithTimeout(t, conn2, 5*time.Second); len(data) != 0 {
		t.Errorf("attach after exit read %q", data)
	}
	conn2.Close()
}

func TestTerminalIsRawAndResizable(t *testing.T) {
	m := startMonitor(t, "")
	ctx := context.Background()
	m.create(t, "tty", ctrOpts{terminal: true, log: true}, "sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; stty size")
	conn, err := m.client.Attach(ctx, "tty", AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := m.client.Resize(ctx, "tty", 33, 101); err != nil {
		t.Fatal(err)
	}
	if err := m.client.Start(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	out := readWithTimeout(t, conn, 10*time.Second)
	// Raw: the terminal's own \r\n, no stdcopy headers.
	if want := "is-a-tty\r\n33 101\r\n"; string(out) != want {
		t.Errorf("tty output %q, want %q", out, want)
	}
	if ex := waitExit(t, m.client, "tty"); ex.Code != 0 {
		t.Errorf("exit %+v", ex)
	}
	if err := m.client.Resize(ctx, "tty", 10, 10); err == nil {
		t.Error("resize after exit succeeded")
	}
}

func TestResizeWithoutTerminalIsInvalid(t *testing.T) {
	m := startMonitor(t, "")
	m.create(t, "notty", ctrOpts{}, "true")
	if err := m.client.Resize(context.Background(), "notty", 10, 10); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("Resize = %v, want InvalidArgument", err)
	}
}

func TestStdinHalfCloseEndsStdinOnce(t *testing.T) {
	m := startMonitor(t, "")
	ctx := context.Background()
	m.create(t, "cat", ctrOpts{openStdin: true, stdinOnce: true, log: true}, "cat")
	conn, err := m.client.Attach(ctx, "cat", AttachOptions{Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := m.client.Start(ctx, "cat"); err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "hello\n")
	io.WriteString(conn, "world\n")
	if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	raw := readWithTimeout(t, conn, 10*time.Second)
	stdcopy.StdCopy(&stdout, &stderr, bytes.NewReader(raw))
	if stdout.String() != "hello\nworld\n" || stderr.Len() != 0 {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if ex := waitExit(t, m.client, "cat"); ex.Code != 0 {
		t.Errorf("cat exit %+v: stdin was not closed?", ex)
	}
}

func TestStdinStaysOpenWithoutStdinOnce(t *testing.T) {
	m := startMonitor(t, "")
	ctx := context.Background()
	m.create(t, "cat2", ctrOpts{openStdin: true}, "cat")
	if err := m.client.Start(ctx, "cat2"); err != nil {
		t.Fatal(err)
	}
	for i, word := range []string{"one\n", "two\n"} {
		conn, err := m.client.Attach(ctx, "cat2", AttachOptions{Stdin: true, Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, word)
		hdr := make([]byte, 8+len(word))
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(conn, hdr); err != nil || string(hdr[8:]) != word || hdr[0] != 1 {
			t.Fatalf("attach %d read %q, %v", i, hdr, err)
		}
		conn.(*net.UnixConn).CloseWrite()
		conn.Close()
	}
	time.Sleep(100 * time.Millisecond)
	if st, _ := m.client.State(ctx, "cat2"); !st.Running {
		t.Errorf("cat exited after a client closed stdin without StdinOnce: %+v", st)
	}
}

func TestListAfterReconnectAndMonitorRestart(t *testing.T) {
	execRoot := t.TempDir()
	m := startMonitor(t, execRoot)
	ctx := context.Background()
	m.create(t, "done", ctrOpts{}, "sh", "-c", "exit 7")
	m.create(t, "runs", ctrOpts{}, "sleep", "60")
	m.create(t, "created", ctrOpts{}, "true")
	for _, id := range []string{"done", "runs"} {
		if err := m.client.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitExit(t, m.client, "done")

	// berthd restarts: a new client on the same monitor sees everything.
	m.client.Close()
	c2, err := Dial(execRoot)
	if err != nil {
		t.Fatal(err)
	}
	m.client = c2
	list, err := c2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]State{}
	for _, st := range list {
		byID[st.ID] = st
	}
	if st := byID["done"]; st.Running || st.Exit == nil || st.Exit.Code != 7 {
		t.Errorf("done = %+v", st)
	}
	if st := byID["runs"]; !st.Running || st.Exit != nil || st.Pid <= 0 {
		t.Errorf("runs = %+v", st)
	}
	if st := byID["created"]; st.Running || st.Exit != nil {
		t.Errorf("created = %+v", st)
	}
	if len(list) != 3 {
		t.Errorf("List = %+v", list)
	}

	// The monitor restarts: exits recorded before are still there.
	runsPid := byID["runs"].Pid
	if err := c2.Kill(ctx, "runs", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ex := waitExit(t, c2, "runs"); ex.Code != 128+int(syscall.SIGTERM) {
		t.Errorf("runs exit %+v", ex)
	}
	if err := c2.Delete(ctx, "created"); err != nil {
		t.Fatal(err)
	}
	m.stop()
	m2 := startMonitor(t, execRoot)
	list, err = m2.client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("after restart List = %+v", list)
	}
	for _, st := range list {
		want := map[string]int{"done": 7, "runs": 143}[st.ID]
		if st.Exit == nil || st.Exit.Code != want || st.Running {
			t.Errorf("after restart %s = %+v", st.ID, st)
		}
		if st.ID == "runs" && st.Pid != runsPid {
			t.Errorf("pid %d, want %d", st.Pid, runsPid)
		}
	}
	if ex, err := m2.client.Wait(ctx, "done"); err != nil || ex.Code != 7 {
		t.Errorf("Wait after restart = %+v, %v", ex, err)
	}
	for _, id := range []string{"done", "runs"} {
		if err := m2.client.Delete(ctx, id); err != nil {
			t.Errorf("Delete %s: %v", id, err)
		}
	}
	if list, _ := m2.client.List(ctx); len(list) != 0 {
		t.Errorf("after delete List = %+v", list)
	}
}

func TestSlowAttachClientNeverBlocksContainer(t *testing.T) {
	m := startMonitor(t, "")
	ctx := context.Background()
	// ~24 MB of output, far more than pipe and socket buffers plus the
	// client backlog.
	req := m.create(t, "loud", ctrOpts{log: true, logMax: 1 << 20}, "sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -n 600000; echo end")
	slow, err := m.client.Attach(ctx, "loud", AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	// A fast client alongside gets every byte.
	fast, err := m.client.Attach(ctx, "loud", AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	fastOut := make(chan string, 1)
	go func() {
		var stdout bytes.Buffer
		_, err := stdcopy.StdCopy(&stdout, io.Discard, fast)
		if err != nil {
			fastOut <- "error: " + err.Error()
			return
		}
		fastOut <- stdout.String()
	}()
	start := time.Now()
	if err := m.client.Start(ctx, "loud"); err != nil {
		t.Fatal(err)
	}
	ex := waitExit(t, m.client, "loud") // would hang if output blocked on the client
	if ex.Code != 0 {
		t.Errorf("exit %+v", ex)
	}
	t.Logf("24 MB through the monitor in %v", time.Since(start))
	select {
	case out := <-fastOut:
		want := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz\n", 600000) + "end\n"
		if out != want {
			i := 0
			for i < len(out) && i < len(want) && out[i] == want[i] {
				i++
			}
			t.Errorf("fast client got %d bytes, want %d; differs at %d: %q", len(out), len(want), i, out[max(i-40, 0):min(i+40, len(out))])
		}
	case <-time.After(20 * time.Second):
		t.Fatal("fast client stream did not end")
	}
	// The slow client was disconnected: it reads less than everything,
	// then EOF.
	n, err := io.Copy(io.Discard, slow)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Logf("slow client read error: %v", err)
	}
	if total := int64(600000*37 + 4 + 8); n >= total {
		t.Errorf("slow client got all %d bytes; expected a disconnect", n)
	}
	// The log has everything, ending with "end".
	var last string
	lines := 0
	containerlog.Read(ctx, req.Log.Path, containerlog.ReadOptions{Tail: 1}, func(msg containerlog.Message) error {
		last = string(msg.Line)
		lines++
		return nil
	})
	if last != "end\n" {
		t.Errorf("last log line %q", last)
	}
}

func TestDelete(t *testing.T) {
	m := startMonitor(t, "")
	ctx := context.Background()
	m.create(t, "sleeper", ctrOpts{}, "sleep", "60")
	if err := m.client.Start(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	if err := m.client.Delete(ctx, "sleeper"); !errdefs.Is(err, errdefs.Conflict) {
		t.Errorf("Delete running = %v, want Conflict", err)
	}
	if err := m.client.Start(ctx, "sleeper"); !errdefs.Is(err, errdefs.Conflict) {
		t.Errorf("second Start = %v, want Conflict", err)
	}
	if err := m.client.Kill(ctx, "sleeper", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ex := waitExit(t, m.client, "sleeper"); ex.Code != 137 {
		t.Errorf("exit %+v", ex)
	}
	if err := m.client.Kill(ctx, "sleeper", syscall.SIGKILL); !errdefs.Is(err, errdefs.Conflict) {
		t.Errorf("Kill exited = %v, want Conflict", err)
	}
	if err := m.client.Delete(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.client.State(ctx, "sleeper"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("State after Delete = %v, want NotFound", err)
	}
	if _, err := os.Stat(filepath.Join(m.execRoot, "containers", "sleeper", "exit.json")); !os.IsNotExist(err) {
		t.Errorf("exit.json after Delete: %v", err)
	}

	// A created, never started container is killed by Delete.
	m.create(t, "idle", ctrOpts{}, "sleep", "60")
	st, _ := m.client.State(ctx, "idle")
	if err := m.client.Delete(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.Pid, 0); err != syscall.ESRCH {
		t.Errorf("created container's pid %d still exists after Delete: %v", st.Pid, err)
	}
}

func TestErrors(t *testing.T) {
	m := startMonitor(t, "")
	ctx := context.Background()
	for name, err := range map[string]error{
		"State":  func() error { _, err := m.client.State(ctx, "nope"); return err }(),
		"Start":  m.client.Start(ctx, "nope"),
		"Kill":   m.client.Kill(ctx, "nope", syscall.SIGTERM),
		"Delete": m.client.Delete(ctx, "nope"),
		"Wait":   func() error { _, err := m.client.Wait(ctx, "nope"); return err }(),
		"Attach": func() error { _, err := m.client.Attach(ctx, "nope", AttachOptions{Stdout: true}); return err }(),
	} {
		if !errdefs.Is(err, errdefs.NotFound) {
			t.Errorf("%s(unknown) = %v, want NotFound", name, err)
		}
	}
	m.create(t, "dup", ctrOpts{}, "true")
	_, err := m.client.Create(ctx, CreateRequest{ID: "dup", Bundle: "/nonexistent", Runtime: "host-test"})
	if !errdefs.Is(err, errdefs.Conflict) {
		t.Errorf("duplicate Create = %v, want Conflict", err)
	}
	_, err = m.client.Create(ctx, CreateRequest{ID: "../x", Runtime: "host-test"})
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("Create ../x = %v, want InvalidArgument", err)
	}
	// A failed Create leaves nothing behind.
	_, err = m.client.Create(ctx, CreateRequest{ID: "nobundle", Bundle: "/nonexistent", Runtime: "host-test"})
	if err == nil {
		t.Fatal("Create without bundle succeeded")
	}
	if _, err := m.client.State(ctx, "nobundle"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("failed Create left state: %v", err)
	}
	// Start's exec errors keep their sentinel across the socket.
	m.create(t, "noexec", ctrOpts{}, "/no/such/program")
	err = m.client.Start(ctx, "noexec")
	if !errors.Is(err, runtime.ErrExecNotFound) || !strings.Contains(err.Error(), "/no/such/program") {
		t.Errorf("Start = %v, want ErrExecNotFound with the path", err)
	}
	// Wait honours ctx.
	m.create(t, "waiter", ctrOpts{}, "sleep", "60")
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := m.client.Wait(wctx, "waiter"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with short ctx = %v", err)
	}
}

func TestSecondMonitorRefused(t *testing.T) {
	m := startMonitor(t, "")
	err := Serve(context.Background(), Config{ExecRoot: m.execRoot, Runtimes: hostRuntimes})
	if !errdefs.Is(err, errdefs.Conflict) {
		t.Errorf("second Serve = %v, want Conflict", err)
	}
	if _, err := m.client.List(context.Background()); err != nil {
		t.Errorf("first monitor broken by the second: %v", err)
	}
}

// Supervision cost: a running container holds the monitor's goroutines
// only for its output streams (none per container for input, timers or
// exit watching).
func TestGoroutinesPerContainer(t *testing.T) {
	m := startMonitor(t, "")
	ctx := context.Background()
	count := func() int {
		time.Sleep(100 * time.Millisecond)
		return goruntime.NumGoroutine()
	}
	before := count()
	const n = 10
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("g%d", i)
		o := ctrOpts{log: true, openStdin: true}
		if i%2 == 1 {
			o = ctrOpts{terminal: true, openStdin: true}
		}
		m.create(t, id, o, "sleep", "60")
		if err := m.client.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// n/2 pipe containers (stdout, stderr) and n/2 terminals (one stream).
	got, want := count()-before, n/2*2+n/2
	t.Logf("%d goroutines for %d containers", got, n)
	if got > want {
		t.Errorf("%d goroutines for %d containers, want at most %d", got, n, want)
	}

	// Clients that go away while no output flows are noticed and freed
	// (a half-close is not a close: only the hang-up detaches).
	before = count()
	for i := 0; i < 5; i++ {
		conn, err := m.client.Attach(ctx, fmt.Sprintf("g%d", i%2), AttachOptions{Stdin: true, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	if got := count() - before; got != 0 {
		t.Errorf("%d goroutines left after 5 clients closed", got)
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
)

// syncBuffer is a bytes.Buffer safe for the CLI's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestCLI(host string) (*CLI, *syncBuffer, *syncBuffer) {
	return newTestCLIWithInput(host, "")
}

func newTestCLIWithInput(host, stdin string) (*CLI, *syncBuffer, *syncBuffer) {
	out, errb := &syncBuffer{}, &syncBuffer{}
	c := New(io.NopCloser(strings.NewReader(stdin)), out, errb)
	c.Getenv = func(k string) string {
		if k == "BERTH_HOST" {
			return host
		}
		return ""
	}
	return c, out, errb
}

const fakeID = "f00dfeed0000000000000000000000000000000000000000000000000000cafe"

// fakeEngine is a scripted Engine API on a unix socket: enough of it to
// check the requests the CLI makes and how it renders the answers. It tests
// the CLI, not a daemon.
type fakeEngine struct {
	t    *testing.T
	host string

	mu      sync.Mutex
	calls   []string
	creates []container.CreateRequest
	resizes []string
	// attachQ is the last attach request's query.
	attachQ string
	tty     bool
	// hold, when set, delays the attach output until closed.
	hold chan struct{}
	// createQuery is the last create's query string (name, platform).
	createQuery string
	waitCond    string
	stdinGot    string

	// script
	stdout, stderr string
	echoStdin      bool
	exitCode       int
	startErr       string
	containers     []container.Summary
	images         []image.Summary

	started chan struct{}
	exited  chan struct{}
	once    sync.Once
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

// newFakeEngine serves a fake Engine API; script runs before serving, so
// the handlers see the script without racing the test.
func newFakeEngine(t *testing.T, script ...func(*fakeEngine)) *fakeEngine {
	t.Helper()
	l, host := listenUnix(t)
	return serveFakeEngine(t, l, host, script...)
}

// listenUnix listens on a socket in a new short-named temporary
// directory (t.TempDir's paths can pass a socket path's 108 bytes),
// removed when t ends, and returns the listener and its DOCKER_HOST.
func listenUnix(t *testing.T) (net.Listener, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	return l, "unix://" + sock
}

// serveFakeEngine serves the fake on l, reachable at host.
func serveFakeEngine(t *testing.T, l net.Listener, host string, script ...func(*fakeEngine)) *fakeEngine {
	e := &fakeEngine{t: t, host: host, started: make(chan struct{}), exited: make(chan struct{})}
	for _, f := range script {
		f(e)
	}
	srv := &http.Server{Handler: e, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(l)
	t.Cleanup(func() {
		e.exit()
		srv.Close()
	})
	return e
}

func (e *fakeEngine) exit() { e.once.Do(func() { close(e.exited) }) }

// observed returns what the handlers recorded about waits and stdin.
func (e *fakeEngine) observed() (waitCond, stdin string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.waitCond, e.stdinGot
}

func (e *fakeEngine) lastCreateQuery() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.createQuery
}

func (e *fakeEngine) created() []container.CreateRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]container.CreateRequest(nil), e.creates...)
}

func (e *fakeEngine) attachQuery() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attachQ
}

func (e *fakeEngine) resizeList() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.resizes...)
}

func (e *fakeEngine) callList() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, what, name string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": fmt.Sprintf("No such %s: %s", what, name)})
}

func (e *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.50")
	w.Header().Set("Ostype", "linux")
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	if path == "/_ping" {
		_, _ = io.WriteString(w, "OK")
		return
	}
	e.mu.Lock()
	e.calls = append(e.calls, r.Method+" "+path)
	e.mu.Unlock()

	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && path == "/containers/create":
		var req container.CreateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, map[string]string{"message": err.Error()})
			return
		}
		e.mu.Lock()
		e.creates = append(e.creates, req)
		if req.Config != nil {
			e.tty = req.Tty
		}
		e.createQuery = r.URL.RawQuery
		e.mu.Unlock()
		if strings.HasPrefix(req.Image, "nosuch") {
			notFound(w, "image", "nosuch:latest")
			return
		}
		writeJSON(w, http.StatusCreated, container.CreateResponse{ID: fakeID, Warnings: []string{}})
	case r.Method == http.MethodGet && path == "/info":
		writeJSON(w, 200, map[string]any{"ID": "fake", "OSType": "linux", "ServerVersion": "0.0.0-fake", "Containers": len(e.containers)})
	case r.Method == http.MethodPost && path == "/images/create":
		// Pulls are not implemented by this fake (nor, yet, by berthd).
		writeJSON(w, http.StatusNotImplemented, map[string]string{"message": "pull: not implemented"})
	case r.Method == http.MethodPost && path == "/containers/prune":
		writeJSON(w, 200, container.PruneReport{ContainersDeleted: []string{"aaa", "bbb"}, SpaceReclaimed: 12345})
	case r.Method == http.MethodGet && path == "/version":
		writeJSON(w, 200, map[string]any{"Version": "9.9.9-fake", "ApiVersion": "1.50", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
			"Components": []map[string]any{{"Name": "Engine", "Version": "9.9.9-fake", "Details": map[string]string{"GitCommit": "abc"}}}})
	case r.Method == http.MethodGet && path == "/containers/json":
		writeJSON(w, 200, e.containers)
	case len(parts) == 3 && (parts[0] == "containers" || parts[0] == "images") && parts[1] == "nosuch":
		if parts[0] == "images" {
			notFound(w, "image", "nosuch")
			return
		}
		notFound(w, "container", "nosuch")
	case len(parts) == 3 && parts[0] == "containers":
		e.containerOp(w, r, parts[1], parts[2])
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "containers":
		if parts[1] == "nosuch" {
			notFound(w, "container", "nosuch")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && path == "/images/json":
		writeJSON(w, 200, e.imageList())
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "images":
		if parts[1] == "nosuch" {
			notFound(w, "image", "nosuch")
			return
		}
		writeJSON(w, 200, []image.DeleteResponse{{Untagged: parts[1] + ":latest"}, {Deleted: "sha256:0123456789abcdef"}})
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "images" && parts[2] == "history":
		now := time.Now()
		writeJSON(w, 200, []image.HistoryResponseItem{
			{ID: "sha256:0123456789abcdef0123456789abcdef", Created: now.Add(-20 * time.Minute).Unix(), CreatedBy: "/bin/sh -c #(nop)  CMD [\"sh\"]", Tags: []string{"busybox:latest"}},
			{ID: "<missing>", Created: now.Add(-50 * time.Hour).Unix(), CreatedBy: "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / ", Size: 4_400_000, Comment: "imported"},
		})
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "images" && parts[2] == "json":
		if parts[1] == "nosuch" {
			notFound(w, "image", "nosuch")
			return
		}
		writeJSON(w, 200, map[string]any{"Id": "sha256:0123456789abcdef", "RepoTags": []string{parts[1] + ":latest"}, "Size": 1234})
	default:
		writeJSON(w, 404, map[string]string{"message": "page not found: " + r.Method + " " + path})
	}
}

func (e *fakeEngine) imageList() []image.Summary {
	if e.images != nil {
		return e.images
	}
	return []image.Summary{{ID: "sha256:0123456789abcdef", RepoTags: []string{"busybox:latest"}, Created: time.Now().Add(-time.Hour).Unix(), Size: 4_400_000}}
}

func (e *fakeEngine) containerOp(w http.ResponseWriter, r *http.Request, id, op string) {
	switch op {
	case "json":
		if id == "stopped" {
			writeJSON(w, 200, container.InspectResponse{ID: fakeID, Name: "/stopped", State: &container.State{Status: "exited"}, Config: &container.Config{}, HostConfig: &container.HostConfig{}})
			return
		}
		writeJSON(w, 200, container.InspectResponse{
			ID:         fakeID,
			Name:       "/" + id,
			State:      &container.State{Status: "running", Running: true, Pid: 1234567},
			Config:     &container.Config{Image: "busybox", OpenStdin: e.echoStdin},
			HostConfig: &container.HostConfig{},
		})
	case "attach":
		e.attach(w, r)
	case "wait":
		e.mu.Lock()
		e.waitCond = r.URL.Query().Get("condition")
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush() // the CLI starts only once the wait is registered
		select {
		case <-e.exited:
		case <-r.Context().Done():
			return
		}
		_ = json.NewEncoder(w).Encode(container.WaitResponse{StatusCode: int64(e.exitCode)})
	case "start":
		if e.startErr != "" {
			writeJSON(w, 400, map[string]string{"message": e.startErr})
			e.exit() // a daemon ends the waits (and removes a --rm container)
			return
		}
		select {
		case <-e.started:
		default:
			close(e.started)
		}
		w.WriteHeader(http.StatusNoContent)
	case "logs":
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
		w.WriteHeader(200)
		frame(w, 1, "out-line\n")
		frame(w, 2, "err-line\n")
	case "resize":
		e.mu.Lock()
		e.resizes = append(e.resizes, r.URL.Query().Get("h")+"x"+r.URL.Query().Get("w"))
		e.mu.Unlock()
		w.WriteHeader(200)
	case "stop", "kill", "restart":
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, 404, map[string]string{"message": "unknown op " + op})
	}
}

// attach hijacks the connection, then after start: echoes stdin (to EOF)
// when scripted, writes the scripted output, and lets the container exit.
func (e *fakeEngine) attach(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.attachQ = r.URL.RawQuery
	e.mu.Unlock()
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		e.t.Errorf("hijack: %v", err)
		return
	}
	defer conn.Close()
	fmt.Fprint(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	select {
	case <-e.started:
	case <-time.After(10 * time.Second):
		e.t.Errorf("container never started")
		return
	}
	if e.hold != nil {
		<-e.hold
	}
	if e.tty {
		// A TTY stream is raw: no frames, stderr already merged.
		_, _ = io.WriteString(conn, e.stdout)
		e.exit()
		return
	}
	if e.echoStdin && r.URL.Query().Get("stdin") == "1" {
		in, _ := io.ReadAll(buf) // ends when the CLI half-closes
		e.mu.Lock()
		e.stdinGot = string(in)
		e.mu.Unlock()
		frame(conn, 1, string(in))
	}
	if e.stdout != "" {
		frame(conn, 1, e.stdout)
	}
	if e.stderr != "" {
		frame(conn, 2, e.stderr)
	}
	e.exit()
}

// frame writes one multiplexed-stream frame: stream byte, three zero bytes,
// big-endian length, payload.
func frame(w io.Writer, stream byte, payload string) {
	hdr := []byte{stream, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	_, _ = w.Write(append(hdr, payload...))
}

func (e *fakeEngine) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	c, out, errb := newTestCLIWithInput(e.host, stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := c.Run(ctx, args)
	return code, out.String(), errb.String()
}

func TestRunAttachedOrderAndExitStatus(t *testing.T) {
	e := newFakeEngine(t, func(e *fakeEngine) { e.stdout, e.stderr, e.exitCode = "hello\n", "oops\n", 3 })
	code, out, errOut := e.run(t, "", "run", "--name", "web", "-e", "A=1", "busybox", "echo", "hello")
	if code != 3 {
		t.Errorf("exit = %d, want the container's 3 (stderr %q)", code, errOut)
	}
	if out != "hello\n" || errOut != "oops\n" {
		t.Errorf("stdout %q stderr %q: want demultiplexed hello/oops", out, errOut)
	}
	want := []string{
		"POST /containers/create",
		"POST /containers/" + fakeID + "/attach",
		"POST /containers/" + fakeID + "/wait",
		"POST /containers/" + fakeID + "/start",
	}
	if got := e.callList(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant (attach and wait before start):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if w, _ := e.observed(); w != "next-exit" {
		t.Errorf("wait condition = %q, want next-exit", w)
	}
	req := e.created()[0]
	if req.Image != "busybox" || strings.Join(req.Cmd, " ") != "echo hello" || strings.Join(req.Env, ",") != "A=1" {
		t.Errorf("create request: %+v", req.Config)
	}
}

func TestRunRmWaitsForRemoval(t *testing.T) {
	e := newFakeEngine(t)
	code, _, errOut := e.run(t, "", "run", "--rm", "busybox")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if w, _ := e.observed(); w != "removed" {
		t.Errorf("wait condition = %q, want removed", w)
	}
	if !e.created()[0].HostConfig.AutoRemove {
		t.Error("AutoRemove not sent")
	}
}

func TestRunStdinCopiedUntilEOF(t *testing.T) {
	e := newFakeEngine(t, func(e *fakeEngine) { e.echoStdin = true })
	code, out, errOut := e.run(t, "ping\npong\n", "run", "-i", "busybox", "cat")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "ping\npong\n" {
		t.Errorf("echoed %q: stdin must reach the container and be half-closed at EOF", out)
	}
	c := e.created()[0].Config
	if !c.OpenStdin || !c.AttachStdin || !c.StdinOnce {
		t.Errorf("-i should open, attach and once stdin: %+v", c)
	}
}

func TestRunDetachedPrintsID(t *testing.T) {
	e := newFakeEngine(t)
	code, out, errOut := e.run(t, "", "run", "-d", "busybox", "sleep", "9")
	if code != 0 || out != fakeID+"\n" {
		t.Fatalf("exit %d out %q err %q", code, out, errOut)
	}
	want := "POST /containers/create\nPOST /containers/" + fakeID + "/wait\nPOST /containers/" + fakeID + "/start"
	if got := strings.Join(e.callList(), "\n"); got != want {
		t.Errorf("calls:\n%s\nwant\n%s", got, want)
	}
	if c := e.created()[0].Config; c.AttachStdout || c.AttachStderr {
		t.Error("-d must not attach")
	}
}

func TestRunUnknownImage(t *testing.T) {
	e := newFakeEngine(t)
	code, out, errOut := e.run(t, "", "run", "nosuch")
	if code != 125 {
		t.Errorf("exit = %d, want 125", code)
	}
	want := "Unable to find image 'nosuch:latest' locally\nberth: Error response from daemon: pull: not implemented\n\nRun 'berth run --help' for more information\n"
	if errOut != want || out != "" {
		t.Errorf("stderr:\n%q\nwant\n%q", errOut, want)
	}
}

func TestCreateCIDFileAndPullNever(t *testing.T) {
	e := newFakeEngine(t)
	dir := t.TempDir()
	cid := filepath.Join(dir, "cid")
	code, out, errOut := e.run(t, "", "create", "--cidfile", cid, "busybox")
	if code != 0 || out != fakeID+"\n" {
		t.Fatalf("create --cidfile: %d %q %q", code, out, errOut)
	}
	if b, _ := os.ReadFile(cid); string(b) != fakeID {
		t.Errorf("cidfile holds %q", b)
	}
	if got := e.created()[0].HostConfig.ContainerIDFile; got != cid {
		t.Errorf("ContainerIDFile = %q", got)
	}
	code, _, errOut = e.run(t, "", "create", "--cidfile", cid, "busybox")
	if code != 1 || !strings.Contains(errOut, "container ID file found") {
		t.Errorf("reused cidfile: %d %q", code, errOut)
	}
	failed := filepath.Join(dir, "failed")
	code, _, errOut = e.run(t, "", "create", "--pull", "never", "--cidfile", failed, "nosuch")
	if code != 1 || errOut != "Error response from daemon: No such image: nosuch:latest\n" {
		t.Errorf("create --pull never nosuch: %d %q", code, errOut)
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Errorf("cidfile of a failed create should be removed: %v", err)
	}
	for _, c := range e.callList() {
		if strings.Contains(c, "/images/create") {
			t.Errorf("--pull never pulled: %v", e.callList())
		}
	}
}

func TestRunStartFailureExitCodes(t *testing.T) {
	for msg, want := range map[string]int{
		`failed to create task: exec: "nope": executable file not found in $PATH`: 127,
		"exec /etc/passwd: permission denied":                                     126,
		"cgroup: invalid argument":                                                125,
	} {
		e := newFakeEngine(t, func(e *fakeEngine) { e.startErr = msg })
		code, _, errOut := e.run(t, "", "run", "busybox", "nope")
		if code != want {
			t.Errorf("start error %q: exit %d, want %d", msg, code, want)
		}
		if wantErr := "berth: Error response from daemon: " + msg + "\n\nRun 'berth run --help' for more information\n"; errOut != wantErr {
			t.Errorf("stderr %q, want %q", errOut, wantErr)
		}
	}
}

func TestRunWithoutDaemon(t *testing.T) {
	dir, err := os.MkdirTemp("", "berth-cli")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, _, errb := newTestCLI("unix://" + filepath.Join(dir, "absent.sock"))
	if code := c.Run(t.Context(), []string{"run", "busybox"}); code != 125 {
		t.Errorf("run without a daemon: exit %d, want 125 (%s)", code, errb.String())
	}
	if !strings.HasPrefix(errb.String(), "berth: ") || !strings.Contains(errb.String(), "absent.sock") {
		t.Errorf("stderr %q", errb.String())
	}
	c, _, _ = newTestCLI("unix://" + filepath.Join(dir, "absent.sock"))
	if code := c.Run(t.Context(), []string{"ps"}); code != 1 {
		t.Errorf("ps without a daemon: exit %d, want 1", code)
	}
}

func TestRunUsageErrors(t *testing.T) {
	e := newFakeEngine(t)
	code, _, errOut := e.run(t, "", "run", "--bogus", "busybox")
	if code != 125 || !strings.HasPrefix(errOut, "unknown flag: --bogus\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n") {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
	code, _, errOut = e.run(t, "", "run", "--rm", "--restart", "always", "busybox")
	if code != 125 || errOut != "berth: conflicting options: cannot specify both --restart and --rm\n\nRun 'berth run --help' for more information\n" {
		t.Errorf("conflict: %d %q", code, errOut)
	}
	code, _, errOut = e.run(t, "", "stop")
	if code != 1 || !strings.HasPrefix(errOut, "berth: 'berth stop' requires at least 1 argument\n") {
		t.Errorf("stop without args: %d %q", code, errOut)
	}
	code, _, errOut = e.run(t, "", "run", "-d", "-a", "stdout", "busybox")
	if code != 1 || errOut != "conflicting options: cannot specify both --attach and --detach\n" {
		t.Errorf("-d -a: %d %q", code, errOut)
	}
	if calls := e.callList(); len(calls) != 0 {
		t.Errorf("usage errors reached the daemon: %v", calls)
	}
}

func TestPs(t *testing.T) {
	e := newFakeEngine(t, func(e *fakeEngine) {
		e.containers = []container.Summary{{
			ID: fakeID, Names: []string{"/web"}, Image: "busybox", Command: "sleep 100",
			Created: time.Now().Add(-5 * time.Second).Unix(), State: "running", Status: "Up 5 seconds",
		}}
	})
	code, out, errOut := e.run(t, "", "ps")
	if code != 0 {
		t.Fatalf("ps: %d %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "CONTAINER ID   IMAGE     COMMAND       CREATED         STATUS         PORTS     NAMES") {
		t.Errorf("header %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "f00dfeed0000   busybox   \"sleep 100\"   5 seconds ago   Up 5 seconds             web") {
		t.Errorf("row %q", lines[1])
	}
	code, out, _ = e.run(t, "", "ps", "-aq", "--no-trunc")
	if code != 0 || out != fakeID+"\n" {
		t.Errorf("ps -aq --no-trunc: %d %q", code, out)
	}
	code, out, _ = e.run(t, "", "container", "ls", "--format", "{{.Names}}:{{.State}}")
	if code != 0 || out != "web:running\n" {
		t.Errorf("container ls --format: %d %q", code, out)
	}
}

func TestInspectNotFound(t *testing.T) {
	e := newFakeEngine(t)
	code, out, errOut := e.run(t, "", "inspect", "nosuch")
	if code != 1 || out != "[]\n" || errOut != "Error: No such object: nosuch\n" {
		t.Errorf("inspect: %d %q %q", code, out, errOut)
	}
	code, out, errOut = e.run(t, "", "container", "inspect", "nosuch")
	if code != 1 || out != "[]\n" || errOut != "Error response from daemon: No such container: nosuch\n" {
		t.Errorf("container inspect: %d %q %q", code, out, errOut)
	}
	code, out, _ = e.run(t, "", "inspect", "-f", "{{.State.Pid}} {{.Name}}", "web")
	if code != 0 || out != "1234567 /web\n" {
		t.Errorf("inspect -f: %d %q", code, out)
	}
	code, out, _ = e.run(t, "", "inspect", "web")
	if code != 0 || !strings.HasPrefix(out, "[\n    {\n        \"Id\": \""+fakeID+"\",") {
		t.Errorf("inspect default output:\n%s", out)
	}
	code, out, _ = e.run(t, "", "image", "inspect", "-f", "{{.ID}} {{.Size}}", "busybox")
	if code != 0 || out != "sha256:0123456789abcdef 1234\n" {
		t.Errorf("image inspect -f: %d %q", code, out)
	}
}

func TestMultiTargetCommands(t *testing.T) {
	e := newFakeEngine(t)
	for _, cmd := range []string{"stop", "kill", "rm", "restart"} {
		code, out, errOut := e.run(t, "", cmd, "a", "nosuch", "b")
		if code != 1 || out != "a\nb\n" || errOut != "Error response from daemon: No such container: nosuch\n" {
			t.Errorf("%s a nosuch b: %d %q %q", cmd, code, out, errOut)
		}
	}
	// docker reports the missing container but still exits 0.
	code, out, errOut := e.run(t, "", "rm", "-f", "nosuch")
	if code != 0 || out != "" || errOut != "Error response from daemon: No such container: nosuch\n" {
		t.Errorf("rm -f nosuch: %d %q %q", code, out, errOut)
	}
}

func TestLogsDemux(t *testing.T) {
	e := newFakeEngine(t)
	code, out, errOut := e.run(t, "", "logs", "web")
	if code != 0 || out != "out-line\n" || errOut != "err-line\n" {
		t.Errorf("logs: %d %q %q", code, out, errOut)
	}
}

func TestImagesAndRmi(t *testing.T) {
	e := newFakeEngine(t)
	code, out, _ := e.run(t, "", "images")
	if code != 0 || out != "REPOSITORY   TAG       IMAGE ID       CREATED             SIZE\nbusybox      latest    0123456789ab   About an hour ago   4.4MB\n" {
		t.Errorf("images:\n%s", out)
	}
	code, out, errOut := e.run(t, "", "rmi", "busybox", "nosuch")
	if code != 1 || out != "Untagged: busybox:latest\nDeleted: sha256:0123456789abcdef\n" || errOut != "Error response from daemon: No such image: nosuch\n" {
		t.Errorf("rmi: %d %q %q", code, out, errOut)
	}
}

func TestWaitPrintsStatus(t *testing.T) {
	e := newFakeEngine(t, func(e *fakeEngine) { e.exitCode = 7; e.exit() })
	code, out, _ := e.run(t, "", "wait", "web")
	if code != 0 || out != "7\n" {
		t.Errorf("wait: %d %q", code, out)
	}
}

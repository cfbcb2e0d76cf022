package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/berth-dev/berth/internal/apiserver"
)

// attachConn sends an attach request on a raw connection the way the
// docker CLI does and returns the parsed response and the connection.
func attachConn(t *testing.T, e *env, path string, upgrade bool) (*http.Response, *net.TCPConn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest("POST", "http://berth"+path, nil)
	if upgrade {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "tcp")
	}
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, c.(*net.TCPConn), br
}

func TestAttachUpgradeMultiplexed(t *testing.T) {
	e := newEnv(t)
	e.create("a", `{"Image":"busybox","OpenStdin":true}`)
	resp, conn, br := attachConn(t, e, "/v1.51/containers/a/attach?stream=1&stdin=1&stdout=1&stderr=1", true)
	if resp.StatusCode != 101 || resp.Status != "101 UPGRADED" {
		t.Fatalf("status %q", resp.Status)
	}
	for k, v := range map[string]string{
		"Content-Type": "application/vnd.docker.multiplexed-stream",
		"Connection":   "Upgrade",
		"Upgrade":      "tcp",
		"Api-Version":  "1.51",
		"Server":       "Berth/0.1.0-test (linux)",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, err := io.WriteString(conn, "hello\nworld\n"); err != nil {
		t.Fatal(err)
	}
	// Half-close: the backend sees EOF on stdin, the output keeps flowing.
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, br); err != nil {
		t.Fatal(err)
	}
	if out.String() != "HELLO\nWORLD\n" || errOut.String() != "bye\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
	if got := <-e.engine.stdinDone; got != "hello\nworld\n" {
		t.Errorf("stdin seen by the backend %q", got)
	}
	e.sync()
	o := e.engine.lastAttach
	if !o.Stream || o.Logs || o.Stdin == nil || o.Stdout == nil || o.Stderr == nil {
		t.Errorf("attach options %+v", o)
	}
}

func TestAttachTTYRaw(t *testing.T) {
	e := newEnv(t)
	e.create("t", `{"Image":"busybox","Tty":true,"OpenStdin":true}`)
	resp, conn, br := attachConn(t, e, "/v1.51/containers/t/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-x", true)
	if resp.StatusCode != 101 || resp.Header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		t.Fatalf("tty attach: %q %v", resp.Status, resp.Header)
	}
	io.WriteString(conn, "hi\n")
	conn.CloseWrite()
	b, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "HI\nbye\n" {
		t.Errorf("raw output %q", b)
	}
	e.sync()
	if e.engine.lastAttach.DetachKeys != "ctrl-x" {
		t.Errorf("detach keys %q", e.engine.lastAttach.DetachKeys)
	}
}

func TestAttachWithoutUpgradeAndOldAPI(t *testing.T) {
	e := newEnv(t)
	e.create("a", `{"Image":"busybox"}`)
	resp, _, br := attachConn(t, e, "/v1.51/containers/a/attach?stream=1&stdout=1", false)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
		t.Fatalf("plain attach: %q %v", resp.Status, resp.Header)
	}
	b, _ := io.ReadAll(br) // EOF: the attach has returned
	if len(b) != 0 {
		t.Errorf("unexpected output %q", b)
	}
	<-e.engine.stdinDone
	e.sync()
	if e.engine.lastAttach.Stdin != nil || e.engine.lastAttach.Stderr != nil {
		t.Errorf("streams not asked for were passed: %+v", e.engine.lastAttach)
	}

	resp, _, _ = attachConn(t, e, "/v1.41/containers/a/attach?stream=1&stdout=1", true)
	if resp.StatusCode != 101 || resp.Header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		t.Errorf("1.41 attach: %q %v", resp.Status, resp.Header)
	}
}

func TestAttachErrors(t *testing.T) {
	e := newEnv(t)
	resp, _, br := attachConn(t, e, "/v1.51/containers/nope/attach?stream=1&stdout=1", true)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || !strings.Contains(string(b), "No such container: nope") {
		t.Errorf("attach to missing container: %d %s", resp.StatusCode, b)
	}
	_ = br
	e.create("a", `{"Image":"busybox"}`)

	// A backend failure after the upgrade travels in-band.
	e.locked(func() { e.engine.attachErr = errors.New("monitor went away") })
	resp, _, br = attachConn(t, e, "/v1.51/containers/a/attach?stream=1&stdout=1", true)
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, err := stdcopy.StdCopy(io.Discard, io.Discard, br)
	if err == nil || !strings.Contains(err.Error(), "monitor went away") {
		t.Errorf("in-band error: %v", err)
	}
}

// A client that goes away (over a unix socket) ends an attach that has no
// output to write, as dockerd's notifyClosed does; a half-close does not.
func TestAttachClientHangup(t *testing.T) {
	eng := newFakeEngine()
	eng.attachBlock = make(chan error, 1)
	s := apiserver.New(apiserver.Config{}, apiserver.Backends{Containers: eng})
	sock := filepath.Join(t.TempDir(), "b.sock")
	l, err := apiserver.Listen("unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Shutdown(context.Background())
	resp, err := unixClient(sock).Post("http://berth/containers/create?name=q", "application/json", strings.NewReader(`{"Image":"busybox"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	attach := func() *net.UnixConn {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", "http://berth/containers/q/attach?stream=1&stdin=1&stdout=1", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "tcp")
		req.Write(c)
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("attach: %v %v", resp, err)
		}
		return c.(*net.UnixConn)
	}

	// Half-close: the attach goes on.
	c := attach()
	c.CloseWrite()
	select {
	case err := <-eng.attachBlock:
		t.Fatalf("half-close ended the attach: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	// Hang up: the attach ends.
	c.Close()
	select {
	case err := <-eng.attachBlock:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("attach ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("attach still running after the client hung up")
	}
}

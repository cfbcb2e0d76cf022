package apiserver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/errdefs"
)

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
}

func TestListenUnixAndServe(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sub", "berth.sock")
	// A stale socket from a dead daemon is replaced.
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	l, err := apiserver.Listen("unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket mode %v", fi.Mode())
	}

	// A second daemon on a live socket is refused.
	if _, err := apiserver.Listen("unix://"+sock, nil); !errdefs.Is(err, errdefs.Conflict) {
		t.Errorf("live socket: %v", err)
	}

	tl, err := apiserver.Listen("tcp://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := apiserver.New(apiserver.Config{Version: "x"}, apiserver.Backends{
		Containers: newFakeEngine(), Images: newFakeImages(), System: fakeSystem{},
	})
	done := make(chan error, 1)
	go func() { done <- s.Serve(l, tl) }()

	for _, c := range []struct {
		client *http.Client
		url    string
	}{{unixClient(sock), "http://berth/_ping"}, {http.DefaultClient, "http://" + tl.Addr().String() + "/_ping"}} {
		resp, err := c.client.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "OK" {
			t.Errorf("%s: %q", c.url, b)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}

func TestShutdownEndsStreamsButFinishesRequests(t *testing.T) {
	eng := newFakeEngine()
	eng.renameGate, eng.renameStarted = make(chan struct{}), make(chan struct{}, 1)
	s := apiserver.New(apiserver.Config{}, apiserver.Backends{Containers: eng})
	l, err := apiserver.Listen("tcp://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	base := "http://" + l.Addr().String()
	for _, p := range []string{"/containers/create?name=f", "/containers/f/start"} {
		resp, err := http.Post(base+p, "application/json", stringsReader(`{"Image":"busybox"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	follow, err := http.Get(base + "/containers/f/logs?stdout=1&follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer follow.Body.Close()
	wait, err := http.Post(base+"/containers/f/wait", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wait.Body.Close()
	renamed := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/containers/f/rename?name=g", "", nil)
		if err != nil {
			renamed <- -1
			return
		}
		resp.Body.Close()
		renamed <- resp.StatusCode
	}()
	<-eng.renameStarted

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// The streams end without the client doing anything.
	for name, body := range map[string]io.Reader{"follow": follow.Body, "wait": wait.Body} {
		ch := make(chan struct{})
		go func() { io.Copy(io.Discard, body); close(ch) }()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s stream still open during shutdown", name)
		}
	}
	// The ordinary request in flight is not cancelled: it completes.
	close(eng.renameGate)
	if code := <-renamed; code != http.StatusNoContent {
		t.Errorf("rename during shutdown: %d", code)
	}
	if err := <-shut; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestListenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for addr, class := range map[string]errdefs.Class{
		"/var/run/x.sock":      errdefs.InvalidArgument,
		"unix://relative.sock": errdefs.InvalidArgument,
		"unix://":              errdefs.InvalidArgument,
		"udp://127.0.0.1:1":    errdefs.InvalidArgument,
		"tcp://127.0.0.1":      errdefs.InvalidArgument,
		"unix://" + file:       errdefs.Conflict,
		"fd://":                errdefs.InvalidArgument,
	} {
		l, err := apiserver.Listen(addr, nil)
		if err == nil {
			l.Close()
			t.Errorf("%s: no error", addr)
			continue
		}
		if !errdefs.Is(err, class) {
			t.Errorf("%s: %v (class %v), want %v", addr, err, errdefs.ClassOf(err), class)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("a non-socket file was removed: %v", err)
	}
}

func TestListenAllUndo(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "a.sock")
	if _, err := apiserver.ListenAll([]string{"unix://" + sock, "bogus://x"}, nil); err == nil {
		t.Fatal("no error")
	}
	// The first listener was closed (and its socket unlinked).
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	ls, err := apiserver.ListenAll([]string{"unix://" + sock, "tcp://127.0.0.1:0"}, nil)
	if err != nil || len(ls) != 2 {
		t.Fatal(ls, err)
	}
	for _, l := range ls {
		l.Close()
	}
}

type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) {
	return nil, errors.New("accept: too many open files")
}

func TestServeReturnsListenerFailure(t *testing.T) {
	good, err := apiserver.Listen("tcp://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := apiserver.Listen("tcp://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := apiserver.New(apiserver.Config{}, apiserver.Backends{})
	done := make(chan error, 1)
	go func() { done <- s.Serve(good, failingListener{bad}) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "too many open files") {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running with a failed listener")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
}

func TestServerListenTLS(t *testing.T) {
	cert := selfSignedCert(t)
	s := apiserver.New(apiserver.Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}, apiserver.Backends{})
	ls, err := s.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ls...)
	defer s.Shutdown(context.Background())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + ls[0].Addr().String() + "/_ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("TLS ping: %d %v", resp.StatusCode, resp.TLS)
	}
	// Plain HTTP to a TLS listener fails.
	if resp, err := http.Get("http://" + ls[0].Addr().String() + "/_ping"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on a TLS listener")
		}
	}
}

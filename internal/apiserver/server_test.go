package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/common"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/apiserver/apitest"
)

type env struct {
	t      *testing.T
	srv    *httptest.Server
	engine *fakeEngine
	images *fakeImages
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, engine: newFakeEngine(), images: newFakeImages()}
	s := apiserver.New(apiserver.Config{Version: "0.1.0-test"}, apiserver.Backends{
		Containers: e.engine, Images: e.images, System: fakeSystem{},
	})
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		s.Shutdown(context.Background())
	})
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(method, path, contentType string, body io.Reader) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.sync()
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// locked runs fn (which sets a fault on a fake) under the fakes' locks.
func (e *env) locked(fn func()) {
	e.engine.mu.Lock()
	defer e.engine.mu.Unlock()
	e.images.mu.Lock()
	defer e.images.mu.Unlock()
	fn()
}

// sync orders the test's reads of the fakes' last* fields after the
// handler's writes (made under the fakes' locks), for the race detector.
func (e *env) sync() {
	e.engine.mu.Lock()
	e.engine.mu.Unlock() //nolint:staticcheck // an empty critical section is the point
	e.images.mu.Lock()
	e.images.mu.Unlock() //nolint:staticcheck
}

func (e *env) get(path string) response { return e.do("GET", path, "", nil) }
func (e *env) post(path string) response {
	return e.do("POST", path, "", nil)
}
func (e *env) postJSON(path, body string) response {
	return e.do("POST", path, "application/json", strings.NewReader(body))
}

// want checks the status and, for a documented operation, the body
// against the swagger of API 1.51.
func (e *env) want(r response, status int, method, tmpl string) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, tmpl, r.status, status, r.body)
	}
	if tmpl != "" {
		apitest.Check(e.t, "1.51", method, tmpl, status, r.body)
	}
}

func (e *env) wantError(r response, status int, msg string) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("error Content-Type %q", ct)
	}
	var er common.ErrorResponse
	if err := json.Unmarshal(r.body, &er); err != nil {
		e.t.Fatalf("error body %q: %v", r.body, err)
	}
	if msg != "" && er.Message != msg {
		e.t.Errorf("message %q, want %q", er.Message, msg)
	}
}

func TestPing(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/_ping", "/v1.51/_ping", "/v1.24/_ping", "/v1.40/_ping"} {
		for _, method := range []string{"GET", "HEAD"} {
			r := e.do(method, path, "", nil)
			if r.status != 200 {
				t.Fatalf("%s %s: %d", method, path, r.status)
			}
			wantBody := "OK"
			if method == "HEAD" {
				wantBody = ""
			}
			if string(r.body) != wantBody {
				t.Errorf("%s %s: body %q", method, path, r.body)
			}
			for k, v := range map[string]string{
				"Api-Version":         "1.51",
				"Docker-Experimental": "false",
				"Ostype":              "linux",
				"Server":              "Berth/0.1.0-test (linux)",
				"Cache-Control":       "no-cache, no-store, must-revalidate",
				"Pragma":              "no-cache",
				"Builder-Version":     "1",
			} {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s %s: %s = %q, want %q", method, path, k, got, v)
				}
			}
		}
	}
}

func TestVersionBounds(t *testing.T) {
	e := newEnv(t)
	r := e.get("/v1.99/version")
	e.wantError(r, 400, "client version 1.99 is too new. Maximum supported API version is 1.51")
	if r.header.Get("Api-Version") != "1.51" {
		t.Errorf("error response lacks Api-Version: %v", r.header)
	}
	r = e.get("/v1.12/containers/json")
	if r.status != 400 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") ||
		string(r.body) != "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version\n" {
		t.Errorf("too old: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	e.wantError(e.get("/v1.52/_ping"), 400, "client version 1.52 is too new. Maximum supported API version is 1.51")
	e.want(e.get("/v1.24/version"), 200, "", "")

	// The handler sees the version the client asked for.
	e.want(e.postJSON("/v1.41/containers/create", `{"Image":"busybox"}`), 201, "", "")
	if got := e.engine.lastCreate.APIVersion; got != "1.41" {
		t.Errorf("create saw API version %q, want 1.41", got)
	}
	e.want(e.postJSON("/containers/create", `{"Image":"busybox"}`), 201, "", "")
	if got := e.engine.lastCreate.APIVersion; got != "1.51" {
		t.Errorf("bare path: create saw API version %q, want 1.51", got)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t)
	e.wantError(e.get("/nope"), 404, "page not found")
	e.wantError(e.get("/v1.51/containers/abc/nope"), 404, "page not found")
	r := e.do("PUT", "/v1.51/containers/json", "", nil)
	e.wantError(r, 405, "")
	if r.header.Get("Allow") == "" || r.header.Get("Api-Version") != "1.51" {
		t.Errorf("405 headers: %v", r.header)
	}
	e.wantError(e.do("DELETE", "/_ping", "", nil), 405, "")
}

func TestSystem(t *testing.T) {
	e := newEnv(t)
	r := e.get("/v1.51/version")
	e.want(r, 200, "GET", "/version")
	var v struct{ ApiVersion, MinAPIVersion string }
	if err := json.Unmarshal(r.body, &v); err != nil || v.ApiVersion != "1.51" || v.MinAPIVersion != "1.24" {
		t.Errorf("version: %s (%v)", r.body, err)
	}
	e.want(e.get("/v1.51/info"), 200, "GET", "/info")
}

func TestPingOnlyWithoutBackends(t *testing.T) {
	s := apiserver.New(apiserver.Config{}, apiserver.Backends{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/_ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Server") != "Berth/dev (linux)" {
		t.Errorf("ping: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Get(srv.URL + "/containers/json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("containers without backend: %d", resp.StatusCode)
	}
}

func TestJSONBodyErrors(t *testing.T) {
	e := newEnv(t)
	e.wantError(e.do("POST", "/containers/create", "text/plain", strings.NewReader(`{"Image":"busybox"}`)), 400,
		"unsupported Content-Type header (text/plain): must be 'application/json'")
	e.wantError(e.postJSON("/containers/create", `{"Image":`), 400, "invalid JSON: unexpected EOF")
	e.wantError(e.postJSON("/containers/create", `{"Image":"busybox"} {}`), 400, "unexpected content after JSON")
	e.wantError(e.post("/containers/create"), 400, "config cannot be empty in order to create a container")
	e.wantError(e.postJSON("/containers/create", `{"Image":5}`), 400, "")
	// Charset parameters are fine.
	e.want(e.do("POST", "/containers/create", "application/json; charset=utf-8", bytes.NewReader([]byte(`{"Image":"busybox"}`))), 201, "POST", "/containers/create")
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func TestRequestLogDebug(t *testing.T) {
	hook := logtest.NewGlobal()
	defer logrus.StandardLogger().ReplaceHooks(make(logrus.LevelHooks))
	old := logrus.GetLevel()
	logrus.SetLevel(logrus.DebugLevel)
	defer logrus.SetLevel(old)

	e := newEnv(t)
	e.get("/v1.51/containers/nope/json")
	// The entry is written after the response; give it a moment.
	var found bool
	for i := 0; i < 100 && !found; i++ {
		for _, en := range hook.AllEntries() {
			if en.Message == "api request" && en.Level == logrus.DebugLevel &&
				en.Data["method"] == "GET" && en.Data["path"] == "/containers/nope/json" && en.Data["status"] == 404 {
				found = true
			}
		}
		if !found {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !found {
		t.Errorf("no debug entry for the request: %v", hook.AllEntries())
	}
}

package apitest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMatchPath(t *testing.T) {
	s, err := Load("1.51")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/containers/json", "/containers/json"},
		{"GET", "/containers/abc/json", "/containers/{id}/json"},
		{"DELETE", "/containers/abc", "/containers/{id}"},
		{"POST", "/containers/create", "/containers/create"},
		{"POST", "/containers/abc/start", "/containers/{id}/start"},
		{"GET", "/images/json", "/images/json"},
		{"GET", "/images/example.com/org/app:v1/json", "/images/{name}/json"},
		{"POST", "/images/example.com/org/app:v1/tag", "/images/{name}/tag"},
		{"DELETE", "/images/example.com/org/app:v1", "/images/{name}"},
		{"GET", "/_ping", "/_ping"},
		{"HEAD", "/_ping", "/_ping"},
	} {
		got, ok := s.MatchPath(c.method, c.path)
		if !ok || got != c.want {
			t.Errorf("%s %s: %q %v, want %q", c.method, c.path, got, ok, c.want)
		}
	}
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"PUT", "/containers/json"}, {"GET", "/"}} {
		if got, ok := s.MatchPath(c.method, c.path); ok {
			t.Errorf("%s %s matched %q", c.method, c.path, got)
		}
	}
}

type recordT struct {
	testing.TB
	errs []string
}

func (r *recordT) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }
func (r *recordT) Helper()                           {}

func TestCheckResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "/bad/") {
			io.WriteString(w, `{"StatusCode":"0"}`)
			return
		}
		io.WriteString(w, `{"StatusCode":0}`)
	}))
	defer srv.Close()
	for path, wantErrs := range map[string]int{
		"/v1.44/containers/good/wait": 0,
		"/containers/good/wait":       0,
		"/v1.51/containers/bad/wait":  1,
		"/containers/bad/wait":        1,
		"/v1.51/containers/bad/nope":  1, // not an operation
	} {
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rt := &recordT{TB: t}
		CheckResponse(rt, resp, body)
		if len(rt.errs) != wantErrs {
			t.Errorf("%s: %d errors, want %d", path, len(rt.errs), wantErrs)
		}
	}
}

package apitest

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// MatchPath returns the swagger path template serving a concrete request
// path ("/containers/abc/json" -> "/containers/{id}/json"), without the
// /v{version} prefix. A parameter may span several segments (image names
// contain slashes); among several matches the one with the most literal
// segments wins, so "/containers/json" is not taken for "/containers/{id}".
func (s *Spec) MatchPath(method, path string) (string, bool) {
	paths, _ := s.root["paths"].(map[string]any)
	segs := split(path)
	best, bestLit := "", -1
	for tmpl, item := range paths {
		ops, _ := item.(map[string]any)
		if _, ok := ops[strings.ToLower(method)]; !ok {
			continue
		}
		t := split(tmpl)
		if !matchSegs(t, segs) {
			continue
		}
		lit := 0
		for _, x := range t {
			if !isParam(x) {
				lit++
			}
		}
		if lit > bestLit || lit == bestLit && tmpl < best {
			best, bestLit = tmpl, lit
		}
	}
	return best, bestLit >= 0
}

func split(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

func matchSegs(tmpl, segs []string) bool {
	if len(tmpl) == 0 {
		return len(segs) == 0
	}
	if len(segs) == 0 {
		return false
	}
	if !isParam(tmpl[0]) {
		return tmpl[0] == segs[0] && matchSegs(tmpl[1:], segs[1:])
	}
	// A parameter takes one or more segments, leaving enough for the rest.
	for n := 1; n <= len(segs)-len(tmpl)+1; n++ {
		if matchSegs(tmpl[1:], segs[n:]) {
			return true
		}
	}
	return false
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

// CheckResponse is Check for a response received by an http.Client: the
// API version comes from the request's /v{version} prefix (1.51 without
// one) and the operation from its method and path. The caller has read
// the body.
func CheckResponse(t testing.TB, resp *http.Response, body []byte) {
	t.Helper()
	version, path := "1.51", resp.Request.URL.Path
	if m := versionPrefix.FindStringSubmatch(path); m != nil {
		version, path = m[1], m[2]
	}
	spec, err := Load(version)
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	tmpl, ok := spec.MatchPath(resp.Request.Method, path)
	if !ok {
		t.Errorf("apitest: %s %s is not an operation of API %s", resp.Request.Method, path, version)
		return
	}
	Check(t, version, resp.Request.Method, tmpl, resp.StatusCode, body)
}

package build_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	apibuild "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/apiserver/apitest"
	"github.com/berth-dev/berth/internal/apiserver/router/build"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

// fakeBuilder records what it was asked and plays a script on Output.
type fakeBuilder struct {
	mu     sync.Mutex
	calls  int
	opts   build.Options
	body   string
	script func(out build.Output) (string, error)
}

func (f *fakeBuilder) Build(ctx context.Context, body io.Reader, opts build.Options, out build.Output) (string, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	f.calls++
	f.opts = opts
	f.body = string(b)
	script := f.script
	f.mu.Unlock()
	if script == nil {
		return "sha256:0123", nil
	}
	return script(out)
}

type fakePruner struct {
	opts build.PruneOptions
	rep  apibuild.CachePruneReport
}

func (f *fakePruner) Prune(ctx context.Context, opts build.PruneOptions) (apibuild.CachePruneReport, error) {
	f.opts = opts
	return f.rep, nil
}

func serve(t *testing.T, b build.Backend, p build.CachePruner) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(apiserver.New(apiserver.Config{}, apiserver.Backends{Build: b, BuildCache: p}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, srv *httptest.Server, path string, q url.Values, body string) (*http.Response, string) {
	t.Helper()
	u := srv.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := http.Post(u, "application/x-tar", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestBuildDecodesEveryParameter(t *testing.T) {
	fb := &fakeBuilder{}
	srv := serve(t, fb, nil)
	q := url.Values{
		"dockerfile":   {"sub/Dockerfile.dev"},
		"t":            {"app", "example.com/team/app:v1", "app:latest"},
		"extrahosts":   {"db:10.0.0.2", "cache:10.0.0.3"},
		"remote":       {""},
		"q":            {"0"},
		"nocache":      {"1"},
		"cachefrom":    {`["busybox","app:old"]`},
		"pull":         {"true"},
		"rm":           {"0"},
		"forcerm":      {"0"},
		"memory":       {"67108864"},
		"memswap":      {"-1"},
		"cpushares":    {"512"},
		"cpusetcpus":   {"0-1"},
		"cpusetmems":   {"0"},
		"cpuperiod":    {"100000"},
		"cpuquota":     {"50000"},
		"cgroupparent": {"/build"},
		"buildargs":    {`{"A":"1","B":null}`},
		"shmsize":      {"134217728"},
		"squash":       {"0"},
		"labels":       {`{"org.example":"yes"}`},
		"networkmode":  {"host"},
		"platform":     {"linux/amd64"},
		"target":       {"final"},
		"outputs":      {`[{"Type":"moby","Attrs":{}}]`},
		"version":      {"1"},
		"ulimits":      {`[{"Name":"nofile","Soft":1024,"Hard":2048}]`},
		"isolation":    {"default"},
		"session":      {"ignored"},
		"buildid":      {"ignored"},
	}
	resp, body := post(t, srv, "/v1.51/build", q, "the context tar")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	want := build.Options{
		Dockerfile:  "sub/Dockerfile.dev",
		Tags:        []string{"app:latest", "example.com/team/app:v1"},
		BuildArgs:   map[string]*string{"A": ptr("1"), "B": nil},
		Labels:      map[string]string{"org.example": "yes"},
		Target:      "final",
		NoCache:     true,
		Pull:        true,
		CacheFrom:   []string{"busybox", "app:old"},
		Platform:    "linux/amd64",
		Remove:      false,
		ForceRemove: false,
		HostConfig: container.HostConfig{
			NetworkMode: "host",
			ExtraHosts:  []string{"db:10.0.0.2", "cache:10.0.0.3"},
			ShmSize:     134217728,
			Isolation:   "default",
			Resources: container.Resources{
				Memory: 67108864, MemorySwap: -1, CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000,
				CpusetCpus: "0-1", CpusetMems: "0", CgroupParent: "/build",
				Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
			},
		},
	}
	if !reflect.DeepEqual(fb.opts, want) {
		t.Errorf("options\n got %+v\nwant %+v", fb.opts, want)
	}
	if fb.body != "the context tar" {
		t.Errorf("body %q", fb.body)
	}
}

func ptr(s string) *string { return &s }

func TestBuildDefaults(t *testing.T) {
	fb := &fakeBuilder{}
	srv := serve(t, fb, nil)
	for _, tc := range []struct {
		q            url.Values
		path         string
		remove, rmF  bool
		platform     string
		wantPlatform string
	}{
		{q: url.Values{}, path: "/build", remove: true},
		{q: url.Values{"rm": {"1"}}, path: "/build", remove: true},
		{q: url.Values{"rm": {"false"}}, path: "/build", remove: false},
		{q: url.Values{"rm": {"0"}, "forcerm": {"1"}}, path: "/build", remove: true, rmF: true},
		// platform arrived in API 1.32
		{q: url.Values{"platform": {"linux"}}, path: "/v1.31/build", remove: true},
		{q: url.Values{"platform": {"linux"}}, path: "/v1.32/build", remove: true, wantPlatform: "linux"},
	} {
		resp, body := post(t, srv, tc.path, tc.q, "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s %v: %d %s", tc.path, tc.q, resp.StatusCode, body)
		}
		if fb.opts.Remove != tc.remove || fb.opts.ForceRemove != tc.rmF || fb.opts.Platform != tc.wantPlatform {
			t.Errorf("%s %v: Remove %v ForceRemove %v Platform %q", tc.path, tc.q, fb.opts.Remove, fb.opts.ForceRemove, fb.opts.Platform)
		}
		if fb.opts.Dockerfile != "" || fb.opts.Tags != nil || fb.opts.BuildArgs != nil {
			t.Errorf("unexpected defaults %+v", fb.opts)
		}
	}
}

func TestBuildRefusesBeforeStreaming(t *testing.T) {
	for _, tc := range []struct {
		q      url.Values
		status int
		msg    string
	}{
		{url.Values{"squash": {"1"}}, 400, "squash is only supported with experimental mode"},
		{url.Values{"version": {"2"}}, 400, "buildkit not supported by daemon"},
		{url.Values{"version": {"3"}}, 400, `invalid version "3"`},
		{url.Values{"buildargs": {"{"}}, 400, "error reading build args"},
		{url.Values{"labels": {`["a"]`}}, 400, "error reading labels"},
		{url.Values{"cachefrom": {`{}`}}, 400, "error reading cache-from"},
		{url.Values{"ulimits": {`x`}}, 400, "error reading ulimit settings"},
		{url.Values{"outputs": {`x`}}, 400, "invalid outputs specified"},
		{url.Values{"memory": {"1g"}}, 400, `invalid value for memory: "1g"`},
		{url.Values{"shmsize": {"big"}}, 400, "invalid value for shmsize"},
		{url.Values{"securityopt": {"seccomp=unconfined"}}, 400, "security options are not supported on linux"},
		{url.Values{"isolation": {"hyperv"}}, 400, `unsupported isolation: "hyperv"`},
		{url.Values{"t": {"Bad:Name"}}, 400, "invalid reference format"},
		{url.Values{"t": {"app@sha256:" + strings.Repeat("a", 64)}}, 400, "build tag cannot contain a digest"},
		{url.Values{"remote": {"https://example.com/ctx.tar"}}, 501, "build from remote context https://example.com/ctx.tar: not supported"},
		{url.Values{"remote": {"git@example.com:a/b.git"}}, 501, "not supported"},
		{url.Values{"remote": {"client-session"}}, 400, "experimental session with v1 builder is no longer supported"},
		{url.Values{"remote": {"somewhere"}}, 400, "remoteURL (somewhere) could not be recognized as URL"},
	} {
		fb := &fakeBuilder{}
		srv := serve(t, fb, nil)
		resp, body := post(t, srv, "/build", tc.q, "")
		var m struct{ Message string }
		if err := json.Unmarshal([]byte(body), &m); err != nil || m.Message == "" {
			t.Errorf("%v: body %q is not {\"message\":...}", tc.q, body)
		}
		if resp.StatusCode != tc.status || !strings.Contains(m.Message, tc.msg) {
			t.Errorf("%v: %d %s; want %d %q", tc.q, resp.StatusCode, body, tc.status, tc.msg)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%v: Content-Type %q", tc.q, ct)
		}
		if fb.calls != 0 {
			t.Errorf("%v: the builder was called", tc.q)
		}
	}
}

func TestBuildStream(t *testing.T) {
	fb := &fakeBuilder{script: func(out build.Output) (string, error) {
		out.Stream("Step 1/2 : FROM busybox\n")
		out.Stream(" ---> 0123456789ab\n")
		out.Aux("sha256:abcd")
		return "sha256:abcd", nil
	}}
	srv := serve(t, fb, nil)
	resp, body := post(t, srv, "/build", nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := `{"stream":"Step 1/2 : FROM busybox\n"}` + "\r\n" +
		`{"stream":" ---\u003e 0123456789ab\n"}` + "\r\n" +
		`{"aux":{"ID":"sha256:abcd"}}` + "\r\n"
	if body != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}

	// Before API 1.30 there is no aux message.
	_, body = post(t, srv, "/v1.29/build", nil, "")
	if strings.Contains(body, "aux") {
		t.Errorf("aux sent to API 1.29: %q", body)
	}
}

func TestBuildQuiet(t *testing.T) {
	fail := false
	fb := &fakeBuilder{script: func(out build.Output) (string, error) {
		out.Stream("Step 1/1 : RUN false\n")
		out.Aux("sha256:abcd")
		if fail {
			return "", &build.StepError{Code: 1, Message: "The command '/bin/sh -c false' returned a non-zero code: 1"}
		}
		return "sha256:abcd", nil
	}}
	srv := serve(t, fb, nil)
	_, body := post(t, srv, "/build", url.Values{"q": {"1"}}, "")
	if want := `{"stream":"sha256:abcd\n"}` + "\r\n"; body != want {
		t.Errorf("quiet success: %q, want %q", body, want)
	}
	// A failure shows what was held back, then the error.
	fail = true
	resp, body := post(t, srv, "/build", url.Values{"q": {"1"}}, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, `{"stream":"Step 1/1 : RUN false\n"}`) || !strings.Contains(body, `"errorDetail":{"code":1,`) {
		t.Errorf("quiet failure: %d %q", resp.StatusCode, body)
	}
}

func TestBuildErrors(t *testing.T) {
	var step error = &build.StepError{Code: 3, Message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}
	for _, tc := range []struct {
		name   string
		script func(out build.Output) (string, error)
		status int
		body   string
	}{
		{"before streaming", func(build.Output) (string, error) {
			return "", errdefs.NotFoundf("pull access denied for nope, repository does not exist or may require 'docker login'")
		}, 404, `{"message":"pull access denied for nope, repository does not exist or may require 'docker login'"}` + "\n"},
		{"parse error before streaming", func(build.Output) (string, error) {
			return "", errdefs.InvalidArgumentf("dockerfile parse error on line 2: unknown instruction: FOO")
		}, 400, `{"message":"dockerfile parse error on line 2: unknown instruction: FOO"}` + "\n"},
		{"step error in the stream", func(out build.Output) (string, error) {
			out.Stream("Step 1/1 : RUN exit 3\n")
			return "", fmt.Errorf("build: %w", step)
		}, 200, `{"stream":"Step 1/1 : RUN exit 3\n"}` + "\r\n" +
			`{"errorDetail":{"code":3,"message":"build: The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"build: The command '/bin/sh -c exit 3' returned a non-zero code: 3"}` + "\r\n"},
		{"other error in the stream", func(out build.Output) (string, error) {
			out.Stream("Step 1/1 : COPY a b\n")
			return "", errdefs.NotFoundf("COPY failed: file not found in build context or excluded by .dockerignore: stat a: file does not exist")
		}, 200, `{"stream":"Step 1/1 : COPY a b\n"}` + "\r\n" +
			`{"errorDetail":{"message":"COPY failed: file not found in build context or excluded by .dockerignore: stat a: file does not exist"},"error":"COPY failed: file not found in build context or excluded by .dockerignore: stat a: file does not exist"}` + "\r\n"},
	} {
		srv := serve(t, &fakeBuilder{script: tc.script}, nil)
		resp, body := post(t, srv, "/build", nil, "")
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s: %d %q\nwant %d %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

// Each message reaches the client when it is written, not at the end.
func TestBuildFlushesEachMessage(t *testing.T) {
	release := make(chan struct{})
	fb := &fakeBuilder{script: func(out build.Output) (string, error) {
		out.Stream("Step 1/2 : RUN sleep\n")
		select {
		case <-release:
		case <-time.After(10 * time.Second):
			return "", fmt.Errorf("client never saw the first message")
		}
		out.Stream("done\n")
		return "sha256:1", nil
	}}
	srv := serve(t, fb, nil)
	resp, err := http.Post(srv.URL+"/build", "application/x-tar", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, "Step 1/2") {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(r)
	if !strings.Contains(string(rest), "done") {
		t.Errorf("rest %q", rest)
	}
}

func TestBuildWithoutBackend(t *testing.T) {
	srv := serve(t, nil, nil)
	resp, body := post(t, srv, "/build", nil, "")
	if resp.StatusCode != 501 {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	// Bad parameters are still 400.
	if resp, _ := post(t, srv, "/build", url.Values{"squash": {"1"}}, ""); resp.StatusCode != 400 {
		t.Errorf("squash without backend: %d", resp.StatusCode)
	}
}

func TestCancel(t *testing.T) {
	srv := serve(t, nil, nil)
	if resp, body := post(t, srv, "/build/cancel", url.Values{"id": {"abc"}}, ""); resp.StatusCode != 200 || body != "" {
		t.Errorf("cancel: %d %q", resp.StatusCode, body)
	}
	if resp, body := post(t, srv, "/build/cancel", nil, ""); resp.StatusCode != 400 || !strings.Contains(body, "build ID not provided") {
		t.Errorf("cancel without id: %d %q", resp.StatusCode, body)
	}
}

func TestPrune(t *testing.T) {
	fp := &fakePruner{rep: apibuild.CachePruneReport{CachesDeleted: []string{"abc", "def"}, SpaceReclaimed: 42}}
	srv := serve(t, nil, fp)
	q := url.Values{
		"all":            {"1"},
		"filters":        {`{"until":{"24h":true},"description":{"RUN make":true}}`},
		"reserved-space": {"100"},
		"keep-storage":   {"5"}, // reserved-space wins
		"max-used-space": {"200"},
		"min-free-space": {"300"},
	}
	resp, body := post(t, srv, "/v1.51/build/prune", q, "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	apitest.Check(t, "1.51", "POST", "/build/prune", 200, []byte(body))
	var rep apibuild.CachePruneReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil || rep.SpaceReclaimed != 42 || len(rep.CachesDeleted) != 2 {
		t.Errorf("report %q (%v)", body, err)
	}
	want := build.PruneOptions{All: true, ReservedSpace: 100, MaxUsedSpace: 200, MinFreeSpace: 300,
		Filters: filters.NewArgs([2]string{"until", "24h"}, [2]string{"description", "RUN make"})}
	if !reflect.DeepEqual(fp.opts, want) {
		t.Errorf("options %+v, want %+v", fp.opts, want)
	}

	// Before 1.48 only keep-storage counts.
	post(t, srv, "/v1.47/build/prune", url.Values{"keep-storage": {"7"}, "max-used-space": {"9"}}, "")
	if fp.opts.ReservedSpace != 7 || fp.opts.MaxUsedSpace != 0 || fp.opts.All {
		t.Errorf("1.47: %+v", fp.opts)
	}
	post(t, srv, "/v1.51/build/prune", url.Values{"keep-storage": {"8"}}, "")
	if fp.opts.ReservedSpace != 8 {
		t.Errorf("keep-storage alone at 1.51: %+v", fp.opts)
	}

	for _, q := range []url.Values{
		{"reserved-space": {"1GB"}},
		{"filters": {"{"}},
	} {
		if resp, body := post(t, srv, "/build/prune", q, ""); resp.StatusCode != 400 {
			t.Errorf("%v: %d %s", q, resp.StatusCode, body)
		}
	}
}

// Without a cache, prune answers an empty report (docker system prune
// calls it).
func TestPruneWithoutCache(t *testing.T) {
	srv := serve(t, nil, nil)
	resp, body := post(t, srv, "/build/prune", nil, "")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != `{"CachesDeleted":[],"SpaceReclaimed":0}` {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	apitest.Check(t, "1.51", "POST", "/build/prune", 200, []byte(body))
}

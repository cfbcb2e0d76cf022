package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBuilder is POST /build and /build/prune of an Engine API: it records
// each request's query and the context tar's entries, and answers with a
// scripted JSON stream. It tests the CLI, not a builder.
type fakeBuilder struct {
	host string

	mu      sync.Mutex
	queries []url.Values
	files   map[string]string // the last context: name -> content
	calls   int

	stream []map[string]any // the messages /build answers with
	status int              // /build's status before streaming (0 = 200)
	// early sends the first message before reading the context
	early bool
}

func newFakeBuilder(t *testing.T, stream ...map[string]any) *fakeBuilder {
	t.Helper()
	l, host := listenUnix(t)
	f := &fakeBuilder{host: host, stream: stream}
	srv := &http.Server{Handler: f}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f
}

func (f *fakeBuilder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.50")
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	switch {
	case path == "/_ping":
		w.Header().Set("Builder-Version", "1")
		_, _ = io.WriteString(w, "OK")
	case r.Method == http.MethodPost && path == "/build":
		stream := f.stream
		if f.early {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(stream[0])
			w.(http.Flusher).Flush()
			stream = stream[1:]
		}
		files, err := readContext(r.Body)
		f.mu.Lock()
		f.calls++
		f.queries = append(f.queries, r.URL.Query())
		f.files = files
		f.mu.Unlock()
		if err != nil {
			writeJSON(w, 400, map[string]string{"message": "bad context: " + err.Error()})
			return
		}
		if f.status != 0 {
			writeJSON(w, f.status, map[string]string{"message": "Cannot locate specified Dockerfile: Dockerfile"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		for _, m := range stream {
			_ = enc.Encode(m)
		}
	case r.Method == http.MethodPost && path == "/build/prune":
		f.mu.Lock()
		f.calls++
		f.queries = append(f.queries, r.URL.Query())
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"CachesDeleted": []string{"sha256:aaa", "sha256:bbb"}, "SpaceReclaimed": 2048})
	default:
		writeJSON(w, 404, map[string]string{"message": "page not found"})
	}
}

// readContext reads the (maybe gzipped) context tar into a map.
func readContext(r io.Reader) (map[string]string, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	var in io.Reader = &buf
	if b := buf.Bytes(); len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(&buf)
		if err != nil {
			return nil, err
		}
		in = zr
	}
	files := map[string]string{}
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return files, err
		}
		b, _ := io.ReadAll(tr)
		files[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = string(b)
	}
}

func (f *fakeBuilder) last() (url.Values, map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		return nil, nil
	}
	return f.queries[len(f.queries)-1], f.files
}

func (f *fakeBuilder) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeBuilder) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	c, out, errb := newTestCLIWithInput(f.host, stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Run(ctx, args), out.String(), errb.String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func names(files map[string]string) string {
	var n []string
	for k := range files {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

var okStream = []map[string]any{
	{"stream": "Step 1/1 : FROM busybox\n"},
	{"stream": " ---> 0123456789ab\n"},
	{"aux": map[string]string{"ID": "sha256:0123456789abcdef"}},
	{"stream": "Successfully built 0123456789ab\n"},
}

func TestBuildDirContextAndFlags(t *testing.T) {
	f := newFakeBuilder(t, okStream...)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":    "FROM busybox\n",
		".dockerignore": "# comment\nsecret*\nDockerfile\n.dockerignore\nsub/**/*.log\n!sub/keep.log\n",
		"a.txt":         "a",
		"secret.key":    "no",
		"sub/x.log":     "no",
		"sub/keep.log":  "yes",
		"sub/b.txt":     "b",
	})
	t.Setenv("FROM_ENV", "env-value")
	os.Unsetenv("UNSET_ARG")
	code, out, errOut := f.run(t, "", "build", "-t", "one", "-t", "two:v2", "--build-arg", "A=1", "--build-arg", "FROM_ENV",
		"--build-arg", "UNSET_ARG", "--label", "l=v", "--target", "stage", "--no-cache", "--pull", "--rm=false", "--force-rm",
		"--network", "none", "--cache-from", "c1,c2", "--shm-size", "64m", "-m", "128m", "--memory-swap", "256m",
		"--cpu-shares", "512", "--cpu-period", "100000", "--cpu-quota", "50000", "--cpuset-cpus", "0", "--cpuset-mems", "0",
		"--ulimit", "nofile=100:200", "--add-host", "h=10.0.0.1", "--platform", "linux/amd64", dir)
	if code != 0 {
		t.Fatalf("build: %d %q %q", code, out, errOut)
	}
	q, files := f.last()
	if got := names(files); got != ".dockerignore Dockerfile a.txt sub sub/b.txt sub/keep.log" {
		t.Errorf("context holds %q: .dockerignore must drop secret* and sub/**/*.log but keep the build files and !sub/keep.log", got)
	}
	want := map[string]string{
		"version": "1", "dockerfile": "Dockerfile", "target": "stage", "nocache": "1", "pull": "1", "rm": "0", "forcerm": "1",
		"networkmode": "none", "shmsize": "67108864", "memory": "134217728", "memswap": "268435456", "cpushares": "512",
		"cpuperiod": "100000", "cpuquota": "50000", "cpusetcpus": "0", "cpusetmems": "0", "platform": "linux/amd64",
		"labels": `{"l":"v"}`, "cachefrom": `["c1","c2"]`, "extrahosts": "h:10.0.0.1",
		"buildargs": `{"A":"1","FROM_ENV":"env-value","UNSET_ARG":null}`,
		"ulimits":   `[{"Name":"nofile","Hard":200,"Soft":100}]`,
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("query %s = %q, want %q", k, got, v)
		}
	}
	if got := strings.Join(q["t"], ","); got != "one,two:v2" {
		t.Errorf("t = %q", got)
	}
	if !strings.HasPrefix(out, "Sending build context to Docker daemon ") || !strings.Contains(out, "B\r\r\nStep 1/1 : FROM busybox\n ---> 0123456789ab\nSuccessfully built 0123456789ab\n") {
		t.Errorf("output %q: want docker's context line, then the stream as is", out)
	}
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}
}

func TestBuildDefaultsSendNothingExtra(t *testing.T) {
	f := newFakeBuilder(t, okStream...)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"dockerfile": "FROM busybox\n"})
	if code, _, errOut := f.run(t, "", "image", "build", dir); code != 0 {
		t.Fatalf("image build: %d %s", code, errOut)
	}
	q, _ := f.last()
	for _, k := range []string{"rm", "nocache", "networkmode", "q", "target", "buildargs"} {
		if q.Has(k) {
			t.Errorf("default build sent %s=%q", k, q.Get(k))
		}
	}
	if q.Get("dockerfile") != "dockerfile" {
		t.Errorf("a lower-case dockerfile is the fallback: dockerfile=%q", q.Get("dockerfile"))
	}
	if code, _, errOut := f.run(t, "", "builder", "build", dir); code != 0 {
		t.Fatalf("builder build: %d %s", code, errOut)
	}
}

func TestBuildErrorExitCode(t *testing.T) {
	for _, tc := range []struct {
		detail map[string]any
		code   int
	}{
		{map[string]any{"code": 3, "message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}, 3},
		{map[string]any{"message": "COPY failed: file not found in build context"}, 1},
	} {
		f := newFakeBuilder(t, map[string]any{"stream": "Step 1/2 : FROM busybox\n"},
			map[string]any{"errorDetail": tc.detail, "error": tc.detail["message"]})
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\n"})
		iid := filepath.Join(dir, "iid")
		writeFiles(t, dir, map[string]string{"iid": "stale"})
		code, out, errOut := f.run(t, "", "build", "--iidfile", iid, dir)
		if code != tc.code || errOut != tc.detail["message"].(string)+"\n" {
			t.Errorf("failed build: exit %d stderr %q, want %d and the errorDetail message", code, errOut, tc.code)
		}
		if !strings.Contains(out, "Step 1/2 : FROM busybox\n") {
			t.Errorf("stdout %q", out)
		}
		if _, err := os.Stat(iid); !os.IsNotExist(err) {
			t.Errorf("a failed build must not leave an iidfile (stale one removed): %v", err)
		}
	}
}

func TestBuildQuietAndIIDFile(t *testing.T) {
	f := newFakeBuilder(t, map[string]any{"stream": "sha256:0123456789abcdef\n"}, map[string]any{"aux": map[string]string{"ID": "sha256:0123456789abcdef"}})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\n"})
	iid := filepath.Join(dir, "iid")
	code, out, errOut := f.run(t, "", "build", "-q", "--iidfile", iid, dir)
	if code != 0 || out != "sha256:0123456789abcdef\n" || errOut != "" {
		t.Errorf("build -q: %d %q %q: want only the ID", code, out, errOut)
	}
	if q, _ := f.last(); q.Get("q") != "1" {
		t.Errorf("q = %q", q.Get("q"))
	}
	if b, _ := os.ReadFile(iid); string(b) != "sha256:0123456789abcdef" {
		t.Errorf("iidfile %q", b)
	}
}

func TestBuildQuietFailurePrintsOutput(t *testing.T) {
	f := newFakeBuilder(t, map[string]any{"stream": "Step 1/2 : RUN false\n"},
		map[string]any{"errorDetail": map[string]any{"code": 1, "message": "boom"}, "error": "boom"})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\n"})
	code, out, errOut := f.run(t, "", "build", "-q", dir)
	if code != 1 || out != "" || !strings.Contains(errOut, "Step 1/2 : RUN false\n") || !strings.HasSuffix(errOut, "boom\n") {
		t.Errorf("build -q failing: %d %q %q: want the held-back output and the error on stderr", code, out, errOut)
	}
}

func TestBuildStdinContexts(t *testing.T) {
	f := newFakeBuilder(t, okStream...)
	// A bare Dockerfile on stdin becomes a one-file context.
	if code, _, errOut := f.run(t, "FROM busybox\nRUN true\n", "build", "-"); code != 0 {
		t.Fatalf("build -: %d %s", code, errOut)
	}
	q, files := f.last()
	if q.Get("dockerfile") != "Dockerfile" || files["Dockerfile"] != "FROM busybox\nRUN true\n" || len(files) != 1 {
		t.Errorf("stdin Dockerfile: dockerfile=%q files=%v", q.Get("dockerfile"), files)
	}
	// A tar on stdin is sent as is, -f naming the Dockerfile inside it.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for name, content := range map[string]string{"sub/Build.file": "FROM busybox\n", "x": "y"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write([]byte(content))
	}
	tw.Close()
	if code, _, errOut := f.run(t, tb.String(), "build", "-f", "sub/Build.file", "-"); code != 0 {
		t.Fatalf("build - (tar): %d %s", code, errOut)
	}
	if q, files := f.last(); q.Get("dockerfile") != "sub/Build.file" || names(files) != "sub/Build.file x" {
		t.Errorf("stdin tar: dockerfile=%q files=%q", q.Get("dockerfile"), names(files))
	}
	n := f.callCount()
	code, _, errOut := f.run(t, "FROM busybox\n", "build", "-f", "Dockerfile", "-")
	if code != 1 || errOut != "unable to prepare context: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles\n" {
		t.Errorf("stdin Dockerfile with -f: %d %q", code, errOut)
	}
	code, _, errOut = f.run(t, "FROM busybox\n", "build", "-f", "-", "-")
	if code != 1 || errOut != "invalid argument: can't use stdin for both build context and dockerfile\n" {
		t.Errorf("-f - -: %d %q", code, errOut)
	}
	code, _, errOut = f.run(t, "", "build", "/nonexistent/berth-ctx")
	if code != 1 || errOut != "unable to prepare context: path \"/nonexistent/berth-ctx\" not found\n" {
		t.Errorf("missing context: %d %q", code, errOut)
	}
	if f.callCount() != n {
		t.Error("a bad context reached the daemon")
	}
}

func TestBuildDockerfileFromStdinOrOutside(t *testing.T) {
	f := newFakeBuilder(t, okStream...)
	dir := t.TempDir()
	ctxDir := filepath.Join(dir, "ctx")
	writeFiles(t, dir, map[string]string{"ctx/a": "a", "ctx/.dockerignore": "b\n", "ctx/b": "b", "other/Dockerfile.x": "FROM outside\n"})
	for _, tc := range []struct {
		name, stdin, file, want string
	}{
		{"stdin", "FROM stdin\n", "-", "FROM stdin\n"},
		{"outside", "", filepath.Join(dir, "other/Dockerfile.x"), "FROM outside\n"},
	} {
		code, _, errOut := f.run(t, tc.stdin, "build", "-f", tc.file, ctxDir)
		if code != 0 {
			t.Fatalf("%s: %d %s", tc.name, code, errOut)
		}
		q, files := f.last()
		df := q.Get("dockerfile")
		if !strings.HasPrefix(df, ".dockerfile.") || len(df) != len(".dockerfile.")+20 || files[df] != tc.want {
			t.Errorf("%s: dockerfile=%q content=%q: want a random .dockerfile.<20> name in the tar", tc.name, df, files[df])
		}
		if files[".dockerignore"] != "b\n\n"+df+"\n" {
			t.Errorf("%s: .dockerignore %q must also hide the added Dockerfile", tc.name, files[".dockerignore"])
		}
		if _, ok := files["b"]; ok {
			t.Errorf("%s: ignored file sent", tc.name)
		}
	}
	// A compressed context is gzip on the wire, the same tar inside.
	if code, _, errOut := f.run(t, "", "build", "--compress", "-f", filepath.Join(dir, "other/Dockerfile.x"), ctxDir); code != 0 {
		t.Fatalf("--compress: %d %s", code, errOut)
	}
	if _, files := f.last(); !strings.Contains(names(files), "a") {
		t.Errorf("--compress context: %q", names(files))
	}
}

func TestBuildDaemonRefusal(t *testing.T) {
	f := newFakeBuilder(t)
	f.status = 400
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\n"})
	code, _, errOut := f.run(t, "", "build", dir)
	if code != 1 || !strings.HasSuffix(errOut, "Error response from daemon: Cannot locate specified Dockerfile: Dockerfile\n") {
		t.Errorf("refused build: %d %q", code, errOut)
	}
}

func TestBuilderPrune(t *testing.T) {
	f := newFakeBuilder(t)
	code, out, _ := f.run(t, "n\n", "builder", "prune")
	if code != 0 || out != "WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] " || f.callCount() != 0 {
		t.Errorf("declined prune: %d %q calls %d", code, out, f.callCount())
	}
	code, out, errOut := f.run(t, "", "builder", "prune", "-af", "--filter", "until=24h", "--keep-storage", "1m")
	if code != 0 {
		t.Fatalf("prune -af: %d %s", code, errOut)
	}
	if out != "Deleted build cache objects:\nsha256:aaa\nsha256:bbb\n\nTotal reclaimed space: 2.048kB\n" {
		t.Errorf("prune output %q", out)
	}
	q, _ := f.last()
	if q.Get("all") != "1" || q.Get("reserved-space") != "1048576" || !strings.Contains(q.Get("filters"), `"until":{"24h":true}`) {
		t.Errorf("prune query %v", q)
	}
}

func TestBuildContextLineBeforeDaemonOutput(t *testing.T) {
	f := newFakeBuilder(t, okStream...)
	f.early = true
	// Large enough that the context is still being sent when the first
	// message arrives.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\n", "big": strings.Repeat("x", 8<<20)})
	code, out, errOut := f.run(t, "", "build", dir)
	if code != 0 {
		t.Fatalf("build: %d %s", code, errOut)
	}
	if !strings.HasPrefix(out, "Sending build context to Docker daemon ") || strings.Count(out, "Sending build context") != 1 ||
		!strings.Contains(out, "B\r\r\nStep 1/1 : FROM busybox\n") {
		t.Errorf("output %q: want the context line once, first", out[:min(len(out), 300)])
	}
}

func TestBuildMissingDockerfileAndURLContext(t *testing.T) {
	f := newFakeBuilder(t, okStream...)
	dir := t.TempDir()
	code, _, errOut := f.run(t, "", "build", dir)
	if want := "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat " + filepath.Join(dir, "Dockerfile") + ": no such file or directory\n"; code != 1 || errOut != want {
		t.Errorf("no Dockerfile: %d %q, want docker's %q", code, errOut, want)
	}
	// An http(s) context is downloaded by the CLI: a bare Dockerfile or a tar.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/Dockerfile":
			io.WriteString(w, "FROM busybox\nLABEL from=url\n")
		case "/ctx.tar":
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "df", Mode: 0o644, Size: 13, Typeflag: tar.TypeReg})
			tw.Write([]byte("FROM busybox\n"))
			tw.Close()
			w.Write(b.Bytes())
		default:
			http.Error(w, "nope", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	if code, _, errOut := f.run(t, "", "build", srv.URL+"/Dockerfile"); code != 0 {
		t.Fatalf("build URL: %d %s", code, errOut)
	}
	if q, files := f.last(); q.Get("dockerfile") != "Dockerfile" || files["Dockerfile"] != "FROM busybox\nLABEL from=url\n" {
		t.Errorf("URL Dockerfile: %v %v", q, files)
	}
	if code, _, errOut := f.run(t, "", "build", "-f", "df", srv.URL+"/ctx.tar"); code != 0 {
		t.Fatalf("build URL tar: %d %s", code, errOut)
	}
	if q, files := f.last(); q.Get("dockerfile") != "df" || names(files) != "df" {
		t.Errorf("URL tar: %v %v", q, files)
	}
	code, _, errOut = f.run(t, "", "build", srv.URL+"/missing")
	if code != 1 || !strings.Contains(errOut, "unable to download remote context") || !strings.Contains(errOut, "404 Not Found: nope") {
		t.Errorf("URL 404: %d %q", code, errOut)
	}
}

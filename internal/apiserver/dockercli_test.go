package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/apiserver/router"
)

// TestDockerCLI drives the real docker CLI (when installed) against the
// server with the fake backends: negotiation, JSON shapes the CLI decodes,
// and the attach/wait choreography of docker run.
func TestDockerCLI(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "berth.sock")
	l, err := apiserver.Listen("unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine()
	s := apiserver.New(apiserver.Config{Version: "0.1.0-test"}, apiserver.Backends{Containers: eng, Images: newFakeImages(), System: fakeSystem{}})
	var mu sync.Mutex
	var paths []string
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		s.Handler().ServeHTTP(w, r)
	})}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})

	run := func(stdin string, args ...string) (string, string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, docker, append([]string{"-H", "unix://" + sock}, args...)...)
		cmd.Env = []string{"HOME=" + dir, "DOCKER_CONFIG=" + filepath.Join(dir, "docker"), "PATH=" + os.Getenv("PATH")}
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := run(stdin, args...)
		if err != nil {
			t.Fatalf("docker %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}

	var v struct {
		Client struct {
			APIVersion string `json:"ApiVersion"`
		}
		Server struct {
			Version    string
			APIVersion string `json:"ApiVersion"`
		}
	}
	if err := json.Unmarshal([]byte(must("", "version", "--format", "{{json .}}")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Server.Version != "0.1.0-test" || v.Server.APIVersion != "1.51" || v.Client.APIVersion == "" {
		t.Errorf("version: %+v", v)
	}
	// The CLI pinged, then spoke the lower of its and our maximum version.
	negotiated := v.Client.APIVersion
	if router.CompareVersions(negotiated, "1.51") > 0 {
		negotiated = "1.51"
	}
	mu.Lock()
	if len(paths) < 2 || !strings.HasSuffix(paths[0], "/_ping") || paths[len(paths)-1] != "GET /v"+negotiated+"/version" {
		t.Errorf("requests %q, want a ping then GET /v%s/version", paths, negotiated)
	}
	mu.Unlock()
	t.Logf("docker version:\n%s", must("", "version"))
	if out := must("", "info", "--format", "{{.Name}} {{.Driver}}"); strings.TrimSpace(out) != "berth-test overlay2" {
		t.Errorf("info: %q", out)
	}

	id := strings.TrimSpace(must("", "create", "--name", "c1", "busybox", "sleep", "9"))
	if len(id) != 64 {
		t.Fatalf("create printed %q", id)
	}
	must("", "start", "c1")
	if out := must("", "ps", "--format", "{{.Names}} {{.State}}"); strings.TrimSpace(out) != "c1 running" {
		t.Errorf("ps: %q", out)
	}
	if out := must("", "inspect", "--format", "{{.State.Status}} {{.Name}}", "c1"); strings.TrimSpace(out) != "running /c1" {
		t.Errorf("inspect: %q", out)
	}
	out, errOut, err := run("", "logs", "c1")
	if err != nil || out != "hello\n" || errOut != "oops\n" {
		t.Errorf("logs: %q %q %v", out, errOut, err)
	}
	must("", "stop", "-t", "3", "c1")
	if _, errOut, err := run("", "start", "nope"); err == nil || !strings.Contains(errOut, "No such container: nope") {
		t.Errorf("start missing: %v %q", err, errOut)
	}
	must("", "rename", "c1", "c2")
	must("", "restart", "-t", "1", "c2")
	must("", "kill", "-s", "TERM", "c2")
	if out := must("", "wait", "c2"); strings.TrimSpace(out) != "137" {
		t.Errorf("wait printed %q", out)
	}
	if out := must("", "ps", "-a", "--filter", "name=c2", "--format", "{{.Names}} {{.State}}"); strings.TrimSpace(out) != "c2 exited" {
		t.Errorf("ps -a --filter: %q", out)
	}
	if _, errOut, err := run("", "kill", "c2"); err == nil || !strings.Contains(errOut, "is not running") {
		t.Errorf("kill stopped container: %v %q", err, errOut)
	}
	must("", "rm", "c2")
	must("", "create", "--name", "c3", "busybox")
	if out := must("", "container", "prune", "-f"); !strings.Contains(out, "Total reclaimed space") {
		t.Errorf("prune: %q", out)
	}
	if _, errOut, err := run("", "inspect", "c3"); err == nil || !strings.Contains(errOut, "No such") {
		t.Errorf("pruned container still there: %v %q", err, errOut)
	}

	// docker run -i: create, attach (upgrade), wait, start; stdin EOF ends it.
	out, errOut, err = run("one\ntwo\n", "run", "-i", "--rm=false", "busybox", "cat")
	if err != nil || out != "ONE\nTWO\n" || errOut != "bye\n" {
		t.Errorf("run -i: stdout %q stderr %q err %v", out, errOut, err)
	}

	out = strings.TrimSpace(must("tarball-bytes", "import", "-c", "CMD [\"sh\"]", "-", "example.com/org/app:v1"))
	imp := out[strings.LastIndexByte(out, '\n')+1:]
	if !strings.HasPrefix(imp, "sha256:") {
		t.Errorf("import printed %q", imp)
	}
	must("", "tag", "example.com/org/app:v1", "example.com/org/app:v2")
	if out := must("", "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "example.com/org/app:v2") {
		t.Errorf("images: %q", out)
	}
	if out := must("", "image", "inspect", "--format", "{{.Id}}", "example.com/org/app:v2"); strings.TrimSpace(out) != imp {
		t.Errorf("image inspect: %q, want %q", out, imp)
	}
	must("", "history", "example.com/org/app:v1")
	must("", "rmi", "example.com/org/app:v2")
}

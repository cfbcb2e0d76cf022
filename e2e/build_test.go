package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The classic builder (POST /build) driven by the real docker CLI
// (DOCKER_BUILDKIT=0, set by the harness) and by berth's CLI, on one
// daemon: every instruction, the cache, stages, args, .dockerignore,
// failures and bad input. referenceDockerd, when set, points the same
// cases at a dockerd to check the expectations themselves; berth-only
// cases (--chmod, build cache accounting, restart) are then skipped.
var referenceDockerd = os.Getenv("BERTH_E2E_BUILD_REFERENCE") // unix socket path of a dockerd

func TestBuild(t *testing.T) {
	b := newBuildCase(t)
	t.Run("Instructions", b.instructions)
	t.Run("Cache", b.cache)
	t.Run("TargetAndArgs", b.targetAndArgs)
	t.Run("Dockerignore", b.dockerignore)
	t.Run("Directives", b.directives)
	t.Run("FailingRun", b.failingRun)
	t.Run("BadInput", b.badInput)
	t.Run("EscapingContextTar", b.escapingTar)
	t.Run("StdinAndBerthCLI", b.stdin)
	if !b.reference {
		t.Run("ChmodChown", b.chmod)
		t.Run("CacheRestartAndPrune", b.restartAndPrune)
	}
}

type buildCase struct {
	d         *Daemon
	reference bool // d is a dockerd
}

// newBuildCase points the cases at referenceDockerd when it is set, else
// at a berthd of the test's own with busybox imported.
func newBuildCase(t *testing.T) *buildCase {
	t.Helper()
	if referenceDockerd != "" {
		d := &Daemon{t: t, Host: "unix://" + referenceDockerd, Sock: referenceDockerd, bin: binaries(t)}
		return &buildCase{d: d, reference: true}
	}
	d := StartDaemon(t)
	d.ImportBusybox()
	return &buildCase{d: d}
}

// docker runs the docker CLI and fails t on a non-zero exit.
func (b *buildCase) docker(t *testing.T, args ...string) string {
	t.Helper()
	r := b.d.Docker("", args...)
	if r.Code != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// contextDir writes files (name -> content; a name ending in / is a
// directory) into a fresh directory.
func contextDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarOf is a tar of regular files.
func tarOf(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	return buf.String()
}

var stepRE = regexp.MustCompile(`(?m)^Step (\d+)/(\d+) : (.*)$`)

// cachedSteps maps each step's instruction to whether it said "Using cache".
func cachedSteps(out string) map[string]bool {
	steps := map[string]bool{}
	locs := stepRE.FindAllStringSubmatchIndex(out, -1)
	for i, l := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		steps[out[l[6]:l[7]]] = strings.Contains(out[l[1]:end], " ---> Using cache\n")
	}
	return steps
}

const matrixDockerfile = `# escape=\
ARG BASE=busybox
ARG VERSION=1.0
FROM ${BASE} AS build
ARG VERSION
ARG STAGEARG=default
RUN echo "version=$VERSION stagearg=$STAGEARG" > /version.txt
RUN ["sh", "-c", "echo exec-form > /exec.txt"]
COPY --chown=1234:5678 files/a.txt /owned/a.txt
COPY files/*.txt /wild/
COPY dir /copied-dir/
ADD archive.tar /extracted/
ADD URL/remote.txt /remote.txt
WORKDIR /work
RUN pwd > pwd.txt && \
    echo continued >> pwd.txt

FROM scratch AS scratchstage
COPY --from=build /version.txt /v.txt

FROM build
COPY --from=scratchstage /v.txt /from-scratch.txt
COPY --from=0 /exec.txt /from-index.txt
ENV GREETING="hello world" EXTRA=/opt
LABEL org.test.a="1" org.test.b=two
EXPOSE 8080 53/udp
VOLUME ["/data"]
WORKDIR /app
SHELL ["/bin/sh", "-ec"]
RUN case $- in *e*) echo errexit > shell.txt;; esac
USER 1000:1000
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD true
STOPSIGNAL SIGUSR1
ONBUILD RUN echo onbuild-ran
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING; cat /version.txt"]
`

// matrixContext is the context of matrixDockerfile, ADD's URL served by a
// loopback server (the daemon fetches it: berthd and dockerd run in the
// host's network namespace).
func matrixContext(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/remote.txt" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "remote-content\n")
	}))
	t.Cleanup(srv.Close)
	return contextDir(t, map[string]string{
		"Dockerfile":  strings.Replace(matrixDockerfile, "URL", srv.URL, 1),
		"files/a.txt": "a\n", "files/b.txt": "b\n", "files/c.md": "c\n",
		"dir/sub/x":   "x\n",
		"archive.tar": tarOf(t, map[string]string{"inner.txt": "inner\n", "deep/er.txt": "deeper\n"}),
	})
}

func (b *buildCase) instructions(t *testing.T) {
	dir := matrixContext(t)
	r := b.d.Docker("", "build", "-t", "matrix", "--build-arg", "VERSION=2.0", "--label", "cli=yes", "--network", "none", dir)
	if r.Code != 0 {
		t.Fatalf("build: %s", r)
	}
	for _, want := range []string{"Sending build context to Docker daemon", "Step 1/33 : ARG BASE=busybox", "Step 3/33 : FROM ${BASE} AS build",
		"Step 33/33 : LABEL cli=yes\n",
		"Successfully tagged matrix:latest\n"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("build output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^Successfully built [0-9a-f]{12}$`).MatchString(r.Stdout) {
		t.Errorf("no 'Successfully built <id>':\n%s", r.Stdout)
	}

	var cfg struct {
		Env          []string
		Cmd          []string
		Entrypoint   []string
		WorkingDir   string
		User         string
		Volumes      map[string]struct{}
		ExposedPorts map[string]struct{}
		Labels       map[string]string
		Healthcheck  struct {
			Test     []string
			Interval int64
			Timeout  int64
			Retries  int
		}
		StopSignal string
		Shell      []string
		OnBuild    []string
	}
	if err := json.Unmarshal([]byte(b.docker(t, "image", "inspect", "-f", "{{json .Config}}", "matrix")), &cfg); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"Env", strings.Join(cfg.Env, ","), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin,GREETING=hello world,EXTRA=/opt"},
		{"Cmd", strings.Join(cfg.Cmd, "|"), "echo $GREETING; cat /version.txt"},
		{"Entrypoint", strings.Join(cfg.Entrypoint, "|"), "/bin/sh|-c"},
		{"WorkingDir", cfg.WorkingDir, "/app"},
		{"User", cfg.User, "1000:1000"},
		{"Volumes", fmt.Sprint(cfg.Volumes), "map[/data:{}]"},
		{"ExposedPorts", fmt.Sprint(cfg.ExposedPorts), "map[53/udp:{} 8080/tcp:{}]"},
		{"Labels", fmt.Sprint(cfg.Labels), "map[cli:yes org.test.a:1 org.test.b:two]"},
		{"Healthcheck", fmt.Sprint(cfg.Healthcheck), "{[CMD-SHELL true] 5000000000 2000000000 3}"},
		{"StopSignal", cfg.StopSignal, "SIGUSR1"},
		{"Shell", strings.Join(cfg.Shell, "|"), "/bin/sh|-ec"},
		{"OnBuild", strings.Join(cfg.OnBuild, "|"), "RUN echo onbuild-ran"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Config.%s = %q, want %q", c.what, c.got, c.want)
		}
	}

	// It runs, as USER with ENTRYPOINT and CMD, and holds what was copied.
	if got := b.docker(t, "run", "--rm", "--network", "none", "matrix"); got != "hello world\nversion=2.0 stagearg=default" {
		t.Errorf("docker run matrix: %q", got)
	}
	files := b.docker(t, "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh", "matrix", "-c",
		`id -u; pwd; stat -c '%u:%g' /owned/a.txt; ls /wild; find /copied-dir | sort; cat /extracted/inner.txt /extracted/deep/er.txt /remote.txt /work/pwd.txt /from-scratch.txt /from-index.txt /app/shell.txt`)
	want := "0\n/app\n1234:5678\na.txt\nb.txt\n/copied-dir\n/copied-dir/sub\n/copied-dir/sub/x\ninner\ndeeper\nremote-content\n/work\ncontinued\nversion=2.0 stagearg=default\nexec-form\nerrexit"
	if files != want {
		t.Errorf("files in the image:\n%s\nwant\n%s", files, want)
	}

	// History: one entry per instruction of the final stage's chain, the
	// metadata-only ones without a layer.
	hist := b.docker(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "matrix")
	for _, want := range []string{
		"/bin/sh -c #(nop)  ENV GREETING=hello world EXTRA=/opt|0B",
		"/bin/sh -c #(nop) WORKDIR /app|0B",
		"/bin/sh -c #(nop)  ARG STAGEARG=default|0B",
		"/bin/sh -c #(nop)  EXPOSE 53/udp 8080|0B",
		"|2 STAGEARG=default VERSION=2.0 /bin/sh -c echo \"version=$VERSION stagearg=$STAGEARG\" > /version.txt|29B",
		"|2 STAGEARG=default VERSION=2.0 sh -c echo exec-form > /exec.txt|10B",
		// the stage's ARGs are not in the last stage; SHELL shapes the rest
		"\n/bin/sh -ec case $- in *e*) echo errexit > shell.txt;; esac|8B",
		"/bin/sh -ec #(nop)  USER 1000:1000|0B",
		`/bin/sh -ec #(nop)  CMD ["echo $GREETING; cat /version.txt"]|0B`,
		"/bin/sh -ec #(nop)  LABEL cli=yes|0B",
	} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if n := len(strings.Split(hist, "\n")); n != 28 {
		t.Errorf("history has %d entries, want busybox's and 27 of the build:\n%s", n, hist)
	}
	// Layers, as dockerd makes them: busybox's; in the first stage 2 RUN,
	// 3 COPY, 2 ADD, WORKDIR, RUN; in the last 2 COPY, WORKDIR, RUN.
	if got := b.docker(t, "image", "inspect", "-f", "{{len .RootFS.Layers}}", "matrix"); got != "14" {
		t.Errorf("matrix has %s layers, want 14", got)
	}

	// ONBUILD runs in a child build.
	child := contextDir(t, map[string]string{"Dockerfile": "FROM matrix\n"})
	r = b.d.Docker("", "build", "--no-cache", "--network", "none", child)
	if r.Code != 0 || !strings.Contains(r.Stdout, "# Executing 1 build trigger") || !strings.Contains(r.Stdout, "onbuild-ran") {
		t.Errorf("ONBUILD trigger did not run: %s", r)
	}

	// berth's CLI sends the same context: every step is a cache hit and
	// the image is the same.
	iid := filepath.Join(t.TempDir(), "iid")
	r = b.d.Berth("", "build", "-t", "matrix2", "--build-arg", "VERSION=2.0", "--label", "cli=yes", "--network", "none", "--iidfile", iid, dir)
	if r.Code != 0 {
		t.Fatalf("berth build: %s", r)
	}
	if !strings.HasPrefix(r.Stdout, "Sending build context to Docker daemon ") || !strings.Contains(r.Stdout, "B\r\r\nStep 1/33 : ARG BASE=busybox\n") {
		t.Errorf("berth build: want docker's context line first, then the steps:\n%q", r.Stdout[:min(len(r.Stdout), 200)])
	}
	for step, hit := range cachedSteps(r.Stdout) {
		if !hit && !strings.HasPrefix(step, "FROM ") && !strings.HasPrefix(step, "ARG ") {
			t.Errorf("berth build: step %q missed the cache:\n%s", step, r.Stdout)
		}
	}
	got, _ := os.ReadFile(iid)
	if want := b.docker(t, "image", "inspect", "-f", "{{.ID}}", "matrix"); string(got) != want {
		t.Errorf("berth build --iidfile: %q, want docker's build %q", got, want)
	}
}

func (b *buildCase) cache(t *testing.T) {
	tag := fmt.Sprintf("cache-%d", os.Getpid())
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /a.copy\nCOPY b.txt /b.txt\nRUN cat /b.txt > /b.copy\nLABEL done=yes\n",
		"a.txt":      tag + "-a\n", "b.txt": tag + "-b1\n",
	})
	build := func(what string, args ...string) (map[string]bool, string) {
		t.Helper()
		r := b.d.Docker("", append(append([]string{"build", "-t", tag, "--network", "none"}, args...), dir)...)
		if r.Code != 0 {
			t.Fatalf("%s: %s", what, r)
		}
		return cachedSteps(r.Stdout), b.docker(t, "image", "inspect", "-f", "{{.ID}}", tag)
	}
	expect := func(what string, got map[string]bool, want ...bool) {
		t.Helper()
		steps := []string{"COPY a.txt /a.txt", "RUN cat /a.txt > /a.copy", "COPY b.txt /b.txt", "RUN cat /b.txt > /b.copy", "LABEL done=yes"}
		for i, s := range steps {
			if got[s] != want[i] {
				t.Errorf("%s: step %q cached=%v, want %v", what, s, got[s], want[i])
			}
		}
	}
	steps, id1 := build("first build")
	expect("first build", steps, false, false, false, false, false)
	steps, id2 := build("same context")
	expect("same context", steps, true, true, true, true, true)
	if id1 != id2 {
		t.Errorf("a fully cached build made %s, want %s", id2, id1)
	}
	// A new mtime is not a change: the cache looks at content.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "a.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	steps, _ = build("touched a.txt")
	expect("touched a.txt", steps, true, true, true, true, true)
	// Changing b.txt invalidates its COPY and every step after, not before.
	if err := os.WriteFile(filepath.Join(dir, "b.txt"), []byte(tag+"-b2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, id3 := build("changed b.txt")
	expect("changed b.txt", steps, true, true, false, false, false)
	if id3 == id1 {
		t.Error("changing a copied file kept the image")
	}
	if got := b.docker(t, "run", "--rm", "--network", "none", tag, "cat", "/a.copy", "/b.copy"); got != tag+"-a\n"+tag+"-b2" {
		t.Errorf("rebuilt image holds %q", got)
	}
	steps, _ = build("--no-cache", "--no-cache")
	expect("--no-cache", steps, false, false, false, false, false)
}

func (b *buildCase) targetAndArgs(t *testing.T) {
	dir := contextDir(t, map[string]string{"Dockerfile": `ARG G=global
FROM busybox AS base
RUN echo "g=[$G]" > /g.txt
ARG G
ARG S=sdefault
RUN echo "g=[$G] s=[$S]" >> /g.txt

FROM base AS target
RUN echo target > /target.txt

FROM target AS broken
RUN echo broken-stage-ran; exit 1
`})
	r := b.d.Docker("", "build", "--target", "target", "--build-arg", "S=cli", "--build-arg", "UNUSED=1", "-t", "tgt", "--network", "none", dir)
	if r.Code != 0 {
		t.Fatalf("build --target target: %s", r)
	}
	if strings.Contains(r.Stdout, "broken") {
		t.Errorf("--target built the stage after it:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "[Warning] One or more build-args [UNUSED] were not consumed") {
		t.Errorf("no warning for an unused build arg:\n%s", r.Stdout)
	}
	if got := b.docker(t, "run", "--rm", "--network", "none", "tgt", "cat", "/g.txt", "/target.txt"); got != "g=[]\ng=[global] s=[cli]\ntarget" {
		t.Errorf("ARG scoping: %q, want the global ARG unset in the stage until declared there", got)
	}
	r = b.d.Docker("", "build", "--build-arg", "G=override", "--network", "none", dir)
	if r.Code != 1 || !strings.Contains(r.Stdout, "broken-stage-ran") {
		t.Errorf("without --target the failing last stage must run (exit 1): %s", r)
	}
}

func (b *buildCase) dockerignore(t *testing.T) {
	files := map[string]string{
		".dockerignore": "secret.txt\n*.log\n!keep.log\nsub/ignored\n",
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\n",
		"secret.txt":    "s", "a.log": "l", "keep.log": "k", "ok.txt": "o", "sub/ignored": "i", "sub/kept": "k",
	}
	dir := contextDir(t, files)
	b.docker(t, "build", "-t", "ignored", dir)
	if got := b.docker(t, "run", "--rm", "--network", "none", "ignored", "sh", "-c", "cd /ctx && find . -type f | sort"); got != "./.dockerignore\n./Dockerfile\n./keep.log\n./ok.txt\n./sub/kept" {
		t.Errorf("context in the image:\n%s", got)
	}
	files["Dockerfile"] = "FROM busybox\nCOPY secret.txt /\n"
	r := b.d.Docker("", "build", contextDir(t, files))
	if r.Code != 1 || !strings.Contains(r.Stderr, "COPY failed: file not found in build context or excluded by .dockerignore: stat secret.txt: file does not exist\n") {
		t.Errorf("COPY of an ignored file: %s", r)
	}
}

// directives: escape changes the line continuation; syntax is read and
// ignored by the classic builder.
func (b *buildCase) directives(t *testing.T) {
	dir := contextDir(t, map[string]string{"Dockerfile": "# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo one `\n    two > /e.txt\nLABEL path=C:\\dir\n"})
	b.docker(t, "build", "-t", "directives", "--network", "none", dir)
	if got := b.docker(t, "run", "--rm", "--network", "none", "directives", "cat", "/e.txt"); got != "one two" {
		t.Errorf("escape=`: %q", got)
	}
	if got := b.docker(t, "image", "inspect", "-f", "{{.Config.Labels.path}}", "directives"); got != `C:\dir` {
		t.Errorf("escape=`: a backslash is literal, label %q", got)
	}
}

func (b *buildCase) failingRun(t *testing.T) {
	dangling := b.docker(t, "images", "-q", "--no-trunc", "-f", "dangling=true")
	containers := b.docker(t, "ps", "-aq")
	dir := contextDir(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM busybox\nRUN echo before-%d > /before\nRUN echo to-stderr >&2; exit 3\nLABEL never=reached\n", os.Getpid())})
	for _, cli := range []func(string, ...string) Result{b.d.Docker, b.d.Berth} {
		r := cli("", "build", "--force-rm", "-t", "failing", "--network", "none", dir)
		if r.Code != 3 || !strings.HasSuffix(r.Stderr, "The command '/bin/sh -c echo to-stderr >&2; exit 3' returned a non-zero code: 3\n") {
			t.Errorf("failing RUN: want exit 3 and dockerd's message: %s", r)
		}
		if !strings.Contains(r.Stdout, "to-stderr") {
			t.Errorf("the RUN's stderr is not in the output: %s", r.Stdout)
		}
	}
	if r := b.d.Docker("", "image", "inspect", "failing"); r.Code == 0 {
		t.Error("a failed build tagged its image")
	}
	// dockerd leaves the last good step's image dangling; the issue asks
	// berth not to.
	if got := b.docker(t, "images", "-q", "--no-trunc", "-f", "dangling=true"); got != dangling && !b.reference {
		t.Errorf("a failed build left dangling images:\n%s\nbefore:\n%s", got, dangling)
	}
	if got := b.docker(t, "ps", "-aq"); got != containers {
		t.Errorf("--force-rm left containers: %s", got)
	}
}

func (b *buildCase) badInput(t *testing.T) {
	for _, tc := range []struct{ name, dockerfile, msg string }{
		// dockerd 20.10 says "parse error line 2", buildkit's parser (dockerd 23+) "parse error on line 2"
		{"syntax", "FROM busybox\nENV\n", "line 2: ENV requires at least one argument"},
		{"unknown", "FROM busybox\nENV A=1\nFOO bar\n", "line 3: unknown instruction: FOO"},
		{"outside", "FROM busybox\nCOPY ../outside /\n", "COPY failed: forbidden path outside the build context: ../outside ()"},
		{"missing file", "FROM busybox\nCOPY nothere /x\n", "COPY failed: file not found in build context or excluded by .dockerignore: stat nothere: file does not exist"},
		{"missing base", "FROM nosuch-berth-base:1\nRUN true\n", "nosuch-berth-base"}, // dockerd: its failed pull
		{"no such stage", "FROM busybox\nCOPY --from=0 /x /x\n", ""},
		{"url down", "FROM busybox\nADD http://127.0.0.1:1/x /x\n", "ADD failed: "}, // and the reason: dockerd's Get error
	} {
		r := b.d.Docker("", "build", "--network", "none", contextDir(t, map[string]string{"Dockerfile": tc.dockerfile}))
		if r.Code != 1 || !strings.Contains(r.Stderr, tc.msg) && !(b.reference && tc.name == "missing base") ||
			strings.HasPrefix(tc.msg, "line ") && !strings.Contains(r.Stderr, "dockerfile parse error") {
			t.Errorf("%s: want exit 1 and %q: %s", tc.name, tc.msg, r)
		}
	}
}

// escapingTar sends a context whose entries climb out of it, straight to
// the API: the build fails or ignores them, and nothing lands outside.
func (b *buildCase) escapingTar(t *testing.T) {
	mark := fmt.Sprintf("berth-build-escape-%d", os.Getpid())
	outside := filepath.Join(os.TempDir(), mark)
	t.Cleanup(func() { os.Remove(outside); os.Remove(outside + "-link") })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := "FROM busybox\nCOPY . /ctx/\n"
	for _, h := range []*tar.Header{
		{Name: "Dockerfile", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(df))},
		{Name: "../../../../../../.." + outside, Typeflag: tar.TypeReg, Mode: 0o644, Size: 6},
		{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../.." + os.TempDir()},
		{Name: "up/" + mark + "-link", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Name == "Dockerfile" {
			tw.Write([]byte(df))
		} else if h.Size > 0 {
			tw.Write([]byte("owned\n"))
		}
	}
	tw.Close()
	status, body := b.d.raw(t, "POST", "/build?version=1&networkmode=none&t=escape", buf.Bytes())
	// dockerd drops such entries silently; berth refuses the context.
	if status < 400 && !strings.Contains(body, `"errorDetail"`) && !b.reference {
		t.Errorf("escaping context accepted: %d %s", status, body)
	}
	if status >= 500 {
		t.Errorf("escaping context: a server error, want a 4xx or an in-band error: %d %s", status, body)
	}
	for _, p := range []string{outside, outside + "-link"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("the build wrote %s, outside its context", p)
		}
	}
}

func (b *buildCase) stdin(t *testing.T) {
	// A bare Dockerfile on stdin, docker's CLI and berth's.
	b.d.Docker("FROM busybox\nLABEL stdin=docker\n", "build", "-t", "stdin-docker", "-")
	r := b.d.Berth("FROM busybox\nLABEL stdin=berth\n", "build", "-q", "-t", "stdin-berth", "-")
	if r.Code != 0 || !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(r.Stdout) {
		t.Errorf("berth build -q -: want only the ID: %s", r)
	}
	for tag, want := range map[string]string{"stdin-docker": "docker", "stdin-berth": "berth"} {
		if got := b.docker(t, "image", "inspect", "-f", "{{.Config.Labels.stdin}}", tag); got != want {
			t.Errorf("%s: label %q", tag, got)
		}
	}
	// A tar on stdin, -f naming the Dockerfile inside it.
	ctxTar := tarOf(t, map[string]string{"build/Containerfile": "FROM busybox\nCOPY data /data\n", "data": "from-tar\n"})
	for _, cli := range []func(string, ...string) Result{b.d.Docker, b.d.Berth} {
		if r := cli(ctxTar, "build", "-f", "build/Containerfile", "-t", "stdin-tar", "-"); r.Code != 0 {
			t.Errorf("build - (tar): %s", r)
		}
		if got := b.docker(t, "run", "--rm", "--network", "none", "stdin-tar", "cat", "/data"); got != "from-tar" {
			t.Errorf("stdin tar image: %q", got)
		}
	}
	// -f - with a context directory: the Dockerfile travels under a
	// random name that COPY . does not see.
	dir := contextDir(t, map[string]string{"a": "a\n"})
	for _, cli := range []func(string, ...string) Result{b.d.Docker, b.d.Berth} {
		if r := cli("FROM busybox\nCOPY . /ctx/\n", "build", "-f", "-", "-t", "stdin-df", dir); r.Code != 0 {
			t.Errorf("build -f - DIR: %s", r)
		}
		if got := b.docker(t, "run", "--rm", "--network", "none", "stdin-df", "ls", "-A", "/ctx"); got != "a" {
			t.Errorf("build -f - DIR: /ctx holds %q, want only the context's file", got)
		}
	}
}

func (b *buildCase) chmod(t *testing.T) {
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY --chmod=640 --chown=1234:5678 a /a\nADD --chmod=755 b /b\nCOPY --chmod=700 d /d/\n",
		"a":          "a", "b": "b", "d/x": "x",
	})
	b.docker(t, "build", "-t", "chmod", dir)
	if got := b.docker(t, "run", "--rm", "--network", "none", "chmod", "stat", "-c", "%n %a %u:%g", "/a", "/b", "/d/x"); got != "/a 640 1234:5678\n/b 755 0:0\n/d/x 700 0:0" {
		t.Errorf("COPY/ADD --chmod --chown:\n%s", got)
	}
}

// restartAndPrune: the cache survives a daemon restart, is counted by
// system df, and builder prune -af empties it.
func (b *buildCase) restartAndPrune(t *testing.T) {
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY a /a\nRUN cat /a > /b\nENV X=1\n", "a": "restart\n"})
	b.docker(t, "build", "--network", "none", dir)
	b.d.Stop()
	b.d.Start()
	r := b.d.Docker("", "build", "--network", "none", dir)
	if r.Code != 0 || strings.Count(r.Stdout, " ---> Using cache\n") != 3 {
		t.Errorf("after a restart, want 3 cache hits: %s", r)
	}
	cacheRow := func() string {
		for _, l := range strings.Split(b.docker(t, "system", "df", "--format", "{{.Type}}|{{.TotalCount}}"), "\n") {
			if strings.HasPrefix(l, "Build Cache|") {
				return strings.TrimPrefix(l, "Build Cache|")
			}
		}
		t.Fatalf("system df has no Build Cache row")
		return ""
	}
	if n := cacheRow(); n == "0" {
		t.Errorf("system df counts %s build cache entries after builds", n)
	}
	out := b.docker(t, "builder", "prune", "-af")
	if !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("builder prune -af: %s", out)
	}
	if n := cacheRow(); n != "0" {
		t.Errorf("system df counts %s build cache entries after builder prune -af", n)
	}
	if r := b.d.Berth("", "builder", "prune", "-af"); r.Code != 0 || r.Stdout != "Total reclaimed space: 0B\n" {
		t.Errorf("berth builder prune -af of an empty cache: %s", r)
	}
	r = b.d.Docker("", "build", "--network", "none", dir)
	if r.Code != 0 || strings.Contains(r.Stdout, "Using cache") {
		t.Errorf("after builder prune -af, want no cache hit: %s", r)
	}
}

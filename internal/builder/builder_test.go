package builder

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

type harness struct {
	t       *testing.T
	be      *fakeBackend
	cache   *fakeCache
	b       *Builder
	tmp     string
	busybox image.ID
}

func newHarness(t *testing.T) *harness {
	be := newFakeBackend(t)
	var cfg dockerspec.DockerOCIImageConfig
	cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Cmd = []string{"sh"}
	bb := be.addImage("busybox", cfg, map[string]string{
		"bin/sh":      "#!",
		"etc/passwd":  "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
		"etc/group":   "root:x:0:\napp:x:1000:\nstaff:x:50:\n",
		"etc/os-name": "busybox\n",
	})
	c := newFakeCache()
	tmp := t.TempDir()
	b, err := New(Config{Backend: be, Cache: c, TmpDir: filepath.Join(tmp, "builder")})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, be: be, cache: c, tmp: tmp, busybox: bb, b: b}
}

// build runs a build of files (with "Dockerfile" among them).
func (h *harness) build(files map[string]string, opts Options) (*image.Image, string, error) {
	h.t.Helper()
	out := &recOutput{}
	id, err := h.b.Build(context.Background(), contextTar(h.t, files), opts, out)
	if err != nil {
		return nil, out.buf.String(), err
	}
	if len(out.auxs) != 1 || out.auxs[0] != string(id) {
		h.t.Errorf("aux = %v, want once %s", out.auxs, id)
	}
	img, ierr := h.be.Image(context.Background(), string(id))
	if ierr != nil {
		h.t.Fatalf("built image %s missing: %v", id, ierr)
	}
	return img, out.buf.String(), nil
}

func (h *harness) mustBuild(files map[string]string, opts Options) (*image.Image, string) {
	h.t.Helper()
	img, out, err := h.build(files, opts)
	if err != nil {
		h.t.Fatalf("build: %v\noutput:\n%s", err, out)
	}
	return img, out
}

func df(lines ...string) map[string]string {
	return map[string]string{"Dockerfile": strings.Join(lines, "\n") + "\n"}
}

// skipIfCopyMissing skips tests that need buildctx.Copy until it lands.
func skipIfCopyMissing(t *testing.T, err error) {
	t.Helper()
	if errdefs.Is(err, errdefs.NotImplemented) {
		t.Skipf("buildctx not complete yet: %v", err)
	}
}

var idRe = regexp.MustCompile(`[0-9a-f]{12}`)

func normalize(out string) string { return idRe.ReplaceAllString(out, "<id>") }

func history(img *image.Image) []string {
	var out []string
	for _, h := range img.Config.History {
		out = append(out, h.CreatedBy)
	}
	return out
}

func TestOutputLikeDockerd(t *testing.T) {
	h := newHarness(t)
	img, out := h.mustBuild(df(
		"FROM busybox",
		"ENV A=b",
		"RUN echo hi",
		"CMD [\"sh\"]",
	), Options{Tags: []string{"demo"}, Remove: true})
	want := `Step 1/4 : FROM busybox
 ---> <id>
Step 2/4 : ENV A=b
 ---> <id>
Step 3/4 : RUN echo hi
 ---> Running in <id>
hi
Removing intermediate container <id>
 ---> <id>
Step 4/4 : CMD ["sh"]
 ---> <id>
Successfully built <id>
Successfully tagged demo:latest
`
	if got := normalize(out); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(out, "Successfully built "+shortID(string(img.ID))+"\n") {
		t.Errorf("final id %s not in output", img.ID)
	}
	if h.be.refs["demo:latest"] != img.ID {
		t.Errorf("demo:latest not tagged")
	}
	if n := len(h.be.ctrs); n != 0 {
		t.Errorf("%d build containers left with rm", n)
	}
	// second build: everything from cache, no container
	runs := h.be.count("Run")
	img2, out2 := h.mustBuild(df("FROM busybox", "ENV A=b", "RUN echo hi", "CMD [\"sh\"]"), Options{Remove: true})
	if img2.ID != img.ID {
		t.Errorf("cached rebuild gave %s, want %s", img2.ID, img.ID)
	}
	if h.be.count("Run") != runs {
		t.Errorf("cached rebuild ran a container")
	}
	if c := strings.Count(out2, " ---> Using cache\n"); c != 3 {
		t.Errorf("Using cache %d times, want 3:\n%s", c, out2)
	}
	h.b.wait()
	if n := entries(t, h.b.cfg.TmpDir); n != 0 {
		t.Errorf("%d entries left in the builder's tmp dir", n)
	}
}

func TestNewEmptiesTmpDir(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "builder", "tmp")
	os.MkdirAll(filepath.Join(tmp, "context-crashed", "sub"), 0o700)
	New(Config{TmpDir: tmp})
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("leftovers of a crashed build survive New: %v", err)
	}
}

// With MemDir, each build unpacks its context in a tmpfs of its own
// there, unmounted when the build ends; New clears what a crash left
// (mounted or not) and Close removes MemDir.
func TestMemDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount)")
	}
	h := newHarness(t)
	mem := filepath.Join(h.tmp, "mem")
	crashed := filepath.Join(mem, "ctx-crashed")
	os.MkdirAll(crashed, 0o700)
	if err := unix.Mount("tmpfs", crashed, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(crashed, unix.MNT_DETACH) })
	var err error
	if h.b, err = New(Config{Backend: h.be, Cache: h.cache, TmpDir: filepath.Join(h.tmp, "builder"), MemDir: mem}); err != nil {
		t.Fatal(err)
	}
	if isTmpfs(crashed) {
		t.Error("New left a crashed build's tmpfs mounted")
	}
	if left, _ := os.ReadDir(mem); len(left) != 0 {
		t.Errorf("New left %v in MemDir", left)
	}
	// the context is on a tmpfs while the build runs
	h.be.onRun = func(RunRequest) {
		entries, _ := os.ReadDir(mem)
		if len(entries) != 1 || !isTmpfs(filepath.Join(mem, entries[0].Name())) {
			t.Errorf("during the build MemDir holds %v, not one tmpfs", entries)
		}
	}
	files := df("FROM busybox", "COPY a.txt /a.txt", "RUN echo in-build")
	files["a.txt"] = "a"
	h.mustBuild(files, Options{})
	h.b.wait()
	if left, _ := os.ReadDir(mem); len(left) != 0 {
		t.Errorf("a build left %v in MemDir", left)
	}
	if left, _ := os.ReadDir(filepath.Join(h.tmp, "builder")); len(left) != 0 {
		t.Errorf("a small context went to disk: %v", left)
	}
	if err := h.b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mem); !os.IsNotExist(err) {
		t.Errorf("MemDir after Close: %v", err)
	}
}

// A step's lines wait until it needs work: a fully cached rebuild goes
// out as one message before the aux ID, while a step that runs shows
// its "Step" line before its command's output.
func TestOutputBatchesCachedSteps(t *testing.T) {
	h := newHarness(t)
	files := df("FROM busybox", "ENV A=1", "RUN echo ran-it", "LABEL l=1")
	run := func() []string {
		out := &recOutput{}
		if _, err := h.b.Build(context.Background(), contextTar(t, files), Options{}, out); err != nil {
			t.Fatal(err)
		}
		return out.msgs
	}
	msgs := run()
	step, ran := -1, -1
	for i, m := range msgs {
		if strings.Contains(m, "Step 3/4 : RUN echo ran-it") {
			step = i
		}
		if m == "ran-it\n" {
			ran = i
		}
	}
	if step < 0 || ran <= step {
		t.Errorf("the RUN's output (message %d) did not follow its step line (%d): %q", ran, step, msgs)
	}
	msgs = run()
	if len(msgs) != 3 || strings.Count(msgs[0], "Using cache") != 3 || !strings.HasPrefix(msgs[1], "aux:") ||
		!strings.HasPrefix(msgs[2], "Successfully built") {
		t.Errorf("cached rebuild messages: %q", msgs)
	}
}

func TestRunStderrInRed(t *testing.T) {
	h := newHarness(t)
	_, out := h.mustBuild(df("FROM busybox", "RUN echo out; warn err"), Options{})
	if !strings.Contains(out, "out\n\033[91merr\n\033[0m") {
		t.Errorf("stderr not framed as dockerd's:\n%q", out)
	}
}

func TestQuiet(t *testing.T) {
	h := newHarness(t)
	img, out := h.mustBuild(df("FROM busybox", "RUN echo hi"), Options{Quiet: true, Remove: true})
	if out != string(img.ID)+"\n" {
		t.Errorf("quiet output %q, want only the ID", out)
	}
	_, out, err := h.build(df("FROM busybox", "RUN exit 2"), Options{Quiet: true})
	if err == nil || !strings.Contains(out, "Step 2/2 : RUN exit 2") {
		t.Errorf("failed quiet build should flush its steps; err=%v out=%q", err, out)
	}
}

func TestMetadataInstructions(t *testing.T) {
	h := newHarness(t)
	img, _ := h.mustBuild(df(
		"FROM busybox",
		"MAINTAINER someone <a@b.c>",
		"ENV A=1 B=\"two words\"",
		"ENV PATH=/x:$PATH",
		"LABEL l1=v1 \"l 2\"=$A",
		"EXPOSE 443/udp 80 8000-8001",
		"VOLUME /data /logs",
		"VOLUME [\"/cache\"]",
		"USER app:app",
		"WORKDIR /srv",
		"WORKDIR sub",
		"STOPSIGNAL SIGTERM",
		"HEALTHCHECK --interval=5s --retries=3 CMD true",
		"SHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]",
		"ONBUILD RUN echo triggered",
		"ENTRYPOINT run.sh",
		"CMD run --flag",
	), Options{Remove: true})
	c := img.Config.Config
	if img.Config.Author != "someone <a@b.c>" {
		t.Errorf("author %q", img.Config.Author)
	}
	wantEnv := []string{"PATH=/x:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words"}
	if !slices.Equal(c.Env, wantEnv) {
		t.Errorf("env %q, want %q", c.Env, wantEnv)
	}
	if c.Labels["l1"] != "v1" || c.Labels["l 2"] != "1" {
		t.Errorf("labels %v", c.Labels)
	}
	for _, p := range []string{"80/tcp", "443/udp", "8000/tcp", "8001/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, c.ExposedPorts)
		}
	}
	for _, v := range []string{"/data", "/logs", "/cache"} {
		if _, ok := c.Volumes[v]; !ok {
			t.Errorf("volume %s missing: %v", v, c.Volumes)
		}
	}
	if c.User != "app:app" || c.WorkingDir != "/srv/sub" || c.StopSignal != "SIGTERM" {
		t.Errorf("user %q workdir %q stopsignal %q", c.User, c.WorkingDir, c.StopSignal)
	}
	if c.Healthcheck == nil || !slices.Equal(c.Healthcheck.Test, []string{"CMD-SHELL", "true"}) || c.Healthcheck.Retries != 3 || c.Healthcheck.Interval.Seconds() != 5 {
		t.Errorf("healthcheck %+v", c.Healthcheck)
	}
	if !slices.Equal(c.Shell, []string{"/bin/ash", "-eo", "pipefail", "-c"}) {
		t.Errorf("shell %q", c.Shell)
	}
	if !slices.Equal(c.OnBuild, []string{"RUN echo triggered"}) {
		t.Errorf("onbuild %q", c.OnBuild)
	}
	if !slices.Equal(c.Entrypoint, []string{"/bin/ash", "-eo", "pipefail", "-c", "run.sh"}) {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	if !slices.Equal(c.Cmd, []string{"/bin/ash", "-eo", "pipefail", "-c", "run --flag"}) {
		t.Errorf("cmd %q", c.Cmd)
	}
	if c.ArgsEscaped {
		t.Errorf("ArgsEscaped set on linux")
	}
	hist := history(img)[1:]
	want := []string{
		"/bin/sh -c #(nop)  MAINTAINER someone <a@b.c>",
		"/bin/sh -c #(nop)  ENV A=1 B=two words",
		"/bin/sh -c #(nop)  ENV PATH=/x:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"/bin/sh -c #(nop)  LABEL l1=v1 l 2=1",
		"/bin/sh -c #(nop)  EXPOSE 443/udp 80 8000-8001",
		"/bin/sh -c #(nop)  VOLUME [/data /logs]",
		"/bin/sh -c #(nop)  VOLUME [/cache]",
		"/bin/sh -c #(nop)  USER app:app",
		"/bin/sh -c #(nop) WORKDIR /srv",
		"/bin/sh -c #(nop) WORKDIR /srv/sub",
		"/bin/sh -c #(nop)  STOPSIGNAL SIGTERM",
		"/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"0s\" \"0s\" \"0s\" '\\x03'}",
		"/bin/ash -eo pipefail -c #(nop)  SHELL [/bin/ash -eo pipefail -c]", // the new shell, as dockerd
		"/bin/ash -eo pipefail -c #(nop)  ONBUILD RUN echo triggered",
		"/bin/ash -eo pipefail -c #(nop)  ENTRYPOINT [\"/bin/ash\" \"-eo\" \"pipefail\" \"-c\" \"run.sh\"]",
		"/bin/ash -eo pipefail -c #(nop)  CMD [\"/bin/ash\" \"-eo\" \"pipefail\" \"-c\" \"run --flag\"]",
	}
	if !slices.Equal(hist, want) {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(hist, "\n"), strings.Join(want, "\n"))
	}
	for i, e := range img.Config.History[1:] {
		wantEmpty := !strings.Contains(e.CreatedBy, "WORKDIR")
		if e.EmptyLayer != wantEmpty {
			t.Errorf("history %d %q empty_layer=%v", i, e.CreatedBy, e.EmptyLayer)
		}
	}
	// WORKDIR created the directory
	if fi, err := os.Stat(filepath.Join(h.be.get(img.ID).root, "srv/sub")); err != nil || !fi.IsDir() {
		t.Errorf("WORKDIR did not create /srv/sub: %v", err)
	}
}

func TestEntrypointResetsInheritedCmd(t *testing.T) {
	h := newHarness(t)
	img, _ := h.mustBuild(df("FROM busybox", "ENTRYPOINT [\"top\"]"), Options{})
	if img.Config.Config.Cmd != nil {
		t.Errorf("inherited CMD kept after ENTRYPOINT: %q", img.Config.Config.Cmd)
	}
	img, _ = h.mustBuild(df("FROM busybox", "CMD [\"-b\"]", "ENTRYPOINT [\"top\"]"), Options{})
	if !slices.Equal(img.Config.Config.Cmd, []string{"-b"}) {
		t.Errorf("stage's own CMD lost after ENTRYPOINT: %q", img.Config.Config.Cmd)
	}
}

func TestRunFormsArgsAndEnv(t *testing.T) {
	h := newHarness(t)
	a1, b2 := "1", "2"
	img, out := h.mustBuild(df(
		"ARG BASE=busybox",
		"ARG UNUSEDMETA=x",
		"FROM $BASE",
		"ARG A",
		"ARG B=default",
		"ENV E=env",
		"RUN env",
		"RUN [\"echo\", \"exec\", \"form\"]",
		"USER app",
		"WORKDIR /w",
		"RUN touch made",
	), Options{BuildArgs: map[string]*string{"A": &a1, "B": &b2, "NOTUSED": &a1}, Remove: true})
	runs := h.be.runs
	if len(runs) != 3 {
		t.Fatalf("%d runs", len(runs))
	}
	r := runs[0]
	if !slices.Equal(r.Config.Cmd, []string{"/bin/sh", "-c", "env"}) || r.Config.Entrypoint != nil {
		t.Errorf("run cmd %q entrypoint %q", r.Config.Cmd, r.Config.Entrypoint)
	}
	for _, e := range []string{"E=env", "A=1", "B=2"} {
		if !slices.Contains(r.Config.Env, e) {
			t.Errorf("RUN env %q lacks %s", r.Config.Env, e)
		}
	}
	if slices.ContainsFunc(r.Config.Env, func(e string) bool { return strings.HasPrefix(e, "UNUSEDMETA=") }) {
		t.Errorf("undeclared meta arg reached RUN: %q", r.Config.Env)
	}
	if !slices.Equal(runs[1].Config.Cmd, []string{"echo", "exec", "form"}) {
		t.Errorf("exec form cmd %q", runs[1].Config.Cmd)
	}
	if runs[2].Config.User != "app" || runs[2].Config.WorkingDir != "/w" {
		t.Errorf("run user %q workdir %q", runs[2].Config.User, runs[2].Config.WorkingDir)
	}
	hist := history(img)
	wantTail := []string{
		"|2 A=1 B=2 /bin/sh -c env",
		"|2 A=1 B=2 echo exec form",
	}
	if !slices.Contains(hist, wantTail[0]) || !slices.Contains(hist, wantTail[1]) {
		t.Errorf("history %q lacks %q", hist, wantTail)
	}
	if slices.ContainsFunc(img.Config.Config.Env, func(e string) bool { return strings.HasPrefix(e, "A=") }) {
		t.Errorf("build arg persisted in image env: %q", img.Config.Config.Env)
	}
	if !strings.Contains(out, "[Warning] One or more build-args [NOTUSED] were not consumed\n") {
		t.Errorf("no unused build-arg warning:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(h.be.get(img.ID).root, "w/made")); err != nil {
		t.Errorf("RUN's file not in image: %v", err)
	}
}

func TestProxyArgsStayOutOfHistory(t *testing.T) {
	h := newHarness(t)
	p := "http://proxy:3128"
	img, _ := h.mustBuild(df("FROM busybox", "RUN echo a"), Options{BuildArgs: map[string]*string{"HTTP_PROXY": &p}})
	if !slices.Contains(h.be.runs[0].Config.Env, "HTTP_PROXY="+p) {
		t.Errorf("proxy arg not in RUN env: %q", h.be.runs[0].Config.Env)
	}
	if got := history(img)[1]; got != "|0 /bin/sh -c echo a" {
		t.Errorf("undeclared proxy arg in history: %q", got)
	}
	img, _ = h.mustBuild(df("FROM busybox", "ARG HTTP_PROXY", "RUN echo a"), Options{BuildArgs: map[string]*string{"HTTP_PROXY": &p}})
	if got := history(img)[2]; got != "|1 HTTP_PROXY="+p+" /bin/sh -c echo a" {
		t.Errorf("declared proxy arg history: %q", got)
	}
}

func TestArgScoping(t *testing.T) {
	h := newHarness(t)
	v := "fromcli"
	files := df(
		"ARG V=meta",
		"ARG W=metaw",
		"FROM busybox AS one",
		"RUN echo [$V]",
		"ARG V",
		"RUN echo [$V]",
		"FROM busybox",
		"ARG W",
		"ARG V=local",
		"RUN echo [$W] [$V]",
	)
	_, out := h.mustBuild(files, Options{Target: "one"})
	_, out2 := h.mustBuild(files, Options{})
	out += out2
	for _, want := range []string{"\n[]\n", "\n[meta]\n", "\n[metaw] [local]\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	_, out = h.mustBuild(df("ARG V=meta", "FROM busybox", "ARG V", "RUN echo [$V]"), Options{BuildArgs: map[string]*string{"V": &v}})
	if !strings.Contains(out, "\n[fromcli]\n") {
		t.Errorf("--build-arg did not override:\n%s", out)
	}
	// ENV wins over ARG
	_, out = h.mustBuild(df("FROM busybox", "ARG X=arg", "ENV X=env", "RUN echo [$X]"), Options{})
	if !strings.Contains(out, "\n[env]\n") {
		t.Errorf("ENV did not win over ARG:\n%s", out)
	}
}

func TestMultiStageTargetPruning(t *testing.T) {
	h := newHarness(t)
	files := df(
		"FROM busybox AS unused",
		"RUN echo unused-stage",
		"FROM busybox AS base",
		"RUN echo base-stage",
		"FROM base AS mid",
		"RUN echo mid-stage",
		"FROM busybox AS last",
		"RUN echo last-stage",
	)
	img, out := h.mustBuild(files, Options{Target: "MID"})
	if strings.Contains(out, "unused-stage") || strings.Contains(out, "last-stage") {
		t.Errorf("built stages the target does not need:\n%s", out)
	}
	if !strings.Contains(out, "Step 1/4 : FROM busybox AS base") || !strings.Contains(out, "Step 4/4 : RUN echo mid-stage") {
		t.Errorf("step numbering:\n%s", out)
	}
	if got := history(img); got[len(got)-1] != "/bin/sh -c echo mid-stage" || got[len(got)-2] != "/bin/sh -c echo base-stage" {
		t.Errorf("target image history %q", got)
	}
	// default target: the last stage only; an ARG of a skipped stage
	// still consumes its --build-arg
	files["Dockerfile"] = strings.Replace(files["Dockerfile"], "RUN echo base-stage", "ARG SKIPPED\nRUN echo base-stage", 1)
	v := "1"
	_, out = h.mustBuild(files, Options{BuildArgs: map[string]*string{"SKIPPED": &v}})
	if strings.Contains(out, "[Warning]") {
		t.Errorf("warned about an ARG of a skipped stage:\n%s", out)
	}
	if strings.Contains(out, "base-stage") || !strings.Contains(out, "Step 2/2 : RUN echo last-stage") {
		t.Errorf("default target built others:\n%s", out)
	}
	_, _, err := h.build(files, Options{Target: "nope"})
	if err == nil || err.Error() != "failed to reach build target nope in Dockerfile" || !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("missing target: %v", err)
	}
}

func TestCopyFromStageAndImage(t *testing.T) {
	h := newHarness(t)
	files := df(
		"FROM busybox AS builder",
		"RUN touch /out/artifact",
		"FROM busybox AS skipped",
		"RUN echo skipped-stage",
		"FROM scratch",
		"COPY --from=builder /out/artifact /artifact",
		"COPY --from=0 /out/artifact /again",
		"COPY --from=busybox /etc/os-name /os-name",
		"ARG SRC=builder",
		"COPY --from=$SRC /out/artifact /expanded",
	)
	img, out, err := h.build(files, Options{})
	skipIfCopyMissing(t, err)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "skipped-stage") {
		t.Errorf("unneeded stage built:\n%s", out)
	}
	root := h.be.get(img.ID).root
	for _, p := range []string{"artifact", "again", "os-name", "expanded"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s not copied: %v", p, err)
		}
	}
	// a cached COPY --from mounts nothing
	mounts := h.be.count("ReadOnlyRootfs")
	_, out = h.mustBuild(files, Options{})
	if got := h.be.count("ReadOnlyRootfs"); got != mounts {
		t.Errorf("cached rebuild mounted %d rootfs", got-mounts)
	}
	if c := strings.Count(out, "Using cache"); c != 6 {
		t.Errorf("%d cache hits, want 6:\n%s", c, out)
	}
	_, _, err = h.build(df("FROM busybox", "COPY --from=1 /x /x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "invalid from flag value 1") {
		t.Errorf("bad --from index: %v", err)
	}
}

// COPY --from without --chown keeps the source's owners (dockerd's
// preserveOwnership); with --chown, and from the context, the copy is
// the given owner's or root's.
func TestCopyFromKeepsOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	h := newHarness(t)
	src := h.be.addImage("owned", dockerspec.DockerOCIImageConfig{}, map[string]string{"f": "f", "d/g": "g"})
	root := h.be.get(src).root
	os.Lchown(filepath.Join(root, "f"), 55, 66)
	os.Lchown(filepath.Join(root, "d/g"), 77, 88)
	files := df(
		"FROM busybox",
		"COPY --from=owned /f /kept",
		"COPY --from=owned /d /dir",
		"COPY --from=owned --chown=1:2 /f /chowned",
		"COPY ctx.txt /ctx",
	)
	files["ctx.txt"] = "c"
	img, out, err := h.build(files, Options{})
	skipIfCopyMissing(t, err)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for p, want := range map[string][2]uint32{"kept": {55, 66}, "dir": {0, 0}, "dir/g": {77, 88}, "chowned": {1, 2}, "ctx": {0, 0}} {
		fi, err := os.Lstat(filepath.Join(h.be.get(img.ID).root, p))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != want[0] || st.Gid != want[1] {
			t.Errorf("/%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, want[0], want[1])
		}
	}
}

// A RUN step's container has the stage's VOLUMEs (the base's and its
// own), as dockerd's runConfig: what the command writes under them goes
// to anonymous volumes, never into the committed layer.
func TestRunGetsVolumes(t *testing.T) {
	h := newHarness(t)
	h.be.addImage("withvol", dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Volumes: map[string]struct{}{"/base": {}}}}, nil)
	h.mustBuild(df(
		"FROM withvol",
		"RUN echo before",
		"VOLUME /data",
		"RUN echo after",
	), Options{})
	runs := h.be.runs
	if len(runs) != 2 {
		t.Fatalf("%d runs", len(runs))
	}
	if got := slices.Sorted(maps.Keys(runs[0].Config.Volumes)); !slices.Equal(got, []string{"/base"}) {
		t.Errorf("first RUN volumes %q, want [/base]", got)
	}
	if got := slices.Sorted(maps.Keys(runs[1].Config.Volumes)); !slices.Equal(got, []string{"/base", "/data"}) {
		t.Errorf("RUN after VOLUME: volumes %q, want [/base /data]", got)
	}
}

func TestCopyCacheInvalidation(t *testing.T) {
	h := newHarness(t)
	files := df(
		"FROM busybox",
		"COPY a.txt /a.txt",
		"RUN echo after-a",
		"COPY b.txt /b.txt",
		"RUN echo after-b",
	)
	files["a.txt"] = "a1"
	files["b.txt"] = "b1"
	_, out, err := h.build(files, Options{})
	skipIfCopyMissing(t, err)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	_, out = h.mustBuild(files, Options{})
	if c := strings.Count(out, "Using cache"); c != 4 {
		t.Errorf("unchanged rebuild: %d cache hits, want 4:\n%s", c, out)
	}
	files["b.txt"] = "b2"
	img, out := h.mustBuild(files, Options{})
	if c := strings.Count(out, "Using cache"); c != 2 {
		t.Errorf("b changed: %d cache hits, want 2 (steps before it):\n%s", c, out)
	}
	if b, _ := os.ReadFile(filepath.Join(h.be.get(img.ID).root, "b.txt")); string(b) != "b2" {
		t.Errorf("b.txt = %q", b)
	}
	files["a.txt"] = "a2"
	_, out = h.mustBuild(files, Options{})
	if c := strings.Count(out, "Using cache"); c != 0 {
		t.Errorf("a changed: %d cache hits, want 0:\n%s", c, out)
	}
}

func TestCopyOptions(t *testing.T) {
	h := newHarness(t)
	files := df(
		"FROM busybox",
		"WORKDIR /app",
		"COPY --chown=app:staff --chmod=0600 conf.txt ./",
		"COPY src/ /src/",
		"COPY *.md /docs/",
		"ADD arch.tar /unpacked/",
	)
	files["conf.txt"] = "x"
	files["src/"] = ""
	files["src/main.go"] = "package main"
	files["one.md"] = "1"
	files["two.md"] = "2"
	files["arch.tar"] = tarOf(t, map[string]string{"inside.txt": "in"})
	img, out, err := h.build(files, Options{})
	skipIfCopyMissing(t, err)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	root := h.be.get(img.ID).root
	fi, err := os.Stat(filepath.Join(root, "app/conf.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("--chmod: mode %v", fi.Mode())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (st.Uid != 1000 || st.Gid != 50) {
		t.Errorf("--chown=app:staff: owner %d:%d, want 1000:50", st.Uid, st.Gid)
	}
	for _, p := range []string{"src/main.go", "docs/one.md", "docs/two.md", "unpacked/inside.txt"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	hist := history(img)
	if !strings.Contains(hist[2], "#(nop) COPY --chown=app:staff --chmod=0600 file:") || !strings.HasSuffix(hist[2], " in ./ ") {
		t.Errorf("COPY history %q", hist[2])
	}
	if !strings.Contains(hist[4], "COPY multi:") {
		t.Errorf("wildcard COPY history %q", hist[4])
	}
}

func tarOf(t *testing.T, files map[string]string) string {
	b := new(strings.Builder)
	r := contextTar(t, files)
	buf := make([]byte, 1<<16)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

func TestFailingRun(t *testing.T) {
	h := newHarness(t)
	files := df("FROM busybox", "ENV A=1", "RUN exit 3", "RUN echo never")
	_, out, err := h.build(files, Options{Remove: true, ForceRemove: true})
	var se *StepError
	if !errors.As(err, &se) || se.Code != 3 || se.Message != "The command '/bin/sh -c exit 3' returned a non-zero code: 3" {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(out, "never") || strings.Contains(out, "Successfully") {
		t.Errorf("build went on:\n%s", out)
	}
	if h.be.count("CommitContainer") != 0 {
		t.Errorf("failed RUN committed an image")
	}
	// forcerm: no container, and the ENV step's image went with the
	// failure (no dangling half images); the base stays
	if len(h.be.ctrs) != 0 || len(h.be.images) != 1 {
		t.Errorf("forcerm: %d containers, %d images left, want 0 and the base", len(h.be.ctrs), len(h.be.images))
	}
	// rm: the failed container stays (dockerd), and so does its image
	if _, _, err = h.build(files, Options{Remove: true}); err == nil || len(h.be.ctrs) != 1 || len(h.be.images) != 2 {
		t.Errorf("rm: %d containers, %d images, want 1 and 2 (err %v)", len(h.be.ctrs), len(h.be.images), err)
	}
	// --rm=false: the user keeps intermediates, images included
	h.be.ctrs = map[string]*fakeCtr{}
	if _, _, err = h.build(df("FROM busybox", "ENV B=1", "RUN exit 1"), Options{}); err == nil || len(h.be.images) != 3 {
		t.Errorf("rm=false: %d images, want 3 (err %v)", len(h.be.images), err)
	}
	// rm=false keeps successful containers
	n := len(h.be.ctrs)
	h.mustBuild(df("FROM busybox", "RUN echo keep"), Options{Remove: false})
	if len(h.be.ctrs) != n+1 {
		t.Errorf("rm=false: %d containers, want %d", len(h.be.ctrs), n+1)
	}
	_, _, err = h.build(df("FROM busybox", "RUN --mount=type=cache,target=/x echo"), Options{})
	if err == nil || !strings.Contains(err.Error(), "the --mount option requires BuildKit") {
		t.Errorf("RUN --mount: %v", err)
	}
}

func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}

func TestParseErrors(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		dockerfile string
		want       string
	}{
		{"FROM busybox\nFOO bar\n", "dockerfile parse error on line 2: unknown instruction: FOO"},
		{"", "the Dockerfile (Dockerfile) cannot be empty"},
		{"\n# only a comment\n", "file with no instructions"},
		{"FROM busybox\nRUN <<EOF\nnever ends\n", "dockerfile parse error on line 2: unterminated heredoc"},
		{"RUN echo\n", "no build stage in current context"},
		{"FROM busybox AS a\nFROM busybox AS a\n", "a stage name already used"},
		{"FROM busybox\nEXPOSE notaport\n", "invalid"},
		{"FROM busybox\nSTOPSIGNAL NOPE\n", "NOPE"},
	}
	for _, c := range cases {
		_, _, err := h.build(map[string]string{"Dockerfile": c.dockerfile}, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) || !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("%q: err = %v (class %v), want %q InvalidArgument", c.dockerfile, err, errdefs.ClassOf(err), c.want)
		}
	}
}

func TestMissingBaseImage(t *testing.T) {
	h := newHarness(t)
	for _, files := range []map[string]string{df("FROM nosuchimage:1.0"), df("FROM busybox", "COPY --from=nosuchimage:1.0 /x /x")} {
		_, _, err := h.build(files, Options{Pull: true})
		if !errdefs.Is(err, errdefs.NotFound) || !strings.Contains(err.Error(), "nosuchimage:1.0") ||
			!strings.Contains(err.Error(), "not present locally and builds do not pull") {
			t.Errorf("%s: err = %v", files["Dockerfile"], err)
		}
	}
	// --pull with a local base: offline, berth checks it is there
	if _, out := h.mustBuild(df("FROM busybox", "RUN echo pulled"), Options{Pull: true}); !strings.Contains(out, "pulled") {
		t.Errorf("--pull with a local base:\n%s", out)
	}
}

// eofReader records whether its reader was read to the end.
type eofReader struct {
	r   io.Reader
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

// Build reads the whole body, even when it fails before the context or
// the context's tar ends early: net/http panics on a full-duplex
// request whose handler returned with its body unread.
func TestBuildReadsWholeBody(t *testing.T) {
	h := newHarness(t)
	for name, c := range map[string]struct {
		opts  Options
		files map[string]string
	}{
		"ok":       {Options{}, df("FROM busybox", "ENV A=1")},
		"bad tag":  {Options{Tags: []string{"Bad:Tag"}}, df("FROM busybox")},
		"bad file": {Options{}, df("FROM busybox", "NOPE x")},
	} {
		var body bytes.Buffer
		io.Copy(&body, contextTar(t, c.files))
		body.Write(make([]byte, 10<<10)) // padding after the end marker, as tar writers add
		r := &eofReader{r: &body}
		_, err := h.b.Build(context.Background(), r, c.opts, &recOutput{})
		if name == "ok" && err != nil {
			t.Fatal(err)
		}
		if !r.eof {
			t.Errorf("%s: Build returned (err %v) with the body unread", name, err)
		}
	}
}

func TestScratchAndEmpty(t *testing.T) {
	h := newHarness(t)
	img, out := h.mustBuild(df("FROM scratch", "ENV A=b", "CMD [\"/app\"]"), Options{})
	if len(img.Config.RootFS.DiffIDs) != 0 || !slices.Contains(img.Config.Config.Env, "A=b") {
		t.Errorf("scratch image %+v", img.Config)
	}
	if !strings.Contains(out, "Step 1/3 : FROM scratch\n ---> \n") {
		t.Errorf("scratch output:\n%s", out)
	}
	_, _, err := h.build(df("FROM scratch"), Options{})
	if err == nil || !strings.Contains(err.Error(), "No image was generated") {
		t.Errorf("empty scratch: %v", err)
	}
}

func TestOnBuildTriggers(t *testing.T) {
	h := newHarness(t)
	base, _ := h.mustBuild(df("FROM busybox", "ONBUILD ENV TRIGGERED=yes", "ONBUILD RUN echo from-trigger"), Options{Tags: []string{"withtriggers"}})
	if len(base.Config.Config.OnBuild) != 2 {
		t.Fatalf("onbuild %q", base.Config.Config.OnBuild)
	}
	img, out := h.mustBuild(df("FROM withtriggers", "RUN echo child"), Options{})
	if !strings.Contains(out, "# Executing 2 build triggers\n") || !strings.Contains(out, "from-trigger") {
		t.Errorf("triggers not run:\n%s", out)
	}
	if i, j := strings.Index(out, "from-trigger"), strings.Index(out, "Step 2/2"); i > j {
		t.Errorf("triggers ran after the first step:\n%s", out)
	}
	n := normalize(out)
	if !strings.HasPrefix(n, "Step 1/2 : FROM withtriggers\n# Executing 2 build triggers\n") ||
		strings.Index(n, "\n ---> <id>\n") < strings.Index(n, "from-trigger") {
		t.Errorf("trigger output not dockerd's (triggers before the FROM step's id):\n%s", out)
	}
	if !slices.Contains(img.Config.Config.Env, "TRIGGERED=yes") || len(img.Config.Config.OnBuild) != 0 {
		t.Errorf("child config %+v", img.Config.Config)
	}
}

func TestLabelsOptionAndNoCache(t *testing.T) {
	h := newHarness(t)
	files := df("FROM busybox", "RUN echo x")
	img, out := h.mustBuild(files, Options{Labels: map[string]string{"b": "2", "a": "1"}})
	if img.Config.Config.Labels["a"] != "1" || img.Config.Config.Labels["b"] != "2" {
		t.Errorf("labels %v", img.Config.Config.Labels)
	}
	if !strings.Contains(out, "Step 3/4 : LABEL a=1\n") {
		t.Errorf("label steps:\n%s", out)
	}
	gets := h.cache.gets
	_, out = h.mustBuild(files, Options{NoCache: true})
	if strings.Contains(out, "Using cache") || h.cache.gets != gets {
		t.Errorf("--no-cache looked the cache up:\n%s", out)
	}
}

func TestCacheVerifiesImageExists(t *testing.T) {
	h := newHarness(t)
	files := df("FROM busybox", "RUN echo x")
	img, _ := h.mustBuild(files, Options{})
	h.be.mu.Lock()
	delete(h.be.images, img.ID)
	h.be.mu.Unlock()
	_, out := h.mustBuild(files, Options{})
	if strings.Contains(out, "Using cache") {
		t.Errorf("cache hit on a deleted image:\n%s", out)
	}
}

func TestCacheFrom(t *testing.T) {
	h := newHarness(t)
	files := df("FROM busybox", "ENV A=1", "RUN echo x")
	img, _ := h.mustBuild(files, Options{Tags: []string{"src:1"}})
	// the source image itself and its ancestors serve
	_, out := h.mustBuild(files, Options{CacheFrom: []string{"src:1"}})
	if c := strings.Count(out, "Using cache"); c != 2 {
		t.Errorf("cachefrom: %d hits:\n%s", c, out)
	}
	// an unrelated source: local cache entries are not trusted
	h.mustBuild(df("FROM busybox", "ENV OTHER=1"), Options{Tags: []string{"other"}})
	_, out = h.mustBuild(files, Options{CacheFrom: []string{"other"}})
	if strings.Contains(out, "Using cache") {
		t.Errorf("cachefrom other used local cache:\n%s", out)
	}
	_ = img
}

func TestRunHeredoc(t *testing.T) {
	h := newHarness(t)
	_, out := h.mustBuild(df("FROM busybox", "RUN <<EOF", "echo in-heredoc", "EOF"), Options{})
	if !strings.Contains(out, "in-heredoc") {
		t.Errorf("heredoc RUN:\n%s", out)
	}
}

func TestTagValidation(t *testing.T) {
	h := newHarness(t)
	if _, _, err := h.build(df("FROM busybox"), Options{Platform: "windows/amd64"}); err == nil || err.Error() != "operating system is not supported" {
		t.Errorf("windows platform: %v", err)
	}
	_, _, err := h.build(df("FROM busybox"), Options{Tags: []string{"Bad:Tag"}})
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("bad tag: %v", err)
	}
	if h.be.count("Image") != 0 {
		t.Errorf("bad tag should fail before any work")
	}
}

// keep imports used when some tests skip
var _ = ocispec.History{}

func TestEscapeDirectiveAndIgnoredSource(t *testing.T) {
	h := newHarness(t)
	_, out := h.mustBuild(map[string]string{"Dockerfile": "# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo one `\n  two\n"}, Options{})
	if !strings.Contains(out, "\none two\n") {
		t.Errorf("escape directive:\n%s", out)
	}
	files := df("FROM busybox", "COPY secret.txt /")
	files[".dockerignore"] = "secret.txt\n"
	files["secret.txt"] = "s"
	_, _, err := h.build(files, Options{})
	if err == nil || err.Error() != "COPY failed: file not found in build context or excluded by .dockerignore: stat secret.txt: file does not exist" || !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("COPY of an ignored file: %v (%v)", err, errdefs.ClassOf(err))
	}
	_, _, err = h.build(df("FROM busybox", "COPY ../outside /"), Options{})
	if err == nil || !strings.Contains(err.Error(), "outside the build context") {
		t.Errorf("COPY ../: %v", err)
	}
}

func TestCancelledRunRemovesContainer(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.be.cancel = cancel
	_, err := h.b.Build(ctx, contextTar(t, df("FROM busybox", "RUN cancel")), Options{Remove: true}, &recOutput{})
	if err == nil {
		t.Fatal("cancelled build succeeded")
	}
	if len(h.be.ctrs) != 0 {
		t.Errorf("a cancelled RUN left its container")
	}
}

package enginetest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/builder"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

func buildSetup(t *testing.T) (*env, *engine.BuildBackend, *image.Image) {
	t.Helper()
	v := setup(t)
	b := engine.NewBuildBackend(v.Engine, v.images, v.layers)
	img, err := b.Image(context.Background(), "busybox")
	if err != nil {
		t.Fatal(err)
	}
	return v, b, img
}

func lastHistory(img *image.Image) (by string, empty bool) {
	h := img.Config.History[len(img.Config.History)-1]
	return h.CreatedBy, h.EmptyLayer
}

// RUN: a real container, output as it comes, the exit code; its changes
// committed with the step's config exactly, without the mount points.
func TestBuildRunAndCommitContainer(t *testing.T) {
	v, b, base := buildSetup(t)
	ctx := context.Background()
	var out, stderr bytes.Buffer
	created := ""
	cfg := ctypes.Config{Cmd: []string{"/bin/sh", "-c", "echo out; echo err >&2; echo data > /f; exit 3"}, Env: []string{"PATH=/bin", "A=b"}, WorkingDir: "/"}
	id, code, err := b.Run(ctx, builder.RunRequest{Image: base.ID, Config: cfg, Out: &out, Stderr: &stderr, Created: func(id string) { created = id }})
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || out.String() != "out\n" || stderr.String() != "err\n" || created != id {
		t.Fatalf("code %d output %q stderr %q created %q", code, out.String(), stderr.String(), created)
	}
	in, err := v.Inspect(ctx, id, false)
	if err != nil || in.State.Status != "exited" {
		t.Fatalf("build container: %+v %v", in.State, err)
	}

	step := dockerspec.DockerOCIImageConfig{}
	step.Env = []string{"PATH=/bin", "A=b"}
	step.Cmd = []string{"sh"}
	if _, err := b.CommitContainer(ctx, id, builder.CommitRequest{Parent: image.ID("sha256:" + strings.Repeat("1", 64)), Config: step}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("commit on the wrong parent: %v", err)
	}
	newID, err := b.CommitContainer(ctx, id, builder.CommitRequest{Parent: base.ID, Config: step, CreatedBy: "/bin/sh -c echo data > /f", Author: "me"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := b.Image(ctx, string(newID))
	if err != nil {
		t.Fatal(err)
	}
	by, empty := lastHistory(img)
	if img.Parent != base.ID || len(img.Config.RootFS.DiffIDs) != len(base.Config.RootFS.DiffIDs)+1 || empty || by != "/bin/sh -c echo data > /f" || img.Config.Author != "me" {
		t.Fatalf("step image: parent %s rootfs %+v history %+v", img.Parent, img.Config.RootFS, img.Config.History)
	}
	if !slices.Equal(img.Config.Config.Env, step.Env) || !slices.Equal(img.Config.Config.Cmd, step.Cmd) || img.Config.Config.WorkingDir != "" || len(img.Config.Config.Labels) != 0 {
		t.Fatalf("config not exact: %+v", img.Config.Config)
	}
	root, release, err := b.ReadOnlyRootfs(ctx, newID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "f"))
	for _, p := range []string{"etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("mount point %s committed", p)
		}
	}
	release()
	if err != nil || string(data) != "data\n" {
		t.Fatalf("/f = %q, %v", data, err)
	}
	if err := b.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Inspect(ctx, id, false); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("container left: %v", err)
	}
	if rws := v.layers.RWLayers(); len(rws) != 0 {
		t.Fatalf("writable layers left: %v", rws)
	}
}

// RUN true changes nothing: an empty layer, the parent's layers.
func TestBuildRunNoChangeIsEmptyLayer(t *testing.T) {
	_, b, base := buildSetup(t)
	ctx := context.Background()
	cfg := ctypes.Config{Cmd: []string{"/bin/true"}}
	// The first run pays for warming up; measure the next ones.
	const n = 5
	var total time.Duration
	var id string
	for i := 0; i <= n; i++ {
		start := time.Now()
		cid, code, err := b.Run(ctx, builder.RunRequest{Image: base.ID, Config: cfg})
		if err != nil || code != 0 {
			t.Fatalf("run true: %d %v", code, err)
		}
		if i > 0 {
			total += time.Since(start)
		}
		if id != "" {
			b.RemoveContainer(ctx, id)
		}
		id = cid
	}
	t.Logf("Run of true: %.1f ms (mean of %d, vfs)", float64(total.Microseconds())/n/1000, n)
	newID, err := b.CommitContainer(ctx, id, builder.CommitRequest{Parent: base.ID, Config: base.Config.Config, CreatedBy: "/bin/sh -c true"})
	if err != nil {
		t.Fatal(err)
	}
	b.RemoveContainer(ctx, id)
	img, _ := b.Image(ctx, string(newID))
	if _, empty := lastHistory(img); !empty || img.TopLayer != base.TopLayer {
		t.Fatalf("RUN true made a layer: %+v", img.Config.History)
	}
}

// Failures to run at all are errors and leave no container.
func TestBuildRunFailures(t *testing.T) {
	v, b, base := buildSetup(t)
	ctx := context.Background()
	_, _, err := b.Run(ctx, builder.RunRequest{Config: ctypes.Config{Cmd: []string{"/bin/sh", "-c", "true"}}})
	if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "Please provide a source image with `from` prior to run") {
		t.Fatalf("scratch: %v", err)
	}
	if _, _, err := b.Run(ctx, builder.RunRequest{Image: base.ID, Config: ctypes.Config{Cmd: []string{"nope"}}}); err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Fatalf("exec not found: %v", err)
	}
	// Without Stderr both streams go to Out (two pipes: their relative
	// order is not kept).
	var out bytes.Buffer
	id, code, err := b.Run(ctx, builder.RunRequest{Image: base.ID, Config: ctypes.Config{Cmd: []string{"/bin/sh", "-c", "echo out; echo err >&2"}}, Out: &out})
	if err != nil || code != 0 {
		t.Fatalf("run: %d %v", code, err)
	}
	b.RemoveContainer(ctx, id)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if slices.Sort(lines); !slices.Equal(lines, []string{"err", "out"}) {
		t.Fatalf("interleaved output %q", out.String())
	}
	// A cancelled build kills and removes its step's container.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := b.Run(cctx, builder.RunRequest{Image: base.ID, Config: ctypes.Config{Cmd: []string{"sleep", "100"}}}); err == nil {
		t.Fatal("cancelled run succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if cs, _ := v.List(ctx, containers.ListOptions{All: true}); len(cs) != 0 {
		t.Fatalf("containers left: %+v", cs)
	}
	if rws := v.layers.RWLayers(); len(rws) != 0 {
		t.Fatalf("writable layers left: %v", rws)
	}
}

// COPY: a work layer on the image, committed; on scratch too.
func TestBuildWorkLayer(t *testing.T) {
	v, b, base := buildSetup(t)
	ctx := context.Background()
	const n = 5
	var total time.Duration
	var id image.ID
	for i := 0; i < n; i++ {
		start := time.Now()
		w, err := b.NewWorkLayer(ctx, base.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(w.Path(), "copied"), []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(ctx, builder.CommitRequest{Parent: "", Config: base.Config.Config}); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Fatalf("commit on the wrong parent: %v", err)
		}
		id, err = w.Commit(ctx, builder.CommitRequest{Parent: base.ID, Config: base.Config.Config, CreatedBy: "/bin/sh -c #(nop) COPY file:x in / "})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Release(ctx); err != nil {
			t.Fatal(err)
		}
		total += time.Since(start)
		if err := w.Release(ctx); err != nil {
			t.Fatalf("second release: %v", err)
		}
	}
	t.Logf("NewWorkLayer+write+Commit+Release of a small file: %.1f ms (mean of %d, vfs, busybox parent)", float64(total.Microseconds())/n/1000, n)
	img, _ := b.Image(ctx, string(id))
	if _, empty := lastHistory(img); empty || img.Parent != base.ID || len(img.Config.RootFS.DiffIDs) != len(base.Config.RootFS.DiffIDs)+1 {
		t.Fatalf("copy step: %+v", img.Config)
	}
	root, release, err := b.ReadOnlyRootfs(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(root, "copied"))
	_, errBB := os.Stat(filepath.Join(root, "bin/busybox"))
	release()
	if string(data) != "hello\n" || errBB != nil {
		t.Fatalf("rootfs: %q %v", data, errBB)
	}

	// FROM scratch + COPY.
	w, err := b.NewWorkLayer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(w.Path(), "only"), []byte("x"), 0o644)
	sid, err := w.Commit(ctx, builder.CommitRequest{CreatedBy: "COPY only /"})
	w.Release(ctx)
	if err != nil {
		t.Fatal(err)
	}
	simg, _ := b.Image(ctx, string(sid))
	if len(simg.Config.RootFS.DiffIDs) != 1 || simg.Parent != "" {
		t.Fatalf("scratch copy: %+v", simg.Config.RootFS)
	}
	if rws := v.layers.RWLayers(); len(rws) != 0 {
		t.Fatalf("writable layers left: %v", rws)
	}
	if _, err := b.NewWorkLayer(ctx, "sha256:"+image.ID(strings.Repeat("2", 64))); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("missing parent: %v", err)
	}
}

// ENV and friends: no layer, fast; Tag names the result.
func TestBuildCommitConfigAndTag(t *testing.T) {
	_, b, base := buildSetup(t)
	ctx := context.Background()
	cfg := base.Config.Config
	cfg.Env = append(slices.Clone(cfg.Env), "X=1")
	const n = 20
	start := time.Now()
	var id image.ID
	var err error
	parent := base.ID
	for i := 0; i < n; i++ {
		id, err = b.CommitConfig(ctx, builder.CommitRequest{Parent: parent, Config: cfg, CreatedBy: "/bin/sh -c #(nop)  ENV X=1"})
		if err != nil {
			t.Fatal(err)
		}
		parent = id
	}
	t.Logf("CommitConfig: %.2f ms (mean of %d)", float64(time.Since(start).Microseconds())/n/1000, n)
	img, _ := b.Image(ctx, string(id))
	if by, empty := lastHistory(img); !empty || by != "/bin/sh -c #(nop)  ENV X=1" || img.TopLayer != base.TopLayer || !slices.Equal(img.Config.Config.Env, cfg.Env) {
		t.Fatalf("config step: %+v", img.Config)
	}
	if err := b.Tag(ctx, id, "built:v1"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Image(ctx, "built:v1"); err != nil || got.ID != id {
		t.Fatalf("tag: %v", err)
	}
	// A failed build removes what it made: only untagged leaves.
	leaf, err := b.CommitConfig(ctx, builder.CommitRequest{Parent: id, Config: cfg, CreatedBy: "LABEL"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rm := range []image.ID{id, leaf, leaf} {
		if err := b.RemoveBuildImage(ctx, rm); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Image(ctx, string(leaf)); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("leaf kept: %v", err)
	}
	if _, err := b.Image(ctx, string(id)); err != nil {
		t.Fatalf("tagged image removed: %v", err)
	}
	// FROM scratch + ENV: an image with no layers.
	sid, err := b.CommitConfig(ctx, builder.CommitRequest{Config: cfg, CreatedBy: "ENV"})
	if err != nil {
		t.Fatal(err)
	}
	if simg, _ := b.Image(ctx, string(sid)); simg.TopLayer != "" || len(simg.Config.RootFS.DiffIDs) != 0 {
		t.Fatalf("scratch config: %+v", simg.Config.RootFS)
	}
}

// Work layers a killed daemon left behind go at the next Restore.
func TestBuildWorkLayerRemovedAtRestore(t *testing.T) {
	v, b, base := buildSetup(t)
	ctx := context.Background()
	w, err := b.NewWorkLayer(ctx, base.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rws := v.layers.RWLayers(); len(rws) != 1 || !strings.HasPrefix(rws[0], "build-") {
		t.Fatalf("work layer: %v", rws)
	}
	v.restart(t)
	if rws := v.layers.RWLayers(); len(rws) != 0 {
		t.Fatalf("work layer left after restore: %v", rws)
	}
	if _, err := os.Stat(w.Path()); err == nil {
		if ents, _ := os.ReadDir(w.Path()); len(ents) > 0 {
			t.Fatalf("work layer files left at %s", w.Path())
		}
	}
	if err := w.Release(ctx); err != nil {
		t.Fatalf("release after restore: %v", err)
	}
}

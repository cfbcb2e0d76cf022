package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/apiserver/router/images"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
	"github.com/berth-dev/berth/internal/image"
)

// listIDs is docker images [-a] [--filter ...] as IDs.
func listIDs(t *testing.T, e *env, all bool, kv ...[2]string) []string {
	t.Helper()
	l, err := e.images.List(context.Background(), images.ListOptions{All: all, Filters: filters.NewArgs(kv...)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range l {
		out = append(out, s.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// A build's steps: metadata-only images, a layer, an empty layer; exact
// configs; parents recorded; intermediates hidden from docker images and
// kept by prune until the image built from them goes.
func TestBuildStepImages(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	e := open(t, root)
	base, err := e.images.Import(ctx, bytes.NewReader(busyboxTar(t)), "busybox", "latest", []string{`CMD ["sh"]`}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	baseImg, _ := e.images.Get(ctx, base)

	// ENV: no layer, the config exactly as given (no Cmd inherited).
	envCfg := dockerspec.DockerOCIImageConfig{}
	envCfg.Env = []string{"A=b"}
	s1, err := e.images.CommitConfig(ctx, image.CommitOptions{
		Parent: image.ID(base), Config: envCfg, ExactConfig: true,
		CreatedBy: "/bin/sh -c #(nop)  ENV A=b", HistoryComment: "step 1",
	})
	if err != nil {
		t.Fatal(err)
	}
	img1, _ := e.images.Get(ctx, string(s1))
	if img1.TopLayer != baseImg.TopLayer || !reflect.DeepEqual(img1.Config.RootFS, baseImg.Config.RootFS) {
		t.Fatalf("metadata step changed layers: %+v", img1.Config.RootFS)
	}
	if !reflect.DeepEqual(img1.Config.Config, envCfg) || img1.Parent != image.ID(base) {
		t.Fatalf("config %+v parent %s", img1.Config.Config, img1.Parent)
	}
	h := img1.Config.History
	if len(h) != len(baseImg.Config.History)+1 || !h[len(h)-1].EmptyLayer || h[len(h)-1].CreatedBy != "/bin/sh -c #(nop)  ENV A=b" || h[len(h)-1].Comment != "step 1" {
		t.Fatalf("history %+v", h)
	}
	if _, err := e.images.CommitConfig(ctx, image.CommitOptions{Parent: s1, ExactConfig: true, Changes: []string{"ENV X=y"}}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("changes with an exact config: %v", err)
	}
	if _, err := e.images.CommitConfig(ctx, image.CommitOptions{Parent: image.ID("sha256:" + strings.Repeat("0", 64))}); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("missing parent: %v", err)
	}

	// COPY: one layer.
	runCfg := envCfg
	runCfg.Cmd = []string{"sh"}
	file := rawTar(t, &tar.Header{Name: "hello", Typeflag: tar.TypeReg, Mode: 0o644})
	s2, err := e.images.Commit(ctx, bytes.NewReader(file), image.CommitOptions{Parent: s1, Config: runCfg, ExactConfig: true, CreatedBy: "/bin/sh -c #(nop) COPY file:abc in / "})
	if err != nil {
		t.Fatal(err)
	}
	img2, _ := e.images.Get(ctx, string(s2))
	if len(img2.Config.RootFS.DiffIDs) != len(baseImg.Config.RootFS.DiffIDs)+1 || img2.Config.History[len(img2.Config.History)-1].EmptyLayer {
		t.Fatalf("layer step: %+v %+v", img2.Config.RootFS, img2.Config.History)
	}
	// RUN that changed nothing: an empty layer.
	s3, err := e.images.Commit(ctx, bytes.NewReader(rawTar(t)), image.CommitOptions{Parent: s2, Config: runCfg, ExactConfig: true, CreatedBy: "/bin/sh -c true"})
	if err != nil {
		t.Fatal(err)
	}
	img3, _ := e.images.Get(ctx, string(s3))
	if img3.TopLayer != img2.TopLayer || !img3.Config.History[len(img3.Config.History)-1].EmptyLayer {
		t.Fatalf("empty step: %+v", img3.Config.History)
	}
	if err := e.images.Tag(ctx, string(s3), "built", ""); err != nil {
		t.Fatal(err)
	}

	check := func(e *env) {
		t.Helper()
		if got := listIDs(t, e, false); !reflect.DeepEqual(got, sorted(base, string(s3))) {
			t.Errorf("docker images: %v", got)
		}
		if got := listIDs(t, e, true); !reflect.DeepEqual(got, sorted(base, string(s1), string(s2), string(s3))) {
			t.Errorf("docker images -a: %v", got)
		}
		if got := listIDs(t, e, false, [2]string{"dangling", "true"}); len(got) != 0 {
			t.Errorf("dangling: %v", got)
		}
		l, _ := e.images.List(ctx, images.ListOptions{Filters: filters.NewArgs([2]string{"reference", "built"})})
		if len(l) != 1 || l[0].ParentID != string(s2) {
			t.Errorf("ParentId: %+v", l)
		}
		var df []string
		for _, s := range e.images.DiskUsage(ctx, nil) {
			df = append(df, s.ID)
		}
		if slices.Sort(df); !reflect.DeepEqual(df, sorted(base, string(s3))) {
			t.Errorf("system df images: %v", df)
		}
		hist, err := e.images.History(ctx, "built")
		if err != nil || len(hist) < 3 || hist[0].ID != string(s3) || hist[1].ID != string(s2) || hist[2].ID != string(s1) {
			t.Errorf("history: %+v %v", hist, err)
		}
	}
	check(e)
	rep, err := e.images.Prune(ctx, filters.NewArgs())
	if err != nil || len(rep.ImagesDeleted) != 0 {
		t.Fatalf("prune removed intermediates: %+v %v", rep, err)
	}
	_, err = e.images.Delete(ctx, string(s2), true, true)
	if !errdefs.Is(err, errdefs.Conflict) || err.Error() != "conflict: unable to delete "+strings.TrimPrefix(string(s2), "sha256:")[:12]+" (cannot be forced) - image has dependent child images" {
		t.Fatalf("delete a parent: %v", err)
	}

	// A restart keeps the steps and their parents.
	e = open(t, root)
	check(e)

	// Removing the image built removes its intermediates, not the base.
	resp, err := e.images.Delete(ctx, "built", false, true)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, r := range resp {
		deleted = append(deleted, r.Deleted)
	}
	for _, id := range []image.ID{s3, s2, s1} {
		if !slices.Contains(deleted, string(id)) {
			t.Errorf("%s not deleted: %+v", id, resp)
		}
	}
	if got := listIDs(t, e, true); !reflect.DeepEqual(got, []string{base}) {
		t.Fatalf("left: %v", got)
	}
	if countLayers(t, e) != 1 {
		t.Fatalf("layers left: %d", countLayers(t, e))
	}
}

// Untagging an intermediate keeps it while a child exists; pruning a
// dangling leaf takes its dangling parents with it.
func TestIntermediateUntagAndPrune(t *testing.T) {
	ctx := context.Background()
	e := open(t, t.TempDir())
	base, err := e.images.Import(ctx, bytes.NewReader(rawTar(t, &tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644})), "base", "", nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	step := func(parent image.ID, by string) image.ID {
		t.Helper()
		cfg := dockerspec.DockerOCIImageConfig{}
		cfg.Labels = map[string]string{"step": by}
		id, err := e.images.CommitConfig(ctx, image.CommitOptions{Parent: parent, Config: cfg, ExactConfig: true, CreatedBy: by})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mid := step(image.ID(base), "mid")
	top := step(mid, "top")
	if err := e.images.Tag(ctx, string(mid), "mid", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.images.Tag(ctx, string(top), "top", ""); err != nil {
		t.Fatal(err)
	}
	resp, err := e.images.Delete(ctx, "mid", false, true)
	if err != nil || len(resp) != 1 || resp[0].Untagged != "mid:latest" {
		t.Fatalf("untag an image with a child: %+v %v", resp, err)
	}
	if _, err := e.images.Get(ctx, string(mid)); err != nil {
		t.Fatal("the untagged parent went")
	}
	// A failed build's images: each deleted only when dangling and unused;
	// no walk up the parents.
	x := step(image.ID(base), "x")
	y := step(x, "y")
	exists := func(id image.ID) bool { _, err := e.images.Get(ctx, string(id)); return err == nil }
	if err := e.images.DeleteDangling(ctx, x); err != nil || !exists(x) {
		t.Fatalf("deleted an image with a child: %v", err)
	}
	e.images.SetInUse(func(id image.ID) (string, bool, bool) { return "c0ffee", false, id == y })
	if err := e.images.DeleteDangling(ctx, y); err != nil || !exists(y) {
		t.Fatalf("deleted an image a container uses: %v", err)
	}
	e.images.SetInUse(nil)
	if err := e.images.DeleteDangling(ctx, y); err != nil || exists(y) || !exists(x) {
		t.Fatalf("delete the leaf: %v", err)
	}
	if err := e.images.DeleteDangling(ctx, top); err != nil || !exists(top) {
		t.Fatalf("deleted a tagged image: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := e.images.DeleteDangling(ctx, x); err != nil || exists(x) {
			t.Fatalf("delete x (%d): %v", i, err)
		}
	}

	// A dangling leaf on an untagged chain: prune takes the chain.
	a := step(image.ID(base), "a")
	b := step(a, "b")
	if got := listIDs(t, e, false, [2]string{"dangling", "true"}); !reflect.DeepEqual(got, []string{string(b)}) {
		t.Fatalf("dangling: %v", got)
	}
	rep, err := e.images.Prune(ctx, filters.NewArgs())
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, r := range rep.ImagesDeleted {
		deleted = append(deleted, r.Deleted)
	}
	slices.Sort(deleted)
	if !reflect.DeepEqual(deleted, sorted(string(a), string(b))) {
		t.Fatalf("prune deleted %v", deleted)
	}
	// prune -a: everything unused, children before parents.
	rep, err = e.images.Prune(ctx, filters.NewArgs([2]string{"dangling", "false"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := listIDs(t, e, true); len(got) != 0 {
		t.Fatalf("prune -a left %v (report %+v)", got, rep)
	}
}

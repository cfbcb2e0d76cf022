// Package storagetest is the conformance suite every storage.Driver
// passes. It mounts, so it needs root.
package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/storage"
)

// NewDriver opens a driver on a fresh data root.
type NewDriver func(t *testing.T, dataRoot string) storage.Driver

// Run runs the suite.
func Run(t *testing.T, newDriver NewDriver) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	t.Run("Chain", func(t *testing.T) { testChain(t, newDriver) })
	t.Run("Whiteouts", func(t *testing.T) { testWhiteouts(t, newDriver) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, newDriver) })
	t.Run("DeepChain", func(t *testing.T) { testDeepChain(t, newDriver) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, newDriver) })
	t.Run("Diff", func(t *testing.T) { testDiff(t, newDriver) })
	t.Run("Changes", func(t *testing.T) { testChanges(t, newDriver) })
}

func mount(t *testing.T, ms []storage.Mount) string {
	t.Helper()
	target := t.TempDir()
	if err := storage.MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = storage.Unmount(target) })
	return target
}

func unmount(t *testing.T, target string) {
	t.Helper()
	if err := storage.Unmount(target); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, p, s string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if s == "" {
		if !os.IsNotExist(err) {
			t.Fatalf("%s exists (%q, %v), want it absent", p, b, err)
		}
		return
	}
	if err != nil || string(b) != s {
		t.Fatalf("%s = %q, %v; want %q", p, b, err, s)
	}
}

// commitLayer prepares key on parent, runs fn on its mounted tree and
// commits it.
func commitLayer(t *testing.T, d storage.Driver, key, parent string, fn func(root string)) {
	t.Helper()
	ctx := context.Background()
	ms, err := d.Prepare(ctx, key+"-active", parent)
	if err != nil {
		t.Fatal(err)
	}
	root := mount(t, ms)
	fn(root)
	unmount(t, root)
	if err := d.Commit(ctx, key, key+"-active"); err != nil {
		t.Fatal(err)
	}
}

func testChain(t *testing.T, newDriver NewDriver) {
	ctx := context.Background()
	dataRoot := t.TempDir()
	d := newDriver(t, dataRoot)
	commitLayer(t, d, "base", "", func(r string) {
		write(t, filepath.Join(r, "etc/os"), "base")
		write(t, filepath.Join(r, "keep"), "keep")
	})
	commitLayer(t, d, "mid", "base", func(r string) {
		want(t, filepath.Join(r, "etc/os"), "base")
		write(t, filepath.Join(r, "etc/os"), "mid")
	})
	if i, err := d.Stat(ctx, "mid"); err != nil || i.Kind != storage.KindCommitted || i.Parent != "base" {
		t.Fatalf("stat mid: %+v %v", i, err)
	}
	if _, err := d.Stat(ctx, "mid-active"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("renamed active still there: %v", err)
	}

	// Two siblings on mid: writes stay in each.
	a := mount(t, must(d.Prepare(ctx, "a", "mid", storage.WithVolatile())))
	b := mount(t, must(d.Prepare(ctx, "b", "mid")))
	want(t, filepath.Join(a, "etc/os"), "mid")
	write(t, filepath.Join(a, "only-a"), "a")
	write(t, filepath.Join(a, "etc/os"), "a")
	want(t, filepath.Join(b, "only-a"), "")
	want(t, filepath.Join(b, "etc/os"), "mid")
	v := mount(t, must(d.View(ctx, "v", "mid")))
	want(t, filepath.Join(v, "etc/os"), "mid")
	want(t, filepath.Join(v, "only-a"), "")
	if err := os.WriteFile(filepath.Join(v, "x"), nil, 0o644); err == nil {
		t.Fatal("wrote into a view")
	}
	vb := mount(t, must(d.View(ctx, "vb", "base")))
	want(t, filepath.Join(vb, "etc/os"), "base")

	// Remounting a volatile active snapshot works (its marker is cleared).
	unmount(t, a)
	a2 := mount(t, must(d.Mounts(ctx, "a")))
	want(t, filepath.Join(a2, "only-a"), "a")

	var n int
	_ = d.Walk(ctx, func(context.Context, storage.Info) error { n++; return nil })
	if n != 6 {
		t.Fatalf("walk saw %d snapshots, want 6", n)
	}
	if u, err := d.Usage(ctx, "base"); err != nil || u.Size < 8 {
		t.Fatalf("usage: %+v %v", u, err)
	}

	if err := d.Remove(ctx, "mid"); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("remove with children: %v", err)
	}
	if err := d.Remove(ctx, "a"); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("remove of a mounted snapshot: %v", err)
	}
	for _, m := range []string{a2, b, v, vb} {
		unmount(t, m)
	}
	for _, k := range []string{"a", "b", "v", "vb", "mid", "base"} {
		if err := d.Remove(ctx, k); err != nil {
			t.Fatalf("remove %s: %v", k, err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, dataRoot)
}

// assertEmpty checks that only empty directories are left.
func assertEmpty(t *testing.T, dataRoot string) {
	t.Helper()
	_ = filepath.WalkDir(dataRoot, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func must(ms []storage.Mount, err error) []storage.Mount {
	if err != nil {
		panic(err)
	}
	return ms
}

func testWhiteouts(t *testing.T, newDriver NewDriver) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	commitLayer(t, d, "l1", "", func(r string) {
		write(t, filepath.Join(r, "gone"), "x")
		write(t, filepath.Join(r, "dir/a"), "a")
	})
	commitLayer(t, d, "l2", "l1", func(r string) {
		if err := os.Remove(filepath.Join(r, "gone")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(r, "dir")); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(r, "dir/b"), "b")
	})
	top := mount(t, must(d.Prepare(ctx, "top", "l2")))
	want(t, filepath.Join(top, "gone"), "")
	want(t, filepath.Join(top, "dir/a"), "")
	want(t, filepath.Join(top, "dir/b"), "b")
	lower := mount(t, must(d.View(ctx, "l1v", "l1")))
	want(t, filepath.Join(lower, "gone"), "x")
}

func testErrors(t *testing.T, newDriver NewDriver) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	if _, err := d.Prepare(ctx, "x", "nope"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("missing parent: %v", err)
	}
	if _, err := d.Prepare(ctx, "../x", ""); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("bad key: %v", err)
	}
	if _, err := d.Prepare(ctx, "x", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Prepare(ctx, "x", ""); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := d.Prepare(ctx, "y", "x"); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("active parent: %v", err)
	}
	if err := d.Commit(ctx, "x", "x"); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(ctx, "z", "x"); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("commit committed: %v", err)
	}
	if _, err := d.Mounts(ctx, "x"); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("mounts of committed: %v", err)
	}
	if err := d.Remove(ctx, "nope"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("remove missing: %v", err)
	}
}

// testDeepChain stacks 125 layers and mounts the top: overlay2 must fit
// the lowerdir list in one page.
func testDeepChain(t *testing.T, newDriver NewDriver) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	parent := ""
	const depth = 125
	for i := 0; i < depth; i++ {
		key := fmt.Sprintf("layer%03d-%s", i, "0123456789abcdef0123456789abcdef0123456789abcdef")
		ms, err := d.Prepare(ctx, key, parent)
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		dir := writeDir(t, d, key, ms)
		write(t, filepath.Join(dir, fmt.Sprintf("f%03d", i)), "x")
		if err := d.Commit(ctx, key, key); err != nil {
			t.Fatal(err)
		}
		parent = key
	}
	top := mount(t, must(d.Prepare(ctx, "top", parent, storage.WithVolatile())))
	for i := 0; i < depth; i++ {
		want(t, filepath.Join(top, fmt.Sprintf("f%03d", i)), "x")
	}
	// Even mounted with relative paths, the mount is seen as in use.
	if err := d.Remove(ctx, "top"); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("remove of a mounted deep snapshot: %v", err)
	}
	write(t, filepath.Join(top, "still-here"), "y")
	unmount(t, top)
	if err := d.Remove(ctx, "top"); err != nil {
		t.Fatal(err)
	}
}

// writeDir returns a directory where key's own changes can be written
// without mounting (a Differ's upper dir), or mounts it.
func writeDir(t *testing.T, d storage.Driver, key string, ms []storage.Mount) string {
	if df, ok := d.(storage.Applier); ok {
		dir, _, err := df.UpperDir(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	root := mount(t, ms)
	t.Cleanup(func() {})
	return root
}

// testReopen: a reopened driver sees committed snapshots and drops
// half-built ones left in <data-root>/tmp.
func testReopen(t *testing.T, newDriver NewDriver) {
	ctx := context.Background()
	dataRoot := t.TempDir()
	d := newDriver(t, dataRoot)
	commitLayer(t, d, "kept", "", func(r string) { write(t, filepath.Join(r, "f"), "f") })
	_ = d.Close()
	half := filepath.Join(dataRoot, "tmp", d.Name()+"-crashed")
	write(t, filepath.Join(half, "tree/f"), "half")
	d2 := newDriver(t, dataRoot)
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Fatalf("half-built snapshot left in tmp: %v", err)
	}
	if i, err := d2.Stat(ctx, "kept"); err != nil || i.Kind != storage.KindCommitted {
		t.Fatalf("after reopen: %+v %v", i, err)
	}
	v := mount(t, must(d2.View(ctx, "v", "kept")))
	want(t, filepath.Join(v, "f"), "f")
}

// testDiff: a Differ's diffs, applied in order onto an empty directory,
// rebuild what the snapshot's mount shows.
func testDiff(t *testing.T, newDriver NewDriver) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	df, ok := d.(storage.Differ)
	if !ok {
		t.Skip("driver is not a storage.Differ")
	}
	commitLayer(t, d, "base", "", func(r string) {
		write(t, filepath.Join(r, "keep"), "k")
		write(t, filepath.Join(r, "modify"), "old")
		write(t, filepath.Join(r, "gone"), "g")
		write(t, filepath.Join(r, "dir/a"), "a")
		write(t, filepath.Join(r, "dir/b"), "b")
	})
	ms, err := d.Prepare(ctx, "child", "base")
	if err != nil {
		t.Fatal(err)
	}
	c := mount(t, ms)
	write(t, filepath.Join(c, "modify"), "new")
	write(t, filepath.Join(c, "added/x"), "x")
	if err := os.Remove(filepath.Join(c, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(c, "dir")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(c, "dir/c"), "c") // overlay: an opaque dir
	unmount(t, c)

	out := t.TempDir()
	for _, k := range []string{"base", "child"} {
		var buf bytes.Buffer
		if err := df.Diff(ctx, k, &buf); err != nil {
			t.Fatalf("diff %s: %v", k, err)
		}
		if _, err := archive.Apply(ctx, out, &buf, archive.Options{}); err != nil {
			t.Fatalf("apply diff of %s: %v", k, err)
		}
	}
	for p, body := range map[string]string{"keep": "k", "modify": "new", "gone": "", "added/x": "x", "dir/a": "", "dir/b": "", "dir/c": "c"} {
		want(t, filepath.Join(out, p), body)
	}
}

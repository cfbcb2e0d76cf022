package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/overlay2"
	"github.com/berth-dev/berth/internal/storage/vfs"
)

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if strings.HasSuffix(name, "/") {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755})
			continue
		}
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

type newDriver func(t *testing.T, root string) storage.Driver

var drivers = map[string]newDriver{
	"overlay2": func(t *testing.T, root string) storage.Driver {
		d, err := overlay2.New(root)
		if err != nil {
			t.Fatal(err)
		}
		return d
	},
	"vfs": func(t *testing.T, root string) storage.Driver {
		d, err := vfs.New(root)
		if err != nil {
			t.Fatal(err)
		}
		return d
	},
}

func forEachDriver(t *testing.T, fn func(t *testing.T, nd newDriver)) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for name, nd := range drivers {
		t.Run(name, func(t *testing.T) { fn(t, nd) })
	}
}

func countSnapshots(t *testing.T, d storage.Driver) int {
	n := 0
	_ = d.Walk(context.Background(), func(context.Context, storage.Info) error { n++; return nil })
	return n
}

func TestRegisterShareRelease(t *testing.T) {
	forEachDriver(t, func(t *testing.T, nd newDriver) {
		ctx := context.Background()
		root := t.TempDir()
		d := nd(t, root)
		s, err := NewStore(root, d)
		if err != nil {
			t.Fatal(err)
		}
		baseTar := tarOf(t, map[string]string{"etc/": "", "etc/os": "base", "gone": "x"})
		base, err := s.Register(ctx, bytes.NewReader(baseTar), "")
		if err != nil {
			t.Fatal(err)
		}
		if base.DiffID != digest.FromBytes(baseTar) || base.ChainID != image.ChainID(base.DiffID) || base.Size != 5 {
			t.Fatalf("base: %+v", base)
		}
		var wb bytes.Buffer
		tw := tar.NewWriter(&wb)
		tw.WriteHeader(&tar.Header{Name: ".wh.gone", Typeflag: tar.TypeReg, Mode: 0o644})
		tw.WriteHeader(&tar.Header{Name: "etc/os", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
		tw.Write([]byte("top"))
		tw.Close()
		top, err := s.Register(ctx, bytes.NewReader(wb.Bytes()), base.ChainID)
		if err != nil {
			t.Fatal(err)
		}
		if top.ChainID != image.ChainID(digest.FromString(string(base.ChainID)+" "+string(top.DiffID))) || top.Parent != base.ChainID {
			t.Fatalf("top: %+v", top)
		}
		// The same layer again is stored once.
		again, err := s.Register(ctx, bytes.NewReader(wb.Bytes()), base.ChainID)
		if err != nil || again.CacheID != top.CacheID {
			t.Fatalf("again: %+v %v", again, err)
		}
		if n := countSnapshots(t, d); n != 2 {
			t.Fatalf("%d snapshots, want 2", n)
		}

		// A container on top sees the merged tree and the whiteout.
		if err := s.CreateRW(ctx, "c1", top.ChainID); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		rootfs, err := s.Mount(ctx, "c1")
		mountTime := time.Since(t0)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := s.Mount(ctx, "c1"); err != nil || again != rootfs {
			t.Fatalf("second mount: %q %v", again, err)
		}
		if b, _ := os.ReadFile(filepath.Join(rootfs, "etc/os")); string(b) != "top" {
			t.Fatalf("etc/os = %q", b)
		}
		if _, err := os.Stat(filepath.Join(rootfs, "gone")); !os.IsNotExist(err) {
			t.Fatal("whited-out file visible")
		}
		os.WriteFile(filepath.Join(rootfs, "new"), []byte("c"), 0o644)
		drv, md, err := s.Metadata(ctx, "c1")
		if err != nil || drv != d.Name() {
			t.Fatal(drv, err)
		}
		if drv == "overlay2" && (md["UpperDir"] == "" || md["MergedDir"] != rootfs || len(strings.Split(md["LowerDir"], ":")) != 2) {
			t.Fatalf("metadata %v", md)
		}
		// Releasing every image reference keeps the layers the container uses.
		for i := 0; i < 2; i++ {
			if _, err := s.Release(ctx, top.ChainID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Release(ctx, base.ChainID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lookup(top.ChainID); err != nil {
			t.Fatal("layer under a container was deleted")
		}
		t1 := time.Now()
		if err := s.Unmount(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveRW(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: Mount %v, Unmount+RemoveRW %v", d.Name(), mountTime, time.Since(t1))
		if err := s.RemoveRW(ctx, "c1"); err != nil {
			t.Fatal("RemoveRW not idempotent:", err)
		}
		if err := s.Unmount(ctx, "c1"); err != nil {
			t.Fatal("Unmount not idempotent:", err)
		}
		if len(s.Layers()) != 0 || countSnapshots(t, d) != 0 {
			t.Fatalf("left: %v, %d snapshots", s.Layers(), countSnapshots(t, d))
		}
		assertNoFiles(t, root)
	})
}

func assertNoFiles(t *testing.T, root string) {
	t.Helper()
	_ = filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func TestRegisterBadTarLeavesNothing(t *testing.T) {
	forEachDriver(t, func(t *testing.T, nd newDriver) {
		ctx := context.Background()
		root := t.TempDir()
		d := nd(t, root)
		s, err := NewStore(root, d)
		if err != nil {
			t.Fatal(err)
		}
		good := tarOf(t, map[string]string{"a": strings.Repeat("a", 3000)})
		for name, data := range map[string][]byte{
			"truncated": good[:1000],
			"escape":    tarOf(t, map[string]string{"../../x": "x"}),
		} {
			_, err := s.Register(ctx, bytes.NewReader(data), "")
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if _, err := s.Register(ctx, bytes.NewReader(good), image.ChainID("sha256:"+strings.Repeat("0", 64))); !errdefs.Is(err, errdefs.NotFound) {
			t.Fatalf("missing parent: %v", err)
		}
		if err := s.CreateRW(ctx, "c", image.ChainID("sha256:"+strings.Repeat("0", 64))); !errdefs.Is(err, errdefs.NotFound) {
			t.Fatalf("missing parent: %v", err)
		}
		if countSnapshots(t, d) != 0 {
			t.Fatal("snapshot left behind")
		}
		assertNoFiles(t, root)
	})
}

// TestReopenAfterCrash simulates what a daemon killed at any moment
// leaves and checks that a reopened store lists only whole layers.
func TestReopenAfterCrash(t *testing.T) {
	forEachDriver(t, func(t *testing.T, nd newDriver) {
		ctx := context.Background()
		root := t.TempDir()
		d := nd(t, root)
		s, err := NewStore(root, d)
		if err != nil {
			t.Fatal(err)
		}
		good, err := s.Register(ctx, bytes.NewReader(tarOf(t, map[string]string{"f": "good"})), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRW(ctx, "running", good.ChainID); err != nil {
			t.Fatal(err)
		}
		// Crash leftovers:
		// 1. a snapshot registered but never recorded in layerdb,
		if _, err := d.Prepare(ctx, "orphan", ""); err != nil {
			t.Fatal(err)
		}
		d.Commit(ctx, "orphan", "orphan")
		// 2. an active snapshot on top of it (an interrupted CreateRW),
		if _, err := d.Prepare(ctx, "orphan-rw", "orphan"); err != nil {
			t.Fatal(err)
		}
		// 3. a layerdb entry being written, and a record whose snapshot is gone,
		os.MkdirAll(filepath.Join(root, "tmp", "layer-123", "diff"), 0o755)
		bogus := filepath.Join(s.root, "sha256", strings.Repeat("ab", 32))
		os.MkdirAll(bogus, 0o755)
		os.WriteFile(filepath.Join(bogus, "diff"), []byte("sha256:"+strings.Repeat("ab", 32)), 0o644)
		os.WriteFile(filepath.Join(bogus, "size"), []byte("1"), 0o644)
		os.WriteFile(filepath.Join(bogus, "cache-id"), []byte("nonexistent"), 0o644)
		// 4. a half-written mounts record.
		os.MkdirAll(filepath.Join(s.root, "mounts", "halfmade"), 0o755)
		d.Close()

		d2 := nd(t, root)
		s2, err := NewStore(root, d2)
		if err != nil {
			t.Fatal(err)
		}
		if ls := s2.Layers(); len(ls) != 1 || ls[0].ChainID != good.ChainID {
			t.Fatalf("layers after reopen: %+v", ls)
		}
		if ids := s2.RWLayers(); len(ids) != 1 || ids[0] != "running" {
			t.Fatalf("rw layers after reopen: %v", ids)
		}
		if n := countSnapshots(t, d2); n != 2 {
			t.Fatalf("%d snapshots after reopen, want 2", n)
		}
		for _, p := range []string{bogus, filepath.Join(root, "tmp", "layer-123"), filepath.Join(s.root, "mounts", "halfmade")} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s survived the reopen", p)
			}
		}
		// The image store releases what no image holds; the container's
		// layer keeps its parent.
		if err := s2.ReleaseUnused(ctx); err != nil {
			t.Fatal(err)
		}
		rootfs, err := s2.Mount(ctx, "running")
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(rootfs, "f")); string(b) != "good" {
			t.Fatalf("f = %q", b)
		}
		if err := s2.RemoveRW(ctx, "running"); err != nil {
			t.Fatal(err)
		}
		if len(s2.Layers()) != 0 || countSnapshots(t, d2) != 0 {
			t.Fatal("layer not released with its last container")
		}
	})
}

// Concurrent registers of one tar store one layer; concurrent containers
// mount and go independently.
func TestConcurrent(t *testing.T) {
	forEachDriver(t, func(t *testing.T, nd newDriver) {
		ctx := context.Background()
		root := t.TempDir()
		d := nd(t, root)
		s, err := NewStore(root, d)
		if err != nil {
			t.Fatal(err)
		}
		data := tarOf(t, map[string]string{"f": "same"})
		const n = 6
		errs := make(chan error, n)
		chains := make(chan image.ChainID, n)
		for i := 0; i < n; i++ {
			go func() {
				l, err := s.Register(ctx, bytes.NewReader(data), "")
				chains <- l.ChainID
				errs <- err
			}()
		}
		var c image.ChainID
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			c = <-chains
		}
		if len(s.Layers()) != 1 || countSnapshots(t, d) != 1 {
			t.Fatalf("%d layers, %d snapshots; want 1", len(s.Layers()), countSnapshots(t, d))
		}
		for i := 0; i < n; i++ {
			go func(i int) {
				id := "c" + string(rune('a'+i))
				err := s.CreateRW(ctx, id, c)
				if err == nil {
					_, err = s.Mount(ctx, id)
				}
				if err == nil {
					err = s.RemoveRW(ctx, id)
				}
				errs <- err
			}(i)
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			if _, err := s.Release(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if len(s.Layers()) != 0 || countSnapshots(t, d) != 0 {
			t.Fatal("left behind")
		}
		assertNoFiles(t, root)
	})
}

// A container's diff, registered on its image's layer, gives a layer whose
// tar round-trips (docker commit, then save).
func TestDiffRWCommit(t *testing.T) {
	forEachDriver(t, func(t *testing.T, nd newDriver) {
		ctx := context.Background()
		root := t.TempDir()
		s, err := NewStore(root, nd(t, root))
		if err != nil {
			t.Fatal(err)
		}
		base, err := s.Register(ctx, bytes.NewReader(tarOf(t, map[string]string{"etc/": "", "etc/os": "base", "gone": "x"})), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRW(ctx, "c", base.ChainID); err != nil {
			t.Fatal(err)
		}
		rootfs, err := s.Mount(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(rootfs, "etc/os"), []byte("changed"), 0o644)
		os.Remove(filepath.Join(rootfs, "gone"))
		os.WriteFile(filepath.Join(rootfs, "added"), []byte("+"), 0o644)
		var diff bytes.Buffer
		if err := s.DiffRW(ctx, "c", &diff); err != nil {
			t.Fatal(err)
		}
		top, err := s.Register(ctx, bytes.NewReader(diff.Bytes()), base.ChainID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveRW(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRW(ctx, "c2", top.ChainID); err != nil {
			t.Fatal(err)
		}
		r2, err := s.Mount(ctx, "c2")
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]string{"etc/os": "changed", "added": "+", "gone": ""} {
			b, err := os.ReadFile(filepath.Join(r2, p))
			if want == "" && !os.IsNotExist(err) || want != "" && string(b) != want {
				t.Errorf("%s = %q, %v; want %q", p, b, err, want)
			}
		}
		var again bytes.Buffer
		if err := s.TarLayer(ctx, top.ChainID, &again); err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(again.Bytes()) != top.DiffID {
			t.Errorf("TarLayer of a committed layer does not reproduce its diff ID")
		}
		s.RemoveRW(ctx, "c2")
	})
}

// Package volumetest is the conformance suite every volume.Driver passes:
// create, get, list, remove, mount counting, persistence across a reopen,
// and refusals that must not lose data.
package volumetest

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/volume"
)

// Opener opens a driver over root; opening the same root again must see
// the same volumes.
type Opener func(root string) (volume.Driver, error)

// Case is one kind of volume the driver makes.
type Case struct {
	Name string
	Opts map[string]string
	// Mounted says the data path is a mount point while in use.
	Mounted bool
	// Ephemeral says data is lost when the last user unmounts (tmpfs).
	Ephemeral bool
}

// Run runs the suite for each case.
func Run(t *testing.T, open Opener, cases ...Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				f    func(*testing.T, Opener, Case)
			}{
				{"CreateGetList", testCreateGetList},
				{"MountCounting", testMountCounting},
				{"RemoveRefusedWhileMounted", testRemoveMounted},
				{"Reopen", testReopen},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.f(t, open, c) })
			}
		})
	}
}

func mustOpen(t *testing.T, open Opener, root string) volume.Driver {
	t.Helper()
	d, err := open(root)
	if err != nil {
		t.Fatalf("open driver: %v", err)
	}
	return d
}

func testCreateGetList(t *testing.T, open Opener, c Case) {
	ctx := context.Background()
	d := mustOpen(t, open, t.TempDir())
	labels := map[string]string{"a": "1", "b": ""}
	info, err := d.Create(ctx, "vol1", c.Opts, labels)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if info.Name != "vol1" || info.Driver != d.Name() || info.Mountpoint == "" || info.CreatedAt.IsZero() {
		t.Fatalf("create returned %+v", info)
	}
	if !maps.Equal(info.Labels, labels) || !maps.Equal(info.Options, c.Opts) {
		t.Fatalf("labels/options: got %v %v want %v %v", info.Labels, info.Options, labels, c.Opts)
	}
	if _, err := d.Create(ctx, "vol1", c.Opts, nil); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("create existing: got %v, want a conflict", err)
	}
	got, err := d.Get(ctx, "vol1")
	if err != nil || got.Mountpoint != info.Mountpoint || !maps.Equal(got.Labels, labels) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := d.Get(ctx, "nope"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("get missing: got %v, want not found", err)
	}
	if _, err := d.Create(ctx, "vol2", c.Opts, nil); err != nil {
		t.Fatal(err)
	}
	l, err := d.List(ctx)
	if err != nil || len(l) != 2 || l[0].Name != "vol1" || l[1].Name != "vol2" {
		t.Fatalf("list: %+v %v", l, err)
	}
	if err := d.Remove(ctx, "vol2"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := d.Get(ctx, "vol2"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("get removed: %v", err)
	}
	if err := d.Remove(ctx, "vol2"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("remove twice: got %v, want not found", err)
	}
	if l, _ := d.List(ctx); len(l) != 1 {
		t.Fatalf("list after remove: %+v", l)
	}
	cleanup(t, d)
}

func cleanup(t *testing.T, d volume.Driver) {
	t.Helper()
	ctx := context.Background()
	l, _ := d.List(ctx)
	for _, v := range l {
		if err := d.Remove(ctx, v.Name); err != nil {
			t.Errorf("cleanup remove %s: %v", v.Name, err)
		}
	}
}

func isMounted(t *testing.T, p string) bool {
	t.Helper()
	m, err := mountinfo.Mounted(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testMountCounting(t *testing.T, open Opener, c Case) {
	ctx := context.Background()
	d := mustOpen(t, open, t.TempDir())
	defer cleanup(t, d)
	if _, err := d.Create(ctx, "v", c.Opts, nil); err != nil {
		t.Fatal(err)
	}
	p1, err := d.Mount(ctx, "v", "ctr-a")
	if err != nil {
		t.Fatalf("mount a: %v", err)
	}
	if err := os.WriteFile(filepath.Join(p1, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	p2, err := d.Mount(ctx, "v", "ctr-b")
	if err != nil || p2 != p1 {
		t.Fatalf("mount b: %q %v (a got %q)", p2, err, p1)
	}
	if _, err := d.Mount(ctx, "v", "ctr-b"); err != nil {
		t.Fatalf("mount b again: %v", err)
	}
	if c.Mounted && !isMounted(t, p1) {
		t.Fatalf("%s is not a mount point while in use", p1)
	}
	if err := d.Unmount(ctx, "v", "ctr-a"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(p1, "f")); err != nil || string(b) != "data" {
		t.Fatalf("after one of two users left: %q %v", b, err)
	}
	if err := d.Unmount(ctx, "v", "ctr-b"); err != nil {
		t.Fatal(err)
	}
	if c.Mounted && isMounted(t, p1) {
		t.Fatalf("%s still mounted after the last user left", p1)
	}
	if err := d.Unmount(ctx, "v", "ctr-b"); err != nil {
		t.Fatalf("unmount twice: %v", err)
	}
	p3, err := d.Mount(ctx, "v", "ctr-c")
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(p3, "f"))
	if c.Ephemeral != os.IsNotExist(err) {
		t.Fatalf("data after remount: %v (ephemeral %v)", err, c.Ephemeral)
	}
	if err := d.Unmount(ctx, "v", "ctr-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Mount(ctx, "nope", "x"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("mount missing: %v", err)
	}
}

func testRemoveMounted(t *testing.T, open Opener, c Case) {
	ctx := context.Background()
	d := mustOpen(t, open, t.TempDir())
	defer cleanup(t, d)
	if _, err := d.Create(ctx, "v", c.Opts, nil); err != nil {
		t.Fatal(err)
	}
	p, err := d.Mount(ctx, "v", "ctr")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p, "keep"), []byte("x"), 0o644)
	if err := d.Remove(ctx, "v"); err == nil {
		t.Fatal("removed a volume in use")
	}
	if b, err := os.ReadFile(filepath.Join(p, "keep")); err != nil || string(b) != "x" {
		t.Fatalf("a refused remove lost data: %q %v", b, err)
	}
	if err := d.Unmount(ctx, "v", "ctr"); err != nil {
		t.Fatal(err)
	}
}

func testReopen(t *testing.T, open Opener, c Case) {
	ctx := context.Background()
	root := t.TempDir()
	d := mustOpen(t, open, root)
	info, err := d.Create(ctx, "keep", c.Opts, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Mount(ctx, "keep", "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "f"), []byte("persist"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Unmount(ctx, "keep", "ctr"); err != nil {
		t.Fatal(err)
	}
	d2 := mustOpen(t, open, root)
	defer cleanup(t, d2)
	got, err := d2.Get(ctx, "keep")
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if got.Mountpoint != info.Mountpoint || !got.CreatedAt.Equal(info.CreatedAt) || got.Labels["k"] != "v" || !maps.Equal(got.Options, c.Opts) {
		t.Fatalf("after reopen: %+v, created %+v", got, info)
	}
	p, err = d2.Mount(ctx, "keep", "ctr")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(p, "f"))
	if !c.Ephemeral && (err != nil || string(b) != "persist") {
		t.Fatalf("data after reopen: %q %v", b, err)
	}
	if err := d2.Unmount(ctx, "keep", "ctr"); err != nil {
		t.Fatal(err)
	}
}

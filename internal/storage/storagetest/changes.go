package storagetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/storage"
)

// testChanges: a driver that lists changes (docker diff) reports adds,
// modifications and deletions against the parent, with the parents of
// each change marked modified, whatever its way of keeping layers.
func testChanges(t *testing.T, newDriver NewDriver) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	ch, ok := d.(storage.Changer)
	if !ok {
		t.Skip("driver does not list changes")
	}
	commitLayer(t, d, "base", "", func(root string) {
		write(t, filepath.Join(root, "etc", "keep"), "k")
		write(t, filepath.Join(root, "etc", "mod"), "old")
		write(t, filepath.Join(root, "bin", "gone"), "g")
	})
	ms, err := d.Prepare(ctx, "rw", "base")
	if err != nil {
		t.Fatal(err)
	}
	root := mount(t, ms)
	write(t, filepath.Join(root, "etc", "mod"), "newer")
	if err := os.Remove(filepath.Join(root, "bin", "gone")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "new", "f"), "n")
	unmount(t, root)
	got, err := ch.Changes(ctx, "rw")
	if err != nil {
		t.Fatal(err)
	}
	expected := []archive.Change{
		{Path: "/bin", Kind: archive.ChangeModify}, {Path: "/bin/gone", Kind: archive.ChangeDelete},
		{Path: "/etc", Kind: archive.ChangeModify}, {Path: "/etc/mod", Kind: archive.ChangeModify},
		{Path: "/new", Kind: archive.ChangeAdd}, {Path: "/new/f", Kind: archive.ChangeAdd},
	}
	if fmt.Sprint(got) != fmt.Sprint(expected) {
		t.Fatalf("changes:\n got %v\nwant %v", got, expected)
	}
	// The committed base's own files are where ContentDir says.
	if cd, ok := d.(storage.ContentDirer); ok {
		dir, err := cd.ContentDir(ctx, "base")
		if err != nil {
			t.Fatal(err)
		}
		want(t, filepath.Join(dir, "etc", "mod"), "old")
	}
}

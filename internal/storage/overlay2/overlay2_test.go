package overlay2_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/overlay2"
	"github.com/berth-dev/berth/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, root string) storage.Driver {
		d, err := overlay2.New(root)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// A volatile layer's snapshot.json is written without fsync; after a host
// crash it may be empty or torn. Reopening drops such snapshots whole.
func TestReopenDropsTornSnapshots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	root := t.TempDir()
	d, err := overlay2.New(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"empty", "torn", "ok"} {
		if _, err := d.Prepare(ctx, k, "", storage.WithVolatile()); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "overlay2/empty/snapshot.json"), nil, 0o600)
	os.WriteFile(filepath.Join(root, "overlay2/torn/snapshot.json"), []byte(`{"kind":"act`), 0o600)
	d2, err := overlay2.New(root)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	d2.Walk(ctx, func(_ context.Context, i storage.Info) error { keys = append(keys, i.Key); return nil })
	if len(keys) != 1 || keys[0] != "ok" {
		t.Fatalf("snapshots after reopen: %v", keys)
	}
	for _, k := range []string{"empty", "torn"} {
		if _, err := os.Stat(filepath.Join(root, "overlay2", k)); !os.IsNotExist(err) {
			t.Errorf("%s survived", k)
		}
	}
	links, _ := os.ReadDir(filepath.Join(root, "overlay2/l"))
	if len(links) != 1 {
		t.Fatalf("%d l/ links, want 1", len(links))
	}
}

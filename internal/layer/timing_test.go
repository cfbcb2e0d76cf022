package layer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRWTimings logs what a container start and removal cost in the layer
// store (container start is the hot path). Run with -v to see them.
func TestRWTimings(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	root := t.TempDir()
	d := drivers["overlay2"](t, root)
	s, err := NewStore(root, d)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Register(ctx, bytes.NewReader(tarOf(t, map[string]string{"bin/sh": "x"})), "")
	if err != nil {
		t.Fatal(err)
	}
	var create, mount, unmount, remove time.Duration
	const n = 10
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("ctr%d", i)
		t0 := time.Now()
		if err := s.CreateRW(ctx, id, l.ChainID); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		rootfs, err := s.Mount(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		// some dirty data in the container, as a real one has
		os.WriteFile(filepath.Join(rootfs, "data"), bytes.Repeat([]byte("x"), 1<<20), 0o644)
		t3 := time.Now()
		if err := s.Unmount(ctx, id); err != nil {
			t.Fatal(err)
		}
		t4 := time.Now()
		if err := s.RemoveRW(ctx, id); err != nil {
			t.Fatal(err)
		}
		t5 := time.Now()
		create += t1.Sub(t0)
		mount += t2.Sub(t1)
		unmount += t4.Sub(t3)
		remove += t5.Sub(t4)
	}
	t.Logf("overlay2, mean of %d: CreateRW %v, Mount %v, Unmount %v, RemoveRW %v", n, create/n, mount/n, unmount/n, remove/n)
}

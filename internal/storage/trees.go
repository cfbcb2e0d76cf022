package storage

import (
	"context"
	"io"
	"sync"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
)

// Trees is the read side shared by drivers whose snapshots are whole
// directory trees (vfs copies, btrfs subvolumes): Stat, Walk, Usage, Mounts, and the
// Applier and Differ capabilities, which work on the trees directly. A
// driver embeds it, pointing it at its own lock, table and key -> directory
// mapping.
type Trees struct {
	Mu    *sync.Mutex
	Snaps *Snapshots
	Dir   func(key string) string
}

// Stat implements Driver.
func (t Trees) Stat(ctx context.Context, key string) (Info, error) {
	t.Mu.Lock()
	defer t.Mu.Unlock()
	return t.Snaps.Stat(key)
}

// Walk implements Driver.
func (t Trees) Walk(ctx context.Context, fn func(context.Context, Info) error) error {
	return t.Snaps.Walk(ctx, t.Mu, fn)
}

// Usage implements Driver: the files the tree shows, including what it
// shares with (or copied from) its parents.
func (t Trees) Usage(ctx context.Context, key string) (Usage, error) {
	if _, err := t.Stat(ctx, key); err != nil {
		return Usage{}, err
	}
	return DirUsage(t.Dir(key))
}

// Mounts implements Driver: the tree bound in place, read-write for an
// active snapshot, read-only for a view.
func (t Trees) Mounts(ctx context.Context, key string) ([]Mount, error) {
	i, err := t.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	switch i.Kind {
	case KindActive:
		return []Mount{{Type: "bind", Source: t.Dir(key), Options: []string{"rw", "rbind"}}}, nil
	case KindView:
		return []Mount{{Type: "bind", Source: t.Dir(key), Options: []string{"ro", "rbind"}}}, nil
	}
	return nil, errdefs.Conflictf("snapshot %s is committed: prepare a child or a view to mount it", key)
}

// UpperDir implements Applier: a layer is applied into the tree itself,
// deletions by deleting.
func (t Trees) UpperDir(ctx context.Context, key string) (string, bool, error) {
	i, err := t.Stat(ctx, key)
	if err != nil {
		return "", false, err
	}
	if i.Kind != KindActive {
		return "", false, errdefs.Conflictf("snapshot %s is %s, not active", key, i.Kind)
	}
	return t.Dir(key), false, nil
}

// Diff implements Differ by comparing the snapshot's tree with its
// parent's.
func (t Trees) Diff(ctx context.Context, key string, w io.Writer) error {
	i, err := t.Stat(ctx, key)
	if err != nil {
		return err
	}
	if i.Kind == KindView {
		return errdefs.InvalidArgumentf("diff %s: a view has no changes", key)
	}
	if i.Parent == "" {
		return archive.WriteTar(ctx, w, t.Dir(key), archive.TarOptions{})
	}
	return archive.WriteDiff(ctx, w, t.Dir(i.Parent), t.Dir(key))
}

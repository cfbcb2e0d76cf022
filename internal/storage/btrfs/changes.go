package btrfs

import (
	"context"
	"path/filepath"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/storage"
)

var (
	_ storage.Changer      = (*Driver)(nil)
	_ storage.ContentDirer = (*Driver)(nil)
)

// Changes implements storage.Changer by walking the snapshot's subvolume
// and its parent's (both full trees, as with vfs).
func (d *Driver) Changes(ctx context.Context, key string) ([]archive.Change, error) {
	i, err := d.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	lower := filepath.Join(d.home, "empty-does-not-exist")
	if i.Parent != "" {
		lower = d.dir(i.Parent)
	}
	return archive.Changes(lower, d.dir(key))
}

// ContentDir implements storage.ContentDirer: a subvolume holds the
// layer's files (with its parents').
func (d *Driver) ContentDir(ctx context.Context, key string) (string, error) {
	if _, err := d.Stat(ctx, key); err != nil {
		return "", err
	}
	return d.dir(key), nil
}

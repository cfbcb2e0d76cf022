// Package drivers picks a storage driver by name. It is apart from
// package storage because the drivers import storage's types.
package drivers

import (
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/btrfs"
	"github.com/berth-dev/berth/internal/storage/overlay2"
	"github.com/berth-dev/berth/internal/storage/vfs"
)

// Names lists the drivers berth has, the default first.
var Names = []string{overlay2.Name, vfs.Name, btrfs.Name}

// New opens driver name ("" = overlay2) under dataRoot. overlay2 fails
// with errdefs.Unavailable, naming vfs, when overlayfs cannot be used.
func New(name, dataRoot string) (storage.Driver, error) {
	switch name {
	case "", overlay2.Name:
		return overlay2.New(dataRoot)
	case vfs.Name:
		return vfs.New(dataRoot)
	case btrfs.Name:
		return btrfs.New(dataRoot)
	}
	return nil, errdefs.InvalidArgumentf("unknown storage driver %q (have %v)", name, Names)
}

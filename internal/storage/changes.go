package storage

import (
	"context"

	"github.com/berth-dev/berth/internal/archive"
)

// Changer is a driver that lists a snapshot's changes against its parent
// (docker diff): overlay2 reads its upper dir's whiteouts directly, vfs
// walks both trees.
type Changer interface {
	Changes(ctx context.Context, key string) ([]archive.Change, error)
}

// ContentDirer is a driver that can tell the directory holding a
// committed snapshot's own files (overlay2's diff dir, vfs's copy), read
// to write a layer's original tar again.
type ContentDirer interface {
	ContentDir(ctx context.Context, key string) (string, error)
}

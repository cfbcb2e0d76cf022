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

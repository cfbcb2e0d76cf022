package image

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"
)

// Layer is a read-only layer of the layer store (internal/layer).
type Layer struct {
	ChainID ChainID
	DiffID  digest.Digest
	Parent  ChainID
	Size    int64  // bytes of the layer's own files
	CacheID string // the storage driver's snapshot key
}

// Layers is what the image store needs from the layer store; layer.Store
// implements it (the interface lives here because layer imports image).
type Layers interface {
	DriverName() string
	// Register applies a layer tar on parent, holding a reference.
	Register(ctx context.Context, r io.Reader, parent ChainID) (Layer, error)
	// Get takes a reference; Release drops one, deleting layers nothing
	// holds any more and returning their chain IDs.
	Get(c ChainID) (Layer, error)
	Release(ctx context.Context, c ChainID) ([]ChainID, error)
	Lookup(c ChainID) (Layer, error)
	// ReleaseUnused deletes the layers nothing holds (once, at startup).
	ReleaseUnused(ctx context.Context) error
	LayerMetadata(ctx context.Context, c ChainID) (map[string]string, error)
}

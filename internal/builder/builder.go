package builder

import (
	"context"
	"io"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// Config wires a Builder.
type Config struct {
	Backend Backend
	Cache   Cache
	// TmpDir is where build contexts are unpacked (<data-root>/builder/tmp);
	// a build writes nowhere else.
	TmpDir string
}

// Builder runs classic builds.
type Builder struct {
	cfg Config
}

// New returns a Builder.
func New(cfg Config) *Builder { return &Builder{cfg: cfg} }

// Build builds contextTar (the POST /build body) with opts, reporting to
// out, and returns the built image's ID (tagged with opts.Tags).
func (b *Builder) Build(ctx context.Context, contextTar io.Reader, opts Options, out Output) (image.ID, error) {
	return "", errdefs.NotImplementedf("build: not implemented yet")
}

package wire

import (
	"context"
	"errors"
	"io"
	"path/filepath"

	buildrouter "github.com/berth-dev/berth/internal/apiserver/router/build"
	"github.com/berth-dev/berth/internal/builder"
	"github.com/berth-dev/berth/internal/builder/cache"
	"github.com/berth-dev/berth/internal/image"
)

// openBuildCache opens <data-root>/builder/cache.db, with the image
// store's sizes and removal for system df and builder prune.
func openBuildCache(dataRoot string, images *image.Store) (*cache.Store, error) {
	c, err := cache.Open(filepath.Join(dataRoot, "builder"))
	if err != nil {
		return nil, err
	}
	c.SetImages(cache.StoreImages(images))
	return c, nil
}

// buildBackend serves POST /build with the classic builder. The API
// layer links no builder code, so its options and step errors are
// converted here.
type buildBackend struct{ b *builder.Builder }

func (a buildBackend) Build(ctx context.Context, body io.Reader, opts buildrouter.Options, out buildrouter.Output) (string, error) {
	id, err := a.b.Build(ctx, body, builder.Options(opts), out)
	var se *builder.StepError
	if errors.As(err, &se) {
		return "", &buildrouter.StepError{Code: se.Code, Message: se.Message}
	}
	return string(id), err
}

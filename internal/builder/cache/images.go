package cache

import (
	"context"

	apiimage "github.com/moby/moby/api/types/image"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// Images is what List and Prune need of the image store.
type Images interface {
	// Size returns the bytes of id's own layer: 0 for a step that added
	// no layer (ENV, CMD, ...). errdefs.NotFound when the image is gone.
	Size(ctx context.Context, id image.ID) (int64, error)
	// Tagged reports whether id has a name (false when it is gone).
	Tagged(ctx context.Context, id image.ID) bool
	// Remove deletes id unless it is tagged or a container uses it
	// (errdefs.Conflict then). errdefs.NotFound when it is gone.
	Remove(ctx context.Context, id image.ID) error
}

// ImageStore is what StoreImages uses (*image.Store).
type ImageStore interface {
	Get(ctx context.Context, ref string) (*image.Image, error)
	Delete(ctx context.Context, ref string, force, prune bool) ([]apiimage.DeleteResponse, error)
	Layers() image.Layers
}

// StoreImages implements Images on the image store.
func StoreImages(s ImageStore) Images { return storeImages{s} }

type storeImages struct{ s ImageStore }

func (si storeImages) Size(ctx context.Context, id image.ID) (int64, error) {
	im, err := si.s.Get(ctx, string(id))
	if err != nil {
		return 0, err
	}
	h := im.Config.History
	if im.TopLayer == "" || (len(h) > 0 && h[len(h)-1].EmptyLayer) {
		return 0, nil
	}
	l, err := si.s.Layers().Lookup(im.TopLayer)
	if err != nil {
		return 0, err
	}
	return l.Size, nil
}

func (si storeImages) Tagged(ctx context.Context, id image.ID) bool {
	im, err := si.s.Get(ctx, string(id))
	return err == nil && len(im.RepoTags) > 0
}

func (si storeImages) Remove(ctx context.Context, id image.ID) error {
	im, err := si.s.Get(ctx, string(id))
	if err != nil {
		return err
	}
	if len(im.RepoTags) > 0 {
		return errdefs.Conflictf("image %s is tagged", id)
	}
	// By full ID and without force: the store refuses an image a
	// container uses (Conflict).
	_, err = si.s.Delete(ctx, string(id), false, false)
	return err
}

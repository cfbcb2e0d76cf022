package engine

import (
	"context"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/monitor"
)

// Images resolves image references (name[:tag], id, id prefix). Get fails
// with errdefs.NotFound "No such image: x". *image.Store provides it.
type Images interface {
	Get(ctx context.Context, ref string) (*image.Image, error)
}

// ImageCounter counts stored images for docker info. Optional.
type ImageCounter interface {
	Count(ctx context.Context) (int, error)
}

// Layers manages containers' writable layers, keyed by container id.
// *layer.Store provides it.
//
//   - CreateRW makes a writable layer on top of parent ("" = empty).
//   - Mount returns the mounted rootfs path; Unmount undoes it.
//   - RemoveRW deletes the layer (unmounting it if needed).
//   - Metadata is the driver name and data docker inspect's GraphDriver shows.
type Layers interface {
	CreateRW(ctx context.Context, id string, parent image.ChainID) error
	Mount(ctx context.Context, id string) (rootfs string, err error)
	Unmount(ctx context.Context, id string) error
	RemoveRW(ctx context.Context, id string) error
	Metadata(ctx context.Context, id string) (driver string, data map[string]string, err error)
}

// RWLister is optionally implemented by Layers: the containers that have
// a writable layer. Restore removes the layers no record owns.
type RWLister interface {
	RWLayers() []string
}

// RWSizer is optionally implemented by Layers: the bytes container id's
// writable layer holds (docker ps -s SizeRw, prune's SpaceReclaimed).
type RWSizer interface {
	RWSize(ctx context.Context, id string) (int64, error)
}

// Monitor is the container supervisor (monitor.Client).
type Monitor = monitor.Client

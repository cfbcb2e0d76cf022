package engine

import (
	"context"

	nettypes "github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/filters"
	"github.com/berth-dev/berth/internal/network"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/monitor"
	"github.com/berth-dev/berth/internal/storage"
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
	CreateRW(ctx context.Context, id string, parent image.ChainID, opts ...storage.Opt) error
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

// Networks is container networking (*network.Service). Optional: without
// it every container gets a namespace with loopback only.
//
//   - Resolve names a network (NotFound "network x not found").
//   - Attach makes a starting container's namespace, endpoints and
//     published ports; Detach removes them (none is fine).
//   - NetNSPath is a running container's namespace file ("" if none).
//   - Connect and Disconnect change a running container's endpoints.
type Networks interface {
	Resolve(ref string) (id, name string, err error)
	Attach(ctx context.Context, req network.AttachRequest) (network.Attached, error)
	Detach(ctx context.Context, containerID string) error
	NetNSPath(containerID string) string
	Connect(ctx context.Context, containerID, ref, hostname string, es *nettypes.EndpointSettings) (string, *nettypes.EndpointSettings, error)
	Disconnect(ctx context.Context, containerID, ref string) (string, error)

	List(ctx context.Context, f filters.Args) ([]nettypes.Inspect, error)
	Inspect(ctx context.Context, ref string) (nettypes.Inspect, error)
	Create(ctx context.Context, o network.CreateOptions) (string, error)
	Remove(ctx context.Context, ref string) error
	Prune(ctx context.Context, f filters.Args) ([]string, error)
}

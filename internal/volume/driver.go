package volume

import (
	"context"
	"time"
)

// Info is one volume as its driver knows it.
type Info struct {
	Name       string
	Driver     string
	Mountpoint string // the host directory holding the data
	CreatedAt  time.Time
	Labels     map[string]string
	Options    map[string]string // driver options as given at create
}

// Driver stores volumes. Names reach it already validated. Errors are
// classified with internal/errdefs (InvalidArgument for bad options,
// NotFound for unknown names, Conflict for an existing name) and carry no
// "create <name>:" prefix: the Service adds it.
//
//   - Create makes a volume; the options are the driver's vocabulary
//     (see the package doc for the local driver's).
//   - Mount makes the volume's data reachable at the returned host path
//     for user (a container id), mounting it if the driver needs to and
//     no other user holds it; Unmount lets go of user's hold, unmounting
//     when the last holder leaves. Both are idempotent per user.
//   - Remove deletes a volume nobody holds, with its data.
//   - Usage is the bytes the volume's data takes.
type Driver interface {
	Name() string
	Create(ctx context.Context, name string, opts, labels map[string]string) (Info, error)
	Get(ctx context.Context, name string) (Info, error)
	List(ctx context.Context) ([]Info, error)
	Remove(ctx context.Context, name string) error
	Mount(ctx context.Context, name, user string) (string, error)
	Unmount(ctx context.Context, name, user string) error
	Usage(ctx context.Context, name string) (int64, error)
}

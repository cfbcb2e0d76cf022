package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/container"
)

// withRootfs calls fn with the container's mounted root filesystem. A
// running container's mount is used as it is; a stopped one's layer is
// mounted for the call (under the container's lock, so that a start does
// not race the unmount) and unmounted after.
func (e *Engine) withRootfs(ctx context.Context, ref string, fn func(c *container.Container, rootfs string) error) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	ent.Lock()
	c := ent.Snapshot()
	if c.State.Running() {
		ent.Unlock()
		rootfs, err := e.cfg.Layers.Mount(ctx, c.ID)
		if err != nil {
			return err
		}
		return fn(c, rootfs)
	}
	defer ent.Unlock()
	rootfs, err := e.cfg.Layers.Mount(ctx, c.ID)
	if err != nil {
		return err
	}
	defer func() {
		if err := e.cfg.Layers.Unmount(context.WithoutCancel(ctx), c.ID); err != nil {
			e.log.WithError(err).WithField("container", c.ID).Warn("unmount after filesystem access")
		}
	}()
	return fn(c, rootfs)
}

// Export writes the container's filesystem as a tar (docker export).
func (e *Engine) Export(ctx context.Context, ref string, w io.Writer) error {
	return e.withRootfs(ctx, ref, func(c *container.Container, rootfs string) error {
		if err := archive.WriteTar(ctx, w, rootfs, archive.TarOptions{}); err != nil {
			return fmt.Errorf("export %s: %w", c.Name[1:], err)
		}
		return nil
	})
}

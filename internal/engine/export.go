package engine

import (
	"context"
	"fmt"
	"io"

	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/container"
)

// withRootfs calls fn with the container's mounted root filesystem. A
// running container's mount is used as it is; a stopped one's layer is
// mounted for the call (under the container's lock, so that a start does
// not race the unmount) and unmounted after.
func (e *Engine) withRootfs(ctx context.Context, ref string, fn func(c *container.Container, rootfs string) error) error {
	return e.withRootfsOpt(ctx, ref, false, fn)
}

// withFrozenRootfs is withRootfs for docker cp: a running container's
// processes are frozen (cgroup freezer, no pause event, under the
// container's lock) while its files are read or written, so that none of
// them can swap a checked directory for a symlink between the check and
// the use (the CVE-2018-15664 race; dockerd first fixed it the same way).
func (e *Engine) withFrozenRootfs(ctx context.Context, ref string, fn func(c *container.Container, rootfs string) error) error {
	return e.withRootfsOpt(ctx, ref, true, fn)
}

func (e *Engine) withRootfsOpt(ctx context.Context, ref string, freeze bool, fn func(c *container.Container, rootfs string) error) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	ent.Lock()
	c := ent.Snapshot()
	if c.State.Running() {
		if !freeze {
			ent.Unlock()
		} else {
			defer ent.Unlock()
			if c.State.Status == ctypes.StateRunning {
				cg, err := cgroups.Load(c.State.Pid)
				if err != nil {
					return e.goneOr(c.ID, err)
				}
				if err := cg.Freeze(); err != nil {
					return fmt.Errorf("freeze %s for copy: %w", c.ID, err)
				}
				defer func() { _ = cg.Thaw() }()
			}
		}
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
		// Walked chrooted: a running container's processes may swap
		// directories for symlinks out of the rootfs meanwhile.
		if err := archive.WriteTarInRoot(ctx, w, rootfs, archive.TarOptions{}); err != nil {
			return fmt.Errorf("export %s: %w", c.Name[1:], err)
		}
		e.logEvent(c, eventtypes.ActionExport, nil)
		return nil
	})
}

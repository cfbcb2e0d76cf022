package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/userns"
)

// remapIDs is the user namespace map container c runs with (empty:
// none): the one its writable layer was made with at create, which the
// layer store keeps, so that turning the daemon's --userns-remap on or
// off later leaves a container as it was created (its files are owned
// accordingly). A layer store that cannot say falls back to the daemon's
// map unless the container asked for --userns=host.
func (e *Engine) remapIDs(ctx context.Context, c *container.Container) userns.IDMap {
	if im, ok := e.cfg.Layers.(interface {
		IDMap(context.Context, string) (userns.IDMap, error)
	}); ok {
		if m, err := im.IDMap(ctx, c.ID); err == nil {
			return m
		}
	}
	if e.cfg.Remap.Empty() || c.HostConfig == nil || c.HostConfig.UsernsMode.IsHost() {
		return userns.IDMap{}
	}
	return e.cfg.Remap
}

// chownEtcFiles gives a remapped container's root its hosts, hostname and
// resolv.conf, as dockerd does, so that it may edit them.
func (e *Engine) chownEtcFiles(ctx context.Context, c *container.Container) error {
	m := e.remapIDs(ctx, c)
	if m.Empty() {
		return nil
	}
	uid, gid := m.Root()
	for _, p := range []string{c.HostsPath, c.HostnamePath, c.ResolvConfPath} {
		if p == "" {
			continue
		}
		if err := os.Lchown(p, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

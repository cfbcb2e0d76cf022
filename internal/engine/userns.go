package engine

import (
	"errors"
	"io/fs"
	"os"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/userns"
)

// remapIDs is the user namespace map of a container under a remapping
// daemon (Config.Remap), empty when the daemon does not remap or the
// container asked for --userns=host.
func (e *Engine) remapIDs(hc *ctypes.HostConfig) userns.IDMap {
	if e.cfg.Remap.Empty() || hc == nil || hc.UsernsMode.IsHost() {
		return userns.IDMap{}
	}
	return e.cfg.Remap
}

// chownEtcFiles gives a remapped container's root its hosts, hostname and
// resolv.conf, as dockerd does, so that it may edit them.
func (e *Engine) chownEtcFiles(c *container.Container) error {
	m := e.remapIDs(c.HostConfig)
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

package cgroups

import (
	"path"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// checkPath rejects cgroup paths that are empty or climb out with "..".
func checkPath(cgroupsPath string) error {
	if cgroupsPath == "" || cgroupsPath == "/" {
		return errdefs.InvalidArgumentf("cgroups path %q: must name a cgroup", cgroupsPath)
	}
	for _, part := range strings.Split(cgroupsPath, "/") {
		if part == ".." {
			return errdefs.InvalidArgumentf("cgroups path %q: must not contain \"..\"", cgroupsPath)
		}
	}
	return nil
}

// dirIn returns the directory of cgroupsPath in hierarchy h, with runc's
// cgroupfs semantics: absolute paths start at the hierarchy's root,
// relative ones at the caller's own cgroup in it. The caller's cgroup is
// taken relative to the mount's root, so a hierarchy mounted from a
// subtree (a cgroup namespace, a bind mount) still resolves inside the
// mount.
func dirIn(h *hierarchy, cgroupsPath string) string {
	if path.IsAbs(cgroupsPath) {
		return path.Join(h.Mountpoint, cgroupsPath)
	}
	return path.Join(h.Mountpoint, ownRel(h), cgroupsPath)
}

// ownRel is the caller's cgroup relative to h's mount. On the unified
// hierarchy, a caller living in the evacuation leaf (because an earlier
// berth moved it there) counts as living in the leaf's parent, so that
// restarts keep nesting containers in the same place.
func ownRel(h *hierarchy) string {
	own := h.Own
	if h.Root != "/" && h.Root != "" {
		if own == h.Root {
			own = "/"
		} else if strings.HasPrefix(own, h.Root+"/") {
			own = strings.TrimPrefix(own, h.Root)
		}
	}
	if h.v2() && path.Base(own) == evacLeaf {
		own = path.Dir(own)
	}
	return path.Clean("/" + own)
}

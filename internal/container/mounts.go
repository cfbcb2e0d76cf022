package container

import (
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// MountPoint is one of a container's mounts as resolved at create: the
// volume behind a named or anonymous mount is known (created if it was
// missing), --volumes-from is expanded, the image's VOLUMEs are included.
type MountPoint struct {
	Type        mount.Type
	Name        string // volume name
	Source      string // bind: host path; volume: its data directory
	Destination string
	Driver      string // volume driver
	Mode        string
	RW          bool
	Propagation mount.Propagation

	// Anonymous marks a volume made for this container (-v /path, image
	// VOLUME): docker rm -v and --rm remove it.
	Anonymous bool `json:",omitempty"`
	// Subpath is the part of the volume mounted (--mount volume-subpath).
	Subpath string `json:",omitempty"`
	// From is the container the mount was copied from (--volumes-from);
	// such mounts are not in HostConfig, so the engine passes them on.
	From string `json:",omitempty"`
	// NonRecursive is bind-recursive=disabled (a plain bind).
	NonRecursive bool `json:",omitempty"`
	// RecursiveRO is bind-recursive's read-only mode (ocispec.RecursiveRO).
	RecursiveRO string `json:",omitempty"`
}

// API is the mount as inspect and ps show it.
func (m MountPoint) API() ctypes.MountPoint {
	return ctypes.MountPoint{
		Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination,
		Driver: m.Driver, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation,
	}
}

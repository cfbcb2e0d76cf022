package engine

import (
	"context"
	"os"
	"path/filepath"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/image"
)

// ContainerUsage is the container side of system df.
type ContainerUsage struct {
	Containers []ctypes.Summary // every container, with SizeRw and SizeRootFs
	LogBytes   map[string]int64 // container ID -> bytes of its json-file log and rotations
	PerImage   map[image.ID]int // containers created from each image
	VolumeRefs map[string]int   // volume name -> containers mounting it
}

// DiskUsage reports what containers hold on disk (system df).
func (e *Engine) DiskUsage(ctx context.Context) (ContainerUsage, error) {
	u := ContainerUsage{LogBytes: map[string]int64{}, PerImage: map[image.ID]int{}, VolumeRefs: map[string]int{}}
	list, err := e.List(ctx, containers.ListOptions{All: true, Size: true})
	if err != nil {
		return u, err
	}
	u.Containers = list
	for _, c := range e.store.List() {
		u.PerImage[c.ImageID]++
		for _, m := range c.MountPoints() {
			if m.Type == mount.TypeVolume && m.Name != "" {
				u.VolumeRefs[m.Name]++
			}
		}
		if c.LogPath == "" {
			continue
		}
		matches, _ := filepath.Glob(c.LogPath + "*")
		for _, p := range matches {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				u.LogBytes[c.ID] += fi.Size()
			}
		}
	}
	return u, nil
}

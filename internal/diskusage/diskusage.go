// Package diskusage answers GET /system/df: images, containers, volumes
// and build cache as dockerd reports them, plus the bytes of container
// logs, which dockerd leaves out (LogsSize, a berth field the docker CLI
// ignores).
package diskusage

import (
	"context"
	"sort"
	"time"

	"github.com/moby/moby/api/types/build"
	apiimage "github.com/moby/moby/api/types/image"
	vtypes "github.com/moby/moby/api/types/volume"

	"github.com/berth-dev/berth/internal/apiserver/router/system"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/layer"
)

// Images is what df needs of the image store (*image.Store).
type Images interface {
	DiskUsage(ctx context.Context, containers map[image.ID]int) []apiimage.Summary
}

// Layers is what df and check need of the layer store (*layer.Store).
type Layers interface {
	LayersSize() int64
	Check(ctx context.Context, grace time.Duration, repair bool) (layer.CheckReport, error)
}

// Containers is what df needs of the engine.
type Containers interface {
	DiskUsage(ctx context.Context) (engine.ContainerUsage, error)
}

// Volumes is what df needs of the volume service (optional): each
// volume with its UsageData (size, containers using it).
type Volumes interface {
	DiskUsage(ctx context.Context) ([]*vtypes.Volume, error)
}

// BuildCache is what df needs of the build cache (*cache.Store).
type BuildCache interface {
	List(ctx context.Context) ([]*build.CacheRecord, error)
}

// Service computes disk usage. It embeds the system backend it extends,
// so it can be served as the system router's backend.
type Service struct {
	system.Backend
	Images     Images
	Layers     Layers
	Containers Containers
	Volumes    Volumes    // nil: no volumes
	BuildCache BuildCache // nil: no build cache
}

var (
	_ system.DiskUsager = (*Service)(nil)
	_ system.Checker    = (*Service)(nil)
)

// Check implements system.Checker (berth system check).
func (s *Service) Check(ctx context.Context, grace time.Duration, repair bool) (system.CheckReport, error) {
	r, err := s.Layers.Check(ctx, grace, repair)
	out := system.CheckReport{LayerBytes: r.LayerBytes, SnapshotBytes: r.SnapshotBytes}
	for _, p := range r.Problems {
		out.Problems = append(out.Problems, system.CheckProblem(p))
	}
	return out, err
}

// DiskUsage implements system.DiskUsager.
func (s *Service) DiskUsage(ctx context.Context, opts system.DiskUsageOptions) (system.DiskUsageReport, error) {
	var rep system.DiskUsageReport
	cu, err := s.Containers.DiskUsage(ctx)
	if err != nil {
		return rep, err
	}
	if opts.Images {
		rep.LayersSize = s.Layers.LayersSize()
		rep.Images = s.Images.DiskUsage(ctx, cu.PerImage)
	}
	if opts.Containers {
		sizes := map[string]int64{}
		for _, im := range s.Images.DiskUsage(ctx, nil) {
			sizes[im.ID] = im.Size
		}
		for i := range cu.Containers {
			c := &cu.Containers[i]
			c.SizeRootFs = c.SizeRw + sizes[c.ImageID]
		}
		rep.Containers = cu.Containers
		for _, n := range cu.LogBytes {
			rep.LogsSize += n
		}
	}
	if opts.Volumes && s.Volumes != nil {
		vols, err := s.Volumes.DiskUsage(ctx)
		if err != nil {
			return rep, err
		}
		rep.Volumes = vols
		sort.Slice(rep.Volumes, func(i, j int) bool { return rep.Volumes[i].Name < rep.Volumes[j].Name })
	}
	if opts.BuildCache && s.BuildCache != nil {
		recs, err := s.BuildCache.List(ctx)
		if err != nil {
			return rep, err
		}
		rep.BuildCache = recs
	}
	return rep, nil
}

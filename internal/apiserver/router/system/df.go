package system

import (
	"context"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/errdefs"
)

// DiskUsager serves GET /system/df. Optional: a backend without it
// answers 501.
type DiskUsager interface {
	DiskUsage(ctx context.Context, opts DiskUsageOptions) (DiskUsageReport, error)
}

// DiskUsageOptions say which object types to report (all by default).
type DiskUsageOptions struct {
	Images, Containers, Volumes, BuildCache bool
}

// DiskUsageReport is the df body API versions before 1.52 use, plus
// LogsSize: the bytes of container logs (a berth addition).
type DiskUsageReport struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []*volume.Volume
	BuildCache []*build.CacheRecord
	LogsSize   int64
}

func (s *systemRouter) diskUsage(w http.ResponseWriter, r *http.Request) error {
	du, ok := s.b.(DiskUsager)
	if !ok {
		return errdefs.NotImplementedf("system df is not implemented")
	}
	opts := DiskUsageOptions{}
	types := r.URL.Query()["type"]
	if len(types) == 0 {
		opts = DiskUsageOptions{Images: true, Containers: true, Volumes: true, BuildCache: true}
	}
	for _, t := range types {
		switch t {
		case "image":
			opts.Images = true
		case "container":
			opts.Containers = true
		case "volume":
			opts.Volumes = true
		case "build-cache":
			opts.BuildCache = true
		default:
			return errdefs.InvalidArgumentf("unknown object type: %s", t)
		}
	}
	rep, err := du.DiskUsage(r.Context(), opts)
	if err != nil {
		return err
	}
	if opts.Images && rep.Images == nil {
		rep.Images = []image.Summary{}
	}
	if opts.Containers && rep.Containers == nil {
		rep.Containers = []container.Summary{}
	}
	if opts.Volumes && rep.Volumes == nil {
		rep.Volumes = []*volume.Volume{}
	}
	if !opts.BuildCache {
		rep.BuildCache = nil
	} else if rep.BuildCache == nil {
		rep.BuildCache = []*build.CacheRecord{}
	}
	return router.WriteJSON(w, http.StatusOK, rep)
}

// Checker serves POST /system/check (a berth addition): the store is
// walked for orphans and missing content, which are removed if repair.
type Checker interface {
	Check(ctx context.Context, grace time.Duration, repair bool) (CheckReport, error)
}

// CheckProblem is one inconsistency found.
type CheckProblem struct {
	Kind     string
	Path     string
	Bytes    int64
	Repaired bool
}

// CheckReport is POST /system/check's body.
type CheckReport struct {
	Problems      []CheckProblem
	LayerBytes    int64 // what the layer store accounts for
	SnapshotBytes int64 // what the storage driver holds
}

func (s *systemRouter) check(w http.ResponseWriter, r *http.Request) error {
	c, ok := s.b.(Checker)
	if !ok {
		return errdefs.NotImplementedf("system check is not implemented")
	}
	grace := time.Minute
	if v := r.URL.Query().Get("grace"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errdefs.InvalidArgumentf("invalid grace %q: %w", v, err)
		}
		grace = d
	}
	rep, err := c.Check(r.Context(), grace, router.BoolValue(r, "repair"))
	if err != nil {
		return err
	}
	if rep.Problems == nil {
		rep.Problems = []CheckProblem{}
	}
	return router.WriteJSON(w, http.StatusOK, rep)
}

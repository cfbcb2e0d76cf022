package image

import (
	"context"
	"sort"
	"strings"
	"time"

	apiimage "github.com/moby/moby/api/types/image"

	"github.com/berth-dev/berth/internal/apiserver/router/images"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

// Prune removes unused images (docker image prune): dangling ones
// (untagged, and nothing was built from them), or with dangling=false
// every image no container uses. Filters: dangling, until, label,
// label!. Deleting an image prunes its parents that become dangling
// (a build's intermediate images go with the image built).
func (s *Store) Prune(ctx context.Context, f filters.Args) (apiimage.PruneReport, error) {
	rep := apiimage.PruneReport{ImagesDeleted: []apiimage.DeleteResponse{}}
	if err := f.Validate("dangling", "until", "label", "label!"); err != nil {
		return rep, err
	}
	danglingOnly := true
	for _, v := range f.Get("dangling") {
		switch strings.ToLower(v) {
		case "true", "1":
		case "false", "0":
			danglingOnly = false
		default:
			return rep, errdefs.InvalidArgumentf("invalid filter 'dangling=%s'", v)
		}
	}
	var until time.Time
	for _, v := range f.Get("until") {
		t, err := filters.ParseUntil(v, time.Now())
		if err != nil {
			return rep, err
		}
		until = t
	}
	s.mu.RLock()
	hook := s.inUse
	var victims []ID
	parents := s.withChildrenLocked()
	for id, rec := range s.images {
		if danglingOnly && len(s.refsLocked(id)) > 0 {
			continue
		}
		if parents[id] && len(s.refsLocked(id)) == 0 && danglingOnly {
			continue // an intermediate image of a kept one
		}
		if !until.IsZero() && !createdOf(rec).Before(until) {
			continue
		}
		if !f.MatchKVList("label", rec.config.Config.Labels) {
			continue
		}
		if f.Contains("label!") && anyLabel(f.Get("label!"), rec.config.Config.Labels) {
			continue
		}
		victims = append(victims, id)
	}
	// Children first: an image is deleted only once nothing was built
	// from it (deleting a child prunes its dangling parents).
	sort.Slice(victims, func(i, j int) bool {
		a, b := s.images[victims[i]], s.images[victims[j]]
		if ca, cb := createdOf(a), createdOf(b); !ca.Equal(cb) {
			return ca.After(cb)
		}
		return len(a.config.History) > len(b.config.History)
	})
	s.mu.RUnlock()
	for _, id := range victims {
		if hook != nil {
			if _, _, used := hook(id); used {
				continue
			}
		}
		// Reclaimed is what the deleted layers held, each counted once
		// (layers another image keeps are not deleted).
		sizes := map[string]int64{}
		s.mu.RLock()
		if rec, ok := s.images[id]; ok {
			var c ChainID
			for _, d := range rec.config.RootFS.DiffIDs {
				c = chainID(c, d)
				if l, err := s.layers.Lookup(c); err == nil {
					sizes[string(c)] = l.Size
				}
			}
		}
		s.mu.RUnlock()
		out, err := s.Delete(ctx, string(id), true, true)
		if err != nil {
			if errdefs.Is(err, errdefs.NotFound) || errdefs.Is(err, errdefs.Conflict) {
				continue
			}
			return rep, err
		}
		rep.ImagesDeleted = append(rep.ImagesDeleted, out...)
		for _, d := range out {
			rep.SpaceReclaimed += uint64(sizes[d.Deleted])
		}
	}
	return rep, nil
}

func anyLabel(fs []string, labels map[string]string) bool {
	for _, f := range fs {
		k, v, hasV := strings.Cut(f, "=")
		if got, ok := labels[k]; ok && (!hasV || got == v) {
			return true
		}
	}
	return false
}

var _ images.ArchiveBackend = (*Store)(nil)

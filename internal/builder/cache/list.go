package cache

import (
	"context"
	"sort"

	"github.com/moby/moby/api/types/build"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// List returns the cache records as `docker system df` shows them, oldest
// first. A record whose image is gone is left out. Size is the step's own
// layer; Parents is the record that made the step's parent image, if any.
// Shared (BuildKit: the layer is also an image's) marks the records that
// are not dangling: their layers stay with the tagged images whatever
// becomes of the record, so df does not count them as reclaimable.
func (s *Store) List(ctx context.Context) ([]*build.CacheRecord, error) {
	entries, err := s.all()
	if err != nil {
		return nil, err
	}
	sized := s.sizes(ctx, entries)
	byImage := recordsByImage(entries)
	dangling := s.danglingImages(ctx, entries, sized)
	out := make([]*build.CacheRecord, 0, len(entries))
	for _, e := range entries {
		size, ok := sized[e.Image]
		if !ok {
			continue
		}
		last := e.LastUsedAt
		rec := &build.CacheRecord{
			ID:          e.ID,
			Type:        "regular",
			Description: e.Description,
			Shared:      !dangling[e.Image],
			Size:        size,
			CreatedAt:   e.CreatedAt,
			LastUsedAt:  &last,
			UsageCount:  e.UsageCount,
		}
		if e.Parent != "" {
			rec.Parents = byImage[e.Parent]
		}
		out = append(out, rec)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// sizes returns the own-layer size of each record's image that still
// exists. Without Images every image counts as existing, size 0.
func (s *Store) sizes(ctx context.Context, entries []entry) map[image.ID]int64 {
	im := s.imageOps()
	out := make(map[image.ID]int64, len(entries))
	for _, e := range entries {
		if _, done := out[e.Image]; done {
			continue
		}
		if im == nil {
			out[e.Image] = 0
			continue
		}
		n, err := im.Size(ctx, e.Image)
		if errdefs.Is(err, errdefs.NotFound) {
			continue
		}
		out[e.Image] = n // another error: shown, size unknown (0)
	}
	return out
}

// recordsByImage maps each image to the IDs of the records that made it.
func recordsByImage(entries []entry) map[image.ID][]string {
	m := map[image.ID][]string{}
	for _, e := range entries {
		m[e.Image] = append(m[e.Image], e.ID)
	}
	for _, ids := range m {
		sort.Strings(ids)
	}
	return m
}

package image

import (
	"context"
	"sort"

	apiimage "github.com/moby/moby/api/types/image"
)

// DiskUsage returns image summaries with the number of containers using
// each (containers) and the bytes each shares with other images
// (SharedSize: its layers that another image also has), as system df
// shows them. Intermediate images are left out, as docker images leaves
// them out without -a; their layers still count as shared.
func (s *Store) DiskUsage(ctx context.Context, containers map[ID]int) []apiimage.Summary {
	s.mu.RLock()
	defer s.mu.RUnlock()
	users := map[ChainID]int{} // images having each layer
	chains := map[ID][]ChainID{}
	for id, rec := range s.images {
		var c ChainID
		for _, d := range rec.config.RootFS.DiffIDs {
			c = chainID(c, d)
			users[c]++
			chains[id] = append(chains[id], c)
		}
	}
	out := []apiimage.Summary{}
	withChildren := s.withChildrenLocked()
	for id, rec := range s.images {
		tags := s.tagsLocked(id)
		if withChildren[id] && len(tags) == 0 && len(s.digestsLocked(id)) == 0 {
			continue // an intermediate image, listed only by docker images -a (as dockerd)
		}
		var shared int64
		for _, c := range chains[id] {
			if users[c] > 1 {
				if l, err := s.layers.Lookup(c); err == nil {
					shared += l.Size
				}
			}
		}
		labels := rec.config.Config.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		out = append(out, apiimage.Summary{
			ID:          string(id),
			Created:     createdOf(rec).Unix(),
			Labels:      labels,
			RepoTags:    tags,
			RepoDigests: []string{},
			ParentID:    string(rec.parent),
			Size:        rec.size,
			SharedSize:  shared,
			Containers:  int64(containers[id]),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out
}

package image

import (
	"context"
	"sort"
	"time"

	"github.com/distribution/reference"
	apiimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"

	"github.com/berth-dev/berth/internal/apiserver/router/images"
	"github.com/berth-dev/berth/internal/errdefs"
)

var _ images.Backend = (*Store)(nil)

func createdOf(rec *record) time.Time {
	if rec.config.Created != nil {
		return *rec.config.Created
	}
	return time.Time{}
}

// List returns image summaries, newest first. Filters: dangling,
// label, reference, before, since. As dockerd, an image with neither tag
// nor digest that another image was committed or built from (a build's
// intermediate image) is listed only with All; dangling=true lists the
// untagged images nothing was built from.
func (s *Store) List(ctx context.Context, opts images.ListOptions) ([]apiimage.Summary, error) {
	f := opts.Filters
	if err := f.Validate("dangling", "label", "reference", "before", "since"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var before, since *record
	for _, k := range []string{"before", "since"} {
		for _, v := range f.Get(k) {
			rec, err := s.resolveLocked(v)
			if err != nil {
				return nil, err
			}
			if k == "before" {
				before = rec
			} else {
				since = rec
			}
		}
	}
	var dangling *bool
	for _, v := range f.Get("dangling") {
		switch v {
		case "true", "1":
			t := true
			dangling = &t
		case "false", "0":
			t := false
			dangling = &t
		default:
			return nil, errdefs.InvalidArgumentf("invalid filter 'dangling=%s'", v)
		}
	}
	out := []apiimage.Summary{}
	withChildren := s.withChildrenLocked()
	for _, rec := range s.images {
		tags := s.tagsLocked(rec.id)
		if dangling != nil && *dangling != (len(tags) == 0) {
			continue
		}
		digests := s.digestsLocked(rec.id)
		if withChildren[rec.id] && len(tags) == 0 && (dangling != nil || !opts.All && len(digests) == 0) {
			continue
		}
		if before != nil && !createdOf(rec).Before(createdOf(before)) {
			continue
		}
		if since != nil && !createdOf(rec).After(createdOf(since)) {
			continue
		}
		if f.Contains("label") && !f.MatchKVList("label", rec.config.Config.Labels) {
			continue
		}
		if pats := f.Get("reference"); len(pats) > 0 {
			var matched []string
			for _, t := range tags {
				named, err := reference.ParseNormalizedNamed(t)
				if err != nil {
					continue
				}
				for _, p := range pats {
					if ok, _ := reference.FamiliarMatch(p, named); ok {
						matched = append(matched, t)
						break
					}
				}
			}
			if len(matched) == 0 {
				continue
			}
			tags = matched
		}
		labels := rec.config.Config.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		out = append(out, apiimage.Summary{
			ID:          string(rec.id),
			Created:     createdOf(rec).Unix(),
			Labels:      labels,
			RepoTags:    tags,
			RepoDigests: digests,
			ParentID:    string(rec.parent),
			Size:        rec.size,
			SharedSize:  -1,
			Containers:  -1,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created > out[j].Created
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Inspect returns the image's inspect document.
func (s *Store) Inspect(ctx context.Context, ref string) (apiimage.InspectResponse, error) {
	s.mu.RLock()
	rec, err := s.resolveLocked(ref)
	if err != nil {
		s.mu.RUnlock()
		return apiimage.InspectResponse{}, err
	}
	tags := s.tagsLocked(rec.id)
	repoDigests := s.digestsLocked(rec.id)
	lastTag := rec.lastTag
	s.mu.RUnlock()

	c := rec.config
	cfg := c.Config
	resp := apiimage.InspectResponse{
		ID:           string(rec.id),
		RepoTags:     tags,
		RepoDigests:  repoDigests,
		Comment:      rec.comment,
		Author:       c.Author,
		Config:       &cfg,
		Architecture: c.Architecture,
		Variant:      c.Variant,
		Os:           c.OS,
		OsVersion:    c.OSVersion,
		Size:         rec.size,
		RootFS:       apiimage.RootFS{Type: c.RootFS.Type},
		Metadata:     apiimage.Metadata{LastTagTime: lastTag},
	}
	if c.Created != nil {
		resp.Created = c.Created.Format(time.RFC3339Nano)
	}
	for _, d := range c.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, string(d))
	}
	gd := &storage.DriverData{Name: s.layers.DriverName(), Data: map[string]string{}}
	if rec.topLayer != "" {
		if md, err := s.layers.LayerMetadata(ctx, rec.topLayer); err == nil {
			gd.Data = md
		}
	}
	resp.GraphDriver = gd
	return resp, nil
}

// History returns the image's history, newest first.
func (s *Store) History(ctx context.Context, ref string) ([]apiimage.HistoryResponseItem, error) {
	s.mu.RLock()
	rec, err := s.resolveLocked(ref)
	var tags []string
	if err == nil {
		tags = s.tagsLocked(rec.id)
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	var out []apiimage.HistoryResponseItem
	var chain ChainID
	layer := 0
	for _, h := range rec.config.History {
		item := apiimage.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layer < len(rec.config.RootFS.DiffIDs) {
			chain = chainID(chain, rec.config.RootFS.DiffIDs[layer])
			layer++
			if l, err := s.layers.Lookup(chain); err == nil {
				item.Size = l.Size
			}
		}
		out = append([]apiimage.HistoryResponseItem{item}, out...)
	}
	// Entries of the image and of the images it was committed from carry
	// their IDs and tags (dockerd walks the parent chain the same way).
	s.mu.RLock()
	for i, cur := 0, rec; i < len(out) && cur != nil; i++ {
		out[i].ID = string(cur.id)
		out[i].Tags = s.tagsLocked(cur.id)
		if cur.parent == "" {
			break
		}
		cur = s.images[cur.parent]
	}
	s.mu.RUnlock()
	if len(out) > 0 {
		out[0].Tags = tags
	}
	return out, nil
}

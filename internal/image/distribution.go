package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/distribution/reference"
	apiimage "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/errdefs"
)

// What pull and push (internal/distribution) need from the store.

// Layers is the layer store beneath the image store.
func (s *Store) Layers() Layers { return s.layers }

// CreateFromConfig stores config, a pulled image's config exactly as the
// registry served it (its digest is the image ID), on top layer top. The
// caller's reference on top passes to the image.
func (s *Store) CreateFromConfig(ctx context.Context, config []byte, top ChainID) (ID, error) {
	id := ID(digest.FromBytes(config))
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[id]; ok {
		if top != "" {
			_, _ = s.layers.Release(ctx, top)
		}
		return id, nil
	}
	rec, err := s.newRecord(id, config)
	if err == nil && rec.topLayer != top {
		err = fmt.Errorf("config's layers end in %s, not %s", rec.topLayer, top)
	}
	if err == nil {
		err = s.writeAtomic(filepath.Join(s.contentDir(), digest.Digest(id).Encoded()), config)
	}
	if err != nil {
		if top != "" {
			_, _ = s.layers.Release(ctx, top)
		}
		return "", fmt.Errorf("store image config: %w", err)
	}
	s.images[id] = rec
	return id, nil
}

// AddReference points ref, tagged (name:tag) or canonical (name@digest, a
// RepoDigest), at image id.
func (s *Store) AddReference(ctx context.Context, ref reference.Named, id ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[id]; !ok {
		return errdefs.NotFoundf("No such image: %s", id)
	}
	if old, ok := s.refs[ref.String()]; ok && old == id {
		return nil
	}
	if _, ok := ref.(reference.Digested); ok {
		s.refs[ref.String()] = id
		if err := s.saveRefsLocked(); err != nil {
			delete(s.refs, ref.String())
			return err
		}
		return nil
	}
	return s.tagLocked(ref, id)
}

// RawConfig returns image id's config bytes as stored.
func (s *Store) RawConfig(ctx context.Context, id ID) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(s.contentDir(), digest.Digest(id).Encoded()))
	if os.IsNotExist(err) {
		return nil, errdefs.NotFoundf("No such image: %s", id)
	}
	return b, err
}

// digestsLocked returns the familiar canonical references to id
// ("busybox@sha256:..."), sorted.
func (s *Store) digestsLocked(id ID) []string {
	out := []string{}
	for r, rid := range s.refs {
		if rid != id {
			continue
		}
		if named, err := reference.ParseNormalizedNamed(r); err == nil {
			if _, ok := named.(reference.Digested); ok {
				out = append(out, reference.FamiliarString(named))
			}
		}
	}
	sort.Strings(out)
	return out
}

// untagDigestsLocked drops id's RepoDigests of removed's repository once
// no tag of that repository is left on id (dockerd's rule: untagging
// busybox:latest also forgets busybox@sha256:...).
func (s *Store) untagDigestsLocked(id ID, removed reference.Named) []apiimage.DeleteResponse {
	if _, ok := removed.(reference.Digested); ok {
		return nil
	}
	refs := s.refsLocked(id)
	for _, r := range refs {
		if _, ok := r.(reference.Digested); !ok && r.Name() == removed.Name() {
			return nil
		}
	}
	var out []apiimage.DeleteResponse
	for _, r := range refs {
		if _, ok := r.(reference.Digested); ok && r.Name() == removed.Name() {
			if s.untagLocked(r) == nil {
				out = append(out, apiimage.DeleteResponse{Untagged: reference.FamiliarString(r)})
			}
		}
	}
	return out
}

// TarLayer writes layer c as an uncompressed tar (push).
func (s *Store) TarLayer(ctx context.Context, c ChainID, w io.Writer) error {
	t, ok := s.layers.(interface {
		TarLayer(ctx context.Context, c ChainID, w io.Writer) error
	})
	if !ok {
		return errdefs.NotImplementedf("tar layer: not supported by the layer store")
	}
	return t.TarLayer(ctx, c, w)
}

// TagsOf lists the tags of repository repo, sorted (docker push without
// a tag pushes them all).
func (s *Store) TagsOf(ctx context.Context, repo reference.Named) ([]reference.NamedTagged, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []reference.NamedTagged
	for r := range s.refs {
		named, err := reference.ParseNormalizedNamed(r)
		if err != nil || named.Name() != repo.Name() {
			continue
		}
		if t, ok := named.(reference.NamedTagged); ok {
			if _, dig := named.(reference.Digested); !dig {
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag() < out[j].Tag() })
	return out, nil
}

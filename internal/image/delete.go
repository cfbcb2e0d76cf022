package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	eventtypes "github.com/moby/moby/api/types/events"
	apiimage "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/errdefs"
)

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// isIDRef reports whether ref named the image by (a prefix of) its ID
// rather than by a repository reference.
func isIDRef(id ID, ref string) bool {
	return strings.HasPrefix(string(id), ref) || strings.HasPrefix(digest.Digest(id).Encoded(), ref)
}

// Delete untags or deletes the image ref names, with dockerd's rules:
// a name is untagged, and the image deleted when that was its last name;
// an ID deletes the image, untagging it if it has one name, else only
// with force. A running container's image can never
// be deleted; a stopped container's only with force.
func (s *Store) Delete(ctx context.Context, ref string, force, prune bool) ([]apiimage.DeleteResponse, error) {
	// The hook is asked without the store's lock, so that it may take the
	// engine's: an engine holding its own lock may be calling Get.
	s.mu.RLock()
	rec, err := s.resolveLocked(ref)
	hook := s.inUse
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	var u usage
	if hook != nil {
		u.id = rec.id
		u.container, u.running, u.ok = hook(rec.id)
	}
	s.mu.Lock()
	out, top, err := s.deleteLocked(ref, force, u)
	s.mu.Unlock()
	for _, r := range out {
		if r.Untagged != "" {
			s.logEvent(rec.id, string(rec.id), eventtypes.ActionUnTag)
		}
	}
	if top != "" {
		s.logEvent(rec.id, string(rec.id), eventtypes.ActionDelete)
	}
	if err != nil || top == "" {
		return out, err
	}
	// Deleting layer files can be slow: not under the store's lock.
	removed, err := s.layers.Release(ctx, top)
	for _, c := range removed {
		out = append(out, apiimage.DeleteResponse{Deleted: string(c)})
	}
	return out, err
}

// usage is what the InUse hook said about image id.
type usage struct {
	id        ID
	container string
	running   bool
	ok        bool
}

// deleteLocked does Delete's bookkeeping and returns the top layer whose
// reference the caller must release ("" if the image stays).
func (s *Store) deleteLocked(ref string, force bool, u usage) ([]apiimage.DeleteResponse, ChainID, error) {
	rec, err := s.resolveLocked(ref)
	if err != nil {
		return nil, "", err
	}
	id := rec.id
	if u.id != "" && u.id != id {
		return nil, "", errdefs.Conflictf("conflict: %s was retagged while being deleted; try again", ref)
	}
	inUse := func() (string, bool, bool) { return u.container, u.running, u.ok }
	var out []apiimage.DeleteResponse
	refs := s.refsLocked(id)

	if !isIDRef(id, ref) {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, "", errdefs.With(errdefs.InvalidArgument, err)
		}
		named = reference.TagNameOnly(named)
		if !force && len(refs) == 1 {
			if cid, _, ok := inUse(); ok {
				return nil, "", errdefs.Conflictf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					ref, shortID(cid), shortID(string(id)))
			}
		}
		if err := s.untagLocked(named); err != nil {
			return nil, "", err
		}
		out = append(out, apiimage.DeleteResponse{Untagged: reference.FamiliarString(named)})
		out = append(out, s.untagDigestsLocked(id, named)...)
		if len(s.refsLocked(id)) > 0 {
			return out, "", nil
		}
	} else {
		if cid, running, ok := inUse(); ok && running {
			return nil, "", errdefs.Conflictf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", shortID(string(id)), shortID(cid))
		}
		if len(refs) > 1 && !force {
			return nil, "", errdefs.Conflictf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(string(id)))
		}
		if !force {
			if cid, _, ok := inUse(); ok {
				return nil, "", errdefs.Conflictf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", shortID(string(id)), shortID(cid))
			}
		}
	}
	// The image itself goes.
	if cid, running, ok := inUse(); ok {
		if running {
			return out, "", errdefs.Conflictf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", shortID(string(id)), shortID(cid))
		}
		if !force {
			// Untagged above; the stopped container keeps the image.
			return out, "", nil
		}
	}
	for _, r := range s.refsLocked(id) {
		if err := s.untagLocked(r); err != nil {
			return out, "", err
		}
		out = append(out, apiimage.DeleteResponse{Untagged: reference.FamiliarString(r)})
	}
	if err := os.Remove(filepath.Join(s.contentDir(), digest.Digest(id).Encoded())); err != nil && !os.IsNotExist(err) {
		return out, "", err
	}
	_ = os.RemoveAll(s.metadataDir(id))
	delete(s.images, id)
	out = append(out, apiimage.DeleteResponse{Deleted: string(id)})
	return out, rec.topLayer, nil
}

func (s *Store) untagLocked(named reference.Named) error {
	k := named.String()
	id, ok := s.refs[k]
	if !ok {
		return errdefs.NotFoundf("No such image: %s", reference.FamiliarString(named))
	}
	delete(s.refs, k)
	if err := s.saveRefsLocked(); err != nil {
		s.refs[k] = id
		return err
	}
	return nil
}

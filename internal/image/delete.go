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
// be deleted; a stopped container's only with force. An image others were
// committed or built from is never deleted: by ID that is a conflict, by
// its last name it stays untagged (an intermediate image). With prune, the
// deleted image's parents that are now dangling (untagged, no other
// child, no container) go too, as dockerd removes a build's
// intermediate images with the image built.
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
	parent := ID("")
	if top != "" {
		parent = rec.parent
	}
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
	if err != nil || !prune {
		return out, err
	}
	return s.pruneParents(ctx, parent, hook, out)
}

// pruneParents deletes id and its ancestors while each is dangling and
// no container uses it; it stops quietly at the first that is not.
func (s *Store) pruneParents(ctx context.Context, id ID, hook InUseFunc, out []apiimage.DeleteResponse) ([]apiimage.DeleteResponse, error) {
	for id != "" {
		parent, deleted, err := s.deleteDangling(ctx, id, hook, &out)
		if err != nil || !deleted {
			return out, err
		}
		id = parent
	}
	return out, nil
}

// DeleteDangling deletes image id if it is dangling (no tag, no digest,
// no child image) and no container uses it; otherwise, or if it is gone,
// it does nothing. A failed build removes the images it made with it.
func (s *Store) DeleteDangling(ctx context.Context, id ID) error {
	s.mu.RLock()
	hook := s.inUse
	s.mu.RUnlock()
	_, _, err := s.deleteDangling(ctx, id, hook, nil)
	return err
}

// deleteDangling is one step of pruneParents: it returns id's parent and
// whether id was deleted, appending what went to out (if not nil).
func (s *Store) deleteDangling(ctx context.Context, id ID, hook InUseFunc, out *[]apiimage.DeleteResponse) (ID, bool, error) {
	if hook != nil {
		if _, _, used := hook(id); used {
			return "", false, nil
		}
	}
	s.mu.Lock()
	rec, ok := s.images[id]
	if !ok || len(s.refsLocked(id)) > 0 || s.hasChildLocked(id) {
		s.mu.Unlock()
		return "", false, nil
	}
	err := s.removeLocked(rec)
	s.mu.Unlock()
	if err != nil {
		return "", false, err
	}
	s.logEvent(id, string(id), eventtypes.ActionDelete)
	var removed []ChainID
	if rec.topLayer != "" {
		removed, err = s.layers.Release(ctx, rec.topLayer)
	}
	if out != nil {
		*out = append(*out, apiimage.DeleteResponse{Deleted: string(id)})
		for _, c := range removed {
			*out = append(*out, apiimage.DeleteResponse{Deleted: string(c)})
		}
	}
	return rec.parent, true, err
}

// removeLocked deletes an untagged image's config and metadata; the
// caller releases its top layer.
func (s *Store) removeLocked(rec *record) error {
	if err := os.Remove(filepath.Join(s.contentDir(), digest.Digest(rec.id).Encoded())); err != nil && !os.IsNotExist(err) {
		return err
	}
	_ = os.RemoveAll(s.metadataDir(rec.id))
	delete(s.images, rec.id)
	return nil
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
		if len(s.refsLocked(id)) > 0 || s.hasChildLocked(id) {
			return out, "", nil
		}
	} else {
		if s.hasChildLocked(id) {
			return nil, "", errdefs.Conflictf("conflict: unable to delete %s (cannot be forced) - image has dependent child images", shortID(string(id)))
		}
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
	if err := s.removeLocked(rec); err != nil {
		return out, "", err
	}
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

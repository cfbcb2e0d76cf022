package layer

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/storage"
)

// load reads layerdb, drops broken entries and removes what is not
// referenced: temp dirs, snapshots without an entry.
func (s *Store) load(ctx context.Context) error {
	tmps, _ := filepath.Glob(filepath.Join(s.tmp, "layer-*"))
	for _, t := range tmps {
		if err := os.RemoveAll(t); err != nil {
			return err
		}
	}
	snaps := map[string]storage.Info{}
	if err := s.driver.Walk(ctx, func(_ context.Context, i storage.Info) error {
		snaps[i.Key] = i
		return nil
	}); err != nil {
		return err
	}

	ents, err := os.ReadDir(filepath.Join(s.root, "sha256"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		dir := filepath.Join(s.root, "sha256", e.Name())
		l, err := readLayer(dir, e.Name())
		if err != nil {
			if err := os.RemoveAll(dir); err != nil { // half-written by hand or damaged
				return err
			}
			continue
		}
		if i, ok := snaps[l.CacheID]; !ok || i.Kind != storage.KindCommitted {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			continue
		}
		s.layers[l.ChainID] = &entry{Layer: l}
	}
	// A layer whose parent is gone is unusable, and so are its children.
	for changed := true; changed; {
		changed = false
		for c, e := range s.layers {
			if e.Parent == "" {
				continue
			}
			if _, ok := s.layers[e.Parent]; !ok {
				delete(s.layers, c)
				if err := os.RemoveAll(s.layerDir(c)); err != nil {
					return err
				}
				changed = true
			}
		}
	}
	for _, e := range s.layers {
		if e.Parent != "" {
			s.layers[e.Parent].refs++
		}
	}

	ments, err := os.ReadDir(filepath.Join(s.root, "mounts"))
	if err != nil {
		return err
	}
	for _, e := range ments {
		dir := filepath.Join(s.root, "mounts", e.Name())
		mountID, err := readString(dir, "mount-id")
		parent, perr := readString(dir, "parent")
		if perr != nil && !os.IsNotExist(perr) {
			err = perr
		}
		_, snapOK := snaps[mountID]
		pe, parentOK := s.layers[image.ChainID(parent)]
		if err != nil || !snapOK || (parent != "" && !parentOK) {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			continue
		}
		if parent != "" {
			pe.refs++
		}
		s.rws[e.Name()] = &rwLayer{id: e.Name(), mountID: mountID, parent: image.ChainID(parent)}
	}

	// Snapshots nothing names are orphans of an interrupted register,
	// create or delete. Remove them children first.
	used := map[string]bool{}
	for _, e := range s.layers {
		used[e.CacheID] = true
	}
	for _, rw := range s.rws {
		used[rw.mountID] = true
	}
	for removed := true; removed; {
		removed = false
		hasChild := map[string]bool{}
		for _, i := range snaps {
			hasChild[i.Parent] = true
		}
		for k := range snaps {
			if used[k] || hasChild[k] {
				continue
			}
			if mp, ok := s.driver.(storage.Mountpointer); ok {
				_ = storage.Unmount(mp.Mountpoint(k))
			}
			if err := s.driver.Remove(ctx, k); err != nil {
				return err
			}
			delete(snaps, k)
			removed = true
		}
	}
	return nil
}

func readLayer(dir, hex string) (Layer, error) {
	l := Layer{ChainID: image.ChainID(digest.NewDigestFromEncoded(digest.SHA256, hex))}
	if err := digest.Digest(l.ChainID).Validate(); err != nil {
		return l, err
	}
	diff, err := readString(dir, "diff")
	if err != nil {
		return l, err
	}
	l.DiffID = digest.Digest(diff)
	if err := l.DiffID.Validate(); err != nil {
		return l, err
	}
	size, err := readString(dir, "size")
	if err != nil {
		return l, err
	}
	if l.Size, err = strconv.ParseInt(size, 10, 64); err != nil {
		return l, err
	}
	if l.CacheID, err = readString(dir, "cache-id"); err != nil {
		return l, err
	}
	parent, err := readString(dir, "parent")
	if err != nil && !os.IsNotExist(err) {
		return l, err
	}
	l.Parent = image.ChainID(strings.TrimSpace(parent))
	return l, nil
}

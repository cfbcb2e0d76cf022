package layer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/sys/mountinfo"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/userns"
)

// CreateRW creates container id's writable layer on top of parent ("" =
// scratch). It is volatile (see storage.WithVolatile); opts add to that
// (storage.WithIDMap for a userns-remapped container).
func (s *Store) CreateRW(ctx context.Context, id string, parent image.ChainID, opts ...storage.Opt) (retErr error) {
	if err := storage.ValidateKey(id); err != nil {
		return err
	}
	s.mu.Lock()
	if _, ok := s.rws[id]; ok {
		s.mu.Unlock()
		return errdefs.Conflictf("writable layer for %s already exists", id)
	}
	rw := &rwLayer{id: id, mountID: newID(), parent: parent}
	rw.mu.Lock() // nobody mounts it before it exists on disk
	defer rw.mu.Unlock()
	s.rws[id] = rw
	var parentKey string
	if parent != "" {
		e, ok := s.layers[parent]
		if !ok {
			rw.removed = true
			delete(s.rws, id)
			s.mu.Unlock()
			return errdefs.NotFoundf("create writable layer: layer %s not found", parent)
		}
		e.refs++
		parentKey = e.CacheID
	}
	s.mu.Unlock()
	defer func() {
		if retErr != nil {
			rw.removed = true // for a Mount that waited on rw.mu
			s.mu.Lock()
			delete(s.rws, id)
			s.mu.Unlock()
			if parent != "" {
				_, _ = s.Release(context.WithoutCancel(ctx), parent)
			}
		}
	}()

	if _, err := s.driver.Prepare(ctx, rw.mountID, parentKey, append([]storage.Opt{storage.WithVolatile()}, opts...)...); err != nil {
		return fmt.Errorf("create writable layer: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = s.driver.Remove(context.WithoutCancel(ctx), rw.mountID)
		}
	}()
	tmp, err := os.MkdirTemp(s.tmp, "layer-")
	if err != nil {
		return err
	}
	files := map[string]string{"mount-id": rw.mountID}
	if parent != "" {
		files["parent"] = string(parent)
	}
	// Not fsynced: the layer is volatile (lost with a host crash anyway),
	// and container create should not wait on the disk.
	if err := writeFiles(tmp, files, false); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("create writable layer: %w", err)
	}
	if err := os.Rename(tmp, s.mountDir(id)); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("create writable layer: %w", err)
	}
	return nil
}

func (s *Store) mountDir(id string) string { return filepath.Join(s.root, "mounts", id) }

func (s *Store) rw(id string) (*rwLayer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rw, ok := s.rws[id]
	if !ok {
		return nil, errdefs.NotFoundf("writable layer for %s not found", id)
	}
	return rw, nil
}

func (s *Store) mountpoint(key string) string {
	if mp, ok := s.driver.(storage.Mountpointer); ok {
		return mp.Mountpoint(key)
	}
	return filepath.Join(s.root, "mounts", key, "rootfs")
}

// Mount mounts container id's writable layer (idempotent) and returns the
// rootfs path.
func (s *Store) Mount(ctx context.Context, id string) (string, error) {
	rw, err := s.rw(id)
	if err != nil {
		return "", err
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.removed {
		return "", errdefs.NotFoundf("writable layer for %s not found", id)
	}
	target := s.mountpoint(rw.mountID)
	// Checked every time: after a daemon restart the layer may still be
	// mounted for a running container.
	if mounted, err := mountinfo.Mounted(target); err == nil && mounted {
		return target, nil
	}
	ms, err := s.driver.Mounts(ctx, rw.mountID)
	if err != nil {
		return "", fmt.Errorf("mount writable layer of %s: %w", id, err)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return "", err
	}
	if err := storage.MountAll(ms, target); err != nil {
		return "", fmt.Errorf("mount writable layer of %s: %w", id, err)
	}
	return target, nil
}

// Unmount unmounts container id's writable layer; idempotent.
func (s *Store) Unmount(ctx context.Context, id string) error {
	rw, err := s.rw(id)
	if err != nil {
		if errdefs.Is(err, errdefs.NotFound) {
			return nil
		}
		return err
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return storage.Unmount(s.mountpoint(rw.mountID))
}

// RemoveRW unmounts (if needed) and deletes container id's writable
// layer; idempotent.
func (s *Store) RemoveRW(ctx context.Context, id string) error {
	rw, err := s.rw(id)
	if err != nil {
		if errdefs.Is(err, errdefs.NotFound) {
			return nil
		}
		return err
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.removed {
		return nil
	}
	if err := storage.Unmount(s.mountpoint(rw.mountID)); err != nil {
		return fmt.Errorf("remove writable layer of %s: %w", id, err)
	}
	// The record goes first: a crash after it leaves an orphan snapshot,
	// which the next open removes.
	if err := removeDir(s.tmp, s.mountDir(id)); err != nil {
		return fmt.Errorf("remove writable layer of %s: %w", id, err)
	}
	rw.removed = true
	s.mu.Lock()
	delete(s.rws, id)
	s.mu.Unlock()
	if err := s.driver.Remove(ctx, rw.mountID); err != nil && !errdefs.Is(err, errdefs.NotFound) {
		return fmt.Errorf("remove writable layer of %s: %w", id, err)
	}
	if rw.parent != "" {
		_, err := s.Release(ctx, rw.parent)
		return err
	}
	return nil
}

// IDMap returns the user namespace map container id's writable layer was
// created with (storage.WithIDMap; empty: none, or a driver that cannot
// remap).
func (s *Store) IDMap(ctx context.Context, id string) (userns.IDMap, error) {
	rw, err := s.rw(id)
	if err != nil {
		return userns.IDMap{}, err
	}
	im, ok := s.driver.(storage.IDMapper)
	if !ok {
		return userns.IDMap{}, nil
	}
	return im.IDMap(ctx, rw.mountID)
}

// Metadata returns the driver's name and GraphDriver data of container
// id's writable layer (overlay2: LowerDir, UpperDir, MergedDir, WorkDir).
func (s *Store) Metadata(ctx context.Context, id string) (string, map[string]string, error) {
	rw, err := s.rw(id)
	if err != nil {
		return "", nil, err
	}
	data := map[string]string{}
	if md, ok := s.driver.(storage.Metadataer); ok {
		if data, err = md.Metadata(ctx, rw.mountID); err != nil {
			return "", nil, err
		}
	}
	return s.driver.Name(), data, nil
}

// RWLayers lists the containers that have a writable layer.
func (s *Store) RWLayers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.rws))
	for id := range s.rws {
		ids = append(ids, id)
	}
	return ids
}

// DiffRW writes container id's changes (its writable layer against the
// image) as an uncompressed OCI layer tar: docker commit's new layer.
func (s *Store) DiffRW(ctx context.Context, id string, w io.Writer) error {
	rw, err := s.rw(id)
	if err != nil {
		return err
	}
	df, ok := s.driver.(storage.Differ)
	if !ok {
		return errdefs.NotImplementedf("diff: storage driver %s cannot diff", s.driver.Name())
	}
	return df.Diff(ctx, rw.mountID, w)
}

// Package layer is the layer store: read-only layers keyed by chain ID,
// shared by every image that has them and removed when nothing uses them,
// and containers' writable layers on top of them. Contents live in a
// storage.Driver; this package keeps what dockerd's layerdb keeps.
//
// On disk (dockerd's layout):
//
//	<data-root>/image/<driver>/layerdb/
//	  sha256/<chain-id-hex>/
//	    diff        the layer's diff ID ("sha256:...")
//	    size        bytes of the layer's own files (decimal)
//	    parent      the parent's chain ID (absent for a base layer)
//	    cache-id    the driver's snapshot key
//	    tar-split.gz  the registered tar minus file contents (archive.Split):
//	                TarLayer writes the same bytes again (save, push)
//	  mounts/<container-id>/
//	    mount-id    the driver's key of the writable snapshot
//	    parent      chain ID it sits on (absent for scratch)
//	<data-root>/tmp/layer-*    entries being written
//
// An entry appears by renaming a complete directory into place, after its
// snapshot was committed (and, for a read-only layer, after a syncfs of
// its files and an fsync of the entry): a crash leaves at worst a snapshot
// no entry names, or a temp dir. NewStore removes both, and drops entries
// whose snapshot or parent is missing. Writable layers' records are not
// fsynced: their layers are volatile (see storage.WithVolatile) and do not
// outlive a host crash intact anyway.
//
// Reference counts are kept in memory: a layer is held by each child
// layer, each writable layer on it, and each Register/Get not yet
// Released (the image store takes one per image when it opens, then calls
// ReleaseUnused). A layer whose count drops to zero is deleted.
package layer

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/storage"
)

// Layer is a read-only layer.
type Layer = image.Layer

var _ image.Layers = (*Store)(nil)

type entry struct {
	Layer
	refs int
}

type rwLayer struct {
	mu      sync.Mutex // serializes mount/unmount/remove of this layer
	id      string
	mountID string
	parent  image.ChainID
	removed bool
}

// Store is the layer store.
type Store struct {
	root   string // <data-root>/image/<driver>/layerdb
	tmp    string
	driver storage.Driver

	mu     sync.Mutex
	layers map[image.ChainID]*entry
	rws    map[string]*rwLayer
}

// NewStore opens the layer store of driver under dataRoot, cleaning up
// what an interrupted daemon left.
func NewStore(dataRoot string, driver storage.Driver) (*Store, error) {
	s := &Store{
		root:   filepath.Join(dataRoot, "image", driver.Name(), "layerdb"),
		tmp:    filepath.Join(dataRoot, "tmp"),
		driver: driver,
		layers: map[image.ChainID]*entry{},
		rws:    map[string]*rwLayer{},
	}
	for _, d := range []string{filepath.Join(s.root, "sha256"), filepath.Join(s.root, "mounts"), s.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := s.load(context.Background()); err != nil {
		return nil, fmt.Errorf("open layer store: %w", err)
	}
	return s, nil
}

// DriverName is the storage driver's name.
func (s *Store) DriverName() string { return s.driver.Name() }

// ChainIDOf computes a chain ID (OCI image spec): the diff ID of a base
// layer, else sha256 of "<parent chain ID> <diff ID>".
func ChainIDOf(parent image.ChainID, diffID digest.Digest) image.ChainID {
	if parent == "" {
		return image.ChainID(diffID)
	}
	return image.ChainID(digest.FromString(string(parent) + " " + string(diffID)))
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Store) layerDir(c image.ChainID) string {
	return filepath.Join(s.root, "sha256", digest.Digest(c).Encoded())
}

// Register applies a layer tar (plain or gzip) on top of parent ("" =
// none) and returns the layer, holding one reference for the caller. A
// layer whose chain ID is already stored is not stored twice.
func (s *Store) Register(ctx context.Context, r io.Reader, parent image.ChainID) (_ Layer, retErr error) {
	var parentKey string
	if parent != "" {
		p, err := s.Get(parent) // held by the new layer, or released below
		if err != nil {
			return Layer{}, err
		}
		parentKey = p.CacheID
		defer func() {
			if retErr != nil {
				_, _ = s.Release(context.WithoutCancel(ctx), parent)
			}
		}()
	}
	differ, ok := s.driver.(storage.Applier)
	if !ok {
		return Layer{}, errdefs.NotImplementedf("register layer: storage driver %s cannot apply layers", s.driver.Name())
	}
	key := newID()
	if _, err := s.driver.Prepare(ctx, key, parentKey); err != nil {
		return Layer{}, fmt.Errorf("register layer: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = s.driver.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	dir, overlay, err := differ.UpperDir(ctx, key)
	if err != nil {
		return Layer{}, err
	}
	wf := archive.WhiteoutDelete
	if overlay {
		wf = archive.WhiteoutOverlay
	}
	var split bytes.Buffer
	zw := gzip.NewWriter(&split)
	sp := archive.NewSplit(zw)
	res, err := archive.Apply(ctx, dir, r, archive.Options{Whiteouts: wf, Split: sp, Durable: true})
	if err != nil {
		return Layer{}, err
	}
	if err := sp.Flush(); err != nil {
		return Layer{}, err
	}
	if err := zw.Close(); err != nil {
		return Layer{}, err
	}
	// The layer's files must be on disk before an entry names them, or a
	// host crash could leave a listed layer with empty files. One syncfs
	// is far cheaper than an fsync per file.
	if err := syncFS(dir); err != nil {
		return Layer{}, fmt.Errorf("register layer: %w", err)
	}
	if err := s.driver.Commit(ctx, key, key); err != nil {
		return Layer{}, fmt.Errorf("register layer: %w", err)
	}
	l := Layer{ChainID: ChainIDOf(parent, res.DiffID), DiffID: res.DiffID, Parent: parent, Size: res.Size, CacheID: key}

	s.mu.Lock()
	if e, ok := s.layers[l.ChainID]; ok {
		e.refs++
		existing := e.Layer
		s.mu.Unlock()
		if parent != "" {
			_, _ = s.Release(ctx, parent) // the existing layer holds its own
		}
		return existing, nil
	}
	err = s.writeLayer(l, map[string]string{tarSplitFile: split.String()})
	if err == nil {
		keep = true
		s.layers[l.ChainID] = &entry{Layer: l, refs: 1}
	}
	s.mu.Unlock()
	if err != nil {
		return Layer{}, fmt.Errorf("register layer: %w", err)
	}
	return l, nil
}

// writeLayer writes l's layerdb entry through a temp dir and a rename.
func (s *Store) writeLayer(l Layer, extra map[string]string) error {
	tmp, err := os.MkdirTemp(s.tmp, "layer-")
	if err != nil {
		return err
	}
	files := map[string]string{
		"diff":     string(l.DiffID),
		"size":     strconv.FormatInt(l.Size, 10),
		"cache-id": l.CacheID,
	}
	if l.Parent != "" {
		files["parent"] = string(l.Parent)
	}
	maps.Copy(files, extra)
	if err := writeFiles(tmp, files, true); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, s.layerDir(l.ChainID)); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	return storage.SyncDir(filepath.Join(s.root, "sha256"))
}

// writeFiles writes small files into a new dir, fsynced if sync.
func writeFiles(dir string, files map[string]string, sync bool) error {
	for name, v := range files {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = f.WriteString(v)
		if err == nil && sync {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if !sync {
		return nil
	}
	return storage.SyncDir(dir)
}

// Get returns a layer and takes a reference on it.
func (s *Store) Get(c image.ChainID) (Layer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.layers[c]
	if !ok {
		return Layer{}, errdefs.NotFoundf("layer %s not found", c)
	}
	e.refs++
	return e.Layer, nil
}

// Lookup returns a layer without taking a reference.
func (s *Store) Lookup(c image.ChainID) (Layer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.layers[c]
	if !ok {
		return Layer{}, errdefs.NotFoundf("layer %s not found", c)
	}
	return e.Layer, nil
}

// Release drops a reference; a layer nothing holds is deleted, and its
// parent released in turn. It returns the deleted layers' chain IDs.
func (s *Store) Release(ctx context.Context, c image.ChainID) ([]image.ChainID, error) {
	var removed []image.ChainID
	for c != "" {
		s.mu.Lock()
		e, ok := s.layers[c]
		if !ok {
			s.mu.Unlock()
			return removed, errdefs.NotFoundf("layer %s not found", c)
		}
		e.refs--
		if e.refs > 0 {
			s.mu.Unlock()
			return removed, nil
		}
		delete(s.layers, c)
		err := s.deleteEntryLocked(e.Layer)
		s.mu.Unlock()
		if err == nil {
			err = s.deleteSnapshot(ctx, e.Layer)
		}
		if err != nil {
			return removed, err
		}
		removed = append(removed, c)
		c = e.Parent
	}
	return removed, nil
}

// ReleaseUnused deletes every layer nothing holds. The image store calls
// it once after taking its references at startup.
func (s *Store) ReleaseUnused(ctx context.Context) error {
	for {
		s.mu.Lock()
		var victim *entry
		var err error
		for c, e := range s.layers {
			if e.refs <= 0 {
				victim = e
				delete(s.layers, c)
				err = s.deleteEntryLocked(e.Layer)
				break
			}
		}
		s.mu.Unlock()
		if victim == nil {
			return nil
		}
		if err == nil {
			err = s.deleteSnapshot(ctx, victim.Layer)
		}
		if err != nil {
			return err
		}
		if victim.Parent != "" {
			if _, err := s.Release(ctx, victim.Parent); err != nil && !errdefs.Is(err, errdefs.NotFound) {
				return err
			}
		}
	}
}

// A layer is deleted entry first (atomically, by rename, under s.mu so
// that a concurrent Register of the same chain ID cannot interleave), then
// its snapshot: a crash in between leaves an orphan snapshot, cleaned on
// open.
func (s *Store) deleteEntryLocked(l Layer) error {
	if err := removeDir(s.tmp, s.layerDir(l.ChainID)); err != nil {
		return fmt.Errorf("delete layer %s: %w", l.ChainID, err)
	}
	return nil
}

func (s *Store) deleteSnapshot(ctx context.Context, l Layer) error {
	if err := s.driver.Remove(ctx, l.CacheID); err != nil && !errdefs.Is(err, errdefs.NotFound) {
		return fmt.Errorf("delete layer %s: %w", l.ChainID, err)
	}
	return nil
}

// removeDir makes dir disappear by renaming it into tmp, then deletes it.
func removeDir(tmp, dir string) error {
	gone, err := os.MkdirTemp(tmp, "layer-rm-")
	if err != nil {
		return err
	}
	if err := os.Rename(dir, filepath.Join(gone, "x")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = os.Remove(gone)
		return err
	}
	return os.RemoveAll(gone)
}

// Layers lists the stored layers.
func (s *Store) Layers() []Layer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Layer, 0, len(s.layers))
	for _, e := range s.layers {
		out = append(out, e.Layer)
	}
	return out
}

// LayerMetadata returns the GraphDriver data of a read-only layer.
func (s *Store) LayerMetadata(ctx context.Context, c image.ChainID) (map[string]string, error) {
	l, err := s.Lookup(c)
	if err != nil {
		return nil, err
	}
	if md, ok := s.driver.(storage.Metadataer); ok {
		return md.Metadata(ctx, l.CacheID)
	}
	return map[string]string{}, nil
}

func readString(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return strings.TrimSpace(string(b)), err
}

func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

// TarLayer writes a read-only layer as an uncompressed OCI layer tar
// (docker save, push). Its digest is the layer's diff ID only if the
// layer was created from this same writer's output.
func (s *Store) TarLayer(ctx context.Context, c image.ChainID, w io.Writer) error {
	l, err := s.Lookup(c)
	if err != nil {
		return err
	}
	if ok, err := s.tarFromSplit(ctx, l, w); ok || err != nil {
		return err
	}
	df, ok := s.driver.(storage.Differ)
	if !ok {
		return errdefs.NotImplementedf("tar layer: storage driver %s cannot diff", s.driver.Name())
	}
	return df.Diff(ctx, l.CacheID, w)
}

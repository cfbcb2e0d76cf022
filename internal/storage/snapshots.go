package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Meta is what a driver records of a snapshot. On disk it is the JSON
// every driver writes, byte for byte as before this type existed:
//
//	{"parent":"<key>","kind":"active|view|committed","created":...,"volatile":true,
//	 "uidmap":"0:100000:65536","gidmap":"0:100000:65536"}
//
// (parent absent for a base, volatile only for overlay2's volatile layers,
// the maps only for the writable layer of a userns-remapped container; see
// Opts.IDMap).
type Meta struct {
	Parent   string
	Kind     Kind
	Created  time.Time
	Volatile bool
	// UIDMap and GIDMap are userns.FormatRanges forms ("" = none).
	UIDMap, GIDMap string
}

// metaJSON is Meta's on-disk form; its field order is the file's.
type metaJSON struct {
	Parent   string    `json:"parent,omitempty"`
	Kind     string    `json:"kind"`
	Created  time.Time `json:"created"`
	Volatile bool      `json:"volatile,omitempty"`
	UIDMap   string    `json:"uidmap,omitempty"`
	GIDMap   string    `json:"gidmap,omitempty"`
}

// Marshal encodes m as its meta file holds it.
func (m Meta) Marshal() ([]byte, error) {
	return json.Marshal(metaJSON{Parent: m.Parent, Kind: m.Kind.String(), Created: m.Created, Volatile: m.Volatile,
		UIDMap: m.UIDMap, GIDMap: m.GIDMap})
}

// ParseMeta decodes a meta file. A JSON error is returned as encoding/json
// made it (a driver may tell a torn file by *json.SyntaxError); an unknown
// kind is an error too.
func ParseMeta(b []byte) (Meta, error) {
	var j metaJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Meta{}, err
	}
	m := Meta{Parent: j.Parent, Created: j.Created, Volatile: j.Volatile, UIDMap: j.UIDMap, GIDMap: j.GIDMap}
	switch j.Kind {
	case "active":
		m.Kind = KindActive
	case "view":
		m.Kind = KindView
	case "committed":
		m.Kind = KindCommitted
	default:
		return Meta{}, fmt.Errorf("unknown snapshot kind %q", j.Kind)
	}
	return m, nil
}

// WriteMetaFile writes m to path atomically (see WriteFileAtomic).
func WriteMetaFile(path string, m Meta) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, b, 0o600)
}

// Snapshots is a driver's in-memory table of its snapshots by key, with
// the checks every driver makes against it and their errors. It has no
// lock of its own: the driver holds its mutex across a check and the disk
// work the check allows. The zero value is an empty table.
type Snapshots struct {
	m map[string]Meta
}

// Get returns key's meta, NotFound if there is no such snapshot.
func (s *Snapshots) Get(key string) (Meta, error) {
	m, ok := s.m[key]
	if !ok {
		return Meta{}, errdefs.NotFoundf("snapshot %s not found", key)
	}
	return m, nil
}

// Has reports whether key is a snapshot.
func (s *Snapshots) Has(key string) bool {
	_, ok := s.m[key]
	return ok
}

// Put records key with meta m, replacing what was there.
func (s *Snapshots) Put(key string, m Meta) {
	if s.m == nil {
		s.m = map[string]Meta{}
	}
	s.m[key] = m
}

// Delete forgets key.
func (s *Snapshots) Delete(key string) { delete(s.m, key) }

// Stat returns key's Info, NotFound if there is no such snapshot.
func (s *Snapshots) Stat(key string) (Info, error) {
	m, err := s.Get(key)
	if err != nil {
		return Info{}, err
	}
	return m.info(key), nil
}

func (m Meta) info(key string) Info {
	return Info{Key: key, Parent: m.Parent, Kind: m.Kind, Created: m.Created}
}

// Walk calls fn for every snapshot, holding l only while it copies the
// table, so that fn may call back into the driver.
func (s *Snapshots) Walk(ctx context.Context, l sync.Locker, fn func(context.Context, Info) error) error {
	l.Lock()
	infos := make([]Info, 0, len(s.m))
	for k, m := range s.m {
		infos = append(infos, m.info(k))
	}
	l.Unlock()
	for _, i := range infos {
		if err := fn(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// CheckCreate checks that key may be created on parent: key is free
// (else Conflict) and parent is "" or a committed snapshot (else NotFound
// or Conflict).
func (s *Snapshots) CheckCreate(key, parent string) error {
	if s.Has(key) {
		return errdefs.Conflictf("snapshot %s already exists", key)
	}
	if parent == "" {
		return nil
	}
	pm, ok := s.m[parent]
	if !ok {
		return errdefs.NotFoundf("parent snapshot %s not found", parent)
	}
	if pm.Kind != KindCommitted {
		return errdefs.Conflictf("parent snapshot %s is not committed", parent)
	}
	return nil
}

// CheckCommit checks that active snapshot key may be committed as name
// and returns the committed snapshot's meta (the same parent and creation
// time; not volatile).
func (s *Snapshots) CheckCommit(name, key string) (Meta, error) {
	m, err := s.Get(key)
	if err != nil {
		return Meta{}, err
	}
	if m.Kind != KindActive {
		return Meta{}, errdefs.Conflictf("commit %s: snapshot is %s, not active", key, m.Kind)
	}
	if name != key && s.Has(name) {
		return Meta{}, errdefs.Conflictf("commit %s: snapshot %s already exists", key, name)
	}
	return Meta{Parent: m.Parent, Kind: KindCommitted, Created: m.Created}, nil
}

// CheckRemove checks that key may be removed: it exists (else NotFound),
// no snapshot is on top of it and nothing is mounted from dir, its
// directory (else Conflict).
func (s *Snapshots) CheckRemove(key, dir string) error {
	if !s.Has(key) {
		return errdefs.NotFoundf("snapshot %s not found", key)
	}
	for k, m := range s.m {
		if m.Parent == key {
			return errdefs.Conflictf("remove snapshot %s: snapshot %s is on top of it", key, k)
		}
	}
	// Never delete through a live mount: that would reach the lower layers.
	if at, mounted, err := MountedFrom(dir); err != nil {
		return err
	} else if mounted {
		return errdefs.Conflictf("remove snapshot %s: it is mounted on %s", key, at)
	}
	return nil
}

// LoadMetaDir fills s for a driver that keeps each snapshot's tree in
// trees/<key> and its meta in metas/<key>.json (vfs, btrfs), where a
// snapshot exists once its meta file does: a meta file whose tree isTree
// denies is removed, as is (with removeTree) a tree no meta names. A
// damaged meta file is kept for a human, its snapshot not listed.
func (s *Snapshots) LoadMetaDir(metas, trees string, isTree func(path string) bool, removeTree func(path string) error) error {
	ments, err := os.ReadDir(metas)
	if err != nil {
		return err
	}
	for _, e := range ments {
		key, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || ValidateKey(key) != nil {
			_ = os.Remove(filepath.Join(metas, e.Name())) // a temp file
			continue
		}
		b, err := os.ReadFile(filepath.Join(metas, e.Name()))
		if err != nil {
			return err
		}
		m, err := ParseMeta(b)
		if err != nil {
			continue
		}
		if !isTree(filepath.Join(trees, key)) {
			_ = os.Remove(filepath.Join(metas, e.Name()))
			continue
		}
		s.Put(key, m)
	}
	dents, err := os.ReadDir(trees)
	if err != nil {
		return err
	}
	for _, e := range dents {
		if !s.Has(e.Name()) {
			if err := removeTree(filepath.Join(trees, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoveMetaFile removes a meta file; one already gone is not an error.
func RemoveMetaFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/berth-dev/berth/internal/errdefs"
)

// RecordFile is the record's file name inside a container's directory.
const RecordFile = "config.v2.json"

// Entry is one registered container: its published snapshot, the record
// writer and the lifecycle lock.
type Entry struct {
	id  string
	dir string

	op sync.Mutex // lifecycle lock (see package doc)

	wmu     sync.Mutex // serialises Update: copy, write, publish
	snap    atomic.Pointer[Container]
	changed atomic.Pointer[chan struct{}] // closed and replaced on each publish
	removed chan struct{}                 // closed when unregistered
}

// ID is the container's id.
func (e *Entry) ID() string { return e.id }

// Dir is the container's directory under <data-root>/containers.
func (e *Entry) Dir() string { return e.dir }

// Lock takes the lifecycle lock.
func (e *Entry) Lock() { e.op.Lock() }

// Unlock releases the lifecycle lock.
func (e *Entry) Unlock() { e.op.Unlock() }

// Snapshot returns the current immutable view of the container.
func (e *Entry) Snapshot() *Container { return e.snap.Load() }

// Watch returns the current snapshot and a channel closed at the next
// change (or at removal, which also closes Removed).
func (e *Entry) Watch() (*Container, <-chan struct{}) {
	ch := e.changed.Load()
	return e.snap.Load(), *ch
}

// Removed is closed once the container has been unregistered.
func (e *Entry) Removed() <-chan struct{} { return e.removed }

func (e *Entry) publish(c *Container) {
	e.snap.Store(c)
	next := make(chan struct{})
	old := e.changed.Swap(&next)
	close(*old)
}

// Update applies fn to a copy of the current snapshot, checks the state
// transition, writes the record and publishes the copy. When fn or the
// write fails nothing changes. fn must not modify Config or HostConfig.
func (e *Entry) Update(fn func(c *Container) error) (*Container, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	select {
	case <-e.removed:
		return nil, errdefs.NotFoundf("No such container: %s", e.id)
	default:
	}
	cur := e.snap.Load()
	next := *cur
	if err := fn(&next); err != nil {
		return nil, err
	}
	if err := checkTransition(cur.State.Status, next.State.Status); err != nil {
		return nil, err
	}
	if err := writeRecord(e.dir, &next); err != nil {
		return nil, err
	}
	e.publish(&next)
	return &next, nil
}

// Store is the registry of containers by id and name.
type Store struct {
	root string // <data-root>/containers

	mu      sync.RWMutex
	byID    map[string]*Entry
	names   map[string]string // "/web" -> id, including reserved names
	removed func(id string)
}

// NewStore returns an empty store rooted at root
// (<data-root>/containers), creating the directory.
func NewStore(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o710); err != nil {
		return nil, fmt.Errorf("create container root: %w", err)
	}
	return &Store{root: root, byID: map[string]*Entry{}, names: map[string]string{}}, nil
}

// Root is the directory holding the containers' directories.
func (s *Store) Root() string { return s.root }

// Dir is the directory of container id.
func (s *Store) Dir(id string) string { return filepath.Join(s.root, id) }

// ReserveName claims name (already normalized, "/web") for id.
func (s *Store) ReserveName(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserveLocked(name, id)
}

func (s *Store) reserveLocked(name, id string) error {
	if owner, ok := s.names[name]; ok {
		if owner == id {
			return nil
		}
		return errdefs.Conflictf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, owner)
	}
	s.names[name] = id
	return nil
}

// ReleaseName frees name if id holds it.
func (s *Store) ReleaseName(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] == id {
		delete(s.names, name)
	}
}

// ReserveRandomName generates and claims a name for id.
func (s *Store) ReserveRandomName(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < 10; i++ {
		name := "/" + RandomName(i)
		if _, taken := s.names[name]; !taken {
			s.names[name] = id
			return name, nil
		}
	}
	// Docker falls back to the short id, which no generated name can be.
	name := "/" + id[:12]
	return name, s.reserveLocked(name, id)
}

// Add writes c's record and registers it. c.Name must have been reserved
// for c.ID. c is published as the first snapshot and must not be
// modified afterwards.
func (s *Store) Add(c *Container) (*Entry, error) {
	c.SchemaVersion = SchemaVersion
	if err := checkTransition("", c.State.Status); err != nil {
		return nil, err
	}
	dir := s.Dir(c.ID)
	if err := writeRecord(dir, c); err != nil {
		return nil, err
	}
	return s.register(c)
}

func (s *Store) register(c *Container) (*Entry, error) {
	e := &Entry{id: c.ID, dir: s.Dir(c.ID), removed: make(chan struct{})}
	ch := make(chan struct{})
	e.changed.Store(&ch)
	e.snap.Store(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[c.ID]; ok {
		return nil, errdefs.Conflictf("container %s already exists", c.ID)
	}
	if err := s.reserveLocked(c.Name, c.ID); err != nil {
		return nil, err
	}
	s.byID[c.ID] = e
	return e, nil
}

// Delete unregisters the container, frees its name and wakes every
// watcher. Files are the caller's to remove.
func (s *Store) Delete(id string) {
	s.mu.Lock()
	e, ok := s.byID[id]
	if ok {
		delete(s.byID, id)
		if name := e.snap.Load().Name; s.names[name] == id {
			delete(s.names, name)
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	e.wmu.Lock()
	close(e.removed)
	e.publish(e.snap.Load())
	e.wmu.Unlock()
}

// Rename gives the container newName (normalized). It fails with a
// Conflict when the name is taken; the old name is freed.
func (s *Store) Rename(e *Entry, newName string) error {
	s.mu.Lock()
	if err := s.reserveLocked(newName, e.id); err != nil {
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	var oldName string
	_, err := e.Update(func(c *Container) error {
		oldName = c.Name
		c.Name = newName
		return nil
	})
	if err != nil {
		s.ReleaseName(newName, e.id)
		return err
	}
	if oldName != newName {
		s.ReleaseName(oldName, e.id)
	}
	return nil
}

// Get finds a container by full id, name (with or without the leading
// slash), or unique id prefix, in that order, as Docker does.
func (s *Store) Get(ref string) (*Entry, error) {
	if ref == "" {
		return nil, errdefs.InvalidArgumentf("No container name or ID supplied")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byID[ref]; ok {
		return e, nil
	}
	name := ref
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if id, ok := s.names[name]; ok {
		if e, ok := s.byID[id]; ok {
			return e, nil
		}
	}
	var found *Entry
	if isHexPrefix(ref) {
		for id, e := range s.byID {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, errdefs.InvalidArgumentf("multiple IDs found with provided prefix: %s", ref)
				}
				found = e
			}
		}
	}
	if found == nil {
		return nil, errdefs.NotFoundf("No such container: %s", ref)
	}
	return found, nil
}

func isHexPrefix(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return s != ""
}

// List returns a snapshot of every container, newest first.
func (s *Store) List() []*Container {
	s.mu.RLock()
	out := make([]*Container, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, e.Snapshot())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Entries returns every registered entry.
func (s *Store) Entries() []*Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Entry, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, e)
	}
	return out
}

// LoadResult is what Load found on disk.
type LoadResult struct {
	Loaded []*Entry
	// Orphans are ids whose directory has no record: a create that
	// crashed before finishing. Their directory and writable layer are
	// the caller's to remove.
	Orphans []string
	// Errors are records that could not be read; they are left in place
	// and not registered.
	Errors []error
}

// Load registers every record found under the root and removes stale
// temporary files.
func (s *Store) Load() (LoadResult, error) {
	var res LoadResult
	dirents, err := os.ReadDir(s.root)
	if err != nil {
		return res, fmt.Errorf("read container root: %w", err)
	}
	for _, de := range dirents {
		if !de.IsDir() {
			continue
		}
		id := de.Name()
		dir := filepath.Join(s.root, id)
		removeTemps(dir)
		c, err := readRecord(dir)
		if errors.Is(err, os.ErrNotExist) {
			res.Orphans = append(res.Orphans, id)
			continue
		}
		if err == nil && c.ID != id {
			err = fmt.Errorf("record %s: id %q does not match its directory", filepath.Join(dir, RecordFile), c.ID)
		}
		if err != nil {
			res.Errors = append(res.Errors, err)
			continue
		}
		e, err := s.register(c)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("register %s: %w", id, err))
			continue
		}
		res.Loaded = append(res.Loaded, e)
	}
	return res, nil
}

func removeTemps(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, "."+RecordFile+"-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
}

func readRecord(dir string) (*Container, error) {
	p := filepath.Join(dir, RecordFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", p, err)
	}
	if c.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("decode %s: unsupported schema version %d", p, c.SchemaVersion)
	}
	return &c, nil
}

func writeRecord(dir string, c *Container) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode record of %s: %w", c.ID, err)
	}
	return WriteFileAtomic(filepath.Join(dir, RecordFile), b, 0o600)
}

// WriteFileAtomic replaces path with data: temp file in the same
// directory, fsync, rename, fsync of the directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
)

// InUseFunc reports a container using image id, a running one if there
// is any: ok is false when no container uses it.
type InUseFunc func(id ID) (containerID string, running bool, ok bool)

// record is one stored image.
type record struct {
	id       ID
	config   dockerspec.DockerOCIImage
	comment  string
	topLayer ChainID
	size     int64
	lastTag  time.Time
	parent   ID // the image it was committed from, if any
}

// Store is the image store. It is safe for concurrent use.
type Store struct {
	root   string           // <data-root>/image/<driver>
	tmp    string           // <data-root>/tmp
	pub    events.Publisher // nil: no events (events.go)
	layers Layers

	mu     sync.RWMutex
	images map[ID]*record
	refs   map[string]ID // reference.Named.String() (normalized) -> image
	inUse  InUseFunc
}

// configFile is the stored config: docker-image-spec plus dockerd's
// top-level "comment".
type configFile struct {
	dockerspec.DockerOCIImage
	Comment string `json:"comment,omitempty"`
}

type repositories struct {
	Repositories map[string]map[string]ID
}

// NewStore opens the image store under dataRoot, on layers (a
// *layer.Store), repairing what an interrupted daemon left.
func NewStore(dataRoot string, layers Layers) (*Store, error) {
	s := &Store{
		root:   filepath.Join(dataRoot, "image", layers.DriverName()),
		tmp:    filepath.Join(dataRoot, "tmp"),
		layers: layers,
		images: map[ID]*record{},
		refs:   map[string]ID{},
	}
	for _, d := range []string{s.contentDir(), s.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := s.load(context.Background()); err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	return s, nil
}

// SetInUse installs the hook that tells which container uses an image
// (the daemon wires the engine in). Without one, no image is in use. The
// hook is called without the store's lock held.
func (s *Store) SetInUse(fn InUseFunc) {
	s.mu.Lock()
	s.inUse = fn
	s.mu.Unlock()
}

func (s *Store) contentDir() string { return filepath.Join(s.root, "imagedb", "content", "sha256") }
func (s *Store) reposFile() string  { return filepath.Join(s.root, "repositories.json") }

func (s *Store) load(ctx context.Context) error {
	tmps, _ := filepath.Glob(filepath.Join(s.tmp, "image-*"))
	for _, t := range tmps {
		_ = os.RemoveAll(t)
	}
	ents, err := os.ReadDir(s.contentDir())
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(s.contentDir(), e.Name())
		rec, err := s.loadImage(p, e.Name())
		if err != nil {
			// A config that is damaged or whose layers are gone is not an
			// image: remove it so it is never listed.
			if rmErr := os.Remove(p); rmErr != nil {
				return rmErr
			}
			continue
		}
		s.images[rec.id] = rec
	}
	mds, _ := os.ReadDir(s.metadataRoot())
	for _, e := range mds {
		if _, ok := s.images[ID("sha256:"+e.Name())]; !ok {
			_ = os.RemoveAll(filepath.Join(s.metadataRoot(), e.Name()))
		}
	}
	b, err := os.ReadFile(s.reposFile())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err == nil {
		var repos repositories
		if err := json.Unmarshal(b, &repos); err != nil {
			return fmt.Errorf("%s: %w", s.reposFile(), err)
		}
		for _, refs := range repos.Repositories {
			for r, id := range refs {
				named, err := reference.ParseNormalizedNamed(r)
				if err != nil {
					continue
				}
				if _, ok := s.images[id]; ok {
					s.refs[named.String()] = id
				}
			}
		}
	}
	return s.layers.ReleaseUnused(ctx)
}

// loadImage reads one config and takes a reference on its top layer.
func (s *Store) loadImage(p, hex string) (*record, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	id := ID(digest.NewDigestFromEncoded(digest.SHA256, hex))
	if digest.FromBytes(b) != digest.Digest(id) {
		return nil, fmt.Errorf("config %s does not match its digest", hex)
	}
	rec, err := s.newRecord(id, b)
	if err != nil {
		return nil, err
	}
	if rec.topLayer != "" {
		if _, err := s.layers.Get(rec.topLayer); err != nil {
			return nil, err
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.metadataDir(id), "lastUpdated")); err == nil {
		rec.lastTag, _ = time.Parse(time.RFC3339Nano, string(b))
	}
	if b, err := os.ReadFile(filepath.Join(s.metadataDir(id), "parent")); err == nil {
		rec.parent = ID(strings.TrimSpace(string(b)))
	}
	return rec, nil
}

// newRecord parses a config and sizes its layers (which must exist).
func (s *Store) newRecord(id ID, b []byte) (*record, error) {
	var cf configFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, err
	}
	rec := &record{id: id, config: cf.DockerOCIImage, comment: cf.Comment}
	var chain ChainID
	for _, d := range cf.RootFS.DiffIDs {
		chain = chainID(chain, d)
		l, err := s.layers.Lookup(chain)
		if err != nil {
			return nil, err
		}
		rec.size += l.Size
	}
	rec.topLayer = chain
	return rec, nil
}

func chainID(parent ChainID, diffID digest.Digest) ChainID {
	if parent == "" {
		return ChainID(diffID)
	}
	return ChainID(digest.FromString(string(parent) + " " + string(diffID)))
}

// writeAtomic writes data to path through <data-root>/tmp, fsynced.
func (s *Store) writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(s.tmp, "image-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// saveRefsLocked writes repositories.json; s.mu is held.
func (s *Store) saveRefsLocked() error {
	repos := repositories{Repositories: map[string]map[string]ID{}}
	for r, id := range s.refs {
		named, err := reference.ParseNormalizedNamed(r)
		if err != nil {
			continue
		}
		name := reference.FamiliarName(named)
		if repos.Repositories[name] == nil {
			repos.Repositories[name] = map[string]ID{}
		}
		repos.Repositories[name][reference.FamiliarString(named)] = id
	}
	b, err := json.Marshal(repos)
	if err != nil {
		return err
	}
	return s.writeAtomic(s.reposFile(), b)
}

// Get resolves ref: name[:tag] (normalized: "busybox" is
// docker.io/library/busybox:latest), a full ID with or without "sha256:",
// or a unique ID prefix.
func (s *Store) Get(ctx context.Context, ref string) (*Image, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, err := s.resolveLocked(ref)
	if err != nil {
		return nil, err
	}
	return s.imageLocked(rec), nil
}

func (s *Store) imageLocked(rec *record) *Image {
	img := &Image{ID: rec.id, Config: rec.config, RepoTags: s.tagsLocked(rec.id), TopLayer: rec.topLayer, Size: rec.size, Parent: rec.parent}
	if rec.config.Created != nil {
		img.Created = *rec.config.Created
	}
	return img
}

// tagsLocked returns the familiar references to id, sorted.
func (s *Store) tagsLocked(id ID) []string {
	tags := []string{}
	for r, rid := range s.refs {
		if rid != id {
			continue
		}
		if named, err := reference.ParseNormalizedNamed(r); err == nil {
			if _, ok := named.(reference.Digested); ok {
				continue // a RepoDigest (digestsLocked)
			}
			tags = append(tags, reference.FamiliarString(named))
		}
	}
	sort.Strings(tags)
	return tags
}

// refsLocked returns the normalized references to id.
func (s *Store) refsLocked(id ID) []reference.Named {
	var out []reference.Named
	for r, rid := range s.refs {
		if rid == id {
			if named, err := reference.ParseNormalizedNamed(r); err == nil {
				out = append(out, named)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func notFound(ref string) error {
	if named, err := reference.ParseNormalizedNamed(ref); err == nil && !isHexPrefix(ref) {
		return errdefs.NotFoundf("No such image: %s", reference.FamiliarString(reference.TagNameOnly(named)))
	}
	return errdefs.NotFoundf("No such image: %s", ref)
}

func isHexPrefix(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// resolveLocked implements Get's lookup order: full ID, name, ID prefix.
func (s *Store) resolveLocked(ref string) (*record, error) {
	if ref == "" {
		return nil, errdefs.InvalidArgumentf("empty image reference")
	}
	hex := strings.TrimPrefix(ref, "sha256:")
	if len(hex) == 64 && isHexPrefix(hex) {
		if rec, ok := s.images[ID("sha256:"+hex)]; ok {
			return rec, nil
		}
		return nil, notFound(ref)
	}
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		if id, ok := s.refs[reference.TagNameOnly(named).String()]; ok {
			return s.images[id], nil
		}
	}
	if isHexPrefix(ref) {
		var found *record
		for id, rec := range s.images {
			if strings.HasPrefix(digest.Digest(id).Encoded(), hex) {
				if found != nil {
					return nil, errdefs.NotFoundf("No such image: %s (ambiguous short ID)", ref)
				}
				found = rec
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, notFound(ref)
}

// parseTag turns repo and tag into a normalized tagged reference.
func parseTag(repo, tag string) (reference.NamedTagged, error) {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return nil, errdefs.With(errdefs.InvalidArgument, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, errdefs.InvalidArgumentf("refusing to create a tag with a digest reference")
	}
	if reference.FamiliarName(named) == string(digest.SHA256) {
		return nil, errdefs.InvalidArgumentf("refusing to create an ambiguous tag using digest algorithm as name")
	}
	if tag != "" {
		if _, ok := named.(reference.Tagged); ok {
			return nil, errdefs.InvalidArgumentf("invalid reference format: %s has a tag and a tag was given", repo)
		}
		t, err := reference.WithTag(named, tag)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("invalid tag format: %w", err)
		}
		return t, nil
	}
	return reference.TagNameOnly(named).(reference.NamedTagged), nil
}

// tagLocked points ref at id.
func (s *Store) tagLocked(ref reference.Named, id ID) error {
	old, had := s.refs[ref.String()]
	// Retagging to the same image (a cached rebuild) changes no
	// reference: only the tag time below.
	if !had || old != id {
		s.refs[ref.String()] = id
		if err := s.saveRefsLocked(); err != nil {
			if had {
				s.refs[ref.String()] = old
			} else {
				delete(s.refs, ref.String())
			}
			return err
		}
	}
	now := time.Now().UTC()
	s.images[id].lastTag = now
	// Informational (docker inspect's Metadata.LastTagTime): not fsynced.
	md := s.metadataDir(id)
	if err := os.MkdirAll(md, 0o700); err == nil {
		_ = os.WriteFile(filepath.Join(md, "lastUpdated"), []byte(now.Format(time.RFC3339Nano)), 0o600)
	}
	return nil
}

func (s *Store) metadataRoot() string { return filepath.Join(s.root, "imagedb", "metadata", "sha256") }

func (s *Store) metadataDir(id ID) string {
	return filepath.Join(s.metadataRoot(), digest.Digest(id).Encoded())
}

// Tag points repo:tag at the image ref names.
func (s *Store) Tag(ctx context.Context, ref, repo, tag string) error {
	named, err := parseTag(repo, tag)
	if err != nil {
		return err
	}
	s.mu.Lock()
	rec, err := s.resolveLocked(ref)
	if err == nil {
		err = s.tagLocked(named, rec.id)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.logEvent(rec.id, reference.FamiliarString(named), eventtypes.ActionTag)
	return nil
}

// withChildrenLocked is the set of images that are some image's parent.
func (s *Store) withChildrenLocked() map[ID]bool {
	parents := map[ID]bool{}
	for _, rec := range s.images {
		if rec.parent != "" {
			parents[rec.parent] = true
		}
	}
	return parents
}

// hasChildLocked reports whether an image was committed from id.
func (s *Store) hasChildLocked(id ID) bool {
	for _, rec := range s.images {
		if rec.parent == id {
			return true
		}
	}
	return false
}

// Count is the number of stored images (docker info's Images).
func (s *Store) Count(ctx context.Context) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.images), nil
}

package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import creates an image from a rootfs tar (plain or gzip): one layer,
// a config with changes applied, tagged repo:tag if repo is given. It
// writes Docker JSON-message lines to progress and returns "sha256:...".
func (s *Store) Import(ctx context.Context, src io.Reader, repo, tag string, changes []string, message string, progress io.Writer) (string, error) {
	// Everything that can be refused is checked before reading the stream.
	var cfg dockerspec.DockerOCIImageConfig
	if err := ApplyChanges(&cfg, changes); err != nil {
		return "", err
	}
	var named reference.Named
	if repo != "" {
		t, err := parseTag(repo, tag)
		if err != nil {
			return "", err
		}
		named = t
	}
	if message == "" {
		message = "Imported from -"
	}

	l, err := s.layers.Register(ctx, src, "")
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	created := time.Now().UTC()
	cf := configFile{Comment: message}
	cf.Created = &created
	cf.Platform = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	cf.Config = cfg
	cf.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{l.DiffID}}
	cf.History = []ocispec.History{{Created: &created, Comment: message}}
	id, err := s.create(ctx, cf, l.ChainID, "")
	if err != nil {
		return "", err
	}
	if named != nil {
		s.mu.Lock()
		err = s.tagLocked(named, id)
		s.mu.Unlock()
		if err != nil {
			return "", err
		}
		s.logEvent(id, reference.FamiliarString(named), eventtypes.ActionTag)
	}
	// After the tag, in dockerd's order.
	s.logEvent(id, string(id), eventtypes.ActionImport)
	if progress != nil {
		b, _ := json.Marshal(map[string]string{"status": string(id)})
		_, _ = progress.Write(append(b, '\r', '\n'))
	}
	return string(id), nil
}

// create stores a config whose top layer the caller holds a reference on;
// the reference passes to the image (or is dropped if the image exists).
// parent ("" = none) is the image it was committed from: its metadata
// file is written before the config, so an image never appears without
// it (an untagged parent would look dangling).
func (s *Store) create(ctx context.Context, cf configFile, top ChainID, parent ID) (ID, error) {
	b, err := json.Marshal(cf)
	if err != nil {
		_, _ = s.layers.Release(ctx, top)
		return "", err
	}
	id := ID(digest.FromBytes(b))
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[id]; ok {
		_, _ = s.layers.Release(ctx, top)
		return id, nil
	}
	rec, err := s.newRecord(id, b)
	if err == nil && parent != "" {
		rec.parent = parent
		err = s.writeParent(id, parent)
	}
	if err == nil {
		err = s.writeAtomic(filepath.Join(s.contentDir(), digest.Digest(id).Encoded()), b)
	}
	if err != nil {
		_ = os.RemoveAll(s.metadataDir(id))
		_, _ = s.layers.Release(ctx, top)
		return "", fmt.Errorf("store image config: %w", err)
	}
	s.images[id] = rec
	return id, nil
}

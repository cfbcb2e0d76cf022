package distribution

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/storage"
)

// blobSource says that a registry repository holds a layer's compressed
// blob (dockerd's v2metadata): pushing that layer to the same registry
// needs no upload (it exists, or is mounted from the repository).
type blobSource struct {
	Host      string        `json:"host"`
	Repo      string        `json:"repo"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	MediaType string        `json:"mediaType"`
}

// maxSourcesPerLayer bounds what is remembered per diff ID.
const maxSourcesPerLayer = 8

// blobMeta maps diff IDs to the blobs known to hold them, persisted in
// <data-root>/distribution/blobs.json (written through a temp file and a
// rename; losing it only costs uploads).
type blobMeta struct {
	path string

	mu sync.Mutex
	by map[digest.Digest][]blobSource
}

func openBlobMeta(dataRoot string) *blobMeta {
	m := &blobMeta{path: filepath.Join(dataRoot, "distribution", "blobs.json"), by: map[digest.Digest][]blobSource{}}
	if b, err := os.ReadFile(m.path); err == nil {
		_ = json.Unmarshal(b, &m.by)
	}
	return m
}

func (m *blobMeta) sources(diffID digest.Digest, host string) []blobSource {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []blobSource
	for _, s := range m.by[diffID] {
		if s.Host == host {
			out = append(out, s)
		}
	}
	return out
}

func (m *blobMeta) add(diffID digest.Digest, src blobSource) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := []blobSource{src}
	for _, s := range m.by[diffID] {
		if s != src && len(list) < maxSourcesPerLayer {
			list = append(list, s)
		}
	}
	m.by[diffID] = list
	b, err := json.Marshal(m.by)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(m.path), 0o700); err == nil {
		_ = storage.WriteFileAtomic(m.path, b, 0o600)
	}
}

// reuseBlob makes a known blob of diffID present in repo without an
// upload: it is there already, or the registry mounts it from another
// repository. ok is false when no known blob could be used.
func (s *Service) reuseBlob(ctx context.Context, repo *Repository, diffID digest.Digest, p *progressOut) (ocispec.Descriptor, bool) {
	for _, src := range s.meta.sources(diffID, repo.ep.URL.Host) {
		if src.MediaType != MediaTypeDockerLayer && src.MediaType != ocispec.MediaTypeImageLayerGzip {
			continue // a Docker v2 manifest carries gzip layers
		}
		desc := ocispec.Descriptor{MediaType: MediaTypeDockerLayer, Digest: src.Digest, Size: src.Size}
		if ok, err := repo.BlobExists(ctx, src.Digest); err == nil && ok {
			p.status(shortDigest(diffID), "Layer already exists")
			return desc, true
		}
		if src.Repo == repo.path {
			continue
		}
		if repo.MountBlob(ctx, src.Digest, src.Repo) {
			p.status(shortDigest(diffID), "Mounted from %s", src.Repo)
			return desc, true
		}
	}
	return ocispec.Descriptor{}, false
}

// MountBlob asks the registry to link blob d from repository from into
// this one (cross-repository mount); false if it would not.
func (r *Repository) MountBlob(ctx context.Context, d digest.Digest, from string) bool {
	u := r.url("/blobs/uploads/") + "?mount=" + d.String() + "&from=" + from
	resp, err := r.do(ctx, http.MethodPost, u, nil, nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return true
	}
	if resp.StatusCode == http.StatusAccepted { // an upload was started instead: drop it
		if loc, err := r.location(resp); err == nil {
			if dr, err := r.do(ctx, http.MethodDelete, loc.String(), nil, nil); err == nil {
				dr.Body.Close()
			}
		}
	}
	return false
}

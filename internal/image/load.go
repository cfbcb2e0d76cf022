package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/distribution/reference"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Load reads a docker-archive (docker save's output, dockerd's or
// berth's: manifest.json, or an OCI layout with index.json only) and
// stores its images, writing Docker JSON-message lines ("Loaded image:
// busybox:latest") to progress.
//
// The archive is unpacked into <data-root>/tmp first (no entry or link
// leads outside that directory), and removed after; layers that follow
// manifest.json are registered as they stream in (see unpacker), or
// skipped when their config came first and their chain is already
// stored, and a goroutine receives the archive ahead of them (readAhead).
// Each config must hash to the digest it is named by, and
// each layer to its config's diff ID; an image is stored only when all its
// layers are, and tagged only once stored.
func (s *Store) Load(ctx context.Context, r io.Reader, progress io.Writer) error {
	dir, err := os.MkdirTemp(s.tmp, "image-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	u := &unpacker{s: s, dir: dir}
	defer u.release(ctx) // the images took their own references
	ra := newReadAhead(ctx, r, 256<<10, 16)
	err = u.unpack(ctx, ra)
	ra.Close()
	if err != nil {
		return err
	}
	manifests, err := readArchiveManifests(dir)
	if err != nil {
		return err
	}
	for _, m := range manifests {
		id, err := s.loadOne(ctx, dir, m, u.earlyDiff)
		if err != nil {
			return err
		}
		s.logEvent(id, string(id), eventtypes.ActionLoad)
		if len(m.RepoTags) == 0 {
			writeStream(progress, fmt.Sprintf("Loaded image ID: %s\n", id))
			continue
		}
		for _, t := range m.RepoTags {
			named, err := reference.ParseNormalizedNamed(t)
			if err != nil {
				return errdefs.InvalidArgumentf("load: invalid tag %q: %w", t, err)
			}
			tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
			if !ok {
				return errdefs.InvalidArgumentf("load: invalid tag %q", t)
			}
			s.mu.Lock()
			old, had := s.refs[tagged.String()]
			err = s.tagLocked(tagged, id)
			s.mu.Unlock()
			if err != nil {
				return err
			}
			if had && old != id {
				writeStream(progress, fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string\n", reference.FamiliarString(tagged), old))
			}
			writeStream(progress, fmt.Sprintf("Loaded image: %s\n", reference.FamiliarString(tagged)))
		}
	}
	return nil
}

func writeStream(w io.Writer, s string) {
	if w == nil {
		return
	}
	b, _ := json.Marshal(map[string]string{"stream": s})
	_, _ = w.Write(append(b, '\n'))
}

// openIn opens a file named inside the unpacked archive, in its scope.
func openIn(dir, name string) (*os.File, error) {
	p, err := securejoin.SecureJoin(dir, name)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("load: %s: %w", name, err)
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.InvalidArgumentf("load: %s is missing from the archive", name)
		}
		return nil, err
	}
	return f, nil
}

func readIn(dir, name string, limit int64) ([]byte, error) {
	f, err := openIn(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errdefs.InvalidArgumentf("load: %s is too large", name)
	}
	return b, nil
}

// readArchiveManifests reads manifest.json, or index.json of an OCI
// layout without it.
func readArchiveManifests(dir string) ([]archiveManifest, error) {
	b, err := readIn(dir, "manifest.json", 8<<20)
	if err == nil {
		var ms []archiveManifest
		if err := json.Unmarshal(b, &ms); err != nil {
			return nil, errdefs.InvalidArgumentf("load: manifest.json: %w", err)
		}
		return ms, nil
	}
	ib, ierr := readIn(dir, "index.json", 8<<20)
	if ierr != nil {
		return nil, errdefs.InvalidArgumentf("load: open manifest.json: no such file or directory")
	}
	var idx ocispec.Index
	if err := json.Unmarshal(ib, &idx); err != nil {
		return nil, errdefs.InvalidArgumentf("load: index.json: %w", err)
	}
	var out []archiveManifest
	for _, d := range idx.Manifests {
		if d.MediaType != ocispec.MediaTypeImageManifest && d.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
			return nil, errdefs.InvalidArgumentf("load: unsupported manifest media type %q", d.MediaType)
		}
		mb, err := readBlob(dir, d.Digest, 8<<20)
		if err != nil {
			return nil, err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(mb, &m); err != nil {
			return nil, errdefs.InvalidArgumentf("load: manifest %s: %w", d.Digest, err)
		}
		am := archiveManifest{Config: blobPath(m.Config.Digest)}
		for _, l := range m.Layers {
			switch l.MediaType {
			case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip,
				"application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar":
			default:
				return nil, errdefs.InvalidArgumentf("load: unsupported layer media type %q", l.MediaType)
			}
			am.Layers = append(am.Layers, blobPath(l.Digest))
		}
		if name := d.Annotations["io.containerd.image.name"]; name != "" {
			if n, err := reference.ParseNormalizedNamed(name); err == nil {
				am.RepoTags = append(am.RepoTags, reference.FamiliarString(n))
			}
		}
		out = append(out, am)
	}
	return out, nil
}

func blobPath(d digest.Digest) string { return path.Join("blobs", d.Algorithm().String(), d.Encoded()) }

// readBlob reads a blob and checks it against its digest.
func readBlob(dir string, d digest.Digest, limit int64) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, errdefs.InvalidArgumentf("load: invalid digest %q: %w", d, err)
	}
	b, err := readIn(dir, blobPath(d), limit)
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(b); got != d {
		return nil, errdefs.InvalidArgumentf("load: blob %s does not match its digest (got %s)", d, got)
	}
	return b, nil
}

// loadOne stores one image of the archive.
func (s *Store) loadOne(ctx context.Context, dir string, m archiveManifest, streamed map[string]digest.Digest) (_ ID, retErr error) {
	cfgBytes, err := readIn(dir, m.Config, 8<<20)
	if err != nil {
		return "", err
	}
	id := ID(digest.FromBytes(cfgBytes))
	// A config named by its digest (blobs/sha256/<hex>, or <hex>.json in
	// older archives) must have that digest.
	if want := strings.TrimSuffix(path.Base(m.Config), ".json"); len(want) == 64 && want != digest.Digest(id).Encoded() {
		return "", errdefs.InvalidArgumentf("load: config %s does not match its digest (got %s)", m.Config, id)
	}
	var cf configFile
	if err := json.Unmarshal(cfgBytes, &cf); err != nil {
		return "", errdefs.InvalidArgumentf("load: config %s: %w", m.Config, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return "", errdefs.InvalidArgumentf("load: invalid manifest, layers length mismatch: expected %d, got %d", len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	var parent ChainID
	defer func() {
		if retErr != nil && parent != "" {
			_, _ = s.layers.Release(context.WithoutCancel(ctx), parent)
		}
	}()
	for i, lp := range m.Layers {
		want := cf.RootFS.DiffIDs[i]
		if got, ok := streamed[path.Clean(lp)]; ok && got != want {
			return "", errdefs.InvalidArgumentf("invalid diffID for layer %d: expected %q, got %q", i, want, got)
		}
		c := chainID(parent, want)
		if _, err := s.layers.Get(c); err == nil {
			// Already stored: no need to read it.
			if parent != "" {
				_, _ = s.layers.Release(ctx, parent)
			}
			parent = c
			continue
		}
		f, err := openIn(dir, lp)
		if err != nil {
			return "", err
		}
		l, err := s.layers.Register(ctx, f, parent)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("load layer %s: %w", lp, err)
		}
		if parent != "" {
			_, _ = s.layers.Release(ctx, parent) // the new layer holds it
		}
		parent = l.ChainID
		if l.DiffID != want {
			return "", errdefs.InvalidArgumentf("invalid diffID for layer %d: expected %q, got %q", i, want, l.DiffID)
		}
	}
	if _, err := s.createRaw(ctx, id, cfgBytes, parent); err != nil {
		parent = "" // createRaw released it
		return "", err
	}
	parent = ""
	return id, nil
}

// createRaw stores config bytes as they are (their digest is the image
// ID); the caller's reference on top passes to the image.
func (s *Store) createRaw(ctx context.Context, id ID, b []byte, top ChainID) (ID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[id]; ok {
		_, _ = s.layers.Release(ctx, top)
		return id, nil
	}
	rec, err := s.newRecord(id, b)
	if err == nil && rec.topLayer != top {
		err = errdefs.InvalidArgumentf("load: config layers do not match the archive's")
	}
	if err == nil {
		err = s.writeAtomic(filepath.Join(s.contentDir(), digest.Digest(id).Encoded()), b)
	}
	if err != nil {
		_, _ = s.layers.Release(ctx, top)
		return "", fmt.Errorf("store image config: %w", err)
	}
	s.images[id] = rec
	return id, nil
}

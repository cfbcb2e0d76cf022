package distribution

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// maxConcurrentUploads is dockerd's default (--max-concurrent-uploads).
const maxConcurrentUploads = 5

// Tarrer writes a stored layer as an uncompressed tar (layer.Store).
type Tarrer interface {
	TarLayer(ctx context.Context, c image.ChainID, w io.Writer) error
}

// TagLister lists the tags of a repository (for a push without a tag).
type TagLister interface {
	TagsOf(ctx context.Context, repo reference.Named) ([]reference.NamedTagged, error)
}

// PushRef uploads the image ref names (name:tag; every tag of name when
// there is none) to its registry, writing progress to w.
func (s *Service) PushRef(ctx context.Context, name, tag string, creds Credentials, w io.Writer) error {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return errdefs.With(errdefs.InvalidArgument, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return errdefs.InvalidArgumentf("cannot push a digest reference")
	}
	var targets []reference.NamedTagged
	switch {
	case tag != "":
		t, err := reference.WithTag(reference.TrimNamed(named), tag)
		if err != nil {
			return errdefs.With(errdefs.InvalidArgument, err)
		}
		targets = append(targets, t)
	default:
		if t, ok := named.(reference.NamedTagged); ok {
			targets = append(targets, t)
		} else if tl, ok := s.images.(TagLister); ok {
			targets, err = tl.TagsOf(ctx, named)
			if err != nil {
				return err
			}
		} else {
			targets = append(targets, reference.TagNameOnly(named).(reference.NamedTagged))
		}
	}
	if len(targets) == 0 {
		return errdefs.NotFoundf("An image does not exist locally with the tag: %s", reference.FamiliarName(named))
	}
	p := &progressOut{w: w}
	eps := s.resolver.Endpoints(reference.Domain(named), false)
	p.status("", "The push refers to repository [%s]", named.Name())
	for _, t := range targets {
		img, err := s.images.Get(ctx, t.String())
		if err != nil {
			if errdefs.ClassOf(err) == errdefs.NotFound {
				return errdefs.NotFoundf("An image does not exist locally with the tag: %s", reference.FamiliarName(named))
			}
			return err
		}
		var lastErr error
		for _, ep := range eps {
			repo := ep.Repository(reference.Path(named), creds, true)
			lastErr = s.pushImage(ctx, repo, t, img, p)
			if lastErr == nil || ctx.Err() != nil || errdefs.ClassOf(lastErr) == errdefs.Unauthorized {
				break
			}
		}
		if lastErr != nil {
			return lastErr
		}
	}
	return nil
}

// pushedLayer is a layer blob ready to upload.
type pushedLayer struct {
	diffID digest.Digest // of the tar as written now
	desc   ocispec.Descriptor
	path   string
}

func (s *Service) pushImage(ctx context.Context, repo *Repository, ref reference.NamedTagged, img *image.Image, p *progressOut) error {
	raw, err := s.images.RawConfig(ctx, img.ID)
	if err != nil {
		return err
	}
	diffIDs := img.Config.RootFS.DiffIDs
	chains := make([]image.ChainID, len(diffIDs))
	var c image.ChainID
	for i, d := range diffIDs {
		c = chainOf(c, d)
		chains[i] = c
	}
	tarrer, ok := s.images.(Tarrer)
	if !ok {
		return errdefs.NotImplementedf("push: the image store cannot write layers")
	}
	for _, d := range diffIDs {
		p.status(shortDigest(d), "Preparing")
	}
	out := make([]pushedLayer, len(diffIDs))
	errs := make([]error, len(diffIDs))
	sem := make(chan struct{}, maxConcurrentUploads)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range diffIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = s.pushLayer(ctx, repo, tarrer, chains[i], diffIDs[i], p)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, l := range out {
			if l.path != "" {
				_ = os.Remove(l.path)
			}
		}
	}()
	for _, err := range errs {
		if err != nil && err != context.Canceled {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// A layer whose tar does not reproduce its diff ID (imported from a
	// tar written by another tool) gets the diff ID of what was pushed:
	// the registry's image then has its own config digest.
	changed := false
	for i, l := range out {
		if l.diffID != diffIDs[i] {
			changed = true
		}
	}
	if changed {
		if raw, err = rewriteDiffIDs(raw, out); err != nil {
			return err
		}
	}
	cfgDigest := digest.FromBytes(raw)
	if ok, err := repo.BlobExists(ctx, cfgDigest); err != nil {
		return err
	} else if !ok {
		if err := repo.UploadBlob(ctx, cfgDigest, int64(len(raw)), func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(raw)), nil
		}); err != nil {
			return err
		}
	}
	m := struct {
		SchemaVersion int                  `json:"schemaVersion"`
		MediaType     string               `json:"mediaType"`
		Config        ocispec.Descriptor   `json:"config"`
		Layers        []ocispec.Descriptor `json:"layers"`
	}{2, MediaTypeDockerManifest, ocispec.Descriptor{MediaType: MediaTypeDockerConfig, Size: int64(len(raw)), Digest: cfgDigest}, []ocispec.Descriptor{}}
	for _, l := range out {
		m.Layers = append(m.Layers, l.desc)
	}
	body, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return err
	}
	if err := repo.PutManifest(ctx, ref.Tag(), MediaTypeDockerManifest, body); err != nil {
		return err
	}
	md := digest.FromBytes(body)
	if !changed {
		if canonical, err := reference.WithDigest(reference.TrimNamed(ref), md); err == nil {
			_ = s.images.AddReference(ctx, canonical, img.ID)
		}
	}
	p.status("", "%s: digest: %s size: %d", ref.Tag(), md, len(body))
	p.writeAux(map[string]any{"Tag": ref.Tag(), "Digest": md.String(), "Size": len(body)})
	return nil
}

// pushLayer writes layer c as a gzip blob in the service's temp dir and
// uploads it unless the registry has it.
func (s *Service) pushLayer(ctx context.Context, repo *Repository, t Tarrer, c image.ChainID, diffID digest.Digest, p *progressOut) (pushedLayer, error) {
	id := shortDigest(diffID)
	if desc, ok := s.reuseBlob(ctx, repo, diffID, p); ok {
		return pushedLayer{diffID: diffID, desc: desc}, nil
	}
	f, err := os.CreateTemp(s.blobs, "push-")
	if err != nil {
		return pushedLayer{}, err
	}
	l := pushedLayer{path: f.Name()}
	defer f.Close()
	ch := sha256.New()
	gz, _ := gzip.NewWriterLevel(io.MultiWriter(f, ch), gzip.BestSpeed)
	uh := sha256.New()
	if err := t.TarLayer(ctx, c, io.MultiWriter(gz, uh)); err != nil {
		return l, err
	}
	if err := gz.Close(); err != nil {
		return l, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return l, err
	}
	l.diffID = digest.NewDigest(digest.SHA256, uh)
	l.desc = ocispec.Descriptor{MediaType: MediaTypeDockerLayer, Size: size, Digest: digest.NewDigest(digest.SHA256, ch)}
	if ok, err := repo.BlobExists(ctx, l.desc.Digest); err != nil {
		return l, err
	} else if ok {
		p.status(id, "Layer already exists")
		s.remember(repo, diffID, l)
		return l, nil
	}
	err = repo.UploadBlob(ctx, l.desc.Digest, size, func() (io.ReadCloser, error) {
		rf, err := os.Open(l.path)
		if err != nil {
			return nil, err
		}
		cnt := &counter{p: p, id: id, action: "Pushing", total: size}
		return struct {
			io.Reader
			io.Closer
		}{io.TeeReader(rf, cnt), rf}, nil
	})
	if err != nil {
		return l, err
	}
	p.status(id, "Pushed")
	s.remember(repo, diffID, l)
	return l, nil
}

// rewriteDiffIDs sets rootfs.diff_ids of a config to the pushed layers',
// keeping every other field as it was.
func rewriteDiffIDs(raw []byte, layers []pushedLayer) ([]byte, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	var rootfs map[string]json.RawMessage
	if err := json.Unmarshal(cfg["rootfs"], &rootfs); err != nil {
		return nil, fmt.Errorf("image config rootfs: %w", err)
	}
	ids := make([]digest.Digest, len(layers))
	for i, l := range layers {
		ids[i] = l.diffID
	}
	b, _ := json.Marshal(ids)
	rootfs["diff_ids"] = b
	rb, err := json.Marshal(rootfs)
	if err != nil {
		return nil, err
	}
	cfg["rootfs"] = rb
	return json.Marshal(cfg)
}

func (p *progressOut) writeAux(aux map[string]any) {
	if p == nil || p.w == nil {
		return
	}
	b, _ := json.Marshal(map[string]any{"progressDetail": map[string]any{}, "aux": aux})
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.w.Write(append(b, '\r', '\n'))
}

// remember records that repo holds l's blob, when its tar is the layer's
// own (same diff ID).
func (s *Service) remember(repo *Repository, diffID digest.Digest, l pushedLayer) {
	if l.diffID == diffID {
		s.meta.add(diffID, blobSource{Host: repo.ep.URL.Host, Repo: repo.path, Digest: l.desc.Digest, Size: l.desc.Size, MediaType: l.desc.MediaType})
	}
}

package distribution

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// maxConcurrentDownloads is dockerd's default (--max-concurrent-downloads).
const maxConcurrentDownloads = 3

// interruptedPullLease is how long the layers of an interrupted pull are
// kept for a retry.
const interruptedPullLease = 10 * time.Minute

// maxConfigSize bounds an image config blob.
const maxConfigSize = 8 << 20

// Images is what pull and push need from the image store (*image.Store).
type Images interface {
	Layers() image.Layers
	// CreateFromConfig stores config bytes as an image on top layer top,
	// taking over the caller's reference on top.
	CreateFromConfig(ctx context.Context, config []byte, top image.ChainID) (image.ID, error)
	// AddReference points a tagged or canonical (name@digest) reference at id.
	AddReference(ctx context.Context, ref reference.Named, id image.ID) error
	Get(ctx context.Context, ref string) (*image.Image, error)
	RawConfig(ctx context.Context, id image.ID) ([]byte, error)
}

// Service pulls and pushes images.
type Service struct {
	resolver *Resolver
	images   Images
	blobs    string // <data-root>/tmp/pull: downloaded blobs until their image is stored
	meta     *blobMeta

	mu       sync.Mutex
	inflight map[digest.Digest]*sync.Mutex
}

// NewService returns the distribution service of a daemon whose data root
// is dataRoot.
func NewService(cfg Config, images Images, dataRoot string) (*Service, error) {
	r, err := NewResolver(cfg)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(dataRoot, "tmp", "pull")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sweepBlobs(dir, time.Now().Add(-blobCacheMaxAge))
	return &Service{resolver: r, images: images, blobs: dir, meta: openBlobMeta(dataRoot), inflight: map[digest.Digest]*sync.Mutex{}}, nil
}

// blobCacheMaxAge is how long blobs of a pull that never completed are
// kept for a retry to reuse.
const blobCacheMaxAge = 24 * time.Hour

// sweepBlobs removes push temp files (always) and download leftovers
// last written before cutoff.
func sweepBlobs(dir string, cutoff time.Time) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		if strings.HasPrefix(e.Name(), "push-") || info.ModTime().Before(cutoff) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// Resolver is the service's endpoint resolver.
func (s *Service) Resolver() *Resolver { return s.resolver }

// ParseRef turns the API's fromImage and tag (a tag or a digest, as the
// docker CLI sends them) into a normalized reference with a tag or digest.
func ParseRef(name, tag string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, errdefs.With(errdefs.InvalidArgument, err)
	}
	if tag != "" {
		if d, err := digest.Parse(tag); err == nil {
			named, err = reference.WithDigest(reference.TrimNamed(named), d)
		} else {
			named, err = reference.WithTag(reference.TrimNamed(named), tag)
		}
		if err != nil {
			return nil, errdefs.With(errdefs.InvalidArgument, err)
		}
	}
	if _, ok := named.(reference.Digested); ok {
		return named, nil
	}
	return reference.TagNameOnly(named), nil
}

// refString is the tag or digest to ask the registry for.
func refString(n reference.Named) string {
	if d, ok := n.(reference.Digested); ok {
		return d.Digest().String()
	}
	return n.(reference.Tagged).Tag()
}

// manifestDoc covers Docker v2 schema 2 and OCI manifests and indexes.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Config        ocispec.Descriptor   `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
}

// PullRef fetches ref into the image store, writing progress to w.
func (s *Service) PullRef(ctx context.Context, ref reference.Named, creds Credentials, w io.Writer) error {
	return s.PullPlatform(ctx, ref, ocispec.Platform{}, creds, w)
}

// PullPlatform is PullRef picking platform from an index (an empty
// Architecture: this host's, linux/<GOARCH>).
func (s *Service) PullPlatform(ctx context.Context, ref reference.Named, platform ocispec.Platform, creds Credentials, w io.Writer) error {
	explicit := platform.Architecture != ""
	if platform.OS == "" {
		platform.OS = "linux"
	}
	if platform.Architecture == "" {
		platform.Architecture = runtime.GOARCH
	}
	if platform.OS != "linux" {
		return errdefs.InvalidArgumentf("operating system is not supported: %s", platform.OS)
	}
	p := &progressOut{w: w}
	var errs []error
	for _, ep := range s.resolver.Endpoints(reference.Domain(ref), true) {
		repo := ep.Repository(reference.Path(ref), creds, false)
		m, err := repo.GetManifest(ctx, refString(ref))
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue // next mirror, or the registry itself
		}
		return s.pullManifest(ctx, repo, ref, m, platform, explicit, p)
	}
	return pullError(ref, errs)
}

// pullError reports why no endpoint served ref, as dockerd words it.
func pullError(ref reference.Named, errs []error) error {
	if len(errs) == 0 {
		return fmt.Errorf("no endpoint for %s", reference.FamiliarString(ref))
	}
	err := errs[len(errs)-1]
	for _, e := range errs { // a registry's answer beats a mirror's dial error
		if errdefs.ClassOf(e) == errdefs.NotFound || errdefs.ClassOf(e) == errdefs.Unauthorized {
			err = e
		}
	}
	switch errdefs.ClassOf(err) {
	case errdefs.NotFound:
		msg := strings.TrimPrefix(err.Error(), "manifest: ")
		return errdefs.NotFoundf("manifest for %s not found: %s", reference.FamiliarString(ref), msg)
	case errdefs.Unauthorized, errdefs.Forbidden:
		return errdefs.NotFoundf("pull access denied for %s, repository does not exist or may require 'docker login': %v",
			reference.FamiliarName(ref), err)
	}
	return err
}

func (s *Service) pullManifest(ctx context.Context, repo *Repository, ref reference.Named, m Manifest, platform ocispec.Platform, explicit bool, p *progressOut) error {
	var doc manifestDoc
	if err := json.Unmarshal(m.Body, &doc); err != nil {
		return fmt.Errorf("parse manifest: %w", err)
	}
	manifestDigest := m.Digest
	switch m.MediaType {
	case ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList:
		d, err := pickPlatform(doc.Manifests, platform)
		if err != nil {
			return err
		}
		m2, err := repo.GetManifest(ctx, d.String())
		if err != nil {
			return err
		}
		doc = manifestDoc{}
		if err := json.Unmarshal(m2.Body, &doc); err != nil {
			return fmt.Errorf("parse manifest: %w", err)
		}
		if m2.MediaType != ocispec.MediaTypeImageManifest && m2.MediaType != MediaTypeDockerManifest {
			return errdefs.InvalidArgumentf("unsupported manifest media type %q", m2.MediaType)
		}
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest:
	case "application/vnd.docker.distribution.manifest.v1+json", "application/vnd.docker.distribution.manifest.v1+prettyjws":
		return errdefs.InvalidArgumentf("[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of %s to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2", reference.FamiliarString(ref))
	default:
		return errdefs.InvalidArgumentf("unsupported manifest media type %q", m.MediaType)
	}
	p.status(refString(ref), "Pulling from %s", reference.Path(ref))
	for _, l := range doc.Layers {
		switch l.MediaType {
		case MediaTypeDockerLayer, ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
			MediaTypeDockerForeignLayer, ocispec.MediaTypeImageLayerNonDistributableGzip: //nolint:staticcheck // still served
		default:
			return errdefs.InvalidArgumentf("unsupported layer media type %q", l.MediaType)
		}
		if err := l.Digest.Validate(); err != nil {
			return errdefs.InvalidArgumentf("bad layer digest %q: %v", l.Digest, err)
		}
	}
	if err := doc.Config.Digest.Validate(); err != nil {
		return errdefs.InvalidArgumentf("bad config digest %q: %v", doc.Config.Digest, err)
	}

	config, err := fetchSmallBlob(ctx, repo, doc.Config.Digest, maxConfigSize)
	if err != nil {
		return err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(config, &cfg); err != nil {
		return fmt.Errorf("parse image config: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(doc.Layers) {
		return errdefs.InvalidArgumentf("layers from manifest don't match image configuration")
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return errdefs.InvalidArgumentf("image operating system %q cannot be used on this platform", cfg.OS)
	}
	if explicit && cfg.Architecture != "" && cfg.Architecture != platform.Architecture {
		return errdefs.NotFoundf("image with reference %s was found but does not match the specified platform: wanted %s/%s, actual: %s/%s",
			reference.FamiliarString(ref), platform.OS, platform.Architecture, cfg.OS, cfg.Architecture)
	}

	canonical, err := reference.WithDigest(reference.TrimNamed(ref), manifestDigest)
	if err != nil {
		return err
	}
	id := image.ID(doc.Config.Digest)
	if old, err := s.images.Get(ctx, ref.String()); err == nil && old.ID == id {
		_ = s.images.AddReference(ctx, canonical, id)
		p.status("", "Digest: %s", manifestDigest)
		p.status("", "Status: Image is up to date for %s", reference.FamiliarString(ref))
		return nil
	}

	top, err := s.fetchLayers(ctx, repo, doc.Layers, cfg.RootFS.DiffIDs, p)
	if err != nil {
		return err
	}
	id, err = s.images.CreateFromConfig(ctx, config, top)
	if err != nil {
		return err
	}
	if _, ok := ref.(reference.Tagged); ok {
		if err := s.images.AddReference(ctx, ref, id); err != nil {
			return err
		}
	}
	if err := s.images.AddReference(ctx, canonical, id); err != nil {
		return err
	}
	for _, l := range doc.Layers { // stored now: the downloaded blobs go
		_ = os.Remove(s.blobPath(l.Digest))
	}
	p.status("", "Digest: %s", manifestDigest)
	p.status("", "Status: Downloaded newer image for %s", reference.FamiliarString(ref))
	return nil
}

// pickPlatform picks want (os/architecture[/variant]) from an index.
func pickPlatform(ms []ocispec.Descriptor, want ocispec.Platform) (digest.Digest, error) {
	for _, d := range ms {
		if d.Platform == nil || d.Platform.OS != want.OS || d.Platform.Architecture != want.Architecture {
			continue
		}
		v := d.Platform.Variant
		if want.Variant != "" && v != want.Variant || want.Variant == "" && want.Architecture == "arm64" && v != "" && v != "v8" {
			continue
		}
		return d.Digest, nil
	}
	name := want.OS + "/" + want.Architecture
	if want.Variant != "" {
		name += "/" + want.Variant
	}
	return "", errdefs.NotFoundf("no matching manifest for %s in the manifest list entries", name)
}

func fetchSmallBlob(ctx context.Context, repo *Repository, d digest.Digest, limit int64) ([]byte, error) {
	rc, _, _, err := repo.OpenBlob(ctx, d, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d, limit)
	}
	if digest.FromBytes(b) != d {
		return nil, fmt.Errorf("image config verification failed for digest %s", d)
	}
	return b, nil
}

// download is one layer blob on its way to disk.
type download struct {
	desc ocispec.Descriptor
	done chan struct{}
	err  error
}

// fetchLayers makes the layer chain of diffIDs present, downloading what
// is missing (up to maxConcurrentDownloads at once) and applying each
// layer as soon as it and the layers beneath it are in: later downloads
// overlap earlier unpacks. It returns the top chain ID, holding one
// reference on it.
func (s *Service) fetchLayers(ctx context.Context, repo *Repository, descs []ocispec.Descriptor, diffIDs []digest.Digest, p *progressOut) (top image.ChainID, retErr error) {
	layers := s.images.Layers()
	chains := make([]image.ChainID, len(diffIDs))
	var c image.ChainID
	for i, d := range diffIDs {
		c = chainOf(c, d)
		chains[i] = c
	}
	// The longest stored prefix of the chain is not fetched.
	have := 0
	for i := len(chains) - 1; i >= 0; i-- {
		if _, err := layers.Lookup(chains[i]); err == nil {
			have = i + 1
			break
		}
	}
	var held image.ChainID // the chain ID we hold a reference on
	if have > 0 {
		if _, err := layers.Get(chains[have-1]); err != nil {
			have = 0
		} else {
			held = chains[have-1]
		}
	}
	parent := ctx
	defer func() {
		if retErr == nil || held == "" {
			return
		}
		if parent.Err() != nil {
			// Interrupted (the client went away): the layers stored so far
			// are kept a while for the retry to start from. A daemon
			// restart drops them (the layer store releases unused layers).
			h := held
			time.AfterFunc(interruptedPullLease, func() { _, _ = layers.Release(context.Background(), h) })
			return
		}
		_, _ = layers.Release(context.WithoutCancel(ctx), held)
	}()
	for i := 0; i < have; i++ {
		p.status(shortDigest(descs[i].Digest), "Already exists")
	}
	todo := descs[have:]
	if len(todo) == 0 {
		return held, nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dls := make([]*download, len(todo))
	for i, d := range todo {
		dls[i] = &download{desc: d, done: make(chan struct{})}
		p.status(shortDigest(d.Digest), "Pulling fs layer")
	}
	sem := make(chan struct{}, maxConcurrentDownloads)
	var wg sync.WaitGroup
	for _, dl := range dls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(dl.done)
			select {
			case sem <- struct{}{}:
			default:
				p.status(shortDigest(dl.desc.Digest), "Waiting")
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					dl.err = ctx.Err()
					return
				}
			}
			defer func() { <-sem }()
			dl.err = s.fetchBlob(ctx, repo, dl.desc, p)
		}()
	}
	defer wg.Wait()

	for i, dl := range dls {
		select {
		case <-dl.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if dl.err != nil {
			return "", dl.err
		}
		l, err := s.applyBlob(ctx, dl.desc, held, p)
		if err != nil {
			return "", err
		}
		want := diffIDs[have+i]
		if l.DiffID != want {
			_, _ = layers.Release(context.WithoutCancel(ctx), l.ChainID)
			return "", fmt.Errorf("layers from manifest don't match image configuration: layer %s has diff ID %s, config says %s", dl.desc.Digest, l.DiffID, want)
		}
		if held != "" {
			_, _ = layers.Release(context.WithoutCancel(ctx), held) // the new layer holds it
		}
		held = l.ChainID
		s.meta.add(want, blobSource{Host: repo.ep.URL.Host, Repo: repo.path, Digest: dl.desc.Digest, Size: dl.desc.Size, MediaType: dl.desc.MediaType})
		// Unpacked and registered: the compressed copy goes now, so a
		// pull's peak disk is its layers plus the blobs not yet unpacked.
		_ = os.Remove(s.blobPath(dl.desc.Digest))
		p.status(shortDigest(dl.desc.Digest), "Pull complete")
	}
	return held, nil
}

func chainOf(parent image.ChainID, diffID digest.Digest) image.ChainID {
	if parent == "" {
		return image.ChainID(diffID)
	}
	return image.ChainID(digest.FromString(string(parent) + " " + string(diffID)))
}

func (s *Service) blobPath(d digest.Digest) string {
	return filepath.Join(s.blobs, d.Encoded())
}

// lockBlob serializes work on one blob between concurrent pulls.
func (s *Service) lockBlob(d digest.Digest) func() {
	s.mu.Lock()
	m, ok := s.inflight[d]
	if !ok {
		m = &sync.Mutex{}
		s.inflight[d] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// fetchBlob makes blob d present and verified at blobPath(d). A verified
// blob left by an interrupted pull is reused; a partial one (<hex>.partial)
// is resumed with a Range request. A blob whose bytes do not match its
// digest is deleted: nothing of it is kept.
func (s *Service) fetchBlob(ctx context.Context, repo *Repository, desc ocispec.Descriptor, p *progressOut) error {
	defer s.lockBlob(desc.Digest)()
	id := shortDigest(desc.Digest)
	final := s.blobPath(desc.Digest)
	if ok, _ := verifyFile(final, desc.Digest); ok {
		p.status(id, "Download complete")
		return nil
	}
	_ = os.Remove(final)
	partial := final + ".partial"
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	h := desc.Digest.Algorithm().Hash()
	offset, err := io.Copy(h, f) // what an earlier attempt got
	if err != nil {
		return err
	}
	rc, start, size, err := repo.OpenBlob(ctx, desc.Digest, offset)
	if err != nil {
		return err
	}
	defer rc.Close()
	if start != offset { // the registry ignored the Range: start over
		h.Reset()
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		offset = 0
	}
	total := desc.Size
	if total <= 0 {
		total = size
	}
	cnt := &counter{p: p, id: id, action: "Downloading", current: offset, total: total}
	var src io.Reader = rc
	if desc.Size > 0 {
		src = io.LimitReader(rc, desc.Size-offset+1) // a longer blob fails verification below
	}
	n, err := io.Copy(io.MultiWriter(f, h, cnt), src)
	if err != nil {
		return fmt.Errorf("download %s: %w", desc.Digest, err)
	}
	p.bar(id, "Downloading", offset+n, total)
	got := digest.NewDigest(desc.Digest.Algorithm(), h)
	if got != desc.Digest || (desc.Size > 0 && offset+n != desc.Size) {
		_ = f.Close()
		_ = os.Remove(partial)
		if desc.Size > 0 && offset+n < desc.Size {
			return fmt.Errorf("download %s: unexpected EOF: got %d of %d bytes", desc.Digest, offset+n, desc.Size)
		}
		return fmt.Errorf("filesystem layer verification failed for digest %s", desc.Digest)
	}
	p.status(id, "Verifying Checksum")
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(partial, final); err != nil {
		return err
	}
	p.status(id, "Download complete")
	return nil
}

// verifyFile tells whether the file at path hashes to d.
func verifyFile(path string, d digest.Digest) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	v := d.Verifier()
	if _, err := io.Copy(v, f); err != nil {
		return false, err
	}
	return v.Verified(), nil
}

// applyBlob registers the downloaded blob as a layer on parent.
func (s *Service) applyBlob(ctx context.Context, desc ocispec.Descriptor, parent image.ChainID, p *progressOut) (image.Layer, error) {
	id := shortDigest(desc.Digest)
	f, err := os.Open(s.blobPath(desc.Digest))
	if err != nil {
		return image.Layer{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return image.Layer{}, err
	}
	cnt := &counter{p: p, id: id, action: "Extracting", total: st.Size()}
	tr, closeFn, err := decompress(io.TeeReader(f, cnt))
	if err != nil {
		return image.Layer{}, fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	defer closeFn()
	l, err := s.images.Layers().Register(ctx, tr, parent)
	if err != nil {
		return image.Layer{}, fmt.Errorf("register layer %s: %w", desc.Digest, err)
	}
	p.bar(id, "Extracting", st.Size(), st.Size())
	return l, nil
}

// decompress returns the tar inside a layer blob: gzip, zstd or plain,
// told apart by their magic numbers.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, errdefs.InvalidArgumentf("gzip: %v", err)
		}
		return gz, func() { _ = gz.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, errdefs.InvalidArgumentf("zstd: %v", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

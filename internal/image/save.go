package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// LayerTarrer writes a layer's tar again; *layer.Store provides it.
type LayerTarrer interface {
	TarLayer(ctx context.Context, c ChainID, w io.Writer) error
}

// layerSizer tells a layer tar's size without writing it (*layer.Store,
// from the layer's tar split).
type layerSizer interface {
	TarLayerSize(ctx context.Context, c ChainID) (int64, bool)
}

// archiveManifest is one entry of a docker-archive's manifest.json.
type archiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// saveItem is one image to save with the tags it is saved under.
type saveItem struct {
	rec  *record
	tags []reference.NamedTagged
}

// Save writes the images refs name as a docker-archive (docker save):
// dockerd 25+'s layout, an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) that also has manifest.json and repositories for
// older loaders. Layers are the uncompressed tars they were registered
// from, so their digests are their diff IDs and image IDs survive a
// round trip. Every name is resolved before anything is written.
func (s *Store) Save(ctx context.Context, refs []string, w io.Writer) error {
	lt, ok := s.layers.(LayerTarrer)
	if !ok {
		return errdefs.NotImplementedf("save: the layer store cannot write layers")
	}
	items, err := s.saveItems(refs)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.tmp, "image-save-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	tw := tar.NewWriter(w)
	now := time.Unix(0, 0).UTC()
	written := map[digest.Digest]bool{}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now, Format: tar.FormatPAX})
	}
	file := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b)), ModTime: now, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	blob := func(b []byte) (ocispec.Descriptor, error) {
		d := digest.FromBytes(b)
		if !written[d] {
			written[d] = true
			if err := file("blobs/sha256/"+d.Encoded(), b); err != nil {
				return ocispec.Descriptor{}, err
			}
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(b))}, nil
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	// When every layer's size is known up front (tar splits), the
	// metadata (configs, manifests, index.json, manifest.json) goes first
	// and the layers after, so that a loader can unpack each layer as it
	// streams in; else each layer goes through a temp file, in place.
	sizer, front := lt.(layerSizer)
	for _, it := range items {
		var chain ChainID
		for _, diffID := range it.rec.config.RootFS.DiffIDs {
			chain = chainID(chain, diffID)
			if front {
				_, front = sizer.TarLayerSize(ctx, chain)
			}
		}
	}
	type layerJob struct {
		chain  ChainID
		diffID digest.Digest
	}
	var jobs []layerJob
	queued := map[digest.Digest]bool{}
	var manifests []archiveManifest
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	repos := map[string]map[string]string{}
	for _, it := range items {
		cfgBytes, err := os.ReadFile(s.configPath(it.rec.id))
		if err != nil {
			return err
		}
		cfgDesc, err := blob(cfgBytes)
		if err != nil {
			return err
		}
		cfgDesc.MediaType = ocispec.MediaTypeImageConfig
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: []ocispec.Descriptor{}}
		m.SchemaVersion = 2
		am := archiveManifest{Config: "blobs/sha256/" + cfgDesc.Digest.Encoded(), Layers: []string{}}
		var chain ChainID
		for _, diffID := range it.rec.config.RootFS.DiffIDs {
			chain = chainID(chain, diffID)
			var desc ocispec.Descriptor
			if front {
				size, _ := sizer.TarLayerSize(ctx, chain)
				desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: size}
				if !queued[diffID] && !written[diffID] {
					queued[diffID] = true
					jobs = append(jobs, layerJob{chain, diffID})
				}
			} else if desc, err = s.saveLayer(ctx, lt, tw, tmp, chain, diffID, written, now); err != nil {
				return err
			}
			m.Layers = append(m.Layers, desc)
			am.Layers = append(am.Layers, "blobs/sha256/"+diffID.Encoded())
		}
		mb, err := json.Marshal(m)
		if err != nil {
			return err
		}
		mDesc, err := blob(mb)
		if err != nil {
			return err
		}
		mDesc.MediaType = ocispec.MediaTypeImageManifest
		if len(it.tags) == 0 {
			index.Manifests = append(index.Manifests, mDesc)
		}
		for _, t := range it.tags {
			d := mDesc
			d.Annotations = map[string]string{
				"io.containerd.image.name": t.String(),
				ocispec.AnnotationRefName:  t.Tag(),
			}
			index.Manifests = append(index.Manifests, d)
			am.RepoTags = append(am.RepoTags, reference.FamiliarString(t))
			name := reference.FamiliarName(t)
			if repos[name] == nil {
				repos[name] = map[string]string{}
			}
			repos[name][t.Tag()] = digest.Digest(it.rec.id).Encoded()
		}
		manifests = append(manifests, am)
	}
	ib, _ := json.Marshal(index)
	mb, _ := json.Marshal(manifests)
	lb, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := file("index.json", ib); err != nil {
		return err
	}
	if err := file("manifest.json", append(mb, '\n')); err != nil {
		return err
	}
	if err := file("oci-layout", lb); err != nil {
		return err
	}
	if len(repos) > 0 {
		rb, _ := json.Marshal(repos)
		if err := file("repositories", append(rb, '\n')); err != nil {
			return err
		}
	}
	for _, j := range jobs {
		if _, err := s.saveLayer(ctx, lt, tw, tmp, j.chain, j.diffID, written, now); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	saved := map[ID]bool{}
	for _, it := range items {
		if !saved[it.rec.id] {
			saved[it.rec.id] = true
			s.logEvent(it.rec.id, string(it.rec.id), eventtypes.ActionSave)
		}
	}
	return nil
}

// saveLayer writes one layer blob (once per diff ID). The tar goes
// through a temp file first: its size must be known for the header, and
// its digest is checked against the diff ID before it is sent.
func (s *Store) saveLayer(ctx context.Context, lt LayerTarrer, tw *tar.Writer, tmp *os.File, chain ChainID, diffID digest.Digest, written map[digest.Digest]bool, mtime time.Time) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID}
	if sz, ok := lt.(layerSizer); ok {
		if size, ok := sz.TarLayerSize(ctx, chain); ok {
			// Streamed straight into the archive, hashed on the way: a
			// mismatch fails the save (the caller cuts the connection).
			desc.Size = size
			if written[diffID] {
				return desc, nil
			}
			written[diffID] = true
			if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + diffID.Encoded(), Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
				return desc, err
			}
			h := sha256.New()
			if err := lt.TarLayer(ctx, chain, io.MultiWriter(tw, h)); err != nil {
				return desc, fmt.Errorf("save layer %s: %w", diffID, err)
			}
			if got := digest.NewDigest(digest.SHA256, h); got != diffID {
				return desc, fmt.Errorf("save layer %s: the stored layer does not reproduce its diff ID (got %s)", diffID, got)
			}
			return desc, nil
		}
	}
	if err := tmp.Truncate(0); err != nil {
		return desc, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return desc, err
	}
	h := sha256.New()
	if err := lt.TarLayer(ctx, chain, io.MultiWriter(tmp, h)); err != nil {
		return desc, fmt.Errorf("save layer %s: %w", diffID, err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != diffID {
		return desc, fmt.Errorf("save layer %s: the stored layer does not reproduce its diff ID (got %s)", diffID, got)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return desc, err
	}
	desc.Size = size
	if written[diffID] {
		return desc, nil
	}
	written[diffID] = true
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return desc, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + diffID.Encoded(), Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return desc, err
	}
	_, err = io.CopyN(tw, tmp, size)
	return desc, err
}

// saveItems resolves the names to save, merging repeats of one image.
func (s *Store) saveItems(refs []string) ([]*saveItem, error) {
	if len(refs) == 0 {
		return nil, errdefs.InvalidArgumentf("no images specified")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	byID := map[ID]*saveItem{}
	var out []*saveItem
	add := func(rec *record, t reference.NamedTagged) {
		it, ok := byID[rec.id]
		if !ok {
			it = &saveItem{rec: rec}
			byID[rec.id] = it
			out = append(out, it)
		}
		if t != nil {
			for _, have := range it.tags {
				if have.String() == t.String() {
					return
				}
			}
			it.tags = append(it.tags, t)
		}
	}
	for _, ref := range refs {
		if !isHexPrefix(ref) {
			if _, err := reference.ParseNormalizedNamed(ref); err != nil {
				return nil, errdefs.With(errdefs.InvalidArgument, err)
			}
		}
		rec, err := s.resolveLocked(ref)
		if err != nil {
			// "busybox" with only busybox:1.36 stored saves every tag of
			// the repository, as dockerd does.
			named, perr := reference.ParseNormalizedNamed(ref)
			if perr != nil || !reference.IsNameOnly(named) {
				return nil, err
			}
			found := false
			for r, id := range s.refs {
				n, err := reference.ParseNormalizedNamed(r)
				if err != nil || n.Name() != named.Name() {
					continue
				}
				if t, ok := n.(reference.NamedTagged); ok {
					add(s.images[id], t)
					found = true
				}
			}
			if !found {
				return nil, err
			}
			continue
		}
		if isIDRef(rec.id, ref) && !strings.Contains(ref, ":") || strings.HasPrefix(ref, "sha256:") {
			add(rec, nil)
			continue
		}
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, errdefs.With(errdefs.InvalidArgument, err)
		}
		if t, ok := reference.TagNameOnly(named).(reference.NamedTagged); ok {
			add(rec, t)
		} else {
			add(rec, nil)
		}
	}
	for _, it := range out {
		sort.Slice(it.tags, func(i, j int) bool { return it.tags[i].String() < it.tags[j].String() })
	}
	return out, nil
}

func (s *Store) configPath(id ID) string {
	return s.contentDir() + "/" + digest.Digest(id).Encoded()
}

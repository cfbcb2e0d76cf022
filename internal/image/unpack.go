package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
)

// unpacker reads a docker-archive into a temp dir. When manifest.json
// comes before the layers (berth's own archives put the metadata first),
// each layer is registered straight from the stream as it arrives instead
// of being written to the temp dir first: one write of the layer instead
// of two.
type unpacker struct {
	s   *Store
	dir string
	// manifests, once manifest.json has been read.
	manifests []archiveManifest
	next      []int     // per manifest: index of its next layer
	chains    []ChainID // per manifest: chain of the layers registered so far
	early     []ChainID // references held on layers registered from the stream
	earlyDiff map[string]digest.Digest
	streamOK  map[string]bool // layer paths every manifest uses at one place
	// diffIDs of the configs read so far, by path (nil: not in the
	// archive yet): a layer whose chain is already stored is then skipped
	// instead of applied again.
	diffIDs map[string][]digest.Digest
}

func (u *unpacker) release(ctx context.Context) {
	for _, c := range u.early {
		_, _ = u.s.layers.Release(context.WithoutCancel(ctx), c)
	}
	u.early = nil
}

// unpack reads the archive r into u.dir.
func (u *unpacker) unpack(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	tr := tar.NewReader(br)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errdefs.InvalidArgumentf("load: %w", err)
		}
		rel, err := archive.CleanPath(hdr.Name)
		if err != nil {
			return errdefs.InvalidArgumentf("load: %w", err)
		}
		if rel == "" {
			continue
		}
		parent, err := securejoin.SecureJoin(u.dir, path.Dir(rel))
		if err != nil {
			return errdefs.InvalidArgumentf("load: %s: %w", hdr.Name, err)
		}
		p := filepath.Join(parent, path.Base(rel))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
			continue
		case tar.TypeSymlink:
			// Legacy archives link repeated layers; links are resolved in
			// the dir's scope when opened.
			if err := os.MkdirAll(parent, 0o700); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
			continue
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old writers
		default:
			continue // nothing else belongs in an image archive
		}
		if done, err := u.stream(ctx, rel, tr); done || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		var w io.Writer = f
		if rel == "manifest.json" && hdr.Size < 8<<20 {
			w = io.MultiWriter(f, &buf)
		}
		_, err = io.Copy(w, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return errdefs.InvalidArgumentf("load: %s: %w", hdr.Name, err)
			}
			return err
		}
		if buf.Len() > 0 {
			u.readManifest(buf.Bytes())
		}
	}
}

// readManifest prepares streaming for the layers manifest.json lists.
func (u *unpacker) readManifest(b []byte) {
	var ms []archiveManifest
	if json.Unmarshal(b, &ms) != nil {
		return // reported when the manifest is read for real
	}
	u.manifests = ms
	u.next = make([]int, len(ms))
	u.chains = make([]ChainID, len(ms))
	u.earlyDiff = map[string]digest.Digest{}
	place := map[string]string{}
	u.streamOK = map[string]bool{}
	for _, m := range ms {
		for i, l := range m.Layers {
			l = path.Clean(l)
			key := strings.Join(m.Layers[:i], "|")
			if old, ok := place[l]; ok && old != key {
				u.streamOK[l] = false
				continue
			}
			place[l] = key
			if _, seen := u.streamOK[l]; !seen {
				u.streamOK[l] = true
			}
		}
	}
}

// configDiffIDs returns the diff IDs of a config already unpacked (not
// checked against its digest: they only say which layers to skip; the
// image is stored by loadOne, which checks everything).
func (u *unpacker) configDiffIDs(name string) []digest.Digest {
	name = path.Clean(name)
	if ids, ok := u.diffIDs[name]; ok && ids != nil {
		return ids
	}
	b, err := readIn(u.dir, name, 8<<20)
	if err != nil {
		return nil // not in yet
	}
	var cf configFile
	if json.Unmarshal(b, &cf) != nil {
		return nil
	}
	if u.diffIDs == nil {
		u.diffIDs = map[string][]digest.Digest{}
	}
	u.diffIDs[name] = cf.RootFS.DiffIDs
	return cf.RootFS.DiffIDs
}

// stored takes a reference on the chain the next layer of manifest i
// makes if its config is known and that chain is already stored.
func (u *unpacker) stored(i int) (ChainID, digest.Digest, bool) {
	m := u.manifests[i]
	ids := u.configDiffIDs(m.Config)
	if len(ids) != len(m.Layers) {
		return "", "", false
	}
	want := ids[u.next[i]]
	c := chainID(u.chains[i], want)
	if _, err := u.s.layers.Get(c); err != nil {
		return "", "", false
	}
	return c, want, true
}

// stream registers the entry rel straight from the archive if it is the
// next layer of a manifest whose earlier layers are in; done says so.
func (u *unpacker) stream(ctx context.Context, rel string, r io.Reader) (done bool, err error) {
	if !u.streamOK[rel] {
		return false, nil
	}
	for i, m := range u.manifests {
		if u.next[i] >= len(m.Layers) || path.Clean(m.Layers[u.next[i]]) != rel {
			continue
		}
		parent := u.chains[i]
		// Already stored (a base layer): like loadOne, not read again.
		c, diffID, ok := u.stored(i)
		if !ok {
			l, err := u.s.layers.Register(ctx, r, parent)
			if err != nil {
				return true, fmt.Errorf("load layer %s: %w", rel, err)
			}
			c, diffID = l.ChainID, l.DiffID
		}
		u.early = append(u.early, c)
		u.earlyDiff[rel] = diffID
		// Every manifest waiting for this layer on the same chain moves on.
		for j, m2 := range u.manifests {
			if u.next[j] < len(m2.Layers) && path.Clean(m2.Layers[u.next[j]]) == rel && u.chains[j] == parent {
				u.chains[j] = c
				u.next[j]++
			}
		}
		return true, nil
	}
	return false, nil
}

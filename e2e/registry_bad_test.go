package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/distribution/registrytest"
)

// badRegistry serves one image (tag v1) whose second layer blob is
// served corrupt (one byte flipped) or truncated (half, then the
// connection closes).
func badRegistry(t *testing.T, mode string) (*httptest.Server, digest.Digest) {
	good := registrytest.RandomLayer("good", 64<<10)
	bad := registrytest.RandomLayer("bad", 64<<10)
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{good.DiffID, bad.DiffID}}})
	blobs := map[digest.Digest][]byte{digest.FromBytes(cfg): cfg, digest.FromBytes(good.Blob): good.Blob, digest.FromBytes(bad.Blob): bad.Blob}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}}
	m.SchemaVersion = 2
	for _, b := range [][]byte{good.Blob, bad.Blob} {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(b), Size: int64(len(b))})
	}
	mb, _ := json.Marshal(m)
	badDigest := digest.FromBytes(bad.Blob)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v2/":
		case strings.HasSuffix(p, "/manifests/v1"):
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
			_, _ = w.Write(mb)
		case strings.Contains(p, "/blobs/"):
			d := digest.Digest(p[strings.LastIndex(p, "/")+1:])
			b, ok := blobs[d]
			if !ok {
				http.NotFound(w, r)
				return
			}
			if d == badDigest {
				b = append([]byte(nil), b...)
				if mode == "corrupt" {
					b[len(b)/2] ^= 0xff
				} else {
					_, _ = w.Write(b[:len(b)/2])
					w.(http.Flusher).Flush()
					c, _, _ := w.(http.Hijacker).Hijack()
					c.Close()
					return
				}
			}
			_, _ = w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, badDigest
}

// A registry serving a layer whose bytes do not match its digest, or a
// truncated one: docker pull fails with a clear error and berthd keeps
// no image, no layer and no blob of it.
func TestRegistryBadBlobs(t *testing.T) {
	d := StartDaemon(t)
	for _, mode := range []string{"corrupt", "truncate"} {
		srv, bad := badRegistry(t, mode)
		name := strings.TrimPrefix(srv.URL, "http://") + "/bad/img:v1"
		r := d.Docker("", "pull", name)
		want := "filesystem layer verification failed for digest " + bad.String()
		if mode == "truncate" {
			want = "unexpected EOF"
		}
		if r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, want) {
			t.Fatalf("%s: pull: %s (want %q)", mode, r, want)
		}
		if out := d.MustDocker("images", "-q"); out != "" {
			t.Fatalf("%s: image listed after a failed pull: %q", mode, out)
		}
		if ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "image", "overlay2", "layerdb", "sha256")); len(ents) != 0 {
			t.Fatalf("%s: %d layers left after a failed pull", mode, len(ents))
		}
		ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "tmp", "pull"))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), bad.Encoded()) && (mode == "corrupt" || !strings.HasSuffix(e.Name(), ".partial")) {
				t.Fatalf("%s: bad blob kept: %s", mode, e.Name())
			}
		}
	}
}

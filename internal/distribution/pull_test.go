package distribution_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/distribution"
	"github.com/berth-dev/berth/internal/distribution/registrytest"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/layer"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/vfs"
)

// fakeRegistry serves manifests and blobs from memory, with faults.
type fakeRegistry struct {
	mu        sync.Mutex
	manifests map[string][]byte // ref -> body
	types     map[string]string
	blobs     map[digest.Digest][]byte
	// corrupt serves these blobs with a byte flipped.
	corrupt map[digest.Digest]bool
	// truncateOnce cuts the first GET of these blobs after n bytes.
	truncateOnce map[digest.Digest]int
	ranges       []string // Range headers seen on blob GETs
	// bearer, if set, is the token required (issued for user:pass).
	bearer, user, pass string
	// stall serves half of these blobs, then hangs until the request ends.
	stall map[digest.Digest]bool
}

func newFake() *fakeRegistry {
	return &fakeRegistry{manifests: map[string][]byte{}, types: map[string]string{}, blobs: map[digest.Digest][]byte{},
		corrupt: map[digest.Digest]bool{}, truncateOnce: map[digest.Digest]int{}}
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if d, ok := strings.CutPrefix(r.URL.Path, "/v2/test/img/blobs/"); ok && f.stall[digest.Digest(d)] && r.Header.Get("Range") == "" {
		b := f.blobs[digest.Digest(d)]
		f.mu.Unlock()
		w.Header().Set("Content-Length", itoa(len(b)))
		_, _ = w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	defer f.mu.Unlock()
	if r.URL.Path == "/token" {
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": f.bearer, "scope": r.URL.Query().Get("scope")})
		return
	}
	if f.bearer != "" && r.Header.Get("Authorization") != "Bearer "+f.bearer {
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="fake",scope="repository:test/img:pull"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return
	}
	if r.URL.Path == "/v2/" {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/test/img/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if ref, ok := strings.CutPrefix(rest, "manifests/"); ok {
		b, ok := f.manifests[ref]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
			return
		}
		w.Header().Set("Content-Type", f.types[ref])
		_, _ = w.Write(b)
		return
	}
	if d, ok := strings.CutPrefix(rest, "blobs/"); ok {
		dg := digest.Digest(d)
		b, ok := f.blobs[dg]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f.ranges = append(f.ranges, r.Header.Get("Range"))
		if f.corrupt[dg] {
			b = append([]byte(nil), b...)
			b[len(b)/2] ^= 0xff
		}
		if n, ok := f.truncateOnce[dg]; ok {
			delete(f.truncateOnce, dg)
			w.Header().Set("Content-Length", strconvI(len(b)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(b[:n])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
		return
	}
	http.NotFound(w, r)
}

func strconvI(n int) string { return itoa(n) }

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// addImage stores an image of layers under tag and returns its manifest
// digest and config digest.
func (f *fakeRegistry) addImage(tag string, layers [][]byte, diffIDs []digest.Digest, layerType string) (digest.Digest, digest.Digest) {
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	cb, _ := json.Marshal(cfg)
	cd := digest.FromBytes(cb)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cb))}}
	m.SchemaVersion = 2
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs[cd] = cb
	for _, l := range layers {
		d := digest.FromBytes(l)
		f.blobs[d] = l
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: layerType, Digest: d, Size: int64(len(l))})
	}
	mb, _ := json.Marshal(m)
	md := digest.FromBytes(mb)
	for _, ref := range []string{tag, md.String()} {
		f.manifests[ref] = mb
		f.types[ref] = ocispec.MediaTypeImageManifest
	}
	return md, cd
}

type env struct {
	svc    *distribution.Service
	images *image.Store
	driver storage.Driver
	root   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (layers are applied with their owners)")
	}
	root := t.TempDir()
	d, err := vfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layer.NewStore(root, d)
	if err != nil {
		t.Fatal(err)
	}
	is, err := image.NewStore(root, ls)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := distribution.NewService(distribution.Config{}, is, root)
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, images: is, driver: d, root: root}
}

func (e *env) pull(t *testing.T, srv *httptest.Server, ref string, creds distribution.Credentials) (string, error) {
	t.Helper()
	named, err := reference.ParseNormalizedNamed(strings.TrimPrefix(srv.URL, "http://") + "/test/img" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := named.(reference.Digested); !ok {
		named = reference.TagNameOnly(named)
	}
	var out bytes.Buffer
	err = e.svc.PullRef(context.Background(), named, creds, &out)
	return out.String(), err
}

// snapshots counts the driver's snapshots; blobs lists files in the
// download dir.
func (e *env) snapshots(t *testing.T) int {
	n := 0
	_ = e.driver.Walk(context.Background(), func(context.Context, storage.Info) error { n++; return nil })
	return n
}

func (e *env) blobs(t *testing.T) []string {
	ents, _ := os.ReadDir(filepath.Join(e.root, "tmp", "pull"))
	var out []string
	for _, x := range ents {
		out = append(out, x.Name())
	}
	return out
}

func plainLayer(name, content string) ([]byte, digest.Digest) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	return b.Bytes(), digest.FromBytes(b.Bytes())
}

func TestPullMultiLayerGzip(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	var blobs [][]byte
	var ids []digest.Digest
	for i := 0; i < 4; i++ {
		l := registrytest.RandomLayer("f"+itoa(i), 64<<10)
		blobs, ids = append(blobs, l.Blob), append(ids, l.DiffID)
	}
	md, cd := f.addImage("v1", blobs, ids, ocispec.MediaTypeImageLayerGzip)
	out, err := e.pull(t, srv, ":v1", distribution.Credentials{})
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	for _, s := range []string{`"status":"Pulling from test/img","progressDetail":{},"id":"v1"`, `"status":"Pull complete"`, `"status":"Downloading"`, `"progressDetail":{"current":`, "Digest: " + md.String()} {
		if !strings.Contains(out, s) {
			t.Errorf("progress lacks %s:\n%s", s, out)
		}
	}
	img, err := e.images.Get(context.Background(), strings.TrimPrefix(srv.URL, "http://")+"/test/img:v1")
	if err != nil || string(img.ID) != string(cd) {
		t.Fatalf("image: %+v %v (want ID %s)", img, err, cd)
	}
	if b := e.blobs(t); len(b) != 0 {
		t.Errorf("downloaded blobs left after the image is stored: %v", b)
	}
	if n := e.snapshots(t); n != 4 {
		t.Errorf("%d snapshots, want 4", n)
	}
}

// A blob whose bytes do not match its digest fails the pull with
// Docker's message, and nothing of it is kept.
func TestPullDigestMismatch(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	good := registrytest.RandomLayer("good", 32<<10)
	bad := registrytest.RandomLayer("bad", 32<<10)
	f.addImage("v1", [][]byte{good.Blob, bad.Blob}, []digest.Digest{good.DiffID, bad.DiffID}, ocispec.MediaTypeImageLayerGzip)
	f.corrupt[digest.FromBytes(bad.Blob)] = true
	_, err := e.pull(t, srv, ":v1", distribution.Credentials{})
	if err == nil || !strings.Contains(err.Error(), "filesystem layer verification failed for digest "+digest.FromBytes(bad.Blob).String()) {
		t.Fatalf("pull of a corrupt blob: %v", err)
	}
	if n, _ := e.images.Count(context.Background()); n != 0 {
		t.Errorf("%d images after a failed pull", n)
	}
	if n := e.snapshots(t); n != 0 {
		t.Errorf("%d snapshots left after a failed pull", n)
	}
	for _, b := range e.blobs(t) {
		if strings.HasPrefix(b, digest.FromBytes(bad.Blob).Encoded()) {
			t.Errorf("corrupt blob kept: %s", b)
		}
	}
}

// A config whose diff IDs do not match the layers is refused.
func TestPullDiffIDMismatch(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	l := registrytest.RandomLayer("x", 1024)
	f.addImage("v1", [][]byte{l.Blob}, []digest.Digest{digest.FromString("other")}, ocispec.MediaTypeImageLayerGzip)
	if _, err := e.pull(t, srv, ":v1", distribution.Credentials{}); err == nil || !strings.Contains(err.Error(), "don't match image configuration") {
		t.Fatalf("pull: %v", err)
	}
	if n := e.snapshots(t); n != 0 {
		t.Errorf("%d snapshots left", n)
	}
}

// A download cut off midway fails; the next pull resumes it with a
// Range request from where it stopped.
func TestPullResumesTruncatedBlob(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	l := registrytest.RandomLayer("big", 256<<10)
	f.addImage("v1", [][]byte{l.Blob}, []digest.Digest{l.DiffID}, ocispec.MediaTypeImageLayerGzip)
	ld := digest.FromBytes(l.Blob)
	f.truncateOnce[ld] = 100000
	if _, err := e.pull(t, srv, ":v1", distribution.Credentials{}); err == nil {
		t.Fatal("pull of a truncated blob succeeded")
	}
	if n, _ := e.images.Count(context.Background()); n != 0 || e.snapshots(t) != 0 {
		t.Fatalf("half pull stored something: %d images, %d snapshots", n, e.snapshots(t))
	}
	if _, err := e.pull(t, srv, ":v1", distribution.Credentials{}); err != nil {
		t.Fatalf("second pull: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	found := false
	for _, r := range f.ranges {
		if r == "bytes=100000-" {
			found = true
		}
	}
	if !found {
		t.Errorf("no resumed download; Range headers: %q", f.ranges)
	}
}

// An index is resolved to linux/amd64; zstd layers and pull by digest.
func TestPullIndexZstdByDigest(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	tb, diffID := plainLayer("hello", "zstd layer")
	var zb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb)
	_, _ = zw.Write(tb)
	_ = zw.Close()
	md, _ := f.addImage("amd", [][]byte{zb.Bytes()}, []digest.Digest{diffID}, ocispec.MediaTypeImageLayerZstd)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("arm"), Size: 10, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(f.manifests["amd"])), Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
	}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	id := digest.FromBytes(ib)
	f.manifests[id.String()], f.types[id.String()] = ib, ocispec.MediaTypeImageIndex
	out, err := e.pull(t, srv, "@"+id.String(), distribution.Credentials{})
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	img, err := e.images.Get(context.Background(), strings.TrimPrefix(srv.URL, "http://")+"/test/img@"+id.String())
	if err != nil || len(img.Config.RootFS.DiffIDs) != 1 || img.Config.RootFS.DiffIDs[0] != diffID {
		t.Fatalf("image by digest: %+v %v", img, err)
	}
}

// Bearer token auth: the challenge's realm is asked with the user's
// credentials; wrong ones fail as unauthorized.
func TestPullBearerAuth(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	f.bearer, f.user, f.pass = "tok123", "bob", "pw"
	srv := httptest.NewServer(f)
	defer srv.Close()
	l := registrytest.RandomLayer("a", 1024)
	f.addImage("v1", [][]byte{l.Blob}, []digest.Digest{l.DiffID}, ocispec.MediaTypeImageLayerGzip)
	if _, err := e.pull(t, srv, ":v1", distribution.Credentials{Username: "bob", Password: "bad"}); err == nil || !strings.Contains(err.Error(), "pull access denied") {
		t.Fatalf("pull with a bad password: %v", err)
	}
	if out, err := e.pull(t, srv, ":v1", distribution.Credentials{Username: "bob", Password: "pw"}); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
}

func TestPullManifestUnknown(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	_, err := e.pull(t, srv, ":nope", distribution.Credentials{})
	want := "manifest for " + strings.TrimPrefix(srv.URL, "http://") + "/test/img:nope not found: manifest unknown: manifest unknown"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// A pull interrupted by its client keeps the layers it registered (for a
// while) and the part of the blob it was downloading: the retry starts
// from there.
func TestPullInterruptedResumes(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	var blobs [][]byte
	var ids []digest.Digest
	for i := 0; i < 3; i++ {
		l := registrytest.RandomLayer("f"+itoa(i), 128<<10)
		blobs, ids = append(blobs, l.Blob), append(ids, l.DiffID)
	}
	f.addImage("v1", blobs, ids, ocispec.MediaTypeImageLayerGzip)
	last := digest.FromBytes(blobs[2])
	f.stall = map[digest.Digest]bool{last: true}

	ctx, cancel := context.WithCancel(context.Background())
	named, _ := reference.ParseNormalizedNamed(strings.TrimPrefix(srv.URL, "http://") + "/test/img:v1")
	done := make(chan error, 1)
	go func() { done <- e.svc.PullRef(ctx, named, distribution.Credentials{}, nil) }()
	deadline := time.Now().Add(10 * time.Second)
	registered := func() int {
		ents, _ := os.ReadDir(filepath.Join(e.root, "image", "vfs", "layerdb", "sha256"))
		return len(ents)
	}
	for registered() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("interrupted pull succeeded")
	}
	if n := registered(); n != 2 || e.snapshots(t) != 2 {
		t.Fatalf("%d layers, %d snapshots kept after an interrupted pull, want 2", n, e.snapshots(t))
	}
	if n, _ := e.images.Count(context.Background()); n != 0 {
		t.Fatalf("%d images after an interrupted pull", n)
	}
	f.mu.Lock()
	f.stall = nil
	f.mu.Unlock()
	out, err := e.pull(t, srv, ":v1", distribution.Credentials{})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if c := strings.Count(out, "Already exists"); c != 2 {
		t.Errorf("retry reused %d layers, want 2:\n%s", c, out)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.ranges[len(f.ranges)-1]; r != "bytes="+itoa(len(blobs[2])/2)+"-" {
		t.Errorf("last blob not resumed: Range %q", r)
	}
}

// Unknown layer media types and schema 1 manifests are refused before
// anything is downloaded.
func TestPullRefusesUnknownMediaTypes(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	l := registrytest.RandomLayer("x", 1024)
	f.addImage("v1", [][]byte{l.Blob}, []digest.Digest{l.DiffID}, "application/vnd.example.unknown")
	if _, err := e.pull(t, srv, ":v1", distribution.Credentials{}); err == nil || !strings.Contains(err.Error(), `unsupported layer media type "application/vnd.example.unknown"`) {
		t.Fatalf("pull: %v", err)
	}
	f.manifests["old"], f.types["old"] = []byte(`{"schemaVersion":1,"name":"test/img","tag":"old","fsLayers":[]}`), "application/vnd.docker.distribution.manifest.v1+prettyjws"
	if _, err := e.pull(t, srv, ":old", distribution.Credentials{}); err == nil || !strings.Contains(err.Error(), "schema 1 support has been removed") {
		t.Fatalf("pull of schema 1: %v", err)
	}
	if n := e.snapshots(t); n != 0 || len(e.blobs(t)) != 0 {
		t.Fatalf("refused pulls stored %d snapshots, blobs %v", n, e.blobs(t))
	}
}

// --platform picks that entry of an index; a single-platform image of
// another architecture is refused when a platform is asked for.
func TestPullPlatform(t *testing.T) {
	e := newEnv(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	l := registrytest.RandomLayer("amd", 1024)
	md, cd := f.addImage("amd", [][]byte{l.Blob}, []digest.Digest{l.DiffID}, ocispec.MediaTypeImageLayerGzip)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(f.manifests["amd"])), Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
	}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	f.manifests["multi"], f.types["multi"] = ib, ocispec.MediaTypeImageIndex
	named, _ := reference.ParseNormalizedNamed(strings.TrimPrefix(srv.URL, "http://") + "/test/img:multi")
	err := e.svc.PullPlatform(context.Background(), named, ocispec.Platform{OS: "linux", Architecture: "s390x"}, distribution.Credentials{}, nil)
	if err == nil || !strings.Contains(err.Error(), "no matching manifest for linux/s390x in the manifest list entries") {
		t.Fatalf("pull of a missing platform: %v", err)
	}
	named, _ = reference.ParseNormalizedNamed(strings.TrimPrefix(srv.URL, "http://") + "/test/img:amd")
	err = e.svc.PullPlatform(context.Background(), named, ocispec.Platform{OS: "linux", Architecture: "arm64"}, distribution.Credentials{}, nil)
	if err == nil || !strings.Contains(err.Error(), "does not match the specified platform: wanted linux/arm64, actual: linux/amd64") {
		t.Fatalf("pull of another platform's image: %v", err)
	}
	if err := e.svc.PullPlatform(context.Background(), named, ocispec.Platform{OS: "linux", Architecture: "amd64"}, distribution.Credentials{}, nil); err != nil {
		t.Fatal(err)
	}
	if img, err := e.images.Get(context.Background(), named.String()); err != nil || string(img.ID) != string(cd) {
		t.Fatalf("%+v %v", img, err)
	}
}

package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// fakeBackend keeps images in memory, each with a directory holding its
// whole rootfs, so COPY and WORKDIR results can be looked at. RUN is a
// tiny interpreter: "echo X", "touch /p", "exit N", "env", "cat /p"
// joined by "&&" or ";".
type fakeBackend struct {
	t      *testing.T
	dir    string
	mu     sync.Mutex
	images map[image.ID]*fakeImage
	refs   map[string]image.ID
	ctrs   map[string]*fakeCtr
	seq    int
	calls  map[string]int // method -> count
	runs   []RunRequest
	cancel func() // for RUN "cancel"
	onRun  func(RunRequest)
}

type fakeImage struct {
	img    *image.Image
	root   string
	parent image.ID
}

type fakeCtr struct {
	image image.ID
	root  string
}

func newFakeBackend(t *testing.T) *fakeBackend {
	return &fakeBackend{
		t:      t,
		dir:    t.TempDir(),
		images: map[image.ID]*fakeImage{},
		refs:   map[string]image.ID{},
		ctrs:   map[string]*fakeCtr{},
		calls:  map[string]int{},
	}
}

func (f *fakeBackend) count(m string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[m]
}

func (f *fakeBackend) called(m string) {
	f.mu.Lock()
	f.calls[m]++
	f.mu.Unlock()
}

func (f *fakeBackend) newDir() string {
	f.mu.Lock()
	f.seq++
	n := f.seq
	f.mu.Unlock()
	d := filepath.Join(f.dir, strconv.Itoa(n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		f.t.Fatal(err)
	}
	return d
}

// addImage stores a base image with files (path -> content).
func (f *fakeBackend) addImage(ref string, cfg dockerspec.DockerOCIImageConfig, files map[string]string) image.ID {
	root := f.newDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	img := dockerspec.DockerOCIImage{Config: cfg}
	img.OS, img.Architecture = "linux", "amd64"
	img.RootFS.Type = "layers"
	img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, digest.Digest("sha256:"+strings.Repeat("0", 64)))
	img.History = []ocispec.History{{CreatedBy: "/bin/sh -c #(nop) ADD file:base in / "}}
	id := f.store(img, root)
	f.refs[normRef(ref)] = id
	return id
}

func normRef(ref string) string {
	if strings.HasPrefix(ref, "sha256:") || strings.Contains(ref, ":") {
		return ref
	}
	return ref + ":latest"
}

func (f *fakeBackend) store(img dockerspec.DockerOCIImage, root string) image.ID {
	b, _ := json.Marshal(img)
	sum := sha256.Sum256(b)
	id := image.ID("sha256:" + hex.EncodeToString(sum[:]))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[id] = &fakeImage{img: &image.Image{ID: id, Config: img}, root: root}
	return id
}

func (f *fakeBackend) Image(ctx context.Context, ref string) (*image.Image, error) {
	f.called("Image")
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.refs[normRef(ref)]; ok {
		ref = string(id)
	}
	if im, ok := f.images[image.ID(ref)]; ok {
		return im.img, nil
	}
	return nil, errdefs.NotFoundf("No such image: %s", ref)
}

func (f *fakeBackend) get(id image.ID) *fakeImage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[id]
}

// copyTree copies the rootfs of parent ("" = empty) into a new dir.
func (f *fakeBackend) copyTree(parent image.ID) string {
	dst := f.newDir()
	if parent == "" {
		return dst
	}
	src := f.get(parent).root
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(t, fi.Mode().Perm())
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			return os.Symlink(l, t)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(t, b, fi.Mode().Perm()); err != nil {
				return err
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				os.Lchown(t, int(st.Uid), int(st.Gid))
			}
			return os.Chtimes(t, fi.ModTime(), fi.ModTime())
		}
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return dst
}

func (f *fakeBackend) commit(req CommitRequest, root string, empty bool) (image.ID, error) {
	var img dockerspec.DockerOCIImage
	if req.Parent != "" {
		p := f.get(req.Parent)
		if p == nil {
			return "", errdefs.NotFoundf("No such image: %s", req.Parent)
		}
		img = p.img.Config
		img.History = append([]ocispec.History(nil), img.History...)
		img.RootFS.DiffIDs = slices.Clone(img.RootFS.DiffIDs)
	} else {
		img.OS, img.Architecture = "linux", "amd64"
		img.RootFS.Type = "layers"
	}
	img.Config = req.Config
	img.Author = req.Author
	now := time.Now()
	img.Created = &now
	img.History = append(img.History, ocispec.History{CreatedBy: req.CreatedBy, Comment: req.Comment, EmptyLayer: empty, Created: &now, Author: req.Author})
	if !empty {
		f.mu.Lock()
		f.seq++
		n := f.seq
		f.mu.Unlock()
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, digestOf(fmt.Sprintf("layer-%d", n)))
	}
	id := f.store(img, root)
	f.mu.Lock()
	f.images[id].parent = req.Parent
	f.mu.Unlock()
	return id, nil
}

// RemoveBuildImage implements ImageRemover with the image store's rules.
func (f *fakeBackend) RemoveBuildImage(ctx context.Context, id image.ID) error {
	f.called("RemoveBuildImage")
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.refs {
		if v == id {
			return nil
		}
	}
	for _, im := range f.images {
		if im.parent == id {
			return nil
		}
	}
	for _, c := range f.ctrs {
		if c.image == id {
			return nil
		}
	}
	delete(f.images, id)
	return nil
}

func digestOf(s string) digest.Digest {
	sum := sha256.Sum256([]byte(s))
	return digest.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

func (f *fakeBackend) CommitConfig(ctx context.Context, req CommitRequest) (image.ID, error) {
	f.called("CommitConfig")
	root := f.newDir()
	if req.Parent != "" {
		root = f.get(req.Parent).root // same files
	}
	return f.commit(req, root, true)
}

func (f *fakeBackend) Run(ctx context.Context, req RunRequest) (string, int, error) {
	f.called("Run")
	if f.onRun != nil {
		f.onRun(req)
	}
	f.mu.Lock()
	f.runs = append(f.runs, req)
	f.mu.Unlock()
	if req.Image != "" && f.get(req.Image) == nil {
		return "", 0, errdefs.NotFoundf("No such image: %s", req.Image)
	}
	root := f.copyTree(req.Image)
	sum := sha256.Sum256([]byte(root))
	id := hex.EncodeToString(sum[:])
	f.mu.Lock()
	f.ctrs[id] = &fakeCtr{image: req.Image, root: root}
	f.mu.Unlock()
	if req.Created != nil {
		req.Created(id)
	}
	script := req.Config.Cmd[len(req.Config.Cmd)-1]
	for _, part := range strings.FieldsFunc(script, func(r rune) bool { return r == ';' || r == '&' }) {
		w := strings.Fields(part)
		if len(w) == 0 {
			continue
		}
		switch w[0] {
		case "warn":
			w := req.Out
			if req.Stderr != nil {
				w = req.Stderr
			}
			fmt.Fprintln(w, strings.Join(strings.Fields(part)[1:], " "))
		case "echo":
			env := map[string]string{}
			for _, e := range req.Config.Env {
				k, v, _ := strings.Cut(e, "=")
				env[k] = v
			}
			fmt.Fprintln(req.Out, os.Expand(strings.Join(w[1:], " "), func(k string) string { return env[k] }))
		case "env":
			for _, e := range req.Config.Env {
				fmt.Fprintln(req.Out, e)
			}
		case "touch":
			for _, p := range w[1:] {
				full := filepath.Join(root, req.Config.WorkingDir, p)
				os.MkdirAll(filepath.Dir(full), 0o755)
				os.WriteFile(full, nil, 0o644)
			}
		case "cat":
			b, _ := os.ReadFile(filepath.Join(root, w[1]))
			req.Out.Write(b)
		case "cancel": // the client goes away mid-RUN
			if f.cancel != nil {
				f.cancel()
			}
			return id, 0, ctx.Err()
		case "exit":
			n, _ := strconv.Atoi(w[1])
			return id, n, nil
		}
	}
	return id, 0, nil
}

func (f *fakeBackend) CommitContainer(ctx context.Context, id string, req CommitRequest) (image.ID, error) {
	f.called("CommitContainer")
	f.mu.Lock()
	c := f.ctrs[id]
	f.mu.Unlock()
	if c == nil {
		return "", errdefs.NotFoundf("No such container: %s", id)
	}
	return f.commit(req, f.copyTreeDir(c.root), false)
}

func (f *fakeBackend) copyTreeDir(root string) string { return root }

func (f *fakeBackend) RemoveContainer(ctx context.Context, id string) error {
	f.called("RemoveContainer")
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ctrs[id]; !ok {
		return errdefs.NotFoundf("No such container: %s", id)
	}
	delete(f.ctrs, id)
	return nil
}

type fakeWorkLayer struct {
	f        *fakeBackend
	root     string
	released bool
}

func (w *fakeWorkLayer) Path() string { return w.root }
func (w *fakeWorkLayer) Commit(ctx context.Context, req CommitRequest) (image.ID, error) {
	w.f.called("WorkLayer.Commit")
	return w.f.commit(req, w.root, false)
}
func (w *fakeWorkLayer) Release(ctx context.Context) error {
	if !w.released {
		w.released = true
		w.f.called("WorkLayer.Release")
	}
	return nil
}

func (f *fakeBackend) NewWorkLayer(ctx context.Context, parent image.ID) (WorkLayer, error) {
	f.called("NewWorkLayer")
	if parent != "" && f.get(parent) == nil {
		return nil, errdefs.NotFoundf("No such image: %s", parent)
	}
	return &fakeWorkLayer{f: f, root: f.copyTree(parent)}, nil
}

func (f *fakeBackend) Tag(ctx context.Context, id image.ID, ref string) error {
	f.called("Tag")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs[ref] = id
	return nil
}

func (f *fakeBackend) ReadOnlyRootfs(ctx context.Context, id image.ID) (string, func(), error) {
	f.called("ReadOnlyRootfs")
	im := f.get(id)
	if im == nil {
		return "", nil, errdefs.NotFoundf("No such image: %s", id)
	}
	return im.root, func() { f.called("ReadOnlyRootfs.release") }, nil
}

// fakeCache is an in-memory Cache.
type fakeCache struct {
	mu   sync.Mutex
	m    map[string]image.ID
	gets int
	puts int
}

func newFakeCache() *fakeCache { return &fakeCache{m: map[string]image.ID{}} }

func (c *fakeCache) Get(ctx context.Context, key string) (image.ID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	id, ok := c.m[key]
	return id, ok
}

func (c *fakeCache) Put(ctx context.Context, key string, id image.ID, e CacheEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.puts++
	c.m[key] = id
	return nil
}

// recOutput records the stream.
type recOutput struct {
	mu   sync.Mutex
	buf  strings.Builder
	auxs []string
	msgs []string // each call: its text, or "aux:<id>"
}

func (o *recOutput) Stream(s string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.WriteString(s)
	o.msgs = append(o.msgs, s)
	return nil
}

func (o *recOutput) Aux(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.auxs = append(o.auxs, id)
	o.msgs = append(o.msgs, "aux:"+id)
	return nil
}

// contextTar makes a build context tar from files (path -> content;
// a trailing "/" makes a directory).
func contextTar(t testing.TB, files map[string]string) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg, ModTime: time.Unix(1e9, 0)}
		if strings.HasSuffix(n, "/") {
			hdr = &tar.Header{Name: n, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(1e9, 0)}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			tw.Write([]byte(files[n]))
		}
	}
	tw.Close()
	return &buf
}

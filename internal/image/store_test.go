package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/apiserver/router/images"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/layer"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/overlay2"
)

type env struct {
	root   string
	driver storage.Driver
	layers *layer.Store
	images *image.Store
}

func open(t *testing.T, root string) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	d, err := overlay2.New(root)
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
	return &env{root, d, ls, is}
}

// busyboxTar builds a busybox rootfs tar from the host's static busybox.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed (apt-get install busybox-static)")
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "tmp/", "root/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, app := range strings.Fields(string(list)) {
		if app != "busybox" {
			tw.WriteHeader(&tar.Header{Name: "bin/" + app, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
		}
	}
	for name, body := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func countLayers(t *testing.T, e *env) int {
	n := 0
	_ = e.driver.Walk(context.Background(), func(context.Context, storage.Info) error { n++; return nil })
	return n
}

func TestImportBusybox(t *testing.T) {
	ctx := context.Background()
	e := open(t, t.TempDir())
	data := busyboxTar(t)
	var progress bytes.Buffer
	id, err := e.images.Import(ctx, bytes.NewReader(data), "busybox", "latest", []string{`CMD ["sh"]`}, "", &progress)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct{ Status string }
	if err := json.Unmarshal(bytes.TrimSpace(progress.Bytes()), &msg); err != nil || msg.Status != id {
		t.Fatalf("progress %q", progress.String())
	}
	img, err := e.images.Get(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if string(img.ID) != id || !reflect.DeepEqual(img.Config.Config.Cmd, []string{"sh"}) || !reflect.DeepEqual(img.RepoTags, []string{"busybox:latest"}) {
		t.Fatalf("image %+v", img)
	}
	hex := strings.TrimPrefix(id, "sha256:")
	for _, ref := range []string{"busybox:latest", "docker.io/library/busybox:latest", "docker.io/library/busybox", id, hex, hex[:12], "sha256:" + hex[:6]} {
		if got, err := e.images.Get(ctx, ref); err != nil || string(got.ID) != id {
			t.Errorf("Get(%q) = %v, %v", ref, got, err)
		}
	}
	if _, err := e.images.Get(ctx, "alpine"); !errdefs.Is(err, errdefs.NotFound) || err.Error() != "No such image: alpine:latest" {
		t.Fatalf("missing image: %v", err)
	}

	// The config on disk is the image ID's preimage.
	b, err := os.ReadFile(filepath.Join(e.root, "image/overlay2/imagedb/content/sha256", hex))
	if err != nil || !strings.Contains(string(b), `"Cmd":["sh"]`) {
		t.Fatalf("config file: %v %s", err, b)
	}
	repos, _ := os.ReadFile(filepath.Join(e.root, "image/overlay2/repositories.json"))
	if !strings.Contains(string(repos), `{"Repositories":{"busybox":{"busybox:latest":"`+id+`"}}}`) {
		t.Fatalf("repositories.json: %s", repos)
	}

	list, err := e.images.List(ctx, images.ListOptions{Filters: filters.NewArgs()})
	if n, _ := e.images.Count(ctx); n != 1 {
		t.Fatalf("count %d", n)
	}
	if err != nil || len(list) != 1 || list[0].ID != id || !reflect.DeepEqual(list[0].RepoTags, []string{"busybox:latest"}) || list[0].Size < int64(len(data))/2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	insp, err := e.images.Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if insp.ID != id || insp.Os != "linux" || insp.RootFS.Type != "layers" || len(insp.RootFS.Layers) != 1 || insp.GraphDriver.Name != "overlay2" ||
		insp.GraphDriver.Data["UpperDir"] == "" || insp.Created == "" || insp.Comment != "Imported from -" || !reflect.DeepEqual(insp.Config.Cmd, []string{"sh"}) {
		t.Fatalf("inspect: %+v", insp)
	}
	hist, err := e.images.History(ctx, id[:19])
	if err != nil || len(hist) != 1 || hist[0].ID != id || hist[0].Size != list[0].Size || hist[0].Comment != "Imported from -" {
		t.Fatalf("history: %+v %v", hist, err)
	}

	// A container's writable layer on the image sees busybox.
	if err := e.layers.CreateRW(ctx, "ctr1", img.TopLayer); err != nil {
		t.Fatal(err)
	}
	rootfs, err := e.layers.Mount(ctx, "ctr1")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(rootfs, "bin/sh")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("bin/sh in rootfs: %v", err)
	}
	if err := e.layers.RemoveRW(ctx, "ctr1"); err != nil {
		t.Fatal(err)
	}

	// The same tar again: a new image (its config differs in time), same layer.
	id2, err := e.images.Import(ctx, bytes.NewReader(data), "", "", nil, "second", nil)
	if err != nil {
		t.Fatal(err)
	}
	if countLayers(t, e) != 1 {
		t.Fatalf("%d layers, want the one shared", countLayers(t, e))
	}
	if l, _ := e.images.List(ctx, images.ListOptions{Filters: filters.NewArgs([2]string{"dangling", "true"})}); len(l) != 1 || l[0].ID != id2 || len(l[0].RepoTags) != 0 {
		t.Fatalf("dangling: %+v", l)
	}
	if _, err := e.images.Delete(ctx, id2, false, false); err != nil {
		t.Fatal(err)
	}
	if countLayers(t, e) != 1 {
		t.Fatal("deleting one image removed the shared layer")
	}
}

func TestTagAndDeleteRules(t *testing.T) {
	ctx := context.Background()
	e := open(t, t.TempDir())
	id, err := e.images.Import(ctx, bytes.NewReader(busyboxTar(t)), "busybox", "", nil, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	short := strings.TrimPrefix(id, "sha256:")[:12]
	if err := e.images.Tag(ctx, "busybox", "example.com/team/bb", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := e.images.Tag(ctx, "busybox", "Bad/Upper", ""); !errdefs.Is(err, errdefs.InvalidArgument) || err.Error() != "invalid reference format: repository name (Upper) must be lowercase" {
		t.Fatalf("bad repo: %v", err)
	}
	img, _ := e.images.Get(ctx, id)
	if !reflect.DeepEqual(img.RepoTags, []string{"busybox:latest", "example.com/team/bb:v1"}) {
		t.Fatalf("tags %v", img.RepoTags)
	}

	_, err = e.images.Delete(ctx, short, false, false)
	if !errdefs.Is(err, errdefs.Conflict) || err.Error() != "conflict: unable to delete "+short+" (must be forced) - image is referenced in multiple repositories" {
		t.Fatalf("delete by ID with two names: %v", err)
	}

	running := true
	e.images.SetInUse(func(got image.ID) (string, bool, bool) {
		return "c0ffee0123456789", running, string(got) == id
	})
	_, err = e.images.Delete(ctx, id, true, false)
	if !errdefs.Is(err, errdefs.Conflict) || err.Error() != "conflict: unable to delete "+short+" (cannot be forced) - image is being used by running container c0ffee012345" {
		t.Fatalf("delete with running container: %v", err)
	}

	// Untag one of two names: only untagged.
	resp, err := e.images.Delete(ctx, "example.com/team/bb:v1", false, false)
	if err != nil || len(resp) != 1 || resp[0].Untagged != "example.com/team/bb:v1" {
		t.Fatalf("untag: %+v %v", resp, err)
	}
	// The last name of an image a stopped container uses needs force.
	running = false
	if _, err := e.images.Delete(ctx, "busybox", false, false); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("last tag with a container: %v", err)
	}
	e.images.SetInUse(nil)
	resp, err = e.images.Delete(ctx, "busybox:latest", false, false)
	if err != nil || len(resp) != 3 || resp[0].Untagged != "busybox:latest" || resp[1].Deleted != id || !strings.HasPrefix(resp[2].Deleted, "sha256:") {
		t.Fatalf("delete: %+v %v", resp, err)
	}
	if _, err := e.images.Get(ctx, id); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatal("image still there")
	}
	if countLayers(t, e) != 0 {
		t.Fatal("layer left after its last image went")
	}
	assertOnlyDirs(t, filepath.Join(e.root, "tmp"))
}

func assertOnlyDirs(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func rawTar(t *testing.T, hdrs ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = 1
			tw.WriteHeader(h)
			tw.Write([]byte("x"))
			continue
		}
		tw.WriteHeader(h)
	}
	tw.Close()
	return buf.Bytes()
}

func TestImportBadInputsLeaveNothing(t *testing.T) {
	ctx := context.Background()
	e := open(t, t.TempDir())
	good := busyboxTar(t)
	cases := map[string]struct {
		data    []byte
		changes []string
		repo    string
		msg     string
	}{
		"escaping path": {rawTar(t, &tar.Header{Name: "../../escape", Typeflag: tar.TypeReg, Mode: 0o644}), nil, "", "escapes the layer root"},
		"write through absolute symlink": {rawTar(t,
			&tar.Header{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
			&tar.Header{Name: "etc/berth-test-pwned", Typeflag: tar.TypeReg, Mode: 0o644}), nil, "", "resolve path"},
		"truncated tar":  {good[:len(good)/2], nil, "", "truncated archive"},
		"not a tar":      {bytes.Repeat([]byte("garbage!"), 200), nil, "", "invalid tar header"},
		"unknown change": {good, []string{"FROB x"}, "", "unknown instruction: FROB"},
		"run change":     {good, []string{"RUN rm -rf /"}, "", "RUN is not a valid change command"},
		"bad repo":       {good, nil, "UPPER", "invalid reference format"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.images.Import(ctx, bytes.NewReader(c.data), c.repo, "", c.changes, "", io.Discard)
			if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want InvalidArgument with %q", err, c.msg)
			}
		})
	}
	if _, err := os.Stat("/etc/berth-test-pwned"); err == nil {
		os.Remove("/etc/berth-test-pwned")
		t.Fatal("wrote through a symlink to the host's /etc")
	}
	if l, _ := e.images.List(ctx, images.ListOptions{Filters: filters.NewArgs()}); len(l) != 0 {
		t.Fatalf("images: %+v", l)
	}
	if countLayers(t, e) != 0 {
		t.Fatal("layers left behind")
	}
	assertOnlyDirs(t, filepath.Join(e.root, "tmp"))
	assertOnlyDirs(t, filepath.Join(e.root, "image/overlay2/layerdb/sha256"))
	assertOnlyDirs(t, filepath.Join(e.root, "image/overlay2/imagedb/content/sha256"))
}

// TestReopenAfterInterruption: whatever a killed daemon left, a reopened
// store lists only whole images and removes the rest.
func TestReopenAfterInterruption(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	e := open(t, root)
	id, err := e.images.Import(ctx, bytes.NewReader(busyboxTar(t)), "busybox", "", nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// An import that registered its layer and died before the config.
	if _, err := e.layers.Register(ctx, bytes.NewReader(rawTar(t, &tar.Header{Name: "half", Typeflag: tar.TypeReg, Mode: 0o644})), ""); err != nil {
		t.Fatal(err)
	}
	// An orphan snapshot, a temp file mid-write, a config whose layer is
	// gone, a config that does not match its name, a tag on a missing image.
	if _, err := e.driver.Prepare(ctx, "orphan", ""); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "tmp", "image-123"), []byte("{"), 0o600)
	content := filepath.Join(root, "image/overlay2/imagedb/content/sha256")
	noLayer := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("1", 64) + `"]}}`
	noLayerID := sha(noLayer)
	os.WriteFile(filepath.Join(content, noLayerID), []byte(noLayer), 0o600)
	os.WriteFile(filepath.Join(content, strings.Repeat("2", 64)), []byte(`{"os":"linux"}`), 0o600)
	repos := `{"Repositories":{"busybox":{"busybox:latest":"` + id + `"},"ghost":{"ghost:latest":"sha256:` + noLayerID + `"}}}`
	os.WriteFile(filepath.Join(root, "image/overlay2/repositories.json"), []byte(repos), 0o600)

	before, _ := e.images.Inspect(ctx, id)
	os.MkdirAll(filepath.Join(root, "image/overlay2/imagedb/metadata/sha256", noLayerID), 0o700)

	e2 := open(t, root)
	if after, _ := e2.images.Inspect(ctx, id); after.Metadata.LastTagTime.IsZero() || !after.Metadata.LastTagTime.Equal(before.Metadata.LastTagTime) {
		t.Fatalf("LastTagTime %v, was %v", after.Metadata.LastTagTime, before.Metadata.LastTagTime)
	}
	if _, err := os.Stat(filepath.Join(root, "image/overlay2/imagedb/metadata/sha256", noLayerID)); !os.IsNotExist(err) {
		t.Fatal("metadata of a half-made image survived")
	}
	l, err := e2.images.List(ctx, images.ListOptions{Filters: filters.NewArgs()})
	if err != nil || len(l) != 1 || l[0].ID != id || !reflect.DeepEqual(l[0].RepoTags, []string{"busybox:latest"}) {
		t.Fatalf("after reopen: %+v %v", l, err)
	}
	if _, err := e2.images.Get(ctx, "ghost"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatal("tag on a half-made image survived")
	}
	if n := countLayers(t, e2); n != 1 {
		t.Fatalf("%d layers after reopen, want 1", n)
	}
	ents, _ := os.ReadDir(content)
	if len(ents) != 1 {
		t.Fatalf("%d configs on disk, want 1", len(ents))
	}
	assertOnlyDirs(t, filepath.Join(root, "tmp"))
}

func sha(s string) string {
	out, _ := exec.Command("sh", "-c", "printf %s \"$1\" | sha256sum", "sh", s).Output()
	return strings.Fields(string(out))[0]
}

func TestListFilters(t *testing.T) {
	ctx := context.Background()
	e := open(t, t.TempDir())
	tiny := rawTar(t, &tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644})
	old, err := e.images.Import(ctx, bytes.NewReader(tiny), "example/old", "1", []string{"LABEL tier=base"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // Created has second resolution in the API
	young, err := e.images.Import(ctx, bytes.NewReader(tiny), "example/young", "2", []string{"LABEL tier=app"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(kv ...[2]string) []string {
		t.Helper()
		l, err := e.images.List(ctx, images.ListOptions{Filters: filters.NewArgs(kv...)})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range l {
			out = append(out, s.ID)
		}
		return out
	}
	for name, c := range map[string]struct {
		kv   [][2]string
		want []string
	}{
		"all (newest first)": {nil, []string{young, old}},
		"label k=v":          {[][2]string{{"label", "tier=base"}}, []string{old}},
		"label k":            {[][2]string{{"label", "tier"}}, []string{young, old}},
		"reference":          {[][2]string{{"reference", "example/y*"}}, []string{young}},
		"before":             {[][2]string{{"before", "example/young:2"}}, []string{old}},
		"since":              {[][2]string{{"since", old}}, []string{young}},
		"dangling=false":     {[][2]string{{"dangling", "false"}}, []string{young, old}},
	} {
		if got := ids(c.kv...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v want %v", name, got, c.want)
		}
	}
	if _, err := e.images.List(ctx, images.ListOptions{Filters: filters.NewArgs([2]string{"bogus", "x"})}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("unknown filter: %v", err)
	}
}

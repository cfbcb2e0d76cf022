package buildctx

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/berth-dev/berth/internal/errdefs"
)

type tent struct {
	name string
	typ  byte   // 0 = regular file
	body string // content, or link target for links
	mode int64  // 0 = 0644 (0755 for dirs)
}

var testTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

func mkTar(t testing.TB, ents ...tent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, ModTime: testTime, Format: tar.FormatPAX}
		switch e.typ {
		case 0:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		case tar.TypeDir:
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case tar.TypeSymlink, tar.TypeLink:
			h.Linkname = e.body
			h.Mode = 0o777
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// listTree lists every path under dir (relative), for "nothing else was
// written" checks.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "." {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestExtractRefusesEscapes(t *testing.T) {
	tests := []struct {
		name string
		ents []tent
	}{
		{"dotdot", []tent{{name: "../evil", body: "x"}}},
		{"dotdot inside", []tent{{name: "a/../../evil", body: "x"}}},
		{"absolute", []tent{{name: "/evil", body: "x"}}},
		{"absolute dir", []tent{{name: "/tmp/", typ: tar.TypeDir}}},
		{"file through absolute symlink", []tent{
			{name: "link", typ: tar.TypeSymlink, body: "/"},
			{name: "link/evil", body: "x"},
		}},
		{"file through relative symlink", []tent{
			{name: "link", typ: tar.TypeSymlink, body: "../.."},
			{name: "link/evil", body: "x"},
		}},
		{"dir through symlink", []tent{
			{name: "link", typ: tar.TypeSymlink, body: "/tmp"},
			{name: "link/sub/", typ: tar.TypeDir},
		}},
		{"file through file", []tent{
			{name: "f", body: "x"},
			{name: "f/evil", body: "x"},
		}},
		{"hardlink outside", []tent{{name: "h", typ: tar.TypeLink, body: "../outside"}}},
		{"hardlink absolute", []tent{{name: "h", typ: tar.TypeLink, body: "/etc/passwd"}}},
		{"hardlink missing", []tent{{name: "h", typ: tar.TypeLink, body: "nothere"}}},
		{"hardlink to dir", []tent{{name: "d/", typ: tar.TypeDir}, {name: "h", typ: tar.TypeLink, body: "d"}}},
		{"hardlink through symlink", []tent{
			{name: "link", typ: tar.TypeSymlink, body: "/etc"},
			{name: "h", typ: tar.TypeLink, body: "link/passwd"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			tmp := filepath.Join(base, "tmp")
			if err := os.WriteFile(filepath.Join(base, "outside"), []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Extract(context.Background(), bytes.NewReader(mkTar(t, tt.ents...)), tmp, "")
			if err == nil {
				c.Close()
				t.Fatal("Extract accepted an escaping tar")
			}
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Fatalf("err = %v (class %v), want InvalidArgument", err, errdefs.ClassOf(err))
			}
			if got := listTree(t, base); strings.Join(got, ",") != "outside,tmp" {
				t.Fatalf("left behind: %v", got)
			}
			if b, _ := os.ReadFile(filepath.Join(base, "outside")); string(b) != "keep" {
				t.Fatalf("outside file changed: %q", b)
			}
		})
	}
}

func compressWith(t *testing.T, tool string, data []byte) []byte {
	t.Helper()
	switch tool {
	case "none":
		return data
	case "gzip":
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		return b.Bytes()
	case "zstd":
		var b bytes.Buffer
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		zw.Close()
		return b.Bytes()
	}
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed", tool)
	}
	cmd := exec.Command(tool, "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExtractCompressed(t *testing.T) {
	data := mkTar(t,
		tent{name: "Dockerfile", body: "FROM scratch\n"},
		tent{name: "dir/", typ: tar.TypeDir, mode: 0o750},
		tent{name: "dir/run.sh", body: "#!/bin/sh\n", mode: 0o755},
		tent{name: "dir/link", typ: tar.TypeSymlink, body: "run.sh"},
		tent{name: "dir/hard", typ: tar.TypeLink, body: "dir/run.sh"},
		tent{name: "deep/er/file", body: "implicit parents"},
	)
	for _, tool := range []string{"none", "gzip", "bzip2", "xz", "zstd"} {
		t.Run(tool, func(t *testing.T) {
			tmp := t.TempDir()
			c, err := Extract(context.Background(), bytes.NewReader(compressWith(t, tool, data)), tmp, "")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if fi, err := os.Stat(c.Root); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("root: %v %v", fi.Mode(), err)
			}
			df, err := c.Dockerfile("")
			if err != nil || string(df) != "FROM scratch\n" {
				t.Fatalf("Dockerfile = %q, %v", df, err)
			}
			checkMode := func(rel string, want os.FileMode) {
				t.Helper()
				fi, err := os.Lstat(filepath.Join(c.Root, rel))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != want {
					t.Errorf("%s: mode %v, want %v", rel, fi.Mode(), want)
				}
				if !fi.ModTime().Equal(testTime) && !strings.HasPrefix(rel, "deep") {
					t.Errorf("%s: mtime %v, want %v", rel, fi.ModTime(), testTime)
				}
			}
			checkMode("dir", os.ModeDir|0o750)
			checkMode("dir/run.sh", 0o755)
			checkMode("dir/link", os.ModeSymlink|0o777)
			checkMode("deep/er", os.ModeDir|0o755)
			if b, _ := os.ReadFile(filepath.Join(c.Root, "dir/hard")); string(b) != "#!/bin/sh\n" {
				t.Errorf("hardlink content %q", b)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if got := listTree(t, tmp); len(got) != 0 {
				t.Errorf("Close left %v", got)
			}
		})
	}
}

func TestExtractPlainDockerfile(t *testing.T) {
	for _, name := range []string{"", "Dockerfile", "sub/Dockerfile.dev"} {
		c, err := Extract(context.Background(), strings.NewReader("FROM busybox\nRUN true\n"), t.TempDir(), name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Dockerfile(name)
		if err != nil || string(b) != "FROM busybox\nRUN true\n" {
			t.Errorf("%q: Dockerfile = %q, %v", name, b, err)
		}
		c.Close()
	}
	// An empty body is an empty context.
	c, err := Extract(context.Background(), strings.NewReader(""), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Dockerfile(""); err == nil || err.Error() != "Cannot locate specified Dockerfile: Dockerfile" || !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("err = %v", err)
	}
}

func TestExtractTruncated(t *testing.T) {
	data := mkTar(t, tent{name: "big", body: strings.Repeat("x", 4096)})
	tmp := t.TempDir()
	_, err := Extract(context.Background(), bytes.NewReader(data[:1500]), tmp, "")
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("err = %v", err)
	}
	if got := listTree(t, tmp); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
}

func TestExtractCorruptCompression(t *testing.T) {
	gz := compressWith(t, "gzip", mkTar(t, tent{name: "big", body: strings.Repeat("0123456789", 100000)}))
	gz[len(gz)/2] ^= 0xff
	gz[len(gz)/2+1] ^= 0xff
	tmp := t.TempDir()
	_, err := Extract(context.Background(), bytes.NewReader(gz), tmp, "")
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("err = %v (%v), want InvalidArgument", err, errdefs.ClassOf(err))
	}
	if got := listTree(t, tmp); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
}

func TestDockerfileLookup(t *testing.T) {
	c, err := Extract(context.Background(), bytes.NewReader(mkTar(t,
		tent{name: "dockerfile", body: "lower"},
		tent{name: "sub/Custom", body: "custom"},
		tent{name: "sub/dir/", typ: tar.TypeDir},
		tent{name: "ln", typ: tar.TypeSymlink, body: "/sub/Custom"},
	)), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name, want, err string
	}{
		{"", "lower", ""},
		{"Dockerfile", "lower", ""},
		{"sub/Custom", "custom", ""},
		{"/sub/Custom", "custom", ""},
		{"ln", "custom", ""},
		{"missing", "", "Cannot locate specified Dockerfile: missing"},
		{"sub/dir", "", "Cannot locate specified Dockerfile: sub/dir"},
		{"../x", "", "the Dockerfile (../x) must be within the build context"},
	}
	for _, tt := range tests {
		b, err := c.Dockerfile(tt.name)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Errorf("%q: err = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || string(b) != tt.want {
			t.Errorf("%q: %q, %v", tt.name, b, err)
		}
	}
}

func TestDockerignore(t *testing.T) {
	ignore := "# comment\n*.log\nbuild\n!build/keep\nDockerfile\n.dockerignore\nsecret/\nsub/*/tmp\n"
	ents := []tent{
		{name: "Dockerfile", body: "FROM scratch\n"},
		{name: "app.log", body: "x"}, // before .dockerignore in the stream
		{name: "build/", typ: tar.TypeDir},
		{name: "build/out", body: "x"},
		{name: "build/keep", body: "kept"},
		{name: ".dockerignore", body: ignore},
		{name: "secret/", typ: tar.TypeDir},
		{name: "secret/key", body: "x"},
		{name: "src/main.go", body: "package main"},
		{name: "src/debug.log", body: "x"}, // *.log is only the top level
		{name: "sub/a/tmp", body: "x"},
		{name: "sub/a/keep", body: "x"},
		{name: "z.log", body: "x"},
	}
	c, err := Extract(context.Background(), bytes.NewReader(mkTar(t, ents...)), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := strings.Join(listTree(t, c.Root), " ")
	want := ".dockerignore Dockerfile build build/keep src src/debug.log src/main.go sub sub/a sub/a/keep"
	if got != want {
		t.Fatalf("on disk:\n got %s\nwant %s", got, want)
	}
	if _, err := c.Dockerfile(""); err != nil {
		t.Fatalf("listed Dockerfile must stay readable: %v", err)
	}
	for _, src := range []string{"Dockerfile", ".dockerignore", "app.log"} {
		if _, err := c.Resolve(src); !errdefs.Is(err, errdefs.NotFound) {
			t.Errorf("Resolve(%s): %v, want NotFound", src, err)
		}
	}
	srcs, err := c.Resolve("*")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range srcs {
		names = append(names, s.Rel)
	}
	// build holds only what "!build/keep" brought back: dockerd copies it.
	if strings.Join(names, " ") != "build src sub" {
		t.Errorf("Resolve(*) = %v", names)
	}
}

func TestDockerignoreKeepsDockerfileInIgnoredDir(t *testing.T) {
	c, err := Extract(context.Background(), bytes.NewReader(mkTar(t,
		tent{name: "ci/", typ: tar.TypeDir},
		tent{name: "ci/Dockerfile", body: "FROM scratch\n"},
		tent{name: "ci/other", body: "x"},
		tent{name: ".dockerignore", body: "ci\n"},
	)), t.TempDir(), "ci/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := strings.Join(listTree(t, c.Root), " "); got != ".dockerignore ci ci/Dockerfile" {
		t.Fatalf("on disk: %s", got)
	}
	if _, err := c.Dockerfile("ci/Dockerfile"); err != nil {
		t.Fatal(err)
	}
}

// A 100 MB context of 1 MB files: Extract should run near disk speed.
func BenchmarkExtract100MB(b *testing.B) {
	body := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	var ents []tent
	for i := 0; i < 100; i++ {
		ents = append(ents, tent{name: "d/f" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)), body: body})
	}
	data := mkTar(b, ents...)
	b.SetBytes(int64(len(data)))
	tmp := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := Extract(context.Background(), bytes.NewReader(data), tmp, "")
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// 10,000 small files in 100 directories: per-entry cost.
func BenchmarkExtract10kFiles(b *testing.B) {
	var ents []tent
	body := strings.Repeat("x", 1000)
	for i := 0; i < 10000; i++ {
		ents = append(ents, tent{name: "d" + strconv.Itoa(i%100) + "/f" + strconv.Itoa(i), body: body})
	}
	data := mkTar(b, ents...)
	tmp := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := Extract(context.Background(), bytes.NewReader(data), tmp, "")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

func TestExtractOddButValidTars(t *testing.T) {
	tests := []struct {
		name string
		ents []tent
		want string // listTree, space-separated
	}{
		{"dot-slash names (tar -C dir .)", []tent{
			{name: "./", typ: tar.TypeDir},
			{name: "./Dockerfile", body: "FROM scratch"},
			{name: "./d/", typ: tar.TypeDir},
			{name: "./d/f", body: "f"},
		}, "Dockerfile d d/f"},
		{"inner dotdot staying inside", []tent{{name: "a/../b", body: "b"}}, "b"},
		{"later entry replaces file with dir", []tent{
			{name: "x", body: "file"},
			{name: "x/", typ: tar.TypeDir},
			{name: "x/y", body: "y"},
		}, "x x/y"},
		{"later entry replaces dir with file", []tent{
			{name: "x/y", body: "y"},
			{name: "x", body: "file"},
		}, "x"},
		{"later entry replaces symlink", []tent{
			{name: "l", typ: tar.TypeSymlink, body: "/etc"},
			{name: "l/", typ: tar.TypeDir},
			{name: "l/f", body: "inside"},
		}, "l l/f"},
		{"devices and fifos skipped", []tent{
			{name: "fifo", typ: tar.TypeFifo},
			{name: "null", typ: tar.TypeChar},
			{name: "f", body: "f"},
		}, "f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Extract(context.Background(), bytes.NewReader(mkTar(t, tt.ents...)), t.TempDir(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := strings.Join(listTree(t, c.Root), " "); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if fi, err := os.Lstat(filepath.Join(c.Root, "l")); err == nil && !fi.IsDir() {
				t.Fatal("symlink kept")
			}
		})
	}
}

func TestExtractCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tmp := t.TempDir()
	_, err := Extract(ctx, bytes.NewReader(mkTar(t, tent{name: "f", body: "x"})), tmp, "")
	if err != context.Canceled {
		t.Fatalf("err = %v", err)
	}
	if got := listTree(t, tmp); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
}

// A context unpacked in memory (MemOptions) is the same tree as one
// unpacked on disk, wherever it spills: modes, times, hardlinks,
// symlinks, digests; the memory directory is left empty.
func TestExtractMemSpill(t *testing.T) {
	data := mkTar(t,
		tent{name: "ro/", typ: tar.TypeDir, mode: 0o555},
		tent{name: "ro/a.txt", body: "aaaa", mode: 0o600},
		tent{name: "implicit/deep/b.txt", body: "bbbbbbbb"},
		tent{name: "hard", typ: tar.TypeLink, body: "ro/a.txt"},
		tent{name: "ln", typ: tar.TypeSymlink, body: "ro/a.txt"},
		tent{name: "big", body: strings.Repeat("c", 100)},
		tent{name: "after/x", body: "x"},
	)
	describeDigests := func(c *Context) string {
		srcs, err := c.Resolve(".")
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Checksum(srcs)
		if err != nil {
			t.Fatal(err)
		}
		fa, _ := os.Stat(filepath.Join(c.Root, "ro/a.txt"))
		fh, _ := os.Stat(filepath.Join(c.Root, "hard"))
		fi, _ := os.Stat(filepath.Join(c.Root, "ro"))
		var times []string
		for _, rel := range listTree(t, c.Root) {
			li, _ := os.Lstat(filepath.Join(c.Root, rel))
			if li.IsDir() && rel != "ro" {
				continue // made for its children: the time it was made
			}
			times = append(times, rel+" "+li.ModTime().UTC().String())
		}
		return fmt.Sprintf("%s\n%s\nhardlinked=%v ro-mtime=%v\n%s", describe(t, c.Root), sum, os.SameFile(fa, fh), fi.ModTime().UTC(), strings.Join(times, "\n"))
	}
	ref, err := Extract(context.Background(), bytes.NewReader(data), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want := describeDigests(ref)
	// max 0: spills at the first file; 8192 (two pages): after ro/a.txt,
	// b.txt and the links; 1 MiB: never
	for _, max := range []int64{0, 8192, 1 << 20} {
		mem, disk := t.TempDir(), t.TempDir()
		c, err := ExtractMem(context.Background(), bytes.NewReader(data), disk, "", MemOptions{Dir: mem, Max: max})
		if err != nil {
			t.Fatalf("max %d: %v", max, err)
		}
		inMem := strings.HasPrefix(c.Root, mem+string(filepath.Separator))
		if inMem != (max == 1<<20) {
			t.Errorf("max %d: context at %s (mem %s)", max, c.Root, mem)
		}
		if got := describeDigests(c); got != want {
			t.Errorf("max %d: got\n%s\nwant\n%s", max, got, want)
		}
		c.Close()
		if left := append(listTree(t, mem), listTree(t, disk)...); len(left) != 0 {
			t.Errorf("max %d: left %q", max, left)
		}
	}
	// a body that is no tar never stays in memory
	mem, disk := t.TempDir(), t.TempDir()
	c, err := ExtractMem(context.Background(), strings.NewReader("FROM scratch\n"), disk, "", MemOptions{Dir: mem, Max: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.HasPrefix(c.Root, disk) {
		t.Errorf("plain Dockerfile unpacked at %s", c.Root)
	}
}

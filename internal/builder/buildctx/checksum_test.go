package buildctx

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sumOf(t *testing.T, root string, srcs ...string) string {
	t.Helper()
	s, err := Checksum(resolveAll(t, root, srcs...))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestChecksum(t *testing.T) {
	tree := map[string]string{
		"a.txt":         "a",
		"dir/x.txt":     "x",
		"dir/sub/z.txt": "z",
		"dir/link":      "->x.txt",
		"dir/empty/":    "",
	}
	base := sumOf(t, mkTree(t, tree), "dir")
	if !strings.HasPrefix(base, "sha256:") || len(base) != 7+64 {
		t.Fatalf("digest %q", base)
	}
	if again := sumOf(t, mkTree(t, tree), "dir"); again != base {
		t.Fatalf("not stable across identical trees: %s vs %s", base, again)
	}

	changes := []struct {
		name   string
		change func(root string)
		same   bool
	}{
		{"content", func(r string) { os.WriteFile(filepath.Join(r, "dir/x.txt"), []byte("y"), 0o644) }, false},
		{"deep content", func(r string) { os.WriteFile(filepath.Join(r, "dir/sub/z.txt"), []byte("zz"), 0o644) }, false},
		{"mode", func(r string) { os.Chmod(filepath.Join(r, "dir/x.txt"), 0o755) }, false},
		{"dir mode", func(r string) { os.Chmod(filepath.Join(r, "dir/sub"), 0o700) }, false},
		{"rename", func(r string) { os.Rename(filepath.Join(r, "dir/x.txt"), filepath.Join(r, "dir/w.txt")) }, false},
		{"new file", func(r string) { os.WriteFile(filepath.Join(r, "dir/new"), nil, 0o644) }, false},
		{"new empty dir", func(r string) { os.Mkdir(filepath.Join(r, "dir/e2"), 0o755) }, false},
		{"link target", func(r string) {
			os.Remove(filepath.Join(r, "dir/link"))
			os.Symlink("sub", filepath.Join(r, "dir/link"))
		}, false},
		{"file becomes link", func(r string) {
			os.Remove(filepath.Join(r, "dir/sub/z.txt"))
			os.Symlink("z", filepath.Join(r, "dir/sub/z.txt"))
		}, false},
		{"mtime", func(r string) {
			old := time.Unix(1e9, 0)
			os.Chtimes(filepath.Join(r, "dir/x.txt"), old, old)
			os.Chtimes(filepath.Join(r, "dir/sub"), old, old)
		}, true},
		{"owner", func(r string) {
			if os.Geteuid() == 0 {
				os.Lchown(filepath.Join(r, "dir/x.txt"), 123, 456)
			}
		}, true},
		{"outside the source", func(r string) { os.WriteFile(filepath.Join(r, "a.txt"), []byte("changed"), 0o644) }, true},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			root := mkTree(t, tree)
			c.change(root)
			got := sumOf(t, root, "dir")
			if (got == base) != c.same {
				t.Fatalf("same=%v after %s", got == base, c.name)
			}
		})
	}

	// A file's name is part of it (COPY *.txt /d/ writes it under that name).
	root := mkTree(t, map[string]string{"a.txt": "same", "b.txt": "same"})
	if sumOf(t, root, "a.txt") == sumOf(t, root, "b.txt") {
		t.Fatal("renamed file has the same digest")
	}
	if sumOf(t, root, "a.txt", "b.txt") == sumOf(t, root, "b.txt", "a.txt") {
		t.Fatal("source order not in the digest")
	}
}

// The cache must never hide a change: rewriting a file in place with the
// same size and mtime still changes the digest (ctime moves).
func TestChecksumCache(t *testing.T) {
	c, err := Extract(context.Background(), bytes.NewReader(mkTar(t,
		tent{name: "f", body: "aaaa"},
		tent{name: "d/g", body: "bbbb"},
	)), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sum := func() string {
		srcs, err := c.Resolve(".")
		if err != nil {
			t.Fatal(err)
		}
		s, err := Checksum(srcs)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := sum()
	if sum() != first {
		t.Fatal("unstable")
	}
	if n := len(c.hashes.m); n != 2 {
		t.Fatalf("cache holds %d digests, want 2", n)
	}
	p := filepath.Join(c.Root, "f")
	fi, _ := os.Stat(p)
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(p, []byte("zzzz"), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	if sum() == first {
		t.Fatal("in-place rewrite with same size and mtime not seen")
	}
}

// extract100MB extracts a context whose directory d holds 100 files of
// 1 MB, closed when b ends.
func extract100MB(b *testing.B) *Context {
	b.Helper()
	body := strings.Repeat("0123456789abcdef", 1<<16)
	var ents []tent
	for i := 0; i < 100; i++ {
		ents = append(ents, tent{name: "d/" + string(rune('a'+i%26)) + string(rune('a'+i/26)), body: body})
	}
	c, err := Extract(context.Background(), bytes.NewReader(mkTar(b, ents...)), b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkChecksum100MB(b *testing.B) {
	c := extract100MB(b)
	srcs, err := Resolve(c.Root, "d", nil) // no cache: every run hashes
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(100 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Checksum(srcs); err != nil {
			b.Fatal(err)
		}
	}
}

// The same 100 MB through a Context: after the first run every file's
// digest comes from the cache.
func BenchmarkChecksumCached100MB(b *testing.B) {
	c := extract100MB(b)
	srcs, err := c.Resolve("d")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Checksum(srcs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Checksum(srcs); err != nil {
			b.Fatal(err)
		}
	}
}

// Extract digests each file as it writes it, so that Checksum of a
// context reads no file again (a cached rebuild's COPY costs no
// hashing), and the digests it leaves are the files' own.
func TestExtractHashesFiles(t *testing.T) {
	data := mkTar(t,
		tent{name: "a.txt", body: "a"},
		tent{name: "d/", typ: tar.TypeDir},
		tent{name: "d/b.txt", body: strings.Repeat("b", 100000)},
		tent{name: "d/dup", body: "old"},
		tent{name: "d/dup", body: "new"}, // replaced: its digest is the new content's
		tent{name: "d/ln", typ: tar.TypeSymlink, body: "b.txt"},
	)
	c, err := Extract(context.Background(), bytes.NewReader(data), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for rel, content := range map[string]string{"a.txt": "a", "d/b.txt": strings.Repeat("b", 100000), "d/dup": "new"} {
		p := filepath.Join(c.Root, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := cacheKey(p, fi)
		got, ok := c.hashes.get(key)
		sum := sha256.Sum256([]byte(content))
		if !ok || got != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: digest after Extract %q (cached %v), want its content's", rel, got, ok)
		}
	}
	// and Checksum through the context agrees with one computed afresh
	srcs, err := c.Resolve(".")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Resolve(c.Root, ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err1 := Checksum(srcs)
	b, err2 := Checksum(fresh)
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("Checksum via Extract's digests %s (%v), afresh %s (%v)", a, err1, b, err2)
	}
}

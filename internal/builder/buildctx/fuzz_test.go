package buildctx

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract: whatever the bytes, Extract never writes outside its own
// directory, never panics, and leaves nothing behind on error.
func FuzzExtract(f *testing.F) {
	seeds := [][]tent{
		{{name: "Dockerfile", body: "FROM scratch\n"}, {name: "a/b/c", body: "x"}},
		{{name: "../victim/x", body: "x"}},
		{{name: "/victim/x", body: "x"}},
		{{name: "l", typ: tar.TypeSymlink, body: "../victim"}, {name: "l/x", body: "x"}},
		{{name: "l", typ: tar.TypeSymlink, body: "/"}, {name: "l/tmp/x", body: "x"}},
		{{name: "h", typ: tar.TypeLink, body: "../victim/file"}},
		{{name: "f", body: "x"}, {name: "f", typ: tar.TypeDir}, {name: "f/g", body: "y"}, {name: "h", typ: tar.TypeLink, body: "f/g"}},
		{{name: "d/", typ: tar.TypeDir, mode: 0o500}, {name: "d/x", body: "x"}},
		{{name: "x", body: "x"}, {name: ".dockerignore", body: "x\n!y\n"}, {name: "y", body: "y"}},
	}
	for _, s := range seeds {
		f.Add(mkTar(f, s...))
	}
	f.Add([]byte("FROM busybox\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		victim := filepath.Join(base, "victim")
		if err := os.Mkdir(victim, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(victim, "file"), []byte("v"), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(base, "tmp")
		c, err := Extract(context.Background(), bytes.NewReader(data), tmp, "")
		if err == nil {
			defer c.Close()
			if !strings.HasPrefix(c.Root, tmp+"/") {
				t.Fatalf("root %s not under %s", c.Root, tmp)
			}
		} else if got := listTree(t, tmp); len(got) != 0 {
			t.Fatalf("error %v left %v", err, got)
		}
		if got := strings.Join(listTree(t, victim), ","); got != "file" {
			t.Fatalf("victim dir now holds %s", got)
		}
		if b, _ := os.ReadFile(filepath.Join(victim, "file")); string(b) != "v" {
			t.Fatalf("victim file changed: %q", b)
		}
		entries, _ := os.ReadDir(base)
		if len(entries) != 2 {
			t.Fatalf("base holds %d entries", len(entries))
		}
	})
}

// FuzzCopy: whatever a rootfs holds (any symlinks, made from tar bytes)
// and whatever dest says, Copy writes only inside the rootfs.
func FuzzCopy(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("needs root (chown)")
	}
	seeds := []struct {
		ents []tent
		dest string
	}{
		// c.Root is <base>/rootfs/context-*: "../../victim" from it is the victim.
		{[]tent{{name: "up", typ: tar.TypeSymlink, body: "../../victim"}}, "/up/"},
		{[]tent{{name: "up", typ: tar.TypeSymlink, body: "../../victim"}}, "/up/file"},
		{[]tent{{name: "abs", typ: tar.TypeSymlink, body: "/"}}, "/abs/x"},
		{[]tent{{name: "d/", typ: tar.TypeDir}, {name: "d/l", typ: tar.TypeSymlink, body: "../../../victim"}}, "d/l/"},
		{[]tent{{name: "app/x.txt", typ: tar.TypeSymlink, body: "../../../victim/file"}}, "/app"},
		{[]tent{{name: "app/sub", typ: tar.TypeSymlink, body: "../../../victim"}}, "/app"},
		{[]tent{{name: "x.txt", typ: tar.TypeSymlink, body: "../../victim/file"}}, "/"},
		{[]tent{{name: "f", body: "file"}}, "/f/"},
		{nil, "../../victim/"},
	}
	for _, s := range seeds {
		f.Add(mkTar(f, s.ents...), s.dest)
	}
	f.Fuzz(func(t *testing.T, rootTar []byte, dest string) {
		base := t.TempDir()
		victim := filepath.Join(base, "victim")
		os.Mkdir(victim, 0o755)
		os.WriteFile(filepath.Join(victim, "file"), []byte("v"), 0o644)
		c, err := Extract(context.Background(), bytes.NewReader(rootTar), filepath.Join(base, "rootfs"), "")
		if err != nil {
			return
		}
		defer c.Close()
		src := mkTree(t, map[string]string{"app/x.txt": "x", "app/sub/y": "y", "app/l": "->/etc"})
		srcs, err := Resolve(src, "app", nil)
		if err != nil {
			t.Fatal(err)
		}
		file, _ := Resolve(src, "app/x.txt", nil)
		_ = Copy(c.Root, "/w", srcs, dest, CopyOptions{UID: 1, GID: 1})
		_ = Copy(c.Root, "/w", file, dest, CopyOptions{UID: 1, GID: 1})
		if got := strings.Join(listTree(t, victim), ","); got != "file" {
			t.Fatalf("victim dir now holds %s", got)
		}
		if b, _ := os.ReadFile(filepath.Join(victim, "file")); string(b) != "v" {
			t.Fatalf("victim file changed: %q", b)
		}
		if entries, _ := os.ReadDir(base); len(entries) != 2 {
			t.Fatalf("base holds %d entries", len(entries))
		}
		if entries, _ := os.ReadDir(filepath.Dir(c.Root)); len(entries) != 1 {
			t.Fatalf("the rootfs's parent holds %d entries", len(entries))
		}
	})
}

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

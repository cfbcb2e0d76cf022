package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// treeOf describes a tree as "path type content" lines.
func treeOf(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, _ := e.Info()
		line := rel + " " + fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestWriteTarRoundTripsOverlayUpper(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	base := tarOf(t,
		entry{Name: "a", Body: "a"},
		entry{Name: "d/x", Body: "x"},
		entry{Name: "d/y", Body: "y"},
		entry{Name: "e/z", Body: "z"},
	)
	layer := tarOf(t,
		entry{Name: ".wh.a"},
		entry{Name: "d/", Type: tar.TypeDir},
		entry{Name: "d/.wh..wh..opq"},
		entry{Name: "d/new", Body: "new"},
		entry{Name: "e/.wh.z"},
		entry{Name: "f", Body: "shared"},
		entry{Name: "g", Type: tar.TypeLink, Link: "f"},
		entry{Name: "s", Type: tar.TypeSymlink, Link: "/abs/target"},
		entry{Name: "x", Body: "x", Xattrs: map[string]string{"user.k": "v"}},
	)
	upper := t.TempDir()
	if _, err := apply(t, upper, layer, WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteTar(ctx, &out, upper, TarOptions{OverlayWhiteouts: true}); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	WriteTar(ctx, &again, upper, TarOptions{OverlayWhiteouts: true})
	if !bytes.Equal(out.Bytes(), again.Bytes()) {
		t.Fatal("WriteTar is not deterministic")
	}

	want, got := t.TempDir(), t.TempDir()
	for _, d := range []string{want, got} {
		if _, err := apply(t, d, base, WhiteoutDelete); err != nil {
			t.Fatal(err)
		}
	}
	apply(t, want, layer, WhiteoutDelete)
	if _, err := apply(t, got, out.Bytes(), WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	if w, g := treeOf(t, want), treeOf(t, got); w != g {
		t.Fatalf("round trip differs:\nwant:\n%s\ngot:\n%s", w, g)
	}
	var a, b fs.FileInfo
	a, _ = os.Stat(filepath.Join(got, "f"))
	b, _ = os.Stat(filepath.Join(got, "g"))
	if !os.SameFile(a, b) {
		t.Fatal("hardlink lost")
	}
	buf := make([]byte, 4)
	if n, err := getxattr(filepath.Join(got, "x"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Fatalf("xattr lost: %v", err)
	}
}

func getxattr(p, name string, buf []byte) (int, error) {
	return unix.Lgetxattr(p, name, buf)
}

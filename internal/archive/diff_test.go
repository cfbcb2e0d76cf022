package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteDiffReproducesUpper(t *testing.T) {
	ctx := context.Background()
	base := tarOf(t,
		entry{Name: "keep", Body: "k"},
		entry{Name: "modify", Body: "old"},
		entry{Name: "remove", Body: "r"},
		entry{Name: "chmod", Body: "c"},
		entry{Name: "dir/", Type: tar.TypeDir},
		entry{Name: "dir/a", Body: "a"},
		entry{Name: "dir/gone", Body: "g"},
		entry{Name: "tree/x/y", Body: "y"},
		entry{Name: "becomes-dir", Body: "f"},
		entry{Name: "link", Type: tar.TypeSymlink, Link: "keep"},
	)
	lower, upper, result := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{lower, upper, result} {
		if _, err := apply(t, d, base, WhiteoutDelete); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(upper, "modify"), []byte("new"), 0o644))
	must(os.Remove(filepath.Join(upper, "remove")))
	must(os.Chmod(filepath.Join(upper, "chmod"), 0o600))
	must(os.Remove(filepath.Join(upper, "dir/gone")))
	must(os.WriteFile(filepath.Join(upper, "dir/added"), []byte("+"), 0o644))
	must(os.RemoveAll(filepath.Join(upper, "tree")))
	must(os.Remove(filepath.Join(upper, "becomes-dir")))
	must(os.MkdirAll(filepath.Join(upper, "becomes-dir/inner"), 0o755))
	must(os.Remove(filepath.Join(upper, "link")))
	must(os.Symlink("modify", filepath.Join(upper, "link")))
	must(os.WriteFile(filepath.Join(upper, "new"), []byte("n"), 0o644))
	must(os.Chtimes(filepath.Join(upper, "new"), later, later))

	var diff bytes.Buffer
	if err := WriteDiff(ctx, &diff, lower, upper); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(diff.Bytes()))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	got := strings.Join(names, " ")
	for _, unchanged := range []string{"keep", "dir/a"} {
		for _, n := range names {
			if n == unchanged {
				t.Errorf("unchanged %s in the diff: %s", unchanged, got)
			}
		}
	}
	for _, want := range []string{".wh.remove", "dir/.wh.gone", ".wh.tree", "modify", "chmod", "dir/added", "becomes-dir/", "link", "new"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("diff lacks %s: %s", want, got)
		}
	}
	if _, err := apply(t, result, diff.Bytes(), WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	if w, g := treeOf(t, upper), treeOf(t, result); w != g {
		t.Fatalf("parent + diff != upper:\nwant:\n%s\ngot:\n%s", w, g)
	}
}

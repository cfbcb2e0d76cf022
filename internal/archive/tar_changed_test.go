package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A file made again (empty) or truncated between its stat and its read,
// as in a running container's tree, gives a whole tar whose entry says
// what was read: it failed the export with "unexpected EOF" (flaky in
// e2e's export race test).
func TestTarEntryOfChangedFile(t *testing.T) {
	for name, change := range map[string]func(p string) error{
		"recreated": func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.WriteFile(p, nil, 0o644)
		},
		"truncated": func(p string) error { return os.Truncate(p, 1) },
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, []byte("ctr\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			w := &tarWriter{tw: tw, links: map[uint64]string{}, open: func(p string) (*os.File, error) {
				if err := change(p); err != nil {
					return nil, err
				}
				return os.Open(p)
			}}
			if err := w.entry(p, "f", fi); err != nil {
				t.Fatal(err)
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(&buf)
			hdr, err := tr.Next()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil || int64(len(b)) != hdr.Size {
				t.Fatalf("entry of %d bytes read %d: %v", hdr.Size, len(b), err)
			}
			if _, err := tr.Next(); err != io.EOF {
				t.Fatalf("after the entry: %v", err)
			}
		})
	}
}

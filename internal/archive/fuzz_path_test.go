package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCleanPath: a cleaned path is relative, has no ".." element, stays
// under any root it is joined to, and cleaning it again changes nothing.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"", "/", "a", "/etc/passwd", "../x", "a/../../b", "a/./b//c/", "..a", "a/..b", ".wh..wh..opq", "\x00", "/../..//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := CleanPath(name)
		if err != nil {
			return
		}
		if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			t.Fatalf("CleanPath(%q) = %q escapes", name, p)
		}
		if j := path.Join("/root", p); j != "/root" && !strings.HasPrefix(j, "/root/") {
			t.Fatalf("CleanPath(%q) = %q joins to %q", name, p, j)
		}
		if again, err := CleanPath(p); err != nil || again != p {
			t.Fatalf("CleanPath not idempotent: %q -> %q -> %q, %v", name, p, again, err)
		}
	})
}

// FuzzApplyStream feeds arbitrary bytes as a layer tar (seeded with real
// tars holding escape attempts) and checks that nothing is ever written
// outside the root, whatever Apply returns.
func FuzzApplyStream(f *testing.F) {
	mk := func(hdrs ...tar.Header) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range hdrs {
			h.Mode = 0o644
			body := []byte(nil)
			if h.Typeflag == tar.TypeReg {
				body = []byte("data")
				h.Size = int64(len(body))
			}
			tw.WriteHeader(&h)
			tw.Write(body)
		}
		tw.Close()
		return b.Bytes()
	}
	f.Add(mk(tar.Header{Name: "a", Typeflag: tar.TypeReg}))
	f.Add(mk(tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../.."}, tar.Header{Name: "l/x", Typeflag: tar.TypeReg}))
	f.Add(mk(tar.Header{Name: "d/", Typeflag: tar.TypeDir}, tar.Header{Name: "d/.wh..wh..opq", Typeflag: tar.TypeReg}, tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}))
	f.Add(mk(tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/"}, tar.Header{Name: "l/etc", Typeflag: tar.TypeDir}, tar.Header{Name: "x/../../y", Typeflag: tar.TypeReg}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		_, _ = Apply(context.Background(), root, bytes.NewReader(data), Options{})
		ents, _ := os.ReadDir(parent)
		for _, e := range ents {
			if e.Name() != "root" {
				t.Fatalf("wrote %q outside the root", e.Name())
			}
		}
	})
}

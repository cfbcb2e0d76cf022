package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestContextSource(t *testing.T) {
	old := isTmpfs
	isTmpfs = func(string) bool { return true }
	defer func() { isTmpfs = old }()
	dir := t.TempDir()
	mem := filepath.Join(dir, "mem")
	b := New(Config{TmpDir: filepath.Join(dir, "disk"), MemTmpDir: mem, MemContextMax: 64 << 10})
	if b.memDir != mem {
		t.Fatalf("memDir %q", b.memDir)
	}
	small := tarBytes(t, map[string]string{"Dockerfile": "FROM busybox\n", "a": strings.Repeat("a", 1000)})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(small)
	zw.Close()
	big := tarBytes(t, map[string]string{"Dockerfile": "FROM busybox\n", "big": strings.Repeat("b", 100<<10)})
	sparse := sparseTar(t)
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"small plain tar", small, mem},
		{"bare Dockerfile", []byte("FROM busybox\n"), mem},
		{"compressed", gz.Bytes(), b.cfg.TmpDir},
		{"too big", big, b.cfg.TmpDir},
		{"sparse file larger than the limit", sparse, b.cfg.TmpDir},
	} {
		r, tmp, err := b.contextSource(bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if tmp != c.want {
			t.Errorf("%s: unpacks in %s, want %s", c.name, tmp, c.want)
		}
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, c.body) {
			t.Errorf("%s: body changed on the way (%d bytes, want %d)", c.name, len(got), len(c.body))
		}
	}
	// a whole build through the memory dir leaves nothing there
	h := newHarness(t)
	h.b = New(Config{Backend: h.be, Cache: h.cache, TmpDir: filepath.Join(dir, "disk2"), MemTmpDir: filepath.Join(dir, "mem2")})
	out := &recOutput{}
	if _, err := h.b.Build(context.Background(), bytes.NewReader(small), Options{}, out); err != nil {
		t.Fatalf("%v\n%s", err, out.buf.String())
	}
	h.b.wait()
	if n := entries(t, filepath.Join(dir, "mem2")); n != 0 {
		t.Errorf("%d entries left in the memory dir", n)
	}
	// not tmpfs: off
	isTmpfs = func(string) bool { return false }
	if b := New(Config{TmpDir: filepath.Join(dir, "d"), MemTmpDir: filepath.Join(dir, "m")}); b.memDir != "" {
		t.Errorf("memory dir used off tmpfs")
	}
	if _, err := os.Stat(filepath.Join(dir, "m")); !os.IsNotExist(err) {
		t.Errorf("unused memory dir left: %v", err)
	}
}

func tarBytes(t *testing.T, files map[string]string) []byte {
	b, err := io.ReadAll(contextTar(t, files))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sparseTar is a small tar holding a 1 GiB sparse file (PAX 1.0
// sparse, written by hand: archive/tar's writer drops GNU.sparse
// records).
func sparseTar(t *testing.T) []byte {
	var buf bytes.Buffer
	rec := func(k, v string) string { // "<len> k=v\n", len counting itself
		body := " " + k + "=" + v + "\n"
		for l := len(body) + 1; ; l++ {
			if len(fmt.Sprint(l))+len(body) == l {
				return fmt.Sprint(l) + body
			}
		}
	}
	pax := rec("GNU.sparse.major", "1") + rec("GNU.sparse.minor", "0") + rec("GNU.sparse.name", "holes") + rec("GNU.sparse.realsize", "1073741824")
	block := func(data string) {
		buf.WriteString(data)
		if pad := len(data) % 512; pad != 0 {
			buf.Write(make([]byte, 512-pad))
		}
	}
	header := func(name string, typ byte, size int) {
		h := make([]byte, 512)
		copy(h, name)
		copy(h[100:], "0000644\x00")
		copy(h[108:], "0000000\x00")
		copy(h[116:], "0000000\x00")
		copy(h[124:], fmt.Sprintf("%011o\x00", size))
		copy(h[136:], "00000000000\x00")
		h[156] = typ
		copy(h[257:], "ustar\x0000")
		copy(h[148:], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		buf.Write(h)
	}
	header("Dockerfile", '0', 13)
	block("FROM busybox\n")
	header("PaxHeaders/holes", 'x', len(pax))
	block(pax)
	header("holes", '0', 512)
	block("1\n0\n0\n") // the sparse map: one empty fragment
	buf.Write(make([]byte, 1024))
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	tr.Next()
	if hdr, err := tr.Next(); err != nil || hdr.Size != 1<<30 {
		t.Fatalf("sparse fixture: %v %+v", err, hdr)
	}
	return buf.Bytes()
}

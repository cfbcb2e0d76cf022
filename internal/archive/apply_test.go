package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// entry is a tar entry for tests; Body is a file's content.
type entry struct {
	Name, Link, Body string
	Type             byte
	Mode             int64
	Xattrs           map[string]string
}

func tarOf(t testing.TB, ents ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1_600_000_000, 0)
	for _, e := range ents {
		h := &tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: e.Type, Mode: e.Mode, ModTime: mt, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if len(e.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func apply(t *testing.T, root string, data []byte, wf WhiteoutFormat) (Result, error) {
	t.Helper()
	return Apply(context.Background(), root, bytes.NewReader(data), Options{Whiteouts: wf})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyBasicAndDiffID(t *testing.T) {
	data := tarOf(t,
		entry{Name: "etc/", Type: tar.TypeDir},
		entry{Name: "etc/hostname", Body: "box\n", Mode: 0o640},
		entry{Name: "/usr/bin/tool", Body: "#!/bin/sh\n", Mode: 0o755}, // parents missing, absolute
		entry{Name: "bin", Type: tar.TypeSymlink, Link: "usr/bin"},
		entry{Name: "etc/hn", Type: tar.TypeLink, Link: "etc/hostname"},
		entry{Name: "abs", Type: tar.TypeSymlink, Link: "/nowhere/at/all"},
	)
	root := t.TempDir()
	res, err := apply(t, root, data, WhiteoutDelete)
	if err != nil {
		t.Fatal(err)
	}
	if want := digest.FromBytes(data); res.DiffID != want {
		t.Fatalf("diff ID %s, want %s", res.DiffID, want)
	}
	if res.Size != int64(len("box\n")+len("#!/bin/sh\n")) {
		t.Fatalf("size %d", res.Size)
	}
	if got := readFile(t, filepath.Join(root, "bin/tool")); got != "#!/bin/sh\n" {
		t.Fatalf("through symlink: %q", got)
	}
	fi, _ := os.Stat(filepath.Join(root, "etc/hostname"))
	if fi.Mode().Perm() != 0o640 || fi.ModTime().Unix() != 1_600_000_000 {
		t.Fatalf("mode %v mtime %v", fi.Mode(), fi.ModTime())
	}
	dfi, _ := os.Stat(filepath.Join(root, "etc"))
	if dfi.ModTime().Unix() != 1_600_000_000 {
		t.Fatalf("dir mtime %v (set before its children were written?)", dfi.ModTime())
	}
	var a, b unix.Stat_t
	_ = unix.Stat(filepath.Join(root, "etc/hostname"), &a)
	_ = unix.Stat(filepath.Join(root, "etc/hn"), &b)
	if a.Ino != b.Ino {
		t.Fatal("hardlink is not the same inode")
	}
	if l, _ := os.Readlink(filepath.Join(root, "abs")); l != "/nowhere/at/all" {
		t.Fatalf("symlink content %q", l)
	}

	// gzip gives the same diff ID (of the uncompressed stream).
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	res2, err := apply(t, t.TempDir(), gz.Bytes(), WhiteoutDelete)
	if err != nil || res2.DiffID != res.DiffID {
		t.Fatalf("gzip: %v %s", err, res2.DiffID)
	}
}

func TestApplyRejectsBadArchives(t *testing.T) {
	good := tarOf(t, entry{Name: "a", Body: strings.Repeat("x", 4000)})
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	os.WriteFile(victim, []byte("untouched"), 0o644)
	cases := map[string]struct {
		data []byte
		msg  string
	}{
		"dotdot":         {tarOf(t, entry{Name: "../../x", Body: "x"}), "escapes the layer root"},
		"dotdot nested":  {tarOf(t, entry{Name: "a/b/../../../x", Body: "x"}), "escapes the layer root"},
		"hardlink out":   {tarOf(t, entry{Name: "l", Type: tar.TypeLink, Link: "../../../../" + victim}), "escapes the layer root"},
		"hardlink miss":  {tarOf(t, entry{Name: "l", Type: tar.TypeLink, Link: "nope"}), "does not exist"},
		"truncated":      {good[:1500], "truncated archive"},
		"cut in padding": {tarOf(t, entry{Name: "a", Body: "short"})[:600], "truncated archive"},
		"not a tar":      {bytes.Repeat([]byte("hello world "), 100), "invalid tar header"},
		"short garbage":  {[]byte("hello"), "truncated archive"},
		"bad gzip":       {[]byte{0x1f, 0x8b, 0, 0, 1, 2, 3}, "gzip"},
		"zstd":           {[]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}, "zstd"},
		"abs link loop":  {tarOf(t, entry{Name: "etc", Type: tar.TypeSymlink, Link: "/etc"}, entry{Name: "etc/passwd", Body: "pwned"}), "resolve path"},
		"write via link": {tarOf(t, entry{Name: "hl", Type: tar.TypeSymlink, Link: "/etc"}, entry{Name: "x", Type: tar.TypeLink, Link: "hl/passwd"}), "does not exist"},
		"bad whiteout":   {tarOf(t, entry{Name: "d/.wh..", Body: ""}), "invalid whiteout"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := apply(t, t.TempDir(), c.data, WhiteoutDelete)
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Fatalf("want InvalidArgument, got %v (class %v)", err, errdefs.ClassOf(err))
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "apply layer") {
				t.Fatalf("error %q lacks %q", err, c.msg)
			}
		})
	}
	if readFile(t, victim) != "untouched" {
		t.Fatal("victim changed")
	}
	if _, err := os.Stat("/etc/passwd/pwned"); err == nil {
		t.Fatal("wrote through host /etc")
	}
}

// Symlinks already in the tree are followed only as if the root were "/",
// and an entry's own name never follows a symlink.
func TestApplySymlinksStayInside(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	os.WriteFile(victim, []byte("untouched"), 0o644)
	root := t.TempDir()
	data := tarOf(t,
		entry{Name: "up", Type: tar.TypeSymlink, Link: "../../../../../../" + outside},
		entry{Name: "up/victim", Body: "inside"},
		entry{Name: "f", Type: tar.TypeSymlink, Link: victim},
		entry{Name: "f", Body: "replaced"},
	)
	if _, err := apply(t, root, data, WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	if readFile(t, victim) != "untouched" {
		t.Fatal("wrote outside the root")
	}
	if got := readFile(t, filepath.Join(root, outside, "victim")); got != "inside" {
		t.Fatalf("scoped symlink target: %q", got)
	}
	if fi, _ := os.Lstat(filepath.Join(root, "f")); !fi.Mode().IsRegular() {
		t.Fatal("f should be a regular file now")
	}
}

func TestApplyWhiteoutsDelete(t *testing.T) {
	root := t.TempDir()
	base := tarOf(t,
		entry{Name: "a", Body: "a"},
		entry{Name: "d/", Type: tar.TypeDir},
		entry{Name: "d/old", Body: "old"},
		entry{Name: "e/x", Body: "x"},
	)
	if _, err := apply(t, root, base, WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	upper := tarOf(t,
		entry{Name: ".wh.a"},
		entry{Name: "d/new", Body: "new"},
		entry{Name: "d/.wh..wh..opq"},
		entry{Name: "e/.wh.x"},
		entry{Name: ".wh.missing"},
	)
	if _, err := apply(t, root, upper, WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"a", "d/old", "e/x"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s still there", gone)
		}
	}
	if readFile(t, filepath.Join(root, "d/new")) != "new" {
		t.Error("opaque removed this layer's own file")
	}
}

func TestApplyWhiteoutsOverlayForm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	data := tarOf(t,
		entry{Name: "d/.wh..wh..opq"},
		entry{Name: "d/keep", Body: "k"},
		entry{Name: ".wh.gone"},
		entry{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666},
		entry{Name: "x", Body: "x", Xattrs: map[string]string{"user.k": "v", "trusted.overlay.opaque": "y"}},
	)
	if _, err := apply(t, root, data, WhiteoutOverlay); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Fatalf("whiteout: %v mode %o rdev %d", err, st.Mode, st.Rdev)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(root, "d"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Fatalf("opaque xattr: %v %q", err, buf[:n])
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "x"), "trusted.overlay.opaque", buf); err == nil {
		t.Fatal("a layer set overlay's private xattr")
	}
	n, err = unix.Lgetxattr(filepath.Join(root, "x"), "user.k", buf)
	if err != nil || string(buf[:n]) != "v" {
		t.Fatalf("user xattr: %v", err)
	}
	if err := unix.Lstat(filepath.Join(root, "dev/null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Fatalf("device node: %v", err)
	}
}

func TestApplyOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1234, Gid: 5678})
	tw.WriteHeader(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "f", Uid: 42, Gid: 43})
	tw.Close()
	root := t.TempDir()
	if _, err := apply(t, root, buf.Bytes(), WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(root, "f"), &st)
	if st.Uid != 1234 || st.Gid != 5678 || st.Mode&0o7777 != 0o4755 {
		t.Fatalf("f: uid %d gid %d mode %o", st.Uid, st.Gid, st.Mode&0o7777)
	}
	unix.Lstat(filepath.Join(root, "l"), &st)
	if st.Uid != 42 || st.Gid != 43 {
		t.Fatalf("symlink owner %d:%d (lchown followed the link?)", st.Uid, st.Gid)
	}
}

func TestCleanPath(t *testing.T) {
	ok := map[string]string{
		"a/b": "a/b", "/a/b": "a/b", "./a//b/": "a/b", "a/../b": "b", ".": "", "/": "", "//x/./y": "x/y",
	}
	for in, want := range ok {
		got, err := CleanPath(in)
		if err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"..", "../a", "a/../../b", "/../x", "a\x00b"} {
		if _, err := CleanPath(in); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("CleanPath(%q) accepted", in)
		}
	}
}

// FuzzApplyHeader feeds arbitrary names and link targets through Apply and
// checks that nothing is ever written outside the root.
func FuzzApplyHeader(f *testing.F) {
	for _, s := range [][2]string{{"a", ""}, {"../x", ""}, {"/etc/passwd", ""}, {"a/../../b", "../c"}, {"l", "/etc"}, {".wh..wh..opq", ""}, {"d/.wh.x", ""}} {
		f.Add(s[0], s[1], byte(tar.TypeReg))
		f.Add(s[0], s[1], byte(tar.TypeSymlink))
		f.Add(s[0], s[1], byte(tar.TypeLink))
	}
	f.Fuzz(func(t *testing.T, name, link string, typ byte) {
		switch typ {
		case tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeDir:
		default:
			typ = tar.TypeReg
		}
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		os.Mkdir(root, 0o755)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		// a symlink pointing out, then the fuzzed entry, then a write through it
		tw.WriteHeader(&tar.Header{Name: "out", Typeflag: tar.TypeSymlink, Linkname: "../../"})
		if err := tw.WriteHeader(&tar.Header{Name: name, Linkname: link, Typeflag: typ, Mode: 0o644}); err != nil {
			return
		}
		tw.WriteHeader(&tar.Header{Name: name + "/f", Typeflag: tar.TypeReg, Mode: 0o644})
		tw.WriteHeader(&tar.Header{Name: "out/f", Typeflag: tar.TypeReg, Mode: 0o644})
		tw.Close()
		_, _ = Apply(context.Background(), root, bytes.NewReader(buf.Bytes()), Options{})
		ents, _ := os.ReadDir(parent)
		for _, e := range ents {
			if e.Name() != "root" {
				t.Fatalf("wrote %q outside the root (name %q link %q)", e.Name(), name, link)
			}
		}
	})
}

func TestApplyReplacesAcrossTypes(t *testing.T) {
	root := t.TempDir()
	first := tarOf(t,
		entry{Name: "was-file", Body: "f"},
		entry{Name: "was-dir/", Type: tar.TypeDir},
		entry{Name: "was-dir/child", Body: "c"},
		entry{Name: "sl", Type: tar.TypeSymlink, Link: "was-file"},
	)
	if _, err := apply(t, root, first, WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	second := tarOf(t,
		entry{Name: "was-file/", Type: tar.TypeDir},
		entry{Name: "was-file/inner", Body: "i"},
		entry{Name: "was-dir", Body: "now a file"},
		entry{Name: "hl", Type: tar.TypeLink, Link: "sl"}, // links the symlink itself
	)
	if _, err := apply(t, root, second, WhiteoutDelete); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(root, "was-file/inner")) != "i" || readFile(t, filepath.Join(root, "was-dir")) != "now a file" {
		t.Fatal("types not replaced")
	}
	if fi, err := os.Lstat(filepath.Join(root, "hl")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("hardlink to a symlink should be that symlink: %v %v", fi, err)
	}
}

// Large files go through copyFile's buffer (and, Durable, early
// writeback): same content and diff ID, a cut stream still an error.
func TestApplyLargeFilesDurable(t *testing.T) {
	big := make([]byte, 2*writebackChunk+12345)
	for i := range big {
		big[i] = byte(i*7 + i/4096)
	}
	data := tarOf(t, entry{Name: "big", Body: string(big)}, entry{Name: "d/mid", Body: string(big[:100<<10])}, entry{Name: "small", Body: "s"})
	root := t.TempDir()
	res, err := Apply(context.Background(), root, bytes.NewReader(data), Options{Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := digest.FromBytes(data); res.DiffID != want {
		t.Fatalf("diff ID %s, want %s", res.DiffID, want)
	}
	if res.Size != int64(len(big)+100<<10+1) {
		t.Fatalf("size %d", res.Size)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "big")); !bytes.Equal(got, big) {
		t.Fatalf("big: %d bytes differ from the tar's", len(got))
	}
	if got := readFile(t, filepath.Join(root, "d/mid")); got != string(big[:100<<10]) {
		t.Fatal("d/mid differs from the tar's")
	}
	_, err = Apply(context.Background(), t.TempDir(), bytes.NewReader(data[:writebackChunk+4096]), Options{Durable: true})
	if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "truncated archive") {
		t.Fatalf("cut in a large file: %v", err)
	}
}

package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A layer written back from its split is the very tar it came from, even
// in a format WriteTar would not produce (USTAR, odd padding of a GNU
// writer, trailing zero blocks).
func TestSplitReproducesTheTar(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatUSTAR},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o600, Size: 5, Format: tar.FormatGNU, Uname: "bob"},
		{Name: "d/empty", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX},
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd", Format: tar.FormatUSTAR},
		{Name: "d/.wh.gone", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatUSTAR},
		{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 70000, Format: tar.FormatPAX},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "d/f":
			tw.Write([]byte("hello"))
		case "big":
			tw.Write(bytes.Repeat([]byte("z"), 70000))
		}
	}
	tw.Close()
	buf.Write(make([]byte, 4096)) // docker's writers pad past the end
	orig := buf.Bytes()

	for _, wf := range []WhiteoutFormat{WhiteoutDelete, WhiteoutNone} {
		root := t.TempDir()
		var split bytes.Buffer
		sp := NewSplit(&split)
		res, err := Apply(context.Background(), root, bytes.NewReader(orig), Options{Whiteouts: wf, Split: sp})
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Flush(); err != nil {
			t.Fatal(err)
		}
		if split.Len() > 16384 {
			t.Errorf("split holds %d bytes: contents were recorded", split.Len())
		}
		var out bytes.Buffer
		if err := WriteSplit(&out, bytes.NewReader(split.Bytes()), root); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), orig) {
			t.Fatalf("rewritten tar differs (%d vs %d bytes)", out.Len(), len(orig))
		}
		_ = res
		// A file changed since is noticed, not silently written.
		os.WriteFile(filepath.Join(root, "d", "f"), []byte("changed!"), 0o600)
		if err := WriteSplit(&bytes.Buffer{}, bytes.NewReader(split.Bytes()), root); err == nil {
			t.Fatal("WriteSplit wrote a layer whose file changed")
		}
	}
}

// WriteSplit reads contents in the root's scope: a symlinked parent in
// the layer never leads outside it.
func TestWriteSplitStaysInRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o600)
	os.Symlink(outside, filepath.Join(root, "esc"))
	var split bytes.Buffer
	sp := NewSplit(&split)
	sp.content("esc/secret", 6)
	sp.contentDone()
	sp.Flush()
	var out bytes.Buffer
	err := WriteSplit(&out, &split, root)
	if err == nil || strings.Contains(out.String(), "s3cret") {
		t.Fatalf("read outside the root: %v %q", err, out.String())
	}
}

func TestChangesWalk(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	for _, d := range []string{lower, upper} {
		os.MkdirAll(filepath.Join(d, "etc"), 0o755)
		os.MkdirAll(filepath.Join(d, "bin"), 0o755)
		os.WriteFile(filepath.Join(d, "etc", "same"), []byte("x"), 0o644)
	}
	os.WriteFile(filepath.Join(lower, "bin", "gone"), []byte("x"), 0o755)
	os.WriteFile(filepath.Join(lower, "etc", "mod"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(upper, "etc", "mod"), []byte("newer"), 0o644)
	os.MkdirAll(filepath.Join(upper, "new", "sub"), 0o755)
	os.WriteFile(filepath.Join(upper, "new", "sub", "f"), []byte("x"), 0o644)
	// same content and times for "same"
	st, _ := os.Stat(filepath.Join(lower, "etc", "same"))
	os.Chtimes(filepath.Join(upper, "etc", "same"), st.ModTime(), st.ModTime())

	got, err := Changes(lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{"/bin", ChangeModify}, {"/bin/gone", ChangeDelete},
		{"/etc", ChangeModify}, {"/etc/mod", ChangeModify},
		{"/new", ChangeAdd}, {"/new/sub", ChangeAdd}, {"/new/sub/f", ChangeAdd},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes:\n got %v\nwant %v", got, want)
	}
}

package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
)

// tarDiffer serves a fixed diff.
type tarDiffer struct{ entries []*tar.Header }

func (d tarDiffer) DiffRW(_ context.Context, _ string, w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, h := range d.entries {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	return tw.Close()
}

func dir(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755} }
func file(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}
}

// A container's mount points, and /etc when only they changed it, are
// not part of its commit: RUN true makes an empty layer.
func TestWriteCommitTarDropsMountPoints(t *testing.T) {
	mountPointsOnly := []*tar.Header{file(".dockerenv", 0), dir("etc/"), file("etc/hostname", 0), file("etc/hosts", 0), file("etc/resolv.conf", 0)}
	for name, c := range map[string]struct {
		in   []*tar.Header
		want []string
	}{
		"nothing changed":    {mountPointsOnly, nil},
		"a file elsewhere":   {append(slices.Clone(mountPointsOnly), dir("tmp/"), file("tmp/x", 3)), []string{"tmp/", "tmp/x"}},
		"a file in /etc":     {[]*tar.Header{dir("etc/"), file("etc/hostname", 0), file("etc/passwd", 5), file("etc/resolv.conf", 0)}, []string{"etc/", "etc/passwd"}},
		"a written hosts":    {[]*tar.Header{dir("etc/"), file("etc/hosts", 9)}, []string{"etc/", "etc/hosts"}},
		"etc then elsewhere": {[]*tar.Header{dir("etc/"), file("etc/hosts", 0), dir("usr/"), file("usr/y", 1)}, []string{"usr/", "usr/y"}},
	} {
		var buf bytes.Buffer
		if err := writeCommitTar(context.Background(), tarDiffer{c.in}, "c", &buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, h.Name)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v want %v", name, got, c.want)
		}
	}
}

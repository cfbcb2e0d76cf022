package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/layer"
	"github.com/berth-dev/berth/internal/storage/vfs"
)

// FuzzImageRef: any reference the API passes (inspect, rmi, tag, create)
// resolves, or fails as NotFound / InvalidArgument: never a panic or an
// unclassified error (which the API would turn into a 500).
func FuzzImageRef(f *testing.F) {
	for _, s := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:1.36", "localhost:5000/a/b:c",
		"sha256:0123", "0123abcd", "a@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"UPPER", "a:b:c", "", ":", "@", "a//b", "sha256:", "x@sha256:zz", "[::1]:5000/x"} {
		f.Add(s, "repo", "tag")
	}
	root := f.TempDir()
	d, err := vfs.New(root)
	if err != nil {
		f.Skip(err)
	}
	ls, err := layer.NewStore(root, d)
	if err != nil {
		f.Fatal(err)
	}
	is, err := image.NewStore(root, ls)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	// One image, so that references resolve and Tag parses repo and tag.
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	if _, err := is.Import(ctx, &tb, "busybox", "latest", nil, "", io.Discard); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ref, repo, tag string) {
		if _, err := is.Get(ctx, ref); err != nil && !errdefs.Is(err, errdefs.NotFound) && !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Fatalf("Get(%q): unclassified error %v", ref, err)
		}
		if err := is.Tag(ctx, ref, repo, tag); err != nil && !errdefs.Is(err, errdefs.NotFound) && !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Fatalf("Tag(%q, %q, %q): unclassified error %v", ref, repo, tag, err)
		}
	})
}

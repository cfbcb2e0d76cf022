package cache

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

func layerTar(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	return &b
}

// StoreImages on a real image store: a step's own layer size (0 for one
// that added no layer), names, and removal that spares tagged images.
func TestStoreImages(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := vfs.New(root)
	if err != nil {
		t.Skip(err)
	}
	ls, err := layer.NewStore(root, d)
	if err != nil {
		t.Fatal(err)
	}
	is, err := image.NewStore(root, ls)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := is.Import(ctx, layerTar(t, map[string]string{"base": "0123456789"}), "base", "latest", nil, "", io.Discard); err != nil {
		t.Fatal(err)
	}
	base, err := is.Get(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	run, err := is.Commit(ctx, layerTar(t, map[string]string{"out": string(make([]byte, 5000))}), image.CommitOptions{Parent: base.ID, CreatedBy: "/bin/sh -c make"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := is.Commit(ctx, layerTar(t, nil), image.CommitOptions{Parent: run, CreatedBy: "/bin/sh -c #(nop)  ENV A=b"})
	if err != nil {
		t.Fatal(err)
	}
	im := StoreImages(is)
	if n, err := im.Size(ctx, run); err != nil || n < 5000 || n > 10000 {
		t.Errorf("Size(RUN step) = %d, %v; want its ~5000-byte layer", n, err)
	}
	if n, err := im.Size(ctx, env); err != nil || n != 0 {
		t.Errorf("Size(ENV step) = %d, %v; want 0", n, err)
	}
	if !im.Tagged(ctx, base.ID) || im.Tagged(ctx, run) {
		t.Error("Tagged wrong")
	}
	if err := im.Remove(ctx, base.ID); !errdefs.Is(err, errdefs.Conflict) {
		t.Errorf("Remove(tagged) = %v, want Conflict", err)
	}
	for _, id := range []image.ID{env, run} {
		if err := im.Remove(ctx, id); err != nil {
			t.Fatalf("Remove(%s): %v", id, err)
		}
	}
	if _, err := im.Size(ctx, run); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("Size after Remove = %v, want NotFound", err)
	}
	if err := im.Remove(ctx, run); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("second Remove = %v, want NotFound", err)
	}
	if _, err := is.Get(ctx, "base"); err != nil {
		t.Errorf("base gone: %v", err)
	}
}

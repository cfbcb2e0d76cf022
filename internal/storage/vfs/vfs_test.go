package vfs_test

import (
	"testing"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/storagetest"
	"github.com/berth-dev/berth/internal/storage/vfs"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, root string) storage.Driver {
		d, err := vfs.New(root)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

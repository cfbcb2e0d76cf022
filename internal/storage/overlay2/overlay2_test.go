package overlay2_test

import (
	"testing"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/overlay2"
	"github.com/berth-dev/berth/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, root string) storage.Driver {
		d, err := overlay2.New(root)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

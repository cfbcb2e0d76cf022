package layer

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/storage"
)

// tarSplitFile, in a layer's layerdb entry, is the gzipped archive.Split
// of the tar the layer was registered from: with it TarLayer writes that
// very tar again, so the saved or pushed layer's digest is its diff ID.
const tarSplitFile = "tar-split.gz"

// tarFromSplit writes l's original tar if a split was recorded (ok
// false: none, use the driver's diff).
func (s *Store) tarFromSplit(ctx context.Context, l Layer, w io.Writer) (bool, error) {
	f, err := os.Open(filepath.Join(s.layerDir(l.ChainID), tarSplitFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	cd, ok := s.driver.(storage.ContentDirer)
	if !ok {
		return false, nil
	}
	dir, err := cd.ContentDir(ctx, l.CacheID)
	if err != nil {
		return false, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false, err
	}
	return true, archive.WriteSplit(w, zr, dir)
}

// TarLayerSize is the size of the tar TarLayer writes for c, when the
// layer's split tells it without writing the tar (ok false otherwise).
func (s *Store) TarLayerSize(ctx context.Context, c image.ChainID) (int64, bool) {
	l, err := s.Lookup(c)
	if err != nil {
		return 0, false
	}
	if _, ok := s.driver.(storage.ContentDirer); !ok {
		return 0, false
	}
	f, err := os.Open(filepath.Join(s.layerDir(l.ChainID), tarSplitFile))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, false
	}
	n, err := archive.SplitSize(zr)
	return n, err == nil
}

package overlay2

import (
	"context"
	"path/filepath"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/storage"
)

var _ storage.Changer = (*Driver)(nil)

// Changes implements storage.Changer from the upper dir alone; the lower
// dirs only tell added paths from modified ones.
func (d *Driver) Changes(ctx context.Context, key string) ([]archive.Change, error) {
	if _, err := d.Stat(ctx, key); err != nil {
		return nil, err
	}
	lowers, err := d.lowerDirs(key)
	if err != nil {
		return nil, err
	}
	return archive.OverlayChanges(filepath.Join(d.dir(key), "diff"), lowers)
}

// ContentDir implements storage.ContentDirer.
func (d *Driver) ContentDir(ctx context.Context, key string) (string, error) {
	if _, err := d.Stat(ctx, key); err != nil {
		return "", err
	}
	return filepath.Join(d.dir(key), "diff"), nil
}

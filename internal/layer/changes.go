package layer

import (
	"context"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/storage"
)

// ChangesRW lists container id's changes against its image (docker diff).
func (s *Store) ChangesRW(ctx context.Context, id string) ([]archive.Change, error) {
	rw, err := s.rw(id)
	if err != nil {
		return nil, err
	}
	ch, ok := s.driver.(storage.Changer)
	if !ok {
		return nil, errdefs.NotImplementedf("diff: storage driver %s cannot list changes", s.driver.Name())
	}
	return ch.Changes(ctx, rw.mountID)
}

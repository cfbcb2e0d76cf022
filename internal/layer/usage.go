package layer

import (
	"context"

	"github.com/berth-dev/berth/internal/image"
)

// RWSize is the bytes container id's writable layer holds (docker ps -s,
// system df).
func (s *Store) RWSize(ctx context.Context, id string) (int64, error) {
	rw, err := s.rw(id)
	if err != nil {
		return 0, err
	}
	u, err := s.driver.Usage(ctx, rw.mountID)
	if err != nil {
		return 0, err
	}
	return u.Size, nil
}

// ChainSize is the bytes of layer c and its parents.
func (s *Store) ChainSize(c image.ChainID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for c != "" {
		e, ok := s.layers[c]
		if !ok {
			break
		}
		n += e.Size
		c = e.Parent
	}
	return n
}

// LayersSize is the bytes of every stored read-only layer, each counted
// once (system df's LayersSize).
func (s *Store) LayersSize() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, e := range s.layers {
		n += e.Size
	}
	return n
}

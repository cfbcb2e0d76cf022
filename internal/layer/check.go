package layer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/storage"
)

// Problem is one inconsistency Check found.
type Problem struct {
	Kind     string // "orphan snapshot", "orphan temp", "missing snapshot"
	Path     string
	Bytes    int64
	Repaired bool
}

// CheckReport is what Check found and the sizes df and du see.
type CheckReport struct {
	Problems []Problem
	// LayerBytes is the bytes the store accounts for (layers and writable
	// layers); SnapshotBytes what the driver's snapshots hold on disk.
	LayerBytes, SnapshotBytes int64
}

// Check walks the driver's snapshots, the layer records and tmp: a
// snapshot no record names, or a temp entry, older than grace is an orphan
// (younger ones may belong to an operation in flight); a record whose
// snapshot is gone is missing content. With repair, orphans are removed.
func (s *Store) Check(ctx context.Context, grace time.Duration, repair bool) (CheckReport, error) {
	var rep CheckReport
	used := map[string]bool{}
	s.mu.Lock()
	for _, e := range s.layers {
		used[e.CacheID] = true
	}
	for _, rw := range s.rws {
		used[rw.mountID] = true
	}
	s.mu.Unlock()
	snaps := map[string]storage.Info{}
	if err := s.driver.Walk(ctx, func(_ context.Context, i storage.Info) error {
		snaps[i.Key] = i
		return nil
	}); err != nil {
		return rep, err
	}
	for k := range used {
		if _, ok := snaps[k]; !ok {
			rep.Problems = append(rep.Problems, Problem{Kind: "missing snapshot", Path: k})
		}
	}
	hasChild := map[string]bool{}
	for _, i := range snaps {
		hasChild[i.Parent] = true
	}
	now := time.Now()
	for k, i := range snaps {
		u, _ := s.driver.Usage(ctx, k)
		rep.SnapshotBytes += u.Size
		if used[k] {
			rep.LayerBytes += u.Size
			continue
		}
		if now.Sub(i.Created) < grace || hasChild[k] {
			continue
		}
		p := Problem{Kind: "orphan snapshot", Path: filepath.Join(s.driver.Name(), k), Bytes: u.Size}
		if repair {
			if mp, ok := s.driver.(storage.Mountpointer); ok {
				_ = storage.Unmount(mp.Mountpoint(k))
			}
			p.Repaired = s.driver.Remove(ctx, k) == nil
		}
		rep.Problems = append(rep.Problems, p)
	}
	ents, _ := os.ReadDir(s.tmp)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "layer-") && !strings.HasPrefix(e.Name(), "image-") {
			continue
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < grace {
			continue
		}
		p := filepath.Join(s.tmp, e.Name())
		u, _ := storage.DirUsage(p)
		pr := Problem{Kind: "orphan temp", Path: p, Bytes: u.Size}
		if repair {
			pr.Repaired = os.RemoveAll(p) == nil
		}
		rep.Problems = append(rep.Problems, pr)
	}
	return rep, nil
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s %s (%d bytes)", p.Kind, p.Path, p.Bytes)
	if p.Repaired {
		s += ": removed"
	}
	return s
}

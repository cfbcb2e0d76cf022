package cache

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/build"
	eventtypes "github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	buildrouter "github.com/berth-dev/berth/internal/apiserver/router/build"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/filters"
	"github.com/berth-dev/berth/internal/image"
)

// pruneFilters are the filters dockerd's /build/prune accepts (label and
// label! are accepted and ignored, as dockerd does).
var pruneFilters = []string{"until", "unused-for", "id", "parent", "type", "description", "inuse", "shared", "private", "label", "label!"}

// Prune deletes cache records and then the images they alone kept (see
// the package doc for which). Filters and space limits are BuildKit's:
// until keeps what was used since; id is a regular expression on the
// record ID; parent, type and description must equal; inuse matches
// nothing (no classic record is in use), shared the records a tagged
// image keeps (see List), private the others. With
// reserved-space, max-used-space or min-free-space, the least recently
// used candidates go until the cache fits.
func (s *Store) Prune(ctx context.Context, opts buildrouter.PruneOptions) (build.CachePruneReport, error) {
	rep, err := s.prune(ctx, opts)
	if err != nil {
		return rep, err
	}
	s.mu.Lock()
	pub := s.pub
	s.mu.Unlock()
	if pub != nil {
		pub.Publish(events.Message{Type: eventtypes.BuilderEventType, Action: eventtypes.ActionPrune,
			Actor: eventtypes.Actor{Attributes: map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)}}})
	}
	return rep, nil
}

func (s *Store) prune(ctx context.Context, opts buildrouter.PruneOptions) (build.CachePruneReport, error) {
	rep := build.CachePruneReport{CachesDeleted: []string{}}
	m, err := newMatcher(opts, s.now())
	if err != nil {
		return rep, err
	}
	entries, err := s.all()
	if err != nil {
		return rep, err
	}
	sized := s.sizes(ctx, entries)
	byImage := recordsByImage(entries)
	dangling := s.danglingImages(ctx, entries, sized)

	var gone, cands []entry
	var total int64
	for _, e := range entries {
		size, ok := sized[e.Image]
		if !ok {
			gone = append(gone, e) // never shown: deleted quietly
			continue
		}
		total += size
		shared := !dangling[e.Image]
		if shared && !opts.All {
			continue
		}
		if m.match(e, byImage[e.Parent], shared) {
			cands = append(cands, e)
		}
	}
	if keep := keepBytes(total, s.freeBytes, opts); keep > 0 {
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].LastUsedAt.Before(cands[j].LastUsedAt) })
		n := 0
		for n < len(cands) && total > keep {
			total -= sized[cands[n].Image]
			n++
		}
		cands = cands[:n]
	}
	if len(gone)+len(cands) == 0 {
		return rep, nil
	}

	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := s.flushTx(tx); err != nil {
			return err
		}
		b := tx.Bucket(bucketRecords)
		for _, e := range append(append([]entry(nil), gone...), cands...) {
			if err := b.Delete([]byte(e.key)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("build cache: prune: %w", err)
	}
	for _, e := range cands {
		rep.CachesDeleted = append(rep.CachesDeleted, e.ID)
	}
	if im := s.imageOps(); im != nil {
		// A build may have Put a record for one of these images since
		// the records were read: what the cache holds now stays.
		now, err := s.all()
		if err != nil {
			return rep, err
		}
		rep.SpaceReclaimed = removeImages(ctx, im, entries, cands, now, sized)
	}
	return rep, nil
}

// danglingImages returns the record images that are neither tagged nor
// an ancestor (through the records' parents) of a tagged one.
func (s *Store) danglingImages(ctx context.Context, entries []entry, sized map[image.ID]int64) map[image.ID]bool {
	im := s.imageOps()
	parentOf := map[image.ID]image.ID{}
	for _, e := range entries {
		if e.Parent != "" {
			parentOf[e.Image] = e.Parent
		}
	}
	kept := map[image.ID]bool{}
	for _, e := range entries {
		if _, ok := sized[e.Image]; !ok || im == nil || !im.Tagged(ctx, e.Image) {
			continue
		}
		for id := e.Image; id != "" && !kept[id]; id = parentOf[id] {
			kept[id] = true
		}
	}
	out := map[image.ID]bool{}
	for _, e := range entries {
		if !kept[e.Image] {
			out[e.Image] = true
		}
	}
	return out
}

// removeImages removes the images of the deleted records that no kept
// or current record points to, children before parents: an image is removed only
// when none of its children (by the records' parents) still exists. It
// returns the bytes reclaimed (the removed images' own layers).
func removeImages(ctx context.Context, im Images, entries, deleted, current []entry, sized map[image.ID]int64) uint64 {
	isDeleted := map[string]bool{}
	for _, e := range deleted {
		isDeleted[e.key] = true
	}
	exists := map[image.ID]bool{}
	for id := range sized {
		exists[id] = true
	}
	keep := map[image.ID]bool{}
	for _, e := range current {
		keep[e.Image] = true
	}
	children := map[image.ID][]image.ID{}
	for _, e := range entries {
		if !isDeleted[e.key] {
			keep[e.Image] = true
		}
		if e.Parent != "" {
			children[e.Parent] = append(children[e.Parent], e.Image)
		}
	}
	var cands []image.ID
	seen := map[image.ID]bool{}
	for _, e := range deleted {
		if !keep[e.Image] && exists[e.Image] && !seen[e.Image] {
			seen[e.Image] = true
			cands = append(cands, e.Image)
		}
	}
	var reclaimed uint64
	done := map[image.ID]bool{}
	for progress := true; progress; {
		progress = false
		for _, id := range cands {
			if done[id] || ctx.Err() != nil {
				continue
			}
			waiting := false
			for _, c := range children[id] {
				if exists[c] && c != id {
					waiting = true
					break
				}
			}
			if waiting {
				continue
			}
			done[id], progress = true, true
			switch err := im.Remove(ctx, id); {
			case err == nil:
				exists[id] = false
				reclaimed += uint64(sized[id])
			case errdefs.Is(err, errdefs.NotFound):
				exists[id] = false
			}
			// Conflict (tagged, used) or another error: the image stays,
			// and so do its parents.
		}
	}
	return reclaimed
}

// freeBytes is the free space of the file system holding the cache.
func (s *Store) freeBytes() int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(s.db.Path()), &st); err != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// keepBytes folds the three space limits into the cache size to prune
// down to (0: no limit), as BuildKit does.
func keepBytes(total int64, free func() int64, opts buildrouter.PruneOptions) int64 {
	if opts.MaxUsedSpace == 0 && opts.ReservedSpace == 0 && opts.MinFreeSpace == 0 {
		return 0
	}
	keep := opts.MaxUsedSpace
	if opts.MinFreeSpace != 0 {
		if excess := opts.MinFreeSpace - free(); excess > 0 {
			if keep == 0 {
				keep = total - excess
			} else {
				keep = min(keep, total-excess)
			}
		} else if keep == 0 {
			keep = total // enough free space: nothing to do
		}
	}
	return max(keep, opts.ReservedSpace)
}

// matcher is a parsed filter set.
type matcher struct {
	until       time.Time // keep what was used after this (zero: no limit)
	id          *regexp.Regexp
	parent      *string
	typ         *string
	description *string
	bools       map[string]string // inuse, shared, private -> "" (present) or a value
}

func newMatcher(opts buildrouter.PruneOptions, now time.Time) (*matcher, error) {
	f := opts.Filters
	if err := f.Validate(pruneFilters...); err != nil {
		return nil, err
	}
	one := func(key string) (string, bool, error) {
		vs := f.Get(key)
		switch len(vs) {
		case 0:
			return "", f.Contains(key), nil
		case 1:
			return vs[0], true, nil
		}
		return "", false, errdefs.InvalidArgumentf("filters expect only one value")
	}
	m := &matcher{bools: map[string]string{}}
	if f.Contains("until") && f.Contains("unused-for") {
		return nil, errdefs.InvalidArgumentf("conflicting filters: %q and %q", "until", "unused-for")
	}
	for _, key := range []string{"until", "unused-for"} {
		v, ok, err := one(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		t, err := filters.ParseUntil(v, now)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("%q filter expects a duration (e.g., '24h') or a timestamp: %v", key, err)
		}
		m.until = t
	}
	if v, ok, err := one("id"); err != nil {
		return nil, err
	} else if ok {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("invalid filter 'id=%s': %v", v, err)
		}
		m.id = re
	}
	for key, dst := range map[string]**string{"parent": &m.parent, "type": &m.typ, "description": &m.description} {
		v, ok, err := one(key)
		if err != nil {
			return nil, err
		}
		if ok {
			*dst = &v
		}
	}
	for _, key := range []string{"inuse", "shared", "private"} {
		v, ok, err := one(key)
		if err != nil {
			return nil, err
		}
		if ok {
			m.bools[key] = v
		}
	}
	return m, nil
}

func (m *matcher) match(e entry, parents []string, shared bool) bool {
	if !m.until.IsZero() && e.LastUsedAt.After(m.until) {
		return false
	}
	if m.id != nil && !m.id.MatchString(e.ID) {
		return false
	}
	if m.parent != nil {
		found := false
		for _, p := range parents {
			found = found || p == *m.parent
		}
		if !found {
			return false
		}
	}
	if m.typ != nil && *m.typ != "regular" {
		return false
	}
	if m.description != nil && *m.description != e.Description {
		return false
	}
	actual := map[string]bool{"inuse": false, "shared": shared, "private": !shared}
	for key, v := range m.bools {
		want := true
		if v != "" {
			b, err := strconv.ParseBool(v)
			want = err == nil && b
		}
		if actual[key] != want {
			return false
		}
	}
	return true
}

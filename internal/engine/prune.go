package engine

import (
	"context"
	"strconv"
	"strings"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

// Prune removes every container that is not running and matches the
// filters (until, label, label!).
func (e *Engine) Prune(ctx context.Context, f filters.Args) (ctypes.PruneReport, error) {
	rep := ctypes.PruneReport{ContainersDeleted: []string{}}
	if err := f.Validate("until", "label", "label!"); err != nil {
		return rep, err
	}
	var until time.Time
	for _, v := range f.Get("until") {
		t, err := parseUntil(v, time.Now())
		if err != nil {
			return rep, err
		}
		until = t
	}
	for _, c := range e.store.List() {
		if c.State.Running() || c.State.Status == ctypes.StateRemoving {
			continue
		}
		if !until.IsZero() && !c.Created.Before(until) {
			continue
		}
		if !f.MatchKVList("label", c.Config.Labels) {
			continue
		}
		if f.Contains("label!") && matchAnyKV(f.Get("label!"), c.Config.Labels) {
			continue
		}
		ent, err := e.store.Get(c.ID)
		if err != nil {
			continue
		}
		size, _ := e.rwSize(ctx, c.ID)
		if err := e.remove(ctx, ent, false); err != nil {
			if errdefs.Is(err, errdefs.NotFound) || errdefs.Is(err, errdefs.Conflict) {
				continue // removed or started meanwhile
			}
			return rep, err
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
		rep.SpaceReclaimed += uint64(size)
	}
	return rep, nil
}

func matchAnyKV(filters []string, labels map[string]string) bool {
	for _, f := range filters {
		k, v, hasV := strings.Cut(f, "=")
		if got, ok := labels[k]; ok && (!hasV || got == v) {
			return true
		}
	}
	return false
}

// parseUntil reads a prune "until": a Go duration ("24h", before now), an
// RFC 3339 time or date, or a Unix timestamp ("1700000000[.nnn]").
func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, errdefs.InvalidArgumentf("invalid filter 'until=%s'", v)
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return time.Time{}, errdefs.InvalidArgumentf("invalid filter 'until=%s'", v)
		}
		ns = n
	}
	return time.Unix(s, ns), nil
}

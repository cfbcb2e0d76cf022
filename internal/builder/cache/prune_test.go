package cache

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	buildrouter "github.com/berth-dev/berth/internal/apiserver/router/build"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/filters"
	"github.com/berth-dev/berth/internal/image"
)

// twoBuilds makes the cache of two builds on base image 0 (not a
// record): build A (steps 1, 2, 3; 3 tagged) and build B, which reused
// step 1 and then made 4 and 5 (5 untagged: its tag moved away).
//
//	0 -> 1 -> 2 -> 3 (tagged)
//	       \-> 4 -> 5
func twoBuilds(t *testing.T) (*Store, *fakeImages) {
	s := open(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	im := newFakeImages()
	for i, size := range []int64{1000, 10, 20, 30, 40, 50} {
		im.add(img(i), size)
	}
	im.tagged[img(3)] = true
	s.SetImages(im)
	put(t, s, "k1", img(1), img(0), "RUN one")
	put(t, s, "k2", img(2), img(1), "RUN two")
	put(t, s, "k3", img(3), img(2), "CMD three")
	put(t, s, "k4", img(4), img(1), "RUN four")
	put(t, s, "k5", img(5), img(4), "RUN five")
	return s, im
}

func ids(keys ...string) []string {
	var out []string
	for _, k := range keys {
		out = append(out, RecordID(k))
	}
	sort.Strings(out)
	return out
}

func prune(t *testing.T, s *Store, opts buildrouter.PruneOptions) ([]string, uint64) {
	t.Helper()
	rep, err := s.Prune(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	got := append([]string(nil), rep.CachesDeleted...)
	sort.Strings(got)
	return got, rep.SpaceReclaimed
}

func remaining(t *testing.T, s *Store) []string {
	t.Helper()
	recs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	sort.Strings(out)
	return out
}

func TestPruneDanglingOnly(t *testing.T) {
	s, im := twoBuilds(t)
	got, reclaimed := prune(t, s, buildrouter.PruneOptions{Filters: filters.NewArgs()})
	if !slices.Equal(got, ids("k4", "k5")) {
		t.Fatalf("deleted %v, want k4, k5 (%v)", got, ids("k4", "k5"))
	}
	if reclaimed != 90 {
		t.Errorf("reclaimed %d, want 90", reclaimed)
	}
	// Children first: 5 before 4.
	if !slices.Equal(im.removed, []image.ID{img(5), img(4)}) {
		t.Errorf("removed %v, want 5 then 4", im.removed)
	}
	if !slices.Equal(remaining(t, s), ids("k1", "k2", "k3")) {
		t.Errorf("kept %v", remaining(t, s))
	}
}

func TestPruneAll(t *testing.T) {
	s, im := twoBuilds(t)
	im.used[img(2)] = true // a stopped container's image
	got, reclaimed := prune(t, s, buildrouter.PruneOptions{All: true, Filters: filters.NewArgs()})
	if !slices.Equal(got, ids("k1", "k2", "k3", "k4", "k5")) {
		t.Fatalf("deleted %v, want all", got)
	}
	// 3 is tagged and 2 used: both stay, and 1 (their parent) too.
	for _, keep := range []int{0, 1, 2, 3} {
		if !im.exists(img(keep)) {
			t.Errorf("image %d removed", keep)
		}
	}
	for _, gone := range []int{4, 5} {
		if im.exists(img(gone)) {
			t.Errorf("image %d kept", gone)
		}
	}
	if reclaimed != 90 {
		t.Errorf("reclaimed %d, want 90", reclaimed)
	}
	if len(remaining(t, s)) != 0 {
		t.Errorf("records left: %v", remaining(t, s))
	}
	// Nothing left: a second prune deletes nothing.
	if got, _ := prune(t, s, buildrouter.PruneOptions{All: true}); len(got) != 0 {
		t.Errorf("second prune deleted %v", got)
	}
}

func TestPruneAllRemovesWholeUntaggedChain(t *testing.T) {
	s, im := twoBuilds(t)
	im.tagged[img(3)] = false
	_, reclaimed := prune(t, s, buildrouter.PruneOptions{All: true})
	if reclaimed != 150 {
		t.Errorf("reclaimed %d, want 150", reclaimed)
	}
	if !im.exists(img(0)) {
		t.Error("the base image (not a record) was removed")
	}
	if len(im.removed) != 5 {
		t.Errorf("removed %v, want 5 images", im.removed)
	}
}

func TestPruneFilters(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   [][2]string
		want []string
	}{
		{"id regexp", [][2]string{{"id", "^" + RecordID("k2")[:6]}}, ids("k2")},
		{"description", [][2]string{{"description", "RUN four"}}, ids("k4")},
		{"parent", [][2]string{{"parent", RecordID("k1")}}, ids("k2", "k4")},
		{"type regular", [][2]string{{"type", "regular"}}, ids("k1", "k2", "k3", "k4", "k5")},
		{"type other", [][2]string{{"type", "exec.cachemount"}}, nil},
		{"inuse", [][2]string{{"inuse", ""}}, nil},
		{"inuse=false", [][2]string{{"inuse", "false"}}, ids("k1", "k2", "k3", "k4", "k5")},
		{"shared", [][2]string{{"shared", "true"}}, ids("k1", "k2", "k3")},
		{"private", [][2]string{{"private", ""}}, ids("k4", "k5")},
		{"label ignored", [][2]string{{"label", "a=b"}}, ids("k1", "k2", "k3", "k4", "k5")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := twoBuilds(t)
			got, _ := prune(t, s, buildrouter.PruneOptions{All: true, Filters: filters.NewArgs(tc.kv...)})
			if !slices.Equal(got, tc.want) {
				t.Errorf("deleted %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPruneUntil(t *testing.T) {
	for _, f := range []string{"until", "unused-for"} {
		s, _ := twoBuilds(t)
		backdate(t, s, "k1", "k4")
		got, _ := prune(t, s, buildrouter.PruneOptions{All: true, Filters: filters.NewArgs([2]string{f, "1h"})})
		if !slices.Equal(got, ids("k1", "k4")) {
			t.Errorf("%s=1h deleted %v, want k1, k4", f, got)
		}
	}
	// A timestamp works too; a use counted by Get makes a record recent.
	s, _ := twoBuilds(t)
	backdate(t, s, "k1", "k4")
	s.Get(context.Background(), "k4")
	ts := time.Now().Add(-time.Hour).Format(time.RFC3339)
	got, _ := prune(t, s, buildrouter.PruneOptions{All: true, Filters: filters.NewArgs([2]string{"until", ts})})
	if !slices.Equal(got, ids("k1")) {
		t.Errorf("until=%s deleted %v, want k1", ts, got)
	}
}

// backdate sets the keys' LastUsedAt two hours back.
func backdate(t *testing.T, s *Store, keys ...string) {
	t.Helper()
	entries, err := s.all()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(keys, e.key) {
			continue
		}
		e.LastUsedAt = time.Now().Add(-2 * time.Hour)
		if err := s.db.Update(func(tx *bolt.Tx) error { return putRecord(tx.Bucket(bucketRecords), e.key, e.record) }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPruneFilterErrors(t *testing.T) {
	s, _ := twoBuilds(t)
	for _, f := range []filters.Args{
		filters.NewArgs([2]string{"dangling", "true"}),
		filters.NewArgs([2]string{"until", "1h"}, [2]string{"unused-for", "1h"}),
		filters.NewArgs([2]string{"until", "1h"}, [2]string{"until", "2h"}),
		filters.NewArgs([2]string{"until", "yesterday"}),
		filters.NewArgs([2]string{"id", "("}),
	} {
		_, err := s.Prune(context.Background(), buildrouter.PruneOptions{Filters: f})
		if !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("filters %v: err = %v, want InvalidArgument", f, err)
		}
	}
	if got := remaining(t, s); len(got) != 5 {
		t.Errorf("a refused prune deleted records: %v left", got)
	}
}

func TestPruneReservedAndMaxUsedSpace(t *testing.T) {
	// Sizes 10 (k1), 20, 30, 40, 50: total 150. Least recently used go
	// first; records were Put in order k1..k5.
	s, _ := twoBuilds(t)
	got, _ := prune(t, s, buildrouter.PruneOptions{All: true, ReservedSpace: 100})
	if !slices.Equal(got, ids("k1", "k2", "k3")) { // 150-10-20-30 = 90 <= 100
		t.Errorf("reserved 100: deleted %v", got)
	}
	s2, _ := twoBuilds(t)
	got, _ = prune(t, s2, buildrouter.PruneOptions{All: true, ReservedSpace: 1000})
	if len(got) != 0 {
		t.Errorf("reserved above the total: deleted %v", got)
	}
	s3, _ := twoBuilds(t)
	got, _ = prune(t, s3, buildrouter.PruneOptions{All: true, MaxUsedSpace: 60, ReservedSpace: 0})
	if !slices.Equal(got, ids("k1", "k2", "k3", "k4")) { // 150-10-20-30-40 = 50 <= 60
		t.Errorf("max-used 60: deleted %v", got)
	}
}

func TestKeepBytes(t *testing.T) {
	free := func(n int64) func() int64 { return func() int64 { return n } }
	for _, tc := range []struct {
		opts        buildrouter.PruneOptions
		total, free int64
		want        int64
	}{
		{buildrouter.PruneOptions{}, 100, 0, 0},
		{buildrouter.PruneOptions{ReservedSpace: 40}, 100, 0, 40},
		{buildrouter.PruneOptions{MaxUsedSpace: 60}, 100, 0, 60},
		{buildrouter.PruneOptions{MinFreeSpace: 50}, 100, 30, 80},  // 20 bytes short
		{buildrouter.PruneOptions{MinFreeSpace: 50}, 100, 70, 100}, // enough free
		{buildrouter.PruneOptions{MinFreeSpace: 50, MaxUsedSpace: 90}, 100, 0, 50},
		{buildrouter.PruneOptions{MinFreeSpace: 500, ReservedSpace: 10}, 100, 0, 10},
	} {
		if got := keepBytes(tc.total, free(tc.free), tc.opts); got != tc.want {
			t.Errorf("keepBytes(%d, free %d, %+v) = %d, want %d", tc.total, tc.free, tc.opts, got, tc.want)
		}
	}
}

func TestPruneDropsRecordsOfGoneImages(t *testing.T) {
	s, im := twoBuilds(t)
	im.mu.Lock()
	delete(im.size, img(5)) // docker image prune removed it
	im.mu.Unlock()
	got, _ := prune(t, s, buildrouter.PruneOptions{Filters: filters.NewArgs([2]string{"description", "nothing matches"})})
	if len(got) != 0 {
		t.Errorf("reported %v", got)
	}
	if _, ok := s.Get(context.Background(), "k5"); ok {
		t.Error("the gone image's record is still there")
	}
}

// The records a tagged image keeps are Shared in df: not reclaimable.
func TestListShared(t *testing.T) {
	s, _ := twoBuilds(t)
	recs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var shared []string
	for _, r := range recs {
		if r.Shared {
			shared = append(shared, r.ID)
		}
	}
	sort.Strings(shared)
	if !slices.Equal(shared, ids("k1", "k2", "k3")) {
		t.Errorf("shared %v, want k1, k2, k3", shared)
	}
}

type recorder struct{ msgs []events.Message }

func (r *recorder) Publish(m events.Message) { r.msgs = append(r.msgs, m) }

// Each prune publishes dockerd's builder prune event, even one that
// freed nothing.
func TestPrunePublishesEvent(t *testing.T) {
	s, _ := twoBuilds(t)
	var rec recorder
	s.SetPublisher(&rec)
	prune(t, s, buildrouter.PruneOptions{})
	prune(t, s, buildrouter.PruneOptions{})
	if len(rec.msgs) != 2 {
		t.Fatalf("%d events, want 2", len(rec.msgs))
	}
	m := rec.msgs[0]
	if m.Type != "builder" || m.Action != "prune" || m.Actor.Attributes["reclaimed"] != "90" || rec.msgs[1].Actor.Attributes["reclaimed"] != "0" {
		t.Errorf("events %+v", rec.msgs)
	}
}

// An image a record points to again (a build's Put during the prune)
// is not removed.
func TestRemoveImagesSparesCurrentRecords(t *testing.T) {
	im := newFakeImages()
	im.add(img(1), 10)
	im.add(img(2), 20)
	old := []entry{{key: "a", record: record{Image: img(1)}}, {key: "b", record: record{Image: img(2), Parent: img(1)}}}
	current := []entry{{key: "b2", record: record{Image: img(2)}}}
	sized := map[image.ID]int64{img(1): 10, img(2): 20}
	if got := removeImages(context.Background(), im, old, old, current, sized); got != 0 {
		t.Errorf("reclaimed %d, want 0", got)
	}
	if !im.exists(img(2)) || !im.exists(img(1)) {
		t.Errorf("removed %v: image 2 is cached again, and 1 is its parent", im.removed)
	}
}

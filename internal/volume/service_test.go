package volume_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	vtypes "github.com/moby/moby/api/types/volume"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/filters"
	"github.com/berth-dev/berth/internal/volume"
)

type recorder struct{ msgs []events.Message }

func (r *recorder) Publish(m events.Message) { r.msgs = append(r.msgs, m) }

func newService(t *testing.T) (*volume.Service, *recorder) {
	t.Helper()
	l, err := volume.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := volume.NewService(nil, l)
	r := &recorder{}
	s.SetPublisher(r)
	return s, r
}

func names(t *testing.T, s *volume.Service, kv ...[2]string) []string {
	t.Helper()
	l, err := s.List(context.Background(), filters.NewArgs(kv...))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range l.Volumes {
		out = append(out, v.Name)
	}
	slices.Sort(out)
	return out
}

func TestServiceListFilters(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	s.Create(ctx, vtypes.CreateRequest{Name: "web-data", Labels: map[string]string{"app": "web"}})
	s.Create(ctx, vtypes.CreateRequest{Name: "db-data", Labels: map[string]string{"app": "db", "tier": ""}})
	s.Acquire(ctx, "used", "ctr1", volume.AcquireOptions{})
	for _, tc := range []struct {
		kv   [][2]string
		want string
	}{
		{nil, "db-data,used,web-data"},
		{[][2]string{{"dangling", "true"}}, "db-data,web-data"},
		{[][2]string{{"dangling", "0"}}, "used"},
		{[][2]string{{"name", "data"}}, "db-data,web-data"},
		{[][2]string{{"name", "^web"}}, "web-data"},
		{[][2]string{{"label", "app=db"}}, "db-data"},
		{[][2]string{{"label", "tier"}}, "db-data"},
		{[][2]string{{"driver", "local"}, {"label", "app"}}, "db-data,web-data"},
		{[][2]string{{"driver", "other"}}, ""},
	} {
		if got := strings.Join(names(t, s, tc.kv...), ","); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.kv, got, tc.want)
		}
	}
	if _, err := s.List(ctx, filters.NewArgs([2]string{"dangling", "maybe"})); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("dangling=maybe: %v", err)
	}
	if _, err := s.List(ctx, filters.NewArgs([2]string{"foo", "x"})); err == nil || err.Error() != "invalid filter 'foo'" {
		t.Errorf("unknown filter: %v", err)
	}
}

func TestServicePruneAndRemove(t *testing.T) {
	ctx := context.Background()
	s, rec := newService(t)
	s.Create(ctx, vtypes.CreateRequest{Name: "named"})
	s.Create(ctx, vtypes.CreateRequest{Name: "keep", Labels: map[string]string{"keep": "1"}})
	anon, _ := s.Acquire(ctx, "", "c1", volume.AcquireOptions{Anonymous: true})
	held, _ := s.Acquire(ctx, "", "c2", volume.AcquireOptions{Anonymous: true})
	s.Release(anon.Name, "c1")

	rep, err := s.Prune(ctx, filters.NewArgs(), true) // API >= 1.42
	if err != nil || strings.Join(rep.VolumesDeleted, ",") != anon.Name {
		t.Fatalf("prune anonymous only: %+v %v", rep, err)
	}
	rep, _ = s.Prune(ctx, filters.NewArgs([2]string{"label!", "keep"}), false) // API < 1.42: all
	if strings.Join(rep.VolumesDeleted, ",") != "named" {
		t.Fatalf("prune label!=keep: %+v", rep)
	}
	rep, _ = s.Prune(ctx, filters.NewArgs([2]string{"all", "true"}), true)
	if strings.Join(rep.VolumesDeleted, ",") != "keep" {
		t.Fatalf("prune all=true: %+v", rep)
	}
	if got := names(t, s); strings.Join(got, ",") != held.Name {
		t.Fatalf("left: %v", got)
	}
	err = s.Remove(ctx, held.Name, true)
	if !errdefs.Is(err, errdefs.Conflict) || err.Error() != "remove "+held.Name+": volume is in use - [c2]" {
		t.Fatalf("remove in use: %v", err)
	}
	if err := s.Remove(ctx, "nope", false); !errdefs.Is(err, errdefs.NotFound) || err.Error() != "get nope: no such volume" {
		t.Fatalf("remove missing: %v", err)
	}
	if err := s.Remove(ctx, "nope", true); err != nil {
		t.Fatalf("remove -f missing: %v", err)
	}
	if _, err := s.Create(ctx, vtypes.CreateRequest{Name: "x"}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("one-letter name: %v", err)
	}
	// An existing name gives the existing volume.
	v1, _ := s.Create(ctx, vtypes.CreateRequest{Name: "again", Labels: map[string]string{"a": "1"}})
	v2, err := s.Create(ctx, vtypes.CreateRequest{Name: "again"})
	if err != nil || v2.CreatedAt != v1.CreatedAt || v2.Labels["a"] != "1" {
		t.Fatalf("create existing: %+v %v", v2, err)
	}
	var acts []string
	for _, m := range rec.msgs {
		if m.Actor.ID == "named" {
			acts = append(acts, string(m.Action)+":"+m.Actor.Attributes["driver"])
		}
	}
	if strings.Join(acts, ",") != "create:local,destroy:local" {
		t.Fatalf("events of named: %v", acts)
	}
}

func TestServiceDiskUsage(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	info, _ := s.Acquire(ctx, "du", "c1", volume.AcquireOptions{})
	if err := os.WriteFile(filepath.Join(info.Mountpoint, "f"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Create(ctx, vtypes.CreateRequest{Name: "empty"})
	vs, err := s.DiskUsage(ctx)
	if err != nil || len(vs) != 2 {
		t.Fatalf("%v %v", vs, err)
	}
	for _, v := range vs {
		want := vtypes.UsageData{}
		if v.Name == "du" {
			want = vtypes.UsageData{Size: 1000, RefCount: 1}
		}
		if v.UsageData == nil || *v.UsageData != want {
			t.Errorf("%s: %+v, want %+v", v.Name, v.UsageData, want)
		}
	}
}

// WithMounted (berthd's own copy) publishes nothing; WithMountedFor (a
// docker cp through a container) publishes mount and unmount for the
// container.
func TestServiceWithMountedEvents(t *testing.T) {
	ctx := context.Background()
	s, rec := newService(t)
	if _, err := s.Create(ctx, vtypes.CreateRequest{Name: "vol"}); err != nil {
		t.Fatal(err)
	}
	u := volume.User{Container: "c1", Destination: "/data", ReadWrite: true}
	p, err := s.Mount(ctx, "vol", u)
	if err != nil {
		t.Fatal(err)
	}
	rec.msgs = nil
	if err := s.WithMounted(ctx, "vol", func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 0 {
		t.Errorf("WithMounted published %+v", rec.msgs)
	}
	var got []string
	if err := s.WithMountedFor(ctx, "vol", u, func(q string) error {
		if q != p {
			t.Errorf("path %s, the container's %s", q, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, m := range rec.msgs {
		a := m.Actor.Attributes
		got = append(got, strings.Join([]string{string(m.Type), string(m.Action), m.Actor.ID, a["driver"], a["container"], a["destination"], a["read/write"]}, " "))
	}
	want := []string{"volume mount vol local c1 /data true", "volume unmount vol local c1  "}
	if !slices.Equal(got, want) {
		t.Errorf("WithMountedFor events %q, want %q", got, want)
	}
	if err := s.Unmount(ctx, "vol", "c1"); err != nil {
		t.Fatal(err)
	}
}

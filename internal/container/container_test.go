package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/errdefs"
)

func newTestContainer(id, name string) *Container {
	return &Container{
		ID: id, Name: name, Created: time.Now(),
		Path: "sh", Args: []string{"-c", "true"},
		Config:     &ctypes.Config{Image: "busybox", Labels: map[string]string{"a": "b"}},
		HostConfig: &ctypes.HostConfig{},
		State:      State{Status: ctypes.StateCreated},
	}
}

func addTest(t *testing.T, s *Store, id, name string) *Entry {
	t.Helper()
	if err := os.MkdirAll(s.Dir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveName(name, id); err != nil {
		t.Fatal(err)
	}
	e, err := s.Add(newTestContainer(id, name))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNormalizeName(t *testing.T) {
	for _, ok := range []string{"web", "/web", "a1", "my_app.v2-x"} {
		n, err := NormalizeName(ok)
		if err != nil || !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") {
			t.Errorf("NormalizeName(%q) = %q, %v", ok, n, err)
		}
	}
	for _, bad := range []string{"", "a", "_web", "web!", "/", "we b", "-x"} {
		_, err := NormalizeName(bad)
		if !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("NormalizeName(%q): want invalid argument, got %v", bad, err)
			continue
		}
		want := "Invalid container name (" + bad + "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
		if err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
	}
}

func TestNewIDAndRandomName(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := NewID()
		if len(id) != 64 || seen[id] || !isHexPrefix(id) {
			t.Fatalf("bad id %q", id)
		}
		seen[id] = true
		n := RandomName(0)
		if _, err := NormalizeName(n); err != nil || !strings.Contains(n, "_") || n == "boring_wozniak" {
			t.Fatalf("bad generated name %q: %v", n, err)
		}
	}
}

func TestNameConflict(t *testing.T) {
	s, _ := NewStore(t.TempDir())
	id1, id2 := NewID(), NewID()
	addTest(t, s, id1, "/web")
	err := s.ReserveName("/web", id2)
	if !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("want conflict, got %v", err)
	}
	want := `Conflict. The container name "/web" is already in use by container "` + id1 + `". You have to remove (or rename) that container to be able to reuse that name.`
	if err.Error() != want {
		t.Fatalf("got %q\nwant %q", err, want)
	}
	s.Delete(id1)
	if err := s.ReserveName("/web", id2); err != nil {
		t.Fatalf("name not freed by delete: %v", err)
	}
}

func TestGet(t *testing.T) {
	s, _ := NewStore(t.TempDir())
	a := addTest(t, s, "abc1"+strings.Repeat("0", 60), "/web")
	b := addTest(t, s, "abc2"+strings.Repeat("0", 60), "/db")
	cases := []struct {
		ref   string
		want  *Entry
		class errdefs.Class
	}{
		{a.ID(), a, 0}, {"web", a, 0}, {"/web", a, 0}, {"db", b, 0},
		{"abc1", a, 0}, {"abc2", b, 0},
		{"abc", nil, errdefs.InvalidArgument},
		{"nope", nil, errdefs.NotFound},
		{"ffff", nil, errdefs.NotFound},
		{"", nil, errdefs.InvalidArgument},
	}
	for _, c := range cases {
		e, err := s.Get(c.ref)
		if c.want != nil {
			if err != nil || e != c.want {
				t.Errorf("Get(%q) = %v, %v", c.ref, e, err)
			}
			continue
		}
		if !errdefs.Is(err, c.class) {
			t.Errorf("Get(%q): want %v, got %v", c.ref, c.class, err)
		}
	}
	if _, err := s.Get("nope"); err.Error() != "No such container: nope" {
		t.Errorf("not found text: %q", err)
	}
	if _, err := s.Get("abc"); err.Error() != "multiple IDs found with provided prefix: abc" {
		t.Errorf("ambiguous text: %q", err)
	}
	// A name that looks like another container's id prefix wins: names
	// are looked up before prefixes.
	c := addTest(t, s, NewID(), "/abc2")
	if e, _ := s.Get("abc2"); e != c {
		t.Errorf("name should win over id prefix")
	}
}

func TestUpdateTransitionsAndPersistence(t *testing.T) {
	root := t.TempDir()
	s, _ := NewStore(root)
	id := NewID()
	e := addTest(t, s, id, "/web")
	before, changed := e.Watch()

	// created -> paused is not a transition.
	if _, err := e.Update(func(c *Container) error { c.State.Status = ctypes.StatePaused; return nil }); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("want conflict, got %v", err)
	}
	if e.Snapshot() != before {
		t.Fatal("failed update published a snapshot")
	}
	select {
	case <-changed:
		t.Fatal("watch fired on failed update")
	default:
	}
	now := time.Now()
	if _, err := e.Update(func(c *Container) error { c.State.SetRunning(42, now); return nil }); err != nil {
		t.Fatal(err)
	}
	<-changed
	if before.State.Status != ctypes.StateCreated {
		t.Fatal("old snapshot was modified")
	}
	if got := e.Snapshot().State; got.Pid != 42 || !got.Running() {
		t.Fatalf("state %+v", got)
	}

	// Reload from disk in a new store.
	s2, _ := NewStore(root)
	res, err := s2.Load()
	if err != nil || len(res.Loaded) != 1 || len(res.Orphans) != 0 || len(res.Errors) != 0 {
		t.Fatalf("load: %+v %v", res, err)
	}
	c := res.Loaded[0].Snapshot()
	if c.Name != "/web" || c.State.Pid != 42 || c.State.Status != ctypes.StateRunning || !c.State.StartedAt.Equal(now) || c.Config.Labels["a"] != "b" {
		t.Fatalf("reloaded %+v", c)
	}
	if err := s2.ReserveName("/web", NewID()); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatal("loaded names are not reserved")
	}
}

func TestLoadOrphansTempsAndCorrupt(t *testing.T) {
	root := t.TempDir()
	s, _ := NewStore(root)
	good := NewID()
	addTest(t, s, good, "/good")
	os.WriteFile(filepath.Join(s.Dir(good), ".config.v2.json-123"), []byte("{half"), 0o600)
	orphan := NewID()
	os.MkdirAll(s.Dir(orphan), 0o700)
	corrupt := NewID()
	os.MkdirAll(s.Dir(corrupt), 0o700)
	os.WriteFile(filepath.Join(s.Dir(corrupt), RecordFile), []byte("{not json"), 0o600)

	s2, _ := NewStore(root)
	res, err := s2.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Loaded) != 1 || res.Loaded[0].ID() != good {
		t.Fatalf("loaded %v", res.Loaded)
	}
	if len(res.Orphans) != 1 || res.Orphans[0] != orphan {
		t.Fatalf("orphans %v", res.Orphans)
	}
	if len(res.Errors) != 1 {
		t.Fatalf("errors %v", res.Errors)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(good), ".config.v2.json-123")); !os.IsNotExist(err) {
		t.Fatal("temp file not removed")
	}
}

func TestRenameAndDelete(t *testing.T) {
	s, _ := NewStore(t.TempDir())
	a := addTest(t, s, NewID(), "/a1")
	addTest(t, s, NewID(), "/b1")
	if err := s.Rename(a, "/b1"); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("want conflict, got %v", err)
	}
	if err := s.Rename(a, "/c1"); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get("c1"); err != nil || e != a {
		t.Fatal("rename not visible")
	}
	if _, err := s.Get("a1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatal("old name still resolves")
	}
	if err := s.ReserveName("/a1", NewID()); err != nil {
		t.Fatal("old name not freed")
	}
	_, ch := a.Watch()
	s.Delete(a.ID())
	<-ch
	<-a.Removed()
	if _, err := a.Update(func(*Container) error { return nil }); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("update after delete: %v", err)
	}
	if len(s.List()) != 1 {
		t.Fatal("list after delete")
	}
}

func TestStatusText(t *testing.T) {
	now := time.Now()
	cases := []struct {
		s    State
		want string
	}{
		{State{Status: ctypes.StateCreated}, "Created"},
		{State{Status: ctypes.StateRunning, StartedAt: now.Add(-5 * time.Minute)}, "Up 5 minutes"},
		{State{Status: ctypes.StateExited, ExitCode: 3, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-3 * time.Second)}, "Exited (3) 3 seconds ago"},
		{State{Status: ctypes.StateDead}, "Dead"},
		{State{Status: ctypes.StateRemoving}, "Removal In Progress"},
	}
	for _, c := range cases {
		if got := c.s.StatusText(now); got != c.want {
			t.Errorf("%v: got %q want %q", c.s.Status, got, c.want)
		}
	}
}

func TestViews(t *testing.T) {
	c := newTestContainer(NewID(), "/web")
	c.HostConfig.Binds = []string{"/src:/dst:ro", "/a:/b"}
	c.HostConfig.NetworkMode = "none"
	sum := c.Summary(time.Now())
	if sum.Command != "sh -c true" || sum.Names[0] != "/web" || sum.Status != "Created" || len(sum.Mounts) != 2 || sum.Mounts[0].RW || !sum.Mounts[1].RW {
		t.Fatalf("summary %+v", sum)
	}
	if _, ok := sum.NetworkSettings.Networks["none"]; !ok {
		t.Fatal("none network missing")
	}
	in := c.Inspect(nil)
	if in.State.Status != "created" || in.State.StartedAt != "0001-01-01T00:00:00Z" || in.Platform != "linux" || in.Args == nil {
		t.Fatalf("inspect %+v", in)
	}
}

func TestInspectDoesNotShareSnapshot(t *testing.T) {
	c := newTestContainer(NewID(), "/web")
	in := c.Inspect(nil)
	in.Config.Labels["a"] = "changed"
	in.HostConfig.Binds = append(in.HostConfig.Binds, "/x:/y")
	sum := c.Summary(time.Now())
	sum.Labels["a"] = "changed"
	if c.Config.Labels["a"] != "b" || len(c.HostConfig.Binds) != 0 {
		t.Fatal("a read view modified the snapshot")
	}
}

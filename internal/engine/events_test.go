package engine

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/events"
)

// recorder is an events.Publisher that keeps what it gets.
type recorder struct {
	mu   sync.Mutex
	msgs []events.Message
}

func (r *recorder) Publish(m events.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

// actions lists the recorded actions of container id.
func (r *recorder) actions(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if m.Actor.ID == id {
			out = append(out, string(m.Action))
		}
	}
	return strings.Join(out, " ")
}

func (r *recorder) find(id, action string) *events.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.msgs {
		if r.msgs[i].Actor.ID == id && string(r.msgs[i].Action) == action {
			m := r.msgs[i]
			return &m
		}
	}
	return nil
}

func newRecordingHarness(t *testing.T) (*harness, *recorder) {
	h := newHarness(t)
	rec := &recorder{}
	h.Engine.cfg.Events = rec
	return h, rec
}

func TestContainerEvents(t *testing.T) {
	h, rec := newRecordingHarness(t)
	id := h.run("web", &ctypes.Config{Image: "busybox", Labels: map[string]string{"app": "x"}}, nil)
	h.mon.exit(id, 3)
	waitFor(t, "die", func() bool { return rec.find(id, "die") != nil })
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(bg, id, containers.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.Rename(bg, id, "web2"); err != nil {
		t.Fatal(err)
	}
	if err := h.Remove(bg, id, containers.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	// busybox's stop signal is SIGQUIT (3), which the fake honours.
	if got := rec.actions(id); got != "create start die start kill die stop rename destroy" {
		t.Fatalf("actions %q", got)
	}
	die := rec.find(id, "die")
	a := die.Actor.Attributes
	if a["exitCode"] != "3" || a["name"] != "web" || a["image"] != "busybox" || a["app"] != "x" {
		t.Fatalf("die attributes %v", a)
	}
	if k := rec.find(id, "kill"); k.Actor.Attributes["signal"] != "3" {
		t.Fatalf("kill attributes %v", k.Actor.Attributes)
	}
	if r := rec.find(id, "rename"); r.Actor.Attributes["oldName"] != "/web" || r.Actor.Attributes["name"] != "web2" {
		t.Fatalf("rename attributes %v", r.Actor.Attributes)
	}
}

// When the monitor cannot exec, every check fails to run: the container
// becomes unhealthy, publishes it, and its on-failure action stops it.
func TestHealthUnhealthyStops(t *testing.T) {
	h, rec := newRecordingHarness(t)
	fakeExecs.Lock()
	fakeExecs.fail[h.mon] = errors.New("no exec here")
	fakeExecs.Unlock()
	t.Cleanup(func() { fakeExecs.Lock(); delete(fakeExecs.fail, h.mon); fakeExecs.Unlock() })
	id := h.run("hc", &ctypes.Config{
		Image:       "busybox",
		Labels:      map[string]string{"berth.health-on-failure": "stop"},
		Healthcheck: &ctypes.HealthConfig{Test: []string{"CMD", "true"}, Interval: 10 * time.Millisecond, Retries: 2},
	}, nil)
	if hs := h.snap(id).State.Health; hs == nil || hs.Status != ctypes.Starting {
		t.Fatalf("health at start %+v", hs)
	}
	waitFor(t, "the stop by the health action", func() bool { return rec.find(id, "stop") != nil })
	if got := rec.actions(id); !strings.HasPrefix(got, "create start health_status: unhealthy kill die stop") {
		t.Fatalf("actions %q", got)
	}
	c := h.snap(id)
	if c.State.Running() || c.State.Health.Status != ctypes.Unhealthy || c.State.Health.FailingStreak < 2 {
		t.Fatalf("state %+v health %+v", c.State, c.State.Health)
	}
	if l := c.State.Health.Log; len(l) == 0 || l[0].ExitCode != -1 || l[0].Output != "no exec here" {
		t.Fatalf("log %+v", l)
	}
	// A restart resets it to starting.
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
	if hs := h.snap(id).State.Health; hs.Status != ctypes.Starting || hs.FailingStreak != 0 {
		t.Fatalf("health after start %+v", hs)
	}
}

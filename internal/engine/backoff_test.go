package engine

import (
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
)

// Docker's restart backoff: 100 ms doubling to a minute, back to 100 ms
// once a run lasted 10 s; on-failure:N stops after N restarts.
func TestRestartBackoff(t *testing.T) {
	h := newHarness(t)
	c := &container.Container{ID: "c1", HostConfig: policy("always", 0)}
	c.State.StartedAt = time.Now()
	want := 100 * time.Millisecond
	for i := 0; i < 14; i++ {
		ok, d := h.shouldRestart(c, 1)
		if !ok || d != want {
			t.Fatalf("restart %d: %v %v, want %v", i, ok, d, want)
		}
		want = min(2*want, time.Minute)
	}
	c.State.StartedAt = time.Now().Add(-11 * time.Second) // a long run
	if _, d := h.shouldRestart(c, 1); d != 100*time.Millisecond {
		t.Fatalf("after a 11 s run: %v", d)
	}

	f := &container.Container{ID: "c2", HostConfig: policy("on-failure", 2)}
	f.State.StartedAt = time.Now()
	for i, want := range []bool{true, true, false} {
		if ok, _ := h.shouldRestart(f, 1); ok != want {
			t.Fatalf("on-failure:2 restart %d: %v", i, ok)
		}
	}
	z := &container.Container{ID: "c3", HostConfig: policy("on-failure", 0)}
	if ok, _ := h.shouldRestart(z, 0); ok {
		t.Fatal("on-failure restarted a clean exit")
	}
	n := &container.Container{ID: "c4", HostConfig: &ctypes.HostConfig{}}
	if ok, _ := h.shouldRestart(n, 1); ok {
		t.Fatal("no policy restarted")
	}
}

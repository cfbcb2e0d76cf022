package health

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
)

// fakeClock fires timers only when the test moves it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters map[*waiter]bool
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_800_000_000, 0), waiters: map[*waiter]bool{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waiter{c.now.Add(d), make(chan time.Time, 1)}
	c.waiters[w] = true
	return w.ch, func() { c.mu.Lock(); delete(c.waiters, w); c.mu.Unlock() }
}

// waitTimers waits until n timers are pending.
func (c *fakeClock) waitTimers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.waiters)
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d timers pending, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// move advances time by d, firing the timers due.
func (c *fakeClock) move(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			delete(c.waiters, w)
		}
	}
}

// advance waits for the monitor to wait on its one timer, then moves
// time by d.
func (c *fakeClock) advance(t *testing.T, d time.Duration) {
	t.Helper()
	c.waitTimers(t, 1)
	c.move(d)
}

// harness runs a Monitor over a fake container state.
type harness struct {
	t       *testing.T
	clock   *fakeClock
	mu      sync.Mutex
	h       ctypes.Health
	changes chan [2]ctypes.HealthStatus
	results chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func start(t *testing.T, cfg Config, probe Prober) *harness {
	hs := &harness{t: t, clock: newFakeClock(), changes: make(chan [2]ctypes.HealthStatus, 10), results: make(chan struct{}, 100), done: make(chan struct{})}
	hs.h.Status = ctypes.Starting
	startedAt := hs.clock.Now()
	m := &Monitor{
		ID: "c1", Config: cfg, StartedAt: startedAt, Probe: probe, Clock: hs.clock,
		Status: func() ctypes.HealthStatus { hs.mu.Lock(); defer hs.mu.Unlock(); return hs.h.Status },
		Result: func(r ctypes.HealthcheckResult) (ctypes.HealthStatus, ctypes.HealthStatus, error) {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			old := Record(&hs.h, cfg, startedAt, r)
			hs.results <- struct{}{}
			return old, hs.h.Status, nil
		},
		OnStatus: func(old, now ctypes.HealthStatus) { hs.changes <- [2]ctypes.HealthStatus{old, now} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs.cancel = cancel
	go func() { m.Run(ctx); close(hs.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-hs.done:
		case <-time.After(20 * time.Second):
			t.Error("monitor did not stop when its context ended")
		}
	})
	return hs
}

// tick advances one wait and waits for the probe's result.
func (hs *harness) tick(d time.Duration) {
	hs.t.Helper()
	hs.clock.advance(hs.t, d)
	select {
	case <-hs.results:
	case <-time.After(20 * time.Second):
		hs.t.Fatal("no probe result")
	}
}

func (hs *harness) health() ctypes.Health {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.h
	h.Log = append([]*ctypes.HealthcheckResult(nil), hs.h.Log...)
	return h
}

func exitWith(code int, out string) Prober {
	return func(context.Context, string, []string) (int, []byte, error) { return code, []byte(out), nil }
}

var cfg = Config{Cmd: []string{"true"}, Interval: 10 * time.Second, Timeout: 3 * time.Second, StartInterval: time.Second, Retries: 3}

func TestBecomesHealthy(t *testing.T) {
	hs := start(t, cfg, exitWith(0, "ok\n"))
	hs.tick(cfg.Interval)
	h := hs.health()
	if h.Status != ctypes.Healthy || h.FailingStreak != 0 || len(h.Log) != 1 || h.Log[0].Output != "ok\n" || h.Log[0].ExitCode != 0 {
		t.Fatalf("health = %+v log %+v", h, h.Log)
	}
	if c := <-hs.changes; c != [2]ctypes.HealthStatus{ctypes.Starting, ctypes.Healthy} {
		t.Fatalf("change = %v", c)
	}
}

func TestBecomesUnhealthyAfterRetries(t *testing.T) {
	hs := start(t, cfg, exitWith(1, "bad"))
	for i := 1; i <= 2; i++ {
		hs.tick(cfg.Interval)
		if h := hs.health(); h.Status != ctypes.Starting || h.FailingStreak != i {
			t.Fatalf("after %d failures: %s streak %d", i, h.Status, h.FailingStreak)
		}
	}
	hs.tick(cfg.Interval)
	if h := hs.health(); h.Status != ctypes.Unhealthy || h.FailingStreak != 3 {
		t.Fatalf("after 3 failures: %s streak %d", h.Status, h.FailingStreak)
	}
	if c := <-hs.changes; c != [2]ctypes.HealthStatus{ctypes.Starting, ctypes.Unhealthy} {
		t.Fatalf("change = %v", c)
	}
	// Only one change event, and the log keeps the last five.
	for i := 0; i < 4; i++ {
		hs.tick(cfg.Interval)
	}
	if h := hs.health(); len(h.Log) != MaxLogEntries || h.FailingStreak != 7 {
		t.Fatalf("log %d streak %d", len(h.Log), h.FailingStreak)
	}
	select {
	case c := <-hs.changes:
		t.Fatalf("extra change %v", c)
	default:
	}
}

func TestStartPeriodUsesStartIntervalAndForgivesFailures(t *testing.T) {
	c := cfg
	c.StartPeriod = 5 * time.Second
	var mu sync.Mutex
	code := 1
	probe := func(context.Context, string, []string) (int, []byte, error) {
		mu.Lock()
		defer mu.Unlock()
		return code, nil, nil
	}
	hs := start(t, c, probe)
	// Probes every start interval (1s); failures inside the start period
	// do not count.
	for i := 0; i < 4; i++ {
		hs.tick(c.StartInterval)
		if h := hs.health(); h.FailingStreak != 0 || h.Status != ctypes.Starting {
			t.Fatalf("in start period: %+v", h)
		}
	}
	mu.Lock()
	code = 0
	mu.Unlock()
	hs.tick(c.StartInterval)
	if h := hs.health(); h.Status != ctypes.Healthy {
		t.Fatalf("status %s", h.Status)
	}
	// Healthy now: the regular interval applies, and failures count even
	// inside what is left of the start period.
	mu.Lock()
	code = 1
	mu.Unlock()
	hs.clock.advance(t, c.StartInterval) // not due yet
	select {
	case <-hs.results:
		t.Fatal("probed at the start interval while healthy")
	case <-time.After(50 * time.Millisecond):
	}
	hs.clock.move(c.Interval - c.StartInterval)
	<-hs.results
	if h := hs.health(); h.FailingStreak != 1 {
		t.Fatalf("streak %d", h.FailingStreak)
	}
}

func TestTimeoutKillsProbe(t *testing.T) {
	killed := make(chan struct{})
	probe := func(ctx context.Context, _ string, _ []string) (int, []byte, error) {
		<-ctx.Done()
		close(killed)
		return 0, nil, ctx.Err()
	}
	hs := start(t, cfg, probe)
	hs.clock.advance(t, cfg.Interval) // probe starts
	hs.clock.advance(t, cfg.Timeout)  // and times out (its timer is the one pending)
	select {
	case <-hs.results:
	case <-time.After(20 * time.Second):
		t.Fatal("no result after the timeout")
	}
	<-killed
	h := hs.health()
	if r := h.Log[0]; r.ExitCode != -1 || r.Output != "Health check exceeded timeout (3s)" || r.End.Sub(r.Start) != cfg.Timeout {
		t.Fatalf("result %+v", r)
	}
	if h.FailingStreak != 1 {
		t.Fatalf("streak %d", h.FailingStreak)
	}
}

func TestRecordCutsOutput(t *testing.T) {
	var h ctypes.Health
	Record(&h, cfg, time.Time{}, ctypes.HealthcheckResult{ExitCode: 0, Output: strings.Repeat("x", 5000)})
	if len(h.Log[0].Output) != MaxOutputLen {
		t.Fatalf("output %d bytes", len(h.Log[0].Output))
	}
}

func TestResolve(t *testing.T) {
	if _, ok := Resolve(&ctypes.HealthConfig{Test: []string{"NONE"}}, nil); ok {
		t.Fatal("NONE resolved")
	}
	if _, ok := Resolve(nil, nil); ok {
		t.Fatal("nil resolved")
	}
	c, ok := Resolve(&ctypes.HealthConfig{Test: []string{"CMD-SHELL", "test -f /tmp/ok"}}, nil)
	if !ok || strings.Join(c.Cmd, "|") != "/bin/sh|-c|test -f /tmp/ok" || c.Interval != DefaultInterval || c.Timeout != DefaultTimeout || c.Retries != DefaultRetries || c.StartInterval != DefaultStartInterval {
		t.Fatalf("%+v", c)
	}
	c, _ = Resolve(&ctypes.HealthConfig{Test: []string{"CMD", "cat", "/x"}, Interval: time.Second, Retries: 1}, nil)
	if strings.Join(c.Cmd, "|") != "cat|/x" || c.Interval != time.Second || c.Retries != 1 {
		t.Fatalf("%+v", c)
	}
	for _, s := range []string{"", "none", "kill", "stop", "restart"} {
		if _, err := ParseOnFailure(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ParseOnFailure("reboot"); err == nil {
		t.Fatal("reboot accepted")
	}
}

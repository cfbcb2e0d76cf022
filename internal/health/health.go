package health

import (
	"context"
	"fmt"
	"strings"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/errdefs"
)

// dockerd's defaults and bounds.
const (
	DefaultInterval      = 30 * time.Second
	DefaultTimeout       = 30 * time.Second
	DefaultStartInterval = 5 * time.Second
	DefaultRetries       = 3
	MaxLogEntries        = 5
	MaxOutputLen         = 4096
)

// OnFailureLabel names the action taken when a container becomes
// unhealthy (see OnFailure).
const OnFailureLabel = "berth.health-on-failure"

// OnFailure is what happens when a container becomes unhealthy.
type OnFailure string

// The on-failure actions, as podman names them.
const (
	OnFailureNone    OnFailure = "none"
	OnFailureKill    OnFailure = "kill"
	OnFailureStop    OnFailure = "stop"
	OnFailureRestart OnFailure = "restart"
)

// ParseOnFailure checks the label's value ("" is none).
func ParseOnFailure(s string) (OnFailure, error) {
	switch OnFailure(s) {
	case "", OnFailureNone:
		return OnFailureNone, nil
	case OnFailureKill, OnFailureStop, OnFailureRestart:
		return OnFailure(s), nil
	}
	return "", errdefs.InvalidArgumentf("invalid %s %q: want none, kill, stop or restart", OnFailureLabel, s)
}

// Config is a healthcheck with dockerd's defaults applied.
type Config struct {
	Cmd           []string // what the probe runs
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Resolve turns the container's HealthConfig into a Config; ok is false
// when there is no check (none configured, empty, or NONE). shell runs
// CMD-SHELL tests (the image's SHELL; nil is /bin/sh -c).
func Resolve(h *ctypes.HealthConfig, shell []string) (cfg Config, ok bool) {
	if h == nil || len(h.Test) == 0 {
		return cfg, false
	}
	switch h.Test[0] {
	case "NONE":
		return cfg, false
	case "CMD":
		cfg.Cmd = h.Test[1:]
	case "CMD-SHELL":
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		cfg.Cmd = append(append([]string(nil), shell...), strings.Join(h.Test[1:], " "))
	default:
		return cfg, false // dockerd ignores an unknown test kind too
	}
	if len(cfg.Cmd) == 0 {
		return cfg, false
	}
	cfg.Interval = orDefault(h.Interval, DefaultInterval)
	cfg.Timeout = orDefault(h.Timeout, DefaultTimeout)
	cfg.StartPeriod = h.StartPeriod
	cfg.StartInterval = orDefault(h.StartInterval, DefaultStartInterval)
	cfg.Retries = h.Retries
	if cfg.Retries <= 0 {
		cfg.Retries = DefaultRetries
	}
	return cfg, true
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Prober runs cmd inside container id and returns its exit code and
// combined output. When ctx ends first it kills the process and returns
// ctx's error. An error means the probe could not run.
type Prober func(ctx context.Context, id string, cmd []string) (exitCode int, output []byte, err error)

// Clock is the time source (a fake in tests). Timer returns a channel
// that fires once after d and a func that stops it.
type Clock interface {
	Now() time.Time
	Timer(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Record applies one probe result to h (Status, FailingStreak, Log) and
// returns the status before it. startedAt is when the container started.
func Record(h *ctypes.Health, cfg Config, startedAt time.Time, r ctypes.HealthcheckResult) (old ctypes.HealthStatus) {
	old = h.Status
	if len(r.Output) > MaxOutputLen {
		r.Output = r.Output[:MaxOutputLen]
	}
	if r.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = ctypes.Healthy
	} else if !(h.Status == ctypes.Starting && r.Start.Sub(startedAt) < cfg.StartPeriod) {
		h.FailingStreak++
		if h.FailingStreak >= cfg.Retries {
			h.Status = ctypes.Unhealthy
		}
	}
	h.Log = append(h.Log, &r)
	if n := len(h.Log); n > MaxLogEntries {
		h.Log = append([]*ctypes.HealthcheckResult(nil), h.Log[n-MaxLogEntries:]...)
	}
	return old
}

// Monitor checks one running container.
type Monitor struct {
	ID        string
	Config    Config
	StartedAt time.Time
	Probe     Prober
	// Status returns the current health status (to pick the interval).
	Status func() ctypes.HealthStatus
	// Result records a result (under the container's lock, with Record)
	// and persists it; it returns the status before and after.
	Result func(r ctypes.HealthcheckResult) (old, now ctypes.HealthStatus, err error)
	// OnStatus is called, outside any lock, when the status changed.
	OnStatus func(old, now ctypes.HealthStatus)
	Clock    Clock
}

// Run probes until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	clock := m.Clock
	if clock == nil {
		clock = realClock{}
	}
	for {
		wait := m.Config.Interval
		if m.Status() == ctypes.Starting && clock.Now().Sub(m.StartedAt) < m.Config.StartPeriod {
			wait = m.Config.StartInterval
		}
		tc, stop := clock.Timer(wait)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-tc:
		}
		r, ok := m.probe(ctx, clock)
		if !ok {
			return
		}
		old, now, err := m.Result(r)
		if err != nil {
			return // the container stopped or went away
		}
		if old != now && m.OnStatus != nil {
			m.OnStatus(old, now)
		}
	}
}

// probe runs one check, bounded by the timeout; ok is false when ctx ended
// (the container stopped), so no result is recorded.
func (m *Monitor) probe(ctx context.Context, clock Clock) (ctypes.HealthcheckResult, bool) {
	start := clock.Now()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		code int
		out  []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, out, err := m.Probe(pctx, m.ID, m.Config.Cmd)
		done <- result{code, out, err}
	}()
	r := ctypes.HealthcheckResult{Start: start}
	timeout, stop := clock.Timer(m.Config.Timeout)
	defer stop()
	select {
	case res := <-done:
		r.End = clock.Now()
		if ctx.Err() != nil {
			return r, false
		}
		r.ExitCode, r.Output = res.code, string(res.out)
		if res.err != nil {
			r.ExitCode, r.Output = -1, res.err.Error()
		}
	case <-timeout:
		cancel()
		<-done // the Prober has killed it
		r.End = clock.Now()
		if ctx.Err() != nil {
			return r, false
		}
		r.ExitCode, r.Output = -1, fmt.Sprintf("Health check exceeded timeout (%v)", m.Config.Timeout)
	case <-ctx.Done():
		<-done
		return r, false
	}
	return r, true
}

package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/health"
	"github.com/berth-dev/berth/internal/monitor"
)

// healthRunners are the running healthcheck monitors by container id.
// The zero value is ready to use.
type healthRunners struct {
	mu     sync.Mutex
	cancel map[string]context.CancelFunc
}

// initialHealth is a starting container's health: starting, with the
// previous results kept, as dockerd; nil without a healthcheck.
func initialHealth(c *container.Container) *ctypes.Health {
	if _, ok := health.Resolve(c.Config.Healthcheck, c.Config.Shell); !ok {
		return nil
	}
	h := container.CloneHealth(c.State.Health)
	if h == nil {
		h = &ctypes.Health{}
	}
	h.Status, h.FailingStreak = ctypes.Starting, 0
	return h
}

// startHealth starts the healthcheck monitor of a running container
// (after start, and at Restore for containers still running).
func (e *Engine) startHealth(ent *container.Entry) {
	c := ent.Snapshot()
	cfg, ok := health.Resolve(c.Config.Healthcheck, c.Config.Shell)
	if !ok {
		return
	}
	if c.State.Health == nil { // adopted from a berthd that kept none
		ent.Update(func(c *container.Container) error { c.State.Health = initialHealth(c); return nil })
	}
	onFailure, _ := health.ParseOnFailure(c.Config.Labels[health.OnFailureLabel])
	e.wgMu.Lock()
	defer e.wgMu.Unlock()
	if e.closed {
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	e.health.mu.Lock()
	if e.health.cancel == nil {
		e.health.cancel = map[string]context.CancelFunc{}
	}
	if old := e.health.cancel[c.ID]; old != nil {
		old()
	}
	e.health.cancel[c.ID] = cancel
	e.health.mu.Unlock()
	startedAt := c.State.StartedAt
	m := &health.Monitor{
		ID: c.ID, Config: cfg, StartedAt: startedAt, Probe: e.healthProbe,
		Status: func() ctypes.HealthStatus {
			if h := ent.Snapshot().State.Health; h != nil {
				return h.Status
			}
			return ""
		},
		Result: func(r ctypes.HealthcheckResult) (old, now ctypes.HealthStatus, err error) {
			_, err = ent.Update(func(c *container.Container) error {
				if !c.State.Running() || !c.State.StartedAt.Equal(startedAt) {
					return errdefs.Conflictf("container %s is not running", c.ID)
				}
				h := container.CloneHealth(c.State.Health)
				if c.State.Status == ctypes.StatePaused { // a probe of a paused container says nothing
					old, now = h.Status, h.Status
					return nil
				}
				if h == nil {
					h = &ctypes.Health{Status: ctypes.Starting}
				}
				old = health.Record(h, cfg, startedAt, r)
				now = h.Status
				c.State.Health = h
				return nil
			})
			return old, now, err
		},
		OnStatus: func(old, now ctypes.HealthStatus) {
			e.logEvent(ent.Snapshot(), eventtypes.Action(string(eventtypes.ActionHealthStatus)+": "+string(now)), nil)
			if now == ctypes.Unhealthy {
				go e.healthFailed(ctx, ent, onFailure)
			}
		},
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		m.Run(ctx)
	}()
}

// stopHealth stops id's healthcheck monitor, if any.
func (e *Engine) stopHealth(id string) {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	if cancel := e.health.cancel[id]; cancel != nil {
		cancel()
		delete(e.health.cancel, id)
	}
}

// healthFailed applies berth.health-on-failure to a container that became
// unhealthy.
func (e *Engine) healthFailed(ctx context.Context, ent *container.Entry, action health.OnFailure) {
	if ctx.Err() != nil {
		return
	}
	id := ent.ID()
	log := e.log.WithField("container", id).WithField("action", string(action))
	var err error
	switch action {
	case health.OnFailureKill:
		log.Info("container unhealthy: killing it")
		err = e.Kill(e.ctx, id, "SIGKILL")
	case health.OnFailureStop:
		log.Info("container unhealthy: stopping it")
		err = e.Stop(e.ctx, id, containers.StopOptions{})
	case health.OnFailureRestart:
		log.Info("container unhealthy: restarting it")
		err = e.Restart(e.ctx, id, containers.StopOptions{})
	default:
		return
	}
	if err != nil && !errdefs.Is(err, errdefs.NotModified) {
		log.WithError(err).Warn("health on-failure action")
	}
}

// maxProbeOutput bounds what a probe's output may buffer (Record keeps
// health.MaxOutputLen of it).
const maxProbeOutput = 64 << 10

// healthProbe runs a healthcheck command in the container through the
// monitor's exec, as the container's user, and returns its exit code and
// combined output. When ctx ends first, the process is killed.
func (e *Engine) healthProbe(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	ent, err := e.store.Get(id)
	if err != nil {
		return 0, nil, err
	}
	c := ent.Snapshot()
	if err := execReady(c); err != nil {
		return 0, nil, err
	}
	mon, ok := e.cfg.Monitor.(monitor.ExecClient)
	if !ok {
		return 0, nil, errdefs.NotImplementedf("exec is not supported by this monitor")
	}
	b := make([]byte, 16)
	rand.Read(b)
	x := &execRecord{id: "health-" + hex.EncodeToString(b), containerID: id, cfg: ctypes.ExecCreateRequest{Cmd: cmd}}
	proc, err := e.execProcess(c, x, nil)
	if err != nil {
		return 0, nil, err
	}
	pid, conn, err := mon.Exec(ctx, id, monitor.ExecRequest{
		ID: x.id, Process: proc,
		Attach: &monitor.AttachOptions{Stdout: true, Stderr: true},
	})
	if err != nil {
		return 0, nil, err
	}
	// dockerd publishes a check's exec like any other.
	execAttrs := map[string]string{"execID": x.id}
	e.logEvent(c, eventtypes.Action(string(eventtypes.ActionExecCreate)+": "+strings.Join(cmd, " ")), execAttrs)
	e.logEvent(c, eventtypes.Action(string(eventtypes.ActionExecStart)+": "+strings.Join(cmd, " ")), execAttrs)
	var out limitedBuffer
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		stdcopy.StdCopy(&out, &out, conn)
	}()
	// The timeout kills the check. Through a pidfd taken now, and only if
	// the pid is in the container's cgroup, so that no other process that
	// reuses the pid can be hit.
	kill := checkKiller(pid, id)
	defer kill(false)
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	stop := context.AfterFunc(ctx, func() {
		kill(true)
		conn.Close()
		// The monitor reports the killed exec at once; a wait that hangs
		// anyway must not hold the probe loop.
		time.AfterFunc(5*time.Second, cancelWait)
	})
	defer stop()
	ex, err := mon.ExecWait(waitCtx, id, x.id)
	select {
	case <-outDone:
	case <-time.After(time.Second): // a child of the check holds its output open
	}
	conn.Close()
	<-outDone
	if err != nil {
		return 0, nil, err
	}
	e.logEvent(c, eventtypes.ActionExecDie, map[string]string{"execID": x.id, "exitCode": strconv.Itoa(ex.Code)})
	if ctx.Err() != nil {
		return 0, nil, ctx.Err()
	}
	return ex.Code, out.Bytes(), nil
}

// checkKiller returns kill(now): with now, SIGKILL the check process pid
// of container id; without, release what it holds. The pidfd, taken at
// once, pins the process (a reused pid is never hit); the signal goes only
// if the process is in the container's cgroup when it is sent.
func checkKiller(pid int, id string) func(now bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return func(bool) {}
	}
	var once sync.Once
	return func(now bool) {
		once.Do(func() {
			defer unix.Close(fd)
			if !now {
				return
			}
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
			if err == nil && strings.Contains(string(b), id) {
				unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			}
		})
	}
}

// limitedBuffer keeps the first maxProbeOutput bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxProbeOutput - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}

var _ io.Writer = (*limitedBuffer)(nil)

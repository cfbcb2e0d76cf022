// Package reaper collects the exit statuses of a subreaper's children.
//
// The monitor is a child subreaper (PR_SET_CHILD_SUBREAPER): container
// processes, including those whose runtime (runc, crun) exited after creating
// them, end up as its children, and it reaps them all with wait4(-1). A
// process started with exec.Cmd must then never be waited for with
// cmd.Wait (the reaper would steal its status, or it the reaper's): start it
// with Reaper.Start and wait for it with Reaper.Wait instead. Output helpers
// of os/exec that wait internally (Output, CombinedOutput, Run) are off
// limits for the same reason.
//
//	SIGCHLD --> Reap(): wait4(-1, WNOHANG) until none left
//	              |
//	              +--> every subscriber channel gets Exit{Pid, Status}
package reaper

import (
	"fmt"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Exit is one reaped child.
type Exit struct {
	Pid int
	// Status is the exit code, or 128+signal for a killed process (the
	// shell's and Docker's convention).
	Status   int
	Signaled bool
	At       time.Time
}

// Reaper fans reaped exits out to subscribers.
type Reaper struct {
	mu   sync.Mutex
	subs map[chan Exit]struct{}
}

// Default is the process-wide reaper.
var Default = New()

// New returns a Reaper with no subscribers.
func New() *Reaper { return &Reaper{subs: map[chan Exit]struct{}{}} }

// Subscribe returns a channel that receives every exit reaped from now on.
// The subscriber must drain it promptly; Reap blocks on a full channel.
func (r *Reaper) Subscribe() chan Exit {
	ch := make(chan Exit, 128)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch
}

// Unsubscribe stops delivery to ch.
func (r *Reaper) Unsubscribe(ch chan Exit) {
	r.mu.Lock()
	delete(r.subs, ch)
	r.mu.Unlock()
}

// Reap collects every child that has exited and publishes each exit. Call it
// on SIGCHLD (signal.Notify) and once at start.
func (r *Reaper) Reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		e := Exit{Pid: pid, At: time.Now()}
		switch {
		case ws.Exited():
			e.Status = ws.ExitStatus()
		case ws.Signaled():
			e.Status = 128 + int(ws.Signal())
			e.Signaled = true
		default:
			continue // stopped/continued: not an exit
		}
		r.publish(e)
	}
}

func (r *Reaper) publish(e Exit) {
	r.mu.Lock()
	subs := make([]chan Exit, 0, len(r.subs))
	for ch := range r.subs {
		subs = append(subs, ch)
	}
	r.mu.Unlock()
	for _, ch := range subs {
		ch <- e
	}
}

// Start starts cmd and returns the channel on which Wait will find its exit.
// The subscription is taken before the process exists, so a fast exit is
// never missed.
func (r *Reaper) Start(cmd *exec.Cmd) (chan Exit, error) {
	ch := r.Subscribe()
	if err := cmd.Start(); err != nil {
		r.Unsubscribe(ch)
		return nil, err
	}
	return ch, nil
}

// Wait waits for the exit of cmd, started with Start, and returns its status.
// It also releases cmd's resources (its stdio copying goroutines are not
// used: give cmd *os.File stdio or none).
func (r *Reaper) Wait(cmd *exec.Cmd, ch chan Exit) (int, error) {
	defer r.Unsubscribe(ch)
	pid := cmd.Process.Pid
	for e := range ch {
		if e.Pid == pid {
			cmd.Process.Release()
			return e.Status, nil
		}
	}
	return -1, fmt.Errorf("wait for pid %d: reaper closed", pid)
}

package monitor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/containerlog"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/reaper"
)

// UnknownExitCode is the exit code recorded for a container whose exit
// status could not be collected (its monitor died before it exited), as
// Docker records for a container whose shim is gone.
const UnknownExitCode = 255

const stateFile = "state.json"

// builtinRuntime is CreateRequest.Runtime's name of berth's own runtime,
// which "" means too.
const builtinRuntime = "berth"

// stateRecord is <exec-root>/containers/<id>/state.json, written when the
// task is created and again when it starts, so that a restarted monitor
// still knows the containers of the one before.
type stateRecord struct {
	ID      string `json:"id"`
	Pid     int    `json:"pid"`
	PidTime uint64 `json:"pidStartTime"` // /proc/<pid>/stat starttime: tells a reused pid
	Bundle  string `json:"bundle"`
	Started bool   `json:"started"`
	// Runtime and RuntimeArgs are the CreateRequest's, so that a later
	// monitor can rebuild the task (runtime.Adopter). A record without
	// Runtime (written before they were kept) is adopted without a task.
	Runtime     string   `json:"runtime,omitempty"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
	// The stdio and log of the CreateRequest, with which a later monitor
	// resumes an adopted container's output (see reopenStdio).
	Terminal  bool       `json:"terminal,omitempty"`
	OpenStdin bool       `json:"openStdin,omitempty"`
	StdinOnce bool       `json:"stdinOnce,omitempty"`
	Log       *LogConfig `json:"log,omitempty"`
}

func (c *container) writeState() error {
	c.mu.Lock()
	rec := stateRecord{ID: c.id, Pid: c.pid, PidTime: c.pidTime, Bundle: c.req.Bundle, Started: c.started,
		Runtime: cmp.Or(c.req.Runtime, builtinRuntime), RuntimeArgs: c.req.RuntimeArgs,
		Terminal: c.req.Terminal, OpenStdin: c.req.OpenStdin, StdinOnce: c.req.StdinOnce}
	if c.req.Log.Path != "" {
		rec.Log = &c.req.Log
	}
	c.mu.Unlock()
	return writeJSONFile(filepath.Join(c.s.containerDir(c.id), stateFile), rec)
}

// pidStartTime reads the start time of pid (clock ticks since boot).
func pidStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// After "(comm)": state is field 3, starttime field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// recover restores what an earlier monitor left in <exec-root>: recorded
// exits as exited containers, and containers it was supervising when it
// died as orphans (still running: adopted with a rebuilt task where the
// runtime can, their output resumed, their exit watched through a pidfd
// and taskstats; gone: exited with UnknownExitCode).
func (s *server) recover() {
	dir := filepath.Join(s.cfg.ExecRoot, "containers")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, ent := range ents {
		id := ent.Name()
		if !validID(id) {
			continue
		}
		c := newContainer(s, id)
		if rec, err := readExitFile(filepath.Join(dir, id, exitFile)); err == nil {
			c.pid = rec.Pid
			c.markExited(rec.Exit())
			close(c.released) // the earlier monitor ran Task.Delete
			s.containers[id] = c
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("ignoring exit record", "id", id, "err", err)
		}
		var st stateRecord
		if err := readJSONFile(filepath.Join(dir, id, stateFile), &st); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("ignoring state record", "id", id, "err", err)
			}
			continue
		}
		c.pid, c.pidTime, c.started, c.orphan = st.Pid, st.PidTime, st.Started, true
		c.req = CreateRequest{ID: id, Bundle: st.Bundle, Runtime: st.Runtime, RuntimeArgs: st.RuntimeArgs,
			Terminal: st.Terminal, OpenStdin: st.OpenStdin, StdinOnce: st.StdinOnce}
		if st.Log != nil {
			c.req.Log = *st.Log
		}
		s.containers[id] = c
		// Watched before the pid is checked: an exit after the check
		// is then recorded.
		s.watchExit(c.pid)
		if pidfd, err := openVerified(st.Pid, st.PidTime); err == nil {
			c.pidfd = pidfd
			s.byPid[c.pid] = c // if we are its reaper after all, the real status wins
			c.adopt(st)
			resumed := c.reopenStdio()
			if resumed {
				c.startPumps()
			} else {
				c.noStdio()
			}
			s.log.Info("adopted orphan", "id", id, "pid", c.pid, "task", c.task != nil, "output", resumed)
			go c.watchOrphan()
		} else {
			c.noStdio()
			s.unwatchExit(c.pid)
			s.log.Info("orphan is gone", "id", id, "pid", c.pid)
			go c.exited(reaper.Exit{Pid: c.pid, Status: UnknownExitCode, At: time.Now()})
		}
	}
}

// noStdio marks an adopted container's output as ended: its stdio died
// with the earlier monitor.
func (c *container) noStdio() {
	c.ready, c.outputEnded, c.pumping = true, true, 0
	close(c.outDone)
}

// reopenStdio resumes an adopted container's output: the pipes that were
// the init's stdout and stderr (and stdin, with OpenStdin) are opened
// again through /proc/<pid>/fd, as a FIFO is, and the log is reopened for
// appending. Output written while no monitor held the pipes' read ends
// was refused (EPIPE, or the writer died of SIGPIPE). A terminal's master
// cannot be reopened: false then, as when the init's fds are no pipes
// any more.
func (c *container) reopenStdio() bool {
	if c.req.Terminal {
		return false
	}
	var outs []*os.File
	var inos []uint64
	fail := func(err error) bool {
		for _, f := range outs {
			f.Close()
		}
		c.s.log.Warn("adopt: output not resumed", "id", c.id, "err", err)
		return false
	}
	for _, fd := range []int{1, 2} {
		f, ino, err := openPipeOf(c.pid, fd, unix.O_RDONLY)
		if err != nil {
			return fail(err)
		}
		if slices.Contains(inos, ino) {
			f.Close() // one pipe for both: pumped once
			continue
		}
		outs, inos = append(outs, f), append(inos, ino)
	}
	if c.req.Log.Path != "" {
		lw, err := containerlog.NewWriter(containerlog.Config{Path: c.req.Log.Path, MaxSize: c.req.Log.MaxSize, MaxFiles: c.req.Log.MaxFiles})
		if err != nil {
			return fail(err)
		}
		c.logw = lw
	}
	if c.req.OpenStdin {
		if f, _, err := openPipeOf(c.pid, 0, unix.O_WRONLY); err == nil {
			c.stdin = f
		}
	}
	c.outputs = outs
	return true
}

// openPipeOf opens the pipe that is fd of process pid (nonblocking) and
// returns its inode.
func openPipeOf(pid, fd, mode int) (*os.File, uint64, error) {
	p := "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd)
	n, err := unix.Open(p, mode|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(n, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		unix.Close(n)
		return nil, 0, fmt.Errorf("%s is not a pipe", p)
	}
	return os.NewFile(uintptr(n), p), st.Ino, nil
}

// openVerified returns a pidfd of pid if it still is the process that
// started at startTime.
func openVerified(pid int, startTime uint64) (*os.File, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	// Checked after opening: the pidfd pins the process we verified.
	if st, err := pidStartTime(pid); err != nil || st != startTime {
		unix.Close(fd)
		return nil, fmt.Errorf("pid %d was reused", pid)
	}
	return os.NewFile(uintptr(fd), "pidfd"), nil
}

// watchOrphan waits for an adopted container's exit. A pidfd turns
// readable when its process exits; not being its parent, the monitor
// cannot learn the status unless it is its reaper.
func (c *container) watchOrphan() {
	rc, err := c.pidfd.SyscallConn()
	if err == nil {
		err = rc.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, _ := unix.Poll(fds, 0)
			return n > 0
		})
	}
	if err != nil {
		return // pidfd closed: the reaper handled the exit
	}
	var info unix.Siginfo
	rc.Control(func(fd uintptr) {
		err = unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	})
	if err == nil {
		c.s.unwatchExit(c.pid)
		return // our child: the reaper collects the real status
	}
	at := time.Now()
	code := c.s.adoptedExitCode(c)
	c.s.mu.Lock()
	mine := c.s.byPid[c.pid] == c
	if mine {
		delete(c.s.byPid, c.pid)
	}
	c.s.mu.Unlock()
	if mine {
		c.exited(reaper.Exit{Pid: c.pid, Status: code, At: at})
	}
}

// adopt rebuilds an orphan's task through its runtime (runtime.Adopter),
// so that exec, kill --all and delete work as for a container this
// monitor created. Without one it stays signalled through its pidfd.
func (c *container) adopt(st stateRecord) {
	if st.Runtime == "" || c.s.cfg.Runtimes == nil {
		return
	}
	rt, err := c.s.cfg.Runtimes(st.Runtime, st.RuntimeArgs)
	if err != nil {
		c.s.log.Warn("adopt: runtime", "id", c.id, "runtime", st.Runtime, "err", err)
		return
	}
	a, ok := rt.(runtime.Adopter)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, 30*time.Second)
	defer cancel()
	task, err := a.Adopt(ctx, c.id, runtime.AdoptOpts{
		Bundle: st.Bundle, StateDir: filepath.Join(c.s.containerDir(c.id), "task"), Pid: c.pid, Pidfd: c.pidfd,
	})
	if err != nil {
		c.s.log.Warn("adopt: rebuild task", "id", c.id, "err", err)
		return
	}
	c.task = task
}

// adoptedExitCode is the exit status of an adopted init that has exited
// (its pidfd is readable): from its taskstats record (see exitWatch), else,
// if this monitor sent it SIGKILL, 128+SIGKILL (a process cannot survive
// it, so it died of it unless it was exiting already), else unknown.
func (s *server) adoptedExitCode(c *container) int {
	s.mu.Lock()
	w := s.exitWatch
	s.mu.Unlock()
	if w != nil {
		code, ok, lost := w.code(c.pid, time.Second)
		s.unwatchExit(c.pid)
		if ok {
			return code
		}
		s.log.Warn("no exit record of adopted init", "id", c.id, "pid", c.pid, "recordsLost", lost)
	}
	c.mu.Lock()
	killed := c.sentKill
	c.mu.Unlock()
	if killed {
		return 128 + int(unix.SIGKILL)
	}
	return UnknownExitCode
}

// watchExit starts collecting pid's exit status through taskstats,
// opening the socket for the first adopted init.
func (s *server) watchExit(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exitWatch == nil && !s.exitWatchFailed {
		w, err := newExitWatch()
		if err != nil {
			s.exitWatchFailed = true // once per monitor: the namespaces do not change
			s.log.Warn("exit statuses of adopted containers will be unknown", "err", err)
			return
		}
		s.exitWatch = w
	}
	if s.exitWatch != nil {
		s.exitWatch.watch(pid)
		s.watched[pid] = true
	}
}

// unwatchExit stops collecting pid's exit, closing the socket after the
// last one.
func (s *server) unwatchExit(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.watched[pid] {
		return
	}
	delete(s.watched, pid)
	if len(s.watched) == 0 && s.exitWatch != nil {
		s.exitWatch.stop()
		s.exitWatch = nil
	}
}

// releaseOrphan closes an orphan's pidfd and, when it has no task (whose
// Delete does it), removes its cgroup.
func (c *container) releaseOrphan() {
	c.s.unwatchExit(c.pid)
	if c.pidfd != nil {
		c.pidfd.Close()
	}
	if c.task != nil {
		return
	}
	var spec specs.Spec
	if err := readJSONFile(filepath.Join(c.req.Bundle, "config.json"), &spec); err != nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return
	}
	if m, err := cgroups.New(spec.Linux.CgroupsPath); err == nil {
		if err := m.Destroy(); err != nil {
			c.s.log.Warn("remove orphan's cgroup", "id", c.id, "err", err)
		}
	}
}

func readJSONFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// manager is the cgroupfs Manager for every mode: a v1 directory per
// mounted v1 hierarchy and/or one directory in the unified hierarchy. Its
// methods may be called from several goroutines.
type manager struct {
	l       *layout
	v1      []v1dir // in layout order
	unified string  // the unified directory, or ""

	mu      sync.Mutex
	created bool // create ran (reset by Destroy)
}

type v1dir struct {
	h   *hierarchy
	dir string
}

// New returns the Manager of the cgroup at cgroupsPath (see Manager for the
// path semantics). It only computes paths; Apply or Set create the cgroup.
func New(cgroupsPath string) (Manager, error) {
	l, err := host()
	if err != nil {
		return nil, err
	}
	return newManager(l, cgroupsPath)
}

func newManager(l *layout, cgroupsPath string) (*manager, error) {
	if err := checkPath(cgroupsPath); err != nil {
		return nil, err
	}
	m := &manager{l: l}
	for _, h := range l.V1 {
		m.v1 = append(m.v1, v1dir{h: h, dir: dirIn(h, cgroupsPath)})
	}
	if l.Unified != nil {
		m.unified = dirIn(l.Unified, cgroupsPath)
	}
	return m, nil
}

// Path returns the directory of the hierarchy holding controller, the
// unified directory for "" or for a controller living there, or "" when
// no hierarchy has the controller.
func (m *manager) Path(controller string) string {
	if controller == "" {
		return m.unified
	}
	for _, d := range m.v1 {
		if slices.Contains(d.h.Controllers, controller) {
			return d.dir
		}
	}
	if m.l.Mode == ModeV2 || m.l.onUnified(controller) {
		return m.unified
	}
	return ""
}

func (m *manager) where(controller string) place {
	if m.l.v1For(controller) != nil {
		return onV1
	}
	if m.l.onUnified(controller) {
		return onV2
	}
	return absent
}

// create makes the cgroup's directories once. On v1, cpuset directories get
// their parent's cpus and mems (a new cpuset is empty and refuses tasks);
// on v2, every controller the hierarchy offers is enabled down to the
// parent, as runc does, so limits and stats files exist.
func (m *manager) create() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.created {
		return nil
	}
	for _, d := range m.v1 {
		if slices.Contains(d.h.Controllers, "cpuset") {
			if err := mkdirCpuset(d.h.Mountpoint, d.dir); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(d.dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	if m.unified != "" {
		if err := os.MkdirAll(m.unified, 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
		if m.l.Mode == ModeV2 {
			if err := m.enable(m.l.UnifiedControllers); err != nil {
				return err
			}
		}
	}
	m.created = true
	return nil
}

// mkdirCpuset creates dir below the cpuset mount root, filling every empty
// cpuset.cpus and cpuset.mems on the way from its parent.
func mkdirCpuset(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("create cgroup %s: not below %s", dir, root)
	}
	cur := root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		parent := cur
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup: %w", err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := readFile(filepath.Join(cur, f))
			if err != nil {
				return err
			}
			if v != "" {
				continue
			}
			pv, err := readFile(filepath.Join(parent, f))
			if err != nil {
				return err
			}
			if err := writeFile(cur, f, pv); err != nil {
				return err
			}
		}
	}
	return nil
}

// Apply creates the cgroup in every hierarchy and moves pid into it. A pid
// of 0 or less only creates the cgroup. On error the caller runs Destroy.
func (m *manager) Apply(pid int) error {
	if err := m.create(); err != nil {
		return err
	}
	if pid <= 0 {
		return nil
	}
	p := strconv.Itoa(pid)
	for _, d := range m.v1 {
		if err := writeFile(d.dir, "cgroup.procs", p); err != nil {
			return err
		}
	}
	if m.unified != "" {
		if err := writeFile(m.unified, "cgroup.procs", p); err != nil {
			return err
		}
	}
	return nil
}

// Set writes the limits in r: plan decides, this executes.
func (m *manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := m.create(); err != nil {
		return err
	}
	e := env{where: m.where, has: func(v2 bool, controller, file string) bool {
		dir := m.unified
		if !v2 {
			dir = m.Path(controller)
		}
		if dir == "" {
			return false
		}
		if v2 && m.l.Mode != ModeV2 && controller != "cgroup" {
			if m.enable([]string{controller}) != nil {
				return false
			}
		}
		_, err := os.Stat(filepath.Join(dir, file))
		return err == nil
	}}
	ws, err := plan(r, e)
	if err != nil {
		return err
	}
	if err := m.execute(ws); err != nil {
		return err
	}
	// Without a v1 devices controller, device rules are an eBPF filter on
	// the unified cgroup. Each Set attaches a new one (the old ones stay
	// and must agree too), so an update can only narrow access.
	if len(r.Devices) > 0 && m.where("devices") != onV1 && m.unified != "" {
		return attachDeviceFilter(m.unified, r.Devices)
	}
	return nil
}

func (m *manager) execute(ws []write) error {
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		err := m.do(w)
		if err != nil && w.RetryAfterNext && i+1 < len(ws) {
			if err2 := m.do(ws[i+1]); err2 == nil {
				err = m.do(w)
				i++
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *manager) do(w write) error {
	dir := m.unified
	if !w.V2 {
		dir = m.Path(w.Controller)
	}
	if dir == "" {
		return unsupported(w.File, "no hierarchy holds the "+w.Controller+" controller")
	}
	if w.V2 && m.l.Mode != ModeV2 && w.Controller != "cgroup" {
		if err := m.enable([]string{w.Controller}); err != nil {
			return err
		}
	}
	return writeFile(dir, w.File, w.Value)
}

// Pids lists the processes in the cgroup.
func (m *manager) Pids() ([]int, error) {
	dir := m.primary()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFoundf("cgroup %s does not exist", dir)
		}
		return nil, fmt.Errorf("list cgroup processes: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s/cgroup.procs: %w", dir, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// primary is the directory Pids reads: the unified one on v2, else the
// one of a hierarchy every container joins.
func (m *manager) primary() string {
	if m.l.Mode == ModeV2 {
		return m.unified
	}
	for _, c := range []string{"pids", "memory", "freezer", "cpu", "devices"} {
		if p := m.Path(c); p != "" {
			return p
		}
	}
	if len(m.v1) > 0 {
		return m.v1[0].dir
	}
	return m.unified
}

// OOMKilled reports whether the OOM killer killed a process in the cgroup.
func (m *manager) OOMKilled() (bool, error) {
	dir, file := m.Path("memory"), "memory.events"
	if m.where("memory") == onV1 {
		file = "memory.oom_control"
	}
	if dir == "" {
		return false, nil // no memory controller, no cgroup OOM kills
	}
	n, err := readKey(filepath.Join(dir, file), "oom_kill")
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// Freeze stops every process of the cgroup and returns once the kernel
// says they all are.
func (m *manager) Freeze() error { return m.freeze(true) }

// Thaw resumes the cgroup's processes.
func (m *manager) Thaw() error { return m.freeze(false) }

const freezeTimeout = 5 * time.Second

func (m *manager) freeze(frozen bool) error {
	if dir := m.Path("freezer"); dir != "" && m.where("freezer") == onV1 {
		want := "THAWED"
		if frozen {
			want = "FROZEN"
		}
		return waitFor(freezeTimeout, func() (bool, error) {
			// Writing again nudges a freeze stuck in FREEZING (a task
			// that was in the middle of a vfork, say).
			if err := writeFile(dir, "freezer.state", want); err != nil {
				return false, err
			}
			s, err := readFile(filepath.Join(dir, "freezer.state"))
			return s == want, err
		}, func() {
			if frozen {
				_ = writeFile(dir, "freezer.state", "THAWED")
			}
		}, "freezer.state "+want)
	}
	if m.unified == "" {
		return errdefs.NotImplementedf("freeze: no freezer on this host")
	}
	v, want := "0", "frozen 0"
	if frozen {
		v, want = "1", "frozen 1"
	}
	if err := writeFile(m.unified, "cgroup.freeze", v); err != nil {
		return err
	}
	return waitFor(freezeTimeout, func() (bool, error) {
		n, err := readKey(filepath.Join(m.unified, "cgroup.events"), "frozen")
		return fmt.Sprintf("frozen %d", n) == want, err
	}, func() {
		if frozen {
			_ = writeFile(m.unified, "cgroup.freeze", "0")
		}
	}, "cgroup.events "+want)
}

// waitFor polls done until it is true, backing off from 1ms; on timeout it
// runs undo and fails.
func waitFor(timeout time.Duration, done func() (bool, error), undo func(), what string) error {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		ok, err := done()
		if err != nil {
			undo()
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			undo()
			return errdefs.Unavailablef("cgroup: timed out waiting for %s", what)
		}
		time.Sleep(delay)
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// Destroy removes the cgroup's directory from every hierarchy (and any
// cgroups nested in it), retrying for up to half a second in all while the
// kernel still counts exiting tasks; callers need no retry loop of their
// own. A cgroup already gone is not an error.
func (m *manager) Destroy() error {
	deadline := time.Now().Add(destroyTimeout)
	// A v1 freezer keeps killed tasks alive until thawed, so a paused
	// container that was killed would never leave its cgroup.
	if dir := m.Path("freezer"); dir != "" && m.where("freezer") == onV1 {
		if s, err := readFile(filepath.Join(dir, "freezer.state")); err == nil && s != "THAWED" {
			_ = writeFile(dir, "freezer.state", "THAWED")
		}
	}
	var errs []error
	for _, d := range m.v1 {
		errs = append(errs, removeCgroup(d.dir, deadline))
	}
	if m.unified != "" {
		errs = append(errs, removeCgroup(m.unified, deadline))
	}
	m.mu.Lock()
	m.created = false
	m.mu.Unlock()
	return errors.Join(errs...)
}

const destroyTimeout = 500 * time.Millisecond

func removeCgroup(dir string, deadline time.Time) error {
	delay := time.Millisecond
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.ENOTEMPTY) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		// Nested cgroups (a container that made its own) go first; the
		// files of a cgroup directory need no removal.
		if ents, rerr := os.ReadDir(dir); rerr == nil {
			for _, e := range ents {
				if e.IsDir() {
					_ = removeCgroup(filepath.Join(dir, e.Name()), deadline)
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay = min(delay*2, 50*time.Millisecond)
	}
}

func writeFile(dir, file, value string) error {
	p := filepath.Join(dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		err = fmt.Errorf("write %q to %s: %w", value, p, unwrapPath(err))
		if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ERANGE) {
			err = errdefs.With(errdefs.InvalidArgument, err)
		}
		return err
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read cgroup file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readKey returns the value of "key N" in a flat-keyed cgroup file
// (memory.oom_control, memory.events, cgroup.events, cpu.stat); a missing
// key reads as 0.
func readKey(p, key string) (uint64, error) {
	s, err := readFile(p)
	if err != nil {
		return 0, err
	}
	return parseKey(s, key)
}

func parseKey(s, key string) (uint64, error) {
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse cgroup key %s: %w", key, err)
			}
			return n, nil
		}
	}
	return 0, nil
}

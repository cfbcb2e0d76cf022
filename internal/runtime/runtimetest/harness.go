package runtimetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/reaper"
)

func buildRootfs(dir, bb string) error {
	for _, d := range []string{"bin", "etc", "tmp", "root", "home/user", "proc", "sys", "dev", "usr/bin", "usr/sbin", "sbin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	src, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), src, 0o755); err != nil {
		return err
	}
	list, err := runHost(bb, "--list")
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(list) {
		if a != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
				return err
			}
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
		"etc/group":  "root:x:0:\nwheel:x:10:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n",
		"noexec":     "#!/bin/sh\necho should not run\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runHost runs a host command through the reaper and returns its stdout.
func runHost(name string, args ...string) (string, error) {
	startReaper()
	out, err := os.CreateTemp("", "runtimetest-out-")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout = out
	ch, err := reaper.Default.Start(cmd)
	if err != nil {
		return "", err
	}
	status, err := reaper.Default.Wait(cmd, ch)
	if err != nil {
		return "", err
	}
	if status != 0 {
		return "", fmt.Errorf("%s exited %d", name, status)
	}
	b, err := os.ReadFile(out.Name())
	return string(b), err
}

var (
	reaperOnce sync.Once
	exits      = &exitBoard{waiting: map[int]chan reaper.Exit{}, early: map[int]reaper.Exit{}}
)

// startReaper makes the test process a subreaper (so containers whose
// runtime exits are reparented to it) and reaps every child on SIGCHLD.
func startReaper() {
	reaperOnce.Do(func() {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		sub := reaper.Default.Subscribe()
		go func() {
			for e := range sub {
				exits.post(e)
			}
		}()
		sig := make(chan os.Signal, 16)
		signal.Notify(sig, unix.SIGCHLD)
		go func() {
			reaper.Default.Reap()
			for range sig {
				reaper.Default.Reap()
			}
		}()
	})
}

// exitBoard keeps exits for whoever waits for them, even when they come
// before the wait does.
type exitBoard struct {
	mu      sync.Mutex
	waiting map[int]chan reaper.Exit
	early   map[int]reaper.Exit
}

func (b *exitBoard) post(e reaper.Exit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.waiting[e.Pid]; ok {
		delete(b.waiting, e.Pid)
		ch <- e
		return
	}
	b.early[e.Pid] = e
}

func (b *exitBoard) wait(pid int, d time.Duration) (reaper.Exit, bool) {
	b.mu.Lock()
	if e, ok := b.early[pid]; ok {
		delete(b.early, pid)
		b.mu.Unlock()
		return e, true
	}
	ch := make(chan reaper.Exit, 1)
	b.waiting[pid] = ch
	b.mu.Unlock()
	select {
	case e := <-ch:
		return e, true
	case <-time.After(d):
		b.mu.Lock()
		delete(b.waiting, pid)
		b.mu.Unlock()
		return reaper.Exit{}, false
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// suite is one Run: a rootfs and a cgroup parent shared by its cases.
type suite struct {
	rt       runtime.Runtime
	newRT    func(t *testing.T) runtime.Runtime
	rootfs   string
	cgParent string // relative cgroupsPath parent, "berth-test-<rand>"
	n        atomic.Int64
}

// container is one created task with its output pipes.
type container struct {
	id      string
	task    runtime.Task
	bundle  string
	cgPath  string
	stdout  *bytesPipe
	stderr  *bytesPipe
	stdinW  *os.File
	created time.Time
}

// bytesPipe collects what a pipe's read end receives until EOF.
type bytesPipe struct {
	w    *os.File
	mu   sync.Mutex
	buf  strings.Builder
	done chan struct{}
	line chan string
}

func newBytesPipe(t *testing.T) *bytesPipe {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &bytesPipe{w: w, done: make(chan struct{}), line: make(chan string, 64)}
	go func() {
		defer close(p.done)
		defer r.Close()
		br := bufio.NewReader(r)
		for {
			s, err := br.ReadString('\n')
			p.mu.Lock()
			p.buf.WriteString(s)
			p.mu.Unlock()
			if s != "" {
				select {
				case p.line <- s:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *bytesPipe) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// all waits for EOF and returns everything read.
func (p *bytesPipe) all(t *testing.T) string {
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("output pipe not closed after 10s; got so far %q", p.String())
	}
	return p.String()
}

// create writes the bundle for spec and creates the task. stdin, if not
// nil, becomes the container's stdin.
func (s *suite) create(t *testing.T, spec *specs.Spec, stdin *os.File) (*container, error) {
	t.Helper()
	c := &container{id: fmt.Sprintf("rt-%s-%d", randHex(3), s.n.Add(1)), bundle: t.TempDir()}
	c.cgPath = s.cgParent + "/" + c.id
	if spec.Linux.CgroupsPath != "" {
		spec.Linux.CgroupsPath = c.cgPath
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(c.bundle, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.stdout, c.stderr = newBytesPipe(t), newBytesPipe(t)
	opts := runtime.CreateOpts{Bundle: c.bundle, Stdin: stdin, Stdout: c.stdout.w, Stderr: c.stderr.w, StateDir: stateDir}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.created = time.Now()
	c.task, err = s.rt.Create(ctx, c.id, opts)
	c.stdout.w.Close()
	c.stderr.w.Close()
	if err != nil {
		s.checkGone(t, c)
		if e := c.stderr.all(t); e != "" {
			t.Logf("stderr of the failed create: %s", e)
		}
		return nil, err
	}
	return c, nil
}

// wait waits for the container's init to exit and returns its status.
func (c *container) wait(t *testing.T) int {
	t.Helper()
	e, ok := exits.wait(c.task.Pid(), 20*time.Second)
	if !ok {
		c.task.Kill(context.Background(), unix.SIGKILL, true)
		t.Fatalf("container %s (pid %d) did not exit within 20s; stdout %q stderr %q", c.id, c.task.Pid(), c.stdout.String(), c.stderr.String())
	}
	return e.Status
}

// delete deletes the task and checks that nothing is left.
func (s *suite) delete(t *testing.T, c *container) {
	t.Helper()
	if err := c.task.Delete(context.Background()); err != nil {
		t.Errorf("delete: %v", err)
	}
	if err := c.task.Delete(context.Background()); err != nil {
		t.Errorf("second delete (must be idempotent): %v", err)
	}
	s.checkGone(t, c)
}

// checkGone asserts that no cgroup directory and no mount of c remain.
func (s *suite) checkGone(t *testing.T, c *container) {
	t.Helper()
	for _, d := range cgroupDirs(t, c.cgPath) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left behind", d)
			os.Remove(d)
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, c.bundle) || strings.Contains(line, s.rootfs) {
			t.Errorf("mount left behind: %s", line)
		}
	}
	if _, err := os.Stat(filepath.Join(c.bundle, "state")); err == nil {
		t.Errorf("state dir %s left behind", filepath.Join(c.bundle, "state"))
	}
}

// result is what a container run produced.
type result struct {
	stdout, stderr string
	code           int
}

// run creates, starts and waits for a container, feeding it stdin.
func (s *suite) run(t *testing.T, spec *specs.Spec, stdin string) (result, error) {
	t.Helper()
	var in *os.File
	if stdin != "" {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() {
			io.WriteString(w, stdin)
			w.Close()
		}()
		in = r
	}
	c, err := s.create(t, spec, in)
	if err != nil {
		return result{}, err
	}
	if err := c.task.Start(context.Background()); err != nil {
		c.task.Kill(context.Background(), unix.SIGKILL, true)
		c.wait(t)
		s.delete(t, c)
		return result{}, err
	}
	code := c.wait(t)
	res := result{stdout: c.stdout.all(t), stderr: c.stderr.all(t), code: code}
	s.delete(t, c)
	return res, nil
}

// mustRun is run for containers that must start.
func (s *suite) mustRun(t *testing.T, spec *specs.Spec, stdin string) result {
	t.Helper()
	res, err := s.run(t, spec, stdin)
	if err != nil {
		t.Fatalf("run %q: %v", spec.Process.Args, err)
	}
	return res
}

// cgroupDirs lists the host directories of the relative cgroupsPath rel in
// every hierarchy the test process is in.
func cgroupDirs(t *testing.T, rel string) []string {
	t.Helper()
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if mp := cgroupMountpoint(string(mi), parts[1]); mp != "" {
			dirs = append(dirs, filepath.Join(mp, parts[2], rel))
		}
	}
	return dirs
}

// cgroupMountpoint finds the host mount of the hierarchy with the given
// controllers ("" for v2).
func cgroupMountpoint(mountinfo, controllers string) string {
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || f[3] != "/" {
			continue
		}
		if controllers == "" && g[0] == "cgroup2" {
			return f[4]
		}
		if controllers != "" && g[0] == "cgroup" {
			opts := "," + g[2] + ","
			all := true
			for _, c := range strings.Split(controllers, ",") {
				all = all && strings.Contains(opts, ","+c+",")
			}
			if all {
				return f[4]
			}
		}
	}
	return ""
}

// WaitExit waits (up to 20s) for the exit of pid, reaped by the suite's
// reaper, and returns its status (128+signal for a signal), or -1.
func WaitExit(t *testing.T, pid int) int {
	t.Helper()
	startReaper()
	e, ok := exits.wait(pid, 20*time.Second)
	if !ok {
		t.Errorf("pid %d did not exit within 20s", pid)
		return -1
	}
	return e.Status
}

// RemoveCgroups removes the directories of the relative cgroupsPath rel
// (left empty by a deleted task) from every hierarchy of the test process.
func RemoveCgroups(t *testing.T, rel string) {
	t.Helper()
	for _, d := range cgroupDirs(t, rel) {
		os.Remove(d)
	}
}

// RemoveCgroupTree removes every cgroup directory named name (a parent
// unique to one test, such as a daemon's --cgroup-parent) found up to three
// levels below each hierarchy's root, children first. Directories that still
// hold processes stay.
func RemoveCgroupTree(name string) {
	if name == "" || strings.Contains(name, "/") {
		return
	}
	for depth := 0; depth < 4; depth++ {
		matches, _ := filepath.Glob("/sys/fs/cgroup/*/" + strings.Repeat("*/", depth) + name)
		for _, top := range matches {
			var dirs []string
			filepath.WalkDir(top, func(p string, e os.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				os.Remove(dirs[i])
			}
		}
	}
}

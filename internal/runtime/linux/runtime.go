package linux

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
)

// Options configure the runtime. The zero value is ready to use.
type Options struct {
	// InitPath is the binary re-executed as "<InitPath> init" for a
	// container's init; its main must call InitMain for that argument. ""
	// means the ExecInitName binary next to the running executable when
	// it exists (opened once here, so later starts run this very file
	// even if it is replaced), else /proc/self/exe.
	InitPath string
	// ExecInitPath is the binary re-executed as "<ExecInitPath> init" for
	// an exec'd process (Task.Exec). "" means the ExecInitName binary next
	// to the running executable when InitPath is "" and that binary
	// exists, else InitPath.
	ExecInitPath string
	// NewCgroup returns the manager of a spec's cgroupsPath; nil means
	// cgroups.New.
	NewCgroup func(cgroupsPath string) (cgroups.Manager, error)
}

// Runtime is berth's built-in runtime.
type Runtime struct {
	initPath     string
	execInitPath string
	newCgroup    func(string) (cgroups.Manager, error)
	customCgroup bool // Options.NewCgroup was given
}

// New returns berth's own runtime, named "berth".
func New(opts Options) runtime.Runtime {
	r := &Runtime{initPath: opts.InitPath, newCgroup: opts.NewCgroup, customCgroup: opts.NewCgroup != nil}
	r.execInitPath = opts.ExecInitPath
	if r.initPath == "" {
		lean := leanInit()
		r.initPath = cmp.Or(lean, "/proc/self/exe")
		r.execInitPath = cmp.Or(r.execInitPath, lean)
	}
	if r.execInitPath == "" {
		r.execInitPath = r.initPath
	}
	if r.newCgroup == nil {
		r.newCgroup = cgroups.New
	}
	return r
}

// ExecInitName is the lean twin of "berthd init" (cmd/berth-init,
// installed next to berthd), the init of containers and of exec'd
// processes: it links only this package, so its start skips the package
// initialisation of all of berthd (regexps of image references and
// digests, compression tables, the Dockerfile parser, ...), about half the
// time an exec'd process takes to get ready. It speaks the same protocol.
const ExecInitName = "berth-init"

// leanInit is openExecInit done once per process: the monitor makes a
// Runtime per container, and each used to open (and keep) a descriptor of
// its own.
var leanInit = sync.OnceValue(openExecInit)

// openExecInit opens ExecInitName next to the running executable and
// returns a /proc/self/fd path to it, or "" if there is none. The fd is
// held for the process's life: a monitor keeps running the berth-init of
// its own installation across upgrades, as /proc/self/exe keeps its own
// binary.
func openExecInit() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	fd, err := unix.Open(filepath.Join(filepath.Dir(self), ExecInitName), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		unix.Close(fd)
		return ""
	}
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// Name implements runtime.Runtime.
func (r *Runtime) Name() string { return "berth" }

// Create implements runtime.Runtime. It fails with ErrExecNotFound or
// ErrExecPermission when the program cannot be found or executed, as runc
// create does.
func (r *Runtime) Create(ctx context.Context, id string, opts runtime.CreateOpts) (_ runtime.Task, retErr error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create container %s: %w", id, err)
	}
	defer func() {
		if retErr == nil {
			return
		}
		if opts.StateDir != "" {
			os.RemoveAll(opts.StateDir) // nothing is left after a failed create
		}
		// Whatever step noticed the cancellation, say it was that.
		if ctx.Err() != nil && !errors.Is(retErr, ctx.Err()) {
			retErr = fmt.Errorf("create container %s: %w (%v)", id, ctx.Err(), retErr)
		}
	}()
	b, err := loadBundle(opts.Bundle)
	if err != nil {
		return nil, err
	}
	prog, err := prepareSeccomp(opts.StateDir, b.spec.Linux.Seccomp) // seccomp.go
	if err != nil {
		return nil, err
	}
	cg, join, err := r.prepareCgroup(&b.spec, b.ns)
	if err != nil {
		return nil, err
	}
	if join.fd >= 0 {
		defer unix.Close(join.fd)
	}
	t, err := r.startInit(id, b, opts, join.fd)
	if err != nil {
		if cg != nil {
			cg.Destroy()
		}
		return nil, err
	}
	t.cg = cg
	defer func() {
		if retErr != nil {
			t.destroy()
		}
	}()
	// Abort a blocked handshake when ctx ends: killing init closes its end.
	stop := context.AfterFunc(ctx, func() { unix.PidfdSendSignal(t.pidfd, unix.SIGKILL, nil, 0) })
	defer stop()

	if err := r.place(t, &b.spec); err != nil {
		return nil, err
	}
	if err := send(t.sock, &message{Type: msgConfig, Rootfs: b.rootfs, Spec: b.raw, SysfsFD: b.sysfsFD, Seccomp: prog, Tasks: join.tasks}); err != nil {
		return nil, err
	}
	_, fds, err := expect(t.sock, msgReady)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", id, err)
	}
	if b.spec.Process.Terminal {
		if len(fds) != 1 {
			closeAll(fds)
			return nil, errors.New("container init sent no console")
		}
		t.console = os.NewFile(uintptr(fds[0]), "console")
	} else {
		closeAll(fds)
	}
	return t, nil
}

// bundle is a parsed OCI bundle.
type bundle struct {
	raw    []byte // config.json as read, sent on to init
	spec   specs.Spec
	rootfs string // absolute
	ns     nsPlan
	// closeAfterStart are files the init inherits that the parent closes
	// once it runs.
	closeAfterStart []*os.File
	sysfsFD         int // in the init; see message.SysfsFD
}

func loadBundle(dir string) (*bundle, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read bundle config: %w", err)
	}
	b := &bundle{raw: raw}
	if err := json.Unmarshal(raw, &b.spec); err != nil {
		return nil, errdefs.InvalidArgumentf("decode %s/config.json: %w", dir, err)
	}
	spec := &b.spec
	if spec.Process == nil || spec.Root == nil || spec.Linux == nil || len(spec.Process.Args) == 0 {
		return nil, errdefs.InvalidArgumentf("config.json: process (with args), root and linux are required")
	}
	if h := spec.Hooks; h != nil && len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer)+
		len(h.StartContainer)+len(h.Poststart)+len(h.Poststop) > 0 {
		return nil, errdefs.NotImplementedf("OCI hooks are not supported by the berth runtime")
	}
	if b.ns, err = planNamespaces(spec.Linux.Namespaces); err != nil {
		return nil, err
	}
	b.rootfs = spec.Root.Path
	if !filepath.IsAbs(b.rootfs) {
		b.rootfs = filepath.Join(dir, b.rootfs)
	}
	return b, nil
}

// cgroupJoin is how init joins a cgroup made before the fork: the v1
// tasks files it writes its thread into, and the unified directory it is
// forked into (fd, -1 for none).
type cgroupJoin struct {
	tasks []string
	fd    int
}

// cgroupDirs is a manager that names its directories: a process can then
// join it itself.
type cgroupDirs interface{ Dirs() ([]string, string) }

// joinOf is how a process forked now joins cg itself (init and exec'd
// processes alike, see joinTasks); ok is false when cg names no
// directories and the parent must move the process (Apply). The caller
// closes join.fd if it is not -1.
func joinOf(cg cgroups.Manager) (join cgroupJoin, ok bool, err error) {
	join.fd = -1
	cd, ok := cg.(cgroupDirs)
	if !ok {
		return join, false, nil
	}
	v1, unified := cd.Dirs()
	for _, dir := range v1 {
		join.tasks = append(join.tasks, filepath.Join(dir, "tasks"))
	}
	if unified != "" {
		if join.fd, err = unix.Open(unified, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return cgroupJoin{fd: -1}, false, fmt.Errorf("open cgroup %s: %w", unified, err)
		}
	}
	return join, true, nil
}

// prepareCgroup makes the container's cgroup and sets its resources
// before the fork, so that init joins it itself as an exec'd process does
// (see exec.go): a cgroup.procs write of another process takes the
// kernel's threadgroup lock, whose first taker waits for an RCU grace
// period (~10 ms here, most of the start). It returns a nil manager when
// place must move init from outside instead: no cgroupsPath, a manager
// without directories, or a user namespace (whose root may not write the
// host's cgroup files).
func (r *Runtime) prepareCgroup(spec *specs.Spec, ns nsPlan) (cgroups.Manager, cgroupJoin, error) {
	join := cgroupJoin{fd: -1}
	p := spec.Linux.CgroupsPath
	if p == "" || ns.userns {
		return nil, join, nil
	}
	cg, err := r.newCgroup(p)
	if err != nil {
		return nil, join, fmt.Errorf("cgroup %s: %w", p, err)
	}
	if _, ok := cg.(cgroupDirs); !ok {
		return nil, join, nil
	}
	if err := cg.Set(spec.Linux.Resources); err != nil { // creates it too
		cg.Destroy()
		return nil, join, fmt.Errorf("set cgroup %s resources: %w", p, err)
	}
	if join, _, err = joinOf(cg); err != nil {
		cg.Destroy()
		return nil, join, err
	}
	return cg, join, nil
}

// startInit forks the init into its namespaces (and into the unified
// cgroup cgFD, if not -1) and returns the task that owns it (pidfd) and
// the parent's end of the sync socket.
func (r *Runtime) startInit(id string, b *bundle, opts runtime.CreateOpts, cgFD int) (*task, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sync socketpair: %w", err)
	}
	childSock := os.NewFile(uintptr(pair[1]), "init-sync")
	defer childSock.Close()
	pidfd := -1
	cmd := &exec.Cmd{
		Path:       r.initPath,
		Args:       []string{"berth-init", "init"},
		Env:        []string{},
		Dir:        opts.Bundle, // relative bind sources are relative to the bundle
		ExtraFiles: []*os.File{childSock},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  b.ns.cloneFlags,
			Setsid:      true,
			PidFD:       &pidfd,
			UseCgroupFD: cgFD >= 0,
			CgroupFD:    cgFD,
		},
	}
	if !b.spec.Process.Terminal {
		// A nil *os.File must become a nil interface, or exec passes fd -1.
		if opts.Stdin != nil {
			cmd.Stdin = opts.Stdin
		}
		if opts.Stdout != nil {
			cmd.Stdout = opts.Stdout
		}
		if opts.Stderr != nil {
			cmd.Stderr = opts.Stderr
		}
	}
	if b.ns.userns {
		if err := b.remapInit(cmd); err != nil {
			unix.Close(pair[0])
			return nil, err
		}
	}
	err = startIn(cmd, b.ns.pidPath, b.ns.parentJoin, func() error {
		if err := writeNetSysctls(hostNetSysctls(&b.spec, b.ns)); err != nil {
			return err
		}
		return b.makeSysfs(cmd)
	})
	for _, f := range b.closeAfterStart {
		f.Close()
	}
	if err != nil {
		unix.Close(pair[0])
		return nil, fmt.Errorf("start container init: %w", err)
	}
	if pidfd < 0 {
		// Without a pidfd we could signal a recycled pid after the reaper
		// collected the init; every supported kernel (>= 5.3) has them.
		unix.Kill(cmd.Process.Pid, unix.SIGKILL)
		unix.Close(pair[0])
		return nil, errors.New("start container init: kernel lacks pidfd support")
	}
	t := &task{rt: r, id: id, pid: cmd.Process.Pid, pidfd: pidfd, sock: pair[0], stateDir: opts.StateDir}
	cmd.Process.Release() // never waited for here: the caller reaps
	return t, nil
}

// place puts the init in its cgroup, with its resources, unless it joins
// the one prepareCgroup made itself, and sets its OOM score adjustment.
func (r *Runtime) place(t *task, spec *specs.Spec) error {
	if p := spec.Linux.CgroupsPath; p != "" && t.cg == nil {
		cg, err := r.newCgroup(p)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", p, err)
		}
		t.cg = cg
		if err := cg.Apply(t.pid); err != nil {
			return fmt.Errorf("apply cgroup %s: %w", p, err)
		}
		if err := cg.Set(spec.Linux.Resources); err != nil {
			return fmt.Errorf("set cgroup %s resources: %w", p, err)
		}
	}
	if adj := spec.Process.OOMScoreAdj; adj != nil {
		// Set from outside, as runc does: init has no business in /proc
		// of the host, and lowering the score needs CAP_SYS_RESOURCE.
		path := fmt.Sprintf("/proc/%d/oom_score_adj", t.pid)
		if err := os.WriteFile(path, []byte(strconv.Itoa(*adj)), 0); err != nil {
			return fmt.Errorf("set oom_score_adj: %w", err)
		}
	}
	return nil
}

// startIn starts cmd, in the pid namespace at pidPath if one is given and
// in the namespaces of join. They are entered on a thread of its own that
// is thrown away after (the goroutine exits locked), so no other work
// ever runs in them. inNS, if not nil, runs on that thread before the
// start: what a remapped init may not do in namespaces the host owns
// (net.* sysctls, a sysfs mount of the network namespace).
func startIn(cmd *exec.Cmd, pidPath string, join []nsPath, inNS func() error) error {
	if pidPath == "" && len(join) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies with us
		if pidPath != "" {
			join = append([]nsPath{{pidPath, unix.CLONE_NEWPID}}, join...)
		}
		for _, n := range join {
			fd, err := unix.Open(n.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- fmt.Errorf("open namespace %s: %w", n.path, err)
				return
			}
			err = unix.Setns(fd, n.flag)
			unix.Close(fd)
			if err != nil {
				errc <- fmt.Errorf("setns %s: %w", n.path, err)
				return
			}
		}
		if inNS != nil {
			if err := inNS(); err != nil {
				errc <- err
				return
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// writeSysctl writes /proc/sys/<k with dots as slashes>.
func writeSysctl(k, v string) error {
	if strings.Contains(k, "..") || strings.Contains(k, "/") {
		return fmt.Errorf("sysctl %q: invalid name", k)
	}
	path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
	if err := os.WriteFile(path, []byte(v), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
	}
	return nil
}

func writeNetSysctls(m map[string]string) error {
	for k, v := range m {
		if err := writeSysctl(k, v); err != nil {
			return err
		}
	}
	return nil
}

// hostNetSysctls are the net.* sysctls the parent writes for a remapped
// init that joins a network namespace by path (see startIn); init skips
// them.
func hostNetSysctls(spec *specs.Spec, p nsPlan) map[string]string {
	if !p.userns {
		return nil
	}
	joinsNet := false
	for _, n := range spec.Linux.Namespaces {
		joinsNet = joinsNet || n.Type == specs.NetworkNamespace && n.Path != ""
	}
	if !joinsNet {
		return nil
	}
	out := map[string]string{}
	for k, v := range spec.Linux.Sysctl {
		if strings.HasPrefix(k, "net.") {
			out[k] = v
		}
	}
	if v, ok := out["net.ipv4.ping_group_range"]; ok {
		// Written from the host's user namespace, the gids are the
		// host's: those of the container's range.
		out["net.ipv4.ping_group_range"] = hostGIDRange(v, spec.Linux.GIDMappings)
	}
	return out
}

// nsPlan is what the parent does with the spec's namespaces; init handles
// the rest (joining by path, the cgroup namespace).
type nsPlan struct {
	cloneFlags uintptr
	pidPath    string
	// userns: a new user namespace. The parent then also joins the
	// namespaces given by path (parentJoin) before the clone, as runc's
	// nsexec does: from inside the new user namespace, init could not
	// join namespaces the host's user namespace owns (a network namespace
	// networking prepared).
	userns     bool
	parentJoin []nsPath
}

// nsPath is a namespace to join by path.
type nsPath struct {
	path string
	flag int
}

var cloneFlag = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
}

func planNamespaces(nss []specs.LinuxNamespace) (nsPlan, error) {
	var p nsPlan
	seen := map[specs.LinuxNamespaceType]bool{}
	var byPath []nsPath
	for _, n := range nss {
		if seen[n.Type] {
			return p, errdefs.InvalidArgumentf("namespace %s given twice", n.Type)
		}
		seen[n.Type] = true
		switch n.Type {
		case specs.PIDNamespace:
			if n.Path != "" {
				p.pidPath = n.Path
				continue
			}
		case specs.MountNamespace:
			if n.Path != "" {
				return p, errdefs.NotImplementedf("joining a mount namespace by path is not supported")
			}
		case specs.UserNamespace:
			if n.Path != "" {
				return p, errdefs.NotImplementedf("joining a user namespace by path is not supported")
			}
			p.userns = true
		case specs.UTSNamespace, specs.IPCNamespace, specs.NetworkNamespace:
			if n.Path != "" {
				byPath = append(byPath, nsPath{n.Path, setnsFlag[n.Type]})
				continue // joined by init, or by the parent with a user namespace
			}
		case specs.CgroupNamespace:
			if n.Path != "" {
				byPath = append(byPath, nsPath{n.Path, setnsFlag[n.Type]})
			}
			continue // unshared or joined by init, once in its cgroup
		default:
			return p, errdefs.NotImplementedf("%s namespace is not supported", n.Type)
		}
		p.cloneFlags |= cloneFlag[n.Type]
	}
	if !seen[specs.MountNamespace] {
		return p, errdefs.InvalidArgumentf("a mount namespace is required")
	}
	if p.userns {
		p.parentJoin = byPath
	}
	return p, nil
}

// waitExit waits up to d for the process behind pidfd to exit (it need not
// be reaped: a pidfd turns readable on exit).
func waitExit(pidfd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms < 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

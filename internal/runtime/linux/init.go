package linux

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"unsafe"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/seccomp"
)

// InitMain is the container init: the binary's main must call it first
// thing when os.Args[1] == "init" (the runtime re-executes the binary that
// way). It follows the protocol in the package doc and ends by execve'ing
// the container's program; it never returns (on failure it reports the
// error to the parent and exits 1).
func InitMain() {
	// Everything, through to the execve, runs on this thread: namespaces
	// joined, credentials and capabilities are per-thread state.
	goruntime.LockOSThread()
	unix.CloseOnExec(initFd)
	m, _, err := recv(initFd)
	if err != nil || (m.Type != msgConfig && m.Type != msgExec) {
		os.Exit(1)
	}
	run := runInit
	if m.Type == msgExec {
		run = runExec // docker exec: see exec.go
	}
	step, err := run(m)
	if err != nil {
		kind := ""
		if step == "look up program" || step == "exec" {
			switch {
			case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
				kind = kindNotFound
			case errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EISDIR):
				kind = kindPermission
			}
		}
		send(initFd, &message{Type: msgError, Step: step, Error: err.Error(), Kind: kind})
	}
	os.Exit(1)
}

// runInit does init's work; on failure it names the step that failed.
func runInit(m *message) (string, error) {
	// Nothing but stdio and the sync socket may reach the program (a
	// remapped init inherits its own binary; see remapInit).
	if err := unix.CloseRange(initFd+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return "close inherited fds", err
	}
	var spec specs.Spec
	if err := json.Unmarshal(m.Spec, &spec); err != nil {
		return "decode spec", err
	}
	p := &initProc{spec: &spec, rootfs: m.Rootfs, console: -1}
	_, inUserNS = p.ns(specs.UserNamespace)
	sysfsFD = m.SysfsFD
	switch {
	case m.Seccomp != nil: // compiled by the parent (seccomp.go)
		f, err := seccomp.UnmarshalFilter(m.Seccomp)
		if err != nil {
			return "decode seccomp program", err
		}
		p.seccomp = f
	case spec.Linux != nil && spec.Linux.Seccomp != nil:
		f, err := seccomp.Prepare(spec.Linux.Seccomp)
		if err != nil {
			return "compile seccomp profile", err
		}
		p.seccomp = f
	}
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
	// before the capabilities are dropped (as runc); with it, load it last.
	loadSeccompEarly := p.seccomp != nil && !spec.Process.NoNewPrivileges
	steps := []struct {
		name string
		do   func() error
	}{
		{"join cgroup", func() error { return joinTasks(m.Tasks) }}, // host paths: first
		{"join namespaces", p.joinNamespaces},
		{"prepare rootfs", p.prepareRootfs},
		{"pivot root", func() error { return pivotRoot(p.rootfs) }},
		{"finish rootfs", p.finishRootfs},
		{"set hostname", p.setHostname},
		{"set rlimits", p.setRlimits},
		{"set up console", p.setupConsole},
		{"load seccomp profile", func() error {
			if loadSeccompEarly {
				return p.seccomp.Load()
			}
			return nil
		}},
		{"set user and capabilities", p.setUser},
		{"set cwd", p.setCwd},
		{"look up program", p.lookPath},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return s.name, err
		}
	}
	var fds []int
	if p.console >= 0 {
		fds = []int{p.console}
	}
	if err := send(initFd, &message{Type: msgReady}, fds...); err != nil {
		return "report ready", err
	}
	if p.console >= 0 {
		unix.Close(p.console)
	}
	start, _, err := recv(initFd)
	if err != nil || start.Type != msgStart {
		os.Exit(1) // the parent gave up (Delete before Start)
	}
	umask := 0o022 // runc's default
	if m := p.spec.Process.User.Umask; m != nil {
		umask = int(*m)
	}
	unix.Umask(umask)
	if p.spec.Process.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "set no_new_privs", err
		}
	}
	if p.seccomp != nil && !loadSeccompEarly {
		if err := p.seccomp.Load(); err != nil {
			return "load seccomp profile", err
		}
	}
	err = unix.Exec(p.path, p.spec.Process.Args, p.env)
	return "exec", &exec.Error{Name: p.spec.Process.Args[0], Err: err}
}

// joinTasks moves the calling thread into each v1 cgroup whose tasks file
// is listed (writing 0 moves only the writer, without the lock a
// whole-process move takes); its execve leaves the program there.
func joinTasks(paths []string) error {
	for _, path := range paths {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		_, err = unix.Write(fd, []byte("0"))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

type initProc struct {
	spec    *specs.Spec
	rootfs  string
	console int // pty master, -1 without a terminal
	path    string
	env     []string
	seccomp *seccomp.Filter // nil: none
}

func (p *initProc) ns(t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	for _, n := range p.spec.Linux.Namespaces {
		if n.Type == t {
			return n, true
		}
	}
	return specs.LinuxNamespace{}, false
}

var setnsFlag = map[specs.LinuxNamespaceType]int{
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
}

// joinNamespaces enters the namespaces given by path and the new cgroup
// namespace (the parent has placed us in our cgroup by now), and brings up
// lo in a new network namespace.
func (p *initProc) joinNamespaces() error {
	for _, n := range p.spec.Linux.Namespaces {
		flag, ok := setnsFlag[n.Type]
		if !ok || n.Path == "" || inUserNS {
			continue // with a user namespace, the parent joined them
		}
		fd, err := unix.Open(n.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s namespace: %w", n.Type, err)
		}
		err = unix.Setns(fd, flag)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("setns %s: %w", n.Path, err)
		}
	}
	if n, ok := p.ns(specs.CgroupNamespace); ok && n.Path == "" {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	if n, ok := p.ns(specs.NetworkNamespace); ok && n.Path == "" {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}

// prepareRootfs does everything that happens before pivot_root, with
// paths under the rootfs.
func (p *initProc) prepareRootfs() error {
	// Nothing we mount may propagate back to the host.
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if f, ok := propagationFlag[p.spec.Linux.RootfsPropagation]; ok && f&(unix.MS_PRIVATE) != 0 {
		prop = f
	}
	if err := mount("", "/", "", prop, ""); err != nil {
		return err
	}
	if err := mount(p.rootfs, p.rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	_, cgroupns := p.ns(specs.CgroupNamespace)
	devBind := false
	for _, m := range p.spec.Mounts {
		if err := mountInRoot(p.rootfs, m, cgroupns); err != nil {
			return err
		}
		if filepath.Clean(m.Destination) == "/dev" && parseMountOptions(m.Type, m.Options).bind {
			devBind = true
		}
	}
	if !devBind {
		if err := createDevices(p.rootfs, planDevices(p.spec.Linux.Devices)); err != nil {
			return err
		}
	}
	if cwd := p.spec.Process.Cwd; cwd != "" {
		// Made as root, like runc, before the rootfs may turn read-only.
		dir, err := securejoin.SecureJoin(p.rootfs, cwd)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cwd: %w", err)
		}
	}
	return nil
}

// finishRootfs runs after pivot_root: propagation, sysctls (before
// /proc/sys turns read-only), masked and read-only paths, read-only root.
func (p *initProc) finishRootfs() error {
	if f, ok := propagationFlag[p.spec.Linux.RootfsPropagation]; ok {
		if err := mount("", "/", "", f, ""); err != nil {
			return err
		}
	}
	netByParent := hostNetSysctls(p.spec, nsPlan{userns: inUserNS})
	for k, v := range p.spec.Linux.Sysctl {
		if _, ok := netByParent[k]; ok {
			continue // written by the parent (see startIn)
		}
		if err := writeSysctl(k, v); err != nil {
			return err
		}
	}
	for _, path := range p.spec.Linux.MaskedPaths {
		if err := maskPath(path); err != nil {
			return fmt.Errorf("mask %s: %w", path, err)
		}
	}
	for _, path := range p.spec.Linux.ReadonlyPaths {
		if err := readonlyPath(path); err != nil {
			return fmt.Errorf("make %s read-only: %w", path, err)
		}
	}
	if p.spec.Root.Readonly {
		if err := remountRO("/"); err != nil {
			return err
		}
	}
	return nil
}

func (p *initProc) setHostname() error {
	if _, ok := p.ns(specs.UTSNamespace); !ok {
		return nil
	}
	if h := p.spec.Hostname; h != "" {
		if err := unix.Sethostname([]byte(h)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if d := p.spec.Domainname; d != "" {
		if err := unix.Setdomainname([]byte(d)); err != nil {
			return fmt.Errorf("setdomainname: %w", err)
		}
	}
	return nil
}

var rlimitNumber = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// clampRlimit keeps a requested limit within the current hard limit:
// raising it needs CAP_SYS_RESOURCE, which berth may not have.
func clampRlimit(want specs.POSIXRlimit, cur unix.Rlimit) unix.Rlimit {
	r := unix.Rlimit{Cur: want.Soft, Max: want.Hard}
	if r.Max > cur.Max {
		r.Max = cur.Max
	}
	if r.Cur > r.Max {
		r.Cur = r.Max
	}
	return r
}

func (p *initProc) setRlimits() error {
	for _, rl := range p.spec.Process.Rlimits {
		res, ok := rlimitNumber[rl.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %q", rl.Type)
		}
		var cur unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &cur); err != nil {
			return fmt.Errorf("get %s: %w", rl.Type, err)
		}
		r := clampRlimit(rl, cur)
		if err := unix.Prlimit(0, res, &r, nil); err != nil {
			return fmt.Errorf("set %s: %w", rl.Type, err)
		}
	}
	return nil
}

// setupConsole opens a pty in the container's own devpts, makes the slave
// the controlling terminal, stdio and /dev/console, and keeps the master to
// send to the parent.
func (p *initProc) setupConsole() error {
	if !p.spec.Process.Terminal {
		return nil
	}
	slave, slavePath, err := p.openPty()
	if err != nil {
		return err
	}
	defer unix.Close(slave)
	if err := mkTarget("/dev/console", false); err != nil {
		return err
	}
	if err := mount(slavePath, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return err
	}
	return ctty(slave)
}

// openPty opens a pty in the devpts of our mount namespace, keeps the
// master in p.console and returns the slave, owned by the process's user
// and sized as the spec says.
func (p *initProc) openPty() (slave int, slavePath string, err error) {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open /dev/ptmx: %w", err)
	}
	p.console = master
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return -1, "", fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		return -1, "", fmt.Errorf("get pty number: %w", err)
	}
	slavePath = "/dev/pts/" + strconv.Itoa(int(n))
	slave, err = unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open %s: %w", slavePath, err)
	}
	if u := p.spec.Process.User.UID; u != 0 {
		if err := unix.Fchown(slave, int(u), -1); err != nil {
			unix.Close(slave)
			return -1, "", fmt.Errorf("chown %s: %w", slavePath, err)
		}
	}
	if ws := p.spec.Process.ConsoleSize; ws != nil {
		unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(ws.Height), Col: uint16(ws.Width)})
	}
	return slave, slavePath, nil
}

// ctty makes the pty slave our controlling terminal and fds 0-2.
func ctty(slave int) error {
	if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("dup pty to fd %d: %w", fd, err)
		}
	}
	return nil
}

// setUser switches the thread to the spec's user with its capabilities:
// bounding set first (needs CAP_SETPCAP), then groups, gid and uid with
// PR_SET_KEEPCAPS so the permitted set survives, then capset.
func (p *initProc) setUser() error {
	u := p.spec.Process.User
	var c caps
	hasCaps := p.spec.Process.Capabilities != nil
	if hasCaps {
		last := lastCap()
		have, err := currentPermitted()
		if err != nil {
			return err
		}
		c = planCaps(p.spec.Process.Capabilities, last).within(have)
		if err := dropBounding(c, last); err != nil {
			return err
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set keepcaps: %w", err)
		}
	}
	// Raw syscalls: these change this thread only, the one that execs
	// (Go's wrappers would change every thread, which is not needed).
	groups := make([]uint32, len(u.AdditionalGids))
	copy(groups, u.AdditionalGids)
	var gp unsafe.Pointer
	if len(groups) > 0 {
		gp = unsafe.Pointer(&groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(gp), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	if !hasCaps {
		return nil
	}
	if err := setCaps(c); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	return nil
}

func (p *initProc) setCwd() error {
	cwd := p.spec.Process.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", cwd, err)
	}
	return nil
}

// defaultPath is Docker's PATH for a process whose env sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath resolves the program in the container's PATH as the user it runs
// as; the errors read as Docker's (`exec: "x": executable file not found in
// $PATH`). HOME is added from /etc/passwd when the env lacks it, as runc does.
func (p *initProc) lookPath() error {
	p.env = p.spec.Process.Env
	path, home := defaultPath, false
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
		home = home || strings.HasPrefix(kv, "HOME=")
	}
	if !home {
		p.env = append(p.env[:len(p.env):len(p.env)], "HOME="+homeOf(p.spec.Process.User.UID))
	}
	os.Setenv("PATH", path)
	arg0 := p.spec.Process.Args[0]
	found, err := exec.LookPath(arg0)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(found); err == nil && fi.IsDir() {
		return &exec.Error{Name: arg0, Err: fmt.Errorf("is a directory: %w", fs.ErrPermission)}
	}
	p.path = found
	return nil
}

// homeOf finds uid's home in the container's /etc/passwd; "/" if none.
func homeOf(uid uint32) string {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "/"
	}
	want := strconv.FormatUint(uint64(uid), 10)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 6 && f[2] == want && f[5] != "" {
			return f[5]
		}
	}
	return "/"
}

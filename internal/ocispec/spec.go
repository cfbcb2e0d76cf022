package ocispec

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Input is everything Build needs to describe one container.
type Input struct {
	ID string
	// Config is already merged with the image's config by the engine.
	Config     *container.Config
	HostConfig *container.HostConfig
	// Rootfs is the absolute path of the mounted rootfs (root.path).
	Rootfs string
	// Files are the host paths of the generated files to bind-mount; an
	// empty path is not mounted.
	Files Files
	// CgroupParent is the daemon's default (--cgroup-parent):
	// "" gives the relative "berth/<id>", nested under the runtime's own
	// cgroup; "/x" gives "/x/<id>". HostConfig.CgroupParent wins over it.
	CgroupParent string
	// HostCapBounding is the daemon's own bounding set. --privileged and
	// --cap-add ALL grant exactly it; 0 means read /proc/self/status.
	HostCapBounding uint64

	// CgroupV2 says the host uses the unified hierarchy. It picks the cgroup
	// namespace when HostConfig.CgroupnsMode is empty, as dockerd does at
	// create (private on v2; host on v1).
	CgroupV2 bool
	// NoNewPrivileges is the daemon default (--no-new-privileges);
	// --security-opt no-new-privileges[=bool] overrides it.
	NoNewPrivileges bool
	// NetNSPath, when set, is a network namespace to join instead of
	// creating one (bridge networking prepares it; container:<id> mode).
	NetNSPath string
	// VolumeSources maps a container destination to the host directory of
	// the volume the engine resolved for it (named -v/--mount volumes,
	// anonymous ones, and the image's VOLUMEs). A named or anonymous user
	// volume without an entry is an error; an image VOLUME without one is
	// left unmounted.
	VolumeSources map[string]string
	// ExtraMounts are mounts the engine resolved beyond the host config's
	// (--volumes-from: binds of the other container's volume paths and
	// binds); each is skipped when a user mount has its destination.
	ExtraMounts []UserMount
	// HostDevices lists the host's devices for --privileged; nil walks /dev.
	HostDevices func() ([]specs.LinuxDevice, error)
	// SysctlExists says whether a sysctl exists on the host, for Docker's
	// default network sysctls; nil looks under /proc/sys.
	SysctlExists func(name string) bool
	// Opts run last, in order, on the built spec (the seccomp profile, ...).
	Opts []SpecOpt
}

// Files are the host paths of the generated files.
type Files struct{ Hostname, Hosts, ResolvConf string }

// SpecOpt amends a built spec.
type SpecOpt func(s *specs.Spec, in *Input) error

// Build describes the container as an OCI runtime spec with Docker's
// defaults. It reads nothing but the rootfs's /etc/passwd and /etc/group
// (and, for --privileged, the host's devices); it writes nothing.
func Build(in Input) (*specs.Spec, error) {
	cfg, hc := in.Config, in.HostConfig
	if cfg == nil || hc == nil {
		return nil, errdefs.InvalidArgumentf("build spec for %s: missing config", in.ID)
	}
	if !filepath.IsAbs(in.Rootfs) {
		return nil, errdefs.InvalidArgumentf("build spec for %s: rootfs %q is not absolute", in.ID, in.Rootfs)
	}
	if err := validate(cfg, hc, false); err != nil {
		return nil, err
	}
	sec, err := parseSecurityOpts(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}
	proc, err := process(in, sec)
	if err != nil {
		return nil, err
	}
	s := &specs.Spec{
		Version:  specs.Version,
		Process:  proc,
		Root:     &specs.Root{Path: in.Rootfs, Readonly: hc.ReadonlyRootfs},
		Hostname: cfg.Hostname,
		Linux: &specs.Linux{
			Sysctl:            map[string]string{},
			CgroupsPath:       cgroupsPath(in),
			RootfsPropagation: "rprivate",
			Devices:           []specs.LinuxDevice{},
		},
	}
	if cfg.Domainname != "" {
		// As dockerd does: the sysctl has setdomainname(2)'s effect and
		// every runtime knows it (runc 1.1 ignores the domainname field).
		s.Linux.Sysctl["kernel.domainname"] = cfg.Domainname
	}
	if len(hc.Annotations) > 0 {
		s.Annotations = maps.Clone(hc.Annotations)
	}
	if err := setNamespaces(s, in); err != nil {
		return nil, err
	}
	if err := setMounts(s, in, sec); err != nil {
		return nil, err
	}
	if err := setResources(s, in); err != nil {
		return nil, err
	}
	setSysctls(s, in)
	for _, o := range in.Opts {
		if err := o(s, &in); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// process describes the container's init process.
func process(in Input, sec securityOpts) (*specs.Process, error) {
	cfg, hc := in.Config, in.HostConfig
	args, err := Args(cfg)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(hc.CapAdd, hc.CapDrop, hc.Privileged, bounding(in.HostCapBounding))
	if err != nil {
		return nil, err
	}
	usr, home, err := resolveUser(in.Rootfs, cfg.User, hc.GroupAdd)
	if err != nil {
		return nil, err
	}
	if hc.Umask != nil {
		u := *hc.Umask
		usr.Umask = &u
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	oom := hc.OomScoreAdj
	p := &specs.Process{
		Terminal: cfg.Tty,
		User:     usr,
		Args:     args,
		Env:      Env(cfg, home),
		Cwd:      filepath.Clean(cwd),
		Capabilities: &specs.LinuxCapabilities{
			Bounding:  caps,
			Effective: slices.Clone(caps),
			Permitted: slices.Clone(caps),
		},
		Rlimits:         rlimits(hc.Ulimits),
		NoNewPrivileges: in.NoNewPrivileges,
		OOMScoreAdj:     &oom,
	}
	if sec.noNewPrivileges != nil {
		p.NoNewPrivileges = *sec.noNewPrivileges
	}
	if cfg.Tty && (hc.ConsoleSize[0] > 0 || hc.ConsoleSize[1] > 0) {
		p.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}
	return p, nil
}

// bounding is the daemon's bounding set: given, else read, else every
// capability the package knows.
func bounding(given uint64) uint64 {
	if given != 0 {
		return given
	}
	if b, err := CurrentCapBounding(); err == nil {
		return b
	}
	return 1<<len(capNames) - 1
}

// cgroupsPath places the container's cgroup under the per-container
// parent, else the daemon's, else the relative "berth".
func cgroupsPath(in Input) string {
	parent := in.HostConfig.CgroupParent
	if parent == "" {
		parent = in.CgroupParent
	}
	if parent == "" {
		parent = "berth"
	}
	return filepath.Join(parent, in.ID)
}

func rlimits(ulimits []*container.Ulimit) []specs.POSIXRlimit {
	var out []specs.POSIXRlimit
	for _, u := range ulimits {
		if u == nil {
			continue
		}
		out = append(out, specs.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(u.Name),
			Soft: uint64(u.Soft),
			Hard: uint64(u.Hard),
		})
	}
	return out
}

// securityOpts is what Build uses of --security-opt.
type securityOpts struct {
	noNewPrivileges *bool
	writableCgroups bool
	seccomp         string // profile path/JSON or "unconfined"; applied by a SpecOpt
	apparmor        string
}

// parseSecurityOpts checks --security-opt values as dockerd does.
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var s securityOpts
	for _, opt := range opts {
		switch opt {
		case "no-new-privileges":
			t := true
			s.noNewPrivileges = &t
			continue
		case "disable":
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			return s, errdefs.InvalidArgumentf("invalid --security-opt 1: %q", opt)
		}
		switch k {
		case "label":
		case "apparmor":
			s.apparmor = v
		case "seccomp":
			s.seccomp = v
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, errdefs.InvalidArgumentf("invalid --security-opt 2: %q", opt)
			}
			s.noNewPrivileges = &b
		case "writable-cgroups":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, errdefs.InvalidArgumentf("invalid --security-opt 2: %q", opt)
			}
			s.writableCgroups = b
		default:
			return s, errdefs.InvalidArgumentf("invalid --security-opt 2: %q", opt)
		}
	}
	return s, nil
}

// SeccompProfile returns the value of --security-opt seccomp=..., if any,
// for the option that installs the profile.
func SeccompProfile(hc *container.HostConfig) string {
	s, _ := parseSecurityOpts(hc.SecurityOpt)
	return s.seccomp
}

var networkFiles = []struct {
	dest string
	src  func(Files) string
}{
	{"/etc/resolv.conf", func(f Files) string { return f.ResolvConf }},
	{"/etc/hostname", func(f Files) string { return f.Hostname }},
	{"/etc/hosts", func(f Files) string { return f.Hosts }},
}

// setMounts lays out the mounts as dockerd does: its defaults (less those
// a user mount replaces), then the user's mounts and the generated files,
// parents before children; and the masked and read-only paths.
func setMounts(s *specs.Spec, in Input, sec securityOpts) error {
	hc := in.HostConfig
	ums, err := UserMounts(hc)
	if err != nil {
		return err
	}
	user, err := userMounts(in, ums)
	if err != nil {
		return err
	}
	s.Mounts = append(defaultMountsFor(hc, sec, user), user...)

	// Shared or slave binds need a matching rootfs propagation.
	for _, um := range ums {
		switch um.Propagation {
		case mount.PropagationShared, mount.PropagationRShared:
			s.Linux.RootfsPropagation = "shared"
		case mount.PropagationSlave, mount.PropagationRSlave:
			if s.Linux.RootfsPropagation != "shared" {
				s.Linux.RootfsPropagation = "rslave"
			}
		}
	}

	if !hc.Privileged {
		s.Linux.MaskedPaths = DefaultMaskedPaths()
		if hc.MaskedPaths != nil {
			s.Linux.MaskedPaths = slices.Clone(hc.MaskedPaths)
		}
		s.Linux.ReadonlyPaths = DefaultReadonlyPaths()
		if hc.ReadonlyPaths != nil {
			s.Linux.ReadonlyPaths = slices.Clone(hc.ReadonlyPaths)
		}
	}
	return nil
}

func hasMount(ms []specs.Mount, dest string) bool {
	return slices.ContainsFunc(ms, func(m specs.Mount) bool { return m.Destination == dest })
}

// userMounts are the user's mounts, the image's resolved VOLUMEs and the
// generated files (unless the user mounts over them), parents first.
func userMounts(in Input, ums []UserMount) ([]specs.Mount, error) {
	var user []specs.Mount
	for _, um := range ums {
		m, ok, err := ociMount(um, in.VolumeSources)
		if err != nil {
			return nil, err
		}
		if ok {
			user = append(user, m)
		}
	}
	for _, um := range in.ExtraMounts {
		if hasMount(user, um.Destination) {
			continue
		}
		m, _, err := ociMount(um, in.VolumeSources)
		if err != nil {
			return nil, err
		}
		user = append(user, m)
	}
	for _, m := range user {
		if err := checkProcMount(m.Destination); err != nil {
			return nil, err
		}
	}
	for _, dest := range sortedKeys(in.Config.Volumes) {
		dest = filepath.Clean(dest)
		if src, ok := in.VolumeSources[dest]; ok && !hasMount(user, dest) {
			user = append(user, specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"rbind"}})
		}
	}
	for _, nf := range networkFiles {
		src := nf.src(in.Files)
		if src == "" || hasMount(user, nf.dest) {
			continue
		}
		opts := []string{"rbind"}
		if in.HostConfig.ReadonlyRootfs {
			opts = append(opts, "ro")
		}
		opts = append(opts, string(mount.PropagationRPrivate))
		user = append(user, specs.Mount{Destination: nf.dest, Type: "bind", Source: src, Options: opts})
	}
	slices.SortStableFunc(user, func(a, b specs.Mount) int { return pathDepth(a.Destination) - pathDepth(b.Destination) })
	return user, nil
}

// defaultMountsFor adapts dockerd's default mounts to the host config:
// those the user mounts over go (all of /dev/* with a user /dev), /dev/shm
// gets its size or goes with --ipc none, --read-only makes the rest
// read-only, --privileged makes /sys and the cgroups writable.
func defaultMountsFor(hc *container.HostConfig, sec securityOpts, user []specs.Mount) []specs.Mount {
	devMounted := hasMount(user, "/dev")
	var mounts []specs.Mount
	for _, m := range defaultMounts() {
		if hasMount(user, m.Destination) || (devMounted && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		if m.Destination == "/dev/shm" {
			if hc.IpcMode.IsNone() {
				continue
			}
			size := hc.ShmSize
			if size == 0 {
				size = DefaultShmSize
			}
			m.Options = append(m.Options, "size="+formatSize(size))
		}
		if hc.ReadonlyRootfs {
			switch m.Destination {
			case "/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev":
			default:
				if !slices.Contains(m.Options, "ro") {
					m.Options = append(m.Options, "ro")
				}
			}
		}
		if (hc.Privileged && m.Destination == "/sys") ||
			((hc.Privileged || sec.writableCgroups) && m.Type == "cgroup") {
			m.Options = slices.DeleteFunc(m.Options, func(o string) bool { return o == "ro" })
		}
		mounts = append(mounts, m)
	}
	return mounts
}

// ociMount turns a parsed user mount into an OCI mount. ok is false for a
// mount that is skipped.
func ociMount(um UserMount, volumes map[string]string) (specs.Mount, bool, error) {
	switch um.Kind {
	case KindTmpfs:
		opts, err := tmpfsOptions(um.Data)
		if err != nil {
			return specs.Mount{}, false, err
		}
		return specs.Mount{Destination: um.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts}, true, nil
	case KindVolume:
		src, ok := volumes[um.Destination]
		if !ok {
			name := um.Source
			if name == "" {
				name = "(anonymous)"
			}
			return specs.Mount{}, false, errdefs.NotImplementedf("volume %s at %s: volumes are not resolved yet", name, um.Destination)
		}
		opts := []string{"rbind"}
		if um.ReadOnly {
			opts = append(opts, "ro")
		}
		return specs.Mount{Destination: um.Destination, Type: "bind", Source: src, Options: opts}, true, nil
	}
	opts := []string{"rbind"}
	if um.NonRecursive {
		opts = []string{"bind"}
	}
	switch {
	case !um.ReadOnly:
	case um.RecursiveRO == RROForce:
		opts = append(opts, "rro")
	case um.RecursiveRO == RROAuto && !um.NonRecursive:
		opts = append(opts, "rro", RROFallback)
	default:
		opts = append(opts, "ro")
	}
	if um.Propagation != "" {
		opts = append(opts, string(um.Propagation))
	}
	return specs.Mount{Destination: um.Destination, Type: "bind", Source: um.Source, Options: opts}, true, nil
}

// DefaultMaskedPaths are the paths dockerd masks in an unprivileged
// container.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/asound",
		"/proc/acpi",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths are the paths dockerd makes read-only in an
// unprivileged container.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func errNotSupported(what string, v any) error {
	return errdefs.NotImplementedf("%s %v is not supported yet", what, v)
}

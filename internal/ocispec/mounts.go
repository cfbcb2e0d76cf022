package ocispec

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// DefaultShmSize is the size of /dev/shm when HostConfig.ShmSize is 0.
const DefaultShmSize = 64 << 20

// defaultMounts are Docker's default mounts, in Docker's order
// (moby daemon/pkg/oci/defaults.go).
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777"}},
	}
}

// MountKind says where a user mount's source comes from.
type MountKind string

// The kinds of user mounts.
const (
	KindBind   MountKind = "bind"   // a host path
	KindVolume MountKind = "volume" // a named or anonymous volume, resolved by the engine
	KindTmpfs  MountKind = "tmpfs"
)

// RecursiveRO says whether a read-only bind's submounts are read-only too
// (--mount bind-recursive=...), with Docker 25's semantics.
type RecursiveRO string

const (
	// RROAuto (bind-recursive=enabled, and -v ...:ro): submounts read-only
	// where the runtime can ("rro"), else left writable.
	RROAuto RecursiveRO = ""
	// RROForce (bind-recursive=readonly): submounts read-only, or fail.
	RROForce RecursiveRO = "force"
	// RROOff (bind-recursive=writable): only the top mount is read-only.
	RROOff RecursiveRO = "off"
)

// RROFallback marks an "rro" a runtime without recursive read-only
// mounts may turn into "ro" (RROAuto); an "rro" without it must fail there.
const RROFallback = "x-berth.rro-fallback"

// UserMount is one parsed -v, --mount or --tmpfs, before it becomes an OCI
// mount.
type UserMount struct {
	Kind         MountKind
	Source       string // host path (bind), volume name ("" = anonymous), unused for tmpfs
	Destination  string // clean absolute path in the container
	ReadOnly     bool
	Propagation  mount.Propagation // binds only; "" for volumes and tmpfs
	NonRecursive bool              // bind: plain MS_BIND instead of rbind
	// RecursiveRO is how a read-only recursive bind treats its submounts.
	RecursiveRO  RecursiveRO
	Data         string // tmpfs options as given ("size=64m,mode=1777")
	CreateSource bool   // -v: a missing host path is created by the engine (--mount fails instead)

	Mode         string            // -v: the mode as given ("ro,rshared"), shown by inspect
	NoCopy       bool              // volume: no copy-up of image content (nocopy, volume-nocopy)
	Subpath      string            // volume: mount this relative path of the volume
	VolumeDriver string            // volume: driver for a volume created on the fly
	VolumeOpts   map[string]string // volume: its driver options
	VolumeLabels map[string]string // volume: its labels
}

var volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

var (
	rwModes          = map[string]bool{"rw": true, "ro": true}
	labelModes       = map[string]bool{"z": true, "Z": true}
	propagationModes = map[mount.Propagation]bool{
		mount.PropagationPrivate: true, mount.PropagationRPrivate: true,
		mount.PropagationSlave: true, mount.PropagationRSlave: true,
		mount.PropagationShared: true, mount.PropagationRShared: true,
	}
	copyModes        = map[string]bool{"nocopy": true}
	consistencyModes = map[string]bool{"consistent": true, "cached": true, "delegated": true, "default": true}
)

func validMountMode(mode string) bool {
	if mode == "" {
		return true
	}
	var rw, label, prop, cp, cons int
	for _, o := range strings.Split(mode, ",") {
		switch {
		case rwModes[o]:
			rw++
		case labelModes[o]:
			label++
		case propagationModes[mount.Propagation(o)]:
			prop++
		case copyModes[o]:
			cp++
		case consistencyModes[o]:
			cons++
		default:
			return false
		}
	}
	return rw <= 1 && label <= 1 && prop <= 1 && cp <= 1 && cons <= 1
}

func errInvalidSpec(raw string) error {
	return fmt.Errorf("invalid volume specification: '%s'", raw)
}

func validateAbsolute(p string) error {
	if path.IsAbs(p) {
		return nil
	}
	return fmt.Errorf("invalid mount path: '%s' mount path must be absolute", p)
}

func validateNotRoot(p string) error {
	if path.Clean(p) == "/" {
		return fmt.Errorf("invalid specification: destination can't be '/'")
	}
	return nil
}

// ParseBind parses one HostConfig.Binds entry (`-v src:dst[:mode]` or the
// anonymous `-v dst`), with Docker's rules and messages.
func ParseBind(raw string) (UserMount, error) {
	var m UserMount
	arr := strings.SplitN(raw, ":", 4)
	if arr[0] == "" {
		return m, errdefs.With(errdefs.InvalidArgument, errInvalidSpec(raw))
	}
	var mode string
	switch len(arr) {
	case 1:
		m.Destination = arr[0]
	case 2:
		if validMountMode(arr[1]) {
			// "/foo:rw": a destination with a mode is not a volume.
			return m, errdefs.With(errdefs.InvalidArgument, errInvalidSpec(raw))
		}
		m.Source, m.Destination = arr[0], arr[1]
	case 3:
		m.Source, m.Destination, mode = arr[0], arr[1], arr[2]
	default:
		return m, errdefs.With(errdefs.InvalidArgument, errInvalidSpec(raw))
	}
	if !validMountMode(mode) {
		return m, errdefs.InvalidArgumentf("invalid mode: %v", mode)
	}
	m.Kind, m.Mode = KindVolume, mode
	if path.IsAbs(m.Source) {
		m.Kind = KindBind
		m.CreateSource = true
		m.Propagation = mount.PropagationRPrivate
	}
	for _, o := range strings.Split(mode, ",") {
		switch {
		case o == "ro":
			m.ReadOnly = true
		case o == "nocopy":
			m.NoCopy = m.Kind == KindVolume
		case propagationModes[mount.Propagation(o)]:
			if m.Kind == KindBind {
				m.Propagation = mount.Propagation(o)
			}
		}
	}
	wrap := func(err error) error {
		return errdefs.InvalidArgumentf("%v: invalid mount config for type %q: %v", errInvalidSpec(raw), m.Kind, err)
	}
	if err := validateNotRoot(m.Destination); err != nil {
		return m, wrap(err)
	}
	if err := validateAbsolute(m.Destination); err != nil {
		return m, wrap(err)
	}
	m.Destination = path.Clean(m.Destination)
	if m.Kind == KindBind {
		m.Source = path.Clean(m.Source)
	} else if m.Source != "" && !volumeNameRE.MatchString(m.Source) {
		// What dockerd's local volume driver answers for "./dir" and
		// the like.
		return m, errdefs.InvalidArgumentf("create %s: %q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", m.Source, m.Source, "[a-zA-Z0-9][a-zA-Z0-9_.-]")
	}
	return m, nil
}

// ParseMount checks one HostConfig.Mounts entry (--mount) with Docker's
// rules and messages. The bind source's existence is checked by Validate.
func ParseMount(mnt mount.Mount) (UserMount, error) {
	fail := func(err error) (UserMount, error) {
		return UserMount{}, errdefs.InvalidArgumentf("invalid mount config for type %q: %v", mnt.Type, err)
	}
	if mnt.Target == "" {
		return fail(fmt.Errorf("field Target must not be empty"))
	}
	if err := validateNotRoot(mnt.Target); err != nil {
		return fail(err)
	}
	if err := validateAbsolute(mnt.Target); err != nil {
		return fail(err)
	}
	m := UserMount{Destination: path.Clean(mnt.Target), ReadOnly: mnt.ReadOnly}
	switch mnt.Type {
	case mount.TypeBind:
		if mnt.Source == "" {
			return fail(fmt.Errorf("field Source must not be empty"))
		}
		if mnt.VolumeOptions != nil {
			return fail(fmt.Errorf("field VolumeOptions must not be specified"))
		}
		if mnt.TmpfsOptions != nil {
			return fail(fmt.Errorf("field TmpfsOptions must not be specified"))
		}
		if err := validateAbsolute(mnt.Source); err != nil {
			return fail(err)
		}
		m.Kind, m.Source, m.Propagation = KindBind, path.Clean(mnt.Source), mount.PropagationRPrivate
		if o := mnt.BindOptions; o != nil {
			if o.Propagation != "" {
				if !propagationModes[o.Propagation] {
					return fail(fmt.Errorf("invalid propagation mode: %s", o.Propagation))
				}
				m.Propagation = o.Propagation
			}
			m.NonRecursive = o.NonRecursive
			m.CreateSource = o.CreateMountpoint
			if o.ReadOnlyNonRecursive {
				if !mnt.ReadOnly {
					return fail(fmt.Errorf("option ReadOnlyNonRecursive requires ReadOnly"))
				}
				m.RecursiveRO = RROOff
			}
			if o.ReadOnlyForceRecursive {
				if !mnt.ReadOnly {
					return fail(fmt.Errorf("option ReadOnlyForceRecursive requires ReadOnly"))
				}
				if o.ReadOnlyNonRecursive {
					return fail(fmt.Errorf("option ReadOnlyForceRecursive conflicts with ReadOnlyNonRecursive"))
				}
				if o.NonRecursive {
					return fail(fmt.Errorf("option ReadOnlyForceRecursive conflicts with NonRecursive"))
				}
				m.RecursiveRO = RROForce
			}
		}
	case mount.TypeVolume:
		if mnt.BindOptions != nil {
			return fail(fmt.Errorf("field BindOptions must not be specified"))
		}
		if mnt.TmpfsOptions != nil {
			return fail(fmt.Errorf("field TmpfsOptions must not be specified"))
		}
		m.Kind, m.Source = KindVolume, mnt.Source
		if o := mnt.VolumeOptions; o != nil {
			if o.Subpath != "" {
				if mnt.Source == "" {
					return fail(fmt.Errorf("must not set Subpath when using anonymous volumes"))
				}
				if !filepath.IsLocal(o.Subpath) {
					return fail(fmt.Errorf("subpath must be a relative path within the volume"))
				}
			}
			m.NoCopy, m.Subpath, m.VolumeLabels = o.NoCopy, o.Subpath, o.Labels
			if o.DriverConfig != nil {
				m.VolumeDriver, m.VolumeOpts = o.DriverConfig.Name, o.DriverConfig.Options
			}
		}
		if mnt.Source != "" && !volumeNameRE.MatchString(mnt.Source) {
			return UserMount{}, errdefs.InvalidArgumentf("create %s: %q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", mnt.Source, mnt.Source, "[a-zA-Z0-9][a-zA-Z0-9_.-]")
		}
	case mount.TypeTmpfs:
		if mnt.BindOptions != nil {
			return fail(fmt.Errorf("field BindOptions must not be specified"))
		}
		if mnt.VolumeOptions != nil {
			return fail(fmt.Errorf("field VolumeOptions must not be specified"))
		}
		if mnt.Source != "" {
			return fail(fmt.Errorf("field Source must not be specified"))
		}
		data, err := tmpfsData(mnt.TmpfsOptions, mnt.ReadOnly)
		if err != nil {
			return fail(err)
		}
		m.Kind, m.Data = KindTmpfs, data
		m.ReadOnly = false // carried in Data
	default:
		if mnt.Type == "" {
			return fail(fmt.Errorf("mount type unknown"))
		}
		return UserMount{}, errdefs.NotImplementedf("mount type %q is not supported", mnt.Type)
	}
	return m, nil
}

// tmpfsData renders --mount type=tmpfs options as a --tmpfs data string.
func tmpfsData(opt *mount.TmpfsOptions, readOnly bool) (string, error) {
	var raw []string
	if readOnly {
		raw = append(raw, "ro")
	}
	if opt != nil && opt.Mode != 0 {
		raw = append(raw, fmt.Sprintf("mode=%o", opt.Mode))
	}
	if opt != nil && opt.SizeBytes != 0 {
		size, suffix := opt.SizeBytes, ""
		for _, r := range []struct {
			suffix  string
			divisor int64
		}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
			if size%r.divisor == 0 {
				size, suffix = size/r.divisor, r.suffix
				break
			}
		}
		raw = append(raw, fmt.Sprintf("size=%d%s", size, suffix))
	}
	if opt != nil {
		for _, o := range opt.Options {
			if len(o) < 1 || len(o) > 2 {
				return "", fmt.Errorf("invalid option array length")
			}
			if o[0] != "exec" && o[0] != "noexec" {
				return "", fmt.Errorf("invalid option: %s", o[0])
			}
			raw = append(raw, strings.Join(o, "="))
		}
	}
	return strings.Join(raw, ","), nil
}

// mountFlagKeys groups the mount flags whose later occurrence overrides an
// earlier one (moby/sys/mount MergeTmpfsOptions): "ro" and "rw" share a
// key, all propagation modes share one.
var mountFlagKeys = map[string]string{
	"ro": "rdonly", "rw": "rdonly",
	"suid": "nosuid", "nosuid": "nosuid",
	"dev": "nodev", "nodev": "nodev",
	"exec": "noexec", "noexec": "noexec",
	"sync": "sync", "async": "sync",
	"dirsync": "dirsync", "remount": "remount",
	"mand": "mand", "nomand": "mand",
	"atime": "noatime", "noatime": "noatime",
	"diratime": "nodiratime", "nodiratime": "nodiratime",
	"bind": "bind", "rbind": "rbind",
	"relatime": "relatime", "norelatime": "relatime",
	"strictatime": "strictatime", "nostrictatime": "strictatime",
	"unbindable": "prop", "runbindable": "prop", "private": "prop", "rprivate": "prop",
	"shared": "prop", "rshared": "prop", "slave": "prop", "rslave": "prop",
}

var tmpfsDataKeys = map[string]bool{"size": true, "mode": true, "uid": true, "gid": true, "nr_inodes": true, "nr_blocks": true, "mpol": true}

// mergeTmpfsOptions dedups options so that the last of each kind wins,
// keeping the order of the survivors.
func mergeTmpfsOptions(options []string) ([]string, error) {
	seen := make(map[string]bool)
	var out []string
	for i := len(options) - 1; i >= 0; i-- {
		o := options[i]
		if o == "defaults" || o == "" {
			continue
		}
		key, isFlag := mountFlagKeys[o]
		if !isFlag {
			k, _, ok := strings.Cut(o, "=")
			if !ok || !tmpfsDataKeys[k] {
				return nil, errdefs.InvalidArgumentf("invalid tmpfs option %q", strings.SplitN(o, "=", 2))
			}
			key = "data:" + k
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, o)
		}
	}
	slices.Reverse(out)
	return out, nil
}

// tmpfsOptions are the OCI options of a --tmpfs mount: Docker's defaults,
// then the user's, merged.
func tmpfsOptions(data string) ([]string, error) {
	opts := []string{"noexec", "nosuid", "nodev", string(mount.PropagationRPrivate)}
	if data != "" {
		opts = append(opts, strings.Split(data, ",")...)
	}
	return mergeTmpfsOptions(opts)
}

// ParseTmpfs checks HostConfig.Tmpfs and returns its mounts, ordered by
// destination.
func ParseTmpfs(tmpfs map[string]string) ([]UserMount, error) {
	var out []UserMount
	for _, dst := range slices.Sorted(maps.Keys(tmpfs)) {
		if err := validateNotRoot(dst); err != nil {
			return nil, errdefs.With(errdefs.InvalidArgument, err)
		}
		if err := validateAbsolute(dst); err != nil {
			return nil, errdefs.With(errdefs.InvalidArgument, err)
		}
		if _, err := tmpfsOptions(tmpfs[dst]); err != nil {
			return nil, err
		}
		out = append(out, UserMount{Kind: KindTmpfs, Destination: path.Clean(dst), Data: tmpfs[dst]})
	}
	return out, nil
}

// UserMounts parses every user mount of hc in Docker's order: binds, then
// --mount entries, then --tmpfs; a destination used twice is an error.
func UserMounts(hc *container.HostConfig) ([]UserMount, error) {
	var out []UserMount
	seen := make(map[string]bool)
	add := func(m UserMount) error {
		if seen[m.Destination] {
			return errdefs.InvalidArgumentf("Duplicate mount point: %s", m.Destination)
		}
		seen[m.Destination] = true
		out = append(out, m)
		return nil
	}
	for _, b := range hc.Binds {
		m, err := ParseBind(b)
		if err != nil {
			return nil, err
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for _, mnt := range hc.Mounts {
		m, err := ParseMount(mnt)
		if err != nil {
			return nil, err
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	tm, err := ParseTmpfs(hc.Tmpfs)
	if err != nil {
		return nil, err
	}
	for _, m := range tm {
		if err := add(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pathDepth orders mounts so that parents mount before children (Docker
// sorts by the number of path elements).
func pathDepth(p string) int {
	return len(strings.Split(path.Clean(p), "/"))
}

func formatSize(n int64) string { return strconv.FormatInt(n, 10) }

// procMountAllowed are the /proc files runc lets a bind cover (lxcfs and
// the like).
var procMountAllowed = map[string]bool{
	"/proc/cpuinfo": true, "/proc/diskstats": true, "/proc/meminfo": true, "/proc/stat": true,
	"/proc/swaps": true, "/proc/uptime": true, "/proc/loadavg": true, "/proc/slabinfo": true,
	"/proc/net/dev": true, "/proc/sys/kernel/ns_last_pid": true,
}

// checkProcMount refuses a user mount on /proc or inside it, as runc does
// (docker run -v /x:/proc fails to start with this message).
func checkProcMount(dest string) error {
	switch {
	case dest == "/proc":
		return fmt.Errorf("invalid mount destination %s: %q cannot be mounted because it is not of type proc", dest, dest)
	case strings.HasPrefix(dest, "/proc/") && !procMountAllowed[dest]:
		return fmt.Errorf("invalid mount destination %s: %q cannot be mounted because it is inside /proc", dest, dest)
	}
	return nil
}

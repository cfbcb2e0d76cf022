package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The host's cgroup modes, as Mode reports them.
const (
	ModeV1     = "v1"     // only v1 hierarchies
	ModeHybrid = "hybrid" // v1 controllers plus a v2 hierarchy (usually /sys/fs/cgroup/unified)
	ModeV2     = "v2"     // /sys/fs/cgroup is the unified v2 hierarchy
)

// evacLeaf is the leaf that the caller's own v2 cgroup is emptied into when
// it must delegate controllers to its children (see the package doc).
const evacLeaf = "berth-daemon"

// hierarchy is one mounted cgroup hierarchy and the calling process's place
// in it.
type hierarchy struct {
	// Controllers of a v1 hierarchy as /proc/self/cgroup names them
	// ("cpu", "cpuacct", "name=systemd"); nil for the v2 hierarchy.
	Controllers []string
	Mountpoint  string // where it is mounted
	Root        string // the cgroup the mount shows at Mountpoint (mountinfo field 4)
	Own         string // the caller's cgroup, from /proc/self/cgroup
}

// v2 reports whether h is the unified hierarchy.
func (h *hierarchy) v2() bool { return h.Controllers == nil }

// layout is the host's cgroup layout as seen by this process.
type layout struct {
	Mode string
	V1   []*hierarchy // v1 hierarchies in /proc/self/cgroup order
	// Unified is the v2 hierarchy (v2 and hybrid modes), or nil.
	Unified *hierarchy
	// UnifiedControllers are the controllers the unified hierarchy's root
	// offers (its cgroup.controllers): all of them in v2 mode, the ones no
	// v1 hierarchy has bound in hybrid mode (hugetlb on this kind of host).
	UnifiedControllers []string
}

var (
	hostOnce   sync.Once
	hostLayout *layout
	hostErr    error
)

// host returns the layout of this process, read once: mountinfo and
// /proc/self/cgroup do not change under a running daemon in ways that
// matter to it, and a container start must not pay for re-reading them.
func host() (*layout, error) {
	hostOnce.Do(func() { hostLayout, hostErr = readHost() })
	return hostLayout, hostErr
}

func readHost() (*layout, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read cgroup mounts: %w", err)
	}
	defer mi.Close()
	pc, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	defer pc.Close()
	rootIsV2 := false
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		rootIsV2 = true
	}
	l, err := parseLayout(mi, pc, rootIsV2)
	if err != nil {
		return nil, err
	}
	if l.Unified != nil {
		b, err := os.ReadFile(path.Join(l.Unified.Mountpoint, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("read unified controllers: %w", err)
		}
		for _, c := range strings.Fields(string(b)) {
			if l.v1For(c) == nil {
				l.UnifiedControllers = append(l.UnifiedControllers, c)
			}
		}
	}
	return l, nil
}

// parseLayout builds the layout from the text of /proc/self/mountinfo and
// /proc/self/cgroup. rootIsV2 says whether /sys/fs/cgroup itself is a
// cgroup2 mount (statfs magic), which makes the host v2 whatever v1
// leftovers (a name=systemd compat mount) are also mounted.
func parseLayout(mountinfoText, procCgroup io.Reader, rootIsV2 bool) (*layout, error) {
	mounts, err := mountinfo.GetMountsFromReader(mountinfoText, mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	own, err := parseProcCgroup(procCgroup)
	if err != nil {
		return nil, err
	}
	l := &layout{}
	for _, e := range own {
		if e.controllers == nil {
			m := findV2Mount(mounts, rootIsV2)
			if m == nil {
				continue
			}
			l.Unified = &hierarchy{Mountpoint: m.Mountpoint, Root: m.Root, Own: e.path}
			continue
		}
		if rootIsV2 {
			continue
		}
		m := findV1Mount(mounts, e.controllers)
		if m == nil {
			continue // a hierarchy this mount namespace does not show
		}
		l.V1 = append(l.V1, &hierarchy{Controllers: e.controllers, Mountpoint: m.Mountpoint, Root: m.Root, Own: e.path})
	}
	switch {
	case rootIsV2 && l.Unified != nil:
		l.Mode = ModeV2
	case len(l.V1) > 0 && l.Unified != nil:
		l.Mode = ModeHybrid
	case len(l.V1) > 0:
		l.Mode = ModeV1
	case l.Unified != nil:
		l.Mode = ModeV2
	default:
		return nil, fmt.Errorf("no cgroup hierarchy mounted")
	}
	return l, nil
}

type procCgroupEntry struct {
	controllers []string // nil for the v2 line "0::/path"
	path        string
}

func parseProcCgroup(r io.Reader) ([]procCgroupEntry, error) {
	var out []procCgroupEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("parse /proc/self/cgroup: bad line %q", line)
		}
		e := procCgroupEntry{path: parts[2]}
		if parts[1] != "" {
			e.controllers = strings.Split(parts[1], ",")
		} else if parts[0] != "0" {
			continue // a v1 hierarchy without controllers or name
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	return out, nil
}

func findV1Mount(mounts []*mountinfo.Info, controllers []string) *mountinfo.Info {
	for _, m := range mounts {
		if m.FSType != "cgroup" {
			continue
		}
		opts := strings.Split(m.VFSOptions, ",")
		ok := true
		for _, c := range controllers {
			if !slices.Contains(opts, c) {
				ok = false
				break
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

func findV2Mount(mounts []*mountinfo.Info, rootIsV2 bool) *mountinfo.Info {
	var found *mountinfo.Info
	for _, m := range mounts {
		if m.FSType != "cgroup2" {
			continue
		}
		if rootIsV2 && m.Mountpoint == "/sys/fs/cgroup" {
			return m
		}
		if found == nil {
			found = m
		}
	}
	return found
}

// v1For returns the v1 hierarchy holding controller c, or nil.
func (l *layout) v1For(c string) *hierarchy {
	for _, h := range l.V1 {
		if slices.Contains(h.Controllers, c) {
			return h
		}
	}
	return nil
}

// onUnified reports whether controller c is served by the unified
// hierarchy.
func (l *layout) onUnified(c string) bool {
	return l.Unified != nil && l.v1For(c) == nil && slices.Contains(l.UnifiedControllers, c)
}

// Mode reports the host's cgroup mode: ModeV1, ModeHybrid or ModeV2 ("" if
// no hierarchy is mounted).
func Mode() string {
	l, err := host()
	if err != nil {
		return ""
	}
	return l.Mode
}

// Version is docker info's CgroupVersion: "2" on a v2 host, "1" otherwise
// (hybrid hosts keep their controllers on v1).
func Version() string {
	if Mode() == ModeV2 {
		return "2"
	}
	return "1"
}

// Driver is docker info's CgroupDriver: berth writes cgroupfs directly.
func Driver() string { return "cgroupfs" }

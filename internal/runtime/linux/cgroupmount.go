package linux

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// cgroupMount is one hierarchy to show under the container's /sys/fs/cgroup.
type cgroupMount struct {
	sub    string // directory under /sys/fs/cgroup ("" for a pure v2 host)
	fstype string // cgroup or cgroup2
	data   string // v1 controllers to name the hierarchy ("cpu,cpuacct", "name=systemd")
	host   string // host directory of the container's cgroup in it
}

// procCgroup is one line of /proc/self/cgroup.
type procCgroup struct {
	controllers []string // nil for the v2 line
	path        string
}

func parseProcCgroup(text string) []procCgroup {
	var out []procCgroup
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var c []string
		if parts[1] != "" {
			c = strings.Split(parts[1], ",")
		}
		out = append(out, procCgroup{controllers: c, path: parts[2]})
	}
	return out
}

// planCgroupMounts matches the process's cgroups with the host's cgroup
// mounts: the result says what to mount where, as pure data.
func planCgroupMounts(mounts []*mountinfo.Info, own []procCgroup) ([]cgroupMount, error) {
	var plan []cgroupMount
	for _, pc := range own {
		var m *mountinfo.Info
		for _, mi := range mounts {
			if pc.controllers == nil && mi.FSType == "cgroup2" ||
				pc.controllers != nil && mi.FSType == "cgroup" && hasAll(mi.VFSOptions, pc.controllers) {
				if m == nil || !strings.HasPrefix(m.Mountpoint, "/sys/fs/cgroup") {
					m = mi
				}
			}
		}
		if m == nil {
			continue // a hierarchy not mounted on the host: nothing to show
		}
		rel, err := filepath.Rel(m.Root, pc.path)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = "."
		}
		cm := cgroupMount{fstype: m.FSType, data: strings.Join(pc.controllers, ","), host: filepath.Join(m.Mountpoint, rel)}
		if m.Mountpoint != "/sys/fs/cgroup" {
			cm.sub = strings.TrimPrefix(m.Mountpoint, "/sys/fs/cgroup/")
			if strings.Contains(cm.sub, "/") {
				cm.sub = strings.TrimPrefix(cm.data, "name=")
			}
		}
		plan = append(plan, cm)
	}
	if len(plan) == 0 {
		return nil, fmt.Errorf("no cgroup hierarchy mounted")
	}
	return plan, nil
}

func hasAll(superOpts string, want []string) bool {
	have := map[string]bool{}
	for _, o := range strings.Split(superOpts, ",") {
		have[o] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

// mountCgroups shows the container's cgroups at dest. In a cgroup namespace
// each hierarchy is mounted afresh (its root is the container's cgroup);
// without one, the container's directory is bind-mounted from the host. A
// v1 or hybrid host gets a tmpfs at dest holding one directory per
// hierarchy, as runc and Docker lay it out.
func mountCgroups(dest string, o mountOpts, cgroupns bool) error {
	own, err := os.ReadFile("/proc/thread-self/cgroup") // this thread's: init joins its v1 cgroups alone
	if err != nil {
		return err
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return err
	}
	plan, err := planCgroupMounts(mounts, parseProcCgroup(string(own)))
	if err != nil {
		return err
	}
	flags := o.flags &^ (unix.MS_BIND | unix.MS_REC)
	one := func(cm cgroupMount, target string) error {
		if cgroupns {
			return mount(cm.fstype, target, cm.fstype, flags, cm.data)
		}
		if err := mount(cm.host, target, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		return mount("", target, "", lockedFlags(target, flags|unix.MS_BIND|unix.MS_REMOUNT), "")
	}
	if len(plan) == 1 && plan[0].sub == "" {
		return one(plan[0], dest)
	}
	tmpfsFlags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := mount("tmpfs", dest, "tmpfs", tmpfsFlags, "mode=755"); err != nil {
		return err
	}
	for _, cm := range plan {
		target := filepath.Join(dest, cm.sub)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := one(cm, target); err != nil {
			return err
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return mount("", dest, "", tmpfsFlags|unix.MS_RDONLY|unix.MS_REMOUNT, "mode=755")
	}
	return nil
}

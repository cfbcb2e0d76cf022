package cgroups

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

// This host's kind: v1 controllers, hugetlb on a v2 hierarchy at
// /sys/fs/cgroup/unified, the caller in a memory sub-cgroup.
const hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:50 / /mnt/data rw,relatime - ext4 /dev/vdb rw
`

const hybridProcCgroup = `9:name=systemd:/
8:pids:/
4:memory:/process_api/38f7
3:cpuset:/
2:cpu,cpuacct:/svc
7:net_cls,net_prio:/
0::/
`

func TestParseLayoutHybrid(t *testing.T) {
	l, err := parseLayout(strings.NewReader(hybridMountinfo), strings.NewReader(hybridProcCgroup), false)
	if err != nil {
		t.Fatal(err)
	}
	if l.Mode != ModeHybrid {
		t.Fatalf("mode %q, want hybrid", l.Mode)
	}
	// net_cls,net_prio is in /proc/self/cgroup but not mounted: skipped.
	if len(l.V1) != 5 {
		t.Fatalf("got %d v1 hierarchies, want 5: %+v", len(l.V1), l.V1)
	}
	if h := l.v1For("cpuacct"); h == nil || h.Mountpoint != "/sys/fs/cgroup/cpu,cpuacct" || h.Own != "/svc" {
		t.Fatalf("cpuacct hierarchy: %+v", h)
	}
	if l.v1For("net_cls") != nil {
		t.Fatal("net_cls is not mounted but was found")
	}
	if l.Unified == nil || l.Unified.Mountpoint != "/sys/fs/cgroup/unified" {
		t.Fatalf("unified: %+v", l.Unified)
	}

	m, err := newManager(l, "berth/abc")
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, want := range map[string]string{
		"memory":       "/sys/fs/cgroup/memory/process_api/38f7/berth/abc",
		"cpu":          "/sys/fs/cgroup/cpu,cpuacct/svc/berth/abc",
		"cpuacct":      "/sys/fs/cgroup/cpu,cpuacct/svc/berth/abc",
		"pids":         "/sys/fs/cgroup/pids/berth/abc",
		"name=systemd": "/sys/fs/cgroup/systemd/berth/abc",
		"":             "/sys/fs/cgroup/unified/berth/abc",
		"blkio":        "",
	} {
		if got := m.Path(ctrl); got != want {
			t.Errorf("relative Path(%q) = %q, want %q", ctrl, got, want)
		}
	}

	m, err = newManager(l, "/docker/abc")
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, want := range map[string]string{
		"memory": "/sys/fs/cgroup/memory/docker/abc",
		"cpu":    "/sys/fs/cgroup/cpu,cpuacct/docker/abc",
		"":       "/sys/fs/cgroup/unified/docker/abc",
	} {
		if got := m.Path(ctrl); got != want {
			t.Errorf("absolute Path(%q) = %q, want %q", ctrl, got, want)
		}
	}
}

func TestParseLayoutV2(t *testing.T) {
	mi := `25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
26 1 0:23 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
`
	pc := "1:name=systemd:/\n0::/system.slice/berthd.service\n"
	l, err := parseLayout(strings.NewReader(mi), strings.NewReader(pc), true)
	if err != nil {
		t.Fatal(err)
	}
	if l.Mode != ModeV2 || len(l.V1) != 0 {
		t.Fatalf("mode %q with %d v1 hierarchies, want v2 and none", l.Mode, len(l.V1))
	}
	l.UnifiedControllers = []string{"cpu", "memory", "pids"}
	m, err := newManager(l, "berth/abc")
	if err != nil {
		t.Fatal(err)
	}
	want := "/sys/fs/cgroup/system.slice/berthd.service/berth/abc"
	for _, ctrl := range []string{"", "memory", "pids"} {
		if got := m.Path(ctrl); got != want {
			t.Errorf("Path(%q) = %q, want %q", ctrl, got, want)
		}
	}

	// A daemon that an earlier start evacuated into the leaf nests under
	// the leaf's parent, not below the leaf.
	l.Unified.Own = "/system.slice/berthd.service/" + evacLeaf
	m, _ = newManager(l, "berth/abc")
	if got := m.Path(""); got != want {
		t.Errorf("from the evacuation leaf: Path = %q, want %q", got, want)
	}
}

func TestParseLayoutV1Namespaced(t *testing.T) {
	// Inside a container without a cgroup namespace, the hierarchy is a
	// bind mount of the container's own cgroup.
	mi := `100 90 0:32 /docker/ctr /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
`
	pc := "4:memory:/docker/ctr/inner\n"
	l, err := parseLayout(strings.NewReader(mi), strings.NewReader(pc), false)
	if err != nil {
		t.Fatal(err)
	}
	if l.Mode != ModeV1 {
		t.Fatalf("mode %q, want v1", l.Mode)
	}
	m, _ := newManager(l, "berth/x")
	if got, want := m.Path("memory"), "/sys/fs/cgroup/memory/inner/berth/x"; got != want {
		t.Fatalf("Path = %q, want %q", got, want)
	}
}

func TestParseLayoutNothingMounted(t *testing.T) {
	_, err := parseLayout(strings.NewReader("1 0 8:1 / / rw - ext4 /dev/sda rw\n"), strings.NewReader("0::/\n"), false)
	if err == nil {
		t.Fatal("no cgroup mounts: want an error")
	}
}

func TestNewRejectsBadPaths(t *testing.T) {
	l, _ := parseLayout(strings.NewReader(hybridMountinfo), strings.NewReader(hybridProcCgroup), false)
	for _, p := range []string{"", "/", "../escape", "berth/../../x"} {
		_, err := newManager(l, p)
		if !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("newManager(%q): err %v, want invalid argument", p, err)
		}
	}
	_, err := parseProcCgroup(strings.NewReader("garbage\n"))
	if err == nil {
		t.Fatal("bad /proc/self/cgroup line: want an error")
	}
}

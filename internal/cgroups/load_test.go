package cgroups

import (
	"strings"
	"testing"
)

func TestLoadManagerPaths(t *testing.T) {
	l := &layout{
		Mode: ModeHybrid,
		V1: []*hierarchy{
			{Controllers: []string{"memory"}, Mountpoint: "/sys/fs/cgroup/memory", Root: "/"},
			{Controllers: []string{"cpu", "cpuacct"}, Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", Root: "/"},
			{Controllers: []string{"pids"}, Mountpoint: "/mnt/pids", Root: "/sub"}, // a mount of a subtree
		},
		Unified: &hierarchy{Mountpoint: "/sys/fs/cgroup/unified", Root: "/"},
	}
	entries, err := parseProcCgroup(strings.NewReader(
		"4:memory:/process_api/x/berth/abc\n3:cpu,cpuacct:/berth/abc\n2:pids:/sub/berth/abc\n0::/u/berth/abc\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := loadManager(l, entries)
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, want := range map[string]string{
		"memory":  "/sys/fs/cgroup/memory/process_api/x/berth/abc",
		"cpuacct": "/sys/fs/cgroup/cpu,cpuacct/berth/abc",
		"pids":    "/mnt/pids/berth/abc",
		"":        "/sys/fs/cgroup/unified/u/berth/abc",
	} {
		if got := m.Path(ctrl); got != want {
			t.Errorf("Path(%q) = %q, want %q", ctrl, got, want)
		}
	}
	if _, err := loadManager(l, entries[:1]); err == nil {
		t.Error("a process missing from a hierarchy loaded")
	}
}

// TestLoadFindsApplied checks that Load of a process finds the cgroup New
// placed it in, in every hierarchy.
func TestLoadFindsApplied(t *testing.T) {
	needRoot(t)
	m := newTestCgroup(t, "ctr")
	cmd := startSleep(t)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	got, err := Load(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"", "memory", "pids", "freezer", "cpu", "blkio"} {
		if got.Path(c) != m.Path(c) {
			t.Errorf("Path(%q) = %q, want %q", c, got.Path(c), m.Path(c))
		}
	}
	pids, err := got.Pids()
	if err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("Pids = %v, %v", pids, err)
	}
	if _, err := Load(1 << 30); err == nil {
		t.Error("Load of a missing pid succeeded")
	}
}

func TestParseBlkio(t *testing.T) {
	v1 := parseBlkioV1("8:0 Read 4096\n8:0 Write 512\nTotal 4608\n")
	if len(v1) != 2 || v1[0] != (BlkioEntry{8, 0, "Read", 4096}) || v1[1].Value != 512 {
		t.Errorf("v1: %+v", v1)
	}
	b, n := parseIOStat("259:0 rbytes=100 wbytes=200 rios=3 wios=4 dbytes=0 dios=0\n")
	if len(b) != 2 || b[0] != (BlkioEntry{259, 0, "read", 100}) || b[1].Value != 200 || n[1] != (BlkioEntry{259, 0, "write", 4}) {
		t.Errorf("v2: %+v %+v", b, n)
	}
}

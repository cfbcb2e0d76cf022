package cgroups

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProbeCapabilities(t *testing.T) {
	root := t.TempDir()
	touch := func(name string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// memory without swap accounting; cpu with CFS; blkio whose weight
	// file only a child cgroup shows (BFQ); no pids, no devices.
	touch("memory/memory.limit_in_bytes")
	touch("cpu/cpu.shares")
	touch("cpu/cpu.cfs_quota_us")
	touch("cpu/cpu.cfs_period_us")
	touch("blkio/blkio.throttle.read_bps_device")
	touch("blkio/other/blkio.bfq.weight")
	h := func(ctrl string) *hierarchy {
		return &hierarchy{Controllers: []string{ctrl}, Mountpoint: filepath.Join(root, ctrl), Root: "/", Own: "/"}
	}
	l := &layout{Mode: ModeV1, V1: []*hierarchy{h("memory"), h("cpu"), h("blkio"), h("freezer")}}
	got := probeCapabilities(l)
	want := Capabilities{
		MemoryLimit: true, OomKillDisable: true,
		CPUShares: true, CPUCfsPeriod: true, CPUCfsQuota: true,
		BlkioWeight: true, BlkioThrottle: true, Freezer: true,
	}
	if got != want {
		t.Fatalf("capabilities:\n got %+v\nwant %+v", got, want)
	}

	v2 := &layout{Mode: ModeV2, Unified: &hierarchy{Mountpoint: root, Root: "/", Own: "/"}, UnifiedControllers: []string{"memory", "pids"}}
	touch("svc/memory.swap.max")
	got = probeCapabilities(v2)
	want = Capabilities{MemoryLimit: true, SwapLimit: true, PidsLimit: true, Freezer: true, DeviceControl: true}
	if got != want {
		t.Fatalf("v2 capabilities:\n got %+v\nwant %+v", got, want)
	}
}

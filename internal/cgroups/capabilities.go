package cgroups

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Capabilities says which resource settings this host can enforce, for
// docker info and for the engine to warn and drop a setting the way
// dockerd does instead of failing at start with an UnsupportedError.
type Capabilities struct {
	MemoryLimit     bool
	SwapLimit       bool // v1 memory.memsw.*, v2 memory.swap.max
	KernelMemoryTCP bool
	OomKillDisable  bool // v1 only
	CPUShares       bool
	CPUCfsPeriod    bool
	CPUCfsQuota     bool
	CPURealtime     bool
	CPUSet          bool
	PidsLimit       bool
	BlkioWeight     bool
	BlkioThrottle   bool
	Freezer         bool
	// DeviceControl: device rules are enforced (v1 devices controller).
	// berth loads no eBPF device program on v2 yet, so there it is false.
	DeviceControl bool
}

var (
	capsOnce sync.Once
	hostCaps Capabilities
)

// HostCapabilities probes the host once: the files that only exist when a
// feature is on (swap accounting, CFS, BFQ) are looked up in the calling
// process's own cgroup, which has every file a child would.
func HostCapabilities() Capabilities {
	capsOnce.Do(func() {
		l, err := host()
		if err != nil {
			return
		}
		hostCaps = probeCapabilities(l)
	})
	return hostCaps
}

func probeCapabilities(l *layout) Capabilities {
	var c Capabilities
	exists := func(dir, file string) bool {
		_, err := os.Stat(filepath.Join(dir, file))
		return err == nil
	}
	v1dir := func(ctrl string) string {
		h := l.v1For(ctrl)
		if h == nil {
			return ""
		}
		return filepath.Join(h.Mountpoint, ownRel(h))
	}
	if d := v1dir("memory"); d != "" {
		c.MemoryLimit = true
		c.OomKillDisable = true
		c.SwapLimit = exists(d, "memory.memsw.limit_in_bytes")
		c.KernelMemoryTCP = exists(d, "memory.kmem.tcp.limit_in_bytes")
	}
	if d := v1dir("cpu"); d != "" {
		c.CPUShares = exists(d, "cpu.shares")
		c.CPUCfsPeriod = exists(d, "cpu.cfs_period_us")
		c.CPUCfsQuota = exists(d, "cpu.cfs_quota_us")
		c.CPURealtime = exists(d, "cpu.rt_runtime_us")
	}
	c.CPUSet = v1dir("cpuset") != ""
	c.PidsLimit = v1dir("pids") != ""
	if d := v1dir("blkio"); d != "" {
		c.BlkioWeight = exists(d, "blkio.weight") || exists(d, "blkio.bfq.weight")
		c.BlkioThrottle = exists(d, "blkio.throttle.read_bps_device")
	}
	c.Freezer = v1dir("freezer") != "" || l.Unified != nil
	c.DeviceControl = v1dir("devices") != ""

	if l.Unified == nil {
		return c
	}
	on := func(ctrl string) bool { return slices.Contains(l.UnifiedControllers, ctrl) }
	// Controller files appear in cgroups below the root only; the root's
	// first child with them stands in when the caller lives at the root.
	own := filepath.Join(l.Unified.Mountpoint, ownRel(l.Unified))
	probe := func(file string) bool {
		if exists(own, file) {
			return true
		}
		ents, _ := os.ReadDir(own)
		for _, e := range ents {
			if e.IsDir() && exists(filepath.Join(own, e.Name()), file) {
				return true
			}
		}
		return false
	}
	if on("memory") {
		c.MemoryLimit = true
		c.SwapLimit = probe("memory.swap.max")
	}
	if on("cpu") {
		c.CPUShares, c.CPUCfsPeriod, c.CPUCfsQuota = true, true, true
	}
	if on("cpuset") {
		c.CPUSet = true
	}
	if on("pids") {
		c.PidsLimit = true
	}
	if on("io") {
		c.BlkioWeight = probe("io.weight") || probe("io.bfq.weight")
		c.BlkioThrottle = true
	}
	return c
}

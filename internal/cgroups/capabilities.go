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
	// DeviceControl: device rules are enforced, by the v1 devices
	// controller or an eBPF filter on the unified hierarchy.
	DeviceControl bool
}

var (
	capsOnce sync.Once
	hostCaps Capabilities
)

// HostCapabilities probes the host once: the files that only exist when a
// feature is on (swap accounting, CFS, BFQ) are looked up in the calling
// process's own cgroup or, for files a root cgroup lacks, in its children.
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
	// Some files exist in every cgroup but the root (blkio.bfq.weight, v2
	// controller files): when the caller lives at the root, any child
	// stands in.
	probe := func(dir, file string) bool {
		if exists(dir, file) {
			return true
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() && exists(filepath.Join(dir, e.Name()), file) {
				return true
			}
		}
		return false
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
		c.SwapLimit = probe(d, "memory.memsw.limit_in_bytes")
		c.KernelMemoryTCP = probe(d, "memory.kmem.tcp.limit_in_bytes")
	}
	if d := v1dir("cpu"); d != "" {
		c.CPUShares = probe(d, "cpu.shares")
		c.CPUCfsPeriod = probe(d, "cpu.cfs_period_us")
		c.CPUCfsQuota = probe(d, "cpu.cfs_quota_us")
		c.CPURealtime = probe(d, "cpu.rt_runtime_us")
	}
	c.CPUSet = v1dir("cpuset") != ""
	c.PidsLimit = v1dir("pids") != ""
	if d := v1dir("blkio"); d != "" {
		c.BlkioWeight = probe(d, "blkio.weight") || probe(d, "blkio.bfq.weight")
		c.BlkioThrottle = probe(d, "blkio.throttle.read_bps_device")
	}
	c.Freezer = v1dir("freezer") != "" || l.Unified != nil
	c.DeviceControl = v1dir("devices") != "" || l.Unified != nil

	if l.Unified == nil {
		return c
	}
	on := func(ctrl string) bool { return slices.Contains(l.UnifiedControllers, ctrl) }
	own := filepath.Join(l.Unified.Mountpoint, ownRel(l.Unified))
	if on("memory") {
		c.MemoryLimit = true
		c.SwapLimit = probe(own, "memory.swap.max")
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
		c.BlkioWeight = probe(own, "io.weight") || probe(own, "io.bfq.weight")
		c.BlkioThrottle = true
	}
	return c
}

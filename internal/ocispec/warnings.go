package ocispec

import (
	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/errdefs"
)

// DropUnsupported does what dockerd does at create with resource settings
// the host's cgroups cannot enforce (verifyPlatformContainerResources): it
// drops them and returns dockerd's warnings, which the create response
// carries to the client; --cpus and real-time settings it cannot honour
// are errors instead. c is cgroups.HostCapabilities() in the daemon.
func DropUnsupported(r *container.Resources, c cgroups.Capabilities) (warnings []string, err error) {
	warn := func(s string) { warnings = append(warnings, s) }
	if r.Memory > 0 && !c.MemoryLimit {
		warn("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.Memory = 0
		r.MemorySwap = -1
	}
	if r.Memory > 0 && r.MemorySwap != -1 && !c.SwapLimit {
		warn("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		r.MemorySwap = -1
	}
	if r.MemoryReservation > 0 && !c.MemoryLimit {
		warn("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.MemoryReservation = 0
	}
	if r.OomKillDisable != nil && !c.OomKillDisable {
		if *r.OomKillDisable {
			warn("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
		}
		r.OomKillDisable = nil
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && r.Memory == 0 {
		warn("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.")
	}
	if r.PidsLimit != nil && !c.PidsLimit {
		if *r.PidsLimit > 0 {
			warn("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.")
		}
		r.PidsLimit = nil
	}
	cfs := c.CPUCfsPeriod && c.CPUCfsQuota
	if r.NanoCPUs > 0 && !cfs {
		return warnings, errdefs.InvalidArgumentf("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted")
	}
	if r.CPUShares > 0 && !c.CPUShares {
		warn("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
		r.CPUShares = 0
	}
	if (r.CPUPeriod != 0 || r.CPUQuota != 0) && !cfs {
		warn("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
		r.CPUPeriod, r.CPUQuota = 0, 0
	}
	if (r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0) && !c.CPURealtime {
		return warnings, errdefs.InvalidArgumentf("Your kernel does not support CPU real-time scheduler")
	}
	if (r.CpusetCpus != "" || r.CpusetMems != "") && !c.CPUSet {
		warn("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
		r.CpusetCpus, r.CpusetMems = "", ""
	}
	if r.BlkioWeight > 0 && !c.BlkioWeight {
		warn("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		r.BlkioWeight = 0
	}
	return warnings, nil
}

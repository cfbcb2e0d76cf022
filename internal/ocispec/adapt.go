package ocispec

import "github.com/moby/moby/api/types/container"

// AdaptHostConfig fills in, at create, the host config values dockerd
// fills in (adaptContainerSettings), so that inspect shows what dockerd's
// shows and later daemon defaults do not change an existing container:
// MemorySwap twice Memory, ShmSize 64 MiB, IpcMode "private", the cgroup
// namespace mode (private on cgroup v2; host on v1 and for a privileged
// container on v1), OomKillDisable false, and the default masked and
// read-only paths of an unprivileged container.
func AdaptHostConfig(hc *container.HostConfig, cgroupV2 bool) {
	if hc.Memory > 0 && hc.MemorySwap == 0 {
		hc.MemorySwap = 2 * hc.Memory
	}
	if hc.ShmSize == 0 {
		hc.ShmSize = DefaultShmSize
	}
	if hc.IpcMode.IsEmpty() {
		hc.IpcMode = container.IPCModePrivate
	}
	if hc.CgroupnsMode.IsEmpty() {
		hc.CgroupnsMode = container.CgroupnsModeHost
		if cgroupV2 {
			hc.CgroupnsMode = container.CgroupnsModePrivate
		}
	}
	if hc.OomKillDisable == nil {
		f := false
		hc.OomKillDisable = &f
	}
	if !hc.Privileged {
		if hc.MaskedPaths == nil {
			hc.MaskedPaths = DefaultMaskedPaths()
		}
		if hc.ReadonlyPaths == nil {
			hc.ReadonlyPaths = DefaultReadonlyPaths()
		}
	}
}

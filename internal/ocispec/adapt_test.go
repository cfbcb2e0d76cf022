package ocispec

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestAdaptHostConfig(t *testing.T) {
	hc := &container.HostConfig{Resources: container.Resources{Memory: 64 << 20}}
	AdaptHostConfig(hc, false)
	if hc.MemorySwap != 128<<20 || hc.ShmSize != 64<<20 || hc.IpcMode != "private" || hc.CgroupnsMode != "host" ||
		hc.OomKillDisable == nil || *hc.OomKillDisable {
		t.Errorf("v1 defaults: %+v", hc)
	}
	if !slices.Equal(hc.MaskedPaths, DefaultMaskedPaths()) || !slices.Equal(hc.ReadonlyPaths, DefaultReadonlyPaths()) {
		t.Errorf("paths %v %v", hc.MaskedPaths, hc.ReadonlyPaths)
	}

	hc = &container.HostConfig{Privileged: true, ShmSize: 1 << 20, IpcMode: "host",
		Resources: container.Resources{Memory: 64 << 20, MemorySwap: -1}}
	AdaptHostConfig(hc, true)
	if hc.MemorySwap != -1 || hc.ShmSize != 1<<20 || hc.IpcMode != "host" || hc.CgroupnsMode != "private" {
		t.Errorf("kept values: %+v", hc)
	}
	if hc.MaskedPaths != nil || hc.ReadonlyPaths != nil {
		t.Errorf("privileged got paths %v %v", hc.MaskedPaths, hc.ReadonlyPaths)
	}

	// An adapted config builds the same spec as the raw one.
	raw := baseInput(t)
	raw.HostConfig.Memory = 64 << 20
	adapted := baseInput(t)
	adapted.HostConfig.Memory = 64 << 20
	adapted.Rootfs = raw.Rootfs
	AdaptHostConfig(adapted.HostConfig, false)
	a, b := mustBuild(t, raw), mustBuild(t, adapted)
	if *a.Linux.Resources.Memory.Swap != *b.Linux.Resources.Memory.Swap ||
		!slices.Equal(findMount(a, "/dev/shm").Options, findMount(b, "/dev/shm").Options) ||
		!slices.Equal(nsTypes(a), nsTypes(b)) || !slices.Equal(a.Linux.MaskedPaths, b.Linux.MaskedPaths) {
		t.Errorf("adapted config builds a different spec")
	}
}

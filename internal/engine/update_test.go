package engine

import (
	"strings"
	"testing"

	ctypes "github.com/moby/moby/api/types/container"
)

func TestMergeUpdate(t *testing.T) {
	pids := int64(20)
	hc := &ctypes.HostConfig{Resources: ctypes.Resources{Memory: 32 << 20, MemorySwap: 64 << 20, CPUShares: 100}}
	upd := ctypes.UpdateConfig{
		Resources:     ctypes.Resources{Memory: 48 << 20, NanoCPUs: 5e8, PidsLimit: &pids},
		RestartPolicy: ctypes.RestartPolicy{Name: ctypes.RestartPolicyAlways},
	}
	if err := mergeUpdate(hc, upd); err != nil {
		t.Fatal(err)
	}
	r := hc.Resources
	if r.Memory != 48<<20 || r.MemorySwap != 64<<20 || r.CPUShares != 100 || r.NanoCPUs != 5e8 || *r.PidsLimit != 20 || hc.RestartPolicy.Name != "always" {
		t.Errorf("merged %+v %+v", r, hc.RestartPolicy)
	}
	pids = 99 // the record keeps its own copy
	if *hc.Resources.PidsLimit != 20 {
		t.Error("PidsLimit aliases the request")
	}
	for _, c := range []struct {
		hc   ctypes.HostConfig
		upd  ctypes.Resources
		want string
	}{
		{ctypes.HostConfig{Resources: ctypes.Resources{CPUPeriod: 50000}}, ctypes.Resources{NanoCPUs: 1e9}, "Nano CPUs cannot be updated as CPU Period has already been set"},
		{ctypes.HostConfig{Resources: ctypes.Resources{NanoCPUs: 1e9}}, ctypes.Resources{CPUQuota: 20000}, "CPU Quota cannot be updated as NanoCPUs has already been set"},
		{ctypes.HostConfig{Resources: ctypes.Resources{Memory: 32 << 20, MemorySwap: 64 << 20}}, ctypes.Resources{Memory: 128 << 20}, "Memory limit should be smaller than already set memoryswap limit"},
	} {
		if err := mergeUpdate(&c.hc, ctypes.UpdateConfig{Resources: c.upd}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.upd, err, c.want)
		}
	}
	auto := &ctypes.HostConfig{AutoRemove: true}
	if err := mergeUpdate(auto, ctypes.UpdateConfig{RestartPolicy: ctypes.RestartPolicy{Name: ctypes.RestartPolicyAlways}}); err == nil {
		t.Error("restart policy on an --rm container accepted")
	}
}

func TestReadHostCPU(t *testing.T) {
	h := readHostCPU()
	if h.systemUsage == 0 || h.onlineCPUs == 0 {
		t.Errorf("%+v", h)
	}
	if machineMemory() == 0 {
		t.Error("no MemTotal")
	}
}

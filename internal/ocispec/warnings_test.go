package ocispec

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/errdefs"
)

func TestDropUnsupported(t *testing.T) {
	all := cgroups.Capabilities{MemoryLimit: true, SwapLimit: true, OomKillDisable: true, CPUShares: true,
		CPUCfsPeriod: true, CPUCfsQuota: true, CPURealtime: true, CPUSet: true, PidsLimit: true, BlkioWeight: true}
	pids := int64(10)
	yes := true
	full := func() container.Resources {
		return container.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, MemoryReservation: 32 << 20,
			OomKillDisable: &yes, PidsLimit: &pids, CPUShares: 512, CPUQuota: 50000, CpusetCpus: "0", BlkioWeight: 300}
	}

	r := full()
	w, err := DropUnsupported(&r, all)
	if err != nil || len(w) != 0 || r.BlkioWeight != 300 || r.MemorySwap != 128<<20 {
		t.Errorf("everything supported: warnings %q err %v resources %+v", w, err, r)
	}

	// This host: no blkio weight file.
	noWeight := all
	noWeight.BlkioWeight = false
	r = full()
	w, err = DropUnsupported(&r, noWeight)
	if err != nil || r.BlkioWeight != 0 ||
		!slices.Equal(w, []string{"Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."}) {
		t.Errorf("no blkio weight: warnings %q err %v weight %d", w, err, r.BlkioWeight)
	}

	// cgroup v2 without swap accounting: no oom-kill-disable either.
	v2 := all
	v2.SwapLimit, v2.OomKillDisable = false, false
	r = full()
	w, _ = DropUnsupported(&r, v2)
	want := []string{
		"Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
		"Your kernel does not support OomKillDisable. OomKillDisable discarded.",
	}
	if !slices.Equal(w, want) || r.MemorySwap != -1 || r.OomKillDisable != nil {
		t.Errorf("v2: warnings %q swap %d oom %v", w, r.MemorySwap, r.OomKillDisable)
	}

	r = container.Resources{OomKillDisable: &yes}
	if w, _ := DropUnsupported(&r, all); len(w) != 1 || w[0] != "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources." {
		t.Errorf("oom without memory: %q", w)
	}

	r = container.Resources{NanoCPUs: 1e9}
	_, err = DropUnsupported(&r, cgroups.Capabilities{})
	wantErr(t, err, errdefs.InvalidArgument, "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted")
}

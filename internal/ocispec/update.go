package ocispec

import (
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// ValidateUpdate checks a docker update's settings as dockerd's
// verifyContainerSettings does for an update: the resources it carries
// (alone, not merged with the container's) and the restart policy.
func ValidateUpdate(hc *container.HostConfig) error {
	if err := validateResources(&hc.Resources); err != nil {
		return err
	}
	if hc.RestartPolicy.Name != "" {
		if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
			return errdefs.With(errdefs.InvalidArgument, err)
		}
	}
	return nil
}

// UpdateResources is the cgroup settings of r as Build writes them into
// linux.resources, less the device rules (which an update never changes).
func UpdateResources(r container.Resources) *specs.LinuxResources {
	res := &specs.LinuxResources{Memory: memoryResources(r), CPU: cpuResources(r)}
	if r.PidsLimit != nil {
		l := *r.PidsLimit
		if l <= 0 {
			l = -1 // the API's 0 and negatives mean unlimited
		}
		res.Pids = &specs.LinuxPids{Limit: &l}
	}
	if r.BlkioWeight > 0 {
		w := r.BlkioWeight
		res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return res
}

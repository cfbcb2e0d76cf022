package ocispec

import (
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// statBlockDevice returns the major and minor numbers of a host block
// device (a variable for tests).
var statBlockDevice = func(path string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, errdefs.InvalidArgumentf("blkio device %s: %v", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, errdefs.InvalidArgumentf("blkio device %s: not a block device", path)
	}
	return int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev)), nil
}

// blockIO turns --blkio-weight, --blkio-weight-device and the
// --device-{read,write}-{bps,iops} throttles into the spec's blockIO, the
// host device paths resolved to major:minor as dockerd does at start.
func blockIO(r container.Resources) (*specs.LinuxBlockIO, error) {
	b := &specs.LinuxBlockIO{}
	if r.BlkioWeight > 0 {
		w := r.BlkioWeight
		b.Weight = &w
	}
	for _, d := range r.BlkioWeightDevice {
		if d == nil {
			continue
		}
		maj, min, err := statBlockDevice(d.Path)
		if err != nil {
			return nil, err
		}
		w := d.Weight
		wd := specs.LinuxWeightDevice{Weight: &w}
		wd.Major, wd.Minor = maj, min
		b.WeightDevice = append(b.WeightDevice, wd)
	}
	throttle := func(devs []*blkiodev.ThrottleDevice) ([]specs.LinuxThrottleDevice, error) {
		var out []specs.LinuxThrottleDevice
		for _, d := range devs {
			if d == nil {
				continue
			}
			maj, min, err := statBlockDevice(d.Path)
			if err != nil {
				return nil, err
			}
			td := specs.LinuxThrottleDevice{Rate: d.Rate}
			td.Major, td.Minor = maj, min
			out = append(out, td)
		}
		return out, nil
	}
	var err error
	if b.ThrottleReadBpsDevice, err = throttle(r.BlkioDeviceReadBps); err != nil {
		return nil, err
	}
	if b.ThrottleWriteBpsDevice, err = throttle(r.BlkioDeviceWriteBps); err != nil {
		return nil, err
	}
	if b.ThrottleReadIOPSDevice, err = throttle(r.BlkioDeviceReadIOps); err != nil {
		return nil, err
	}
	if b.ThrottleWriteIOPSDevice, err = throttle(r.BlkioDeviceWriteIOps); err != nil {
		return nil, err
	}
	if b.Weight == nil && len(b.WeightDevice) == 0 && len(b.ThrottleReadBpsDevice) == 0 && len(b.ThrottleWriteBpsDevice) == 0 &&
		len(b.ThrottleReadIOPSDevice) == 0 && len(b.ThrottleWriteIOPSDevice) == 0 {
		return nil, nil
	}
	return b, nil
}

// validateBlkioDevices checks the per-device settings' shape (the devices
// themselves are looked up at start).
func validateBlkioDevices(r *container.Resources) error {
	for _, d := range r.BlkioWeightDevice {
		if d == nil {
			continue
		}
		if d.Path == "" || d.Path[0] != '/' {
			return errdefs.InvalidArgumentf("invalid blkio weight device %q: the path must be absolute", d.Path)
		}
		if d.Weight < 10 || d.Weight > 1000 {
			return errdefs.InvalidArgumentf("invalid weight for device %s: %d: Range of blkio weight is from 10 to 1000", d.Path, d.Weight)
		}
	}
	for _, list := range [][]*blkiodev.ThrottleDevice{r.BlkioDeviceReadBps, r.BlkioDeviceWriteBps, r.BlkioDeviceReadIOps, r.BlkioDeviceWriteIOps} {
		for _, d := range list {
			if d != nil && (d.Path == "" || d.Path[0] != '/') {
				return errdefs.InvalidArgumentf("invalid blkio throttle device %q: the path must be absolute", d.Path)
			}
		}
	}
	return nil
}

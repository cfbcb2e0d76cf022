package ocispec

import (
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestBlockIO(t *testing.T) {
	old := statBlockDevice
	defer func() { statBlockDevice = old }()
	statBlockDevice = func(p string) (int64, int64, error) {
		if p == "/dev/vda" {
			return 254, 0, nil
		}
		return 0, 0, errdefs.InvalidArgumentf("blkio device %s: no such file or directory", p)
	}
	b, err := blockIO(container.Resources{
		BlkioWeight:          300,
		BlkioWeightDevice:    []*blkiodev.WeightDevice{{Path: "/dev/vda", Weight: 200}},
		BlkioDeviceReadBps:   []*blkiodev.ThrottleDevice{{Path: "/dev/vda", Rate: 1 << 20}},
		BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{{Path: "/dev/vda", Rate: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *b.Weight != 300 || len(b.WeightDevice) != 1 || *b.WeightDevice[0].Weight != 200 || b.WeightDevice[0].Major != 254 ||
		len(b.ThrottleReadBpsDevice) != 1 || b.ThrottleReadBpsDevice[0].Rate != 1<<20 ||
		len(b.ThrottleWriteIOPSDevice) != 1 || b.ThrottleWriteIOPSDevice[0].Rate != 100 || len(b.ThrottleWriteBpsDevice) != 0 {
		t.Errorf("blockIO: %+v", b)
	}
	if b, err := blockIO(container.Resources{}); b != nil || err != nil {
		t.Errorf("empty: %+v %v", b, err)
	}
	if _, err := blockIO(container.Resources{BlkioDeviceWriteBps: []*blkiodev.ThrottleDevice{{Path: "/dev/nope", Rate: 1}}}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("missing device: %v", err)
	}
	for _, r := range []container.Resources{
		{BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: "/dev/vda", Weight: 5}}},
		{BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: "vda", Weight: 100}}},
		{BlkioDeviceReadIOps: []*blkiodev.ThrottleDevice{{Path: "rel", Rate: 1}}},
	} {
		if err := validateBlkioDevices(&r); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	// The real lookup refuses what is not a block device.
	if _, _, err := old("/dev/null"); err == nil {
		t.Error("/dev/null accepted as a block device")
	}
}

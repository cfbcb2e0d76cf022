package ocispec

import (
	"strconv"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/errdefs"
)

// A memory node the host lacks is refused at create with dockerd's text,
// not left to fail the start writing cpuset.mems.
func TestValidateCpusetMems(t *testing.T) {
	n := memNodes()
	if n < 1 {
		t.Skip("no /sys/devices/system/node/online")
	}
	hc := container.HostConfig{Resources: container.Resources{CpusetMems: strconv.Itoa(n)}}
	err := Validate(&container.Config{}, &hc)
	want := "Requested memory nodes are not available - requested " + strconv.Itoa(n) + ", available: 0"
	if n > 1 {
		want += "-" + strconv.Itoa(n-1)
	}
	if err == nil || err.Error() != want || !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("cpuset-mems %d: %v, want %q (invalid argument)", n, err, want)
	}
	hc.Resources.CpusetMems = "0"
	if err := Validate(&container.Config{}, &hc); err != nil {
		t.Errorf("cpuset-mems 0: %v", err)
	}
}

func TestValidateNegativeCPUShares(t *testing.T) {
	hc := container.HostConfig{Resources: container.Resources{CPUShares: -1}}
	err := Validate(&container.Config{}, &hc)
	if want := "invalid CPU shares (-1): value must be a positive integer"; err == nil || err.Error() != want {
		t.Errorf("CpuShares -1: %v, want %q", err, want)
	}
}

func TestDeviceErrorText(t *testing.T) {
	_, _, err := deviceFromPath(container.DeviceMapping{PathOnHost: "/nonexistent/berth-dev"})
	want := `error gathering device information while adding custom device "/nonexistent/berth-dev": no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q (dockerd's)", err, want)
	}
}

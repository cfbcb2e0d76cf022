package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBlkioDeviceThrottles: --device-{read,write}-{bps,iops} reach the
// container's blkio (v1) or io.max (v2) cgroup files with the device's
// major:minor; a missing or non-block device fails the run clearly.
func TestBlkioDeviceThrottles(t *testing.T) {
	needRoot(t)
	dev := ""
	for _, p := range []string{"/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0"} {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			dev = p
			break
		}
	}
	if dev == "" {
		t.Skip("no block device")
	}
	var st unix.Stat_t
	unix.Stat(dev, &st)
	num := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "io", "--device-read-bps", dev+":1mb", "--device-write-bps", dev+":2mb",
		"--device-read-iops", dev+":300", "--device-write-iops", dev+":400", "busybox", "sleep", "60")
	pid := d.initPid(t, "io")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		if got := ctrCgroupFile(t, pid, "", "io.max"); !strings.Contains(got, num+" rbps=1048576 wbps=2097152 riops=300 wiops=400") {
			t.Errorf("io.max: %q", got)
		}
	} else {
		for file, want := range map[string]string{
			"blkio.throttle.read_bps_device": num + " 1048576", "blkio.throttle.write_bps_device": num + " 2097152",
			"blkio.throttle.read_iops_device": num + " 300", "blkio.throttle.write_iops_device": num + " 400",
		} {
			if got := ctrCgroupFile(t, pid, "blkio", file); got != want {
				t.Errorf("%s: %q, want %q", file, got, want)
			}
		}
	}
	d.MustDocker("rm", "-f", "io")

	for dev, msg := range map[string]string{"/dev/berth-nope": "no such file", "/dev/null": "not a block device"} {
		r := d.Docker("", "run", "--rm", "--device-read-bps", dev+":1mb", "busybox", "echo", "ran")
		if r.Code == 0 || strings.Contains(r.Stdout, "ran") || !strings.Contains(r.Stderr, msg) {
			t.Errorf("--device-read-bps %s: %v", dev, r)
		}
	}
}

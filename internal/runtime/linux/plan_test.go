package linux

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
)

func TestParseMountOptions(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		opts []string
		want mountOpts
	}{
		{"tmpfs", []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			mountOpts{flags: unix.MS_NOSUID | unix.MS_STRICTATIME, data: "mode=755,size=65536k"}},
		{"bind", []string{"rbind", "ro", "rprivate"},
			mountOpts{flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC}, bind: true}},
		{"none", []string{"bind", "rw"}, mountOpts{flags: unix.MS_BIND, bind: true}},
		{"devpts", []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			mountOpts{flags: unix.MS_NOSUID | unix.MS_NOEXEC, data: "newinstance,ptmxmode=0666,mode=0620,gid=5"}},
		{"tmpfs", []string{"ro", "rw", "tmpcopyup", "x-foo"}, mountOpts{}},
	} {
		if got := parseMountOptions(tc.typ, tc.opts); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v: got %+v, want %+v", tc.typ, tc.opts, got, tc.want)
		}
	}
}

func TestCapSetOfDockerDefaults(t *testing.T) {
	docker := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
		"CAP_KILL", "CAP_AUDIT_WRITE"}
	if got := fmt.Sprintf("%016x", uint64(capSetOf(docker, 40))); got != "00000000a80425fb" {
		t.Errorf("Docker's caps = %s, want 00000000a80425fb", got)
	}
	if got := capSetOf([]string{"CAP_CHECKPOINT_RESTORE", "CAP_BOGUS"}, 39); got != 0 {
		t.Errorf("caps beyond the last one or unknown must be skipped, got %x", got)
	}
	if got := capSetOf([]string{"cap_kill"}, 40); got != 1<<unix.CAP_KILL {
		t.Errorf("lower-case names: got %x", got)
	}
}

func TestClampRlimit(t *testing.T) {
	cur := unix.Rlimit{Cur: 1024, Max: 20000}
	for _, tc := range []struct {
		want specs.POSIXRlimit
		got  unix.Rlimit
	}{
		{specs.POSIXRlimit{Soft: 1048576, Hard: 1048576}, unix.Rlimit{Cur: 20000, Max: 20000}},
		{specs.POSIXRlimit{Soft: 100, Hard: 200}, unix.Rlimit{Cur: 100, Max: 200}},
		{specs.POSIXRlimit{Soft: 30000, Hard: 10000}, unix.Rlimit{Cur: 10000, Max: 10000}},
	} {
		if got := clampRlimit(tc.want, cur); got != tc.got {
			t.Errorf("clamp %+v under %+v = %+v, want %+v", tc.want, cur, got, tc.got)
		}
	}
}

func TestPlanNamespaces(t *testing.T) {
	all := []specs.LinuxNamespace{{Type: "mount"}, {Type: "pid"}, {Type: "network"}, {Type: "uts"}, {Type: "ipc"}, {Type: "cgroup"}}
	p, err := planNamespaces(all)
	want := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if err != nil || p.cloneFlags != want {
		t.Errorf("got %#x, %v; want %#x", p.cloneFlags, err, want)
	}
	p, err = planNamespaces([]specs.LinuxNamespace{{Type: "mount"}, {Type: "network", Path: "/run/netns/x"}, {Type: "pid", Path: "/proc/1/ns/pid"}})
	if err != nil || p.cloneFlags != unix.CLONE_NEWNS || p.pidPath != "/proc/1/ns/pid" {
		t.Errorf("by path: got %+v, %v", p, err)
	}
	for _, bad := range [][]specs.LinuxNamespace{
		{{Type: "mount"}, {Type: "user", Path: "/proc/1/ns/user"}},
		{{Type: "mount", Path: "/proc/1/ns/mnt"}},
		{{Type: "pid"}},
		{{Type: "mount"}, {Type: "pid"}, {Type: "pid"}},
	} {
		if _, err := planNamespaces(bad); err == nil {
			t.Errorf("%v: no error", bad)
		} else if !errdefs.Is(err, errdefs.InvalidArgument) && !errdefs.Is(err, errdefs.NotImplemented) {
			t.Errorf("%v: error %v is not classified", bad, err)
		}
	}
}

func TestPlanDevices(t *testing.T) {
	mode := os.FileMode(0o600)
	got := planDevices([]specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: &mode}, {Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}})
	var paths []string
	for _, d := range got {
		paths = append(paths, d.Path)
	}
	want := []string{"/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/null", "/dev/fuse"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("got %v, want %v", paths, want)
	}
	if *got[5].FileMode != 0o600 {
		t.Error("the spec's /dev/null must override the default")
	}
}

func TestPlanCgroupMounts(t *testing.T) {
	mounts := []*mountinfo.Info{
		{Mountpoint: "/sys/fs/cgroup/cpu", Root: "/", FSType: "cgroup", VFSOptions: "rw,cpu"},
		{Mountpoint: "/sys/fs/cgroup/cpuacct", Root: "/", FSType: "cgroup", VFSOptions: "rw,cpuacct"},
		{Mountpoint: "/sys/fs/cgroup/memory", Root: "/", FSType: "cgroup", VFSOptions: "rw,memory"},
		{Mountpoint: "/elsewhere", Root: "/", FSType: "cgroup", VFSOptions: "rw,memory"},
		{Mountpoint: "/sys/fs/cgroup/systemd", Root: "/", FSType: "cgroup", VFSOptions: "rw,xattr,name=systemd"},
		{Mountpoint: "/sys/fs/cgroup/unified", Root: "/", FSType: "cgroup2", VFSOptions: "rw"},
	}
	own := parseProcCgroup("9:name=systemd:/\n4:memory:/m/c1\n2:cpuacct:/c1\n1:cpu:/c1\n0::/c1\n")
	got, err := planCgroupMounts(mounts, own)
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupMount{
		{sub: "systemd", fstype: "cgroup", data: "name=systemd", host: "/sys/fs/cgroup/systemd"},
		{sub: "memory", fstype: "cgroup", data: "memory", host: "/sys/fs/cgroup/memory/m/c1"},
		{sub: "cpuacct", fstype: "cgroup", data: "cpuacct", host: "/sys/fs/cgroup/cpuacct/c1"},
		{sub: "cpu", fstype: "cgroup", data: "cpu", host: "/sys/fs/cgroup/cpu/c1"},
		{sub: "unified", fstype: "cgroup2", data: "", host: "/sys/fs/cgroup/unified/c1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A pure v2 host: one mount right at /sys/fs/cgroup.
	got, err = planCgroupMounts([]*mountinfo.Info{{Mountpoint: "/sys/fs/cgroup", Root: "/", FSType: "cgroup2"}}, parseProcCgroup("0::/a/b\n"))
	if err != nil || len(got) != 1 || got[0].sub != "" || got[0].host != "/sys/fs/cgroup/a/b" {
		t.Errorf("v2: got %+v, %v", got, err)
	}
}

func TestInitErrorWrapsExecErrors(t *testing.T) {
	e := &initError{Step: "look up program", Msg: `exec: "x": executable file not found in $PATH`, Kind: kindNotFound}
	if !errors.Is(e, runtime.ErrExecNotFound) || e.Error() != `exec: "x": executable file not found in $PATH` {
		t.Errorf("got %q", e)
	}
	e = &initError{Step: "pivot root", Msg: "pivot_root /x: invalid argument"}
	if errors.Is(e, runtime.ErrExecNotFound) || errors.Is(e, runtime.ErrExecPermission) || e.Error() != "pivot root: pivot_root /x: invalid argument" {
		t.Errorf("got %q", e)
	}
}

func TestSyncMessagesCarryFds(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	big := make([]byte, 100<<10) // larger than any default read buffer
	for i := range big {
		big[i] = 'a'
	}
	if err := send(pair[1], &message{Type: msgReady, Error: string(big)}, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	unix.Close(pair[1])
	m, fds, err := recv(pair[0])
	if err != nil || m.Type != msgReady || len(m.Error) != len(big) || len(fds) != 1 {
		t.Fatalf("got %v, %d fds, %v", m != nil, len(fds), err)
	}
	closeAll(fds)
	if _, _, err := expect(pair[0], msgStart); err == nil {
		t.Error("EOF must be an error while a message is expected")
	}
}

func TestCapsWithin(t *testing.T) {
	c := caps{bounding: 0xff, effective: 0xff, permitted: 0xff, inheritable: 0x0f, ambient: 0x33}
	got := c.within(0x3c)
	want := caps{bounding: 0xff, effective: 0x3c, permitted: 0x3c, inheritable: 0x0c, ambient: 0x0}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestHostGIDRange(t *testing.T) {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 231072, Size: 65536}, {ContainerID: 65536, HostID: 400000, Size: 10}}
	for in, want := range map[string]string{
		"0 65535":      "231072 296607",
		"0 2147483647": "231072 296607",
		"65536 65540":  "400000 400004",
		"1 0":          "1 0",
		"x":            "x",
	} {
		if got := hostGIDRange(in, maps); got != want {
			t.Errorf("hostGIDRange(%q) = %q, want %q", in, got, want)
		}
	}
}

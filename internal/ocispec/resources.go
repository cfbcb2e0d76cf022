package ocispec

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// cpuPeriod is the CFS period --cpus is expressed in (100ms).
const cpuPeriod = 100000

func iptr(i int64) *int64 { return &i }

func cgroupRule(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major >= 0 {
		r.Major = iptr(major)
	}
	if minor >= 0 {
		r.Minor = iptr(minor)
	}
	return r
}

// DefaultDeviceRules are the device cgroup rules of an unprivileged
// container: dockerd's (deny all; null, zero, urandom, random, tty,
// console; deny fuse) followed by those runc appends to every container
// (mknod of anything; full, ptmx, the pty slaves, tun), so that a runtime
// that adds nothing grants what docker+runc grant.
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		cgroupRule(true, "c", 1, 5, "rwm"),
		cgroupRule(true, "c", 1, 3, "rwm"),
		cgroupRule(true, "c", 1, 9, "rwm"),
		cgroupRule(true, "c", 1, 8, "rwm"),
		cgroupRule(true, "c", 5, 0, "rwm"),
		cgroupRule(true, "c", 5, 1, "rwm"),
		cgroupRule(false, "c", 10, 229, "rwm"),
		// runc's AllowedDevices.
		cgroupRule(true, "c", -1, -1, "m"),
		cgroupRule(true, "b", -1, -1, "m"),
		cgroupRule(true, "c", 1, 7, "rwm"),
		cgroupRule(true, "c", 5, 2, "rwm"),
		cgroupRule(true, "c", 136, -1, "rwm"),
		cgroupRule(true, "c", 10, 200, "rwm"),
	}
}

// setResources fills linux.resources and linux.devices from HostConfig.
func setResources(s *specs.Spec, in Input) error {
	r := in.HostConfig.Resources
	res := &specs.LinuxResources{Memory: memoryResources(r), CPU: cpuResources(r)}
	if r.PidsLimit != nil {
		l := *r.PidsLimit
		if l <= 0 {
			l = -1 // the API's 0 and negatives mean unlimited
		}
		res.Pids = &specs.LinuxPids{Limit: &l}
	}
	bio, err := blockIO(r) // blkio.go
	if err != nil {
		return err
	}
	res.BlockIO = bio
	devs, rules, err := devices(in)
	if err != nil {
		return err
	}
	s.Linux.Devices = append(s.Linux.Devices, devs...)
	res.Devices = rules
	s.Linux.Resources = res
	return nil
}

// memoryResources is nil when nothing is limited.
func memoryResources(r container.Resources) *specs.LinuxMemory {
	mem := &specs.LinuxMemory{}
	if r.Memory > 0 {
		mem.Limit = iptr(r.Memory)
	}
	if r.MemoryReservation > 0 {
		mem.Reservation = iptr(r.MemoryReservation)
	}
	swap := r.MemorySwap
	if r.Memory > 0 && swap == 0 {
		// dockerd's create-time default: swap as large as the memory.
		swap = 2 * r.Memory
	}
	if swap > 0 {
		mem.Swap = iptr(swap)
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
		v := uint64(*r.MemorySwappiness)
		mem.Swappiness = &v
	}
	if r.OomKillDisable != nil {
		v := *r.OomKillDisable
		mem.DisableOOMKiller = &v
	}
	if *mem == (specs.LinuxMemory{}) {
		return nil
	}
	return mem
}

// cpuResources is nil when nothing is limited; --cpus is a CFS quota over
// a 100ms period.
func cpuResources(r container.Resources) *specs.LinuxCPU {
	cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
	if r.CPUShares > 0 {
		v := uint64(r.CPUShares)
		cpu.Shares = &v
	}
	if r.NanoCPUs > 0 {
		p := uint64(cpuPeriod)
		cpu.Period = &p
		cpu.Quota = iptr(r.NanoCPUs * cpuPeriod / 1e9)
	}
	if r.CPUPeriod != 0 {
		p := uint64(r.CPUPeriod)
		cpu.Period = &p
	}
	if r.CPUQuota != 0 {
		cpu.Quota = iptr(r.CPUQuota)
	}
	if r.CPURealtimePeriod != 0 {
		p := uint64(r.CPURealtimePeriod)
		cpu.RealtimePeriod = &p
	}
	if r.CPURealtimeRuntime != 0 {
		cpu.RealtimeRuntime = iptr(r.CPURealtimeRuntime)
	}
	if *cpu == (specs.LinuxCPU{}) {
		return nil
	}
	return cpu
}

// devices returns the device nodes to create and the device cgroup rules:
// every host device and no restriction for --privileged, else the default
// rules plus --device and --device-cgroup-rule.
func devices(in Input) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	hc := in.HostConfig
	if hc.Privileged {
		list := in.HostDevices
		if list == nil {
			list = HostDevices
		}
		d, err := list()
		if err != nil {
			return nil, nil, err
		}
		return d, []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}, nil
	}
	var devs []specs.LinuxDevice
	rules := DefaultDeviceRules()
	for _, dm := range hc.Devices {
		d, rule, err := deviceFromPath(dm)
		if err != nil {
			return nil, nil, err
		}
		devs = append(devs, d...)
		rules = append(rules, rule...)
	}
	for _, rule := range hc.DeviceCgroupRules {
		dr, err := ParseDeviceCgroupRule(rule)
		if err != nil {
			return nil, nil, err
		}
		rules = append(rules, dr)
	}
	return devs, rules, nil
}

// ParseDeviceCgroupRule parses a --device-cgroup-rule ("c 1:3 rwm",
// "b *:* m", "a").
func ParseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	bad := errdefs.InvalidArgumentf("invalid device cgroup rule format: '%s'", rule)
	f := strings.Fields(rule)
	if len(f) == 1 && f[0] == "a" {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "a", Access: "rwm"}, nil
	}
	if len(f) != 3 || (f[0] != "a" && f[0] != "b" && f[0] != "c") {
		return specs.LinuxDeviceCgroup{}, bad
	}
	majS, minS, ok := strings.Cut(f[1], ":")
	if !ok {
		return specs.LinuxDeviceCgroup{}, bad
	}
	num := func(v string) (int64, error) {
		if v == "*" {
			return -1, nil
		}
		return strconv.ParseInt(v, 10, 64)
	}
	maj, err1 := num(majS)
	min, err2 := num(minS)
	if err1 != nil || err2 != nil || f[2] == "" || strings.Trim(f[2], "rwm") != "" {
		return specs.LinuxDeviceCgroup{}, bad
	}
	return cgroupRule(true, f[0], maj, min, f[2]), nil
}

// setSysctls applies dockerd's default network sysctls for a container
// with a network namespace of its own, then HostConfig.Sysctls.
func setSysctls(s *specs.Spec, in Input) {
	hc := in.HostConfig
	exists := in.SysctlExists
	if exists == nil {
		exists = hostSysctlExists
	}
	if !hc.NetworkMode.IsHost() && !hc.NetworkMode.IsContainer() {
		if exists("net.ipv4.ping_group_range") {
			// Unprivileged ICMP echo sockets without CAP_NET_RAW.
			s.Linux.Sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
		}
		if exists("net.ipv4.ip_unprivileged_port_start") {
			// Ports below 1024 without CAP_NET_BIND_SERVICE.
			s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
	}
	for k, v := range hc.Sysctls {
		s.Linux.Sysctl[k] = v
	}
}

func hostSysctlExists(name string) bool {
	_, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	return err == nil
}

// namespacedSysctl says whether sysctl name is isolated by a namespace the
// container has, with runc's message when it is not.
func checkSysctl(name string, hc *container.HostConfig) error {
	switch {
	case name == "kernel.msgmax", name == "kernel.msgmnb", name == "kernel.msgmni",
		name == "kernel.sem", name == "kernel.shmall", name == "kernel.shmmax",
		name == "kernel.shmmni", name == "kernel.shm_rmid_forced",
		strings.HasPrefix(name, "fs.mqueue."):
		if hc.IpcMode.IsHost() {
			return errdefs.InvalidArgumentf("sysctl %q not allowed in host IPC namespace", name)
		}
		return nil
	case strings.HasPrefix(name, "net."):
		if hc.NetworkMode.IsHost() {
			return errdefs.InvalidArgumentf("sysctl %q not allowed in host network namespace", name)
		}
		return nil
	case name == "kernel.domainname", name == "kernel.hostname":
		if hc.UTSMode.IsHost() {
			return errdefs.InvalidArgumentf("sysctl %q not allowed in host UTS namespace", name)
		}
		return nil
	}
	return errdefs.InvalidArgumentf("sysctl %q is not in a separate kernel namespace", name)
}

package cgroups

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// A write is one value written to one file of the container's cgroup.
type write struct {
	// V2 says the file lives in the unified hierarchy's directory; else in
	// the directory of the v1 hierarchy holding Controller.
	V2 bool
	// Controller owns the file ("memory", "cpu", ...). On v2 it must be
	// enabled in every ancestor's cgroup.subtree_control; "cgroup" names
	// core files that need none.
	Controller string
	File       string
	Value      string
	// RetryAfterNext: if this write fails, make the next write first and
	// then retry this one. Limits that must stay ordered (v1's
	// memory.limit_in_bytes <= memory.memsw.limit_in_bytes) can then be
	// raised and lowered alike.
	RetryAfterNext bool
}

func (w write) String() string {
	v := "v1"
	if w.V2 {
		v = "v2"
	}
	return fmt.Sprintf("%s %s=%q", v, w.File, w.Value)
}

// Where a controller lives, as plan needs to know it.
type place int

const (
	absent place = iota
	onV1
	onV2
)

// env is what plan needs to know of the host: where each controller is,
// and whether an optional file exists in the container's cgroup (swap
// accounting, BFQ weights, realtime groups).
type env struct {
	where func(controller string) place
	has   func(v2 bool, controller, file string) bool
}

// UnsupportedError says a requested resource setting cannot be honoured on
// this host. It comes wrapped as an errdefs.InvalidArgument; callers that
// prefer docker's warn-and-drop behaviour find it with errors.As and
// check the host's Capabilities before asking.
type UnsupportedError struct {
	Setting string // the spec field, e.g. "memory.swap"
	Reason  string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("cgroup setting %s is not supported on this host: %s", e.Setting, e.Reason)
}

func unsupported(setting, reason string) error {
	return errdefs.With(errdefs.InvalidArgument, &UnsupportedError{Setting: setting, Reason: reason})
}

// plan turns resource limits into the writes that apply them, in order.
// It touches nothing: e answers every question about the host.
func plan(r *specs.LinuxResources, e env) ([]write, error) {
	if r == nil {
		return nil, nil
	}
	var out []write
	steps := []func(*specs.LinuxResources, env) ([]write, error){
		planMemory, planCPU, planCpuset, planPids, planBlockIO, planHugetlb, planDevices, planNetwork, planUnified,
	}
	for _, step := range steps {
		ws, err := step(r, e)
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	if len(r.Rdma) > 0 && e.where("rdma") == absent {
		return nil, unsupported("rdma", "the rdma controller is not available")
	}
	for dev, l := range r.Rdma {
		var f []string
		if l.HcaHandles != nil {
			f = append(f, fmt.Sprintf("hca_handle=%d", *l.HcaHandles))
		}
		if l.HcaObjects != nil {
			f = append(f, fmt.Sprintf("hca_object=%d", *l.HcaObjects))
		}
		if len(f) > 0 {
			out = append(out, write{V2: e.where("rdma") == onV2, Controller: "rdma", File: "rdma.max", Value: dev + " " + strings.Join(f, " ")})
		}
	}
	return out, nil
}

func i64(v int64) string  { return strconv.FormatInt(v, 10) }
func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// maxOr renders a v2 limit: negative means "max".
func maxOr(v int64) string {
	if v < 0 {
		return "max"
	}
	return i64(v)
}

func set[T comparable](p *T) bool {
	var zero T
	return p != nil && *p != zero
}

func planMemory(r *specs.LinuxResources, e env) ([]write, error) {
	m := r.Memory
	if m == nil {
		return nil, nil
	}
	wants := set(m.Limit) || set(m.Swap) || set(m.Reservation) || set(m.KernelTCP) || m.Swappiness != nil || set(m.DisableOOMKiller)
	if !wants {
		return nil, nil
	}
	switch e.where("memory") {
	case onV1:
		return planMemoryV1(m, e)
	case onV2:
		return planMemoryV2(m, e)
	}
	return nil, unsupported("memory", "the memory controller is not available")
}

func planMemoryV1(m *specs.LinuxMemory, e env) ([]write, error) {
	var out []write
	w := func(file, value string) { out = append(out, write{Controller: "memory", File: file, Value: value}) }
	swap := set(m.Swap)
	if swap && !e.has(false, "memory", "memory.memsw.limit_in_bytes") {
		if *m.Swap > 0 {
			return nil, unsupported("memory.swap", "swap accounting is off (no memory.memsw.limit_in_bytes; boot with swapaccount=1)")
		}
		swap = false // unlimited swap is what the host does anyway
	}
	if set(m.Limit) {
		out = append(out, write{Controller: "memory", File: "memory.limit_in_bytes", Value: i64(*m.Limit), RetryAfterNext: swap})
	}
	if swap {
		if set(m.Limit) && *m.Swap > 0 && *m.Limit > 0 && *m.Swap < *m.Limit {
			return nil, errdefs.InvalidArgumentf("memory+swap limit %d is below the memory limit %d", *m.Swap, *m.Limit)
		}
		w("memory.memsw.limit_in_bytes", i64(*m.Swap))
	}
	if set(m.Reservation) {
		w("memory.soft_limit_in_bytes", i64(*m.Reservation))
	}
	if set(m.KernelTCP) {
		if !e.has(false, "memory", "memory.kmem.tcp.limit_in_bytes") {
			return nil, unsupported("memory.kernelTCP", "no memory.kmem.tcp.limit_in_bytes")
		}
		w("memory.kmem.tcp.limit_in_bytes", i64(*m.KernelTCP))
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			return nil, errdefs.InvalidArgumentf("memory swappiness %d: must be 0-100", *m.Swappiness)
		}
		w("memory.swappiness", u64(*m.Swappiness))
	}
	if set(m.DisableOOMKiller) {
		w("memory.oom_control", "1")
	}
	return out, nil
}

func planMemoryV2(m *specs.LinuxMemory, e env) ([]write, error) {
	var out []write
	w := func(file, value string) {
		out = append(out, write{V2: true, Controller: "memory", File: file, Value: value})
	}
	if set(m.Limit) {
		w("memory.max", maxOr(*m.Limit))
	}
	if set(m.Swap) {
		// The spec's swap is memory+swap (v1's memsw); v2 limits swap alone.
		var v string
		switch {
		case *m.Swap < 0:
			v = "max"
		case !set(m.Limit) || *m.Limit < 0:
			return nil, errdefs.InvalidArgumentf("memory+swap limit %d needs a memory limit", *m.Swap)
		case *m.Swap < *m.Limit:
			return nil, errdefs.InvalidArgumentf("memory+swap limit %d is below the memory limit %d", *m.Swap, *m.Limit)
		default:
			v = i64(*m.Swap - *m.Limit)
		}
		if !e.has(true, "memory", "memory.swap.max") {
			if v != "max" {
				return nil, unsupported("memory.swap", "swap accounting is off (no memory.swap.max)")
			}
		} else {
			w("memory.swap.max", v)
		}
	}
	if set(m.Reservation) {
		w("memory.low", maxOr(*m.Reservation))
	}
	if set(m.KernelTCP) {
		return nil, unsupported("memory.kernelTCP", "cgroup v2 has no kernel TCP memory limit")
	}
	if m.Swappiness != nil {
		return nil, unsupported("memory.swappiness", "cgroup v2 has no per-cgroup swappiness")
	}
	if set(m.DisableOOMKiller) {
		return nil, unsupported("memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer")
	}
	return out, nil
}

func planCPU(r *specs.LinuxResources, e env) ([]write, error) {
	c := r.CPU
	if c == nil {
		return nil, nil
	}
	wants := set(c.Shares) || set(c.Quota) || set(c.Period) || set(c.Burst) || set(c.RealtimeRuntime) || set(c.RealtimePeriod) || c.Idle != nil
	if !wants {
		return nil, nil
	}
	var out []write
	switch e.where("cpu") {
	case onV1:
		w := func(file, value string) { out = append(out, write{Controller: "cpu", File: file, Value: value}) }
		opt := func(setting, file, value string) error {
			if !e.has(false, "cpu", file) {
				return unsupported(setting, "no "+file)
			}
			w(file, value)
			return nil
		}
		if set(c.Shares) {
			w("cpu.shares", u64(*c.Shares))
		}
		if set(c.Period) {
			w("cpu.cfs_period_us", u64(*c.Period))
		}
		if set(c.Quota) {
			w("cpu.cfs_quota_us", i64(*c.Quota))
		}
		if set(c.Burst) {
			if err := opt("cpu.burst", "cpu.cfs_burst_us", u64(*c.Burst)); err != nil {
				return nil, err
			}
		}
		if set(c.RealtimePeriod) {
			if err := opt("cpu.realtimePeriod", "cpu.rt_period_us", u64(*c.RealtimePeriod)); err != nil {
				return nil, err
			}
		}
		if set(c.RealtimeRuntime) {
			if err := opt("cpu.realtimeRuntime", "cpu.rt_runtime_us", i64(*c.RealtimeRuntime)); err != nil {
				return nil, err
			}
		}
		if c.Idle != nil {
			if err := opt("cpu.idle", "cpu.idle", i64(*c.Idle)); err != nil {
				return nil, err
			}
		}
	case onV2:
		w := func(file, value string) {
			out = append(out, write{V2: true, Controller: "cpu", File: file, Value: value})
		}
		if set(c.Shares) {
			w("cpu.weight", u64(sharesToWeight(*c.Shares)))
		}
		if set(c.Quota) || set(c.Period) {
			v := "max"
			if set(c.Quota) && *c.Quota > 0 {
				v = i64(*c.Quota)
			}
			if set(c.Period) {
				v += " " + u64(*c.Period)
			}
			w("cpu.max", v)
		}
		if set(c.Burst) {
			w("cpu.max.burst", u64(*c.Burst))
		}
		if set(c.RealtimeRuntime) || set(c.RealtimePeriod) {
			return nil, unsupported("cpu.realtimeRuntime", "cgroup v2 has no realtime group scheduling")
		}
		if c.Idle != nil {
			w("cpu.idle", i64(*c.Idle))
		}
	default:
		return nil, unsupported("cpu", "the cpu controller is not available")
	}
	return out, nil
}

// sharesToWeight maps v1 cpu.shares [2, 262144] onto v2 cpu.weight
// [1, 10000] as runc and crun do, so the same spec means the same on both.
func sharesToWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// blkioToIOWeight maps v1 blkio.weight [10, 1000] onto io.weight [1, 10000].
func blkioToIOWeight(w uint16) uint64 {
	v := min(max(uint64(w), 10), 1000)
	return 1 + (v-10)*9999/990
}

func planCpuset(r *specs.LinuxResources, e env) ([]write, error) {
	c := r.CPU
	if c == nil || (c.Cpus == "" && c.Mems == "") {
		return nil, nil
	}
	p := e.where("cpuset")
	if p == absent {
		return nil, unsupported("cpu.cpus", "the cpuset controller is not available")
	}
	var out []write
	if c.Cpus != "" {
		out = append(out, write{V2: p == onV2, Controller: "cpuset", File: "cpuset.cpus", Value: c.Cpus})
	}
	if c.Mems != "" {
		out = append(out, write{V2: p == onV2, Controller: "cpuset", File: "cpuset.mems", Value: c.Mems})
	}
	return out, nil
}

func planPids(r *specs.LinuxResources, e env) ([]write, error) {
	if r.Pids == nil || !set(r.Pids.Limit) {
		return nil, nil
	}
	p := e.where("pids")
	if p == absent {
		return nil, unsupported("pids.limit", "the pids controller is not available")
	}
	return []write{{V2: p == onV2, Controller: "pids", File: "pids.max", Value: maxOr(*r.Pids.Limit)}}, nil
}

func devNum(d specs.LinuxBlockIODevice) string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

func planBlockIO(r *specs.LinuxResources, e env) ([]write, error) {
	b := r.BlockIO
	if b == nil {
		return nil, nil
	}
	wants := set(b.Weight) || set(b.LeafWeight) || len(b.WeightDevice) > 0 || len(b.ThrottleReadBpsDevice) > 0 ||
		len(b.ThrottleWriteBpsDevice) > 0 || len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0
	if !wants {
		return nil, nil
	}
	var out []write
	if e.where("blkio") == onV1 {
		w := func(file, value string) { out = append(out, write{Controller: "blkio", File: file, Value: value}) }
		// blkio.weight is CFQ's; with BFQ the kernel offers blkio.bfq.weight.
		weightFile := func(setting, base string) (string, error) {
			for _, f := range []string{"blkio." + base, "blkio.bfq." + base} {
				if e.has(false, "blkio", f) {
					return f, nil
				}
			}
			return "", unsupported(setting, "no blkio."+base+" (the block scheduler is neither CFQ nor BFQ)")
		}
		if set(b.Weight) {
			f, err := weightFile("blockIO.weight", "weight")
			if err != nil {
				return nil, err
			}
			w(f, strconv.Itoa(int(*b.Weight)))
		}
		if set(b.LeafWeight) {
			f, err := weightFile("blockIO.leafWeight", "leaf_weight")
			if err != nil {
				return nil, err
			}
			w(f, strconv.Itoa(int(*b.LeafWeight)))
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				f, err := weightFile("blockIO.weightDevice", "weight_device")
				if err != nil {
					return nil, err
				}
				w(f, fmt.Sprintf("%s %d", devNum(d.LinuxBlockIODevice), *d.Weight))
			}
		}
		for _, t := range []struct {
			file string
			devs []specs.LinuxThrottleDevice
		}{
			{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
			{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
			{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
			{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.devs {
				w(t.file, fmt.Sprintf("%s %d", devNum(d.LinuxBlockIODevice), d.Rate))
			}
		}
		return out, nil
	}
	if e.where("io") != onV2 {
		return nil, unsupported("blockIO", "neither the blkio nor the io controller is available")
	}
	w := func(file, value string) {
		out = append(out, write{V2: true, Controller: "io", File: file, Value: value})
	}
	if set(b.Weight) {
		if e.has(true, "io", "io.bfq.weight") {
			w("io.bfq.weight", strconv.Itoa(int(*b.Weight)))
		} else if e.has(true, "io", "io.weight") {
			w("io.weight", u64(blkioToIOWeight(*b.Weight)))
		} else {
			return nil, unsupported("blockIO.weight", "no io.weight or io.bfq.weight")
		}
	}
	if set(b.LeafWeight) {
		return nil, unsupported("blockIO.leafWeight", "cgroup v2 has no leaf weight")
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			if !e.has(true, "io", "io.bfq.weight") {
				return nil, unsupported("blockIO.weightDevice", "no io.bfq.weight")
			}
			w("io.bfq.weight", fmt.Sprintf("%s %d", devNum(d.LinuxBlockIODevice), *d.Weight))
		}
	}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			w("io.max", fmt.Sprintf("%s %s=%d", devNum(d.LinuxBlockIODevice), t.key, d.Rate))
		}
	}
	return out, nil
}

func planHugetlb(r *specs.LinuxResources, e env) ([]write, error) {
	if len(r.HugepageLimits) == 0 {
		return nil, nil
	}
	p := e.where("hugetlb")
	if p == absent {
		return nil, unsupported("hugepageLimits", "the hugetlb controller is not available")
	}
	var out []write
	for _, h := range r.HugepageLimits {
		if h.Pagesize == "" || strings.ContainsAny(h.Pagesize, "/.") {
			return nil, errdefs.InvalidArgumentf("hugepage size %q is not valid", h.Pagesize)
		}
		file := "hugetlb." + h.Pagesize + ".limit_in_bytes"
		if p == onV2 {
			file = "hugetlb." + h.Pagesize + ".max"
		}
		if !e.has(p == onV2, "hugetlb", file) {
			return nil, unsupported("hugepageLimits", "no "+file+" (unknown page size?)")
		}
		out = append(out, write{V2: p == onV2, Controller: "hugetlb", File: file, Value: u64(h.Limit)})
	}
	return out, nil
}

// deviceRule renders a device rule the way v1's devices.allow/deny take it.
func deviceRule(d specs.LinuxDeviceCgroup) string {
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return i64(*p)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), access)
}

// planDevices writes the device rules in order on v1. Without a v1
// devices controller there is no file to write: Set attaches an eBPF
// filter instead (attachDeviceFilter).
func planDevices(r *specs.LinuxResources, e env) ([]write, error) {
	if len(r.Devices) == 0 || e.where("devices") != onV1 {
		return nil, nil
	}
	var out []write
	for _, d := range r.Devices {
		switch d.Type {
		case "", "a", "b", "c":
		default:
			return nil, errdefs.InvalidArgumentf("device rule type %q: must be a, b or c", d.Type)
		}
		if strings.Trim(d.Access, "rwm") != "" {
			return nil, errdefs.InvalidArgumentf("device rule access %q: must be made of r, w, m", d.Access)
		}
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		out = append(out, write{Controller: "devices", File: file, Value: deviceRule(d)})
	}
	return out, nil
}

func planNetwork(r *specs.LinuxResources, e env) ([]write, error) {
	n := r.Network
	if n == nil {
		return nil, nil
	}
	var out []write
	if set(n.ClassID) {
		if e.where("net_cls") != onV1 {
			return nil, unsupported("network.classID", "the net_cls controller is not mounted")
		}
		out = append(out, write{Controller: "net_cls", File: "net_cls.classid", Value: strconv.FormatUint(uint64(*n.ClassID), 10)})
	}
	if len(n.Priorities) > 0 && e.where("net_prio") != onV1 {
		return nil, unsupported("network.priorities", "the net_prio controller is not mounted")
	}
	for _, p := range n.Priorities {
		out = append(out, write{Controller: "net_prio", File: "net_prio.ifpriomap", Value: fmt.Sprintf("%s %d", p.Name, p.Priority)})
	}
	return out, nil
}

// planUnified writes the spec's raw v2 key/values (sorted, for a stable
// order) to files of the unified hierarchy.
func planUnified(r *specs.LinuxResources, e env) ([]write, error) {
	var out []write
	for _, k := range slices.Sorted(maps.Keys(r.Unified)) {
		ctrl, _, ok := strings.Cut(k, ".")
		if !ok || strings.ContainsAny(k, "/") || ctrl == "" {
			return nil, errdefs.InvalidArgumentf("unified cgroup key %q: not a cgroup file name", k)
		}
		if ctrl != "cgroup" && e.where(ctrl) != onV2 {
			return nil, unsupported("unified."+k, "the "+ctrl+" controller is not on the unified hierarchy")
		}
		out = append(out, write{V2: true, Controller: ctrl, File: k, Value: r.Unified[k]})
	}
	return out, nil
}

package cgroups

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func ptr[T any](v T) *T { return &v }

// fakeEnv places controllers and lists the optional files that exist.
func fakeEnv(v1, v2 []string, files ...string) env {
	return env{
		where: func(c string) place {
			switch {
			case slices.Contains(v1, c):
				return onV1
			case slices.Contains(v2, c):
				return onV2
			}
			return absent
		},
		has: func(_ bool, _, file string) bool { return slices.Contains(files, file) },
	}
}

var (
	allV1 = []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer", "net_cls", "net_prio"}
	allV2 = []string{"memory", "cpu", "cpuset", "pids", "io", "hugetlb"}
)

func TestPlanV1(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(16 << 20)), Swap: ptr(int64(32 << 20)), Reservation: ptr(int64(8 << 20)), DisableOOMKiller: ptr(false)},
		CPU:    &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(20))},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(300)), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576},
		}},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr(int64(136)), Access: "rw"},
		},
	}
	got, err := plan(r, fakeEnv(allV1, nil, "memory.memsw.limit_in_bytes", "blkio.bfq.weight"))
	if err != nil {
		t.Fatal(err)
	}
	want := []write{
		{Controller: "memory", File: "memory.limit_in_bytes", Value: "16777216", RetryAfterNext: true},
		{Controller: "memory", File: "memory.memsw.limit_in_bytes", Value: "33554432"},
		{Controller: "memory", File: "memory.soft_limit_in_bytes", Value: "8388608"},
		{Controller: "cpu", File: "cpu.shares", Value: "512"},
		{Controller: "cpu", File: "cpu.cfs_period_us", Value: "100000"},
		{Controller: "cpu", File: "cpu.cfs_quota_us", Value: "50000"},
		{Controller: "cpuset", File: "cpuset.cpus", Value: "0"},
		{Controller: "cpuset", File: "cpuset.mems", Value: "0"},
		{Controller: "pids", File: "pids.max", Value: "20"},
		{Controller: "blkio", File: "blkio.bfq.weight", Value: "300"},
		{Controller: "blkio", File: "blkio.throttle.read_bps_device", Value: "8:0 1048576"},
		{Controller: "devices", File: "devices.deny", Value: "a *:* rwm"},
		{Controller: "devices", File: "devices.allow", Value: "c 1:3 rwm"},
		{Controller: "devices", File: "devices.allow", Value: "c 136:* rw"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan:\n got %v\nwant %v", got, want)
	}
}

func TestPlanV2(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: ptr(int64(100)), Swap: ptr(int64(300)), Reservation: ptr(int64(50))},
		CPU:     &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(-1)), Period: ptr(uint64(100000))},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(-1))},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500))},
		// v2 device rules are an eBPF filter, not file writes.
		Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Unified:        map[string]string{"pids.max": "7", "cgroup.type": "domain"},
	}
	got, err := plan(r, fakeEnv(nil, allV2, "memory.swap.max", "io.weight", "hugetlb.2MB.max"))
	if err != nil {
		t.Fatal(err)
	}
	want := []write{
		{V2: true, Controller: "memory", File: "memory.max", Value: "100"},
		{V2: true, Controller: "memory", File: "memory.swap.max", Value: "200"},
		{V2: true, Controller: "memory", File: "memory.low", Value: "50"},
		{V2: true, Controller: "cpu", File: "cpu.weight", Value: "39"},
		{V2: true, Controller: "cpu", File: "cpu.max", Value: "max 100000"},
		{V2: true, Controller: "pids", File: "pids.max", Value: "max"},
		{V2: true, Controller: "io", File: "io.weight", Value: "4950"},
		{V2: true, Controller: "hugetlb", File: "hugetlb.2MB.max", Value: "4194304"},
		{V2: true, Controller: "cgroup", File: "cgroup.type", Value: "domain"},
		{V2: true, Controller: "pids", File: "pids.max", Value: "7"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan:\n got %v\nwant %v", got, want)
	}
}

func TestPlanHybridUsesUnifiedForHugetlb(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: ptr(int64(1 << 20))},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 0}},
	}
	got, err := plan(r, fakeEnv(allV1, []string{"hugetlb"}, "hugetlb.1GB.max"))
	if err != nil {
		t.Fatal(err)
	}
	want := []write{
		{Controller: "memory", File: "memory.limit_in_bytes", Value: "1048576"},
		{V2: true, Controller: "hugetlb", File: "hugetlb.1GB.max", Value: "0"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan:\n got %v\nwant %v", got, want)
	}
}

func TestPlanNothingToDo(t *testing.T) {
	for _, r := range []*specs.LinuxResources{
		nil,
		{},
		{Memory: &specs.LinuxMemory{Limit: ptr(int64(0))}, CPU: &specs.LinuxCPU{Shares: ptr(uint64(0))}, Pids: &specs.LinuxPids{Limit: ptr(int64(0))}},
	} {
		// Nothing requested: no controller is even needed.
		got, err := plan(r, fakeEnv(nil, nil))
		if err != nil || len(got) != 0 {
			t.Errorf("plan(%+v) = %v, %v; want nothing", r, got, err)
		}
	}
}

func TestPlanUnsupported(t *testing.T) {
	for name, tc := range map[string]struct {
		r       *specs.LinuxResources
		e       env
		setting string
	}{
		"v1 swap without accounting": {
			&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(10)), Swap: ptr(int64(20))}},
			fakeEnv(allV1, nil), "memory.swap",
		},
		"v2 swap without memory.swap.max": {
			&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(10)), Swap: ptr(int64(20))}},
			fakeEnv(nil, allV2), "memory.swap",
		},
		"no memory controller": {
			&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(10))}},
			fakeEnv([]string{"cpu"}, nil), "memory",
		},
		"no pids controller": {
			&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}},
			fakeEnv([]string{"memory"}, nil), "pids.limit",
		},
		"blkio weight without CFQ or BFQ": {
			&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(100))}},
			fakeEnv(allV1, nil), "blockIO.weight",
		},
		"v2 oom killer disable": {
			&specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: ptr(true)}},
			fakeEnv(nil, allV2), "memory.disableOOMKiller",
		},
		"v1 unified keys": {
			&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}},
			fakeEnv(allV1, nil), "unified.memory.high",
		},
		"realtime without RT groups": {
			&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(int64(1000))}},
			fakeEnv(allV1, nil), "cpu.realtimeRuntime",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := plan(tc.r, tc.e)
			var ue *UnsupportedError
			if !errors.As(err, &ue) || ue.Setting != tc.setting {
				t.Fatalf("err = %v, want UnsupportedError for %s", err, tc.setting)
			}
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Fatalf("err class %v, want invalid argument", errdefs.ClassOf(err))
			}
		})
	}
}

func TestPlanSwapUnlimitedWithoutAccountingIsFine(t *testing.T) {
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(10)), Swap: ptr(int64(-1))}}
	got, err := plan(r, fakeEnv(allV1, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []write{{Controller: "memory", File: "memory.limit_in_bytes", Value: "10"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan = %v, want %v", got, want)
	}
}

func TestPlanInvalid(t *testing.T) {
	for name, r := range map[string]*specs.LinuxResources{
		"swap below limit":  {Memory: &specs.LinuxMemory{Limit: ptr(int64(20)), Swap: ptr(int64(10))}},
		"swappiness > 100":  {Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(101))}},
		"device type":       {Devices: []specs.LinuxDeviceCgroup{{Type: "x", Access: "r"}}},
		"device access":     {Devices: []specs.LinuxDeviceCgroup{{Type: "c", Access: "rx"}}},
		"hugepage size":     {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB"}}},
		"unified key slash": {Unified: map[string]string{"memory/../x": "1"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := fakeEnv(append(allV1, "hugetlb"), nil, "memory.memsw.limit_in_bytes")
			if name == "unified key slash" {
				e = fakeEnv(nil, allV2)
			}
			_, err := plan(r, e)
			var ue *UnsupportedError
			if !errdefs.Is(err, errdefs.InvalidArgument) || errors.As(err, &ue) {
				t.Fatalf("err = %v, want a plain invalid argument", err)
			}
		})
	}
}

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 39, 262144: 10000, 1: 1, 1 << 30: 10000} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func TestParseKey(t *testing.T) {
	s := "oom_kill_disable 0\nunder_oom 0\noom_kill 3"
	if n, err := parseKey(s, "oom_kill"); err != nil || n != 3 {
		t.Fatalf("oom_kill = %d, %v; want 3", n, err)
	}
	if n, err := parseKey(s, "absent"); err != nil || n != 0 {
		t.Fatalf("absent key = %d, %v; want 0", n, err)
	}
}

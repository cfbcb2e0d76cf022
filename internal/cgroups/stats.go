package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Stats is a snapshot of a cgroup's usage, in the units docker stats
// reports. Fields a host cannot provide are zero.
type Stats struct {
	Memory MemoryStats
	CPU    CPUStats
	Pids   PidsStats
	Blkio  BlkioStats
}

// BlkioStats is block I/O per device, as docker's blkio_stats lists it:
// v1's blkio.throttle.io_service_bytes/io_serviced (ops "Read", "Write",
// "Sync", "Async", "Discard", "Total"), v2's io.stat (ops "read",
// "write").
type BlkioStats struct {
	ServiceBytes []BlkioEntry
	Serviced     []BlkioEntry
}

// BlkioEntry is one device's count for one operation.
type BlkioEntry struct {
	Major, Minor uint64
	Op           string
	Value        uint64
}

// MemoryStats is memory use in bytes.
type MemoryStats struct {
	Usage    uint64 // v1 memory.usage_in_bytes, v2 memory.current
	MaxUsage uint64 // v1 memory.max_usage_in_bytes, v2 memory.peak
	Limit    uint64 // 0: unlimited
	// Stat is memory.stat, key by key (cache/inactive_file, used by docker
	// stats to compute the usage it prints).
	Stat map[string]uint64
}

// CPUStats is CPU time in nanoseconds.
type CPUStats struct {
	Usage            uint64   // total
	User, System     uint64   // split
	PerCPU           []uint64 // v1 only
	Periods          uint64
	ThrottledPeriods uint64
	ThrottledTime    uint64
}

// PidsStats counts tasks.
type PidsStats struct {
	Current uint64
	Limit   uint64 // 0: unlimited
}

// userHZ is the unit of v1's cpuacct.stat: USER_HZ, 100 on every Linux
// architecture berth builds for.
const userHZ = 100

// Stats reads the cgroup's usage. A controller the host lacks leaves its
// part zero; a cgroup that is gone is an error.
func (m *manager) Stats() (*Stats, error) {
	s := &Stats{}
	read := func(ctrl, file string) (string, bool) {
		dir := m.Path(ctrl)
		if dir == "" {
			return "", false
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return "", false
		}
		return strings.TrimSpace(string(b)), true
	}
	num := func(ctrl, file string) uint64 {
		v, ok := read(ctrl, file)
		if !ok {
			return 0
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		return n
	}
	if _, err := os.Stat(m.primary()); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFoundf("cgroup %s does not exist", m.primary())
		}
		return nil, fmt.Errorf("cgroup stats: %w", err)
	}
	switch m.where("memory") {
	case onV1:
		s.Memory.Usage = num("memory", "memory.usage_in_bytes")
		s.Memory.MaxUsage = num("memory", "memory.max_usage_in_bytes")
		s.Memory.Limit = num("memory", "memory.limit_in_bytes")
		if s.Memory.Limit >= 1<<62 { // v1 prints "unlimited" as a huge page-aligned number
			s.Memory.Limit = 0
		}
	case onV2:
		s.Memory.Usage = num("memory", "memory.current")
		s.Memory.MaxUsage = num("memory", "memory.peak")
		s.Memory.Limit = num("memory", "memory.max") // "max" parses as 0
	}
	if v, ok := read("memory", "memory.stat"); ok {
		s.Memory.Stat = parseFlat(v)
	}
	if m.where("cpuacct") == onV1 {
		s.CPU.Usage = num("cpuacct", "cpuacct.usage")
		if v, ok := read("cpuacct", "cpuacct.usage_percpu"); ok {
			for _, f := range strings.Fields(v) {
				n, _ := strconv.ParseUint(f, 10, 64)
				s.CPU.PerCPU = append(s.CPU.PerCPU, n)
			}
		}
		if v, ok := read("cpuacct", "cpuacct.stat"); ok {
			st := parseFlat(v)
			s.CPU.User = st["user"] * (1e9 / userHZ)
			s.CPU.System = st["system"] * (1e9 / userHZ)
		}
	}
	if v, ok := read("cpu", "cpu.stat"); ok {
		st := parseFlat(v)
		s.CPU.Periods = st["nr_periods"]
		s.CPU.ThrottledPeriods = st["nr_throttled"]
		if m.where("cpu") == onV1 {
			s.CPU.ThrottledTime = st["throttled_time"]
		} else {
			s.CPU.ThrottledTime = st["throttled_usec"] * 1000
		}
	}
	if m.l.Mode == ModeV2 {
		// cpu.stat's usage lines are core v2 files, present with or
		// without the cpu controller.
		if v, ok := read("", "cpu.stat"); ok {
			st := parseFlat(v)
			s.CPU.Usage = st["usage_usec"] * 1000
			s.CPU.User = st["user_usec"] * 1000
			s.CPU.System = st["system_usec"] * 1000
		}
	}
	switch m.where("blkio") {
	case onV1:
		if v, ok := read("blkio", "blkio.throttle.io_service_bytes_recursive"); ok {
			s.Blkio.ServiceBytes = parseBlkioV1(v)
		}
		if v, ok := read("blkio", "blkio.throttle.io_serviced_recursive"); ok {
			s.Blkio.Serviced = parseBlkioV1(v)
		}
	default:
		if m.l.Mode == ModeV2 {
			if v, ok := read("io", "io.stat"); ok {
				s.Blkio.ServiceBytes, s.Blkio.Serviced = parseIOStat(v)
			}
		}
	}
	if m.where("pids") != absent {
		s.Pids.Current = num("pids", "pids.current")
		s.Pids.Limit = num("pids", "pids.max") // "max" parses as 0
	}
	return s, nil
}

// parseFlat parses "key value" lines.
func parseFlat(s string) map[string]uint64 {
	out := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// parseBlkioV1 parses "8:0 Read 4096" lines (the "Total" summary line,
// which names no device, is dropped).
func parseBlkioV1(s string) []BlkioEntry {
	var out []BlkioEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		maj, min, ok := parseDevNum(f[0])
		v, err := strconv.ParseUint(f[2], 10, 64)
		if !ok || err != nil {
			continue
		}
		out = append(out, BlkioEntry{Major: maj, Minor: min, Op: f[1], Value: v})
	}
	return out
}

// parseIOStat parses v2 "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." lines
// into bytes and operations read and written, as dockerd reports them.
func parseIOStat(s string) (bytes, ios []BlkioEntry) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, ok := parseDevNum(f[0])
		if !ok {
			continue
		}
		kv := map[string]uint64{}
		for _, p := range f[1:] {
			k, v, _ := strings.Cut(p, "=")
			kv[k], _ = strconv.ParseUint(v, 10, 64)
		}
		bytes = append(bytes,
			BlkioEntry{Major: maj, Minor: min, Op: "read", Value: kv["rbytes"]},
			BlkioEntry{Major: maj, Minor: min, Op: "write", Value: kv["wbytes"]})
		ios = append(ios,
			BlkioEntry{Major: maj, Minor: min, Op: "read", Value: kv["rios"]},
			BlkioEntry{Major: maj, Minor: min, Op: "write", Value: kv["wios"]})
	}
	return bytes, ios
}

func parseDevNum(s string) (major, minor uint64, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	maj, err1 := strconv.ParseUint(a, 10, 64)
	min, err2 := strconv.ParseUint(b, 10, 64)
	return maj, min, err1 == nil && err2 == nil
}

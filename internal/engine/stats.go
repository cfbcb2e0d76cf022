package engine

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/container"
)

// statsInterval is dockerd's collection interval.
const statsInterval = time.Second

// Stats samples the container's cgroup, reading its files directly: no
// process is spawned, so docker stats over many containers stays cheap.
// Without a stream, a second sample a second later fills precpu_stats
// (dockerd primes it the same way) unless OneShot asks for one at once.
// A container that is not running yields samples with only id and name,
// as dockerd's.
func (e *Engine) Stats(ctx context.Context, ref string, opts containers.StatsOptions, emit func(*ctypes.StatsResponse) error) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	if !opts.Stream {
		s := e.sampleStats(ent.Snapshot())
		if !opts.OneShot && !s.Read.IsZero() {
			select {
			case <-time.After(statsInterval):
			case <-ctx.Done():
				return nil
			case <-ent.Removed():
			}
			s = withPrevious(e.sampleStats(ent.Snapshot()), s)
		}
		return emit(s)
	}
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	var prev *ctypes.StatsResponse
	for {
		s := e.sampleStats(ent.Snapshot())
		if prev != nil {
			s = withPrevious(s, prev)
		}
		if err := emit(s); err != nil {
			return nil // the client went away
		}
		prev = s
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		case <-ent.Removed():
			return nil
		}
	}
}

// withPrevious fills s's pre-fields from an earlier sample.
func withPrevious(s, prev *ctypes.StatsResponse) *ctypes.StatsResponse {
	if s.Read.IsZero() || prev.Read.IsZero() {
		return s
	}
	s.PreRead = prev.Read
	s.PreCPUStats = prev.CPUStats
	return s
}

// sampleStats reads one sample of c's cgroup; a container that is not
// running (or whose cgroup is gone) gets id and name only.
func (e *Engine) sampleStats(c *container.Container) *ctypes.StatsResponse {
	s := &ctypes.StatsResponse{ID: c.ID, Name: c.Name}
	if c.State.Status != ctypes.StateRunning && c.State.Status != ctypes.StatePaused {
		return s
	}
	cg, err := cgroups.Load(c.State.Pid)
	if err != nil {
		return s
	}
	st, err := cg.Stats()
	if err != nil {
		return s
	}
	h := readHostCPU()
	s.Read = time.Now()
	s.CPUStats = ctypes.CPUStats{
		CPUUsage: ctypes.CPUUsage{
			TotalUsage:        st.CPU.Usage,
			PercpuUsage:       st.CPU.PerCPU,
			UsageInKernelmode: st.CPU.System,
			UsageInUsermode:   st.CPU.User,
		},
		SystemUsage: h.systemUsage,
		OnlineCPUs:  h.onlineCPUs,
		ThrottlingData: ctypes.ThrottlingData{
			Periods:          st.CPU.Periods,
			ThrottledPeriods: st.CPU.ThrottledPeriods,
			ThrottledTime:    st.CPU.ThrottledTime,
		},
	}
	limit := st.Memory.Limit
	if total := machineMemory(); limit == 0 || (total > 0 && limit > total) {
		limit = total // dockerd shows the host's memory for no limit
	}
	s.MemoryStats = ctypes.MemoryStats{Usage: st.Memory.Usage, MaxUsage: st.Memory.MaxUsage, Stats: st.Memory.Stat, Limit: limit}
	s.PidsStats = ctypes.PidsStats{Current: st.Pids.Current, Limit: st.Pids.Limit}
	// dockerd lists every blkio field, empty rather than null, for a
	// running container.
	none := []ctypes.BlkioStatEntry{}
	s.BlkioStats = ctypes.BlkioStats{
		IoServiceBytesRecursive: blkioEntries(st.Blkio.ServiceBytes),
		IoServicedRecursive:     blkioEntries(st.Blkio.Serviced),
		IoQueuedRecursive:       none, IoServiceTimeRecursive: none, IoWaitTimeRecursive: none,
		IoMergedRecursive: none, IoTimeRecursive: none, SectorsRecursive: none,
	}
	return s
}

func blkioEntries(in []cgroups.BlkioEntry) []ctypes.BlkioStatEntry {
	out := make([]ctypes.BlkioStatEntry, len(in))
	for i, b := range in {
		out[i] = ctypes.BlkioStatEntry{Major: b.Major, Minor: b.Minor, Op: b.Op, Value: b.Value}
	}
	return out
}

type hostCPU struct {
	systemUsage uint64 // ns of all CPUs' time since boot
	onlineCPUs  uint32
}

// clockTicks is USER_HZ, the unit of /proc/stat.
const clockTicks = 100

// readHostCPU reads /proc/stat as dockerd does: the first seven fields of
// the "cpu" line (user to softirq) in ns, and the count of "cpuN" lines.
func readHostCPU() hostCPU {
	var h hostCPU
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return h
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "cpu") {
			break // the cpu lines come first
		}
		f := strings.Fields(line)
		if f[0] != "cpu" {
			h.onlineCPUs++
			continue
		}
		if len(f) < 8 {
			continue
		}
		var ticks uint64
		for _, v := range f[1:8] {
			n, _ := strconv.ParseUint(v, 10, 64)
			ticks += n
		}
		h.systemUsage = ticks * (1e9 / clockTicks)
	}
	return h
}

var (
	machineMemOnce sync.Once
	machineMem     uint64
)

// machineMemory is the host's MemTotal in bytes, read once.
func machineMemory() uint64 {
	machineMemOnce.Do(func() { machineMem = uint64(memTotal()) })
	return machineMem
}

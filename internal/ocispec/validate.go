package ocispec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/errdefs"
)

// linuxMinMemory is dockerd's smallest memory limit and reservation (6 MiB).
const linuxMinMemory = 6 << 20

// Validate makes dockerd's create-time checks of a container's config and
// host config, with dockerd's messages, as InvalidArgument errors (or
// NotImplemented for what berth cannot do yet). It needs no image: it runs
// before the config is merged with the image's. Besides parsing, it looks
// at the host only to check that --mount bind sources exist.
func Validate(cfg *container.Config, hc *container.HostConfig) error {
	return validate(cfg, hc, true)
}

// validate is Validate; atCreate adds the checks of the user's request that
// no longer hold once the engine has filled in defaults (the hostname).
func validate(cfg *container.Config, hc *container.HostConfig, atCreate bool) error {
	if cfg != nil {
		if err := validateConfig(cfg); err != nil {
			return err
		}
	}
	if hc == nil {
		return nil
	}
	if atCreate {
		if hc.AutoRemove && !hc.RestartPolicy.IsNone() {
			return errdefs.InvalidArgumentf("can't create 'AutoRemove' container with restart policy")
		}
		if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
			return errdefs.With(errdefs.InvalidArgument, err)
		}
	}
	if !hc.Isolation.IsValid() {
		return errdefs.InvalidArgumentf("invalid isolation '%s' on %s", hc.Isolation, runtime.GOOS)
	}
	for k := range hc.Annotations {
		if k == "" {
			return errdefs.InvalidArgumentf("invalid Annotations: the empty string is not permitted as an annotation key")
		}
	}
	if err := validateResources(&hc.Resources); err != nil {
		return err
	}
	if hc.ShmSize < 0 {
		return errdefs.InvalidArgumentf("SHM size can not be less than 0")
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return errdefs.InvalidArgumentf("Invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj)
	}
	if err := validateModes(hc); err != nil {
		return err
	}
	if atCreate && cfg != nil && hc.NetworkMode.IsContainer() && cfg.Hostname != "" {
		return errdefs.InvalidArgumentf("conflicting options: hostname and the network mode")
	}
	if _, err := normalizeCaps(hc.CapAdd, 0); err != nil {
		return err
	}
	if _, err := normalizeCaps(hc.CapDrop, 0); err != nil {
		return err
	}
	if _, err := parseSecurityOpts(hc.SecurityOpt); err != nil {
		return err
	}
	if err := validateMounts(hc); err != nil {
		return err
	}
	for name := range hc.Sysctls {
		if err := checkSysctl(name, hc); err != nil {
			return err
		}
	}
	for _, u := range hc.Ulimits {
		if err := validateUlimit(u); err != nil {
			return err
		}
	}
	for _, r := range hc.DeviceCgroupRules {
		if _, err := ParseDeviceCgroupRule(r); err != nil {
			return err
		}
	}
	return nil
}

func validateModes(hc *container.HostConfig) error {
	switch {
	case !hc.IpcMode.Valid():
		return errdefs.InvalidArgumentf("invalid IPC mode: %v", hc.IpcMode)
	case !hc.PidMode.Valid():
		return errdefs.InvalidArgumentf("invalid PID mode: %v", hc.PidMode)
	case !hc.UTSMode.Valid():
		return errdefs.InvalidArgumentf("invalid UTS mode: %v", hc.UTSMode)
	case !hc.CgroupnsMode.Valid():
		return errdefs.InvalidArgumentf("invalid cgroup namespace mode: %v", hc.CgroupnsMode)
	}
	return nil
}

// validateMounts parses every user mount and checks that --mount bind
// sources exist (-v creates them).
func validateMounts(hc *container.HostConfig) error {
	ums, err := UserMounts(hc)
	if err != nil {
		return err
	}
	for _, um := range ums {
		if um.Kind != KindBind || um.CreateSource {
			continue
		}
		if _, err := os.Stat(um.Source); errors.Is(err, fs.ErrNotExist) {
			return errdefs.InvalidArgumentf("invalid mount config for type %q: bind source path does not exist: %s", mount.TypeBind, um.Source)
		} else if err != nil {
			return errdefs.InvalidArgumentf("invalid mount config for type %q: %v", mount.TypeBind, err)
		}
	}
	return nil
}

// ValidateMerged checks what can only be checked once the config is merged
// with the image's: there must be a command.
func ValidateMerged(cfg *container.Config) error {
	if _, err := Args(cfg); err != nil {
		return err
	}
	return validateConfig(cfg)
}

func validateConfig(cfg *container.Config) error {
	if cfg.WorkingDir != "" && !path.IsAbs(cfg.WorkingDir) {
		return errdefs.InvalidArgumentf("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
	}
	if h := cfg.Healthcheck; h != nil {
		const min = container.MinimumDuration
		switch {
		case h.Interval != 0 && h.Interval < min:
			return errdefs.InvalidArgumentf("Interval in Healthcheck cannot be less than %s", min)
		case h.Timeout != 0 && h.Timeout < min:
			return errdefs.InvalidArgumentf("Timeout in Healthcheck cannot be less than %s", min)
		case h.Retries < 0:
			return errdefs.InvalidArgumentf("Retries in Healthcheck cannot be negative")
		case h.StartPeriod != 0 && h.StartPeriod < min:
			return errdefs.InvalidArgumentf("StartPeriod in Healthcheck cannot be less than %s", min)
		case h.StartInterval != 0 && h.StartInterval < min:
			return errdefs.InvalidArgumentf("StartInterval in Healthcheck cannot be less than %s", min)
		}
	}
	for _, e := range cfg.Env {
		if k, _, _ := strings.Cut(e, "="); strings.TrimSpace(k) == "" {
			return errdefs.InvalidArgumentf("invalid environment variable: %s", e)
		}
	}
	return nil
}

var ulimitNames = map[string]bool{
	"as": true, "core": true, "cpu": true, "data": true, "fsize": true,
	"locks": true, "memlock": true, "msgqueue": true, "nice": true,
	"nofile": true, "nproc": true, "rss": true, "rtprio": true,
	"rttime": true, "sigpending": true, "stack": true,
}

func validateUlimit(u *container.Ulimit) error {
	if u == nil {
		return nil
	}
	if !ulimitNames[u.Name] {
		return errdefs.InvalidArgumentf("invalid ulimit type: %s", u.Name)
	}
	if u.Soft == -1 && u.Hard != -1 {
		return errdefs.InvalidArgumentf("ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: %d", u.Hard)
	}
	if u.Hard != -1 && u.Soft > u.Hard {
		return errdefs.InvalidArgumentf("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
	}
	return nil
}

// validateResources is dockerd's verifyPlatformContainerResources, less
// the warnings about controllers the kernel lacks.
func validateResources(r *container.Resources) error {
	bad := errdefs.InvalidArgumentf
	if r.Memory != 0 && r.Memory < linuxMinMemory {
		return bad("Minimum memory limit allowed is 6MB")
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return bad("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.Memory == 0 && r.MemorySwap > 0 {
		return bad("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if s := r.MemorySwappiness; s != nil && *s != -1 && (*s < 0 || *s > 100) {
		return bad("Invalid value: %v, valid memory swappiness range is 0-100", *s)
	}
	if r.MemoryReservation > 0 && r.MemoryReservation < linuxMinMemory {
		return bad("Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return bad("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	n := runtime.NumCPU()
	if r.NanoCPUs < 0 || r.NanoCPUs > int64(n)*1e9 {
		return bad("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	if r.CPUShares < 0 {
		return bad("invalid CPU shares (%d): value must be a positive integer", r.CPUShares) // moby runconfig, Docker 25+
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if err := validateCpuset(r.CpusetCpus, "cpus", n); err != nil {
		return err
	}
	if err := validateCpuset(r.CpusetMems, "mems", memNodes()); err != nil {
		return err
	}
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return bad("Range of blkio weight is from 10 to 1000")
	}
	if r.IOMaximumBandwidth != 0 || r.IOMaximumIOps != 0 {
		return bad("Invalid QoS settings: %s does not support Maximum IO Bandwidth or Maximum IO IOps", runtime.GOOS)
	}
	if err := validateBlkioDevices(r); err != nil { // blkio.go
		return err
	}
	if len(r.DeviceRequests) > 0 {
		return errdefs.NotImplementedf("device requests (--gpus) are not supported")
	}
	return nil
}

// memNodes is the number of the host's memory nodes (the highest online
// node + 1), or -1 when unknown. A node that does not exist would only
// fail at start, writing cpuset.mems; dockerd refuses it at create.
func memNodes() int {
	b, err := os.ReadFile("/sys/devices/system/node/online") // "0", "0-1", "0,2-3"
	if err != nil {
		return -1
	}
	list := strings.TrimSpace(string(b))
	last := list[strings.LastIndexAny(list, ",-")+1:]
	n, err := strconv.Atoi(last)
	if err != nil {
		return -1
	}
	return n + 1
}

// validateCpuset parses a cpuset list ("0-2,4") and, when max >= 0,
// checks every cpu is below max.
func validateCpuset(list, what string, max int) error {
	if list == "" {
		return nil
	}
	invalid := func(err error) error {
		return errdefs.InvalidArgumentf("Invalid value %s for cpuset %s: %v", list, what, err)
	}
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return invalid(fmt.Errorf("invalid format: %s", list))
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return invalid(fmt.Errorf("invalid format: %s", list))
			}
		}
		if max >= 0 && b >= max {
			avail := "0"
			if max > 1 {
				avail = fmt.Sprintf("0-%d", max-1)
			}
			if what == "mems" {
				return errdefs.InvalidArgumentf("Requested memory nodes are not available - requested %s, available: %s", list, avail)
			}
			return errdefs.InvalidArgumentf("Requested CPUs are not available - requested %s, available: %s", list, avail)
		}
	}
	return nil
}

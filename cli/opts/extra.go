package opts

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-connections/nat"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// extraOptions are docker's further run/create flags: namespaces, sysctls,
// cpusets, DNS and hosts, devices, ports, healthchecks and the like. They
// follow the same mapping rules as the flags in container.go.
type extraOptions struct {
	pidMode, ipcMode, utsMode, usernsMode string
	sysctls, annotations                  *MapOpts
	cpusetCpus, cpusetMems                string
	cpuPeriod, cpuQuota                   int64
	memoryReservation                     MemBytes
	swappiness                            int64
	oomKillDisable                        bool
	oomScoreAdj                           int
	dns, dnsSearch, dnsOptions, extraHost *ListOpts
	domainname                            string
	containerIDFile                       string
	devices, volumesFrom, storageOpts     *ListOpts
	volumeDriver, isolation               string
	publish, expose                       *ListOpts
	mounts                                MountOpt
	deviceCgroupRules                     *ListOpts
	blkioWeight                           uint16
	cpuRtPeriod, cpuRtRuntime             int64
	contentTrustOff                       bool
	publishAll                            bool

	healthCmd                                                         string
	healthInterval, healthTimeout, healthStartPeriod, healthStartIntv time.Duration
	healthRetries                                                     int
	healthOnFailure                                                   string // berth's own: the berth.health-on-failure label
	noHealthcheck                                                     bool
}

func (e *extraOptions) addFlags(flags *pflag.FlagSet) {
	e.sysctls, e.annotations = NewMapOpts(nil), NewMapOpts(nil)
	e.dns = NewListOpts(validateIP)
	e.dnsSearch = NewListOpts(nil)
	e.dnsOptions = NewListOpts(nil)
	e.extraHost = NewListOpts(validateExtraHost)
	e.devices = NewListOpts(nil)
	e.volumesFrom = NewListOpts(nil)
	e.storageOpts = NewListOpts(nil)
	e.publish = NewListOpts(nil)
	e.expose = NewListOpts(nil)
	e.deviceCgroupRules = NewListOpts(nil)

	flags.StringVar(&e.pidMode, "pid", "", "PID namespace to use")
	flags.StringVar(&e.ipcMode, "ipc", "", "IPC mode to use")
	flags.StringVar(&e.utsMode, "uts", "", "UTS namespace to use")
	flags.StringVar(&e.usernsMode, "userns", "", "User namespace to use")
	flags.Var(e.sysctls, "sysctl", "Sysctl options")
	flags.Var(e.annotations, "annotation", "Add an annotation to the container (passed through to the OCI runtime)")
	flags.StringVar(&e.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	flags.StringVar(&e.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	flags.Int64Var(&e.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	flags.Int64Var(&e.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	flags.Var(&e.memoryReservation, "memory-reservation", "Memory soft limit")
	flags.Int64Var(&e.swappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	flags.BoolVar(&e.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	flags.IntVar(&e.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	flags.Var(e.dns, "dns", "Set custom DNS servers")
	flags.Var(e.dnsSearch, "dns-search", "Set custom DNS search domains")
	flags.Var(e.dnsOptions, "dns-option", "Set DNS options")
	flags.Var(e.extraHost, "add-host", "Add a custom host-to-IP mapping (host:ip)")
	flags.StringVar(&e.domainname, "domainname", "", "Container NIS domain name")
	flags.StringVar(&e.containerIDFile, "cidfile", "", "Write the container ID to the file")
	flags.Var(e.devices, "device", "Add a host device to the container")
	flags.Var(e.volumesFrom, "volumes-from", "Mount volumes from the specified container(s)")
	flags.Var(e.storageOpts, "storage-opt", "Storage driver options for the container")
	flags.StringVar(&e.volumeDriver, "volume-driver", "", "Optional volume driver for the container")
	flags.StringVar(&e.isolation, "isolation", "", "Container isolation technology")
	flags.Var(&e.mounts, "mount", "Attach a filesystem mount to the container")
	flags.Var(e.deviceCgroupRules, "device-cgroup-rule", "Add a rule to the cgroup allowed devices list")
	flags.Uint16Var(&e.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	flags.Int64Var(&e.cpuRtPeriod, "cpu-rt-period", 0, "Limit CPU real-time period in microseconds")
	flags.Int64Var(&e.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit CPU real-time runtime in microseconds")
	// Image signing is not a berth feature; the flag is accepted as docker's.
	flags.BoolVar(&e.contentTrustOff, "disable-content-trust", true, "Skip image verification")
	flags.VarP(e.publish, "publish", "p", "Publish a container's port(s) to the host")
	flags.BoolVarP(&e.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	flags.Var(e.expose, "expose", "Expose a port or a range of ports")
	flags.StringVar(&e.healthCmd, "health-cmd", "", "Command to run to check health")
	flags.DurationVar(&e.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	flags.DurationVar(&e.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	flags.DurationVar(&e.healthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	flags.DurationVar(&e.healthStartIntv, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	flags.IntVar(&e.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	flags.BoolVar(&e.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
	flags.StringVar(&e.healthOnFailure, "health-on-failure", "", "Action when the container becomes unhealthy (none|kill|stop|restart; berth only)")
}

// apply maps the extra flags onto the request being built.
func (e *extraOptions) apply(config *container.Config, host *container.HostConfig) error {
	if e.swappiness != -1 && (e.swappiness < 0 || e.swappiness > 100) {
		return fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", e.swappiness)
	}
	modes := []struct {
		valid bool
		msg   string
	}{
		{container.PidMode(e.pidMode).Valid(), "--pid: invalid PID mode"},
		{container.UTSMode(e.utsMode).Valid(), "--uts: invalid UTS mode"},
		{container.UsernsMode(e.usernsMode).Valid(), "--userns: invalid USER mode"},
	}
	for _, m := range modes {
		if !m.valid {
			return errors.New(m.msg)
		}
	}
	host.PidMode = container.PidMode(e.pidMode)
	host.IpcMode = container.IpcMode(e.ipcMode)
	host.UTSMode = container.UTSMode(e.utsMode)
	host.UsernsMode = container.UsernsMode(e.usernsMode)
	if m := e.sysctls.GetAll(); len(m) > 0 {
		host.Sysctls = m
	}
	if m := e.annotations.GetAll(); len(m) > 0 {
		host.Annotations = m
	}
	host.CpusetCpus, host.CpusetMems = e.cpusetCpus, e.cpusetMems
	host.CPUPeriod, host.CPUQuota = e.cpuPeriod, e.cpuQuota
	host.MemoryReservation = e.memoryReservation.Value()
	swappiness, oomKillDisable := e.swappiness, e.oomKillDisable
	host.MemorySwappiness, host.OomKillDisable = &swappiness, &oomKillDisable
	host.OomScoreAdj = e.oomScoreAdj

	for _, s := range e.dns.GetAll() {
		host.DNS = append(host.DNS, netip.MustParseAddr(s)) // validated on Set
	}
	host.DNSSearch = e.dnsSearch.GetAllOrEmpty()
	host.DNSOptions = e.dnsOptions.GetAllOrEmpty()
	host.ExtraHosts = e.extraHost.GetAll()
	config.Domainname = e.domainname
	host.ContainerIDFile = e.containerIDFile
	for _, d := range e.devices.GetAll() {
		m, err := parseDevice(d)
		if err != nil {
			return err
		}
		host.Devices = append(host.Devices, m)
	}
	host.VolumesFrom = e.volumesFrom.GetAll()
	if so := e.storageOpts.GetAll(); len(so) > 0 {
		host.StorageOpt = map[string]string{}
		for _, o := range so {
			k, v, ok := strings.Cut(o, "=")
			if !ok {
				return fmt.Errorf("invalid storage option")
			}
			host.StorageOpt[k] = v
		}
	}
	host.VolumeDriver = e.volumeDriver
	host.Mounts = e.mounts.Value()
	host.DeviceCgroupRules = e.deviceCgroupRules.GetAll()
	host.BlkioWeight = e.blkioWeight
	host.CPURealtimePeriod, host.CPURealtimeRuntime = e.cpuRtPeriod, e.cpuRtRuntime
	host.Isolation = container.Isolation(e.isolation)

	if err := e.applyPorts(config, host); err != nil {
		return err
	}
	return e.applyHealth(config)
}

func (e *extraOptions) applyPorts(config *container.Config, host *container.HostConfig) error {
	exposed, bindings, err := nat.ParsePortSpecs(e.publish.GetAll())
	if err != nil {
		return err
	}
	for _, spec := range e.expose.GetAll() {
		if strings.Contains(spec, ":") {
			return fmt.Errorf("invalid port format for --expose: %s", spec)
		}
		proto, port := nat.SplitProtoPort(spec)
		start, end, err := nat.ParsePortRangeToInt(port)
		if err != nil {
			return fmt.Errorf("invalid range format for --expose: %s, error: %w", spec, err)
		}
		for i := start; i <= end; i++ {
			p, err := nat.NewPort(proto, strconv.Itoa(i))
			if err != nil {
				return err
			}
			exposed[p] = struct{}{}
		}
	}
	if len(exposed) > 0 {
		config.ExposedPorts = network.PortSet{}
		for p := range exposed {
			np, err := network.ParsePort(string(p))
			if err != nil {
				return err
			}
			config.ExposedPorts[np] = struct{}{}
		}
	}
	for p, bs := range bindings {
		np, err := network.ParsePort(string(p))
		if err != nil {
			return err
		}
		for _, b := range bs {
			var ip netip.Addr
			if b.HostIP != "" {
				if ip, err = netip.ParseAddr(strings.Trim(b.HostIP, "[]")); err != nil {
					return fmt.Errorf("invalid IP address: %s", b.HostIP)
				}
			}
			host.PortBindings[np] = append(host.PortBindings[np], network.PortBinding{HostIP: ip, HostPort: b.HostPort})
		}
	}
	host.PublishAllPorts = e.publishAll
	return nil
}

func (e *extraOptions) applyHealth(config *container.Config) error {
	switch e.healthOnFailure {
	case "":
	case "none", "kill", "stop", "restart":
		if config.Labels == nil {
			config.Labels = map[string]string{}
		}
		config.Labels["berth.health-on-failure"] = e.healthOnFailure
	default:
		return fmt.Errorf("invalid --health-on-failure %q: want none, kill, stop or restart", e.healthOnFailure)
	}
	have := e.healthCmd != "" || e.healthInterval != 0 || e.healthTimeout != 0 ||
		e.healthStartPeriod != 0 || e.healthRetries != 0 || e.healthStartIntv != 0
	if e.noHealthcheck {
		if have {
			return errors.New("--no-healthcheck conflicts with --health-* options")
		}
		config.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if !have {
		return nil
	}
	for _, d := range []struct {
		v    int64
		name string
	}{
		{int64(e.healthInterval), "--health-interval"},
		{int64(e.healthTimeout), "--health-timeout"},
		{int64(e.healthRetries), "--health-retries"},
		{int64(e.healthStartPeriod), "--health-start-period"},
		{int64(e.healthStartIntv), "--health-start-interval"},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s cannot be negative", d.name)
		}
	}
	hc := &container.HealthConfig{
		Interval:      e.healthInterval,
		Timeout:       e.healthTimeout,
		StartPeriod:   e.healthStartPeriod,
		StartInterval: e.healthStartIntv,
		Retries:       e.healthRetries,
	}
	if e.healthCmd != "" {
		hc.Test = []string{"CMD-SHELL", e.healthCmd}
	}
	config.Healthcheck = hc
	return nil
}

// parseDevice parses --device host[:container[:permissions]].
func parseDevice(spec string) (container.DeviceMapping, error) {
	parts := strings.Split(spec, ":")
	m := container.DeviceMapping{PathOnHost: parts[0], CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
		m.PathInContainer = parts[0]
	case 2:
		if validDevicePerms(parts[1]) {
			m.PathInContainer, m.CgroupPermissions = parts[0], parts[1]
		} else {
			m.PathInContainer = parts[1]
		}
	case 3:
		if !validDevicePerms(parts[2]) {
			return m, fmt.Errorf("invalid device mode: %s", parts[2])
		}
		m.PathInContainer, m.CgroupPermissions = parts[1], parts[2]
	default:
		return m, fmt.Errorf("invalid device specification: %s", spec)
	}
	if !strings.HasPrefix(m.PathInContainer, "/") {
		return m, fmt.Errorf("bad format for path: %s", m.PathInContainer)
	}
	return m, nil
}

func validDevicePerms(mode string) bool {
	if mode == "" {
		return false
	}
	for _, c := range mode {
		if c != 'r' && c != 'w' && c != 'm' {
			return false
		}
	}
	return true
}

func validateIP(val string) (string, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(val))
	if err != nil {
		return "", fmt.Errorf("IP address is not correctly formatted: %s", val)
	}
	return ip.String(), nil
}

// validateExtraHost accepts host:ip or host=ip (ip may be "host-gateway"
// or a bracketed IPv6 address) and normalises to host:ip.
func validateExtraHost(val string) (string, error) {
	name, ip, ok := strings.Cut(val, "=")
	if !ok {
		name, ip, ok = strings.Cut(val, ":")
	}
	if !ok || name == "" {
		return "", fmt.Errorf("bad format for add-host: %q", val)
	}
	if ip == "host-gateway" {
		return name + ":" + ip, nil
	}
	if len(ip) > 1 && ip[0] == '[' && ip[len(ip)-1] == ']' {
		ip = ip[1 : len(ip)-1]
	}
	if _, err := netip.ParseAddr(ip); err != nil {
		return "", fmt.Errorf("invalid IP address in add-host: %q", ip)
	}
	return name + ":" + ip, nil
}

// MapOpts is a repeatable key=value flag ("map" in help output).
type MapOpts struct {
	values    map[string]string
	validator ValidatorFunc
}

// NewMapOpts returns an empty map flag.
func NewMapOpts(validator ValidatorFunc) *MapOpts {
	return &MapOpts{values: map[string]string{}, validator: validator}
}

// Set adds one key=value; a bare key maps to "".
func (m *MapOpts) Set(value string) error {
	if m.validator != nil {
		v, err := m.validator(value)
		if err != nil {
			return err
		}
		value = v
	}
	k, v, _ := strings.Cut(value, "=")
	m.values[k] = v
	return nil
}

func (m *MapOpts) String() string { return fmt.Sprintf("%v", m.values) }

// Type is the name shown in --help.
func (m *MapOpts) Type() string { return "map" }

// GetAll returns the map.
func (m *MapOpts) GetAll() map[string]string { return m.values }

package opts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// ContainerOptions holds the flags shared by `run` and `create` that end up
// in the create request. Image and Args are the positional arguments.
type ContainerOptions struct {
	attach       *ListOpts
	env          *ListOpts
	envFile      *ListOpts
	labels       *ListOpts
	labelsFile   *ListOpts
	volumes      *ListOpts
	tmpfs        *ListOpts
	capAdd       *ListOpts
	capDrop      *ListOpts
	securityOpt  *ListOpts
	logOpts      *ListOpts
	groupAdd     *ListOpts
	ulimits      *UlimitOpt
	memory       MemBytes
	memorySwap   MemSwapBytes
	shmSize      MemBytes
	cpus         NanoCPUs
	cpuShares    int64
	pidsLimit    int64
	stdin        bool
	tty          bool
	autoRemove   bool
	privileged   bool
	readonly     bool
	init         bool
	user         string
	workingDir   string
	entrypoint   string
	hostname     string
	runtime      string
	logDriver    string
	netMode      string
	ipv4         string   // --ip
	netAliases   []string // --network-alias
	restart      string
	stopSignal   string
	stopTimeout  int
	cgroupParent string
	cgroupnsMode string

	extra extraOptions

	Image string
	Args  []string
}

// ContainerConfig is the body of a create request.
type ContainerConfig struct {
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// AddFlags registers the container flags on flags (docker's names, shorthands
// and defaults) and returns the options they fill.
func AddFlags(flags *pflag.FlagSet) *ContainerOptions {
	c := &ContainerOptions{
		attach:      NewListOpts(validateAttach),
		env:         NewListOpts(ValidateEnv),
		envFile:     NewListOpts(nil),
		labels:      NewListOpts(ValidateLabel),
		labelsFile:  NewListOpts(nil),
		volumes:     NewListOpts(nil),
		tmpfs:       NewListOpts(validateTmpfs),
		capAdd:      NewListOpts(nil),
		capDrop:     NewListOpts(nil),
		securityOpt: NewListOpts(nil),
		logOpts:     NewListOpts(nil),
		groupAdd:    NewListOpts(nil),
		ulimits:     NewUlimitOpt(),
	}
	flags.VarP(c.attach, "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	flags.BoolVarP(&c.stdin, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.BoolVarP(&c.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	flags.BoolVar(&c.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	flags.VarP(c.env, "env", "e", "Set environment variables")
	flags.Var(c.envFile, "env-file", "Read in a file of environment variables")
	flags.VarP(c.labels, "label", "l", "Set meta data on a container")
	flags.Var(c.labelsFile, "label-file", "Read in a line delimited file of labels")
	flags.StringVarP(&c.workingDir, "workdir", "w", "", "Working directory inside the container")
	flags.StringVarP(&c.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	flags.StringVar(&c.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	flags.StringVarP(&c.hostname, "hostname", "h", "", "Container host name")
	flags.VarP(&c.memory, "memory", "m", "Memory limit")
	flags.Var(&c.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	flags.Var(&c.cpus, "cpus", "Number of CPUs")
	flags.Int64VarP(&c.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	flags.Int64Var(&c.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	flags.BoolVar(&c.privileged, "privileged", false, "Give extended privileges to this container")
	flags.Var(c.capAdd, "cap-add", "Add Linux capabilities")
	flags.Var(c.capDrop, "cap-drop", "Drop Linux capabilities")
	flags.BoolVar(&c.readonly, "read-only", false, "Mount the container's root filesystem as read only")
	flags.StringVar(&c.runtime, "runtime", "", "Runtime to use for this container")
	flags.StringVar(&c.logDriver, "log-driver", "", "Logging driver for the container")
	flags.Var(c.logOpts, "log-opt", "Log driver options")
	flags.StringVar(&c.netMode, "network", "", "Connect a container to a network")
	flags.StringVar(&c.netMode, "net", "", "Connect a container to a network")
	_ = flags.MarkHidden("net")
	flags.StringVar(&c.ipv4, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	flags.StringSliceVar(&c.netAliases, "network-alias", nil, "Add network-scoped alias for the container")
	flags.VarP(c.volumes, "volume", "v", "Bind mount a volume")
	flags.Var(c.tmpfs, "tmpfs", "Mount a tmpfs directory")
	flags.Var(c.securityOpt, "security-opt", "Security Options")
	flags.BoolVar(&c.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	flags.StringVar(&c.restart, "restart", "no", "Restart policy to apply when a container exits")
	flags.StringVar(&c.stopSignal, "stop-signal", "", "Signal to stop the container")
	flags.IntVar(&c.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	flags.Var(c.groupAdd, "group-add", "Add additional groups to join")
	flags.Var(c.ulimits, "ulimit", "Ulimit options")
	flags.Var(&c.shmSize, "shm-size", "Size of /dev/shm")
	flags.StringVar(&c.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	c.extra.addFlags(flags)
	flags.StringVar(&c.cgroupnsMode, "cgroupns", "", `Cgroup namespace to use (host|private)
'host':    Run the container in the Docker host's cgroup namespace
'private': Run the container in its own private cgroup namespace
'':        Use the cgroup namespace as configured by the
           default-cgroupns-mode option on the daemon (default)`)
	return c
}

// AttachCount is how many -a streams were named.
func (c *ContainerOptions) AttachCount() int { return c.attach.Len() }

// AutoRemove reports --rm.
func (c *ContainerOptions) AutoRemove() bool { return c.autoRemove }

func validateAttach(val string) (string, error) {
	s := strings.ToLower(val)
	for _, str := range []string{"stdin", "stdout", "stderr"} {
		if s == str {
			return s, nil
		}
	}
	return val, fmt.Errorf("valid streams are STDIN, STDOUT and STDERR")
}

func validateTmpfs(val string) (string, error) {
	dest, _, _ := strings.Cut(val, ":")
	if !strings.HasPrefix(dest, "/") {
		return "", fmt.Errorf("invalid mount path %s: must be absolute", dest)
	}
	return val, nil
}

// Parse maps the options (and which flags were set) to a create request.
func Parse(flags *pflag.FlagSet, c *ContainerOptions) (*ContainerConfig, error) {
	config, err := c.buildConfig(flags)
	if err != nil {
		return nil, err
	}
	host, err := c.buildHostConfig(flags)
	if err != nil {
		return nil, err
	}
	if err := c.extra.apply(config, host); err != nil {
		return nil, err
	}
	// Bind mounts go to the host config, anonymous volumes to the image-like
	// config, as with docker.
	for _, spec := range c.volumes.GetAll() {
		bind, isBind, err := parseVolume(spec)
		if err != nil {
			return nil, err
		}
		if isBind {
			host.Binds = append(host.Binds, bind)
		} else {
			config.Volumes[spec] = struct{}{}
		}
	}
	endpoints := map[string]*network.EndpointSettings{}
	if c.netMode == "" {
		// Without --network docker names the default network's endpoint.
		endpoints["default"] = &network.EndpointSettings{}
	}
	if c.ipv4 != "" || len(c.netAliases) > 0 {
		ep := &network.EndpointSettings{Aliases: c.netAliases}
		if c.ipv4 != "" {
			a, err := netip.ParseAddr(c.ipv4)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("invalid IPv4 address: %s", c.ipv4)
			}
			ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
		}
		name := c.netMode
		if name == "" {
			name = "default"
		}
		endpoints[name] = ep
	}
	return &ContainerConfig{
		Config:           config,
		HostConfig:       host,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: endpoints},
	}, nil
}

// buildConfig makes the portable part: process, environment, labels,
// attach settings.
func (c *ContainerOptions) buildConfig(flags *pflag.FlagSet) (*container.Config, error) {
	attachStdin := c.attach.Get("stdin") || c.stdin
	attachStdout := c.attach.Get("stdout")
	attachStderr := c.attach.Get("stderr")
	if c.attach.Len() == 0 {
		attachStdout, attachStderr = true, true
	}
	var entrypoint []string
	if c.entrypoint != "" {
		entrypoint = []string{c.entrypoint}
	} else if flags.Changed("entrypoint") {
		entrypoint = []string{""} // --entrypoint= resets the image's
	}
	env, err := ReadKVEnvStrings(c.envFile.GetAll(), c.env.GetAll())
	if err != nil {
		return nil, err
	}
	labels, err := readKV(c.labelsFile.GetAll(), c.labels.GetAll(), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	config := &container.Config{
		Hostname:     c.hostname,
		User:         c.user,
		Tty:          c.tty,
		OpenStdin:    c.stdin,
		AttachStdin:  attachStdin,
		AttachStdout: attachStdout,
		AttachStderr: attachStderr,
		Env:          env,
		Cmd:          c.Args,
		Image:        c.Image,
		Volumes:      map[string]struct{}{},
		Entrypoint:   entrypoint,
		WorkingDir:   c.workingDir,
		Labels:       ConvertKVStringsToMap(labels),
	}
	if flags.Changed("stop-signal") {
		config.StopSignal = c.stopSignal
	}
	if flags.Changed("stop-timeout") {
		t := c.stopTimeout
		config.StopTimeout = &t
	}
	if config.OpenStdin && config.AttachStdin {
		config.StdinOnce = true // close stdin when the attached client disconnects
	}
	return config, nil
}

// buildHostConfig makes the host-specific part: resources, security,
// logging, restart, network mode, tmpfs.
func (c *ContainerOptions) buildHostConfig(flags *pflag.FlagSet) (*container.HostConfig, error) {
	cgroupns := container.CgroupnsMode(c.cgroupnsMode)
	if !cgroupns.Valid() {
		return nil, fmt.Errorf("--cgroupns: invalid CGROUP mode")
	}
	restart, err := ParseRestartPolicy(c.restart)
	if err != nil {
		return nil, err
	}
	if c.autoRemove && !restart.IsNone() {
		return nil, fmt.Errorf("conflicting options: cannot specify both --restart and --rm")
	}
	logOpts, err := parseLoggingOpts(c.logDriver, c.logOpts.GetAll())
	if err != nil {
		return nil, err
	}
	secOpts, err := parseSecurityOpts(c.securityOpt.GetAll())
	if err != nil {
		return nil, err
	}
	secOpts, masked, readonly := parseSystemPaths(secOpts)
	var tmpfs map[string]string
	for _, t := range c.tmpfs.GetAll() {
		if tmpfs == nil {
			tmpfs = map[string]string{}
		}
		dest, o, _ := strings.Cut(t, ":")
		tmpfs[dest] = o
	}
	netMode := c.netMode
	if netMode == "" {
		netMode = "default"
	}
	pidsLimit := c.pidsLimit
	host := &container.HostConfig{
		AutoRemove:     c.autoRemove,
		Privileged:     c.privileged,
		DNS:            []netip.Addr{},
		DNSSearch:      []string{},
		DNSOptions:     []string{},
		NetworkMode:    container.NetworkMode(netMode),
		CgroupnsMode:   cgroupns,
		CapAdd:         c.capAdd.GetAll(),
		CapDrop:        c.capDrop.GetAll(),
		GroupAdd:       c.groupAdd.GetAll(),
		RestartPolicy:  restart,
		SecurityOpt:    secOpts,
		ReadonlyRootfs: c.readonly,
		LogConfig:      container.LogConfig{Type: c.logDriver, Config: logOpts},
		ShmSize:        c.shmSize.Value(),
		Tmpfs:          tmpfs,
		Runtime:        c.runtime,
		MaskedPaths:    masked,
		ReadonlyPaths:  readonly,
		PortBindings:   network.PortMap{},
		Resources: container.Resources{
			CgroupParent: c.cgroupParent,
			Memory:       c.memory.Value(),
			MemorySwap:   c.memorySwap.Value(),
			NanoCPUs:     c.cpus.Value(),
			CPUShares:    c.cpuShares,
			PidsLimit:    &pidsLimit,
			Ulimits:      c.ulimits.GetList(),
			Devices:      []container.DeviceMapping{},
			// Empty rather than null, byte for byte what docker sends.
			BlkioWeightDevice:    []*blkiodev.WeightDevice{},
			BlkioDeviceReadBps:   []*blkiodev.ThrottleDevice{},
			BlkioDeviceWriteBps:  []*blkiodev.ThrottleDevice{},
			BlkioDeviceReadIOps:  []*blkiodev.ThrottleDevice{},
			BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{},
		},
	}
	if flags.Changed("init") {
		v := c.init
		host.Init = &v
	}
	return host, nil
}

// parseVolume classifies a -v spec: "dst" is an anonymous volume, and
// "src:dst[:mode]" a bind (or named volume) passed on in Binds. A relative
// host path starting with "." is made absolute, as docker does.
func parseVolume(spec string) (bind string, isBind bool, err error) {
	if spec == "" {
		return "", false, fmt.Errorf("invalid empty volume spec")
	}
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		return "", false, nil
	case 2, 3:
		if parts[0] == "" {
			return "", false, fmt.Errorf("invalid spec: %s: empty section between colons", spec)
		}
		if parts[1] == "" {
			return "", false, fmt.Errorf("invalid spec: %s: empty section between colons", spec)
		}
		if strings.HasPrefix(parts[0], ".") {
			abs, err := filepath.Abs(parts[0])
			if err != nil {
				return "", false, err
			}
			parts[0] = abs
		}
		return strings.Join(parts, ":"), true, nil
	default:
		return "", false, fmt.Errorf("invalid spec: %s: too many colons", spec)
	}
}

func parseLoggingOpts(driver string, opts []string) (map[string]string, error) {
	m := ConvertKVStringsToMap(opts)
	if driver == "none" && len(opts) > 0 {
		return nil, fmt.Errorf("invalid logging opts for driver %s", driver)
	}
	return m, nil
}

// parseSecurityOpts inlines a seccomp profile file, so the daemon receives
// the profile and not a client path; other options pass through as given.
func parseSecurityOpts(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, opt := range in {
		if opt == "systempaths=unconfined" {
			out = append(out, opt)
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if k == "seccomp" && ok && v != "unconfined" && v != "builtin" {
			f, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
			}
			var b bytes.Buffer
			if err := json.Compact(&b, f); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
			}
			opt = "seccomp=" + b.String()
		}
		out = append(out, opt)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseSystemPaths turns systempaths=unconfined into empty masked and
// read-only path lists (nil means the daemon's defaults).
func parseSystemPaths(in []string) (opts, masked, readonly []string) {
	for _, o := range in {
		if o == "systempaths=unconfined" {
			masked, readonly = []string{}, []string{}
			continue
		}
		opts = append(opts, o)
	}
	return opts, masked, readonly
}

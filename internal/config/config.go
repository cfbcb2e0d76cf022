// Package config is berthd's configuration: defaults, the JSON config file
// (dockerd's daemon.json keys where they exist) and command-line flags, merged
// and validated once at start.
//
// Precedence is dockerd's: a setting may come from the file or from a flag,
// and naming the same setting in both is an error (dockerd: "the following
// directives are specified both as a flag and in the configuration file").
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Defaults.
const (
	DefaultDataRoot      = "/var/lib/berth"
	DefaultExecRoot      = "/run/berth"
	DefaultHost          = "unix:///run/berth.sock"
	DefaultStorageDriver = "overlay2"
	DefaultRuntime       = "berth"
	DefaultLogMaxSize    = "20m"
	DefaultLogMaxFile    = "5"
)

// Runtime is one entry of the "runtimes" map (dockerd's shape).
type Runtime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// Config is the daemon configuration. JSON names are daemon.json's.
type Config struct {
	DataRoot       string             `json:"data-root,omitempty"`
	ExecRoot       string             `json:"exec-root,omitempty"`
	Hosts          []string           `json:"hosts,omitempty"`
	Pidfile        string             `json:"pidfile,omitempty"`
	StorageDriver  string             `json:"storage-driver,omitempty"`
	LogLevel       string             `json:"log-level,omitempty"`
	Runtimes       map[string]Runtime `json:"runtimes,omitempty"`
	DefaultRuntime string             `json:"default-runtime,omitempty"`
	CgroupParent   string             `json:"cgroup-parent,omitempty"`
	LogDriver      string             `json:"log-driver,omitempty"`
	LogOpts        map[string]string  `json:"log-opts,omitempty"`
	// LiveRestore keeps containers running across daemon restarts. berth's
	// default is true (containers never depend on berthd's process).
	LiveRestore *bool `json:"live-restore,omitempty"`
	Debug       bool  `json:"debug,omitempty"`
	// Init runs containers that do not say --init=false under berth's
	// docker-init (dockerd's --init).
	Init bool `json:"init,omitempty"`
	// TLS for tcp:// listeners (keys tls, tlsverify, ...; see tls.go).
	TLS
	// Registry mirrors and insecure registries (see registry.go).
	Registry
	// Networking (see network.go).
	Network
	// User namespace remapping (see userns.go).
	Userns
}

// Flags binds the command-line flags to a Config and remembers which were set.
type Flags struct {
	fs         *pflag.FlagSet
	cfg        Config
	configFile string
	addRuntime []string
	logOpts    []string
	liveRest   bool
}

// NewFlags registers dockerd-named flags on fs.
func NewFlags(fs *pflag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.cfg.DataRoot, "data-root", DefaultDataRoot, "Root directory of persistent berth state")
	fs.StringVar(&f.cfg.ExecRoot, "exec-root", DefaultExecRoot, "Root directory for execution state files")
	fs.StringSliceVarP(&f.cfg.Hosts, "host", "H", nil, "Daemon socket(s) to connect to")
	fs.StringVarP(&f.cfg.Pidfile, "pidfile", "p", "", "Path to use for daemon PID file (default <exec-root>/berthd.pid)")
	fs.StringVarP(&f.cfg.StorageDriver, "storage-driver", "s", DefaultStorageDriver, "Storage driver to use (overlay2, vfs, btrfs)")
	fs.StringVarP(&f.cfg.LogLevel, "log-level", "l", "info", `Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")`)
	fs.BoolVarP(&f.cfg.Debug, "debug", "D", false, "Enable debug mode")
	fs.StringVar(&f.configFile, "config-file", "/etc/berth/daemon.json", "Daemon configuration file")
	fs.StringArrayVar(&f.addRuntime, "add-runtime", nil, "Register an additional OCI compatible runtime (NAME=PATH)")
	fs.StringVar(&f.cfg.DefaultRuntime, "default-runtime", DefaultRuntime, "Default OCI runtime for containers")
	fs.StringVar(&f.cfg.CgroupParent, "cgroup-parent", "", "Set parent cgroup for all containers")
	fs.StringVar(&f.cfg.LogDriver, "log-driver", "json-file", "Default driver for container logs")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "Default log driver options for containers")
	fs.BoolVar(&f.liveRest, "live-restore", true, "Keep containers running while the daemon is down")
	fs.BoolVar(&f.cfg.Init, "init", false, "Run an init in the container to forward signals and reap processes")
	registerTLSFlags(fs, &f.cfg.TLS)
	registerRegistryFlags(fs, &f.cfg.Registry)
	registerNetworkFlags(fs, &f.cfg.Network)
	registerUsernsFlags(fs, &f.cfg.Userns)
	return f
}

// flagToKey maps flag names to daemon.json keys where they differ.
var flagToKey = map[string]string{
	"host":                   "hosts",
	"add-runtime":            "runtimes",
	"log-opt":                "log-opts",
	"api-read-only-listener": "api-read-only-listeners",

	"registry-mirror":   "registry-mirrors",
	"insecure-registry": "insecure-registries",

	"default-address-pool": "default-address-pools",
}

// Load merges the config file (if present, or required when the flag was
// given explicitly) with the flags, fills defaults and validates.
func (f *Flags) Load() (*Config, error) {
	cfg := f.cfg
	if len(f.addRuntime) > 0 {
		cfg.Runtimes = map[string]Runtime{}
		for _, r := range f.addRuntime {
			name, path, ok := strings.Cut(r, "=")
			if !ok || name == "" || path == "" {
				return nil, errdefs.InvalidArgumentf("invalid --add-runtime %q: must be NAME=PATH", r)
			}
			cfg.Runtimes[name] = Runtime{Path: path}
		}
	}
	if len(f.logOpts) > 0 {
		cfg.LogOpts = map[string]string{}
		for _, o := range f.logOpts {
			k, v, ok := strings.Cut(o, "=")
			if !ok {
				return nil, errdefs.InvalidArgumentf("invalid --log-opt %q: must be KEY=VALUE", o)
			}
			cfg.LogOpts[k] = v
		}
	}
	lr := f.liveRest
	cfg.LiveRestore = &lr

	data, err := os.ReadFile(f.configFile)
	switch {
	case err == nil:
		if err := mergeFile(&cfg, data, f.setKeys()); err != nil {
			return nil, fmt.Errorf("unable to configure the berth daemon with file %s: %w", f.configFile, err)
		}
	case os.IsNotExist(err) && !f.fs.Changed("config-file"):
	default:
		return nil, fmt.Errorf("unable to configure the berth daemon with file %s: %w", f.configFile, err)
	}
	cfg.fillDefaults()
	return &cfg, cfg.Validate()
}

// setKeys lists the daemon.json keys whose flags were given.
func (f *Flags) setKeys() map[string]bool {
	set := map[string]bool{}
	f.fs.Visit(func(fl *pflag.Flag) {
		k := fl.Name
		if m, ok := flagToKey[k]; ok {
			k = m
		}
		set[k] = true
	})
	return set
}

// mergeFile overlays the file's settings on cfg, refusing keys that are
// unknown or also given as flags.
func mergeFile(cfg *Config, data []byte, flagSet map[string]bool) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return errdefs.InvalidArgumentf("invalid JSON: %v", err)
	}
	known := map[string]bool{}
	for _, k := range jsonKeys() {
		known[k] = true
	}
	var unknown, both []string
	for k := range raw {
		if !known[k] {
			unknown = append(unknown, k)
		}
		if flagSet[k] {
			both = append(both, k)
		}
	}
	sort.Strings(unknown)
	sort.Strings(both)
	if len(unknown) > 0 {
		return errdefs.InvalidArgumentf("the following directives don't match any configuration option: %s", strings.Join(unknown, ", "))
	}
	if len(both) > 0 {
		return errdefs.InvalidArgumentf("the following directives are specified both as a flag and in the configuration file: %s", strings.Join(both, ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	return dec.Decode(cfg)
}

func jsonKeys() []string {
	return append([]string{"data-root", "exec-root", "hosts", "pidfile", "storage-driver", "log-level",
		"runtimes", "default-runtime", "cgroup-parent", "log-driver", "log-opts", "live-restore", "debug", "init"}, append(append(append(tlsJSONKeys(), registryJSONKeys()...), networkJSONKeys()...), usernsJSONKeys()...)...)
}

func (c *Config) fillDefaults() {
	if len(c.Hosts) == 0 {
		c.Hosts = []string{DefaultHost}
	}
	if c.Pidfile == "" {
		c.Pidfile = filepath.Join(c.ExecRoot, "berthd.pid")
	}
	if c.Debug {
		c.LogLevel = "debug"
	}
	if c.LogOpts == nil {
		c.LogOpts = map[string]string{}
	}
	if c.LogDriver == "json-file" {
		if _, ok := c.LogOpts["max-size"]; !ok {
			c.LogOpts["max-size"] = DefaultLogMaxSize
		}
		if _, ok := c.LogOpts["max-file"]; !ok {
			c.LogOpts["max-file"] = DefaultLogMaxFile
		}
	}
	if c.LiveRestore == nil {
		t := true
		c.LiveRestore = &t
	}
	c.fillTLSDefaults(os.Getenv)
}

// Validate checks the merged configuration.
func (c *Config) Validate() error {
	if !filepath.IsAbs(c.DataRoot) {
		return errdefs.InvalidArgumentf("data-root %q must be an absolute path", c.DataRoot)
	}
	if !filepath.IsAbs(c.ExecRoot) {
		return errdefs.InvalidArgumentf("exec-root %q must be an absolute path", c.ExecRoot)
	}
	switch c.StorageDriver {
	case "overlay2", "vfs", "btrfs":
	default:
		return errdefs.InvalidArgumentf("unsupported storage driver: %s", c.StorageDriver)
	}
	if err := c.validateRegistry(); err != nil {
		return err
	}
	if err := c.validateNetwork(); err != nil {
		return err
	}
	if err := c.validateUserns(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error", "fatal", "panic":
	default:
		return errdefs.InvalidArgumentf("unable to parse logging level: %s", c.LogLevel)
	}
	if c.LogDriver != "json-file" && c.LogDriver != "none" {
		return errdefs.InvalidArgumentf("unsupported log driver: %s", c.LogDriver)
	}
	for name, r := range c.Runtimes {
		if name == "berth" {
			return errdefs.InvalidArgumentf("runtime name 'berth' is reserved")
		}
		if r.Path == "" {
			return errdefs.InvalidArgumentf("runtime %s: path is required", name)
		}
	}
	if c.DefaultRuntime != "berth" {
		if _, ok := c.Runtimes[c.DefaultRuntime]; !ok && !isStockRuntime(c.DefaultRuntime) {
			return errdefs.InvalidArgumentf("specified default runtime '%s' does not exist", c.DefaultRuntime)
		}
	}
	for _, h := range c.Hosts {
		if !strings.HasPrefix(h, "unix://") && !strings.HasPrefix(h, "tcp://") {
			return errdefs.InvalidArgumentf("invalid host %q: only unix:// and tcp:// are supported", h)
		}
	}
	return c.validateTLS()
}

// isStockRuntime reports runtimes berthd offers without configuration when
// their binaries are on PATH (as dockerd offers runc).
func isStockRuntime(name string) bool { return name == "runc" || name == "crun" }

// AllRuntimes returns the configured runtimes plus the stock ones (runc,
// crun) found by lookPath, name -> Runtime. "berth" (built in) is not listed.
func (c *Config) AllRuntimes(lookPath func(string) (string, error)) map[string]Runtime {
	out := map[string]Runtime{}
	for _, n := range []string{"runc", "crun"} {
		if p, err := lookPath(n); err == nil {
			out[n] = Runtime{Path: p}
		}
	}
	for n, r := range c.Runtimes {
		out[n] = r
	}
	return out
}

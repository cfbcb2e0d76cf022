package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/version"
)

// API versions served, as docker version shows them.
const (
	APIVersion    = "1.51"
	MinAPIVersion = "1.24"
)

// Info is docker info.
func (e *Engine) Info(ctx context.Context) (system.Info, error) {
	var running, paused, stopped int
	cs := e.store.List()
	for _, c := range cs {
		switch c.State.Status {
		case ctypes.StateRunning, ctypes.StateRestarting:
			running++
		case ctypes.StatePaused:
			paused++
		default:
			stopped++
		}
	}
	images := 0
	if e.cfg.ImageCounter != nil {
		n, err := e.cfg.ImageCounter.Count(ctx)
		if err != nil {
			return system.Info{}, err
		}
		images = n
	}
	id, err := e.engineID()
	if err != nil {
		return system.Info{}, err
	}
	hostname, _ := os.Hostname()
	runtimes := map[string]system.RuntimeWithStatus{}
	for _, n := range e.runtimeNames() {
		p, _ := e.runtimePath(n)
		runtimes[n] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: p}}
	}
	cgv := cgroups.Version()
	info := system.Info{
		ID:                 id,
		Containers:         len(cs),
		ContainersRunning:  running,
		ContainersPaused:   paused,
		ContainersStopped:  stopped,
		Images:             images,
		Driver:             e.cfg.StorageDriver,
		DriverStatus:       [][2]string{},
		Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		Plugins:            system.PluginsInfo{Volume: []string{"local"}, Network: []string{"host", "none"}, Log: []string{"json-file", "none"}},
		MemoryLimit:        true,
		SwapLimit:          true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		IPv4Forwarding:     readSysctl("net/ipv4/ip_forward") == "1",
		NFd:                countFDs(),
		OomKillDisable:     cgv == "1",
		NGoroutines:        goruntime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "json-file",
		CgroupDriver:       cgroups.Driver(),
		CgroupVersion:      cgv,
		KernelVersion:      kernelVersion(),
		OperatingSystem:    osRelease("PRETTY_NAME", "Linux"),
		OSVersion:          osRelease("VERSION_ID", ""),
		OSType:             "linux",
		Architecture:       machine(),
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               goruntime.NumCPU(),
		MemTotal:           memTotal(),
		DockerRootDir:      e.cfg.DataRoot,
		Name:               hostname,
		Labels:             []string{},
		ServerVersion:      version.Version,
		Runtimes:           runtimes,
		DefaultRuntime:     e.cfg.DefaultRuntime,
		// --init runs berthd itself as docker-init (internal/dockerinit).
		InitBinary:         "docker-init",
		InitCommit:         system.Commit{ID: version.GitCommit},
		LiveRestoreEnabled: true,
		Isolation:          "",
		SecurityOptions:    append([]string{}, e.cfg.SecurityOptions...),
		RegistryConfig:     e.cfg.Registry,
		CDISpecDirs:        []string{},
		Warnings:           []string{},
	}
	if cgv == "2" {
		info.SecurityOptions = append(info.SecurityOptions, "name=cgroupns")
	}
	return info, nil
}

// Version is docker version's server half.
func (e *Engine) Version(ctx context.Context) (system.VersionResponse, error) {
	kv := kernelVersion()
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "berth Engine"},
		Version:       version.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            goruntime.GOOS,
		Arch:          goruntime.GOARCH,
		GitCommit:     version.GitCommit,
		GoVersion:     goruntime.Version(),
		KernelVersion: kv,
		Components: []system.ComponentVersion{{
			Name:    "Engine",
			Version: version.Version,
			Details: map[string]string{
				"ApiVersion":    APIVersion,
				"MinAPIVersion": MinAPIVersion,
				"Arch":          goruntime.GOARCH,
				"Os":            goruntime.GOOS,
				"GitCommit":     version.GitCommit,
				"GoVersion":     goruntime.Version(),
				"KernelVersion": kv,
				"Experimental":  "false",
			},
		}},
	}, nil
}

// engineID reads (or creates once) <data-root>/engine-id.
func (e *Engine) engineID() (string, error) {
	p := filepath.Join(e.cfg.DataRoot, "engine-id")
	if b, err := os.ReadFile(p); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	}
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
	if err := container.WriteFileAtomic(p, []byte(id), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func machine() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return goruntime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func osRelease(key, def string) string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if v, ok := parseOSRelease(b)[key]; ok {
			return v
		}
		return def
	}
	return def
}

func parseOSRelease(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'"`)
		}
		m[k] = v
	}
	return m
}

func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func readSysctl(name string) string {
	b, _ := os.ReadFile(filepath.Join("/proc/sys", name))
	return strings.TrimSpace(string(b))
}

func countFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

package ocispec

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestValidate(t *testing.T) {
	swappiness := int64(101)
	n := runtime.NumCPU()
	cases := []struct {
		name string
		cfg  container.Config
		hc   container.HostConfig
		msg  string // "" = valid
	}{
		{"empty", container.Config{}, container.HostConfig{}, ""},
		{"typical", container.Config{WorkingDir: "/app", Env: []string{"A=1", "B"}},
			container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: -1, NanoCPUs: 5e8,
				Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1, Hard: 2}}},
				Binds: []string{"/a:/b:ro,rslave", "vol:/v:nocopy", "/c"}, Tmpfs: map[string]string{"/run": "size=1m"},
				CapAdd: []string{"net_admin"}, CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges", "label=disable", "seccomp=unconfined"},
				Sysctls: map[string]string{"net.core.somaxconn": "1024", "kernel.msgmax": "1", "fs.mqueue.msg_max": "10"}}, ""},
		{"relative workdir", container.Config{WorkingDir: "app"}, container.HostConfig{},
			"the working directory 'app' is invalid, it needs to be an absolute path"},
		{"empty env name", container.Config{Env: []string{"=x"}}, container.HostConfig{}, "invalid environment variable: =x"},
		{"memory below 6MB", container.Config{}, container.HostConfig{Resources: container.Resources{Memory: 4 << 20}},
			"Minimum memory limit allowed is 6MB"},
		{"swap below memory", container.Config{}, container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: 32 << 20}},
			"Minimum memoryswap limit should be larger than memory limit, see usage"},
		{"swap without memory", container.Config{}, container.HostConfig{Resources: container.Resources{MemorySwap: 32 << 20}},
			"You should always set the Memory limit when using Memoryswap limit, see usage"},
		{"reservation below 6MB", container.Config{}, container.HostConfig{Resources: container.Resources{MemoryReservation: 1 << 20}},
			"Minimum memory reservation allowed is 6MB"},
		{"reservation above limit", container.Config{}, container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemoryReservation: 128 << 20}},
			"Minimum memory limit can not be less than memory reservation limit, see usage"},
		{"swappiness", container.Config{}, container.HostConfig{Resources: container.Resources{MemorySwappiness: &swappiness}},
			"Invalid value: 101, valid memory swappiness range is 0-100"},
		{"nano cpus and period", container.Config{}, container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUPeriod: 100000}},
			"Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{"nano cpus and quota", container.Config{}, container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUQuota: 100000}},
			"Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{"too many cpus", container.Config{}, container.HostConfig{Resources: container.Resources{NanoCPUs: int64(n+1) * 1e9}},
			fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)},
		{"cpu period", container.Config{}, container.HostConfig{Resources: container.Resources{CPUPeriod: 10}},
			"CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{"cpu quota", container.Config{}, container.HostConfig{Resources: container.Resources{CPUQuota: 10}},
			"CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{"cpuset unavailable", container.Config{}, container.HostConfig{Resources: container.Resources{CpusetCpus: "0-4096"}},
			fmt.Sprintf("Requested CPUs are not available - requested 0-4096, available: %s", map[bool]string{true: "0", false: fmt.Sprintf("0-%d", n-1)}[n == 1])},
		{"cpuset syntax", container.Config{}, container.HostConfig{Resources: container.Resources{CpusetCpus: "a"}},
			"Invalid value a for cpuset cpus: invalid format: a"},
		{"blkio weight", container.Config{}, container.HostConfig{Resources: container.Resources{BlkioWeight: 5}},
			"Range of blkio weight is from 10 to 1000"},
		{"shm size", container.Config{}, container.HostConfig{ShmSize: -1}, "SHM size can not be less than 0"},
		{"oom score", container.Config{}, container.HostConfig{OomScoreAdj: 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"},
		{"ipc mode", container.Config{}, container.HostConfig{IpcMode: "bogus"}, "invalid IPC mode: bogus"},
		{"pid mode", container.Config{}, container.HostConfig{PidMode: "bogus"}, "invalid PID mode: bogus"},
		{"uts mode", container.Config{}, container.HostConfig{UTSMode: "bogus"}, "invalid UTS mode: bogus"},
		{"cgroupns mode", container.Config{}, container.HostConfig{CgroupnsMode: "bogus"}, "invalid cgroup namespace mode: bogus"},
		{"hostname with container network", container.Config{Hostname: "h"}, container.HostConfig{NetworkMode: "container:x"},
			"conflicting options: hostname and the network mode"},
		{"unknown cap", container.Config{}, container.HostConfig{CapDrop: []string{"CAP_NOPE"}}, `unknown capability: "CAP_NOPE"`},
		{"security opt without value", container.Config{}, container.HostConfig{SecurityOpt: []string{"seccomp"}}, `invalid --security-opt 1: "seccomp"`},
		{"security opt unknown", container.Config{}, container.HostConfig{SecurityOpt: []string{"foo=bar"}}, `invalid --security-opt 2: "foo=bar"`},
		{"security opt bad bool", container.Config{}, container.HostConfig{SecurityOpt: []string{"no-new-privileges=maybe"}}, `invalid --security-opt 2: "no-new-privileges=maybe"`},
		{"bind relative destination", container.Config{}, container.HostConfig{Binds: []string{"/a:b"}},
			`invalid volume specification: '/a:b': invalid mount config for type "bind": invalid mount path: 'b' mount path must be absolute`},
		{"bind to root", container.Config{}, container.HostConfig{Binds: []string{"/a:/"}},
			`invalid volume specification: '/a:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`},
		{"bind relative source", container.Config{}, container.HostConfig{Binds: []string{"./data:/data"}},
			`create ./data: "./data" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{"bind bad mode", container.Config{}, container.HostConfig{Binds: []string{"/a:/b:rx"}}, "invalid mode: rx"},
		{"bind destination and mode only", container.Config{}, container.HostConfig{Binds: []string{"/b:ro"}}, "invalid volume specification: '/b:ro'"},
		{"bind too many parts", container.Config{}, container.HostConfig{Binds: []string{"/a:/b:ro:x"}}, "invalid volume specification: '/a:/b:ro:x'"},
		{"bind empty", container.Config{}, container.HostConfig{Binds: []string{":/b"}}, "invalid volume specification: ':/b'"},
		{"duplicate mount point", container.Config{}, container.HostConfig{Binds: []string{"/a:/x", "/b:/x/"}}, "Duplicate mount point: /x"},
		{"mount bind missing source", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/nonexistent/berth-test", Target: "/x"}}},
			`invalid mount config for type "bind": bind source path does not exist: /nonexistent/berth-test`},
		{"mount bind relative source", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "rel", Target: "/x"}}},
			`invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{"mount without target", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume}}},
			`invalid mount config for type "volume": field Target must not be empty`},
		{"mount tmpfs with source", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Source: "x", Target: "/t"}}},
			`invalid mount config for type "tmpfs": field Source must not be specified`},
		{"mount bad propagation", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/", Target: "/t", BindOptions: &mount.BindOptions{Propagation: "weird"}}}},
			`invalid mount config for type "bind": invalid propagation mode: weird`},
		{"tmpfs relative", container.Config{}, container.HostConfig{Tmpfs: map[string]string{"run": ""}},
			"invalid mount path: 'run' mount path must be absolute"},
		{"tmpfs root", container.Config{}, container.HostConfig{Tmpfs: map[string]string{"/": ""}},
			"invalid specification: destination can't be '/'"},
		{"tmpfs bad option", container.Config{}, container.HostConfig{Tmpfs: map[string]string{"/run": "size=1m,bogus"}},
			`invalid tmpfs option ["bogus"]`},
		{"sysctl not namespaced", container.Config{}, container.HostConfig{Sysctls: map[string]string{"kernel.panic": "1"}},
			`sysctl "kernel.panic" is not in a separate kernel namespace`},
		{"net sysctl on host network", container.Config{}, container.HostConfig{NetworkMode: "host", Sysctls: map[string]string{"net.core.somaxconn": "1"}},
			`sysctl "net.core.somaxconn" not allowed in host network namespace`},
		{"ulimit unknown", container.Config{}, container.HostConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "bogus"}}}},
			"invalid ulimit type: bogus"},
		{"ulimit soft above hard", container.Config{}, container.HostConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: 5}}}},
			"ulimit soft limit must be less than or equal to hard limit: 10 > 5"},
		{"ulimit soft unlimited", container.Config{}, container.HostConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile", Soft: -1, Hard: 5}}}},
			"ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 5"},
		{"healthcheck interval", container.Config{Healthcheck: &container.HealthConfig{Interval: time.Microsecond}}, container.HostConfig{},
			"Interval in Healthcheck cannot be less than 1ms"},
		{"healthcheck retries", container.Config{Healthcheck: &container.HealthConfig{Retries: -1}}, container.HostConfig{},
			"Retries in Healthcheck cannot be negative"},
		{"healthcheck start interval", container.Config{Healthcheck: &container.HealthConfig{StartInterval: 1}}, container.HostConfig{},
			"StartInterval in Healthcheck cannot be less than 1ms"},
		{"autoremove with restart", container.Config{}, container.HostConfig{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: "always"}},
			"can't create 'AutoRemove' container with restart policy"},
		{"restart policy unknown", container.Config{}, container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}},
			"invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{"restart retries negative", container.Config{}, container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: -1}},
			"invalid restart policy: maximum retry count cannot be negative"},
		{"isolation", container.Config{}, container.HostConfig{Isolation: "hyperv"}, "invalid isolation 'hyperv' on linux"},
		{"empty annotation key", container.Config{}, container.HostConfig{Annotations: map[string]string{"": "x"}},
			"invalid Annotations: the empty string is not permitted as an annotation key"},
		{"device cgroup rule", container.Config{}, container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 1 rwm"}}},
			"invalid device cgroup rule format: 'c 1 rwm'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(&tc.cfg, &tc.hc)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantErr(t, err, errdefs.InvalidArgument, tc.msg)
		})
	}
}

func TestValidateMerged(t *testing.T) {
	wantErr(t, ValidateMerged(&container.Config{}), errdefs.InvalidArgument, "no command specified")
	if err := ValidateMerged(&container.Config{Entrypoint: []string{"/init"}}); err != nil {
		t.Errorf("entrypoint only: %v", err)
	}
}

func TestParseBind(t *testing.T) {
	cases := []struct {
		raw  string
		want UserMount
	}{
		{"/h:/c", UserMount{Kind: KindBind, Source: "/h", Destination: "/c", Propagation: "rprivate", CreateSource: true}},
		{"/h/:/c/:ro,z", UserMount{Kind: KindBind, Source: "/h", Destination: "/c", ReadOnly: true, Propagation: "rprivate", CreateSource: true, Mode: "ro,z"}},
		{"/h:/c:rslave", UserMount{Kind: KindBind, Source: "/h", Destination: "/c", Propagation: "rslave", CreateSource: true, Mode: "rslave"}},
		{"name:/c:ro", UserMount{Kind: KindVolume, Source: "name", Destination: "/c", ReadOnly: true, Mode: "ro"}},
		{"name:/c:nocopy", UserMount{Kind: KindVolume, Source: "name", Destination: "/c", NoCopy: true, Mode: "nocopy"}},
		{"/anon", UserMount{Kind: KindVolume, Destination: "/anon"}},
	}
	for _, tc := range cases {
		got, err := ParseBind(tc.raw)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseBind(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
		}
	}
}

func TestParseDeviceCgroupRule(t *testing.T) {
	r, err := ParseDeviceCgroupRule("b *:* m")
	if err != nil || r.Type != "b" || r.Major != nil || r.Minor != nil || r.Access != "m" || !r.Allow {
		t.Errorf("rule %+v, %v", r, err)
	}
	for _, bad := range []string{"x 1:2 rwm", "c 1:2", "c a:2 rwm", "c 1:2 rwx"} {
		if _, err := ParseDeviceCgroupRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

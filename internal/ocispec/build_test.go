package ocispec

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func i64(v int64) *int64 { return &v }

func TestBuildDefault(t *testing.T) {
	in := baseInput(t)
	s := mustBuild(t, in)

	p := s.Process
	if !slices.Equal(p.Args, []string{"sh"}) || p.Cwd != "/" || p.Terminal {
		t.Errorf("args %q cwd %q terminal %v", p.Args, p.Cwd, p.Terminal)
	}
	wantEnv := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + testID[:12], "HOME=/root"}
	if !slices.Equal(p.Env, wantEnv) {
		t.Errorf("env %q, want %q", p.Env, wantEnv)
	}
	if p.User.UID != 0 || p.User.GID != 0 || !slices.Equal(p.User.AdditionalGids, []uint32{0, 10}) {
		t.Errorf("user %+v, want 0:0 groups [0 10]", p.User)
	}
	c := p.Capabilities
	if got := CapMask(c.Effective); got != 0xa80425fb {
		t.Errorf("CapEff %016x, want 00000000a80425fb", got)
	}
	if !slices.Equal(c.Bounding, DefaultCapabilities()) || !slices.Equal(c.Permitted, c.Effective) {
		t.Errorf("bounding %v permitted %v", c.Bounding, c.Permitted)
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("inheritable %v ambient %v, want none", c.Inheritable, c.Ambient)
	}
	if p.NoNewPrivileges || len(p.Rlimits) != 0 || p.OOMScoreAdj == nil || *p.OOMScoreAdj != 0 {
		t.Errorf("nnp %v rlimits %v oom %v", p.NoNewPrivileges, p.Rlimits, p.OOMScoreAdj)
	}

	if s.Root.Path != in.Rootfs || s.Root.Readonly {
		t.Errorf("root %+v", s.Root)
	}
	if s.Hostname != testID[:12] {
		t.Errorf("hostname %q", s.Hostname)
	}

	wantDest := []string{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm",
		"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"}
	if got := destinations(s); !slices.Equal(got, wantDest) {
		t.Errorf("mounts %q\nwant %q", got, wantDest)
	}
	wantMounts := map[string]specs.Mount{
		"/proc":          {Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		"/dev":           {Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		"/dev/pts":       {Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		"/sys":           {Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		"/sys/fs/cgroup": {Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		"/dev/mqueue":    {Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		"/dev/shm":       {Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
		"/etc/hosts":     {Destination: "/etc/hosts", Type: "bind", Source: in.Files.Hosts, Options: []string{"rbind", "rprivate"}},
	}
	for dest, want := range wantMounts {
		got := findMount(s, dest)
		if got == nil || got.Type != want.Type || got.Source != want.Source || !slices.Equal(got.Options, want.Options) {
			t.Errorf("mount %s = %+v, want %+v", dest, got, want)
		}
	}

	if got := nsTypes(s); !slices.Equal(got, []string{"mount", "network", "uts", "pid", "ipc"}) {
		t.Errorf("namespaces %v", got)
	}
	if !slices.Equal(s.Linux.MaskedPaths, DefaultMaskedPaths()) || !slices.Equal(s.Linux.ReadonlyPaths, DefaultReadonlyPaths()) {
		t.Errorf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("masked/readonly paths miss Docker's")
	}
	if s.Linux.CgroupsPath != "berth/"+testID || s.Linux.RootfsPropagation != "rprivate" {
		t.Errorf("cgroupsPath %q propagation %q", s.Linux.CgroupsPath, s.Linux.RootfsPropagation)
	}
	if s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 2147483647" || s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("sysctls %v", s.Linux.Sysctl)
	}
	r := s.Linux.Resources
	if r.Memory != nil || r.CPU != nil || r.Pids != nil || r.BlockIO != nil {
		t.Errorf("resources set without flags: %+v", r)
	}
	if len(s.Linux.Devices) != 0 {
		t.Errorf("devices %v, want none (the runtime's defaults)", s.Linux.Devices)
	}
	rules := r.Devices
	if len(rules) == 0 || rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" {
		t.Fatalf("first device rule %+v, want deny all", rules)
	}
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {136, -1}, {10, 200}} {
		if !allowedDevice(rules, "c", d[0], d[1]) {
			t.Errorf("c %d:%d not allowed", d[0], d[1])
		}
	}
	if allowedDevice(rules, "c", 10, 229) || allowedDevice(rules, "b", 8, 0) {
		t.Errorf("fuse or a disk is allowed")
	}
}

// allowedDevice evaluates the rules in order for rwm access to one device.
func allowedDevice(rules []specs.LinuxDeviceCgroup, typ string, major, minor int64) bool {
	allowed := false
	for _, r := range rules {
		if r.Type != "" && r.Type != "a" && r.Type != typ {
			continue
		}
		if r.Major != nil && *r.Major != major || r.Minor != nil && minor >= 0 && *r.Minor != minor || r.Minor != nil && minor < 0 && *r.Minor != -1 {
			continue
		}
		if r.Access != "rwm" && r.Allow {
			continue
		}
		allowed = r.Allow
	}
	return allowed
}

func TestBuildCases(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*Input)
		check func(*testing.T, *specs.Spec)
	}{
		{"privileged", func(in *Input) { in.HostConfig.Privileged = true }, func(t *testing.T, s *specs.Spec) {
			c := s.Process.Capabilities
			if CapMask(c.Bounding) != hostBnd || CapMask(c.Effective) != hostBnd || CapMask(c.Permitted) != hostBnd {
				t.Errorf("caps %x, want the daemon's bounding set %x", CapMask(c.Bounding), uint64(hostBnd))
			}
			if slices.Contains(c.Bounding, "CAP_SYS_RESOURCE") {
				t.Errorf("privileged asks for CAP_SYS_RESOURCE the daemon lacks")
			}
			if s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
				t.Errorf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
			if o := findMount(s, "/sys").Options; slices.Contains(o, "ro") {
				t.Errorf("/sys %v", o)
			}
			if o := findMount(s, "/sys/fs/cgroup").Options; slices.Contains(o, "ro") {
				t.Errorf("/sys/fs/cgroup %v", o)
			}
			if !slices.Equal(s.Linux.Devices, fakeDevices) {
				t.Errorf("devices %v", s.Linux.Devices)
			}
			if d := s.Linux.Resources.Devices; len(d) != 1 || !d[0].Allow || d[0].Access != "rwm" {
				t.Errorf("device rules %+v", d)
			}
		}},
		{"cap-add ALL", func(in *Input) { in.HostConfig.CapAdd = []string{"ALL"} }, func(t *testing.T, s *specs.Spec) {
			if CapMask(s.Process.Capabilities.Effective) != hostBnd {
				t.Errorf("caps %x", CapMask(s.Process.Capabilities.Effective))
			}
		}},
		{"cap-add all, cap-drop net_raw", func(in *Input) {
			in.HostConfig.CapAdd, in.HostConfig.CapDrop = []string{"all"}, []string{"net_raw"}
		}, func(t *testing.T, s *specs.Spec) {
			if CapMask(s.Process.Capabilities.Effective) != hostBnd&^(1<<13) {
				t.Errorf("caps %x", CapMask(s.Process.Capabilities.Effective))
			}
		}},
		{"cap-drop ALL", func(in *Input) { in.HostConfig.CapDrop = []string{"ALL"} }, func(t *testing.T, s *specs.Spec) {
			c := s.Process.Capabilities
			if c.Bounding == nil || len(c.Bounding)+len(c.Effective)+len(c.Permitted) != 0 {
				t.Errorf("caps %+v, want empty lists", c)
			}
		}},
		{"cap-drop ALL cap-add chown", func(in *Input) {
			in.HostConfig.CapDrop, in.HostConfig.CapAdd = []string{"ALL"}, []string{"chown", "CAP_KILL"}
		}, func(t *testing.T, s *specs.Spec) {
			if got := s.Process.Capabilities.Effective; !slices.Equal(got, []string{"CAP_CHOWN", "CAP_KILL"}) {
				t.Errorf("caps %v", got)
			}
		}},
		{"cap-add sys_admin cap-drop MKNOD", func(in *Input) {
			in.HostConfig.CapAdd, in.HostConfig.CapDrop = []string{"sys_admin"}, []string{"Cap_Mknod"}
		}, func(t *testing.T, s *specs.Spec) {
			want := uint64(0xa80425fb)&^(1<<27) | 1<<21
			if got := CapMask(s.Process.Capabilities.Bounding); got != want {
				t.Errorf("caps %x, want %x", got, want)
			}
		}},
		{"read-only", func(in *Input) {
			in.HostConfig.ReadonlyRootfs = true
			in.HostConfig.Binds = []string{"/srv/data:/data"}
		}, func(t *testing.T, s *specs.Spec) {
			if !s.Root.Readonly {
				t.Errorf("root not read-only")
			}
			for _, d := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/sys", "/sys/fs/cgroup"} {
				if !slices.Contains(findMount(s, d).Options, "ro") {
					t.Errorf("%s %v, want ro", d, findMount(s, d).Options)
				}
			}
			for _, d := range []string{"/proc", "/dev", "/dev/shm", "/dev/mqueue", "/dev/pts", "/data"} {
				if slices.Contains(findMount(s, d).Options, "ro") {
					t.Errorf("%s %v, want rw", d, findMount(s, d).Options)
				}
			}
		}},
		{"user by name", func(in *Input) { in.Config.User = "alice" }, func(t *testing.T, s *specs.Spec) {
			u := s.Process.User
			if u.UID != 1000 || u.GID != 1000 || !slices.Equal(u.AdditionalGids, []uint32{1000, 10, 29}) {
				t.Errorf("user %+v", u)
			}
			if h, _ := envValue(s.Process.Env, "HOME"); h != "/home/alice" {
				t.Errorf("HOME %q", h)
			}
		}},
		{"user uid:gid", func(in *Input) { in.Config.User = "1000:29" }, func(t *testing.T, s *specs.Spec) {
			u := s.Process.User
			if u.UID != 1000 || u.GID != 29 || !slices.Equal(u.AdditionalGids, []uint32{29}) {
				t.Errorf("user %+v", u)
			}
		}},
		{"user name:group", func(in *Input) { in.Config.User = "alice:wheel" }, func(t *testing.T, s *specs.Spec) {
			if u := s.Process.User; u.UID != 1000 || u.GID != 10 {
				t.Errorf("user %+v", u)
			}
		}},
		{"user unknown uid", func(in *Input) { in.Config.User = "4242" }, func(t *testing.T, s *specs.Spec) {
			if u := s.Process.User; u.UID != 4242 || u.GID != 0 {
				t.Errorf("user %+v", u)
			}
			if h, _ := envValue(s.Process.Env, "HOME"); h != "/" {
				t.Errorf("HOME %q, want /", h)
			}
		}},
		{"group-add", func(in *Input) { in.HostConfig.GroupAdd = []string{"audio", "1234", "daemon"} }, func(t *testing.T, s *specs.Spec) {
			if g := s.Process.User.AdditionalGids; !slices.Equal(g, []uint32{0, 10, 1, 29, 1234}) {
				t.Errorf("gids %v", g)
			}
		}},
		{"HOME from env wins", func(in *Input) { in.Config.Env = []string{"HOME=/data"} }, func(t *testing.T, s *specs.Spec) {
			if h, _ := envValue(s.Process.Env, "HOME"); h != "/data" {
				t.Errorf("HOME %q", h)
			}
		}},
		{"memory", func(in *Input) {
			in.HostConfig.Memory = 64 << 20
			in.HostConfig.MemoryReservation = 32 << 20
		}, func(t *testing.T, s *specs.Spec) {
			m := s.Linux.Resources.Memory
			if *m.Limit != 64<<20 || *m.Swap != 128<<20 || *m.Reservation != 32<<20 {
				t.Errorf("memory limit %d swap %d reservation %d", *m.Limit, *m.Swap, *m.Reservation)
			}
		}},
		{"memory-swap -1", func(in *Input) {
			in.HostConfig.Memory, in.HostConfig.MemorySwap = 64<<20, -1
		}, func(t *testing.T, s *specs.Spec) {
			if m := s.Linux.Resources.Memory; *m.Limit != 64<<20 || m.Swap != nil {
				t.Errorf("memory %+v, want unlimited swap", m)
			}
		}},
		{"memory-swap", func(in *Input) {
			in.HostConfig.Memory, in.HostConfig.MemorySwap = 64<<20, 100<<20
		}, func(t *testing.T, s *specs.Spec) {
			if m := s.Linux.Resources.Memory; *m.Swap != 100<<20 {
				t.Errorf("swap %d", *m.Swap)
			}
		}},
		{"cpus", func(in *Input) {
			in.HostConfig.NanoCPUs = 1_500_000_000
			in.HostConfig.CPUShares = 512
			in.HostConfig.CpusetCpus = "0"
		}, func(t *testing.T, s *specs.Spec) {
			c := s.Linux.Resources.CPU
			if *c.Quota != 150000 || *c.Period != 100000 || *c.Shares != 512 || c.Cpus != "0" {
				t.Errorf("cpu quota %d period %d shares %d cpus %q", *c.Quota, *c.Period, *c.Shares, c.Cpus)
			}
		}},
		{"cpu-period/quota", func(in *Input) {
			in.HostConfig.CPUPeriod, in.HostConfig.CPUQuota = 50000, 25000
		}, func(t *testing.T, s *specs.Spec) {
			if c := s.Linux.Resources.CPU; *c.Quota != 25000 || *c.Period != 50000 {
				t.Errorf("cpu %+v", c)
			}
		}},
		{"pids-limit", func(in *Input) { in.HostConfig.PidsLimit = i64(100) }, func(t *testing.T, s *specs.Spec) {
			if p := s.Linux.Resources.Pids; *p.Limit != 100 {
				t.Errorf("pids %d", *p.Limit)
			}
		}},
		{"pids-limit 0 is unlimited", func(in *Input) { in.HostConfig.PidsLimit = i64(0) }, func(t *testing.T, s *specs.Spec) {
			if p := s.Linux.Resources.Pids; *p.Limit != -1 {
				t.Errorf("pids %d", *p.Limit)
			}
		}},
		{"blkio weight and oom-kill-disable", func(in *Input) {
			in.HostConfig.BlkioWeight = 300
			b := true
			in.HostConfig.OomKillDisable = &b
			in.HostConfig.OomScoreAdj = 500
		}, func(t *testing.T, s *specs.Spec) {
			r := s.Linux.Resources
			if *r.BlockIO.Weight != 300 || !*r.Memory.DisableOOMKiller || *s.Process.OOMScoreAdj != 500 {
				t.Errorf("blkio %v oom %v score %v", *r.BlockIO.Weight, *r.Memory.DisableOOMKiller, *s.Process.OOMScoreAdj)
			}
		}},
		{"workdir", func(in *Input) { in.Config.WorkingDir = "/app/" }, func(t *testing.T, s *specs.Spec) {
			if s.Process.Cwd != "/app" {
				t.Errorf("cwd %q", s.Process.Cwd)
			}
		}},
		{"entrypoint and cmd", func(in *Input) {
			in.Config.Entrypoint, in.Config.Cmd = []string{"/bin/echo", "-n"}, []string{"hi"}
		}, func(t *testing.T, s *specs.Spec) {
			if !slices.Equal(s.Process.Args, []string{"/bin/echo", "-n", "hi"}) {
				t.Errorf("args %q", s.Process.Args)
			}
		}},
		{"tty", func(in *Input) {
			in.Config.Tty = true
			in.Config.Env = []string{"PATH=/bin", "FOO=bar", "HOSTNAME", "TERM=dumb"}
		}, func(t *testing.T, s *specs.Spec) {
			want := []string{"PATH=/bin", "TERM=dumb", "FOO=bar", "HOME=/root"}
			if !s.Process.Terminal || !slices.Equal(s.Process.Env, want) {
				t.Errorf("terminal %v env %q, want %q", s.Process.Terminal, s.Process.Env, want)
			}
		}},
		{"console size", func(in *Input) {
			in.Config.Tty = true
			in.HostConfig.ConsoleSize = [2]uint{40, 120}
		}, func(t *testing.T, s *specs.Spec) {
			if b := s.Process.ConsoleSize; b == nil || b.Height != 40 || b.Width != 120 {
				t.Errorf("console size %+v", b)
			}
		}},
		{"tty TERM default", func(in *Input) { in.Config.Tty = true }, func(t *testing.T, s *specs.Spec) {
			if v, _ := envValue(s.Process.Env, "TERM"); v != "xterm" {
				t.Errorf("TERM %q", v)
			}
		}},
		{"tmpfs", func(in *Input) {
			in.HostConfig.Tmpfs = map[string]string{"/run": "rw,size=64m", "/tmp": "", "/x": "exec,mode=1777,size=1g,noexec"}
		}, func(t *testing.T, s *specs.Spec) {
			for dest, want := range map[string][]string{
				"/run": {"noexec", "nosuid", "nodev", "rprivate", "rw", "size=64m"},
				"/tmp": {"noexec", "nosuid", "nodev", "rprivate"},
				"/x":   {"nosuid", "nodev", "rprivate", "mode=1777", "size=1g", "noexec"},
			} {
				m := findMount(s, dest)
				if m == nil || m.Type != "tmpfs" || m.Source != "tmpfs" || !slices.Equal(m.Options, want) {
					t.Errorf("%s: %+v, want options %q", dest, m, want)
				}
			}
		}},
		{"binds", func(in *Input) {
			in.HostConfig.Binds = []string{"/host/deep:/data/sub/deep:ro", "/host/data:/data", "/host/sh:/srv:rshared"}
		}, func(t *testing.T, s *specs.Spec) {
			d := destinations(s)
			if slices.Index(d, "/data") > slices.Index(d, "/data/sub/deep") {
				t.Errorf("child mounted before parent: %q", d)
			}
			if m := findMount(s, "/data/sub/deep"); m.Source != "/host/deep" || m.Type != "bind" || !slices.Equal(m.Options, []string{"rbind", "rro", RROFallback, "rprivate"}) {
				t.Errorf("ro bind %+v", m)
			}
			if m := findMount(s, "/data"); !slices.Equal(m.Options, []string{"rbind", "rprivate"}) {
				t.Errorf("bind %+v", m)
			}
			if m := findMount(s, "/srv"); !slices.Equal(m.Options, []string{"rbind", "rshared"}) || s.Linux.RootfsPropagation != "shared" {
				t.Errorf("shared bind %+v, rootfs %q", m, s.Linux.RootfsPropagation)
			}
		}},
		{"bind-recursive", func(in *Input) {
			dir := t.TempDir()
			ro := func(o mount.BindOptions) mount.Mount {
				return mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/" + string(rune(48+len(in.HostConfig.Mounts))), ReadOnly: true, BindOptions: &o}
			}
			in.HostConfig.Mounts = nil
			for _, o := range []mount.BindOptions{{}, {ReadOnlyForceRecursive: true}, {ReadOnlyNonRecursive: true}, {NonRecursive: true}} {
				in.HostConfig.Mounts = append(in.HostConfig.Mounts, ro(o))
			}
		}, func(t *testing.T, s *specs.Spec) {
			for dest, want := range map[string][]string{
				"/0": {"rbind", "rro", RROFallback, "rprivate"}, // enabled
				"/1": {"rbind", "rro", "rprivate"},              // readonly
				"/2": {"rbind", "ro", "rprivate"},               // writable
				"/3": {"bind", "ro", "rprivate"},                // disabled
			} {
				if m := findMount(s, dest); m == nil || !slices.Equal(m.Options, want) {
					t.Errorf("%s: %+v, want %q", dest, m, want)
				}
			}
		}},
		{"mount over a default and a generated file", func(in *Input) {
			in.HostConfig.Binds = []string{"/host/shm:/dev/shm", "/host/hosts:/etc/hosts:ro"}
		}, func(t *testing.T, s *specs.Spec) {
			if m := findMount(s, "/dev/shm"); m.Type != "bind" || m.Source != "/host/shm" {
				t.Errorf("/dev/shm %+v", m)
			}
			if m := findMount(s, "/etc/hosts"); m.Source != "/host/hosts" {
				t.Errorf("/etc/hosts %+v", m)
			}
			n := 0
			for _, m := range s.Mounts {
				if m.Destination == "/dev/shm" || m.Destination == "/etc/hosts" {
					n++
				}
			}
			if n != 2 {
				t.Errorf("duplicated mounts: %q", destinations(s))
			}
		}},
		{"--mount bind, volume and tmpfs", func(in *Input) {
			dir := t.TempDir()
			in.HostConfig.Mounts = []mount.Mount{
				{Type: mount.TypeBind, Source: dir, Target: "/b", ReadOnly: true, BindOptions: &mount.BindOptions{NonRecursive: true}},
				{Type: mount.TypeVolume, Source: "vol", Target: "/v"},
				{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 2 << 20, Mode: 0o700}},
			}
			in.VolumeSources = map[string]string{"/v": "/var/lib/berth/volumes/vol/_data"}
		}, func(t *testing.T, s *specs.Spec) {
			if m := findMount(s, "/b"); !slices.Equal(m.Options, []string{"bind", "ro", "rprivate"}) {
				t.Errorf("/b %+v", m)
			}
			if m := findMount(s, "/v"); m.Source != "/var/lib/berth/volumes/vol/_data" || !slices.Equal(m.Options, []string{"rbind"}) {
				t.Errorf("/v %+v", m)
			}
			if m := findMount(s, "/t"); !slices.Equal(m.Options, []string{"noexec", "nosuid", "nodev", "rprivate", "mode=700", "size=2m"}) {
				t.Errorf("/t %+v", m)
			}
		}},
		{"image volumes", func(in *Input) {
			in.Config.Volumes = map[string]struct{}{"/var/lib/db": {}, "/cache": {}}
			in.VolumeSources = map[string]string{"/var/lib/db": "/vols/anon1/_data"}
		}, func(t *testing.T, s *specs.Spec) {
			if m := findMount(s, "/var/lib/db"); m == nil || m.Source != "/vols/anon1/_data" {
				t.Errorf("volume %+v", m)
			}
			if findMount(s, "/cache") != nil {
				t.Errorf("unresolved image volume mounted")
			}
		}},
		{"network host", func(in *Input) { in.HostConfig.NetworkMode = "host" }, func(t *testing.T, s *specs.Spec) {
			if got := nsTypes(s); !slices.Equal(got, []string{"mount", "uts", "pid", "ipc"}) {
				t.Errorf("namespaces %v", got)
			}
			if len(s.Linux.Sysctl) != 0 {
				t.Errorf("sysctls %v in the host's namespace", s.Linux.Sysctl)
			}
		}},
		{"network none", func(in *Input) { in.HostConfig.NetworkMode = "none" }, func(t *testing.T, s *specs.Spec) {
			if got := nsTypes(s); !slices.Contains(got, "network") {
				t.Errorf("namespaces %v", got)
			}
		}},
		{"netns path", func(in *Input) {
			in.HostConfig.NetworkMode = "bridge"
			in.NetNSPath = "/run/berth/netns/x"
		}, func(t *testing.T, s *specs.Spec) {
			if n := s.Linux.Namespaces[1]; n.Type != "network" || n.Path != "/run/berth/netns/x" {
				t.Errorf("namespace %+v", n)
			}
		}},
		{"uts/pid/ipc host", func(in *Input) {
			in.HostConfig.UTSMode, in.HostConfig.PidMode, in.HostConfig.IpcMode = "host", "host", "host"
		}, func(t *testing.T, s *specs.Spec) {
			if got := nsTypes(s); !slices.Equal(got, []string{"mount", "network"}) || s.Hostname != "" {
				t.Errorf("namespaces %v hostname %q", got, s.Hostname)
			}
		}},
		{"ipc none", func(in *Input) { in.HostConfig.IpcMode = "none" }, func(t *testing.T, s *specs.Spec) {
			if findMount(s, "/dev/shm") != nil || !slices.Contains(nsTypes(s), "ipc") {
				t.Errorf("mounts %q ns %v", destinations(s), nsTypes(s))
			}
		}},
		{"shm-size", func(in *Input) { in.HostConfig.ShmSize = 1 << 30 }, func(t *testing.T, s *specs.Spec) {
			if o := findMount(s, "/dev/shm").Options; o[len(o)-1] != "size=1073741824" {
				t.Errorf("/dev/shm %v", o)
			}
		}},
		{"cgroupns private", func(in *Input) { in.HostConfig.CgroupnsMode = "private" }, func(t *testing.T, s *specs.Spec) {
			if !slices.Contains(nsTypes(s), "cgroup") {
				t.Errorf("namespaces %v", nsTypes(s))
			}
		}},
		{"cgroupns default on v2", func(in *Input) { in.CgroupV2 = true }, func(t *testing.T, s *specs.Spec) {
			if !slices.Contains(nsTypes(s), "cgroup") {
				t.Errorf("namespaces %v", nsTypes(s))
			}
		}},
		{"cgroupns host on v2", func(in *Input) { in.CgroupV2 = true; in.HostConfig.CgroupnsMode = "host" }, func(t *testing.T, s *specs.Spec) {
			if slices.Contains(nsTypes(s), "cgroup") {
				t.Errorf("namespaces %v", nsTypes(s))
			}
		}},
		{"no-new-privileges", func(in *Input) { in.HostConfig.SecurityOpt = []string{"no-new-privileges"} }, func(t *testing.T, s *specs.Spec) {
			if !s.Process.NoNewPrivileges {
				t.Errorf("nnp not set")
			}
		}},
		{"no-new-privileges=false beats the daemon default", func(in *Input) {
			in.NoNewPrivileges = true
			in.HostConfig.SecurityOpt = []string{"no-new-privileges=false"}
		}, func(t *testing.T, s *specs.Spec) {
			if s.Process.NoNewPrivileges {
				t.Errorf("nnp set")
			}
		}},
		{"writable-cgroups", func(in *Input) { in.HostConfig.SecurityOpt = []string{"writable-cgroups=true"} }, func(t *testing.T, s *specs.Spec) {
			if slices.Contains(findMount(s, "/sys/fs/cgroup").Options, "ro") {
				t.Errorf("cgroup mount read-only")
			}
		}},
		{"daemon cgroup parent", func(in *Input) { in.CgroupParent = "/x" }, func(t *testing.T, s *specs.Spec) {
			if s.Linux.CgroupsPath != "/x/"+testID {
				t.Errorf("cgroupsPath %q", s.Linux.CgroupsPath)
			}
		}},
		{"container cgroup parent wins", func(in *Input) {
			in.CgroupParent, in.HostConfig.CgroupParent = "/x", "/y/z"
		}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.CgroupsPath != "/y/z/"+testID {
				t.Errorf("cgroupsPath %q", s.Linux.CgroupsPath)
			}
		}},
		{"ulimits", func(in *Input) {
			in.HostConfig.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 4096}}
		}, func(t *testing.T, s *specs.Spec) {
			if r := s.Process.Rlimits; len(r) != 1 || r[0] != (specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}) {
				t.Errorf("rlimits %+v", r)
			}
		}},
		{"sysctls", func(in *Input) {
			in.HostConfig.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024", "kernel.shmmax": "1000"}
		}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "1024" || s.Linux.Sysctl["kernel.shmmax"] != "1000" {
				t.Errorf("sysctls %v", s.Linux.Sysctl)
			}
		}},
		{"masked paths override", func(in *Input) {
			in.HostConfig.MaskedPaths, in.HostConfig.ReadonlyPaths = []string{}, []string{"/proc/sys"}
		}, func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.MaskedPaths) != 0 || !slices.Equal(s.Linux.ReadonlyPaths, []string{"/proc/sys"}) {
				t.Errorf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
		}},
		{"domainname and annotations", func(in *Input) {
			in.Config.Domainname = "example.org"
			in.HostConfig.Annotations = map[string]string{"a": "b"}
		}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.Sysctl["kernel.domainname"] != "example.org" || s.Annotations["a"] != "b" {
				t.Errorf("sysctls %v annotations %v", s.Linux.Sysctl, s.Annotations)
			}
		}},
		{"device cgroup rule", func(in *Input) { in.HostConfig.DeviceCgroupRules = []string{"c 42:* rmw"} }, func(t *testing.T, s *specs.Spec) {
			r := s.Linux.Resources.Devices
			last := r[len(r)-1]
			if !last.Allow || last.Type != "c" || *last.Major != 42 || last.Minor != nil || last.Access != "rmw" {
				t.Errorf("rule %+v", last)
			}
		}},
		{"device mapping", func(in *Input) {
			in.HostConfig.Devices = []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"}}
		}, func(t *testing.T, s *specs.Spec) {
			if d := s.Linux.Devices; len(d) != 1 || d[0].Path != "/dev/mynull" || d[0].Major != 1 || d[0].Minor != 3 || d[0].Type != "c" {
				t.Errorf("devices %+v", d)
			}
			r := s.Linux.Resources.Devices
			if last := r[len(r)-1]; !last.Allow || *last.Major != 1 || *last.Minor != 3 || last.Access != "rw" {
				t.Errorf("rule %+v", last)
			}
		}},
		{"container network with the engine's default hostname", func(in *Input) {
			in.HostConfig.NetworkMode = "container:abc"
			in.NetNSPath = "/proc/4242/ns/net"
		}, func(t *testing.T, s *specs.Spec) {
			if n := s.Linux.Namespaces[1]; n.Type != "network" || n.Path != "/proc/4242/ns/net" {
				t.Errorf("namespace %+v", n)
			}
			if _, ok := s.Linux.Sysctl["net.ipv4.ping_group_range"]; ok {
				t.Errorf("default sysctls set in a joined namespace")
			}
		}},
		{"unlimited ulimit", func(in *Input) {
			in.HostConfig.Ulimits = []*container.Ulimit{{Name: "memlock", Soft: -1, Hard: -1}}
		}, func(t *testing.T, s *specs.Spec) {
			if r := s.Process.Rlimits[0]; r.Soft != ^uint64(0) || r.Hard != ^uint64(0) {
				t.Errorf("rlimit %+v, want infinity", r)
			}
		}},
		{"spec opts run last", func(in *Input) {
			in.Opts = []SpecOpt{func(s *specs.Spec, _ *Input) error {
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
				return nil
			}}
		}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp == nil {
				t.Errorf("opt not applied")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput(t)
			tc.mod(&in)
			tc.check(t, mustBuild(t, in))
		})
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*Input)
		class errdefs.Class
		msg   string
	}{
		{"unknown user", func(in *Input) { in.Config.User = "bob" }, errdefs.InvalidArgument,
			"unable to find user bob: no matching entries in passwd file"},
		{"unknown group", func(in *Input) { in.Config.User = "alice:nogroup" }, errdefs.InvalidArgument,
			"unable to find group nogroup: no matching entries in group file"},
		{"unknown group-add", func(in *Input) { in.HostConfig.GroupAdd = []string{"nogroup"} }, errdefs.InvalidArgument,
			"unable to find group nogroup: no matching entries in group file"},
		{"unknown capability", func(in *Input) { in.HostConfig.CapAdd = []string{"foo"} }, errdefs.InvalidArgument,
			`unknown capability: "CAP_FOO"`},
		{"capability the daemon lacks", func(in *Input) { in.HostConfig.CapAdd = []string{"SYS_RESOURCE"} }, errdefs.InvalidArgument,
			`capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"`},
		{"no command", func(in *Input) { in.Config.Cmd = nil }, errdefs.InvalidArgument, "no command specified"},
		{"unresolved volume", func(in *Input) { in.HostConfig.Binds = []string{"data:/data"} }, errdefs.NotImplemented,
			"volume data at /data: volumes are not resolved yet"},
		{"container network", func(in *Input) { in.HostConfig.NetworkMode = "container:abc"; in.Config.Hostname = "" }, errdefs.NotImplemented,
			"network mode container:abc is not supported yet"},
		{"relative rootfs", func(in *Input) { in.Rootfs = "rootfs" }, errdefs.InvalidArgument,
			`build spec for ` + testID + `: rootfs "rootfs" is not absolute`},
		{"invalid memory (Validate)", func(in *Input) { in.HostConfig.Memory = 1 << 20 }, errdefs.InvalidArgument,
			"Minimum memory limit allowed is 6MB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput(t)
			tc.mod(&in)
			_, err := Build(in)
			wantErr(t, err, tc.class, tc.msg)
		})
	}
}

func TestBuildRootfsWithoutPasswd(t *testing.T) {
	in := baseInput(t)
	in.Rootfs = t.TempDir()
	s := mustBuild(t, in)
	if u := s.Process.User; u.UID != 0 || u.GID != 0 || !slices.Equal(u.AdditionalGids, []uint32{0}) {
		t.Errorf("user %+v", u)
	}
	if h, _ := envValue(s.Process.Env, "HOME"); h != "/" {
		t.Errorf("HOME %q", h)
	}
	in.Config.User = "alice"
	_, err := Build(in)
	wantErr(t, err, errdefs.InvalidArgument, "unable to find user alice: no matching entries in passwd file")
}

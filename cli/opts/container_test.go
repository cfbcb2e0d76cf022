package opts

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"
)

// parseArgs runs the flags the way `berth create` does and returns the request.
func parseArgs(t *testing.T, args ...string) (*ContainerConfig, error) {
	t.Helper()
	flags := pflag.NewFlagSet("create", pflag.ContinueOnError)
	flags.SetInterspersed(false)
	c := AddFlags(flags)
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	rest := flags.Args()
	if len(rest) == 0 {
		t.Fatal("no image given")
	}
	c.Image = rest[0]
	if len(rest) > 1 {
		c.Args = rest[1:]
	}
	return Parse(flags, c)
}

func mustParse(t *testing.T, args ...string) *ContainerConfig {
	t.Helper()
	cfg, err := parseArgs(t, args...)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return cfg
}

func TestParseDefaults(t *testing.T) {
	cfg := mustParse(t, "busybox")
	c, h := cfg.Config, cfg.HostConfig
	if c.Image != "busybox" || c.Cmd != nil || c.Entrypoint != nil {
		t.Errorf("image/cmd/entrypoint = %q %v %v", c.Image, c.Cmd, c.Entrypoint)
	}
	if c.AttachStdin || !c.AttachStdout || !c.AttachStderr || c.OpenStdin || c.StdinOnce || c.Tty {
		t.Errorf("attach defaults wrong: %+v", c)
	}
	if h.NetworkMode != "default" {
		t.Errorf("NetworkMode = %q, want default", h.NetworkMode)
	}
	if h.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("restart = %+v, want no", h.RestartPolicy)
	}
	if h.Init != nil {
		t.Errorf("Init should be unset when --init is not given")
	}
	if c.StopTimeout != nil || c.StopSignal != "" {
		t.Errorf("stop settings should be unset")
	}
	if h.MemorySwappiness == nil || *h.MemorySwappiness != -1 {
		t.Errorf("MemorySwappiness should be -1 like docker")
	}
	if h.PidsLimit == nil || *h.PidsLimit != 0 {
		t.Errorf("PidsLimit should be 0")
	}
}

func TestParseCommandAndInterspersed(t *testing.T) {
	cfg := mustParse(t, "-e", "A=1", "busybox", "ls", "-l", "-e", "x")
	if want := []string{"ls", "-l", "-e", "x"}; !reflect.DeepEqual(cfg.Config.Cmd, want) {
		t.Errorf("Cmd = %q, want %q (flags after the image belong to the command)", cfg.Config.Cmd, want)
	}
	if !reflect.DeepEqual(cfg.Config.Env, []string{"A=1"}) {
		t.Errorf("Env = %q", cfg.Config.Env)
	}
}

func TestParseEnv(t *testing.T) {
	t.Setenv("BERTH_TEST_SET", "from-host")
	os.Unsetenv("BERTH_TEST_UNSET")
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	content := "\xEF\xBB\xBFFILE1=one\n  # comment\n\nBERTH_TEST_SET\nBERTH_TEST_UNSET\nSPACED=a b\n"
	if err := os.WriteFile(envFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, "--env-file", envFile, "-e", "KEY=VAL", "-e", "BERTH_TEST_SET", "-e", "BERTH_TEST_UNSET", "-e", "EMPTY=", "busybox")
	want := []string{
		"FILE1=one", "BERTH_TEST_SET=from-host", "SPACED=a b", // file first; unset bare key dropped
		"KEY=VAL", "BERTH_TEST_SET=from-host", "BERTH_TEST_UNSET", "EMPTY=", // -e: unset bare key kept bare
	}
	if !reflect.DeepEqual(cfg.Config.Env, want) {
		t.Errorf("Env =\n %q\nwant\n %q", cfg.Config.Env, want)
	}

	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("MY VAR=1\n"), 0o644)
	if _, err := parseArgs(t, "--env-file", bad, "busybox"); err == nil || !strings.Contains(err.Error(), "contains whitespaces") {
		t.Errorf("whitespace in env-file key: err = %v", err)
	}
	if _, err := parseArgs(t, "--env-file", filepath.Join(dir, "missing"), "busybox"); err == nil {
		t.Error("missing env file should fail")
	}
	if _, err := parseArgs(t, "-e", "=x", "busybox"); err == nil {
		t.Error("-e =x should fail")
	}
}

func TestParseLabels(t *testing.T) {
	f := filepath.Join(t.TempDir(), "labels")
	os.WriteFile(f, []byte("a=1\nbare\n# c\nb=x=y\n"), 0o644)
	cfg := mustParse(t, "--label-file", f, "-l", "c", "--label", "a=2", "busybox")
	want := map[string]string{"a": "2", "b": "x=y", "c": ""}
	if !reflect.DeepEqual(cfg.Config.Labels, want) {
		t.Errorf("Labels = %v, want %v", cfg.Config.Labels, want)
	}
	if _, err := parseArgs(t, "-l", "=v", "busybox"); err == nil {
		t.Error("empty label key should fail")
	}
}

func TestParseResources(t *testing.T) {
	cfg := mustParse(t, "-m", "64m", "--memory-swap", "-1", "--cpus", "1.5", "-c", "512", "--pids-limit", "100", "--shm-size", "1g", "busybox")
	h := cfg.HostConfig
	if h.Memory != 64<<20 {
		t.Errorf("Memory = %d", h.Memory)
	}
	if h.MemorySwap != -1 {
		t.Errorf("MemorySwap = %d", h.MemorySwap)
	}
	if h.NanoCPUs != 1_500_000_000 {
		t.Errorf("NanoCPUs = %d", h.NanoCPUs)
	}
	if h.CPUShares != 512 {
		t.Errorf("CPUShares = %d", h.CPUShares)
	}
	if *h.PidsLimit != 100 {
		t.Errorf("PidsLimit = %d", *h.PidsLimit)
	}
	if h.ShmSize != 1<<30 {
		t.Errorf("ShmSize = %d", h.ShmSize)
	}
	for _, bad := range [][]string{{"-m", "12x"}, {"--cpus", "abc"}, {"--cpus", "0.0000000001"}, {"--memory-swap", "-2"}} {
		if _, err := parseArgs(t, append(bad, "busybox")...); err == nil {
			t.Errorf("%q should fail", bad)
		}
	}
}

func TestParseVolumesAndTmpfs(t *testing.T) {
	wd, _ := os.Getwd()
	cfg := mustParse(t, "-v", "/host:/ctr:ro", "-v", "/anon", "-v", "named:/data", "-v", "./rel:/r", "--tmpfs", "/run:size=64m,mode=1777", "--tmpfs", "/tmp", "busybox")
	wantBinds := []string{"/host:/ctr:ro", "named:/data", filepath.Join(wd, "rel") + ":/r"}
	if !reflect.DeepEqual(cfg.HostConfig.Binds, wantBinds) {
		t.Errorf("Binds = %q, want %q", cfg.HostConfig.Binds, wantBinds)
	}
	if !reflect.DeepEqual(cfg.Config.Volumes, map[string]struct{}{"/anon": {}}) {
		t.Errorf("Volumes = %v", cfg.Config.Volumes)
	}
	if want := map[string]string{"/run": "size=64m,mode=1777", "/tmp": ""}; !reflect.DeepEqual(cfg.HostConfig.Tmpfs, want) {
		t.Errorf("Tmpfs = %v", cfg.HostConfig.Tmpfs)
	}
	for _, bad := range [][]string{{"-v", "a:b:c:d"}, {"-v", ":/x"}, {"--tmpfs", "relative"}} {
		if _, err := parseArgs(t, append(bad, "busybox")...); err == nil {
			t.Errorf("%q should fail", bad)
		}
	}
}

func TestParseRestart(t *testing.T) {
	tests := []struct {
		in      string
		name    container.RestartPolicyMode
		retries int
		wantErr string
	}{
		{in: "no", name: "no"},
		{in: "always", name: "always"},
		{in: "unless-stopped", name: "unless-stopped"},
		{in: "on-failure", name: "on-failure"},
		{in: "on-failure:3", name: "on-failure", retries: 3},
		{in: "on-failure:x", wantErr: "maximum retry count must be an integer"},
		{in: ":3", wantErr: "no policy provided before colon"},
		{in: "always:2", wantErr: "can only be used with 'on-failure'"},
		{in: "sometimes", wantErr: "unknown policy"},
	}
	for _, tc := range tests {
		cfg, err := parseArgs(t, "--restart", tc.in, "busybox")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("--restart %s: err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("--restart %s: %v", tc.in, err)
			continue
		}
		if p := cfg.HostConfig.RestartPolicy; p.Name != tc.name || p.MaximumRetryCount != tc.retries {
			t.Errorf("--restart %s = %+v", tc.in, p)
		}
	}
	if _, err := parseArgs(t, "--rm", "--restart", "always", "busybox"); err == nil || !strings.Contains(err.Error(), "--restart and --rm") {
		t.Errorf("--rm with --restart: err = %v", err)
	}
	if _, err := parseArgs(t, "--rm", "--restart", "no", "busybox"); err != nil {
		t.Errorf("--rm --restart no should be fine: %v", err)
	}
}

func TestParseHostOptions(t *testing.T) {
	seccomp := filepath.Join(t.TempDir(), "seccomp.json")
	os.WriteFile(seccomp, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n"), 0o644)
	cfg := mustParse(t,
		"--cap-add", "net_admin", "--cap-drop", "ALL", "--privileged", "--read-only",
		"--runtime", "crun", "--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3",
		"--network", "host", "--security-opt", "no-new-privileges", "--security-opt", "label:disable",
		"--security-opt", "seccomp="+seccomp, "--security-opt", "systempaths=unconfined",
		"--init", "--stop-signal", "SIGUSR1", "--stop-timeout", "7", "-w", "/work", "-u", "1000:1000",
		"--entrypoint", "/bin/sh", "-h", "box", "--group-add", "audio", "--ulimit", "nofile=1024:2048",
		"--ulimit", "nproc=10", "--cgroup-parent", "/mine", "--cgroupns", "private", "-t", "-i",
		"busybox")
	c, h := cfg.Config, cfg.HostConfig
	if !reflect.DeepEqual(h.CapAdd, []string{"net_admin"}) || !reflect.DeepEqual(h.CapDrop, []string{"ALL"}) {
		t.Errorf("caps = %v %v", h.CapAdd, h.CapDrop)
	}
	if !h.Privileged || !h.ReadonlyRootfs || h.Runtime != "crun" {
		t.Errorf("privileged/readonly/runtime = %v %v %q", h.Privileged, h.ReadonlyRootfs, h.Runtime)
	}
	if h.LogConfig.Type != "json-file" || !reflect.DeepEqual(h.LogConfig.Config, map[string]string{"max-size": "10m", "max-file": "3"}) {
		t.Errorf("LogConfig = %+v", h.LogConfig)
	}
	if h.NetworkMode != "host" {
		t.Errorf("NetworkMode = %q", h.NetworkMode)
	}
	wantSec := []string{"no-new-privileges", "label:disable", `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}
	if !reflect.DeepEqual(h.SecurityOpt, wantSec) {
		t.Errorf("SecurityOpt = %q, want %q", h.SecurityOpt, wantSec)
	}
	if h.MaskedPaths == nil || len(h.MaskedPaths) != 0 || h.ReadonlyPaths == nil || len(h.ReadonlyPaths) != 0 {
		t.Errorf("systempaths=unconfined should give empty masked/readonly paths: %v %v", h.MaskedPaths, h.ReadonlyPaths)
	}
	if h.Init == nil || !*h.Init {
		t.Errorf("Init = %v", h.Init)
	}
	if c.StopSignal != "SIGUSR1" || c.StopTimeout == nil || *c.StopTimeout != 7 {
		t.Errorf("stop = %q %v", c.StopSignal, c.StopTimeout)
	}
	if c.WorkingDir != "/work" || c.User != "1000:1000" || c.Hostname != "box" {
		t.Errorf("workdir/user/hostname = %q %q %q", c.WorkingDir, c.User, c.Hostname)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/bin/sh"}) {
		t.Errorf("Entrypoint = %q", c.Entrypoint)
	}
	if !reflect.DeepEqual(h.GroupAdd, []string{"audio"}) {
		t.Errorf("GroupAdd = %q", h.GroupAdd)
	}
	if len(h.Ulimits) != 2 || h.Ulimits[0].Name != "nofile" || h.Ulimits[0].Soft != 1024 || h.Ulimits[0].Hard != 2048 || // sorted by name
		h.Ulimits[1].Name != "nproc" || h.Ulimits[1].Soft != 10 || h.Ulimits[1].Hard != 10 {
		t.Errorf("Ulimits = %+v %+v", h.Ulimits[0], h.Ulimits[1])
	}
	if h.CgroupParent != "/mine" || h.CgroupnsMode != "private" {
		t.Errorf("cgroup = %q %q", h.CgroupParent, h.CgroupnsMode)
	}
	if !c.Tty || !c.OpenStdin || !c.AttachStdin || !c.StdinOnce {
		t.Errorf("-it: tty=%v open=%v attach=%v once=%v", c.Tty, c.OpenStdin, c.AttachStdin, c.StdinOnce)
	}

	if cfg := mustParse(t, "--entrypoint=", "busybox"); !reflect.DeepEqual(cfg.Config.Entrypoint, []string{""}) {
		t.Errorf("--entrypoint= should reset to [\"\"], got %q", cfg.Config.Entrypoint)
	}
	if cfg := mustParse(t, "--init=false", "busybox"); cfg.HostConfig.Init == nil || *cfg.HostConfig.Init {
		t.Errorf("--init=false should send Init=false")
	}
	for _, bad := range [][]string{{"--cgroupns", "weird"}, {"--log-driver", "none", "--log-opt", "a=b"}, {"--ulimit", "nofile"}, {"--security-opt", "seccomp=/does/not/exist"}} {
		if _, err := parseArgs(t, append(bad, "busybox")...); err == nil {
			t.Errorf("%q should fail", bad)
		}
	}
}

func TestParseAttach(t *testing.T) {
	cfg := mustParse(t, "-a", "stdin", "-a", "STDERR", "busybox")
	c := cfg.Config
	if !c.AttachStdin || c.AttachStdout || !c.AttachStderr {
		t.Errorf("-a stdin -a stderr: %v %v %v", c.AttachStdin, c.AttachStdout, c.AttachStderr)
	}
	if c.StdinOnce {
		t.Error("StdinOnce needs -i")
	}
	if _, err := parseArgs(t, "-a", "foo", "busybox"); err == nil || !strings.Contains(err.Error(), "valid streams are STDIN, STDOUT and STDERR") {
		t.Errorf("-a foo: %v", err)
	}
}

package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestCreateRequestMatchesDockerCLI is a differential test: the real docker
// CLI and berth parse the same flags, send their create requests to the
// same fake Engine API, and the request bodies must be identical (after
// decoding both into the API types, so only meaning is compared).
func TestCreateRequestMatchesDockerCLI(t *testing.T) {
	dockerBin, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed")
	}
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("F1=one\n# c\nBERTH_DIFF_SET\nBERTH_DIFF_UNSET\n"), 0o644)
	labelFile := filepath.Join(dir, "labels")
	os.WriteFile(labelFile, []byte("l1=a\nbare\nl2=x=y\n"), 0o644)
	seccomp := filepath.Join(dir, "seccomp.json")
	os.WriteFile(seccomp, []byte("{\n \"defaultAction\": \"SCMP_ACT_ERRNO\"\n}\n"), 0o644)
	t.Setenv("BERTH_DIFF_SET", "from-env")
	os.Unsetenv("BERTH_DIFF_UNSET")

	cases := [][]string{
		{"create", "busybox"},
		{"create", "busybox", "sh", "-c", "echo hi"},
		{"create", "-e", "A=b", "-e", "BERTH_DIFF_SET", "-e", "BERTH_DIFF_UNSET", "--env-file", envFile, "busybox"},
		{"create", "-m", "64m", "--memory-swap", "128m", "--cpus", "1.5", "-c", "512", "--pids-limit", "5", "--shm-size", "1g", "busybox"},
		{"create", "--memory-swap", "-1", "-m", "1g", "--cpus", "0.25", "busybox"},
		{"create", "--restart", "on-failure:3", "busybox"},
		{"create", "--restart", "unless-stopped", "busybox"},
		{"create", "-v", "/a:/b:ro", "-v", "/c", "-v", "named:/d", "--tmpfs", "/run:size=1m", "--tmpfs", "/tmp", "busybox"},
		{"create", "--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--cap-drop", "chown", "--privileged", "--read-only", "busybox"},
		{"create", "--security-opt", "no-new-privileges", "--security-opt", "label:disable", "--security-opt", "seccomp=" + seccomp, "busybox"},
		{"create", "--security-opt", "systempaths=unconfined", "--security-opt", "apparmor=unconfined", "busybox"},
		{"create", "--log-driver", "json-file", "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "busybox"},
		{"create", "--init", "--stop-signal", "SIGUSR1", "--stop-timeout", "3", "-w", "/w", "-u", "1:2", "--entrypoint", "/bin/sh", "-h", "box", "busybox"},
		{"create", "--group-add", "10", "--group-add", "audio", "--ulimit", "nofile=10:20", "--ulimit", "core=0", "--runtime", "runc", "--cgroup-parent", "/x", "--cgroupns", "host", "busybox"},
		{"create", "-it", "--rm", "busybox"},
		{"create", "-i", "busybox"},
		{"create", "-a", "stdin", "-a", "stdout", "busybox"},
		{"create", "--network", "none", "busybox"},
		{"create", "--network", "host", "busybox"},
		{"create", "--network", "default", "busybox"},
		{"create", "-l", "a=1", "-l", "b", "--label-file", labelFile, "busybox"},
		{"create", "--entrypoint=", "--init=false", "--name", "web", "busybox"},
		{"create", "--read-only", "--platform", "linux/amd64", "busybox"},
		{"run", "-d", "--rm", "-e", "X=1", "busybox", "sleep", "1"},
		{"create", "--pid", "host", "--ipc", "private", "--uts", "host", "--userns", "host", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.msgmax=65536", "busybox"},
		{"create", "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--cpu-period", "100000", "--cpu-quota", "50000", "--memory-reservation", "32m", "--memory-swappiness", "10", "--oom-kill-disable", "--oom-score-adj", "-500", "busybox"},
		{"create", "--dns", "8.8.8.8", "--dns", "2001:4860:4860::8888", "--dns-search", "example.com", "--dns-option", "ndots:2", "--add-host", "db:10.0.0.2", "--add-host", "gw=host-gateway", "--add-host", "v6:[::1]", "--domainname", "example.org", "busybox"},
		{"create", "--device", "/dev/null", "--device", "/dev/zero:/dev/z", "--device", "/dev/full:/dev/f:r", "--device", "/dev/random:rw", "--volumes-from", "other:ro", "--volume-driver", "local", "--storage-opt", "size=1G", "busybox"},
		{"create", "-p", "8080:80", "-p", "127.0.0.1:9000:9000/udp", "-p", "443", "-p", "7000-7001:7000-7001", "--expose", "5000-5002", "--expose", "6000/udp", "-P", "busybox"},
		{"create", "--health-cmd", "true", "--health-interval", "5s", "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "1s", "--health-start-interval", "500ms", "busybox"},
		{"create", "--no-healthcheck", "--annotation", "a=b", "--isolation", "default", "busybox"},
		{"create", "--device-cgroup-rule", "c 1:3 mr", "--blkio-weight", "300", "--cpu-rt-period", "1000", "--cpu-rt-runtime", "500", "--disable-content-trust", "busybox"},
		{"create", "--mount", "type=bind,source=/srv,target=/data,readonly", "--mount", "type=volume,src=vol1,dst=/v,volume-nocopy,volume-opt=o=size=1m,volume-driver=local,volume-label=l=1", "--mount", "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770", "--mount", "target=/anon", "--mount", "type=bind,src=/a,dst=/b,bind-propagation=rshared,ro=false", "busybox"},
	}
	for _, args := range cases {
		name := strings.Join(args, " ")
		// docker first.
		de := newFakeEngine(t)
		cmd := exec.Command(dockerBin, append([]string{"-H", de.host}, args...)...)
		cmd.Env = append(filteredEnv(), "DOCKER_CONFIG="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: docker failed: %v\n%s", name, err, out)
			continue
		}
		be := newFakeEngine(t)
		if code, _, errOut := be.run(t, "", args...); code != 0 {
			t.Errorf("%s: berth exit %d: %s", name, code, errOut)
			continue
		}
		dreqs, breqs := de.created(), be.created()
		if len(dreqs) != 1 || len(breqs) != 1 {
			t.Errorf("%s: creates docker=%d berth=%d", name, len(dreqs), len(breqs))
			continue
		}
		// docker passes -e values through a map (its proxy-env merge), so
		// their order is random there; compare environments as sets.
		sort.Strings(dreqs[0].Env)
		sort.Strings(breqs[0].Env)
		// Its -v values go through a map too.
		sort.Strings(dreqs[0].HostConfig.Binds)
		sort.Strings(breqs[0].HostConfig.Binds)
		dj, _ := json.Marshal(dreqs[0])
		bj, _ := json.Marshal(breqs[0])
		if string(dj) != string(bj) {
			t.Errorf("%s: create requests differ\ndocker: %s\nberth:  %s", name, dj, bj)
		}
		if dq, bq := de.lastCreateQuery(), be.lastCreateQuery(); dq != bq {
			t.Errorf("%s: create query differs: docker %q berth %q", name, dq, bq)
		}
		if dc, bc := strings.Join(de.callList(), ","), strings.Join(be.callList(), ","); dc != bc {
			t.Errorf("%s: calls differ\ndocker: %s\nberth:  %s", name, dc, bc)
		}
	}
}

// filteredEnv is the test's environment without anything pointing a docker
// CLI at a real daemon.
func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DOCKER_") || strings.HasPrefix(kv, "BERTH_HOST=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

package monitor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/containerlog"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/ocicli"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func randSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// createBerth writes spec as the bundle of id and creates the container
// with req.Runtime, berth's own runtime by default.
func (m *testMonitor) createBerth(t *testing.T, id string, spec *specs.Spec, req CreateRequest) CreateRequest {
	t.Helper()
	bundle := filepath.Join(m.execRoot, "containers", id)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	req.ID, req.Bundle = id, bundle
	if req.Runtime == "" {
		req.Runtime = "berth"
	}
	req.Terminal = spec.Process.Terminal
	if _, err := m.client.Create(context.Background(), req); err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if st, err := m.client.State(ctx, id); err == nil && st.Exit == nil {
			m.client.Kill(ctx, id, syscall.SIGKILL)
			m.client.Wait(ctx, id)
		}
		m.client.Delete(ctx, id)
	})
	return req
}

// TestRealRuntimesBusybox runs busybox containers through the monitor with
// berth's own runtime and with runc and crun (through ocicli, where the
// init is reparented to the monitor when runc create exits).
func TestRealRuntimesBusybox(t *testing.T) {
	needRoot(t)
	for _, rt := range []string{"berth", "/usr/sbin/runc", "/usr/bin/crun"} {
		t.Run(filepath.Base(rt), func(t *testing.T) {
			if rt != "berth" {
				if _, err := os.Stat(rt); err != nil {
					t.Skipf("%s not installed", rt)
				}
				// crun refuses cgroup v1 hybrid hosts like this kind.
				if err := runtimetest.Probe(t, ocicli.New(filepath.Base(rt), rt, t.TempDir(), nil)); err != nil {
					t.Skipf("%s does not work on this host: %v", rt, err)
				}
			}
			testRuntimeBusybox(t, rt)
		})
	}
}

func testRuntimeBusybox(t *testing.T, rt string) {
	rootfs := runtimetest.Rootfs(t)
	ociRoot := t.TempDir()
	m := startMonitorWith(t, "", func(name string, args []string) (runtime.Runtime, error) {
		if name == "berth" {
			return testRuntimes(name, args)
		}
		return ocicli.New(filepath.Base(name), name, ociRoot, args), nil
	})
	ctx := context.Background()
	suffix := filepath.Base(rt) + "-" + randSuffix()

	t.Run("output, log, exit code", func(t *testing.T) {
		spec := runtimetest.Spec(rootfs, "berth-montest-out-"+suffix, "sh", "-c", "echo hello from $(hostname); echo pid $$; echo oops >&2; exit 5")
		req := m.createBerth(t, "bb-out", spec, CreateRequest{Runtime: rt, Log: LogConfig{Path: filepath.Join(m.execRoot, "bb-out.log"), MaxFiles: 1}})
		conn, err := m.client.Attach(ctx, "bb-out", AttachOptions{Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := m.client.Start(ctx, "bb-out"); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		stdcopy.StdCopy(&stdout, &stderr, bytes.NewReader(readWithTimeout(t, conn, 20*time.Second)))
		if stdout.String() != "hello from berthbox\npid 1\n" || stderr.String() != "oops\n" {
			t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
		}
		if ex := waitExit(t, m.client, "bb-out"); ex.Code != 5 || ex.OOMKilled {
			t.Errorf("exit %+v", ex)
		}
		var logged strings.Builder
		containerlog.Read(ctx, req.Log.Path, containerlog.ReadOptions{Tail: -1}, func(msg containerlog.Message) error {
			logged.WriteString(msg.Stream + ":" + string(msg.Line))
			return nil
		})
		if !strings.Contains(logged.String(), "stdout:hello from berthbox\n") || !strings.Contains(logged.String(), "stderr:oops\n") {
			t.Errorf("log %q", logged.String())
		}
	})

	t.Run("terminal", func(t *testing.T) {
		spec := runtimetest.Spec(rootfs, "berth-montest-tty-"+suffix, "sh", "-c", "stty size; tty")
		spec.Process.Terminal = true
		spec.Process.ConsoleSize = &specs.Box{Height: 20, Width: 70}
		m.createBerth(t, "bb-tty", spec, CreateRequest{Runtime: rt})
		conn, err := m.client.Attach(ctx, "bb-tty", AttachOptions{Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := m.client.Resize(ctx, "bb-tty", 41, 123); err != nil {
			t.Fatal(err)
		}
		if err := m.client.Start(ctx, "bb-tty"); err != nil {
			t.Fatal(err)
		}
		out := string(readWithTimeout(t, conn, 20*time.Second))
		if !strings.HasPrefix(out, "41 123\r\n/dev/") {
			t.Errorf("tty output %q", out)
		}
		waitExit(t, m.client, "bb-tty")
	})

	t.Run("stdin once", func(t *testing.T) {
		spec := runtimetest.Spec(rootfs, "berth-montest-cat-"+suffix, "sh", "-c", "cat; echo after-eof")
		m.createBerth(t, "bb-cat", spec, CreateRequest{Runtime: rt, OpenStdin: true, StdinOnce: true})
		conn, err := m.client.Attach(ctx, "bb-cat", AttachOptions{Stdin: true, Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := m.client.Start(ctx, "bb-cat"); err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "piped\n")
		conn.(*net.UnixConn).CloseWrite()
		var stdout bytes.Buffer
		stdcopy.StdCopy(&stdout, io.Discard, bytes.NewReader(readWithTimeout(t, conn, 20*time.Second)))
		if stdout.String() != "piped\nafter-eof\n" {
			t.Errorf("stdout %q", stdout.String())
		}
		if ex := waitExit(t, m.client, "bb-cat"); ex.Code != 0 {
			t.Errorf("exit %+v", ex)
		}
	})

	t.Run("oom killed", func(t *testing.T) {
		cg := "berth-montest-oom-" + suffix
		spec := runtimetest.Spec(rootfs, cg, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
		limit := int64(16 << 20)
		spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		m.createBerth(t, "bb-oom", spec, CreateRequest{Runtime: rt})
		mgr, err := cgroups.New(cg)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.client.Start(ctx, "bb-oom"); err != nil {
			t.Fatal(err)
		}
		ex := waitExit(t, m.client, "bb-oom")
		if ex.Code != 137 || !ex.OOMKilled {
			t.Errorf("exit %+v, want 137 and OOMKilled", ex)
		}
		// The OOM flag was read before Task.Delete removed the cgroup,
		// which is gone once Delete returns.
		if err := m.client.Delete(ctx, "bb-oom"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"memory", "pids"} {
			if dir := mgr.Path(c); dir != "" {
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("cgroup %s still exists: %v", dir, err)
				}
			}
		}
	})
}

// TestMonitorMemoryPerContainer measures the PSS of a real monitor process
// (started by Ensure) with 1 and with 50 running busybox sleeps.
func TestMonitorMemoryPerContainer(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("measurement")
	}
	execRoot := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// BERTH_MONITOR_BINARY=<built berthd> measures the real binary;
	// by default this test binary is the monitor.
	self, _ := os.Executable()
	if bin := os.Getenv("BERTH_MONITOR_BINARY"); bin != "" {
		self = bin
	}
	c, err := Ensure(ctx, execRoot, "", self)
	if err != nil {
		t.Fatal(err)
	}
	pidData, _ := os.ReadFile(filepath.Join(execRoot, "monitor.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidData)))
	m := &testMonitor{execRoot: execRoot, client: c}
	t.Cleanup(func() {
		if t.Failed() {
			logData, _ := os.ReadFile(filepath.Join(execRoot, "monitor.log"))
			t.Logf("monitor.log:\n%s", logData)
			logs, _ := filepath.Glob(filepath.Join(execRoot, "*.log"))
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, data)
			}
		}
		c.Close()
		syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
			if isZombie(pid) {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	suffix := randSuffix()
	run := func(i int) {
		id := fmt.Sprintf("mem%02d", i)
		// A rootfs each, as containers have: berth's runtime fails
		// creating containers that share one rootfs directory.
		spec := runtimetest.Spec(runtimetest.Rootfs(t), "berth-montest-mem-"+suffix+"-"+id, "sleep", "1000")
		m.createBerth(t, id, spec, CreateRequest{Log: LogConfig{Path: filepath.Join(execRoot, id+".log"), MaxFiles: 1}})
		if err := c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	settle := func() (rss, pss int) {
		time.Sleep(2 * time.Second)
		return smapsRollup(t, pid)
	}
	rss0, pss0 := settle()
	run(0)
	rss1, pss1 := settle()
	for i := 1; i < 50; i++ {
		run(i)
	}
	rss50, pss50 := settle()
	list, _ := c.List(ctx)
	running := 0
	for _, st := range list {
		if st.Running {
			running++
		}
	}
	if running != 50 {
		t.Fatalf("%d running, want 50", running)
	}
	per := float64(pss50-pss1) / 49 / 1024
	t.Logf("monitor %s pid %d: idle RSS %d KiB PSS %d KiB; 1 container RSS %d KiB PSS %d KiB; 50 containers RSS %d KiB PSS %d KiB; per container %.3f MiB PSS (RSS %.3f MiB)",
		filepath.Base(self), pid, rss0, pss0, rss1, pss1, rss50, pss50, per, float64(rss50-rss1)/49/1024)
	if per > 1.0 {
		t.Errorf("per-container PSS %.3f MiB", per)
	}
}

// smapsRollup returns Rss and Pss of pid in KiB.
func smapsRollup(t *testing.T, pid int) (rss, pss int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			rss = n
		case "Pss:":
			pss = n
		}
	}
	return rss, pss
}

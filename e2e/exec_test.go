package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestExec drives `docker exec` (and berth's) against a running busybox
// container: output, piped stdin, exit codes, user, workdir, env,
// detached execs, exec inspect, the 409s of a stopped or missing target,
// and the exec's namespaces and cgroup against the container's init.
func TestExec(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "xc", "-e", "FROMRUN=1", "-w", "/root", "busybox", "sleep", "300")

	for _, cli := range []string{"docker", "berth"} {
		run := d.Docker
		if cli == "berth" {
			run = d.Berth
		}
		t.Run(cli, func(t *testing.T) {
			for _, tc := range []struct {
				stdin  string
				args   []string
				stdout string
				code   int
			}{
				{"", []string{"exec", "xc", "echo", "hi"}, "hi\n", 0},
				{"", []string{"exec", "-t", "xc", "echo", "tty"}, "tty\r\n", 0},
				{"piped\nlines\n", []string{"exec", "-i", "xc", "cat"}, "piped\nlines\n", 0},
				{"", []string{"exec", "xc", "sh", "-c", "exit 7"}, "", 7},
				{"", []string{"exec", "-u", "nobody", "xc", "id", "-u"}, "65534\n", 0},
				{"", []string{"exec", "-u", "1000:1000", "xc", "id"}, "uid=1000 gid=1000 groups=1000\n", 0},
				{"", []string{"exec", "-w", "/tmp", "xc", "pwd"}, "/tmp\n", 0},
				{"", []string{"exec", "xc", "pwd"}, "/root\n", 0},
				{"", []string{"exec", "-e", "X=1", "-e", "FROMRUN=2", "xc", "sh", "-c", "echo $X$FROMRUN$HOME"}, "12/root\n", 0},
				{"", []string{"exec", "xc", "sh", "-c", "echo err >&2; echo out"}, "out\n", 0},
				{"", []string{"exec", "xc", "cat", "/proc/1/cmdline"}, "sleep\x00300\x00", 0},
			} {
				r := run(tc.stdin, tc.args...)
				if r.Stdout != tc.stdout || r.Code != tc.code {
					t.Errorf("%s %q: got %s; want stdout %q exit %d", cli, tc.args, r, tc.stdout, tc.code)
				}
			}
			r := run("", "exec", "xc", "sh", "-c", "echo err >&2")
			if r.Stderr != "err\n" || r.Stdout != "" {
				t.Errorf("stderr not separated: %s", r)
			}
			r = run("", "exec", "xc", "nope-not-here")
			if r.Code != 127 || !strings.Contains(r.Stdout+r.Stderr, `OCI runtime exec failed: exec failed: unable to start container process: exec: "nope-not-here": executable file not found in $PATH`) {
				t.Errorf("missing binary: %s; want 127 and docker's message", r)
			}
			r = run("", "exec", "xc", "/etc/passwd")
			if r.Code != 126 || !strings.Contains(r.Stdout+r.Stderr, "permission denied") {
				t.Errorf("non-executable: %s; want 126", r)
			}
			r = run("", "exec", "-w", "/nonexistent", "xc", "true")
			if r.Code != 126 || !strings.Contains(r.Stdout, `OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd ("/nonexistent") set in config.json failed: no such file or directory: unknown`) {
				t.Errorf("missing workdir: %s; want 126 and docker's message", r)
			}
			r = run("", "exec", "-u", "nosuchuser", "xc", "true")
			if r.Code != 126 || !strings.Contains(r.Stdout+r.Stderr, "nosuchuser") {
				t.Errorf("unknown user: %s; want 126 naming the user", r)
			}
			r = run("", "exec", "nosuch", "true")
			if r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nosuch") {
				t.Errorf("unknown container: %s", r)
			}
		})
	}

	t.Run("events", func(t *testing.T) {
		since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
		d.Docker("", "exec", "xc", "sh", "-c", "exit 2")
		until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
		got := d.MustDocker("events", "--since", since, "--until", until, "--filter", "container=xc", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}")
		for _, want := range []string{"exec_create: sh -c exit 2", "exec_start: sh -c exit 2", "exec_die 2"} {
			if !strings.Contains(got, want) {
				t.Errorf("events lack %q:\n%s", want, got)
			}
		}
	})

	t.Run("detached and inspect", func(t *testing.T) {
		if r := d.Docker("", "exec", "-d", "xc", "sh", "-c", "echo bg > /tmp/bg; exit 3"); r.Code != 0 || r.Stdout != "" {
			t.Fatalf("exec -d: %s", r)
		}
		waitFor(t, func() bool { return d.Docker("", "exec", "xc", "cat", "/tmp/bg").Stdout == "bg\n" })
		// The exec's record through the API, as the CLI reads it.
		id := execCreate(t, d, "xc", `{"Cmd":["sh","-c","exit 4"],"AttachStdout":true}`)
		if r := d.Docker("", "exec", "xc", "true"); r.Code != 0 {
			t.Fatal(r)
		}
		out := apiCall(t, d, "POST", "/exec/"+id+"/start", `{"Detach":true}`)
		if out != "" {
			t.Errorf("detached start answered %q", out)
		}
		waitFor(t, func() bool {
			return strings.Contains(apiCall(t, d, "GET", "/exec/"+id+"/json", ""), `"ExitCode":4`)
		})
		js := apiCall(t, d, "GET", "/exec/"+id+"/json", "")
		for _, want := range []string{`"Running":false`, `"ContainerID":"` + d.MustDocker("inspect", "-f", "{{.Id}}", "xc") + `"`, `"entrypoint":"sh"`, `"arguments":["-c","exit 4"]`} {
			if !strings.Contains(js, want) {
				t.Errorf("exec inspect lacks %s: %s", want, js)
			}
		}
		if out := apiCall(t, d, "POST", "/exec/"+id+"/start", `{"Detach":true}`); !strings.Contains(out, "has already run") {
			t.Errorf("second start: %q", out)
		}
		if out := apiCall(t, d, "GET", "/exec/nosuch/json", ""); !strings.Contains(out, "No such exec instance: nosuch") {
			t.Errorf("unknown exec: %q", out)
		}
	})

	t.Run("namespaces and cgroup", func(t *testing.T) {
		pid := d.MustDocker("inspect", "-f", "{{.State.Pid}}", "xc")
		script := "for n in pid mnt uts ipc net cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup"
		got := d.MustDocker("exec", "xc", "sh", "-c", script)
		want := d.MustDocker("exec", "xc", "sh", "-c", strings.ReplaceAll(script, "self", "1"))
		if got != want || !strings.Contains(got, "pid:[") {
			t.Errorf("exec's namespaces/cgroups\n%s\ninit's\n%s", got, want)
		}
		host, _ := os.Readlink("/proc/" + pid + "/ns/mnt")
		if !strings.Contains(got, host) {
			t.Errorf("init's mnt ns seen from the host %s, not in %s", host, got)
		}
	})

	for _, cli := range []string{"docker", d.bin + "/berth"} {
		t.Run("interactive tty "+filepath.Base(cli), func(t *testing.T) { testExecTTY(t, d, cli) })
	}

	for _, cli := range []string{"docker", d.bin + "/berth"} {
		t.Run("detach keys "+filepath.Base(cli), func(t *testing.T) { testExecDetach(t, d, cli) })
	}

	t.Run("privileged", func(t *testing.T) {
		plain := d.MustDocker("exec", "xc", "sh", "-c", "grep CapEff /proc/self/status")
		priv := d.MustDocker("exec", "--privileged", "xc", "sh", "-c", "grep CapEff /proc/self/status")
		// CAP_SYS_ADMIN (bit 21) only with --privileged.
		bit := func(s string) bool {
			f := strings.Fields(s)
			v, err := strconv.ParseUint(f[len(f)-1], 16, 64)
			return err == nil && v&(1<<21) != 0
		}
		if bit(plain) || !bit(priv) {
			t.Errorf("CapEff plain %q, privileged %q", plain, priv)
		}
	})

	t.Run("survives a berthd restart", func(t *testing.T) {
		d.Kill()
		d.Start()
		if r := d.Docker("", "exec", "xc", "echo", "again"); r.Stdout != "again\n" || r.Code != 0 {
			t.Errorf("exec after berthd restart: %s", r)
		}
	})

	t.Run("runc", func(t *testing.T) {
		if _, err := exec.LookPath("runc"); err != nil {
			t.Skip("runc is not installed")
		}
		d.MustDocker("run", "-d", "--name", "xr", "--runtime", "runc", "busybox", "sleep", "300")
		defer d.Docker("", "rm", "-f", "xr")
		for _, tc := range []struct {
			args   []string
			stdout string
			code   int
		}{
			{[]string{"exec", "xr", "echo", "hi"}, "hi\n", 0},
			{[]string{"exec", "-t", "xr", "echo", "tty"}, "tty\r\n", 0},
			{[]string{"exec", "-u", "nobody", "-w", "/tmp", "xr", "sh", "-c", "id -u; pwd; exit 7"}, "65534\n/tmp\n", 7},
			{[]string{"exec", "xr", "sh", "-c", "for f in /proc/self/ns/mnt /proc/1/ns/mnt; do readlink $f; done | uniq | wc -l"}, "1\n", 0},
		} {
			if r := d.Docker("", tc.args...); r.Stdout != tc.stdout || r.Code != tc.code {
				t.Errorf("%q: %s; want %q exit %d", tc.args, r, tc.stdout, tc.code)
			}
		}
		r := d.Docker("", "exec", "xr", "nope-not-here")
		if r.Code != 127 || !strings.Contains(r.Stdout, `exec: "nope-not-here": executable file not found in $PATH`) {
			t.Errorf("runc, missing binary: %s", r)
		}
		if r := d.Docker("", "exec", "-w", "/nonexistent", "xr", "true"); r.Code != 126 || !strings.Contains(r.Stdout, `chdir to cwd ("/nonexistent")`) {
			t.Errorf("runc, missing workdir: %s", r)
		}
		if r := d.Docker("hello\n", "exec", "-i", "xr", "cat"); r.Stdout != "hello\n" {
			t.Errorf("runc, piped stdin: %s", r)
		}
	})

	t.Run("paused", func(t *testing.T) {
		d.MustDocker("pause", "xc")
		id := d.MustDocker("inspect", "-f", "{{.Id}}", "xc")
		r := d.Docker("", "exec", "xc", "true")
		d.MustDocker("unpause", "xc")
		if r.Code != 1 || !strings.Contains(r.Stderr, "container "+id+" is paused, unpause the container before exec") {
			t.Errorf("exec into paused: %s", r)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		d.MustDocker("stop", "-t", "0", "xc")
		id := d.MustDocker("inspect", "-f", "{{.Id}}", "xc")
		r := d.Docker("", "exec", "xc", "true")
		if r.Code != 1 || !strings.Contains(r.Stderr, "container "+id+" is not running") {
			t.Errorf("exec into stopped: %s", r)
		}
		if out := apiCall(t, d, "POST", "/containers/xc/exec", `{"Cmd":["true"]}`); !strings.Contains(out, "409") {
			t.Errorf("exec create into stopped: %q, want 409", out)
		}
	})
}

// apiCall sends one request to the daemon with curl and returns the body
// (or, on an HTTP error, the status and body).
func apiCall(t *testing.T, d *Daemon, method, path, body string) string {
	t.Helper()
	args := []string{"-sS", "--unix-socket", d.Sock, "-X", method, "-w", "%{http_code}"}
	if body != "" {
		args = append(args, "-H", "Content-Type: application/json", "-d", body)
	}
	out, err := exec.Command("curl", append(args, "http://berth/v1.51"+path)...).Output()
	if err != nil {
		t.Fatalf("curl %s %s: %v", method, path, err)
	}
	s := string(out)
	code, s := s[len(s)-3:], s[:len(s)-3]
	if code[0] != '2' {
		return code + " " + s
	}
	return strings.TrimSpace(s)
}

func execCreate(t *testing.T, d *Daemon, ctr, body string) string {
	t.Helper()
	out := apiCall(t, d, "POST", "/containers/"+ctr+"/exec", body)
	i := strings.Index(out, `"Id":"`)
	if i < 0 {
		t.Fatalf("exec create: %s", out)
	}
	return out[i+6 : i+6+64]
}

// testExecTTY runs `exec -it xc sh` on a real pty: echo, terminal size at
// start and after a resize, exit code.
func testExecTTY(t *testing.T, d *Daemon, cli string) {
	cmd := exec.Command(cli, "-H", d.Host, "exec", "-it", "xc", "sh")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.Root+"/dockercfg")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	out := &ptyOutput{}
	go func() { _, _ = ioCopy(out, ptmx) }()
	ptmx.Write([]byte("tty; stty size; echo $TERM\r"))
	out.waitFor(t, "/dev/pts/")
	out.waitFor(t, "24 80")
	out.waitFor(t, "xterm")
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // SIGWINCH -> client -> exec resize API
	ptmx.Write([]byte("stty size\r"))
	out.waitFor(t, "40 132")
	ptmx.Write([]byte("exit 5\r"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("client did not exit; output:\n%q", out.String())
	}
	if cmd.ProcessState.ExitCode() != 5 {
		t.Fatalf("exit %d; output:\n%q", cmd.ProcessState.ExitCode(), out.String())
	}
}

// testExecDetach detaches from `exec -it` with --detach-keys; the exec runs
// on.
func testExecDetach(t *testing.T, d *Daemon, cli string) {
	cmd := exec.Command(cli, "-H", d.Host, "exec", "-it", "--detach-keys", "ctrl-x,x", "xc", "sh", "-c", "echo started; exec sleep 7"+strconv.Itoa(len(cli)))
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.Root+"/dockercfg")
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	out := &ptyOutput{}
	go func() { _, _ = ioCopy(out, ptmx) }()
	out.waitFor(t, "started")
	ptmx.Write([]byte{0x18, 'x'})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("client did not detach; output:\n%q", out.String())
	}
	// As docker exec: "read escape sequence", exit 1.
	out.waitFor(t, "read escape sequence")
	if cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("detach: exit %d; output:\n%q", cmd.ProcessState.ExitCode(), out.String())
	}
	// The exec runs on.
	if ps := d.MustDocker("exec", "xc", "ps", "-o", "args"); !strings.Contains(ps, "sleep 7"+strconv.Itoa(len(cli))) {
		t.Errorf("detached exec is gone:\n%s", ps)
	}
}

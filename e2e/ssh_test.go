package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSSHRemote reaches berthd through an OpenSSH server started on
// 127.0.0.1 with its own host key, authorized_keys and config: the remote
// side runs `berth system dial-stdio` (for berth's client) and, under the
// name docker, the same command for the docker CLI's ssh:// support.
// Nothing of the host's ssh configuration is used or touched: the clients
// find an `ssh` wrapper first in PATH that passes -F with the test's
// client config.
func TestSSHRemote(t *testing.T) {
	needRoot(t)
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if sshd, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			t.Skip("no sshd (apt-get install openssh-server)")
		}
	}
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client")
	}
	d := StartDaemon(t)
	d.ImportBusybox()
	dir := t.TempDir()
	keygen := func(name string) {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, name)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	keygen("hostkey")
	keygen("id")
	pub, _ := os.ReadFile(filepath.Join(dir, "id.pub"))
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)

	// The "remote" PATH: berth, and docker as berth too.
	remoteBin := filepath.Join(dir, "remotebin")
	os.Mkdir(remoteBin, 0o755)
	berth := filepath.Join(d.bin, "berth")
	if !filepath.IsAbs(berth) {
		berth, _ = filepath.Abs(berth)
	}
	os.Symlink(berth, filepath.Join(remoteBin, "berth"))
	os.Symlink(berth, filepath.Join(remoteBin, "docker"))

	addr := freeLoopbackPort(t)
	_, port, _ := net.SplitHostPort(addr)
	cfg := fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %s/hostkey
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
SetEnv PATH=%s:/usr/bin:/bin DOCKER_HOST=%s
`, port, dir, dir, dir, remoteBin, d.Host)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)

	// sshd wants its privilege separation directory.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.Mkdir("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}
	srv := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not come up:\n%s", srvLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	clientCfg := fmt.Sprintf(`Host berth-test
  HostName 127.0.0.1
  Port %s
  IdentityFile %s/id
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
`, port, dir)
	os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(clientCfg), 0o600)
	wrapBin := filepath.Join(dir, "bin")
	os.Mkdir(wrapBin, 0o755)
	os.WriteFile(filepath.Join(wrapBin, "ssh"), []byte(fmt.Sprintf("#!/bin/sh\nexec %s -F %s/ssh_config \"$@\"\n", sshBin, dir)), 0o755)

	run := func(bin string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PATH="+wrapBin+":"+os.Getenv("PATH"), "DOCKER_HOST=", "BERTH_HOST=",
			"DOCKER_CONFIG="+filepath.Join(d.Root, "dockercfg"))
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	host := "ssh://root@berth-test"
	for _, bin := range []string{berth, "docker"} {
		out, errOut, err := run(bin, "-H", host, "run", "--rm", "busybox", "echo", "over-ssh")
		if err != nil || strings.TrimSpace(out) != "over-ssh" {
			t.Fatalf("%s -H %s run: %v\nstdout: %s\nstderr: %s\nsshd: %s", bin, host, err, out, errOut, srvLog.String())
		}
		// stdin through a hijacked attach stream, closed at EOF.
		cmd := exec.Command(bin, "-H", host, "run", "--rm", "-i", "busybox", "wc", "-c")
		cmd.Env = append(os.Environ(), "PATH="+wrapBin+":"+os.Getenv("PATH"), "DOCKER_HOST=", "DOCKER_CONFIG="+filepath.Join(d.Root, "dockercfg"))
		cmd.Stdin = strings.NewReader("hello\n")
		o, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(o)) != "6" {
			t.Errorf("%s run -i over ssh: %v: %s", bin, err, o)
		}
	}
	// A port in the URL and a host that refuses: a clear error, not a hang.
	_, errOut, err := run(berth, "-H", "ssh://root@127.0.0.1:1", "version")
	if err == nil || !strings.Contains(errOut, "ssh") {
		t.Errorf("unreachable ssh host: %v %s", err, errOut)
	}
}

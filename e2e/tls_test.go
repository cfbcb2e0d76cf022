package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/pkitest"
)

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTLSRemote serves berthd on tcp:// with mutual TLS and drives it with
// the docker CLI and berth's CLI (flags and DOCKER_CERT_PATH /
// DOCKER_TLS_VERIFY); clients without a certificate of the CA are refused.
func TestTLSRemote(t *testing.T) {
	needRoot(t)
	pki := t.TempDir()
	ca := pkitest.NewCA(t, pki, "ca")
	srv := ca.Server(pki, "server")
	cli := ca.Client(pki, "client")
	other := pkitest.NewCA(t, pki, "other")
	foreign := other.Client(pki, "foreign")
	addr := freeLoopbackPort(t)
	d := StartDaemon(t, "-H", "tcp://"+addr, "--tlsverify", "--tlscacert", ca.File, "--tlscert", srv.Cert, "--tlskey", srv.Key)
	d.ImportBusybox()
	host := "tcp://" + addr

	run := func(env []string, bin string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), append([]string{"DOCKER_CONFIG=" + filepath.Join(d.Root, "dockercfg"), "DOCKER_HOST=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH="}, env...)...)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		err := cmd.Run()
		return b.String(), err
	}
	tlsFlags := []string{"--tlsverify", "--tlscacert", ca.File, "--tlscert", cli.Cert, "--tlskey", cli.Key, "-H", host}
	for _, bin := range []string{"docker", filepath.Join(d.bin, "berth")} {
		out, err := run(nil, bin, append(tlsFlags, "run", "--rm", "busybox", "echo", "over-tls")...)
		if err != nil || strings.TrimSpace(out) != "over-tls" {
			t.Fatalf("%s run over TLS: %v\n%s", bin, err, out)
		}
	}

	// DOCKER_CERT_PATH + DOCKER_TLS_VERIFY: ca.pem, cert.pem, key.pem.
	certDir := t.TempDir()
	for src, dst := range map[string]string{ca.File: "ca.pem", cli.Cert: "cert.pem", cli.Key: "key.pem"} {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(certDir, dst), b, 0o600)
	}
	env := []string{"DOCKER_CERT_PATH=" + certDir, "DOCKER_TLS_VERIFY=1", "DOCKER_HOST=" + host}
	for _, bin := range []string{"docker", filepath.Join(d.bin, "berth")} {
		out, err := run(env, bin, "version", "--format", "{{.Server.Version}}")
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("%s version with DOCKER_CERT_PATH: %v\n%s", bin, err, out)
		}
	}

	// Refused: no client certificate, a certificate of another CA, plain HTTP.
	for name, args := range map[string][]string{
		"no client cert": {"--tlsverify", "--tlscacert", ca.File, "-H", host},
		"wrong CA":       {"--tlsverify", "--tlscacert", ca.File, "--tlscert", foreign.Cert, "--tlskey", foreign.Key, "-H", host},
		"plain":          {"-H", host},
	} {
		out, err := run(nil, "docker", append(args, "version", "--format", "{{.Server.Version}}")...)
		if err == nil {
			t.Errorf("docker %s: accepted:\n%s", name, out)
		}
	}

	// The TLS handshake cost (ECDSA P-256, TLS 1.3), median of 20.
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(ca.File)
	pool.AppendCertsFromPEM(b)
	kp, err := tls.LoadX509KeyPair(cli.Cert, cli.Key)
	if err != nil {
		t.Fatal(err)
	}
	var ds []time.Duration
	for range 20 {
		start := time.Now()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		c.Close()
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	t.Logf("TLS handshake (dial+handshake over loopback), median of 20: %v", ds[10])
}

// TestTCPRefusedWithoutTLS: berthd will not listen on a non-loopback TCP
// address without --tlsverify unless --insecure-tcp is given.
func TestTCPRefusedWithoutTLS(t *testing.T) {
	needRoot(t)
	bin := binaries(t)
	root := t.TempDir()
	os.WriteFile(root+"/none.json", []byte("{}"), 0o644)
	out, err := exec.Command(filepath.Join(bin, "berthd"), "--data-root", root+"/data", "--exec-root", root+"/exec",
		"--config-file", root+"/none.json", "-H", "tcp://0.0.0.0:2375").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to listen on tcp://0.0.0.0:2375 without --tlsverify") {
		t.Fatalf("berthd -H tcp://0.0.0.0:2375: %v\n%s", err, out)
	}
	if _, err := os.Stat(root + "/data"); err == nil {
		t.Errorf("data root created although the configuration was refused")
	}
}

// TestReadOnlyAPIListener: the docker CLI on a read-only listener can list
// and inspect but not change anything.
func TestReadOnlyAPIListener(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	ro := "unix://" + filepath.Join(dir, "ro.sock")
	d := StartDaemon(t, "--api-read-only-listener", ro)
	d.ImportBusybox()
	d.MustDocker("create", "--name", "c1", "busybox", "true")
	docker := func(args ...string) (string, error) {
		cmd := exec.Command("docker", append([]string{"-H", ro}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.Root, "dockercfg"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{{"ps", "-a"}, {"images"}, {"inspect", "c1"}, {"info"}, {"logs", "c1"}} {
		if out, err := docker(args...); err != nil {
			t.Errorf("read-only docker %v: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{{"rm", "c1"}, {"run", "--rm", "busybox", "true"}, {"rename", "c1", "c2"}} {
		out, err := docker(args...)
		if err == nil || !strings.Contains(out, "read-only") {
			t.Errorf("read-only docker %v: %v\n%s", args, err, out)
		}
	}
	if out := d.MustDocker("ps", "-a", "--format", "{{.Names}}"); strings.TrimSpace(out) != "c1" {
		t.Errorf("after refused changes: %q", out)
	}
}

// TestTLSInNetns binds berthd to every address (tcp://0.0.0.0, default
// port 2376 with TLS) inside a network namespace this test creates, with
// a veth pair (both ends inside) at 10.123.0.1, and drives it from inside
// that namespace with the docker CLI and berth over mutual TLS; a plain
// non-loopback
// listener is refused unless --insecure-tcp. The test goroutine's thread
// enters the namespace and is never unlocked, so the thread (and with the
// daemons gone, the namespace) goes away with the test.
func TestTLSInNetns(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	bin := binaries(t) // build before entering the namespace
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"link", "add", "berth-tls0", "type", "veth", "peer", "name", "berth-tls1"},
		{"addr", "add", "10.123.0.1/24", "dev", "berth-tls0"}, {"link", "set", "berth-tls0", "up"}, {"link", "set", "berth-tls1", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	pki := t.TempDir()
	ca := pkitest.NewCA(t, pki, "ca")
	srv := ca.Issue(pki, "server", pkitest.Options{Usage: x509.ExtKeyUsageServerAuth, IPs: []net.IP{net.ParseIP("10.123.0.1"), net.ParseIP("127.0.0.1")}})
	cli := ca.Client(pki, "client")

	root := t.TempDir()
	os.WriteFile(root+"/none.json", []byte("{}"), 0o644)
	out, err := exec.Command(filepath.Join(bin, "berthd"), "--data-root", root+"/data", "--exec-root", root+"/exec",
		"--config-file", root+"/none.json", "-H", "tcp://10.123.0.1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to listen on tcp://10.123.0.1:2375 without --tlsverify") {
		t.Fatalf("plain tcp://10.123.0.1: %v\n%s", err, out)
	}

	StartDaemon(t, "-H", "tcp://0.0.0.0", "--tlsverify", "--tlscacert", ca.File, "--tlscert", srv.Cert, "--tlskey", srv.Key)
	run := func(bin string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_CONFIG="+filepath.Join(root, "dockercfg"))
		o, err := cmd.CombinedOutput()
		return string(o), err
	}
	for _, b := range []string{"docker", filepath.Join(bin, "berth")} {
		for _, host := range []string{"tcp://10.123.0.1:2376", "tcp://127.0.0.1:2376"} {
			if out, err := run(b, "--tlsverify", "--tlscacert", ca.File, "--tlscert", cli.Cert, "--tlskey", cli.Key, "-H", host, "version", "--format", "{{.Server.Os}}"); err != nil || strings.TrimSpace(out) != "linux" {
				t.Errorf("%s -H %s: %v\n%s", b, host, err, out)
			}
		}
		if out, err := run(b, "--tlsverify", "--tlscacert", ca.File, "-H", "tcp://10.123.0.1:2376", "version"); err == nil {
			t.Errorf("%s without a client certificate: accepted\n%s", b, out)
		}
	}

	// --insecure-tcp: the operator's explicit choice.
	StartDaemon(t, "--insecure-tcp", "-H", "tcp://10.123.0.1")
	if out, err := run("docker", "-H", "tcp://10.123.0.1:2375", "version", "--format", "{{.Server.Os}}"); err != nil || strings.TrimSpace(out) != "linux" {
		t.Errorf("--insecure-tcp: %v\n%s", err, out)
	}
}

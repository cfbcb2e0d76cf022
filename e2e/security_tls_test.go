package e2e

import (
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/pkitest"
)

// TestSecurityTLSBadCertificates: the docker CLI and berth's are refused
// at the handshake with an expired client certificate, a server
// certificate offered as a client's (wrong extended key usage) and one of
// another CA; and they refuse a daemon whose own certificate is expired
// or made for clients only.
func TestSecurityTLSBadCertificates(t *testing.T) {
	needRoot(t)
	pki := t.TempDir()
	ca := pkitest.NewCA(t, pki, "ca")
	srv := ca.Server(pki, "server")
	good := ca.Client(pki, "client")
	expired := ca.Issue(pki, "expired", pkitest.Options{Usage: x509.ExtKeyUsageClientAuth, Expired: true})
	foreign := pkitest.NewCA(t, pki, "other").Client(pki, "foreign")
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	srvExpired := ca.Issue(pki, "server-expired", pkitest.Options{Usage: x509.ExtKeyUsageServerAuth, IPs: loopback, Expired: true})
	srvClientOnly := ca.Issue(pki, "server-clientusage", pkitest.Options{Usage: x509.ExtKeyUsageClientAuth, IPs: loopback})

	cfg := t.TempDir()
	client := func(bin, addr string, p pkitest.Pair) (string, error) {
		cmd := exec.Command(bin, "--tlsverify", "--tlscacert", ca.File, "--tlscert", p.Cert, "--tlskey", p.Key,
			"-H", "tcp://"+addr, "version", "--format", "{{.Server.Os}}")
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg, "DOCKER_HOST=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// berthd with mutual TLS on a loopback port and server pair p (its
	// unix socket stays the harness's readiness probe).
	tlsd := func(p pkitest.Pair) (*Daemon, string) {
		addr := freeLoopbackPort(t)
		return StartDaemon(t, "-H", "tcp://"+addr, "--tlsverify", "--tlscacert", ca.File, "--tlscert", p.Cert, "--tlskey", p.Key), addr
	}

	d, addr := tlsd(srv)
	clis := []string{"docker", filepath.Join(d.bin, "berth")}
	for _, bin := range clis {
		if out, err := client(bin, addr, good); err != nil || strings.TrimSpace(out) != "linux" {
			t.Fatalf("%s with a good certificate: %v\n%s", bin, err, out)
		}
		for name, p := range map[string]pkitest.Pair{"expired": expired, "server cert as client": srv, "wrong CA": foreign} {
			if out, err := client(bin, addr, p); err == nil {
				t.Errorf("%s with an %s certificate: accepted\n%s", bin, name, out)
			}
		}
	}
	for name, p := range map[string]pkitest.Pair{"expired": srvExpired, "client-only": srvClientOnly} {
		_, addr := tlsd(p)
		for _, bin := range clis {
			out, err := client(bin, addr, good)
			if err == nil {
				t.Errorf("%s accepted a daemon with an %s certificate\n%s", bin, name, out)
			} else if !strings.Contains(out, "certificate") {
				t.Errorf("%s against a daemon with an %s certificate: no word of the certificate: %s", bin, name, out)
			}
		}
	}
}

// TestSecuritySocketMode: the API socket is 0660, owned by root and by
// the group "berth" when it exists (as docker's by "docker").
func TestSecuritySocketMode(t *testing.T) {
	d := StartDaemon(t)
	fi, err := os.Stat(d.Sock)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	gid := "0"
	if g, err := user.LookupGroup("berth"); err == nil {
		gid = g.Gid
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket || st.Uid != 0 || strconv.Itoa(int(st.Gid)) != gid {
		t.Errorf("%s: %v uid %d gid %d, want socket 0660 uid 0 gid %s", d.Sock, fi.Mode(), st.Uid, st.Gid, gid)
	}
}

package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testPKI struct {
	dir              string
	caPool           *x509.CertPool
	serverCert       tls.Certificate
	caFile, certFile string
	keyFile          string
}

// newTestPKI makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, written as ca.pem, cert.pem and key.pem like DOCKER_CERT_PATH.
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "berth test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	cliDER, cliKey := issue(3, x509.ExtKeyUsageClientAuth, nil)

	writePEM := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pki := &testPKI{dir: dir, caPool: x509.NewCertPool()}
	pki.caPool.AddCert(caCert)
	pki.caFile = writePEM("ca.pem", "CERTIFICATE", caDER)
	pki.certFile = writePEM("cert.pem", "CERTIFICATE", cliDER)
	pki.keyFile = writePEM("key.pem", "EC PRIVATE KEY", keyDER(cliKey))
	pki.serverCert = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	return pki
}

// TestTLSHost talks to a TLS-only (mutual TLS) fake daemon over tcp://, with
// the certificates given by flags and by DOCKER_CERT_PATH/DOCKER_TLS_VERIFY.
func TestTLSHost(t *testing.T) {
	pki := newTestPKI(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pki.serverCert},
		ClientCAs:    pki.caPool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	host := "tcp://" + l.Addr().String()
	e := serveFakeEngine(t, l, host)

	run := func(env map[string]string, args ...string) (int, string, string) {
		c, out, errb := newTestCLI("")
		c.Getenv = func(k string) string { return env[k] }
		code := c.Run(t.Context(), args)
		return code, out.String(), errb.String()
	}

	code, out, errOut := run(nil, "-H", host, "--tlsverify", "--tlscacert", pki.caFile, "--tlscert", pki.certFile, "--tlskey", pki.keyFile, "ps", "-q")
	if code != 0 || out != "" {
		t.Errorf("flags: %d %q %q", code, out, errOut)
	}
	env := map[string]string{"DOCKER_HOST": host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": pki.dir}
	code, _, errOut = run(env, "images", "-q")
	if code != 0 {
		t.Errorf("env: %d %q", code, errOut)
	}
	// Without a client certificate the daemon refuses us.
	code, _, errOut = run(nil, "-H", host, "--tlsverify", "--tlscacert", pki.caFile, "ps")
	if code == 0 {
		t.Errorf("mTLS without a client cert succeeded: %q", errOut)
	}
	// Without the CA the server is not trusted.
	code, _, errOut = run(nil, "-H", host, "--tlsverify", "--tlscert", pki.certFile, "--tlskey", pki.keyFile, "ps")
	if code == 0 || !strings.Contains(errOut, "certificate") {
		t.Errorf("unknown CA accepted: %d %q", code, errOut)
	}
	if got := strings.Join(e.callList(), ","); !strings.Contains(got, "GET /containers/json") || !strings.Contains(got, "GET /images/json") {
		t.Errorf("daemon saw %s", got)
	}
}

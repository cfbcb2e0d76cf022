package config

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/pkitest"
)

func loadArgs(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	f := NewFlags(fs)
	args = append([]string{"--config-file", t.TempDir() + "/none.json", "--data-root", "/tmp/x", "--exec-root", "/tmp/y"}, args...)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	// The file flag was given explicitly: create it empty so Load reads it.
	if err := os.WriteFile(args[1], []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f.Load()
}

func TestTCPHostsDefaultsAndRefusal(t *testing.T) {
	t.Setenv("DOCKER_CERT_PATH", "/certs")
	for _, c := range []struct {
		args    []string
		hosts   []string
		wantErr string
	}{
		{args: []string{"-H", "tcp://127.0.0.1"}, hosts: []string{"tcp://127.0.0.1:2375"}},
		{args: []string{"-H", "tcp://"}, hosts: []string{"tcp://localhost:2375"}},
		{args: []string{"-H", "tcp://[::1]"}, hosts: []string{"tcp://[::1]:2375"}},
		{args: []string{"-H", "tcp://localhost:"}, hosts: []string{"tcp://localhost:2375"}},
		{args: []string{"--tlsverify", "-H", "tcp://0.0.0.0"}, hosts: []string{"tcp://0.0.0.0:2376"}},
		{args: []string{"--tls", "-H", "tcp://127.0.0.1:9999"}, hosts: []string{"tcp://127.0.0.1:9999"}},
		{args: []string{"-H", "tcp://0.0.0.0:2375"}, wantErr: "refusing to listen on tcp://0.0.0.0:2375 without --tlsverify"},
		{args: []string{"-H", "tcp://:2375"}, wantErr: "refusing to listen on tcp://:2375"},
		{args: []string{"-H", "tcp://10.1.2.3:2375"}, wantErr: "pass --insecure-tcp"},
		{args: []string{"--tls", "-H", "tcp://10.1.2.3:2376"}, wantErr: "without --tlsverify"},
		{args: []string{"-H", "tcp://example.com:2375"}, wantErr: "refusing"},
		{args: []string{"--insecure-tcp", "-H", "tcp://0.0.0.0"}, hosts: []string{"tcp://0.0.0.0:2375"}},
		{args: []string{"--api-read-only-listener", "tcp://0.0.0.0:2375"}, wantErr: "refusing to listen on tcp://0.0.0.0:2375"},
		{args: []string{"--api-read-only-listener", "http://x"}, wantErr: "invalid read-only listener"},
	} {
		cfg, err := loadArgs(t, c.args...)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: err %v, want %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if strings.Join(cfg.Hosts, ",") != strings.Join(c.hosts, ",") {
			t.Errorf("%v: hosts %v, want %v", c.args, cfg.Hosts, c.hosts)
		}
	}
	cfg, err := loadArgs(t, "--tlsverify", "-H", "tcp://127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSCACert != "/certs/ca.pem" || cfg.TLSCert != "/certs/cert.pem" || cfg.TLSKey != "/certs/key.pem" {
		t.Errorf("cert defaults from DOCKER_CERT_PATH: %+v", cfg.TLS)
	}
}

func TestTLSKeysInDaemonJSON(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/daemon.json"
	os.WriteFile(file, []byte(`{"tlsverify": true, "tlscacert": "/a/ca.pem", "tlscert": "/a/c.pem", "tlskey": "/a/k.pem", "hosts": ["tcp://0.0.0.0:2376"]}`), 0o644)
	fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	f := NewFlags(fs)
	if err := fs.Parse([]string{"--config-file", file}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLSVerify || cfg.TLSCACert != "/a/ca.pem" || cfg.TLSKey != "/a/k.pem" {
		t.Errorf("daemon.json tls keys: %+v", cfg.TLS)
	}
	fs = pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	f = NewFlags(fs)
	fs.Parse([]string{"--config-file", file, "--tlsverify"})
	if _, err := f.Load(); err == nil || !strings.Contains(err.Error(), "tlsverify") {
		t.Errorf("tlsverify in both: %v", err)
	}
}

// TestServerTLSHandshake serves the daemon's TLS configuration on loopback
// and checks which client certificates get through the handshake.
func TestServerTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := pkitest.NewCA(t, dir, "ca")
	other := pkitest.NewCA(t, dir, "other")
	srv := ca.Server(dir, "server")
	cfg := &Config{TLS: TLS{TLSVerify: true, TLSCACert: ca.File, TLSCert: srv.Cert, TLSKey: srv.Key}}
	tc, err := cfg.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					c.Write([]byte("ok"))
				}
				c.Close()
			}()
		}
	}()

	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca.File)
	pool.AppendCertsFromPEM(pem)
	dial := func(p *pkitest.Pair) error {
		cc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if p != nil {
			kp, err := tls.LoadX509KeyPair(p.Cert, p.Key)
			if err != nil {
				t.Fatal(err)
			}
			// Send it even when the server's CA list does not name its
			// issuer, so that the server is the one refusing it.
			cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", l.Addr().String(), cc)
		if err != nil {
			return err
		}
		defer c.Close()
		// TLS 1.3: the server's verdict on the client certificate arrives
		// with the first read.
		buf := make([]byte, 2)
		_, err = c.Read(buf)
		if err == nil && string(buf) != "ok" {
			t.Fatalf("read %q", buf)
		}
		return err
	}
	good := ca.Client(dir, "client")
	expired := ca.Issue(dir, "expired", pkitest.Options{Usage: x509.ExtKeyUsageClientAuth, Expired: true})
	foreign := other.Client(dir, "foreign")
	if err := dial(&good); err != nil {
		t.Fatalf("good client refused: %v", err)
	}
	for name, p := range map[string]*pkitest.Pair{
		"no client cert": nil, "expired": &expired, "wrong CA": &foreign, "server cert as client": &srv,
	} {
		if err := dial(p); err == nil {
			t.Errorf("%s: handshake accepted", name)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
}

func TestServerTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := pkitest.NewCA(t, dir, "ca")
	srv := ca.Server(dir, "server")
	for _, c := range []TLS{
		{TLSVerify: true, TLSCACert: dir + "/missing.pem", TLSCert: srv.Cert, TLSKey: srv.Key},
		{TLS: true, TLSCert: dir + "/missing.pem", TLSKey: srv.Key},
		{TLS: true, TLSCert: srv.Cert, TLSKey: ca.File},
	} {
		cfg := &Config{TLS: c}
		if _, err := cfg.ServerTLSConfig(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if tc, err := (&Config{}).ServerTLSConfig(); tc != nil || err != nil {
		t.Errorf("TLS off: %v %v", tc, err)
	}
}

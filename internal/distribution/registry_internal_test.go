package distribution

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseChallenge(t *testing.T) {
	c, ok := parseChallenge(`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"`)
	if !ok || c.scheme != "bearer" || c.params["realm"] != "https://auth.example/token" || c.params["service"] != "registry.example" || c.params["scope"] != "repository:a/b:pull,push" {
		t.Fatalf("%+v", c)
	}
	c, ok = parseChallenge(`Basic realm="a \"quoted\" realm"`)
	if !ok || c.scheme != "basic" || c.params["realm"] != `a "quoted" realm` {
		t.Fatalf("%+v", c)
	}
	if _, ok := parseChallenge(""); ok {
		t.Fatal("empty challenge parsed")
	}
}

func TestInsecure(t *testing.T) {
	r, err := NewResolver(Config{Insecure: []string{"reg.example:5000", "10.1.0.0/16"}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.3.4.5": true, "[::1]:5000": true, "localhost:5000": true,
		"reg.example:5000": true, "reg.example:5001": false, "10.1.2.3:443": true, "10.2.0.1": false, "docker.io": false,
	} {
		if got := r.IsInsecure(host); got != want {
			t.Errorf("IsInsecure(%s) = %v, want %v", host, got, want)
		}
	}
	eps := r.Endpoints("127.0.0.1:5000", true)
	if len(eps) != 2 || eps[0].URL.Scheme != "https" || eps[1].URL.Scheme != "http" {
		t.Errorf("insecure registry endpoints: %v", eps)
	}
	if eps := r.Endpoints("reg2.example", true); len(eps) != 1 || eps[0].URL.String() != "https://reg2.example" {
		t.Errorf("secure registry endpoints: %v", eps)
	}
	r, _ = NewResolver(Config{Mirrors: []string{"http://127.0.0.1:5000"}})
	eps = r.Endpoints("docker.io", true)
	if len(eps) != 2 || !eps[0].Mirror || eps[0].URL.String() != "http://127.0.0.1:5000" || eps[1].URL.String() != hubEndpoint {
		t.Errorf("hub endpoints with a mirror: %v", eps)
	}
	if eps := r.Endpoints("docker.io", false); len(eps) != 1 || eps[0].Mirror {
		t.Errorf("push goes to a mirror: %v", eps)
	}
}

// A secure endpoint verifies the registry's certificate: refused without
// the CA, accepted with <certs-dir>/<host>/ca.crt as dockerd's certs.d.
func TestCertsDir(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	dir := t.TempDir()
	r, _ := NewResolver(Config{CertsDir: dir})
	if err := r.endpoint(u, false, false).Ping(context.Background(), Credentials{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ping without the CA: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, u.Host), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, u.Host, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.endpoint(u, false, false).Ping(context.Background(), Credentials{}); err != nil {
		t.Fatalf("ping with the CA: %v", err)
	}
}

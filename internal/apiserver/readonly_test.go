package apiserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/pkitest"
)

// TestReadOnlyListener: GET and HEAD pass on a read-only listener (unix
// and TLS tcp), everything else is 403 with a clear message; the normal
// listener is unaffected.
func TestReadOnlyListener(t *testing.T) {
	dir := t.TempDir()
	ca := pkitest.NewCA(t, dir, "ca")
	srvPair := ca.Server(dir, "server")
	cliPair := ca.Client(dir, "client")
	tc, err := (&config.Config{TLS: config.TLS{TLSVerify: true, TLSCACert: ca.File, TLSCert: srvPair.Cert, TLSKey: srvPair.Key}}).ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	s := apiserver.New(apiserver.Config{TLSConfig: tc}, apiserver.Backends{})
	rw := filepath.Join(dir, "rw.sock")
	ro := filepath.Join(dir, "ro.sock")
	ls, err := s.Listen("unix://" + rw)
	if err != nil {
		t.Fatal(err)
	}
	rols, err := s.ListenReadOnly("unix://"+ro, "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(append(ls, rols...)...)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()

	pool := x509.NewCertPool()
	b, _ := os.ReadFile(ca.File)
	pool.AppendCertsFromPEM(b)
	kp, _ := tls.LoadX509KeyPair(cliPair.Cert, cliPair.Key)
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}}}}
	tcpBase := "https://" + rols[1].Addr().String()

	do := func(c *http.Client, base, method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, c := range []struct {
		client *http.Client
		base   string
	}{{unixClient(ro), "http://ro"}, {tlsClient, tcpBase}} {
		if code, body := do(c.client, c.base, "GET", "/_ping"); code != 200 || body != "OK" {
			t.Errorf("%s GET /_ping: %d %s", c.base, code, body)
		}
		if code, _ := do(c.client, c.base, "HEAD", "/_ping"); code != 200 {
			t.Errorf("%s HEAD /_ping: %d", c.base, code)
		}
		for _, mp := range [][2]string{{"POST", "/v1.47/containers/create"}, {"DELETE", "/containers/x"}, {"PUT", "/containers/x/archive"},
			{"POST", "/_ping"}, {"GET", "/containers/x/attach/ws"}, {"GET", "/v1.47/containers/x/attach/ws/"}} {
			code, body := do(c.client, c.base, mp[0], mp[1])
			var m struct{ Message string }
			json.Unmarshal([]byte(body), &m)
			if code != http.StatusForbidden || !strings.Contains(m.Message, "read-only") {
				t.Errorf("%s %s %s: %d %s", c.base, mp[0], mp[1], code, body)
			}
		}
	}
	// The read-write socket still takes POSTs (405/404 from the router,
	// not 403).
	if code, body := do(unixClient(rw), "http://rw", "POST", "/containers/create"); code == http.StatusForbidden {
		t.Errorf("rw POST: %d %s", code, body)
	}
}

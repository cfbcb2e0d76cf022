// Package registrytest runs Debian's docker-registry (the CNCF
// distribution registry) on loopback for tests, and pushes generated
// multi-layer images to it.
package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/distribution"
)

// Registry is a running docker-registry.
type Registry struct {
	Host   string // 127.0.0.1:port
	URL    string // http(s)://127.0.0.1:port
	Dir    string
	CACert string // PEM file of the test CA (TLS registries)
	cmd    *exec.Cmd
}

// Options for Start.
type Options struct {
	TLS      bool
	User     string // with Password: htpasswd basic auth
	Password string
}

// Start runs docker-registry serve on a free loopback port with its
// storage in a temp dir; the test's cleanup stops it and removes all.
// It skips the test when docker-registry is not installed.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed (apt-get install docker-registry)")
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	r := &Registry{Host: host, Dir: dir, URL: "http://" + host}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	if o.TLS {
		crt, key := r.makeCerts(t)
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", crt, key)
		r.URL = "https://" + host
	}
	if o.User != "" {
		hp := filepath.Join(dir, "htpasswd")
		out, err := exec.Command("htpasswd", "-Bbn", o.User, o.Password).Output()
		if err != nil {
			t.Skipf("htpasswd (apache2-utils) needed: %v", err)
		}
		if err := os.WriteFile(hp, out, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", hp)
	}
	cp := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cp, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "serve", cp)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	})
	c := r.Client()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := c.Get(r.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry did not come up: %v\n%s", err, b)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// Client is an HTTP client trusting the registry's CA.
func (r *Registry) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.CACert != "" {
		pool := x509.NewCertPool()
		b, _ := os.ReadFile(r.CACert)
		pool.AppendCertsFromPEM(b)
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}
}

// makeCerts writes a test CA (r.CACert) and a server cert for 127.0.0.1
// and localhost signed by it.
func (r *Registry) makeCerts(t testing.TB) (crtPath, keyPath string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	r.CACert = filepath.Join(r.Dir, "ca.crt")
	crtPath, keyPath = filepath.Join(r.Dir, "server.crt"), filepath.Join(r.Dir, "server.key")
	for p, b := range map[string][]byte{
		r.CACert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		crtPath:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPath:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return crtPath, keyPath
}

// Layer is a generated layer blob.
type Layer struct {
	Blob   []byte // gzip
	DiffID digest.Digest
}

// RandomLayer is a gzip layer holding one file of size random bytes at
// /<name>.
func RandomLayer(name string, size int) Layer {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
	_, _ = io.CopyN(tw, rand.Reader, int64(size))
	_ = tw.Close()
	diffID := digest.FromBytes(tb.Bytes())
	var gb bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&gb, gzip.BestSpeed)
	_, _ = gz.Write(tb.Bytes())
	_ = gz.Close()
	return Layer{Blob: gb.Bytes(), DiffID: diffID}
}

// PushImage uploads an image of layers under repo:tag through berth's
// own distribution client and returns the manifest digest. Use it to
// make fixtures any client then pulls.
func PushImage(ctx context.Context, registryURL, repo, tag string, layers []Layer) (digest.Digest, error) {
	u, err := url.Parse(registryURL)
	if err != nil {
		return "", err
	}
	res, err := distribution.NewResolver(distribution.Config{Insecure: []string{u.Host}})
	if err != nil {
		return "", err
	}
	var ep *distribution.Endpoint
	for _, e := range res.Endpoints(u.Host, false) {
		if e.URL.Scheme == u.Scheme {
			ep = e
		}
	}
	if ep == nil {
		return "", fmt.Errorf("no endpoint for %s", registryURL)
	}
	r := ep.Repository(repo, distribution.Credentials{}, true)
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config: ocispec.ImageConfig{Cmd: []string{"sh"}}, RootFS: ocispec.RootFS{Type: "layers"}}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest}
	m.SchemaVersion = 2
	for _, l := range layers {
		d := digest.FromBytes(l.Blob)
		if err := r.UploadBlob(ctx, d, int64(len(l.Blob)), opener(l.Blob)); err != nil {
			return "", err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(len(l.Blob))})
	}
	cb, _ := json.Marshal(cfg)
	cd := digest.FromBytes(cb)
	if err := r.UploadBlob(ctx, cd, int64(len(cb)), opener(cb)); err != nil {
		return "", err
	}
	m.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cb))}
	mb, _ := json.Marshal(m)
	if err := r.PutManifest(ctx, tag, ocispec.MediaTypeImageManifest, mb); err != nil {
		return "", err
	}
	return digest.FromBytes(mb), nil
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// Contains reports whether s contains every one of subs.
func Contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

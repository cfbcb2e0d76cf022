package distribution

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/reference"
)

// Docker Hub's names: references without a domain mean docker.io, whose
// API lives at registry-1.docker.io.
const (
	hubDomain   = "docker.io"
	hubEndpoint = "https://registry-1.docker.io"
)

// Config is the daemon's registry configuration (dockerd's names).
type Config struct {
	// Mirrors serve Docker Hub's images ("registry-mirrors"), tried in
	// order before Docker Hub itself.
	Mirrors []string
	// Insecure are registries reached over plain HTTP or unverified TLS
	// ("insecure-registries"): host[:port] or CIDR. Loopback (127.0.0.0/8,
	// ::1) is always insecure, as with dockerd.
	Insecure []string
	// CertsDir holds per-registry TLS files as dockerd's /etc/docker/certs.d:
	// <CertsDir>/<host:port>/ca.crt (extra roots), client.cert/client.key.
	CertsDir string
}

// Endpoint is one place to reach a repository's registry.
type Endpoint struct {
	URL      *url.URL // scheme://host[:port]
	Insecure bool     // plain HTTP allowed, TLS not verified
	Mirror   bool
	client   *http.Client
}

// Resolver turns references into endpoints and clients.
type Resolver struct {
	cfg Config
}

// NewResolver checks cfg.
func NewResolver(cfg Config) (*Resolver, error) {
	for _, m := range cfg.Mirrors {
		if _, err := parseMirror(m); err != nil {
			return nil, err
		}
	}
	return &Resolver{cfg: cfg}, nil
}

func parseMirror(m string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(m, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid mirror: %q is not a valid URI", m)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("invalid mirror: path is not allowed: %q", m)
	}
	u.Path = ""
	return u, nil
}

// IsInsecure tells whether host[:port] may be reached without verified TLS.
func (r *Resolver) IsInsecure(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, s := range r.cfg.Insecure {
		if s == hostport || s == host {
			return true
		}
		if _, n, err := net.ParseCIDR(s); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// Endpoints lists where to reach the registry of domain (a reference's
// domain; "docker.io" for Hub names), in the order to try: mirrors first
// for Docker Hub (pulls only); HTTPS first, then HTTP for an insecure
// registry.
func (r *Resolver) Endpoints(domain string, pull bool) []*Endpoint {
	var eps []*Endpoint
	if domain == hubDomain {
		if pull {
			for _, m := range r.cfg.Mirrors {
				u, err := parseMirror(m)
				if err != nil {
					continue
				}
				eps = append(eps, r.endpoint(u, r.IsInsecure(u.Host), true))
			}
		}
		u, _ := url.Parse(hubEndpoint)
		return append(eps, r.endpoint(u, false, false))
	}
	insecure := r.IsInsecure(domain)
	eps = append(eps, r.endpoint(&url.URL{Scheme: "https", Host: domain}, insecure, false))
	if insecure {
		eps = append(eps, r.endpoint(&url.URL{Scheme: "http", Host: domain}, true, false))
	}
	return eps
}

// LoginEndpoints lists the endpoints for a login to serverAddress
// ("https://index.docker.io/v1/", "localhost:5000", "https://x:5000").
func (r *Resolver) LoginEndpoints(serverAddress string) []*Endpoint {
	s := strings.TrimSuffix(serverAddress, "/")
	if s == "" || strings.Contains(s, "index.docker.io") || s == hubDomain {
		return r.Endpoints(hubDomain, false)
	}
	if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return []*Endpoint{r.endpoint(&url.URL{Scheme: u.Scheme, Host: u.Host}, r.IsInsecure(u.Host), false)}
	}
	return r.Endpoints(s, false)
}

func (r *Resolver) endpoint(u *url.URL, insecure, mirror bool) *Endpoint {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		tc.InsecureSkipVerify = true
	} else if r.cfg.CertsDir != "" {
		dir := filepath.Join(r.cfg.CertsDir, u.Host)
		if pem, err := os.ReadFile(filepath.Join(dir, "ca.crt")); err == nil {
			if pool, err := x509.SystemCertPool(); err == nil && pool.AppendCertsFromPEM(pem) {
				tc.RootCAs = pool
			}
		}
		if c, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.cert"), filepath.Join(dir, "client.key")); err == nil {
			tc.Certificates = []tls.Certificate{c}
		}
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   8,
		DisableCompression:    true,
	}
	return &Endpoint{URL: u, Insecure: insecure, Mirror: mirror, client: &http.Client{Transport: tr}}
}

// RepoPath is the repository's path on its registry ("library/busybox").
func RepoPath(n reference.Named) string { return reference.Path(n) }

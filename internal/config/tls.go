package config

import (
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/go-connections/tlsconfig"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Default TCP ports, as dockerd's: 2376 when TLS is on, else 2375.
const (
	DefaultTLSPort      = "2376"
	DefaultPlainTCPPort = "2375"
)

// TLS is the daemon's remote-access and security settings: TLS
// (daemon.json keys tls, tlsverify, tlscacert, tlscert, tlskey; dockerd's
// flags of the same names), insecure-tcp, the read-only listeners and the
// default seccomp profile. It is embedded in Config, so the keys sit at the
// top level of daemon.json.
//
// As dockerd: --tlsverify implies --tls and requires every client to
// present a certificate signed by --tlscacert; --tls alone encrypts but
// authenticates nobody. Unlike dockerd (which only warns), berthd refuses
// to listen on a non-loopback TCP address without --tlsverify unless
// --insecure-tcp is given: anyone reaching such a socket is root on the
// host.
type TLS struct {
	TLS         bool   `json:"tls,omitempty"`
	TLSVerify   bool   `json:"tlsverify,omitempty"`
	TLSCACert   string `json:"tlscacert,omitempty"`
	TLSCert     string `json:"tlscert,omitempty"`
	TLSKey      string `json:"tlskey,omitempty"`
	InsecureTCP bool   `json:"insecure-tcp,omitempty"`
	// ReadOnlyListeners serve only GET and HEAD (--api-read-only-listener;
	// Docker has no such thing). The same TLS settings and TCP rules apply.
	ReadOnlyListeners []string `json:"api-read-only-listeners,omitempty"`
	// SeccompProfile is dockerd's --seccomp-profile: "builtin" (default),
	// "unconfined" or the path of a profile file.
	SeccompProfile string `json:"seccomp-profile,omitempty"`
}

func tlsJSONKeys() []string {
	return []string{"tls", "tlsverify", "tlscacert", "tlscert", "tlskey", "insecure-tcp", "api-read-only-listeners", "seccomp-profile"}
}

func registerTLSFlags(fs *pflag.FlagSet, t *TLS) {
	fs.BoolVar(&t.TLS, "tls", false, "Use TLS; implied by --tlsverify")
	fs.BoolVar(&t.TLSVerify, "tlsverify", false, "Use TLS and verify the remote")
	fs.StringVar(&t.TLSCACert, "tlscacert", "", `Trust certs signed only by this CA (default "$DOCKER_CERT_PATH/ca.pem" or "~/.docker/ca.pem")`)
	fs.StringVar(&t.TLSCert, "tlscert", "", `Path to TLS certificate file (default "$DOCKER_CERT_PATH/cert.pem" or "~/.docker/cert.pem")`)
	fs.StringVar(&t.TLSKey, "tlskey", "", `Path to TLS key file (default "$DOCKER_CERT_PATH/key.pem" or "~/.docker/key.pem")`)
	fs.StringArrayVar(&t.ReadOnlyListeners, "api-read-only-listener", nil, "Also serve the API read-only (GET and HEAD only) on this address (unix:// or tcp://)")
	fs.StringVar(&t.SeccompProfile, "seccomp-profile", "", `Path to the default seccomp profile for containers, or "unconfined" (default "builtin")`)
	fs.BoolVar(&t.InsecureTCP, "insecure-tcp", false, "Allow listening on a non-loopback TCP address without --tlsverify (anyone reaching it is root on this host)")
}

// Enabled reports whether tcp:// listeners serve TLS.
func (t *TLS) Enabled() bool { return t.TLS || t.TLSVerify }

// fillTLSDefaults fills certificate paths from DOCKER_CERT_PATH (or
// ~/.docker) and gives tcp:// hosts without a port dockerd's default port.
func (c *Config) fillTLSDefaults(getenv func(string) string) {
	if c.Enabled() {
		dir := getenv("DOCKER_CERT_PATH")
		if dir == "" {
			if home := getenv("HOME"); home != "" {
				dir = filepath.Join(home, ".docker")
			}
		}
		def := func(v *string, name string) {
			if *v == "" && dir != "" {
				*v = filepath.Join(dir, name)
			}
		}
		if c.TLSVerify {
			def(&c.TLSCACert, "ca.pem")
		}
		def(&c.TLSCert, "cert.pem")
		def(&c.TLSKey, "key.pem")
	}
	port := DefaultPlainTCPPort
	if c.Enabled() {
		port = DefaultTLSPort
	}
	for i, h := range c.Hosts {
		c.Hosts[i] = normalizeTCPHost(h, port)
	}
	for i, h := range c.ReadOnlyListeners {
		c.ReadOnlyListeners[i] = normalizeTCPHost(h, port)
	}
}

// normalizeTCPHost gives tcp:// addresses dockerd's defaults: "tcp://" is
// localhost, a missing port is the default port.
func normalizeTCPHost(h, port string) string {
	rest, ok := strings.CutPrefix(h, "tcp://")
	if !ok {
		return h
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return "tcp://localhost:" + port
	}
	if _, _, err := net.SplitHostPort(rest); err != nil {
		// No port (or a bare IPv6 address).
		host := strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
		return "tcp://" + net.JoinHostPort(host, port)
	}
	if strings.HasSuffix(rest, ":") {
		return "tcp://" + rest + port
	}
	return "tcp://" + rest
}

// validateTLS checks the TLS settings against the hosts.
func (c *Config) validateTLS() error {
	if c.Enabled() {
		for name, p := range map[string]string{"tlscert": c.TLSCert, "tlskey": c.TLSKey} {
			if p == "" {
				return errdefs.InvalidArgumentf("--%s is required with --tls/--tlsverify", name)
			}
		}
		if c.TLSVerify && c.TLSCACert == "" {
			return errdefs.InvalidArgumentf("--tlscacert is required with --tlsverify")
		}
	}
	for _, h := range c.ReadOnlyListeners {
		if !strings.HasPrefix(h, "unix://") && !strings.HasPrefix(h, "tcp://") {
			return errdefs.InvalidArgumentf("invalid read-only listener %q: only unix:// and tcp:// are supported", h)
		}
	}
	for _, h := range append(append([]string{}, c.Hosts...), c.ReadOnlyListeners...) {
		rest, ok := strings.CutPrefix(h, "tcp://")
		if !ok {
			continue
		}
		host, _, err := net.SplitHostPort(rest)
		if err != nil {
			return errdefs.InvalidArgumentf("invalid host %q: %v", h, err)
		}
		if !c.TLSVerify && !c.InsecureTCP && !isLoopback(host) {
			return errdefs.InvalidArgumentf("refusing to listen on %s without --tlsverify: anyone who can reach a non-loopback TCP address would be root on this host; "+
				"use --tlsverify with --tlscacert/--tlscert/--tlskey, listen on 127.0.0.1, or pass --insecure-tcp to accept the risk", h)
		}
	}
	return nil
}

// isLoopback reports whether a listen host binds only loopback addresses.
// An empty host binds every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// ServerTLSConfig returns the tls.Config for tcp:// listeners, or nil when
// TLS is off. With --tlsverify, clients must present a certificate signed
// by the CA for client authentication (a server certificate is refused).
func (c *Config) ServerTLSConfig() (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	for _, p := range []string{c.TLSCert, c.TLSKey} {
		if _, err := os.Stat(p); err != nil {
			return nil, errdefs.InvalidArgumentf("tls: %v", err)
		}
	}
	opts := tlsconfig.Options{
		CertFile:           c.TLSCert,
		KeyFile:            c.TLSKey,
		ClientAuth:         tls.NoClientCert,
		ExclusiveRootPools: true,
		MinVersion:         tls.VersionTLS12,
	}
	if c.TLSVerify {
		opts.CAFile = c.TLSCACert
		opts.ClientAuth = tls.RequireAndVerifyClientCert
	}
	cfg, err := tlsconfig.Server(opts)
	if err != nil {
		return nil, errdefs.InvalidArgumentf("tls: %v", err)
	}
	return cfg, nil
}

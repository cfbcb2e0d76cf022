package cli

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/go-connections/tlsconfig"
	"github.com/moby/moby/client"
)

// DefaultHost is where berthd listens unless told otherwise.
const DefaultHost = "unix:///run/berth.sock"

// ResolveHost picks the daemon address: the -H flag, then BERTH_HOST, then
// DOCKER_HOST, then DefaultHost.
func ResolveHost(flagHost string, getenv func(string) string) string {
	for _, h := range []string{flagHost, getenv("BERTH_HOST"), getenv("DOCKER_HOST")} {
		if h != "" {
			return h
		}
	}
	return DefaultHost
}

// TLSOptions are the global TLS flags.
type TLSOptions struct {
	TLS       bool
	TLSVerify bool
	CACert    string
	Cert      string
	Key       string
}

// resolveTLS applies DOCKER_TLS_VERIFY and DOCKER_CERT_PATH defaults to
// the flags and reports whether TLS is on. Certificate files default to
// ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (or ~/.docker).
func (o TLSOptions) resolve(getenv func(string) string) (TLSOptions, bool) {
	if getenv("DOCKER_TLS_VERIFY") != "" {
		o.TLSVerify = true
	}
	dir := getenv("DOCKER_CERT_PATH")
	if dir == "" {
		if home := getenv("HOME"); home != "" {
			dir = filepath.Join(home, ".docker")
		}
	}
	def := func(v *string, name string) {
		if *v == "" && dir != "" {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				*v = p
			}
		}
	}
	def(&o.CACert, "ca.pem")
	def(&o.Cert, "cert.pem")
	def(&o.Key, "key.pem")
	return o, o.TLS || o.TLSVerify
}

// clientOptions builds the moby client options for host and TLS settings.
// API version negotiation stays on unless DOCKER_API_VERSION pins one.
func clientOptions(host string, t TLSOptions, getenv func(string) string) ([]client.Opt, error) {
	if strings.HasPrefix(host, "ssh://") {
		opts, err := sshClientOptions(host)
		if err != nil {
			return nil, err
		}
		return append(opts, client.WithAPIVersionFromEnv(), client.WithUserAgent("berth-cli")), nil
	}
	var opts []client.Opt
	if t, on := t.resolve(getenv); on {
		cfg, err := tlsconfig.Client(tlsconfig.Options{
			CAFile:             t.CACert,
			CertFile:           t.Cert,
			KeyFile:            t.Key,
			InsecureSkipVerify: !t.TLSVerify,
			ExclusiveRootPools: true,
			MinVersion:         tls.VersionTLS12,
		})
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithHTTPClient(&http.Client{
			Transport:     &http.Transport{TLSClientConfig: cfg},
			CheckRedirect: client.CheckRedirect,
		}))
	}
	opts = append(opts, client.WithHost(host), client.WithAPIVersionFromEnv(), client.WithUserAgent("berth-cli"))
	return opts, nil
}

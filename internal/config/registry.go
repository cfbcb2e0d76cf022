package config

import (
	"net"
	"net/url"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Registry is the registry configuration (dockerd's flags and
// daemon.json keys).
type Registry struct {
	// Mirrors serve pulls of Docker Hub names ("registry-mirrors").
	Mirrors []string `json:"registry-mirrors,omitempty"`
	// InsecureRegistries are reached over HTTP or unverified TLS
	// ("insecure-registries"): host[:port] or CIDR. Loopback always is.
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
}

func registerRegistryFlags(fs *pflag.FlagSet, r *Registry) {
	fs.StringArrayVar(&r.Mirrors, "registry-mirror", nil, "Preferred registry mirror")
	fs.StringArrayVar(&r.InsecureRegistries, "insecure-registry", nil, "Enable insecure registry communication")
}

func registryJSONKeys() []string { return []string{"registry-mirrors", "insecure-registries"} }

// validateRegistry checks mirrors and insecure registries as dockerd does.
func (r *Registry) validateRegistry() error {
	for i, m := range r.Mirrors {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errdefs.InvalidArgumentf("invalid mirror: %q is not a valid URI", m)
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			return errdefs.InvalidArgumentf("invalid mirror: path or query not allowed: %q", m)
		}
		r.Mirrors[i] = strings.TrimSuffix(m, "/")
	}
	for _, s := range r.InsecureRegistries {
		if strings.Contains(s, "://") {
			return errdefs.InvalidArgumentf("insecure registry %s should not contain '://'", s)
		}
		if _, _, err := net.ParseCIDR(s); err == nil {
			continue
		}
		if s == "" || strings.ContainsAny(s, "/ ") {
			return errdefs.InvalidArgumentf("insecure registry %q is not valid", s)
		}
	}
	return nil
}

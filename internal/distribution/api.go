package distribution

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/apiserver/router/images"
	"github.com/berth-dev/berth/internal/errdefs"
)

var _ images.Distributor = (*Service)(nil)

// credentialsOf turns the API's AuthConfig into Credentials; "auth" is
// base64 "user:password" as config.json stores it.
func credentialsOf(ac registry.AuthConfig) Credentials {
	c := Credentials{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
	if ac.Auth != "" && c.Username == "" {
		if b, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
			if u, p, ok := strings.Cut(string(b), ":"); ok {
				c.Username, c.Password = u, p
			}
		}
	}
	return c
}

// Pull is POST /images/create?fromImage=; platform is "os/arch[/variant]"
// or "" for this host's.
func (s *Service) Pull(ctx context.Context, fromImage, tag, platform string, auth registry.AuthConfig, progress io.Writer) error {
	ref, err := ParseRef(fromImage, tag)
	if err != nil {
		return err
	}
	// No tag at all (docker pull --all-tags): every tag of the repository.
	allTags := false
	if tag == "" {
		if n, err := reference.ParseNormalizedNamed(fromImage); err == nil {
			_, tagged := n.(reference.Tagged)
			_, digested := n.(reference.Digested)
			allTags = !tagged && !digested
		}
	}
	var pl ocispec.Platform
	if platform != "" {
		parts := strings.Split(strings.ToLower(platform), "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return errdefs.InvalidArgumentf("invalid platform %q: expected os/arch[/variant]", platform)
		}
		pl.OS, pl.Architecture = parts[0], parts[1]
		if len(parts) == 3 {
			pl.Variant = parts[2]
		}
	}
	if allTags {
		return s.pullAllTags(ctx, reference.TrimNamed(ref), pl, credentialsOf(auth), progress)
	}
	return s.PullPlatform(ctx, ref, pl, credentialsOf(auth), progress)
}

// pullAllTags pulls every tag the repository's registry lists.
func (s *Service) pullAllTags(ctx context.Context, name reference.Named, pl ocispec.Platform, creds Credentials, progress io.Writer) error {
	var tags []string
	var errs []error
	for _, ep := range s.resolver.Endpoints(reference.Domain(name), true) {
		t, err := ep.Repository(reference.Path(name), creds, false).Tags(ctx)
		if err == nil {
			tags = t
			break
		}
		errs = append(errs, err)
	}
	if tags == nil {
		return pullError(reference.TagNameOnly(name), errs)
	}
	for _, t := range tags {
		ref, err := reference.WithTag(name, t)
		if err != nil {
			continue
		}
		if err := s.PullPlatform(ctx, ref, pl, creds, progress); err != nil {
			return err
		}
	}
	return nil
}

// Push is POST /images/{name}/push.
func (s *Service) Push(ctx context.Context, name, tag string, auth registry.AuthConfig, progress io.Writer) error {
	return s.PushRef(ctx, name, tag, credentialsOf(auth), progress)
}

// Login is POST /auth: the credentials are checked at the registry's /v2/.
func (s *Service) Login(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	creds := credentialsOf(auth)
	var errs []error
	for _, ep := range s.resolver.LoginEndpoints(auth.ServerAddress) {
		err := ep.Ping(ctx, creds)
		if err == nil {
			return registry.AuthResponse{Status: "Login Succeeded"}, nil
		}
		if errdefs.ClassOf(err) == errdefs.Unauthorized {
			return registry.AuthResponse{}, errdefs.Unauthorizedf("login attempt to %s/v2/ failed with status: 401 Unauthorized", ep.URL)
		}
		errs = append(errs, err)
		var ne net.Error
		if !errors.As(err, &ne) && !strings.Contains(err.Error(), "http: server gave HTTP response to HTTPS client") && !strings.Contains(err.Error(), "tls:") {
			break
		}
	}
	if len(errs) == 0 {
		return registry.AuthResponse{}, fmt.Errorf("login: no endpoint for %q", auth.ServerAddress)
	}
	return registry.AuthResponse{}, errs[len(errs)-1]
}

// ServiceConfig is docker info's RegistryConfig: loopback and the
// configured insecure registries, Docker Hub with its mirrors.
func (r *Resolver) ServiceConfig() *registry.ServiceConfig {
	sc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: []netip.Prefix{netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.0/8")},
		IndexConfigs:          map[string]*registry.IndexInfo{},
		Mirrors:               []string{},
	}
	for _, m := range r.cfg.Mirrors {
		sc.Mirrors = append(sc.Mirrors, strings.TrimSuffix(m, "/")+"/")
	}
	for _, s := range r.cfg.Insecure {
		if p, err := netip.ParsePrefix(s); err == nil {
			sc.InsecureRegistryCIDRs = append(sc.InsecureRegistryCIDRs, p)
			continue
		}
		sc.IndexConfigs[s] = &registry.IndexInfo{Name: s, Mirrors: []string{}, Secure: false}
	}
	sc.IndexConfigs[hubDomain] = &registry.IndexInfo{Name: hubDomain, Mirrors: sc.Mirrors, Secure: true, Official: true}
	return sc
}

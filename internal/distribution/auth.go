package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Credentials are what a user logged in with (Docker's AuthConfig, the
// parts a registry uses).
type Credentials struct {
	Username      string
	Password      string
	IdentityToken string // a refresh token from an earlier login
	RegistryToken string // a bearer token to send as is
}

// challenge is one parsed WWW-Authenticate header.
type challenge struct {
	scheme string // "basic" or "bearer", lower case
	params map[string]string
}

// parseChallenge parses `Bearer realm="...",service="...",scope="..."`.
// Values may be quoted (with backslash escapes) or bare tokens.
func parseChallenge(h string) (challenge, bool) {
	h = strings.TrimSpace(h)
	sp := strings.IndexByte(h, ' ')
	if sp < 0 {
		if h == "" {
			return challenge{}, false
		}
		return challenge{scheme: strings.ToLower(h), params: map[string]string{}}, true
	}
	c := challenge{scheme: strings.ToLower(h[:sp]), params: map[string]string{}}
	s := h[sp+1:]
	for {
		s = strings.TrimLeft(s, " ,")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
					continue
				}
				if s[i] == '"' {
					break
				}
				b.WriteByte(s[i])
			}
			val = b.String()
			if i < len(s) {
				i++
			}
			s = s[i:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		c.params[key] = val
	}
	return c, true
}

// authorizer answers a registry's challenges for one repository and scope,
// caching the bearer token it got.
type authorizer struct {
	client *http.Client
	creds  Credentials
	scope  string // "repository:library/busybox:pull,push"; "" for /v2/

	mu     sync.Mutex
	header string // the Authorization value to send; "" before a challenge
}

func (a *authorizer) current() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.header
}

// answer computes the Authorization header for challenge h. It fails with
// Unauthorized when the registry wants credentials the user lacks.
func (a *authorizer) answer(ctx context.Context, h string) error {
	c, ok := parseChallenge(h)
	if !ok {
		return errdefs.Unauthorizedf("unauthorized: registry sent no authentication challenge")
	}
	switch c.scheme {
	case "basic":
		if a.creds.Username == "" && a.creds.Password == "" {
			return errdefs.Unauthorizedf("unauthorized: authentication required")
		}
		req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		req.SetBasicAuth(a.creds.Username, a.creds.Password)
		a.set(req.Header.Get("Authorization"))
		return nil
	case "bearer":
		if a.creds.RegistryToken != "" {
			a.set("Bearer " + a.creds.RegistryToken)
			return nil
		}
		tok, err := a.fetchToken(ctx, c.params)
		if err != nil {
			return err
		}
		a.set("Bearer " + tok)
		return nil
	}
	return errdefs.Unauthorizedf("unauthorized: unsupported authentication scheme %q", c.scheme)
}

func (a *authorizer) set(h string) {
	a.mu.Lock()
	a.header = h
	a.mu.Unlock()
}

// fetchToken gets a bearer token from the challenge's realm (Docker's token
// protocol: GET realm?service=..&scope=.., basic auth if there are
// credentials; or the OAuth2 refresh-token POST with an identity token).
func (a *authorizer) fetchToken(ctx context.Context, p map[string]string) (string, error) {
	realm := p["realm"]
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("bad token realm %q", realm)
	}
	scope := a.scope
	if scope == "" {
		scope = p["scope"]
	}
	var req *http.Request
	if a.creds.IdentityToken != "" {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.creds.IdentityToken},
			"service": {p["service"]}, "client_id": {"berth"}}
		if scope != "" {
			form.Set("scope", scope)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm, strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		q := u.Query()
		if s := p["service"]; s != "" {
			q.Set("service", s)
		}
		if scope != "" {
			q.Set("scope", scope)
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return "", err
		}
		if a.creds.Username != "" || a.creds.Password != "" {
			req.SetBasicAuth(a.creds.Username, a.creds.Password)
		}
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch auth token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", errdefs.Unauthorizedf("unauthorized: incorrect username or password")
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch auth token: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", fmt.Errorf("fetch auth token: %w", err)
	}
	if tr.Token == "" {
		tr.Token = tr.AccessToken
	}
	if tr.Token == "" {
		return "", fmt.Errorf("fetch auth token: no token in response")
	}
	return tr.Token, nil
}

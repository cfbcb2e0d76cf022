package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// Contexts are stored as the docker CLI stores them, so that both CLIs
// share them:
//
//	<config>/config.json                                  "currentContext": NAME
//	<config>/contexts/meta/<sha256(NAME)>/meta.json       {"Name", "Metadata", "Endpoints": {"docker": {"Host", "SkipTLSVerify"}}}
//	<config>/contexts/tls/<sha256(NAME)>/docker/          ca.pem, cert.pem, key.pem
//
// <config> is $BERTH_CONFIG, else $DOCKER_CONFIG, else ~/.docker.
// "default" is not stored: it is -H / BERTH_HOST / DOCKER_HOST / the
// default socket, with the TLS flags.

const (
	defaultContext   = "default"
	dockerEndpoint   = "docker"
	defaultDescribed = "Current DOCKER_HOST based configuration"
)

var contextNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$`)

// contextMeta is meta.json.
type contextMeta struct {
	Name      string                     `json:"Name"`
	Metadata  contextMetadata            `json:"Metadata"`
	Endpoints map[string]contextEndpoint `json:"Endpoints"`
}

type contextMetadata struct {
	Description string `json:"Description,omitempty"`
}

type contextEndpoint struct {
	Host          string `json:"Host,omitempty"`
	SkipTLSVerify bool   `json:"SkipTLSVerify"`
}

type contextStore struct{ dir string }

// configDir is the CLI's configuration directory.
func configDir(getenv func(string) string) string {
	for _, k := range []string{"BERTH_CONFIG", "DOCKER_CONFIG"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker")
}

func contextID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

func (s contextStore) metaDir(name string) string {
	return filepath.Join(s.dir, "contexts", "meta", contextID(name))
}

func (s contextStore) tlsDir(name string) string {
	return filepath.Join(s.dir, "contexts", "tls", contextID(name))
}

func validateContextName(name string) error {
	if name == "" {
		return errors.New("context name cannot be empty")
	}
	if name == defaultContext {
		return fmt.Errorf("%q is a reserved context name", name)
	}
	if !contextNameRE.MatchString(name) {
		return fmt.Errorf("context name %q is invalid, names are validated against regexp %q", name, contextNameRE.String())
	}
	return nil
}

func (s contextStore) load(name string) (*contextMeta, error) {
	b, err := os.ReadFile(filepath.Join(s.metaDir(name), "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("context %q does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	var m contextMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("context %q: parse meta.json: %w", name, err)
	}
	return &m, nil
}

// list returns the stored contexts sorted by name.
func (s contextStore) list() ([]*contextMeta, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "contexts", "meta"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*contextMeta
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.dir, "contexts", "meta", e.Name(), "meta.json"))
		if err != nil {
			continue
		}
		var m contextMeta
		if json.Unmarshal(b, &m) == nil && m.Name != "" {
			out = append(out, &m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// tlsFiles lists the TLS files stored for a context's docker endpoint.
func (s contextStore) tlsFiles(name string) []string {
	ents, err := os.ReadDir(filepath.Join(s.tlsDir(name), dockerEndpoint))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// tlsPath is the path of one stored TLS file, "" when absent.
func (s contextStore) tlsPath(name, file string) string {
	p := filepath.Join(s.tlsDir(name), dockerEndpoint, file)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// create writes a context; tls maps ca.pem/cert.pem/key.pem to contents.
func (s contextStore) create(m *contextMeta, tls map[string][]byte) error {
	dir := s.metaDir(m.Name)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("context %q already exists", m.Name)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(tls) > 0 {
		td := filepath.Join(s.tlsDir(m.Name), dockerEndpoint)
		if err := os.MkdirAll(td, 0o700); err != nil {
			return err
		}
		for f, data := range tls {
			if err := os.WriteFile(filepath.Join(td, f), data, 0o600); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "meta.json"), b, 0o644)
}

func (s contextStore) remove(name string) error {
	if _, err := os.Stat(s.metaDir(name)); err != nil {
		return fmt.Errorf("context %q does not exist", name)
	}
	if err := os.RemoveAll(s.tlsDir(name)); err != nil {
		return err
	}
	return os.RemoveAll(s.metaDir(name))
}

// currentContext reads config.json's currentContext ("" when unset).
func (s contextStore) currentContext() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("parse %s: %w", filepath.Join(s.dir, "config.json"), err)
	}
	return cfg.CurrentContext, nil
}

// setCurrentContext writes config.json's currentContext, keeping every
// other key; "default" removes it, as docker does.
func (s contextStore) setCurrentContext(name string) error {
	path := filepath.Join(s.dir, "config.json")
	raw := map[string]json.RawMessage{}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(bytes.TrimSpace(b)) > 0 {
			if err := json.Unmarshal(b, &raw); err != nil {
				return fmt.Errorf("parse %s: %w", path, err)
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if name == defaultContext || name == "" {
		delete(raw, "currentContext")
	} else {
		v, _ := json.Marshal(name)
		raw["currentContext"] = v
	}
	out, err := json.MarshalIndent(raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, out, 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

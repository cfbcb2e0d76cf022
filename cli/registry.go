package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// Credentials live in <config>/config.json as docker stores them:
//
//	{"auths": {"127.0.0.1:5000": {"auth": "<base64 user:password>"},
//	           "https://index.docker.io/v1/": {...}}}
//
// Other keys of the file are kept as they are. Credential helpers
// (credsStore) are not used.

// hubServer is Docker Hub's key in config.json, as docker's.
const hubServer = "https://index.docker.io/v1/"

type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

func (c *CLI) configFile() string {
	for _, k := range []string{"BERTH_CONFIG", "DOCKER_CONFIG"} {
		if v := c.Getenv(k); v != "" {
			return filepath.Join(v, "config.json")
		}
	}
	home := c.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker", "config.json")
}

func (c *CLI) readConfig() (map[string]json.RawMessage, map[string]authEntry, error) {
	raw := map[string]json.RawMessage{}
	auths := map[string]authEntry{}
	b, err := os.ReadFile(c.configFile())
	if errors.Is(err, fs.ErrNotExist) {
		return raw, auths, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, nil, fmt.Errorf("parse %s: %w", c.configFile(), err)
		}
	}
	if a, ok := raw["auths"]; ok {
		if err := json.Unmarshal(a, &auths); err != nil {
			return nil, nil, fmt.Errorf("parse %s: auths: %w", c.configFile(), err)
		}
	}
	return raw, auths, nil
}

func (c *CLI) writeAuths(raw map[string]json.RawMessage, auths map[string]authEntry) error {
	b, _ := json.Marshal(auths)
	raw["auths"] = b
	out, err := json.MarshalIndent(raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.configFile()), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(c.configFile()), ".config.json.tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(out)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.configFile())
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// serverKey is config.json's key for the registry of ref.
func serverKey(ref reference.Named) string {
	if d := reference.Domain(ref); d != "docker.io" {
		return d
	}
	return hubServer
}

// registryAuth returns the X-Registry-Auth value for the registry of ref
// ("" when the user has not logged in there).
func (c *CLI) registryAuth(ref reference.Named) string {
	_, auths, err := c.readConfig()
	if err != nil {
		return ""
	}
	key := serverKey(ref)
	e, ok := auths[key]
	if !ok {
		e, ok = auths["https://"+key]
	}
	if !ok {
		return ""
	}
	ac := registry.AuthConfig{ServerAddress: key, IdentityToken: e.IdentityToken}
	if b, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
		ac.Username, ac.Password, _ = strings.Cut(string(b), ":")
	}
	b, _ := json.Marshal(ac)
	return base64.URLEncoding.EncodeToString(b)
}

type pullOptions struct {
	quiet    bool
	allTags  bool
	platform string
}

func newPullCommand(c *CLI) *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), c, args[0], &o)
		},
	}
	cmd.Flags().BoolVarP(&o.allTags, "all-tags", "a", false, "Download all tagged images in the repository")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.Flags().StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

func runPull(ctx context.Context, c *CLI, name string, o *pullOptions) error {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return err
	}
	_, tagged := ref.(reference.Tagged)
	_, digested := ref.(reference.Digested)
	switch {
	case o.allTags && (tagged || digested):
		return errors.New("tag can't be used with --all-tags/-a")
	case !o.allTags && !tagged && !digested:
		ref = reference.TagNameOnly(ref)
		fmt.Fprintf(c.Out, "Using default tag: latest\n")
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	options := client.ImagePullOptions{All: o.allTags, RegistryAuth: c.registryAuth(ref)}
	if o.platform != "" {
		parts := strings.Split(o.platform, "/")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("invalid platform %q: expected os/arch[/variant]", o.platform)
		}
		pl := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			pl.Variant = parts[2]
		}
		options.Platforms = []ocispec.Platform{pl}
	}
	resp, err := cl.ImagePull(ctx, ref.String(), options)
	if err != nil {
		return err
	}
	defer resp.Close()
	out := c.Out
	if o.quiet {
		out = io.Discard
	}
	fd, isTerm := c.outFd()
	if err := jsonmessage.DisplayJSONMessagesStream(resp, out, fd, isTerm && !o.quiet, nil); err != nil {
		return err
	}
	// docker prints the full reference last, with -q only that.
	fmt.Fprintln(c.Out, ref.String())
	return nil
}

type pushOptions struct {
	quiet   bool
	allTags bool
}

func newPushCommand(c *CLI) *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd.Context(), c, args[0], &o)
		},
	}
	cmd.Flags().BoolVarP(&o.allTags, "all-tags", "a", false, "Push all tags of an image to the repository")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

func runPush(ctx context.Context, c *CLI, name string, o *pushOptions) error {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return err
	}
	if o.allTags {
		if _, ok := ref.(reference.Tagged); ok {
			return errors.New("tag can't be used with --all-tags/-a")
		}
	} else {
		if _, ok := ref.(reference.Tagged); !ok {
			fmt.Fprintf(c.Out, "Using default tag: latest\n")
		}
		ref = reference.TagNameOnly(ref)
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	resp, err := cl.ImagePush(ctx, ref.String(), client.ImagePushOptions{All: o.allTags, RegistryAuth: c.registryAuth(ref)})
	if err != nil {
		return err
	}
	defer resp.Close()
	out := c.Out
	if o.quiet {
		out = io.Discard
	}
	fd, isTerm := c.outFd()
	if err := jsonmessage.DisplayJSONMessagesStream(resp, out, fd, isTerm && !o.quiet, nil); err != nil {
		return err
	}
	if o.quiet {
		fmt.Fprintln(c.Out, reference.FamiliarString(ref))
	}
	return nil
}

type loginOptions struct {
	user, password string
	passwordStdin  bool
}

func newLoginCommand(c *CLI) *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := hubServer
			if len(args) == 1 {
				server = args[0]
			}
			return runLogin(cmd.Context(), c, server, &o)
		},
	}
	cmd.Flags().StringVarP(&o.user, "username", "u", "", "Username")
	cmd.Flags().StringVarP(&o.password, "password", "p", "", "Password")
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "Take the password from stdin")
	return cmd
}

// normalizeServer is docker's config.json key for a login server.
func normalizeServer(s string) string {
	if s == "" || s == "docker.io" || strings.Contains(s, "index.docker.io") || s == "registry-1.docker.io" {
		return hubServer
	}
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://"), "/")
}

func runLogin(ctx context.Context, c *CLI, server string, o *loginOptions) error {
	if o.password != "" && o.passwordStdin {
		return errors.New("--password and --password-stdin are mutually exclusive")
	}
	if o.passwordStdin {
		if o.user == "" {
			return errors.New("Must provide --username with --password-stdin")
		}
		b, err := io.ReadAll(c.In)
		if err != nil {
			return err
		}
		o.password = strings.TrimRight(string(b), "\r\n")
	}
	if o.password != "" && !o.passwordStdin {
		fmt.Fprintln(c.Err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	if o.user == "" || o.password == "" {
		fd, isTerm := c.inFd()
		if !isTerm {
			return errors.New("Cannot perform an interactive login from a non TTY device")
		}
		r := bufio.NewReader(c.In)
		if o.user == "" {
			fmt.Fprint(c.Out, "Username: ")
			line, _ := r.ReadString('\n')
			o.user = strings.TrimSpace(line)
		}
		if o.password == "" {
			st, err := term.SaveState(fd)
			if err == nil {
				_ = term.DisableEcho(fd, st)
			}
			fmt.Fprint(c.Out, "Password: ")
			line, _ := r.ReadString('\n')
			if st != nil {
				_ = term.RestoreTerminal(fd, st)
			}
			fmt.Fprintln(c.Out)
			o.password = strings.TrimRight(line, "\r\n")
		}
		if o.user == "" || o.password == "" {
			return errors.New("Error: Non-null Username Required")
		}
	}
	key := normalizeServer(server)
	cl, err := c.Client()
	if err != nil {
		return err
	}
	res, err := cl.RegistryLogin(ctx, client.RegistryLoginOptions{Username: o.user, Password: o.password, ServerAddress: key})
	if err != nil {
		return err
	}
	raw, auths, err := c.readConfig()
	if err != nil {
		return err
	}
	e := authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(o.user + ":" + o.password))}
	if res.Auth.IdentityToken != "" {
		e = authEntry{IdentityToken: res.Auth.IdentityToken, Auth: base64.StdEncoding.EncodeToString([]byte(o.user + ":"))}
	}
	auths[key] = e
	if err := c.writeAuths(raw, auths); err != nil {
		return err
	}
	fmt.Fprintln(c.Out, res.Auth.Status)
	return nil
}

func newLogoutCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := hubServer
			if len(args) == 1 {
				server = args[0]
			}
			key := normalizeServer(server)
			raw, auths, err := c.readConfig()
			if err != nil {
				return err
			}
			if _, ok := auths[key]; !ok {
				fmt.Fprintf(c.Out, "Not logged in to %s\n", key)
				return nil
			}
			fmt.Fprintf(c.Out, "Removing login credentials for %s\n", key)
			delete(auths, key)
			return c.writeAuths(raw, auths)
		},
	}
}

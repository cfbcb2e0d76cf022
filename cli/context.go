package cli

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

func (c *CLI) contexts() contextStore { return contextStore{dir: configDir(c.Getenv)} }

// CurrentContext resolves the context as the docker CLI does: --context,
// else "default" when -H is given, else BERTH_CONTEXT / DOCKER_CONTEXT,
// else "default" when BERTH_HOST / DOCKER_HOST is set, else config.json's
// currentContext, else "default".
func (c *CLI) CurrentContext() (string, error) {
	if c.contextName != "" {
		if c.host != "" {
			return "", errors.New("conflicting options: either specify --host or --context, not both")
		}
		return c.contextName, nil
	}
	if c.host != "" {
		return defaultContext, nil
	}
	for _, k := range []string{"BERTH_CONTEXT", "DOCKER_CONTEXT"} {
		if v := c.Getenv(k); v != "" {
			return v, nil
		}
	}
	if c.Getenv("BERTH_HOST") != "" || c.Getenv("DOCKER_HOST") != "" {
		return defaultContext, nil
	}
	cur, err := c.contexts().currentContext()
	if err != nil {
		return "", err
	}
	if cur == "" {
		return defaultContext, nil
	}
	return cur, nil
}

// contextHost is the docker endpoint of the current context when it is
// not "default".
func (c *CLI) contextHost() (string, bool) {
	name, err := c.CurrentContext()
	if err != nil || name == defaultContext {
		return "", false
	}
	m, err := c.contexts().load(name)
	if err != nil {
		return "", false
	}
	ep, ok := m.Endpoints[dockerEndpoint]
	return ep.Host, ok
}

// endpointOptions are the API client options of the current context.
func (c *CLI) endpointOptions() ([]client.Opt, error) {
	name, err := c.CurrentContext()
	if err != nil {
		return nil, err
	}
	if name == defaultContext {
		return clientOptions(ResolveHost(c.host, c.Getenv), c.tls, c.Getenv)
	}
	s := c.contexts()
	m, err := s.load(name)
	if err != nil {
		return nil, fmt.Errorf("failed to initialize: %w", err)
	}
	ep, ok := m.Endpoints[dockerEndpoint]
	if !ok || ep.Host == "" {
		return nil, fmt.Errorf("context %q has no docker endpoint", name)
	}
	t := TLSOptions{
		CACert: s.tlsPath(name, "ca.pem"),
		Cert:   s.tlsPath(name, "cert.pem"),
		Key:    s.tlsPath(name, "key.pem"),
	}
	if t.CACert != "" || t.Cert != "" || ep.SkipTLSVerify {
		t.TLS = true
		t.TLSVerify = !ep.SkipTLSVerify
	}
	// The context's TLS material, not DOCKER_CERT_PATH/DOCKER_TLS_VERIFY.
	noTLSEnv := func(k string) string {
		switch k {
		case "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "HOME":
			return ""
		}
		return c.Getenv(k)
	}
	return clientOptions(ep.Host, t, noTLSEnv)
}

func newContextCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "context",
		Short: "Manage contexts",
		Args:  unknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { cmd.SetOut(c.Out); return cmd.Help() },
	}
	cmd.AddCommand(newContextCreateCommand(c), newContextUseCommand(c), newContextLsCommand(c),
		newContextRmCommand(c), newContextInspectCommand(c), newContextShowCommand(c))
	return cmd
}

// parseDockerEndpoint parses --docker "host=...,ca=...,cert=...,key=...,skip-tls-verify=bool".
func parseDockerEndpoint(spec string) (contextEndpoint, map[string]string, error) {
	var ep contextEndpoint
	files := map[string]string{}
	r := csv.NewReader(strings.NewReader(spec))
	fields, err := r.Read()
	if err != nil && spec != "" {
		return ep, nil, fmt.Errorf("invalid docker endpoint options %q: %w", spec, err)
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return ep, nil, fmt.Errorf("invalid docker endpoint option %q: want key=value", f)
		}
		switch k {
		case "host":
			ep.Host = v
		case "ca":
			files["ca.pem"] = v
		case "cert":
			files["cert.pem"] = v
		case "key":
			files["key.pem"] = v
		case "skip-tls-verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return ep, nil, fmt.Errorf("invalid skip-tls-verify %q: %w", v, err)
			}
			ep.SkipTLSVerify = b
		default:
			return ep, nil, fmt.Errorf("unrecognized config key: %s", k)
		}
	}
	if (files["cert.pem"] == "") != (files["key.pem"] == "") {
		return ep, nil, errors.New("cert and key must be given together")
	}
	return ep, files, nil
}

func newContextCreateCommand(c *CLI) *cobra.Command {
	var description, docker string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] CONTEXT",
		Short: "Create a context",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := validateContextName(name); err != nil {
				return err
			}
			ep, files, err := parseDockerEndpoint(docker)
			if err != nil {
				return err
			}
			if ep.Host == "" {
				ep.Host = ResolveHost(c.host, c.Getenv)
				if h, ok := c.contextHost(); ok {
					ep.Host = h
				}
			}
			if !strings.Contains(ep.Host, "://") {
				return fmt.Errorf("unable to parse docker host %q", ep.Host)
			}
			tls := map[string][]byte{}
			for f, p := range files {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				tls[f] = b
			}
			m := &contextMeta{Name: name, Metadata: contextMetadata{Description: description},
				Endpoints: map[string]contextEndpoint{dockerEndpoint: ep}}
			if err := c.contexts().create(m, tls); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, name)
			fmt.Fprintf(c.Err, "Successfully created context %q\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "Description of the context")
	cmd.Flags().StringVar(&docker, "docker", "", "set the docker endpoint")
	return cmd
}

func newContextUseCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "use CONTEXT",
		Short: "Set the current docker context",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			s := c.contexts()
			if name != defaultContext {
				if _, err := s.load(name); err != nil {
					return err
				}
			}
			if err := s.setCurrentContext(name); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, name)
			fmt.Fprintf(c.Err, "Current context is now %q\n", name)
			if name != defaultContext && (c.Getenv("DOCKER_HOST") != "" || c.Getenv("BERTH_HOST") != "") {
				fmt.Fprintf(c.Err, "Warning: DOCKER_HOST environment variable overrides the active context. To use %q, either set the global --context flag, or unset DOCKER_HOST environment variable.\n", name)
			}
			return nil
		},
	}
}

func newContextShowCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Print the name of the current context",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := c.CurrentContext()
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, name)
			return nil
		},
	}
}

// contextRow is one line of context ls.
type contextRow struct {
	Name           string
	Description    string
	DockerEndpoint string
	Current        bool
	Error          string
}

var contextHeader = map[string]string{"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT", "Current": "CURRENT", "Error": "ERROR"}

func (contextRow) Header() map[string]string { return contextHeader }

const contextLsFormat = "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"

func newContextLsCommand(c *CLI) *cobra.Command {
	var quiet bool
	var fmtFlag string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List contexts",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cur, err := c.CurrentContext()
			if err != nil {
				return err
			}
			metas, err := c.contexts().list()
			if err != nil {
				return err
			}
			rows := []format.Row{contextRow{Name: defaultContext, Description: defaultDescribed,
				DockerEndpoint: ResolveHost(c.host, c.Getenv), Current: cur == defaultContext}}
			for _, m := range metas {
				rows = append(rows, contextRow{Name: m.Name, Description: m.Metadata.Description,
					DockerEndpoint: m.Endpoints[dockerEndpoint].Host, Current: cur == m.Name})
			}
			f := fmtFlag
			switch {
			case quiet:
				f = "{{.Name}}"
			case f == "":
				f = contextLsFormat
			}
			return format.Write(c.Out, f, rows, contextHeader)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show context names")
	cmd.Flags().StringVar(&fmtFlag, "format", "", "Format output using a custom template")
	return cmd
}

func newContextRmCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm CONTEXT [CONTEXT...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more contexts",
		Args:    requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := c.contexts()
			cur, _ := s.currentContext()
			var errs []string
			for _, name := range args {
				if name == defaultContext {
					errs = append(errs, `default: context "default" cannot be removed`)
					continue
				}
				if name == cur && !force {
					errs = append(errs, fmt.Sprintf("%s: context %q is in use, set -f flag to force remove", name, name))
					continue
				}
				if err := s.remove(name); err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", name, err))
					continue
				}
				if name == cur {
					if err := s.setCurrentContext(defaultContext); err != nil {
						errs = append(errs, err.Error())
					}
				}
				fmt.Fprintln(c.Out, name)
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of a context in use")
	return cmd
}

// contextInspect is docker's context inspect object.
type contextInspect struct {
	Name        string
	Metadata    contextMetadata
	Endpoints   map[string]contextEndpoint
	TLSMaterial map[string][]string
	Storage     struct{ MetadataPath, TLSPath string }
}

func newContextInspectCommand(c *CLI) *cobra.Command {
	var fmtFlag string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] [CONTEXT] [CONTEXT...]",
		Short: "Display detailed information on one or more contexts",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				cur, err := c.CurrentContext()
				if err != nil {
					return err
				}
				args = []string{cur}
			}
			s := c.contexts()
			var out []any
			for _, name := range args {
				ci := contextInspect{Name: name, TLSMaterial: map[string][]string{}}
				if name == defaultContext {
					ci.Metadata = contextMetadata{Description: defaultDescribed}
					ci.Endpoints = map[string]contextEndpoint{dockerEndpoint: {Host: ResolveHost(c.host, c.Getenv)}}
					ci.Storage.MetadataPath, ci.Storage.TLSPath = "<IN MEMORY>", "<IN MEMORY>"
				} else {
					m, err := s.load(name)
					if err != nil {
						return err
					}
					ci.Metadata, ci.Endpoints = m.Metadata, m.Endpoints
					if files := s.tlsFiles(name); len(files) > 0 {
						ci.TLSMaterial[dockerEndpoint] = files
					}
					ci.Storage.MetadataPath, ci.Storage.TLSPath = s.metaDir(name), s.tlsDir(name)
				}
				out = append(out, ci)
			}
			if fmtFlag != "" {
				for _, o := range out {
					s, err := format.Execute(fmtFlag, o)
					if err != nil {
						return err
					}
					fmt.Fprintln(c.Out, s)
				}
				return nil
			}
			b, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, string(b))
			return nil
		},
	}
	cmd.Flags().StringVarP(&fmtFlag, "format", "f", "", "Format output using a custom template")
	return cmd
}

// contextForDisplay is the current context's name for info and version
// ("default" when it cannot be resolved).
func (c *CLI) contextForDisplay() string {
	if name, err := c.CurrentContext(); err == nil {
		return name
	}
	return defaultContext
}

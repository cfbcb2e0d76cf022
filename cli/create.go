package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/opts"
)

type createOptions struct {
	name     string
	platform string
	pull     string
	quiet    bool
	copts    *opts.ContainerOptions
}

// Values of --pull.
const (
	pullAlways  = "always"
	pullMissing = "missing"
	pullNever   = "never"
)

func newCreateCommand(c *CLI) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			setImageArgs(o.copts, args)
			return runCreate(cmd.Context(), c, cmd, &o)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	addCreateFlags(cmd, &o, "creating")
	return cmd
}

func addCreateFlags(cmd *cobra.Command, o *createOptions, verb string) {
	flags := cmd.Flags()
	flags.StringVar(&o.name, "name", "", "Assign a name to the container")
	flags.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	flags.StringVar(&o.pull, "pull", pullMissing, "Pull image before "+verb+` ("always", "missing", "never")`)
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the pull output")
	// An explicit --help without -h, which is --hostname here.
	flags.Bool("help", false, "Print usage")
	o.copts = opts.AddFlags(flags)
}

func setImageArgs(c *opts.ContainerOptions, args []string) {
	c.Image = args[0]
	if len(args) > 1 {
		c.Args = args[1:]
	}
}

// parseCreate validates the flags and builds the request; a failure is
// reported docker's way for run and create (exit 125).
func parseCreate(c *CLI, cmd *cobra.Command, o *createOptions) (*opts.ContainerConfig, error) {
	switch o.pull {
	case pullAlways, pullMissing, pullNever:
	default:
		c.reportError(cmd, fmt.Errorf(`invalid pull option: '%s': must be one of "always", "missing" or "never"`, o.pull), true)
		return nil, StatusError{StatusCode: 125}
	}
	cfg, err := opts.Parse(cmd.Flags(), o.copts)
	if err != nil {
		c.reportError(cmd, err, true)
		return nil, StatusError{StatusCode: 125}
	}
	return cfg, nil
}

// runCreate: as docker, a daemon error from create itself is printed
// plainly with exit 1; only bad flags are 125.
func runCreate(ctx context.Context, c *CLI, cmd *cobra.Command, o *createOptions) error {
	cfg, err := parseCreate(c, cmd, o)
	if err != nil {
		return err
	}
	id, err := createContainer(ctx, c, cfg, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Out, id)
	return nil
}

// reportError prints "berth: <err>" and, withHelp, the pointer to --help,
// as docker does for run and create.
func (c *CLI) reportError(cmd *cobra.Command, err error, withHelp bool) {
	msg := c.Name + ": " + err.Error()
	if withHelp {
		msg += "\n\nRun '" + cmd.CommandPath() + " --help' for more information"
	}
	fmt.Fprintln(c.Err, msg)
}

// createContainer sends the create request, as docker does: --cidfile is
// claimed first, --pull always pulls first, and an image the daemon lacks is
// pulled (with docker's "Unable to find image" line) and the create retried.
func createContainer(ctx context.Context, c *CLI, cfg *opts.ContainerConfig, o *createOptions) (_ string, retErr error) {
	cl, err := c.Client()
	if err != nil {
		return "", err
	}
	cid, err := newCIDFile(cfg.HostConfig.ContainerIDFile)
	if err != nil {
		return "", err
	}
	defer func() {
		if retErr != nil {
			cid.remove()
		}
	}()

	var platform *ocispec.Platform
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return "", err
		}
		platform = &p
	}
	// Like docker, tell the daemon the terminal's size up front so a TTY
	// process starts with it rather than waiting for the first resize.
	if fd, isTerm := c.outFd(); isTerm {
		if ws, err := term.GetWinsize(fd); err == nil {
			cfg.HostConfig.ConsoleSize = [2]uint{uint(ws.Height), uint(ws.Width)}
		}
	}
	ref, refErr := reference.ParseNormalizedNamed(cfg.Config.Image)
	if o.pull == pullAlways && refErr == nil {
		if err := pullImage(ctx, c, ref, platform, o.quiet); err != nil {
			return "", err
		}
	}
	create := func() (client.ContainerCreateResult, error) {
		return cl.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config:           cfg.Config,
			HostConfig:       cfg.HostConfig,
			NetworkingConfig: cfg.NetworkingConfig,
			Platform:         platform,
			Name:             o.name,
		})
	}
	res, err := create()
	if err != nil && cerrdefs.IsNotFound(err) && refErr == nil && o.pull == pullMissing {
		if !o.quiet {
			fmt.Fprintf(c.Err, "Unable to find image '%s' locally\n", reference.FamiliarString(reference.TagNameOnly(ref)))
		}
		if perr := pullImage(ctx, c, ref, platform, o.quiet); perr != nil {
			return "", perr
		}
		res, err = create()
	}
	if err != nil {
		return "", err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.Err, "WARNING: %s\n", w)
	}
	if err := cid.write(res.ID); err != nil {
		return "", err
	}
	return res.ID, nil
}

// pullImage pulls ref, printing the daemon's progress to stderr unless quiet.
func pullImage(ctx context.Context, c *CLI, ref reference.Named, platform *ocispec.Platform, quiet bool) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	options := client.ImagePullOptions{RegistryAuth: c.registryAuth(ref)}
	if platform != nil {
		options.Platforms = []ocispec.Platform{*platform}
	}
	resp, err := cl.ImagePull(ctx, reference.TagNameOnly(ref).String(), options)
	if err != nil {
		return err
	}
	defer resp.Close()
	out := io.Writer(c.Err)
	if quiet {
		out = io.Discard
	}
	fd, isTerm := term.GetFdInfo(c.Err)
	return jsonmessage.DisplayJSONMessagesStream(resp, out, fd, isTerm && !quiet, nil)
}

// cidFile is docker's --cidfile: claimed before create (refusing to reuse
// an existing file), filled with the ID after, removed if create fails.
type cidFile struct {
	path string
	f    *os.File
}

func newCIDFile(path string) (*cidFile, error) {
	if path == "" {
		return &cidFile{}, nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("failed to create the container ID file: %w", err)
	}
	return &cidFile{path: path, f: f}, nil
}

func (c *cidFile) write(id string) error {
	if c.f == nil {
		return nil
	}
	defer c.f.Close()
	if _, err := c.f.WriteString(id); err != nil {
		return fmt.Errorf("failed to write the container ID to the file: %w", err)
	}
	return nil
}

func (c *cidFile) remove() {
	if c == nil || c.f == nil {
		return
	}
	c.f.Close()
	os.Remove(c.path)
}

// parsePlatform parses os[/arch[/variant]].
func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return ocispec.Platform{}, errors.New("invalid platform: " + s)
	}
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}

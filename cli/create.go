package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/opts"
)

type createOptions struct {
	name     string
	platform string
	copts    *opts.ContainerOptions
}

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
	addCreateFlags(cmd, &o)
	return cmd
}

func addCreateFlags(cmd *cobra.Command, o *createOptions) {
	flags := cmd.Flags()
	flags.StringVar(&o.name, "name", "", "Assign a name to the container")
	flags.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
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

func runCreate(ctx context.Context, c *CLI, cmd *cobra.Command, o *createOptions) error {
	cfg, err := opts.Parse(cmd.Flags(), o.copts)
	if err != nil {
		c.reportError(cmd, err, true)
		return StatusError{StatusCode: 125}
	}
	id, err := createContainer(ctx, c, cfg, o)
	if err != nil {
		c.reportError(cmd, err, true)
		return StatusError{StatusCode: startErrorCode(err)}
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

// createContainer sends the create request. An image the daemon does not
// have gets docker's "Unable to find image" line before the daemon's error
// (berth has no pull yet).
func createContainer(ctx context.Context, c *CLI, cfg *opts.ContainerConfig, o *createOptions) (string, error) {
	cl, err := c.Client()
	if err != nil {
		return "", err
	}
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
	res, err := cl.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:           cfg.Config,
		HostConfig:       cfg.HostConfig,
		NetworkingConfig: cfg.NetworkingConfig,
		Platform:         platform,
		Name:             o.name,
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			if ref, perr := reference.ParseNormalizedNamed(cfg.Config.Image); perr == nil {
				fmt.Fprintf(c.Err, "Unable to find image '%s' locally\n", reference.FamiliarString(reference.TagNameOnly(ref)))
			}
		}
		return "", err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.Err, "WARNING: %s\n", w)
	}
	return res.ID, nil
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

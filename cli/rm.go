package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type rmOptions struct {
	force      bool
	volumes    bool
	link       bool
	containers []string
}

func newRmCommand(c *CLI) *cobra.Command {
	var o rmOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			return runRm(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	flags.BoolVarP(&o.volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	flags.BoolVarP(&o.link, "link", "l", false, "Remove the specified link")
	return cmd
}

func runRm(ctx context.Context, c *CLI, o *rmOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	return forEachName(ctx, c.Out, o.containers, func(ctx context.Context, name string) error {
		name = strings.Trim(name, "/")
		if name == "" {
			return errors.New("container name cannot be empty")
		}
		_, err := cl.ContainerRemove(ctx, name, client.ContainerRemoveOptions{
			RemoveVolumes: o.volumes,
			RemoveLinks:   o.link,
			Force:         o.force,
		})
		if err != nil && o.force && cerrdefs.IsNotFound(err) {
			// rm -f of a missing container reports it but does not fail.
			fmt.Fprintln(c.Err, err)
			return errSilent
		}
		return err
	})
}

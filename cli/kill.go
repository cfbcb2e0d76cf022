package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type killOptions struct {
	signal     string
	containers []string
}

func newKillCommand(c *CLI) *cobra.Command {
	var o killOptions
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			return runKill(cmd.Context(), c, &o)
		},
	}
	cmd.Flags().StringVarP(&o.signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func runKill(ctx context.Context, c *CLI, o *killOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	return forEachName(ctx, c.Out, o.containers, func(ctx context.Context, name string) error {
		_, err := cl.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: o.signal})
		return err
	})
}

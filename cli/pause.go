package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newPauseCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return forEachName(cmd.Context(), c.Out, args, func(ctx context.Context, name string) error {
				_, err := cl.ContainerPause(ctx, name, client.ContainerPauseOptions{})
				return err
			})
		},
	}
}

func newUnpauseCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return forEachName(cmd.Context(), c.Out, args, func(ctx context.Context, name string) error {
				_, err := cl.ContainerUnpause(ctx, name, client.ContainerUnpauseOptions{})
				return err
			})
		},
	}
}

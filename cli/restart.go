package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type restartOptions struct {
	signal     string
	timeout    int
	containers []string
}

func newRestartCommand(c *CLI) *cobra.Command {
	var o restartOptions
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			return runRestart(cmd.Context(), c, cmd, &o)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.signal, "signal", "s", "", "Signal to send to the container")
	flags.IntVarP(&o.timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	flags.IntVar(&o.timeout, "time", 0, "Seconds to wait before killing the container (deprecated: use --timeout)")
	_ = flags.MarkHidden("time")
	return cmd
}

func runRestart(ctx context.Context, c *CLI, cmd *cobra.Command, o *restartOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	var timeout *int
	if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
		timeout = &o.timeout
	}
	// docker restarts one at a time, in order.
	return forEachNameSerial(ctx, c, o.containers, func(ctx context.Context, name string) error {
		_, err := cl.ContainerRestart(ctx, name, client.ContainerRestartOptions{Signal: o.signal, Timeout: timeout})
		return err
	})
}

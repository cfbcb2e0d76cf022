package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type stopOptions struct {
	signal     string
	timeout    int
	containers []string
}

func newStopCommand(c *CLI) *cobra.Command {
	var o stopOptions
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			return runStop(cmd.Context(), c, cmd, &o)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.signal, "signal", "s", "", "Signal to send to the container")
	flags.IntVarP(&o.timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	flags.IntVar(&o.timeout, "time", 0, "Seconds to wait before killing the container (deprecated: use --timeout)")
	_ = flags.MarkHidden("time")
	return cmd
}

func runStop(ctx context.Context, c *CLI, cmd *cobra.Command, o *stopOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	var timeout *int
	if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
		timeout = &o.timeout
	}
	return forEachName(ctx, c.Out, o.containers, func(ctx context.Context, name string) error {
		_, err := cl.ContainerStop(ctx, name, client.ContainerStopOptions{Signal: o.signal, Timeout: timeout})
		return err
	})
}

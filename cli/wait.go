package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type waitOptions struct {
	containers []string
}

func newWaitCommand(c *CLI) *cobra.Command {
	var o waitOptions
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			return runWait(cmd.Context(), c, &o)
		},
	}
}

func runWait(ctx context.Context, c *CLI, o *waitOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	var failed []error
	for _, name := range o.containers {
		res := cl.ContainerWait(ctx, name, client.ContainerWaitOptions{})
		select {
		case r := <-res.Result:
			if r.Error != nil {
				failed = append(failed, errors.New(r.Error.Message))
				continue
			}
			fmt.Fprintf(c.Out, "%d\n", r.StatusCode)
		case err := <-res.Error:
			failed = append(failed, err)
		}
	}
	return joinErrors(failed)
}

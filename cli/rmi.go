package cli

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type rmiOptions struct {
	force   bool
	noPrune bool
	images  []string
}

func newRmiCommand(c *CLI) *cobra.Command {
	var o rmiOptions
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.images = args
			return runRmi(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.force, "force", "f", false, "Force removal of the image")
	flags.BoolVar(&o.noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func runRmi(ctx context.Context, c *CLI, o *rmiOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	var failed []error
	for _, img := range o.images {
		res, err := cl.ImageRemove(ctx, img, client.ImageRemoveOptions{Force: o.force, PruneChildren: !o.noPrune})
		if err != nil {
			failed = append(failed, err)
			continue
		}
		for _, d := range res.Items {
			if d.Untagged != "" {
				fmt.Fprintln(c.Out, "Untagged:", d.Untagged)
			}
			if d.Deleted != "" {
				fmt.Fprintln(c.Out, "Deleted:", d.Deleted)
			}
		}
	}
	return joinErrors(failed)
}

package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type tagOptions struct {
	source, target string
}

func newTagCommand(c *CLI) *cobra.Command {
	var o tagOptions
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.source, o.target = args[0], args[1]
			return runTag(cmd.Context(), c, &o)
		},
	}
}

func runTag(ctx context.Context, c *CLI, o *tagOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	_, err = cl.ImageTag(ctx, client.ImageTagOptions{Source: o.source, Target: o.target})
	return err
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type renameOptions struct {
	oldName, newName string
}

func newRenameCommand(c *CLI) *cobra.Command {
	var o renameOptions
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.oldName, o.newName = args[0], args[1]
			return runRename(cmd.Context(), c, &o)
		},
	}
}

func runRename(ctx context.Context, c *CLI, o *renameOptions) error {
	oldName, newName := strings.TrimSpace(o.oldName), strings.TrimSpace(o.newName)
	if oldName == "" || newName == "" {
		return errors.New("Error: Neither old nor new names may be empty")
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	if _, err := cl.ContainerRename(ctx, oldName, client.ContainerRenameOptions{NewName: newName}); err != nil {
		return fmt.Errorf("%w\nError: failed to rename container named %s", err, oldName)
	}
	return nil
}

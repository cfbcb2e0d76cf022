package cli

import (
	"context"
	"fmt"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/opts"
)

// newBuilderCommand is `berth builder ...`.
func newBuilderCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage builds",
		Args:  unknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { cmd.SetOut(c.Out); return cmd.Help() },
	}
	cmd.AddCommand(newBuildCommand(c), newBuilderPruneCommand(c))
	return cmd
}

type builderPruneOptions struct {
	pruneOptions
	all         bool
	keepStorage opts.MemBytes
}

// newBuilderPruneCommand is `berth builder prune`.
func newBuilderPruneCommand(c *CLI) *cobra.Command {
	o := builderPruneOptions{pruneOptions: pruneOptions{filter: newFilterOpt()}}
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuilderPrune(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	flags.Var(o.filter, "filter", `Provide filter values (e.g. "until=24h")`)
	flags.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(&o.keepStorage, "keep-storage", "Amount of disk space to keep for cache")
	return cmd
}

const (
	buildCacheWarning    = `WARNING! This will remove all dangling build cache. Are you sure you want to continue?`
	allBuildCacheWarning = `WARNING! This will remove all build cache. Are you sure you want to continue?`
)

func runBuilderPrune(ctx context.Context, c *CLI, o *builderPruneOptions) error {
	warning := buildCacheWarning
	if o.all {
		warning = allBuildCacheWarning
	}
	if !o.force && !c.confirm(warning) {
		return nil // docker 28 leaves quietly, status 0
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	res, err := cl.BuildCachePrune(ctx, client.BuildCachePruneOptions{
		All:           o.all,
		ReservedSpace: o.keepStorage.Value(),
		Filters:       o.filter.Value(),
	})
	if err != nil {
		return err
	}
	if len(res.Report.CachesDeleted) > 0 {
		var sb strings.Builder
		sb.WriteString("Deleted build cache objects:\n")
		for _, id := range res.Report.CachesDeleted {
			sb.WriteString(id + "\n")
		}
		fmt.Fprintln(c.Out, sb.String())
	}
	fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
	return nil
}

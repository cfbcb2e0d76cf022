package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type pruneOptions struct {
	force  bool
	filter *filterOpt
}

func newContainerPruneCommand(c *CLI) *cobra.Command {
	o := pruneOptions{filter: newFilterOpt()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runContainerPrune(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(o.filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

const containerPruneWarning = `WARNING! This will remove all stopped containers.
Are you sure you want to continue?`

func runContainerPrune(ctx context.Context, c *CLI, o *pruneOptions) error {
	if !o.force && !c.confirm(containerPruneWarning) {
		return nil // docker 28 leaves quietly, status 0
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	res, err := cl.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: o.filter.Value()})
	if err != nil {
		return err
	}
	if len(res.Report.ContainersDeleted) > 0 {
		fmt.Fprintln(c.Out, "Deleted Containers:")
		for _, id := range res.Report.ContainersDeleted {
			fmt.Fprintln(c.Out, id)
		}
		fmt.Fprintln(c.Out)
	}
	fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
	return nil
}

// confirm asks a yes/no question on the CLI's streams; only y/yes agrees.
func (c *CLI) confirm(question string) bool {
	fmt.Fprintf(c.Out, "%s [y/N] ", question)
	line, _ := bufio.NewReader(c.In).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

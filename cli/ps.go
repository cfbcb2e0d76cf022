package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

type psOptions struct {
	quiet   bool
	size    bool
	all     bool
	noTrunc bool
	latest  bool
	last    int
	format  string
	filter  *filterOpt
}

func newPsCommand(c *CLI) *cobra.Command {
	o := psOptions{filter: newFilterOpt()}
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPs(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Only display container IDs")
	flags.BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	flags.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&o.latest, "latest", "l", false, "Show the latest created container (includes all states)")
	flags.IntVarP(&o.last, "last", "n", -1, "Show n last created containers (includes all states)")
	flags.StringVar(&o.format, "format", "", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	flags.VarP(o.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

// psFormat picks the output template: -q wins, then --format, then the
// default table (with SIZE for -s).
func psFormat(o *psOptions) string {
	switch {
	case o.quiet:
		return format.QuietFmt
	case o.format == "" || o.format == format.TableKey:
		if o.size {
			return format.ContainerTableSize
		}
		return format.ContainerTable
	}
	return o.format
}

func runPs(ctx context.Context, c *CLI, o *psOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	f := psFormat(o)
	if f != format.JSONKey && !strings.HasPrefix(f, format.TableKey) {
		// docker's ps checks a custom template before asking the daemon.
		if _, err := format.Parse(f); err != nil {
			return fmt.Errorf("failed to parse template: %w", err)
		}
	}
	limit := o.last
	if o.latest && limit == -1 {
		limit = 1
	}
	res, err := cl.ContainerList(ctx, client.ContainerListOptions{
		All:     o.all,
		Limit:   limit,
		Size:    o.size || strings.Contains(f, ".Size"),
		Filters: o.filter.Value(),
	})
	if err != nil {
		return err
	}
	rows := make([]format.Row, 0, len(res.Items))
	for _, ctr := range res.Items {
		rows = append(rows, format.Container{C: ctr, Trunc: !o.noTrunc})
	}
	return format.Write(c.Out, f, rows, format.ContainerHeader)
}

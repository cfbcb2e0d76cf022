package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

type historyOptions struct {
	image   string
	human   bool
	quiet   bool
	noTrunc bool
	format  string
}

func newHistoryCommand(c *CLI) *cobra.Command {
	var o historyOptions
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.image = args[0]
			return runHistory(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.human, "human", "H", true, "Print sizes and dates in human readable format")
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.StringVar(&o.format, "format", "", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	return cmd
}

func runHistory(ctx context.Context, c *CLI, o *historyOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	res, err := cl.ImageHistory(ctx, o.image)
	if err != nil {
		return err
	}
	f := o.format
	switch {
	case o.quiet:
		f = format.QuietFmt
	case f == "" || f == format.TableKey:
		f = format.HistoryTable
	}
	rows := make([]format.Row, 0, len(res.Items))
	for _, h := range res.Items {
		rows = append(rows, format.History{H: h, Trunc: !o.noTrunc, Human: o.human})
	}
	return format.Write(c.Out, f, rows, format.HistoryHeader)
}

package cli

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

type imagesOptions struct {
	matchName string
	quiet     bool
	all       bool
	noTrunc   bool
	digests   bool
	format    string
	filter    *filterOpt
}

func newImagesCommand(c *CLI) *cobra.Command {
	o := imagesOptions{filter: newFilterOpt()}
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  requiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.matchName = args[0]
			}
			return runImages(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVarP(&o.all, "all", "a", false, "Show all images (default hides intermediate images)")
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVar(&o.digests, "digests", false, "Show digests")
	flags.StringVar(&o.format, "format", "", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	flags.VarP(o.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func imagesFormat(o *imagesOptions) string {
	switch {
	case o.quiet:
		return format.QuietFmt
	case o.format == "" || o.format == format.TableKey:
		if o.digests {
			return format.ImageTableDigests
		}
		return format.ImageTable
	}
	return o.format
}

func runImages(ctx context.Context, c *CLI, o *imagesOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	filters := o.filter.Value().Clone()
	if o.matchName != "" {
		filters.Add("reference", o.matchName)
	}
	res, err := cl.ImageList(ctx, client.ImageListOptions{All: o.all, Filters: filters})
	if err != nil {
		return err
	}
	rows := format.ImageRows(res.Items, !o.noTrunc, o.digests)
	return format.Write(c.Out, imagesFormat(o), rows, format.ImageHeader)
}

package cli

import (
	"context"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"
)

type importOptions struct {
	source    string
	reference string
	changes   []string
	message   string
	platform  string
}

func newImportCommand(c *CLI) *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 2 {
				return argsError(cmd, "requires at least 1 and at most 2 arguments")
			}
			o.source = args[0]
			if len(args) > 1 {
				o.reference = args[1]
			}
			return runImport(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&o.changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	flags.StringVarP(&o.message, "message", "m", "", "Set commit message for imported image")
	flags.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

// importSource is stdin for "-", a URL the daemon fetches, or a local file
// streamed to the daemon.
func importSource(c *CLI, src string) (client.ImageImportSource, func(), error) {
	switch {
	case src == "-":
		return client.ImageImportSource{Source: c.In, SourceName: "-"}, func() {}, nil
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		return client.ImageImportSource{SourceName: src}, func() {}, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return client.ImageImportSource{}, nil, err
	}
	return client.ImageImportSource{Source: f, SourceName: "-"}, func() { f.Close() }, nil
}

func runImport(ctx context.Context, c *CLI, o *importOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	source, done, err := importSource(c, o.source)
	if err != nil {
		return err
	}
	defer done()
	options := client.ImageImportOptions{Message: o.message, Changes: o.changes}
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return err
		}
		options.Platform = p
	}
	body, err := cl.ImageImport(ctx, source, o.reference, options)
	if err != nil {
		return err
	}
	defer body.Close()
	fd, isTerm := c.outFd()
	return jsonmessage.DisplayJSONMessagesStream(body, c.Out, fd, isTerm, nil)
}

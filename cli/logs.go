package cli

import (
	"context"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type logsOptions struct {
	follow     bool
	since      string
	until      string
	timestamps bool
	details    bool
	tail       string
	container  string
}

func newLogsCommand(c *CLI) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container = args[0]
			return runLogs(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.follow, "follow", "f", false, "Follow log output")
	flags.StringVar(&o.since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	flags.StringVar(&o.until, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	flags.BoolVarP(&o.timestamps, "timestamps", "t", false, "Show timestamps")
	flags.BoolVar(&o.details, "details", false, "Show extra details provided to logs")
	flags.StringVarP(&o.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	return cmd
}

func runLogs(ctx context.Context, c *CLI, o *logsOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	insp, err := cl.ContainerInspect(ctx, o.container, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	body, err := cl.ContainerLogs(ctx, insp.Container.ID, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Since:      o.since,
		Until:      o.until,
		Timestamps: o.timestamps,
		Follow:     o.follow,
		Tail:       o.tail,
		Details:    o.details,
	})
	if err != nil {
		return err
	}
	defer body.Close()
	if insp.Container.Config != nil && insp.Container.Config.Tty {
		_, err = io.Copy(c.Out, body)
	} else {
		_, err = stdcopy.StdCopy(c.Out, c.Err, body)
	}
	return err
}

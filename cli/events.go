package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

type eventsOptions struct {
	since  string
	until  string
	filter *filterOpt
	format string
}

func newEventsCommand(c *CLI) *cobra.Command {
	o := eventsOptions{filter: newFilterOpt()}
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&o.since, "since", "", "Show all events created since timestamp")
	flags.StringVar(&o.until, "until", "", "Stream events until this timestamp")
	flags.VarP(o.filter, "filter", "f", "Filter output based on conditions provided")
	flags.StringVar(&o.format, "format", "", "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates")
	return cmd
}

func runEvents(ctx context.Context, c *CLI, o *eventsOptions) error {
	var tmpl *template.Template
	if o.format != "" {
		f := o.format
		if f == "json" {
			f = "{{json .}}"
		}
		t, err := format.Parse(f)
		if err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		tmpl = t
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := cl.Events(ctx, client.EventsListOptions{Since: o.since, Until: o.until, Filters: o.filter.Value()})
	for {
		select {
		case m := <-res.Messages:
			if err := printEvent(c.Out, m, tmpl); err != nil {
				return err
			}
		case err := <-res.Err:
			if err == nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// printEvent writes one event as docker events does: the template's
// output, or "<time> <type> <action> <id> (k=v, ...)" with the attributes
// sorted by key and the time in RFC 3339 with nanoseconds.
func printEvent(out io.Writer, m events.Message, tmpl *template.Template) error {
	if tmpl != nil {
		if err := tmpl.Execute(out, m); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out)
		return err
	}
	var b strings.Builder
	switch {
	case m.TimeNano != 0:
		b.WriteString(time.Unix(0, m.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00") + " ")
	case m.Time != 0:
		b.WriteString(time.Unix(m.Time, 0).Format("2006-01-02T15:04:05.000000000Z07:00") + " ")
	}
	fmt.Fprintf(&b, "%s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]string, len(keys))
		for i, k := range keys {
			attrs[i] = k + "=" + m.Actor.Attributes[k]
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(attrs, ", "))
	}
	b.WriteString("\n")
	_, err := io.WriteString(out, b.String())
	return err
}

package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

// newVolumeCommand is `berth volume ...`.
func newVolumeCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume COMMAND",
		Short: "Manage volumes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(c.Out)
			return cmd.Help()
		},
	}
	cmd.AddCommand(newVolumeCreateCommand(c), newVolumeLsCommand(c), newVolumeInspectCommand(c),
		newVolumeRmCommand(c), newVolumePruneCommand(c))
	return cmd
}

// kvFlag collects repeated key=value flags (--label, --opt).
type kvFlag struct{ m map[string]string }

func (f *kvFlag) String() string { return "" }
func (f *kvFlag) Type() string   { return "map" }
func (f *kvFlag) Set(v string) error {
	k, val, _ := strings.Cut(v, "=")
	if f.m == nil {
		f.m = map[string]string{}
	}
	f.m[k] = val
	return nil
}

type volumeCreateOptions struct {
	name   string
	driver string
	labels kvFlag
	opts   kvFlag
}

func newVolumeCreateCommand(c *CLI) *cobra.Command {
	var o volumeCreateOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  requiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if o.name != "" {
					return StatusError{Status: "conflicting options: cannot specify a volume-name through both --name and as a positional arg", StatusCode: 1}
				}
				o.name = args[0]
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.VolumeCreate(cmd.Context(), client.VolumeCreateOptions{Name: o.name, Driver: o.driver, DriverOpts: o.opts.m, Labels: o.labels.m})
			if err != nil {
				return err
			}
			c.println(res.Volume.Name)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.driver, "driver", "d", "local", "Specify volume driver name")
	flags.StringVar(&o.name, "name", "", "Specify volume name")
	_ = flags.MarkHidden("name")
	flags.Var(&o.labels, "label", "Set metadata for a volume")
	flags.VarP(&o.opts, "opt", "o", "Set driver specific options")
	return cmd
}

// volumeRow is one `volume ls` row.
type volumeRow struct{ V volume.Volume }

var volumeHeader = map[string]string{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
	"Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT",
}

const volumeTable = "table {{.Driver}}\t{{.Name}}"

func (v volumeRow) Header() map[string]string { return volumeHeader }
func (v volumeRow) Name() string              { return v.V.Name }
func (v volumeRow) Driver() string            { return v.V.Driver }
func (v volumeRow) Scope() string             { return v.V.Scope }
func (v volumeRow) Mountpoint() string        { return v.V.Mountpoint }
func (v volumeRow) CreatedAt() string         { return v.V.CreatedAt }
func (v volumeRow) Label(name string) string  { return v.V.Labels[name] }
func (v volumeRow) Labels() string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(v.V.Labels)) {
		kv = append(kv, k+"="+v.V.Labels[k])
	}
	return strings.Join(kv, ",")
}
func (v volumeRow) Links() string {
	if v.V.UsageData == nil {
		return "N/A"
	}
	return fmt.Sprint(v.V.UsageData.RefCount)
}
func (v volumeRow) Size() string {
	if v.V.UsageData == nil || v.V.UsageData.Size < 0 {
		return "N/A"
	}
	return units.HumanSize(float64(v.V.UsageData.Size))
}

type volumeLsOptions struct {
	quiet  bool
	format string
	filter *filterOpt
}

func newVolumeLsCommand(c *CLI) *cobra.Command {
	o := volumeLsOptions{filter: newFilterOpt()}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.VolumeList(cmd.Context(), client.VolumeListOptions{Filters: o.filter.Value()})
			if err != nil {
				return err
			}
			vols := slices.Clone(res.Items)
			slices.SortFunc(vols, func(a, b volume.Volume) int { return strings.Compare(a.Name, b.Name) })
			rows := make([]format.Row, 0, len(vols))
			for _, v := range vols {
				rows = append(rows, volumeRow{V: v})
			}
			f := o.format
			switch {
			case o.quiet:
				f = "{{.Name}}"
			case f == "" || f == format.TableKey:
				f = volumeTable
			}
			return format.Write(c.Out, f, rows, volumeHeader)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Only display volume names")
	flags.StringVar(&o.format, "format", "", "Format output using a custom template")
	flags.VarP(o.filter, "filter", "f", `Provide filter values (e.g. "dangling=true")`)
	return cmd
}

func newVolumeInspectCommand(c *CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return inspectAll(cmd.Context(), c.Out, tmpl, args, func(ctx context.Context, ref string) (inspected, error) {
				r, err := cl.VolumeInspect(ctx, ref, client.VolumeInspectOptions{})
				return inspected{typed: r.Volume, raw: r.Raw}, err
			})
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newVolumeRmCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return forEachNameSerial(cmd.Context(), c, args, func(ctx context.Context, name string) error {
				_, err := cl.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: force})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

const (
	volumePruneWarning    = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
	volumePruneAllWarning = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
)

func newVolumePruneCommand(c *CLI) *cobra.Command {
	o := pruneOptions{filter: newFilterOpt()}
	var all bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warning := volumePruneWarning
			if all {
				warning = volumePruneAllWarning
			}
			if !o.force && !c.confirm(warning) {
				return nil
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.VolumePrune(cmd.Context(), client.VolumePruneOptions{All: all, Filters: o.filter.Value()})
			if err != nil {
				return err
			}
			if len(res.Report.VolumesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Volumes:")
				for _, n := range res.Report.VolumesDeleted {
					fmt.Fprintln(c.Out, n)
				}
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	flags.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(o.filter, "filter", `Provide filter values (e.g. "label=<label>")`)
	return cmd
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// rawAPI makes a request the Go client has no method for (berth's own
// fields and endpoints), over the client's own connection.
func rawAPI(ctx context.Context, cl *client.Client, method, path string, out any) error {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return cl.Dialer()(ctx)
	}}}
	req, err := http.NewRequestWithContext(ctx, method, "http://berth"+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var m struct{ Message string }
		_ = json.Unmarshal(b, &m)
		return fmt.Errorf("Error response from daemon: %s", m.Message)
	}
	return json.Unmarshal(b, out)
}

func newSystemDfCommand(c *CLI) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show berth disk usage (with container logs, which docker leaves out)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSystemDf(cmd.Context(), c, verbose)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	return cmd
}

func pct(part, total int64) string {
	if total <= 0 {
		return units.HumanSize(float64(part))
	}
	return fmt.Sprintf("%s (%d%%)", units.HumanSize(float64(part)), part*100/total)
}

func runSystemDf(ctx context.Context, c *CLI, verbose bool) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	du, err := cl.DiskUsage(ctx, client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: verbose})
	if err != nil {
		return err
	}
	var extra struct{ LogsSize int64 }
	_ = rawAPI(ctx, cl, http.MethodGet, "/system/df?type=container", &extra)
	logFiles := len(du.Containers.Items)
	tw := tabwriter.NewWriter(c.Out, 0, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
	fmt.Fprintf(tw, "Images\t%d\t%d\t%s\t%s\n", du.Images.TotalCount, du.Images.ActiveCount, units.HumanSize(float64(du.Images.TotalSize)), pct(du.Images.Reclaimable, du.Images.TotalSize))
	fmt.Fprintf(tw, "Containers\t%d\t%d\t%s\t%s\n", du.Containers.TotalCount, du.Containers.ActiveCount, units.HumanSize(float64(du.Containers.TotalSize)), pct(du.Containers.Reclaimable, du.Containers.TotalSize))
	fmt.Fprintf(tw, "Local Volumes\t%d\t%d\t%s\t%s\n", du.Volumes.TotalCount, du.Volumes.ActiveCount, units.HumanSize(float64(du.Volumes.TotalSize)), pct(du.Volumes.Reclaimable, du.Volumes.TotalSize))
	fmt.Fprintf(tw, "Build Cache\t%d\t%d\t%s\t%s\n", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, units.HumanSize(float64(du.BuildCache.TotalSize)), units.HumanSize(float64(du.BuildCache.Reclaimable)))
	fmt.Fprintf(tw, "Container Logs\t%d\t%d\t%s\t%s\n", logFiles, du.Containers.ActiveCount, units.HumanSize(float64(extra.LogsSize)), units.HumanSize(float64(extra.LogsSize)))
	if err := tw.Flush(); err != nil {
		return err
	}
	if !verbose {
		return nil
	}
	fmt.Fprint(c.Out, "\nImages space usage:\n\n")
	tw = tabwriter.NewWriter(c.Out, 0, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS")
	for _, im := range du.Images.Items {
		repo, tag := "<none>", "<none>"
		if len(im.RepoTags) > 0 {
			i := strings.LastIndex(im.RepoTags[0], ":")
			repo, tag = im.RepoTags[0][:i], im.RepoTags[0][i+1:]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", repo, tag, strings.TrimPrefix(im.ID, "sha256:")[:12],
			units.HumanSize(float64(im.Size)), units.HumanSize(float64(im.SharedSize)), units.HumanSize(float64(im.Size-im.SharedSize)), im.Containers)
	}
	tw.Flush()
	fmt.Fprint(c.Out, "\nContainers space usage:\n\n")
	tw = tabwriter.NewWriter(c.Out, 0, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tSIZE\tSTATUS\tNAMES")
	for _, ct := range du.Containers.Items {
		name := ""
		if len(ct.Names) > 0 {
			name = strings.TrimPrefix(ct.Names[0], "/")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ct.ID[:12], ct.Image, units.HumanSize(float64(ct.SizeRw)), ct.Status, name)
	}
	tw.Flush()
	fmt.Fprint(c.Out, "\nLocal Volumes space usage:\n\n")
	tw = tabwriter.NewWriter(c.Out, 0, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "VOLUME NAME\tLINKS\tSIZE")
	for _, v := range du.Volumes.Items {
		var links, size int64 = 0, -1
		if v.UsageData != nil {
			links, size = v.UsageData.RefCount, v.UsageData.Size
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", v.Name, links, units.HumanSize(float64(size)))
	}
	tw.Flush()
	fmt.Fprintf(c.Out, "\nBuild cache usage: %s\n", units.HumanSize(float64(du.BuildCache.TotalSize)))
	return nil
}

func newSystemPruneCommand(c *CLI) *cobra.Command {
	o := pruneOptions{filter: newFilterOpt()}
	var all, volumes bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSystemPrune(cmd.Context(), c, &o, all, volumes)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	flags.BoolVar(&volumes, "volumes", false, "Prune anonymous volumes")
	flags.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(o.filter, "filter", `Provide filter values (e.g. "label=<key>=<value>")`)
	return cmd
}

func runSystemPrune(ctx context.Context, c *CLI, o *pruneOptions, all, volumes bool) error {
	warn := "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
	if volumes {
		warn += "  - all anonymous volumes not used by at least one container\n"
	}
	if all {
		warn += "  - all images without at least one container associated to them\n"
	} else {
		warn += "  - all dangling images\n"
	}
	warn += "  - unused build cache\n\nAre you sure you want to continue?"
	if !o.force && !c.confirm(warn) {
		return nil
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	var total uint64
	cr, err := cl.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: o.filter.Value()})
	if err != nil {
		return err
	}
	section(c, "Deleted Containers:", cr.Report.ContainersDeleted)
	total += cr.Report.SpaceReclaimed
	if nr, err := cl.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: o.filter.Value()}); err == nil {
		section(c, "Deleted Networks:", nr.Report.NetworksDeleted)
	}
	if volumes {
		vr, err := cl.VolumePrune(ctx, client.VolumePruneOptions{Filters: o.filter.Value()})
		if err != nil {
			return err
		}
		section(c, "Deleted Volumes:", vr.Report.VolumesDeleted)
		total += vr.Report.SpaceReclaimed
	}
	// The build cache (builder prune, -a when all, same filters) goes
	// before the images: berth's cache steps are images, and pruning the
	// images first would remove them under the cache, which would then
	// report nothing. Sections print in docker's order.
	br, err := cl.BuildCachePrune(ctx, client.BuildCachePruneOptions{All: all, Filters: o.filter.Value().Clone()})
	if err != nil {
		return err
	}
	ir, err := cl.ImagePrune(ctx, client.ImagePruneOptions{Filters: o.filter.Value().Clone().Add("dangling", fmt.Sprint(!all))})
	if err != nil {
		return err
	}
	var imgs []string
	for _, d := range ir.Report.ImagesDeleted {
		if d.Untagged != "" {
			imgs = append(imgs, "untagged: "+d.Untagged)
		} else {
			imgs = append(imgs, "deleted: "+d.Deleted)
		}
	}
	section(c, "Deleted Images:", imgs)
	total += ir.Report.SpaceReclaimed
	section(c, "Deleted build cache objects:", br.Report.CachesDeleted)
	total += br.Report.SpaceReclaimed
	fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(total)))
	return nil
}

func section(c *CLI, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintln(c.Out, title)
	for _, it := range items {
		fmt.Fprintln(c.Out, it)
	}
	fmt.Fprintln(c.Out)
}

func newSystemCheckCommand(c *CLI) *cobra.Command {
	var repair bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "check [OPTIONS]",
		Short: "Check the image and layer store for orphans and missing content (berth)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var rep struct {
				Problems []struct {
					Kind, Path string
					Bytes      int64
					Repaired   bool
				}
				LayerBytes, SnapshotBytes int64
			}
			q := fmt.Sprintf("/system/check?grace=%s&repair=%t", grace, repair)
			if err := rawAPI(cmd.Context(), cl, http.MethodPost, q, &rep); err != nil {
				return err
			}
			for _, p := range rep.Problems {
				state := ""
				if p.Repaired {
					state = " (removed)"
				}
				fmt.Fprintf(c.Out, "%s: %s, %s%s\n", p.Kind, p.Path, units.HumanSize(float64(p.Bytes)), state)
			}
			fmt.Fprintf(c.Out, "layers: %s accounted for, %s on disk in snapshots\n",
				units.HumanSize(float64(rep.LayerBytes)), units.HumanSize(float64(rep.SnapshotBytes)))
			if len(rep.Problems) == 0 {
				fmt.Fprintln(c.Out, "store consistent")
				return nil
			}
			if !repair {
				return StatusError{Status: fmt.Sprintf("%d problems found; run with --repair to fix", len(rep.Problems)), StatusCode: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "Remove orphans")
	cmd.Flags().DurationVar(&grace, "grace", time.Minute, "Ignore entries younger than this (they may belong to an operation in progress)")
	return cmd
}

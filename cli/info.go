package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

type infoOptions struct {
	format string
}

// infoView is what `info --format` sees: the daemon's Info fields at the
// top level (.ServerVersion, .Containers), plus .ClientInfo and .ServerErrors.
type infoView struct {
	*system.Info
	ClientInfo   clientInfo
	ServerErrors []string `json:",omitempty"`
}

type clientInfo struct {
	Version string
	Context string
	Debug   bool
}

func newInfoCommand(c *CLI) *cobra.Command {
	var o infoOptions
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInfo(cmd.Context(), c, &o)
		},
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	return cmd
}

func runInfo(ctx context.Context, c *CLI, o *infoOptions) error {
	view := infoView{ClientInfo: clientInfo{Version: Version, Context: c.contextForDisplay()}}
	cl, err := c.Client()
	if err == nil {
		var res client.SystemInfoResult
		res, err = cl.Info(ctx, client.InfoOptions{})
		if err == nil {
			view.Info = &res.Info
		}
	}
	if err != nil {
		view.ServerErrors = append(view.ServerErrors, err.Error())
	}

	if o.format != "" {
		tmpl := o.format
		if tmpl == "json" {
			tmpl = "{{json .}}"
		}
		if view.Info == nil {
			view.Info = &system.Info{}
		}
		s, terr := format.Execute(tmpl, view)
		if terr != nil {
			return fmt.Errorf("template parsing error: %w", terr)
		}
		fmt.Fprintln(c.Out, s)
		return err
	}

	fmt.Fprintln(c.Out, "Client:")
	fmt.Fprintf(c.Out, " Version:    %s\n", Version)
	fmt.Fprintf(c.Out, " Context:    %s\n", view.ClientInfo.Context)
	fmt.Fprintf(c.Out, " Debug Mode: false\n")
	fmt.Fprintln(c.Out)
	fmt.Fprintln(c.Out, "Server:")
	if view.Info == nil {
		for _, e := range view.ServerErrors {
			fmt.Fprintln(c.Err, e)
		}
		return StatusError{StatusCode: 1}
	}
	writeInfo(c, view.Info)
	return nil
}

func writeInfo(c *CLI, i *system.Info) {
	p := func(indent int, key string, v any) {
		fmt.Fprintf(c.Out, "%s%s: %v\n", strings.Repeat(" ", indent), key, v)
	}
	p(1, "Containers", i.Containers)
	p(2, "Running", i.ContainersRunning)
	p(2, "Paused", i.ContainersPaused)
	p(2, "Stopped", i.ContainersStopped)
	p(1, "Images", i.Images)
	p(1, "Server Version", i.ServerVersion)
	p(1, "Storage Driver", i.Driver)
	for _, kv := range i.DriverStatus {
		p(2, kv[0], kv[1])
	}
	p(1, "Logging Driver", i.LoggingDriver)
	p(1, "Cgroup Driver", i.CgroupDriver)
	if i.CgroupVersion != "" {
		p(1, "Cgroup Version", i.CgroupVersion)
	}
	fmt.Fprintln(c.Out, " Plugins:")
	p(2, "Volume", strings.Join(i.Plugins.Volume, " "))
	p(2, "Network", strings.Join(i.Plugins.Network, " "))
	if len(i.Plugins.Authorization) > 0 {
		p(2, "Authorization", strings.Join(i.Plugins.Authorization, " "))
	}
	p(2, "Log", strings.Join(i.Plugins.Log, " "))
	p(1, "Swarm", i.Swarm.LocalNodeState)
	if st := i.Swarm.LocalNodeState; st != "inactive" && st != "locked" {
		p(2, "NodeID", i.Swarm.NodeID)
		p(2, "Is Manager", i.Swarm.ControlAvailable)
		p(2, "Node Address", i.Swarm.NodeAddr)
	}
	var runtimes []string
	for name := range i.Runtimes {
		runtimes = append(runtimes, name)
	}
	sort.Strings(runtimes)
	p(1, "Runtimes", strings.Join(runtimes, " "))
	p(1, "Default Runtime", i.DefaultRuntime)
	p(1, "Init Binary", i.InitBinary)
	p(1, "containerd version", i.ContainerdCommit.ID)
	p(1, "runc version", i.RuncCommit.ID)
	p(1, "init version", i.InitCommit.ID)
	if len(i.SecurityOptions) > 0 {
		fmt.Fprintln(c.Out, " Security Options:")
		for _, o := range i.SecurityOptions {
			fmt.Fprintf(c.Out, "  %s\n", o)
		}
	}
	p(1, "Kernel Version", i.KernelVersion)
	p(1, "Operating System", i.OperatingSystem)
	p(1, "OSType", i.OSType)
	p(1, "Architecture", i.Architecture)
	p(1, "CPUs", i.NCPU)
	p(1, "Total Memory", units.BytesSize(float64(i.MemTotal)))
	p(1, "Name", i.Name)
	p(1, "ID", i.ID)
	p(1, "Docker Root Dir", i.DockerRootDir)
	p(1, "Debug Mode", i.Debug)
	p(1, "Experimental", i.ExperimentalBuild)
	p(1, "Live Restore Enabled", i.LiveRestoreEnabled)
	fmt.Fprintln(c.Out)
	for _, w := range i.Warnings {
		fmt.Fprintln(c.Err, w)
	}
}

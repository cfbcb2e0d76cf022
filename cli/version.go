package cli

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"text/tabwriter"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

type versionOptions struct {
	format string
}

// clientVersion and serverVersion are what `version --format` sees as
// .Client and .Server.
type clientVersion struct {
	Platform   struct{ Name string }
	Version    string
	APIVersion string `json:"ApiVersion"`
	GoVersion  string
	GitCommit  string
	BuildTime  string `json:"BuildTime,omitempty"`
	Os         string
	Arch       string
}

type serverVersion struct {
	Platform      struct{ Name string }
	Version       string
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:"MinAPIVersion,omitempty"`
	GitCommit     string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string `json:",omitempty"`
	BuildTime     string `json:",omitempty"`
	Experimental  bool
	Components    []system.ComponentVersion
}

type versionInfo struct {
	Client clientVersion
	Server *serverVersion
}

func newVersionCommand(c *CLI) *cobra.Command {
	var o versionOptions
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Docker version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.Context(), c, &o)
		},
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	return cmd
}

func runVersion(ctx context.Context, c *CLI, o *versionOptions) error {
	info := versionInfo{Client: clientVersion{
		Version:   Version,
		GoVersion: runtime.Version(),
		GitCommit: GitCommit,
		BuildTime: BuildTime,
		Os:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}}
	info.Client.Platform.Name = "berth"

	cl, err := c.Client()
	var serverErr error
	if err != nil {
		serverErr = err
	} else {
		sv, err := cl.ServerVersion(ctx, client.ServerVersionOptions{})
		if err != nil {
			serverErr = err
		} else {
			info.Server = toServerVersion(sv)
		}
		info.Client.APIVersion = cl.ClientVersion()
	}

	tmpl := o.format
	if tmpl == "json" {
		tmpl = "{{json .}}"
	}
	if tmpl != "" {
		s, err := format.Execute(tmpl, info)
		if err != nil {
			if serverErr != nil {
				// As docker: the failure to reach the daemon, not the
				// template's nil .Server.
				return serverErr
			}
			return fmt.Errorf("template parsing error: %w", err)
		}
		fmt.Fprintln(c.Out, s)
		return serverErr
	}
	writeVersion(c, info)
	return serverErr
}

func toServerVersion(sv client.ServerVersionResult) *serverVersion {
	s := &serverVersion{
		Version:       sv.Version,
		APIVersion:    sv.APIVersion,
		MinAPIVersion: sv.MinAPIVersion,
		Os:            sv.Os,
		Arch:          sv.Arch,
		Experimental:  sv.Experimental,
		Components:    sv.Components,
	}
	s.Platform.Name = sv.Platform.Name
	for _, comp := range sv.Components {
		if comp.Name != "Engine" {
			continue
		}
		s.GitCommit = comp.Details["GitCommit"]
		s.GoVersion = comp.Details["GoVersion"]
		s.KernelVersion = comp.Details["KernelVersion"]
		s.BuildTime = comp.Details["BuildTime"]
	}
	return s
}

func writeVersion(c *CLI, v versionInfo) {
	tw := tabwriter.NewWriter(c.Out, 20, 1, 1, ' ', 0)
	fmt.Fprintln(tw, "Client:")
	fmt.Fprintf(tw, " Version:\t%s\n", v.Client.Version)
	fmt.Fprintf(tw, " API version:\t%s\n", v.Client.APIVersion)
	fmt.Fprintf(tw, " Go version:\t%s\n", v.Client.GoVersion)
	fmt.Fprintf(tw, " Git commit:\t%s\n", v.Client.GitCommit)
	if v.Client.BuildTime != "" {
		fmt.Fprintf(tw, " Built:\t%s\n", v.Client.BuildTime)
	}
	fmt.Fprintf(tw, " OS/Arch:\t%s/%s\n", v.Client.Os, v.Client.Arch)
	fmt.Fprintf(tw, " Context:\t%s\n", c.contextForDisplay())
	if s := v.Server; s != nil {
		fmt.Fprintln(tw)
		fmt.Fprintf(tw, "Server: %s\n", s.Platform.Name)
		comps := append([]system.ComponentVersion(nil), s.Components...)
		sort.SliceStable(comps, func(i, j int) bool { return comps[i].Name == "Engine" && comps[j].Name != "Engine" })
		if len(comps) == 0 {
			comps = []system.ComponentVersion{{Name: "Engine", Version: s.Version}}
		}
		for _, comp := range comps {
			fmt.Fprintf(tw, " %s:\n", comp.Name)
			fmt.Fprintf(tw, "  Version:\t%s\n", comp.Version)
			if comp.Name == "Engine" {
				api := s.APIVersion
				if s.MinAPIVersion != "" {
					api += " (minimum version " + s.MinAPIVersion + ")"
				}
				fmt.Fprintf(tw, "  API version:\t%s\n", api)
				fmt.Fprintf(tw, "  Go version:\t%s\n", s.GoVersion)
				fmt.Fprintf(tw, "  Git commit:\t%s\n", s.GitCommit)
				fmt.Fprintf(tw, "  Built:\t%s\n", s.BuildTime)
				fmt.Fprintf(tw, "  OS/Arch:\t%s/%s\n", s.Os, s.Arch)
				fmt.Fprintf(tw, "  Experimental:\t%t\n", s.Experimental)
				continue
			}
			keys := make([]string, 0, len(comp.Details))
			for k := range comp.Details {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(tw, "  %s:\t%s\n", k, comp.Details[k])
			}
		}
	}
	_ = tw.Flush()
}

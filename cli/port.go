package cli

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newPortCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  requiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			var ports network.PortMap
			if ns := res.Container.NetworkSettings; ns != nil {
				ports = ns.Ports
			}
			out, err := portLines(ports, args[0], args[1:])
			if err != nil {
				return err
			}
			if len(out) > 0 {
				fmt.Fprintln(c.Out, strings.Join(out, "\n"))
			}
			return nil
		},
	}
}

// portLines is docker port's output: every mapping ("80/tcp ->
// 0.0.0.0:8080"), or the host addresses of one private port.
func portLines(ports network.PortMap, ctr string, want []string) ([]string, error) {
	var out []string
	if len(want) == 1 {
		port, proto, _ := strings.Cut(want[0], "/")
		if proto == "" {
			proto = "tcp"
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil, fmt.Errorf("Error: invalid port (%s): %w", port, err)
		}
		var fronts []network.PortBinding
		for p, f := range ports {
			if p.String() == port+"/"+proto {
				fronts = f
			}
		}
		if len(fronts) == 0 {
			return nil, fmt.Errorf("Error: No public port '%s' published for %s", want[0], ctr)
		}
		for _, f := range fronts {
			out = append(out, net.JoinHostPort(hostIP(f), f.HostPort))
		}
	} else {
		for p, fronts := range ports {
			for _, f := range fronts {
				out = append(out, fmt.Sprintf("%s -> %s", p, net.JoinHostPort(hostIP(f), f.HostPort)))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func hostIP(b network.PortBinding) string {
	if !b.HostIP.IsValid() {
		return ""
	}
	return b.HostIP.String()
}

package cli

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

// newNetworkCommand is `berth network ...`.
func newNetworkCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network COMMAND",
		Short: "Manage networks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(c.Out)
			return cmd.Help()
		},
	}
	cmd.AddCommand(newNetworkCreateCommand(c), newNetworkLsCommand(c), newNetworkInspectCommand(c),
		newNetworkRmCommand(c), newNetworkPruneCommand(c), newNetworkConnectCommand(c), newNetworkDisconnectCommand(c))
	return cmd
}

type networkCreateOptions struct {
	driver, ipamDriver         string
	subnets, ipRanges, gws     []string
	internal, attachable, ipv6 bool
	labels, opts               kvFlag
}

func newNetworkCreateCommand(c *CLI) *cobra.Command {
	var o networkCreateOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ipam, err := o.ipam()
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			copts := client.NetworkCreateOptions{Driver: o.driver, IPAM: ipam, Internal: o.internal, Attachable: o.attachable,
				Options: o.opts.m, Labels: o.labels.m}
			if cmd.Flags().Changed("ipv6") {
				copts.EnableIPv6 = &o.ipv6
			}
			res, err := cl.NetworkCreate(cmd.Context(), args[0], copts)
			if err != nil {
				return err
			}
			c.println(res.ID)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.driver, "driver", "d", "bridge", "Driver to manage the Network")
	flags.StringVar(&o.ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	flags.StringSliceVar(&o.subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	flags.StringSliceVar(&o.ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	flags.StringSliceVar(&o.gws, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	flags.BoolVar(&o.internal, "internal", false, "Restrict external access to the network")
	flags.BoolVar(&o.attachable, "attachable", false, "Enable manual container attachment")
	flags.BoolVar(&o.ipv6, "ipv6", false, "Enable or disable IPv6 networking")
	flags.Var(&o.labels, "label", "Set metadata on a network")
	flags.VarP(&o.opts, "opt", "o", "Set driver specific options")
	return cmd
}

// ipam pairs --subnet with the --ip-range and --gateway inside it, as the
// docker CLI does.
func (o *networkCreateOptions) ipam() (*network.IPAM, error) {
	ipam := &network.IPAM{Driver: o.ipamDriver, Config: []network.IPAMConfig{}}
	for _, s := range o.subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet %s: %w", s, err)
		}
		ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: p})
	}
	find := func(a netip.Addr, what, v string) (*network.IPAMConfig, error) {
		for i := range ipam.Config {
			if ipam.Config[i].Subnet.Contains(a) {
				return &ipam.Config[i], nil
			}
		}
		return nil, fmt.Errorf("no matching subnet for %s %s", what, v)
	}
	for _, r := range o.ipRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid ip-range %s: %w", r, err)
		}
		cfg, err := find(p.Addr(), "range", r)
		if err != nil {
			return nil, err
		}
		cfg.IPRange = p
	}
	for _, g := range o.gws {
		a, err := netip.ParseAddr(g)
		if err != nil {
			return nil, fmt.Errorf("invalid gateway %s: %w", g, err)
		}
		cfg, err := find(a, "gateway", g)
		if err != nil {
			return nil, err
		}
		cfg.Gateway = a
	}
	return ipam, nil
}

type networkRow struct{ N network.Summary }

var networkHeader = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
	"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}

const networkTable = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

func (n networkRow) Header() map[string]string { return networkHeader }
func (n networkRow) ID() string                { return n.N.ID[:min(12, len(n.N.ID))] }
func (n networkRow) Name() string              { return n.N.Name }
func (n networkRow) Driver() string            { return n.N.Driver }
func (n networkRow) Scope() string             { return n.N.Scope }
func (n networkRow) IPv4() string              { return fmt.Sprint(n.N.EnableIPv4) }
func (n networkRow) IPv6() string              { return fmt.Sprint(n.N.EnableIPv6) }
func (n networkRow) Internal() string          { return fmt.Sprint(n.N.Internal) }
func (n networkRow) CreatedAt() string         { return n.N.Created.Format("2006-01-02 15:04:05 -0700 MST") }
func (n networkRow) Label(name string) string  { return n.N.Labels[name] }
func (n networkRow) Labels() string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(n.N.Labels)) {
		kv = append(kv, k+"="+n.N.Labels[k])
	}
	return strings.Join(kv, ",")
}

func newNetworkLsCommand(c *CLI) *cobra.Command {
	var quiet, noTrunc bool
	var tmpl string
	filter := newFilterOpt()
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.NetworkList(cmd.Context(), client.NetworkListOptions{Filters: filter.Value()})
			if err != nil {
				return err
			}
			nets := slices.Clone(res.Items)
			slices.SortFunc(nets, func(a, b network.Summary) int { return strings.Compare(a.Name, b.Name) })
			rows := make([]format.Row, 0, len(nets))
			for _, n := range nets {
				if noTrunc {
					rows = append(rows, networkRowFull{networkRow{N: n}})
				} else {
					rows = append(rows, networkRow{N: n})
				}
			}
			f := tmpl
			switch {
			case quiet:
				f = "{{.ID}}"
			case f == "" || f == format.TableKey:
				f = networkTable
			}
			return format.Write(c.Out, f, rows, networkHeader)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	flags.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	flags.StringVar(&tmpl, "format", "", "Format output using a custom template")
	flags.VarP(filter, "filter", "f", `Provide filter values (e.g. "driver=bridge")`)
	return cmd
}

type networkRowFull struct{ networkRow }

func (n networkRowFull) ID() string { return n.N.ID }

func newNetworkInspectCommand(c *CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return inspectAll(cmd.Context(), c.Out, tmpl, args, func(ctx context.Context, ref string) (inspected, error) {
				r, err := cl.NetworkInspect(ctx, ref, client.NetworkInspectOptions{})
				return inspected{typed: r.Network, raw: r.Raw}, err
			})
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newNetworkRmCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return forEachNameSerial(cmd.Context(), c, args, func(ctx context.Context, name string) error {
				_, err := cl.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
				return err
			})
		},
	}
	return cmd
}

const networkPruneWarning = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"

func newNetworkPruneCommand(c *CLI) *cobra.Command {
	o := pruneOptions{filter: newFilterOpt()}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !o.force && !c.confirm(networkPruneWarning) {
				return nil
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: o.filter.Value()})
			if err != nil {
				return err
			}
			if len(res.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Networks:")
				for _, n := range res.Report.NetworksDeleted {
					fmt.Fprintln(c.Out, n)
				}
			}
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(o.filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

func newNetworkConnectCommand(c *CLI) *cobra.Command {
	var ip string
	var aliases []string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			es := &network.EndpointSettings{Aliases: aliases}
			if ip != "" {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					return fmt.Errorf("invalid IPv4 address: %s", ip)
				}
				es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			_, err = cl.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{Container: args[1], EndpointConfig: es})
			return err
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	flags.StringSliceVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	return cmd
}

func newNetworkDisconnectCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			_, err = cl.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{Container: args[1], Force: force})
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/opts"
)

type updateOptions struct {
	blkioWeight                           uint16
	cpuPeriod, cpuQuota                   int64
	cpuRealtimePeriod, cpuRealtimeRuntime int64
	cpusetCpus, cpusetMems                string
	cpuShares                             int64
	memory, memoryReservation             opts.MemBytes
	memorySwap                            opts.MemSwapBytes
	restart                               string
	pidsLimit                             int64
	cpus                                  opts.NanoCPUs
}

func newUpdateCommand(c *CLI) *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().NFlag() == 0 {
				return errors.New("you must provide one or more flags when using this command")
			}
			return runUpdate(cmd, c, &o, args)
		},
	}
	f := cmd.Flags()
	f.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	f.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&o.cpuRealtimePeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	f.Int64Var(&o.cpuRealtimeRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	f.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.VarP(&o.memory, "memory", "m", "Memory limit")
	f.Var(&o.memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.StringVar(&o.restart, "restart", "", "Restart policy to apply when a container exits")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.Var(&o.cpus, "cpus", "Number of CPUs")
	return cmd
}

// runUpdate sends one update to each container in turn, printing each
// name updated, then the daemon's warnings, as docker does.
func runUpdate(cmd *cobra.Command, c *CLI, o *updateOptions, names []string) error {
	var policy *container.RestartPolicy
	if o.restart != "" {
		p, err := opts.ParseRestartPolicy(o.restart)
		if err != nil {
			return err
		}
		policy = &p
	}
	res := &container.Resources{
		BlkioWeight:        o.blkioWeight,
		CpusetCpus:         o.cpusetCpus,
		CpusetMems:         o.cpusetMems,
		CPUShares:          o.cpuShares,
		Memory:             o.memory.Value(),
		MemoryReservation:  o.memoryReservation.Value(),
		MemorySwap:         o.memorySwap.Value(),
		CPUPeriod:          o.cpuPeriod,
		CPUQuota:           o.cpuQuota,
		CPURealtimePeriod:  o.cpuRealtimePeriod,
		CPURealtimeRuntime: o.cpuRealtimeRuntime,
		NanoCPUs:           o.cpus.Value(),
	}
	if cmd.Flags().Changed("pids-limit") {
		res.PidsLimit = &o.pidsLimit
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	var errs, warns []string
	for _, name := range names {
		r, err := cl.ContainerUpdate(cmd.Context(), name, client.ContainerUpdateOptions{Resources: res, RestartPolicy: policy})
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			fmt.Fprintln(c.Out, name)
		}
		warns = append(warns, r.Warnings...)
	}
	if len(warns) > 0 {
		fmt.Fprintln(c.Out, strings.Join(warns, "\n"))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

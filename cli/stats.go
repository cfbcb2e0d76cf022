package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

const statsTableFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeader = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

type statsOptions struct {
	all, noStream, noTrunc bool
	format                 string
}

func newStatsCommand(c *CLI) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), c, &o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVar(&o.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	f.StringVar(&o.format, "format", "", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	return cmd
}

// statsRow is one container's line, with docker stats's fields.
type statsRow struct {
	container, id, name      string
	cpu, mem, memLimit, memP float64
	netRx, netTx             float64
	blkRead, blkWrite        float64
	pids                     uint64
	noTrunc                  bool
}

func (r statsRow) Header() map[string]string { return statsHeader }
func (r statsRow) Container() string         { return r.container }
func (r statsRow) Name() string {
	if n := strings.TrimPrefix(r.name, "/"); n != "" {
		return n
	}
	return "--"
}
func (r statsRow) ID() string {
	if r.noTrunc {
		return r.id
	}
	return format.TruncateID(r.id)
}
func (r statsRow) CPUPerc() string { return fmt.Sprintf("%.2f%%", r.cpu) }
func (r statsRow) MemUsage() string {
	return units.BytesSize(r.mem) + " / " + units.BytesSize(r.memLimit)
}
func (r statsRow) MemPerc() string { return fmt.Sprintf("%.2f%%", r.memP) }
func (r statsRow) NetIO() string {
	return units.HumanSizeWithPrecision(r.netRx, 3) + " / " + units.HumanSizeWithPrecision(r.netTx, 3)
}
func (r statsRow) BlockIO() string {
	return units.HumanSizeWithPrecision(r.blkRead, 3) + " / " + units.HumanSizeWithPrecision(r.blkWrite, 3)
}
func (r statsRow) PIDs() string { return fmt.Sprintf("%d", r.pids) }

func (r statsRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"BlockIO": r.BlockIO(), "CPUPerc": r.CPUPerc(), "Container": r.Container(), "ID": r.ID(),
		"MemPerc": r.MemPerc(), "MemUsage": r.MemUsage(), "Name": r.Name(), "NetIO": r.NetIO(), "PIDs": r.PIDs(),
	})
}

// newStatsRow computes docker stats's numbers from one sample, as the
// docker CLI does: CPU % from the deltas against precpu_stats, memory
// without the inactive file cache.
func newStatsRow(ref string, s *container.StatsResponse, noTrunc bool) statsRow {
	r := statsRow{container: ref, id: s.ID, name: s.Name, noTrunc: noTrunc, pids: s.PidsStats.Current}
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	online := float64(s.CPUStats.OnlineCPUs)
	if online == 0 {
		online = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if sysDelta > 0 && cpuDelta > 0 {
		r.cpu = cpuDelta / sysDelta * online * 100
	}
	m := s.MemoryStats
	r.mem = float64(m.Usage)
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		r.mem = float64(m.Usage - v)
	} else if v := m.Stats["inactive_file"]; v < m.Usage {
		r.mem = float64(m.Usage - v)
	}
	r.memLimit = float64(m.Limit)
	if m.Limit != 0 {
		r.memP = r.mem / r.memLimit * 100
	}
	for _, n := range s.Networks {
		r.netRx += float64(n.RxBytes)
		r.netTx += float64(n.TxBytes)
	}
	for _, b := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(b.Op) {
		case "read":
			r.blkRead += float64(b.Value)
		case "write":
			r.blkWrite += float64(b.Value)
		}
	}
	return r
}

func runStats(ctx context.Context, c *CLI, o *statsOptions, names []string) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	f := o.format
	if f == "" || f == format.TableKey {
		f = statsTableFormat
	}
	targets := func() ([]string, error) {
		if len(names) > 0 {
			return names, nil
		}
		res, err := cl.ContainerList(ctx, client.ContainerListOptions{All: o.all})
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, s := range res.Items {
			ids = append(ids, s.ID)
		}
		return ids, nil
	}
	render := func(rows []statsRow) error {
		out := make([]format.Row, len(rows))
		for i, r := range rows {
			out[i] = r
		}
		return format.Write(c.Out, f, out, statsHeader)
	}
	if o.noStream {
		ids, err := targets()
		if err != nil {
			return err
		}
		rows, errs := sampleAll(ctx, cl, ids, o.noTrunc)
		if len(names) > 0 && len(errs) > 0 {
			return joinErrors(errs)
		}
		return render(rows)
	}
	return streamStats(ctx, c, cl, targets, render, o.noTrunc)
}

// sampleAll asks for every container's stats at once (each answer takes
// the daemon's one-second priming) and keeps the argument order.
func sampleAll(ctx context.Context, cl *client.Client, ids []string, noTrunc bool) ([]statsRow, []error) {
	rows := make([]statsRow, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := cl.ContainerStats(ctx, id, client.ContainerStatsOptions{IncludePreviousSample: true})
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			var s container.StatsResponse
			if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
				errs[i] = err
				return
			}
			rows[i] = newStatsRow(id, &s, noTrunc)
		}()
	}
	wg.Wait()
	var out []statsRow
	var failed []error
	for i := range ids {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		out = append(out, rows[i])
	}
	return out, failed
}

// streamStats follows each container's stats stream and redraws the
// table every second (clearing the screen first on a terminal).
func streamStats(ctx context.Context, c *CLI, cl *client.Client, targets func() ([]string, error), render func([]statsRow) error, noTrunc bool) error {
	var mu sync.Mutex
	latest := map[string]statsRow{}
	following := map[string]bool{}
	follow := func(id string) {
		res, err := cl.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
		if err != nil {
			mu.Lock()
			delete(following, id)
			mu.Unlock()
			return
		}
		defer res.Body.Close()
		dec := json.NewDecoder(res.Body)
		for {
			var s container.StatsResponse
			if err := dec.Decode(&s); err != nil {
				if err != io.EOF {
					mu.Lock()
					delete(latest, id)
					delete(following, id)
					mu.Unlock()
				}
				return
			}
			mu.Lock()
			latest[id] = newStatsRow(id, &s, noTrunc)
			mu.Unlock()
		}
	}
	_, isTerm := c.outFd()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		ids, err := targets()
		if err != nil {
			return err
		}
		mu.Lock()
		for _, id := range ids {
			if !following[id] {
				following[id] = true
				go follow(id)
			}
		}
		var rows []statsRow
		for _, id := range ids {
			if r, ok := latest[id]; ok {
				rows = append(rows, r)
			}
		}
		mu.Unlock()
		if isTerm {
			fmt.Fprint(c.Out, "\033[2J\033[H")
		}
		if err := render(rows); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

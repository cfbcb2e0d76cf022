package engine

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/errdefs"
)

// Top runs the host's ps with psArgs ("" is "-ef") and keeps the lines of
// the container's processes (its cgroup's cgroup.procs), as dockerd does:
// ps is asked for those pids alone with -q, and run again without it when
// the arguments do not mix with -q ("f", say).
func (e *Engine) Top(ctx context.Context, ref, psArgs string) (ctypes.TopResponse, error) {
	if psArgs == "" {
		psArgs = "-ef"
	}
	if err := validatePSArgs(psArgs); err != nil {
		return ctypes.TopResponse{}, err
	}
	ent, err := e.store.Get(ref)
	if err != nil {
		return ctypes.TopResponse{}, err
	}
	c := ent.Snapshot()
	switch c.State.Status {
	case ctypes.StateRunning, ctypes.StatePaused:
	case ctypes.StateRestarting:
		return ctypes.TopResponse{}, errRestarting(c.ID)
	default:
		return ctypes.TopResponse{}, errdefs.Conflictf("container %s is not running", c.ID)
	}
	cg, err := cgroups.Load(c.State.Pid)
	if err != nil {
		if errdefs.Is(err, errdefs.NotFound) {
			return ctypes.TopResponse{}, errdefs.Conflictf("container %s is not running", c.ID)
		}
		return ctypes.TopResponse{}, err
	}
	pids, err := cg.Pids()
	if err != nil {
		return ctypes.TopResponse{}, err
	}
	args := strings.Fields(psArgs)
	q := make([]string, len(pids))
	for i, p := range pids {
		q[i] = strconv.Itoa(p)
	}
	out, err := exec.CommandContext(ctx, "ps", append(slices.Clone(args), "-q", strings.Join(q, ","))...).Output()
	if err != nil {
		out, err = exec.CommandContext(ctx, "ps", args...).Output()
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return ctypes.TopResponse{}, fmt.Errorf("ps: %w", err)
	}
	return parsePSOutput(out, pids)
}

// validatePSArgs refuses -o field renames of the PID column other than
// pid= (dockerd's check: the PID title finds the pid column).
func validatePSArgs(psArgs string) error {
	re := regexp.MustCompile(`\s+([^\s]*)=\s*(PID[^\s]*)`)
	for _, g := range re.FindAllStringSubmatch(psArgs, -1) {
		if len(g) >= 3 && g[1] != "pid" {
			return errdefs.InvalidArgumentf("specifying \"%s=%s\" is not allowed", g[1], g[2])
		}
	}
	return nil
}

// parsePSOutput keeps the lines whose PID column is one of pids; thread
// lines ("-" as PID, from ps m) follow their process.
func parsePSOutput(out []byte, pids []int) (ctypes.TopResponse, error) {
	var resp ctypes.TopResponse
	lines := strings.Split(string(out), "\n")
	resp.Titles = strings.Fields(lines[0])
	pidIndex := slices.Index(resp.Titles, "PID")
	if pidIndex < 0 {
		return resp, errors.New("Couldn't find PID field in ps output")
	}
	add := func(fields []string) {
		n := len(resp.Titles)
		if len(fields) < n {
			resp.Processes = append(resp.Processes, fields)
			return
		}
		p := slices.Clone(fields[:n-1])
		resp.Processes = append(resp.Processes, append(p, strings.Join(fields[n-1:], " ")))
	}
	prevIn := false
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) <= pidIndex {
			continue
		}
		if fields[pidIndex] == "-" {
			if prevIn {
				add(fields)
			}
			continue
		}
		p, err := strconv.Atoi(fields[pidIndex])
		if err != nil {
			return resp, fmt.Errorf("Unexpected pid '%s': %s", fields[pidIndex], err)
		}
		prevIn = slices.Contains(pids, p)
		if prevIn {
			add(fields)
		}
	}
	return resp, nil
}

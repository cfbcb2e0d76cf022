package builder

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/errdefs"
)

// dispatchRun runs a command in a container on the stage's image and
// commits its changes. The history entry (and cache text) is the
// command with the build args it saw: "|2 A=1 B=2 /bin/sh -c make".
func (bd *build) dispatchRun(ctx context.Context, st *stage, c *instructions.RunCommand) error {
	if len(c.FlagsUsed) > 0 {
		return errdefs.InvalidArgumentf("the --%s option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled", c.FlagsUsed[0])
	}
	line, err := runHeredoc(c.ShellDependantCmdLine)
	if err != nil {
		return err
	}
	cmd := cmdLine(line, st)
	args := st.args.filtered(st.config.Env)
	saveCmd := cmd
	if h := st.args.historyArgs(args); len(args) > 0 {
		saveCmd = append(append([]string{fmt.Sprintf("|%d", len(h))}, h...), cmd...)
	}
	createdBy := strings.Join(saveCmd, " ")
	key := stepKey(st, createdBy, "")
	if hit, err := bd.cache.probe(ctx, bd.out, st, key, createdBy); err != nil || hit {
		return err
	}

	// As dockerd's runConfig, with the VOLUMEs: the step's writes under
	// them go to anonymous volumes, not into its layer.
	cfg := ctypes.Config{
		Cmd:         cmd,
		Env:         append(slices.Clone(st.config.Env), args...),
		User:        st.config.User,
		WorkingDir:  st.config.WorkingDir,
		Shell:       slices.Clone(st.config.Shell),
		Labels:      st.config.Labels,
		Volumes:     maps.Clone(st.config.Volumes),
		StopSignal:  st.config.StopSignal,
		Healthcheck: &dockerspec.HealthcheckConfig{Test: []string{"NONE"}},
	}
	announced := false
	announce := func(id string) {
		if !announced {
			announced = true
			bd.out.printf(" ---> Running in %s\n", shortID(id))
		}
	}
	cid, code, err := bd.cfg.Backend.Run(ctx, RunRequest{
		Image:      st.id,
		Config:     cfg,
		HostConfig: bd.opts.HostConfig,
		Out:        bd.out,
		Stderr:     stderrWriter{bd.out},
		Created:    announce,
	})
	if cid != "" {
		announce(cid)
	}
	removeOnFailure := func() {
		// a cancelled build's container goes too, as in dockerd
		if cid != "" && (bd.opts.ForceRemove || ctx.Err() != nil) {
			bd.removeContainer(context.WithoutCancel(ctx), cid)
		}
	}
	if err != nil {
		removeOnFailure()
		return err
	}
	if code != 0 {
		removeOnFailure()
		msg := fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(cmd, " "), code)
		return &StepError{Code: code, Message: msg}
	}
	parent := st.id
	id, err := bd.cfg.Backend.CommitContainer(ctx, cid, bd.commitRequest(st, createdBy))
	if err != nil {
		removeOnFailure()
		return err
	}
	bd.madeImage(id)
	if bd.opts.Remove || bd.opts.ForceRemove {
		bd.removeContainer(ctx, cid)
	}
	st.id = id
	return bd.cache.put(ctx, key, id, CacheEntry{Parent: parent, Description: c.String()})
}

func (bd *build) removeContainer(ctx context.Context, id string) {
	if err := bd.cfg.Backend.RemoveContainer(ctx, id); err != nil {
		bd.out.printf("Removing intermediate container %s: %v\n", shortID(id), err)
		return
	}
	bd.out.printf("Removing intermediate container %s\n", shortID(id))
}

// runHeredoc turns RUN <<EOF ... into a command line, as buildkit does
// for shells without heredoc support: a lone heredoc runs its body; a
// command with heredocs gets them reattached for the shell to read.
func runHeredoc(c instructions.ShellDependantCmdLine) (instructions.ShellDependantCmdLine, error) {
	if len(c.Files) == 0 {
		return c, nil
	}
	if len(c.CmdLine) != 1 || !c.PrependShell {
		return c, errdefs.InvalidArgumentf("parsing produced an invalid run command: %v", c.CmdLine)
	}
	if h := parser.MustParseHeredoc(c.CmdLine[0]); h != nil {
		data := c.Files[0].Data
		if c.Files[0].Chomp {
			data = parser.ChompHeredocContent(data)
		}
		c.CmdLine = []string{data}
	} else {
		full := c.CmdLine[0]
		for _, f := range c.Files {
			full += "\n" + f.Data + f.Name
		}
		c.CmdLine = []string{full}
	}
	c.Files = nil
	return c, nil
}

// dispatchWorkdir sets the working directory and creates it in the
// image, as dockerd does (root-owned, 0755), so a RUN needs no mkdir.
func (bd *build) dispatchWorkdir(ctx context.Context, st *stage, c *instructions.WorkdirCommand) error {
	dir := c.Path
	if !path.IsAbs(dir) {
		dir = path.Join("/", st.config.WorkingDir, dir)
	}
	dir = path.Clean(dir)
	st.config.WorkingDir = dir
	createdBy := strings.Join(append(shellOf(&st.config), "#(nop) WORKDIR "+dir), " ")
	key := stepKey(st, createdBy, "")
	if hit, err := bd.cache.probe(ctx, bd.out, st, key, createdBy); err != nil || hit {
		return err
	}
	parent := st.id
	wl, err := bd.cfg.Backend.NewWorkLayer(ctx, st.id)
	if err != nil {
		return err
	}
	defer wl.Release(ctx)
	p, err := securejoin.SecureJoin(wl.Path(), dir)
	if err != nil {
		return fmt.Errorf("workdir %s: %w", dir, err)
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("workdir %s: %w", dir, err)
	}
	id, err := wl.Commit(ctx, bd.commitRequest(st, createdBy))
	if err != nil {
		return err
	}
	bd.madeImage(id)
	st.id = id
	return bd.cache.put(ctx, key, id, CacheEntry{Parent: parent, Description: "WORKDIR " + dir})
}

package builder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/go-connections/nat"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/sys/signal"

	"github.com/berth-dev/berth/internal/errdefs"
)

// The metadata instructions: each changes the stage's config and
// commits it as an empty-layer step (moby builder/dockerfile/dispatchers.go).

func (bd *build) dispatchEnv(ctx context.Context, st *stage, c *instructions.EnvCommand) error {
	msg := "ENV"
	for _, e := range c.Env {
		kv := e.String()
		msg += " " + kv
		i := slices.IndexFunc(st.config.Env, func(s string) bool {
			k, _, _ := strings.Cut(s, "=")
			return shell.EqualEnvKeys(k, e.Key)
		})
		if i >= 0 {
			st.config.Env[i] = kv
		} else {
			st.config.Env = append(st.config.Env, kv)
		}
	}
	return bd.commitMeta(ctx, st, msg)
}

func (bd *build) dispatchLabel(ctx context.Context, st *stage, c *instructions.LabelCommand) error {
	if st.config.Labels == nil {
		st.config.Labels = map[string]string{}
	}
	msg := "LABEL"
	for _, l := range c.Labels {
		st.config.Labels[l.Key] = l.Value
		msg += " " + l.String()
	}
	return bd.commitMeta(ctx, st, msg)
}

// cmdLine prepends the stage's shell to a shell-form command line.
func cmdLine(c instructions.ShellDependantCmdLine, st *stage) []string {
	if c.PrependShell && c.CmdLine != nil {
		return append(shellOf(&st.config), c.CmdLine...)
	}
	return slices.Clone(c.CmdLine)
}

func (bd *build) dispatchCmd(ctx context.Context, st *stage, c *instructions.CmdCommand) error {
	cmd := cmdLine(c.ShellDependantCmdLine, st)
	st.config.Cmd = cmd
	st.config.ArgsEscaped = false
	if err := bd.commitMeta(ctx, st, fmt.Sprintf("CMD %q", cmd)); err != nil {
		return err
	}
	if len(c.CmdLine) != 0 {
		st.cmdSet = true
	}
	return nil
}

func (bd *build) dispatchEntrypoint(ctx context.Context, st *stage, c *instructions.EntrypointCommand) error {
	ep := cmdLine(c.ShellDependantCmdLine, st)
	st.config.Entrypoint = ep
	st.config.ArgsEscaped = false
	if !st.cmdSet {
		// ENTRYPOINT resets an inherited CMD, not one this stage set
		st.config.Cmd = nil
	}
	return bd.commitMeta(ctx, st, fmt.Sprintf("ENTRYPOINT %q", ep))
}

func (bd *build) dispatchHealthcheck(ctx context.Context, st *stage, c *instructions.HealthCheckCommand) error {
	if old := st.config.Healthcheck; old != nil && len(old.Test) > 0 && old.Test[0] != "NONE" {
		bd.out.printf("Note: overriding previous HEALTHCHECK: %v\n", old.Test)
	}
	st.config.Healthcheck = c.Health
	return bd.commitMeta(ctx, st, "HEALTHCHECK "+healthText(st.config.Healthcheck))
}

// healthText is how dockerd's fmt.Sprintf("%q", *HealthConfig) renders
// a healthcheck in history: &{["CMD-SHELL" "true"] "30s" "0s" "0s" "0s" '\x03'}.
func healthText(h *dockerspec.HealthcheckConfig) string {
	if h == nil {
		return "%!q(<nil>)"
	}
	return fmt.Sprintf("&{%q %q %q %q %q %q}", h.Test, h.Interval, h.Timeout, h.StartPeriod, h.StartInterval, rune(h.Retries))
}

func (bd *build) dispatchExpose(ctx context.Context, st *stage, c *instructions.ExposeCommand, env shell.EnvGetter) error {
	// EXPOSE is the one instruction whose words may expand to several
	var ports []string
	for _, p := range c.Ports {
		ps, err := bd.lex.ProcessWords(p, env)
		if err != nil {
			return invalidf("%s", err)
		}
		ports = append(ports, ps...)
	}
	set, _, err := nat.ParsePortSpecs(ports)
	if err != nil {
		return errdefs.InvalidArgumentf("%s", err)
	}
	if st.config.ExposedPorts == nil {
		st.config.ExposedPorts = map[string]struct{}{}
	}
	for p := range set {
		st.config.ExposedPorts[string(p)] = struct{}{}
	}
	return bd.commitMeta(ctx, st, "EXPOSE "+strings.Join(ports, " "))
}

func (bd *build) dispatchVolume(ctx context.Context, st *stage, c *instructions.VolumeCommand) error {
	if st.config.Volumes == nil {
		st.config.Volumes = map[string]struct{}{}
	}
	for _, v := range c.Volumes {
		if v == "" {
			return errdefs.InvalidArgumentf("VOLUME specified can not be an empty string")
		}
		st.config.Volumes[v] = struct{}{}
	}
	return bd.commitMeta(ctx, st, fmt.Sprintf("VOLUME %v", c.Volumes))
}

func (bd *build) dispatchStopSignal(ctx context.Context, st *stage, c *instructions.StopSignalCommand) error {
	if _, err := signal.ParseSignal(c.Signal); err != nil {
		return errdefs.InvalidArgumentf("%s", err)
	}
	st.config.StopSignal = c.Signal
	return bd.commitMeta(ctx, st, "STOPSIGNAL "+c.Signal)
}

func (bd *build) dispatchArg(ctx context.Context, st *stage, c *instructions.ArgCommand) error {
	var b strings.Builder
	b.WriteString("ARG ")
	for i, a := range c.Args {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(a.Key)
		if a.Value != nil {
			b.WriteString("=" + *a.Value)
		}
		st.args.add(a.Key, a.Value)
	}
	return bd.commitMeta(ctx, st, b.String())
}

package cli

import (
	"context"
	"errors"

	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/opts"
)

type execOptions struct {
	detachKeys  string
	interactive bool
	tty         bool
	detach      bool
	user        string
	privileged  bool
	env         *opts.ListOpts
	envFile     *opts.ListOpts
	workdir     string
	container   string
	command     []string
}

func newExecCommand(c *CLI) *cobra.Command {
	o := execOptions{env: opts.NewListOpts(opts.ValidateEnv), envFile: opts.NewListOpts(nil)}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  requiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container, o.command = args[0], args[1:]
			return runExec(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	flags.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	flags.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	flags.StringVarP(&o.user, "user", "u", "", `Username or UID (format: "<name|uid>[:<group|gid>]")`)
	flags.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	flags.VarP(o.env, "env", "e", "Set environment variables")
	flags.Var(o.envFile, "env-file", "Read in a file of environment variables")
	flags.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	return cmd
}

// runExec follows the docker CLI: inspect first (so "no such container"
// wins), check the TTY before creating (no leaked exec), create, then
// start detached or attached, and exit with the exec's exit code.
func runExec(ctx context.Context, c *CLI, o *execOptions) error {
	env, err := opts.ReadKVEnvStrings(o.envFile.GetAll(), o.env.GetAll())
	if err != nil {
		return err
	}
	create := client.ExecCreateOptions{
		User: o.user, Privileged: o.privileged, TTY: o.tty, Env: env, WorkingDir: o.workdir,
		Cmd: o.command, DetachKeys: o.detachKeys,
	}
	if !o.detach {
		create.AttachStdout, create.AttachStderr, create.AttachStdin = true, true, o.interactive
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	if _, err := cl.ContainerInspect(ctx, o.container, client.ContainerInspectOptions{}); err != nil {
		return err
	}
	if !o.detach && create.AttachStdin && o.tty {
		if _, isTerm := c.inFd(); !isTerm {
			return errors.New("the input device is not a TTY")
		}
	}
	if o.tty {
		if fd, isTerm := c.outFd(); isTerm {
			if ws, err := term.GetWinsize(fd); err == nil && ws.Height > 0 && ws.Width > 0 {
				create.ConsoleSize = client.ConsoleSize{Height: uint(ws.Height), Width: uint(ws.Width)}
			}
		}
	}
	res, err := cl.ExecCreate(ctx, o.container, create)
	if err != nil {
		return err
	}
	if o.detach {
		_, err := cl.ExecStart(ctx, res.ID, client.ExecStartOptions{Detach: true, TTY: o.tty, ConsoleSize: create.ConsoleSize})
		return err
	}
	att, err := cl.ExecAttach(ctx, res.ID, client.ExecAttachOptions{TTY: o.tty, ConsoleSize: create.ConsoleSize})
	if err != nil {
		return err
	}
	defer att.Close()
	s := &ioStreamer{c: c, resp: att.HijackedResponse, tty: o.tty, detachKeys: o.detachKeys, out: c.Out, errw: c.Err}
	if o.tty {
		s.errw = c.Out
	}
	if create.AttachStdin {
		s.in = c.In
	}
	done := s.start(ctx)
	if o.tty {
		if _, isTerm := c.inFd(); isTerm {
			monitorExecTTYSize(ctx, c, cl, res.ID)
		}
	}
	if err := <-done; err != nil {
		return err // detached: "read escape sequence", exit 1, as docker exec
	}
	insp, err := cl.ExecInspect(ctx, res.ID, client.ExecInspectOptions{})
	if err != nil {
		return err
	}
	if insp.ExitCode != 0 {
		return StatusError{StatusCode: insp.ExitCode}
	}
	return nil
}

// monitorExecTTYSize sends the terminal size to the exec now (retrying
// while the process starts) and on every SIGWINCH.
func monitorExecTTYSize(ctx context.Context, c *CLI, cl *client.Client, id string) {
	watchTTYSize(ctx, c, func(h, w uint) error {
		_, err := cl.ExecResize(ctx, id, client.ExecResizeOptions{Height: h, Width: w})
		return err
	})
}

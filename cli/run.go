package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

type runOptions struct {
	createOptions
	detach     bool
	sigProxy   bool
	detachKeys string
}

func newRunCommand(c *CLI) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			setImageArgs(o.copts, args)
			return runRun(cmd.Context(), c, cmd, &o)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	flags.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	flags.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	addCreateFlags(cmd, &o.createOptions, "running")
	return cmd
}

// runRun is docker's run: create; attach before start so no output is lost;
// register the wait (next-exit, or removed for --rm) before start; start;
// stream until the container's output ends; exit with its status.
func runRun(ctx context.Context, c *CLI, cmd *cobra.Command, o *runOptions) error {
	cfg, err := parseCreate(c, cmd, &o.createOptions)
	if err != nil {
		return err
	}
	config := cfg.Config
	if err := setRunMode(c, o, config); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	id, err := createContainer(ctx, c, cfg, &o.createOptions)
	if err != nil {
		c.reportError(cmd, err, true)
		return StatusError{StatusCode: startErrorCode(err)}
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}

	attached := config.AttachStdin || config.AttachStdout || config.AttachStderr
	if o.sigProxy && attached && !config.Tty {
		stop := forwardSignals(context.WithoutCancel(ctx), cl, id)
		defer stop()
	}

	var displayed <-chan struct{}
	if !config.AttachStdout && !config.AttachStderr {
		displayed = printIDAsync(c, id)
	}

	var streamErr <-chan error
	if attached {
		errc, closeConn, err := attachStreams(ctx, c, cl, id, streams{
			stdin: config.AttachStdin, stdout: config.AttachStdout, stderr: config.AttachStderr,
			tty: config.Tty, detachKeys: o.detachKeys,
		})
		if err != nil {
			return err
		}
		defer closeConn()
		streamErr = errc
	}

	// Registered before start, detached or not, as docker does.
	statusCtx, cancelStatus := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStatus()
	status := waitExitOrRemoved(statusCtx, c, cl, id, o.copts.AutoRemove())

	if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if streamErr != nil {
			cancel()
			<-streamErr
		}
		c.reportError(cmd, err, true)
		if o.copts.AutoRemove() {
			<-status
		}
		return StatusError{StatusCode: startErrorCode(err)}
	}

	if attached && config.Tty {
		if _, isTerm := c.outFd(); isTerm {
			monitorTTYSize(ctx, c, cl, id)
		}
	}

	if streamErr != nil {
		if err := <-streamErr; err != nil {
			var esc term.EscapeError
			if errors.As(err, &esc) {
				return nil // the user detached
			}
			return err
		}
	}
	if displayed != nil {
		<-displayed
		return nil
	}
	if code := <-status; code != 0 {
		return StatusError{StatusCode: code}
	}
	return nil
}

// setRunMode applies -d (nothing attached) or checks that an interactive
// TTY really has a terminal on stdin.
func setRunMode(c *CLI, o *runOptions, config *container.Config) error {
	if o.detach {
		if o.copts.AttachCount() != 0 {
			return errors.New("conflicting options: cannot specify both --attach and --detach")
		}
		config.AttachStdin, config.AttachStdout, config.AttachStderr = false, false, false
		config.StdinOnce = false
		return nil
	}
	if config.Tty && config.AttachStdin {
		if _, isTerm := c.inFd(); !isTerm {
			return errors.New("the input device is not a TTY")
		}
	}
	return nil
}

// printIDAsync prints the container ID without blocking a client that
// writes to stdin first, as docker does.
func printIDAsync(c *CLI, id string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fmt.Fprintln(c.Out, id)
	}()
	return done
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

type startOptions struct {
	attach     bool
	openStdin  bool
	detachKeys string
	sigProxy   bool
	containers []string
}

func newStartCommand(c *CLI) *cobra.Command {
	var o startOptions
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			return runStart(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	flags.BoolVarP(&o.openStdin, "interactive", "i", false, "Attach container's STDIN")
	flags.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	flags.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	return cmd
}

func runStart(ctx context.Context, c *CLI, o *startOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	if !o.attach && !o.openStdin {
		var failed []string
		err := forEachNameSerial(ctx, c, o.containers, func(ctx context.Context, name string) error {
			_, err := cl.ContainerStart(ctx, name, client.ContainerStartOptions{})
			if err != nil {
				failed = append(failed, name)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%w\nError: failed to start containers: %s", err, strings.Join(failed, ", "))
		}
		return nil
	}
	if len(o.containers) > 1 {
		return errors.New("you cannot start and attach multiple containers at once")
	}
	return startAttached(ctx, c, cl, o)
}

// startAttached is start -a/-i: attach, register the wait, start, stream,
// and exit with the container's status.
func startAttached(ctx context.Context, c *CLI, cl *client.Client, o *startOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	name := o.containers[0]
	insp, err := cl.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	ctr := insp.Container
	if ctr.Config == nil {
		return errors.New("container has no configuration")
	}
	tty := ctr.Config.Tty
	withStdin := o.openStdin && ctr.Config.OpenStdin
	if tty && withStdin {
		if _, isTerm := c.inFd(); !isTerm {
			return errors.New("the input device is not a TTY")
		}
	}
	if o.sigProxy && !tty {
		stop := forwardSignals(context.WithoutCancel(ctx), cl, ctr.ID)
		defer stop()
	}
	streamErr, closeConn, err := attachStreams(ctx, c, cl, ctr.ID, streams{
		stdin: withStdin, stdout: true, stderr: true, tty: tty, detachKeys: o.detachKeys,
	})
	if err != nil {
		return err
	}
	defer closeConn()

	autoRemove := ctr.HostConfig != nil && ctr.HostConfig.AutoRemove
	statusCtx, cancelStatus := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStatus()
	status := waitExitOrRemoved(statusCtx, c, cl, ctr.ID, autoRemove)

	if _, err := cl.ContainerStart(ctx, ctr.ID, client.ContainerStartOptions{}); err != nil {
		cancel()
		<-streamErr
		return err
	}
	if tty {
		if _, isTerm := c.outFd(); isTerm {
			monitorTTYSize(ctx, c, cl, ctr.ID)
		}
	}
	if err := <-streamErr; err != nil {
		var esc term.EscapeError
		if errors.As(err, &esc) {
			return nil
		}
		return err
	}
	if code := <-status; code != 0 {
		return StatusError{StatusCode: code}
	}
	return nil
}

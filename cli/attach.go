package cli

import (
	"context"
	"errors"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type attachOptions struct {
	noStdin    bool
	proxy      bool
	detachKeys string
	container  string
}

func newAttachCommand(c *CLI) *cobra.Command {
	var o attachOptions
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container = args[0]
			return runAttach(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVar(&o.noStdin, "no-stdin", false, "Do not attach STDIN")
	flags.BoolVar(&o.proxy, "sig-proxy", true, "Proxy all received signals to the process")
	flags.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// inspectRunning inspects a container and refuses one that cannot be
// attached to.
func inspectRunning(ctx context.Context, cl *client.Client, name string) (container.InspectResponse, error) {
	insp, err := cl.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, err
	}
	ctr := insp.Container
	if ctr.State == nil || ctr.Config == nil {
		return ctr, errors.New("container has no state")
	}
	switch {
	case !ctr.State.Running:
		return ctr, errors.New("You cannot attach to a stopped container, start it first")
	case ctr.State.Paused:
		return ctr, errors.New("You cannot attach to a paused container, unpause it first")
	case ctr.State.Restarting:
		return ctr, errors.New("You cannot attach to a restarting container, wait until it is running")
	}
	return ctr, nil
}

// runAttach follows docker: register the wait, check the state, attach,
// check the state again (so a container that stopped meanwhile does not
// leave us blocked), stream, and exit with the container's status.
func runAttach(ctx context.Context, c *CLI, o *attachOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	res := cl.ContainerWait(context.WithoutCancel(ctx), o.container, client.ContainerWaitOptions{})

	ctr, err := inspectRunning(ctx, cl, o.container)
	if err != nil {
		return err
	}
	tty := ctr.Config.Tty
	withStdin := !o.noStdin && ctr.Config.OpenStdin
	if !o.noStdin && tty {
		if _, isTerm := c.inFd(); !isTerm {
			return errors.New("the input device is not a TTY")
		}
	}
	if o.proxy && !tty {
		stop := forwardSignals(context.WithoutCancel(ctx), cl, o.container)
		defer stop()
	}

	streamErr, closeConn, err := attachStreams(ctx, c, cl, o.container, streams{
		stdin: withStdin, stdout: true, stderr: true, tty: tty, detachKeys: o.detachKeys,
	})
	if err != nil {
		return err
	}
	defer closeConn()
	if _, err := inspectRunning(ctx, cl, o.container); err != nil {
		return err
	}
	if tty {
		if _, isTerm := c.outFd(); isTerm {
			monitorTTYSize(ctx, c, cl, o.container)
		}
	}
	if err := <-streamErr; err != nil && !errors.Is(err, context.Canceled) {
		// docker attach reports a detach as its error: "read escape
		// sequence", exit 1 (docker run -it exits 0).
		return err
	}
	select {
	case r := <-res.Result:
		if r.Error != nil {
			return errors.New(r.Error.Message)
		}
		if r.StatusCode != 0 {
			return StatusError{StatusCode: int(r.StatusCode)}
		}
	case err := <-res.Error:
		return err
	}
	return nil
}

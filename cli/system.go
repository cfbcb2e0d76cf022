package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"
)

// newSystemCommand is `berth system ...`.
func newSystemCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "system",
		Short: "Manage berth",
		Args:  unknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { cmd.SetOut(c.Out); return cmd.Help() },
	}
	cmd.AddCommand(newDialStdioCommand(c), newSystemDfCommand(c), newSystemPruneCommand(c), newSystemCheckCommand(c), newEventsCommand(c))
	return cmd
}

// newDialStdioCommand is `berth system dial-stdio`: it connects to the
// daemon (-H, BERTH_HOST, DOCKER_HOST or the default socket) and proxies
// stdin/stdout to it, for ssh:// clients (berth's and docker's).
func newDialStdioCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:    "dial-stdio",
		Short:  "Proxy the stdio stream to the daemon connection. Should not be invoked manually.",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return dialStdio(ctx, c.Host(), c.In, c.Out)
		},
	}
}

func dialStdio(ctx context.Context, host string, in io.Reader, out io.Writer) error {
	proto, addr, ok := strings.Cut(host, "://")
	if !ok || (proto != "unix" && proto != "tcp") {
		return fmt.Errorf("dial-stdio: unsupported host %q: want unix:// or tcp:// (TLS is not proxied)", host)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, proto, addr)
	if err != nil {
		return fmt.Errorf("dial-stdio: %w", err)
	}
	defer conn.Close()
	type halfCloser interface{ CloseWrite() error }
	stdinDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, in)
		if hc, ok := conn.(halfCloser); ok {
			hc.CloseWrite()
		}
		stdinDone <- err
	}()
	// The daemon's side ends the session: when it closes, we are done.
	if _, err := io.Copy(out, conn); err != nil {
		return fmt.Errorf("dial-stdio: %w", err)
	}
	return nil
}

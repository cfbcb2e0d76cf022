package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// CLI is what every command needs: the standard streams, the program name
// used in messages, and a lazily built API client.
type CLI struct {
	In  io.ReadCloser
	Out io.Writer
	Err io.Writer

	// Name is the program name in messages ("berth: ...", "Run 'berth run --help'").
	Name   string
	Getenv func(string) string

	host string
	tls  TLSOptions
	// contextName is --context (see CurrentContext in context.go).
	contextName string
	client      *client.Client
}

// New returns a CLI on the given streams.
func New(in io.ReadCloser, out, errw io.Writer) *CLI {
	return &CLI{In: in, Out: out, Err: errw, Name: "berth", Getenv: os.Getenv}
}

// Client returns the API client, connecting to the resolved host.
func (c *CLI) Client() (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	opts, err := c.endpointOptions()
	if err != nil {
		return nil, err
	}
	cl, err := client.New(opts...)
	if err != nil {
		return nil, err
	}
	c.client = cl
	return cl, nil
}

// Host is the daemon address this CLI talks to.
func (c *CLI) Host() string {
	if h, ok := c.contextHost(); ok {
		return h
	}
	return ResolveHost(c.host, c.Getenv)
}

// Close releases the client's idle connections.
func (c *CLI) Close() {
	if c.client != nil {
		_ = c.client.Close()
	}
}

func (c *CLI) inFd() (uintptr, bool)  { return term.GetFdInfo(c.In) }
func (c *CLI) outFd() (uintptr, bool) { return term.GetFdInfo(c.Out) }

// Main runs the berth command line and returns the exit status.
func Main(ctx context.Context, args []string) int {
	c := New(os.Stdin, os.Stdout, os.Stderr)
	if len(os.Args) > 0 {
		if n := filepath.Base(os.Args[0]); n != "" && n != "." && !strings.HasSuffix(n, ".test") {
			c.Name = n
		}
	}
	return c.Run(ctx, args)
}

// Run executes one command line and returns the exit status, printing any
// error to c.Err.
func (c *CLI) Run(ctx context.Context, args []string) int {
	defer c.Close()
	root := NewRootCommand(c)
	root.SetArgs(args)
	root.SetIn(c.In)
	root.SetOut(c.Out)
	root.SetErr(c.Err)
	err := root.ExecuteContext(ctx)
	code, msg := exitCode(err)
	if msg != "" {
		fmt.Fprintln(c.Err, msg)
	}
	return code
}

// flagError is docker's answer to a bad flag: the parse error, the usage
// line and a pointer to --help, exit 125.
func flagError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return StatusError{
		Status: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information",
			err, cmd.UseLine(), cmd.CommandPath()),
		StatusCode: 125,
	}
}

// argsError is docker's wrong-argument-count message; docker says "See"
// for too few arguments and "Run" otherwise.
func argsError(cmd *cobra.Command, what string) error {
	verb := "Run"
	if strings.HasPrefix(what, "requires at least") && !strings.Contains(what, "at most") {
		verb = "See"
	}
	return StatusError{
		Status: fmt.Sprintf("%s: '%s' %s\n\nUsage:  %s\n\n%s '%s --help' for more information",
			cmd.Root().Name(), cmd.CommandPath(), what, cmd.UseLine(), verb, cmd.CommandPath()),
		StatusCode: 1,
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return argsError(cmd, "accepts no arguments")
}

func requiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d %s", n, plural("argument", n)))
	}
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires %d %s", n, plural("argument", n)))
	}
}

func requiresRangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && len(args) <= max {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d and at most %d %s", min, max, plural("argument", max)))
	}
}

func requiresMaxArgs(max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= max {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at most %d %s", max, plural("argument", max)))
	}
}

func plural(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

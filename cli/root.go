package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// Build information, set with -ldflags "-X".
var (
	Version   = "0.1.0-dev"
	GitCommit = "unknown"
	BuildTime = ""
)

// NewRootCommand builds the full command tree bound to c.
func NewRootCommand(c *CLI) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:              c.Name + " [OPTIONS] COMMAND [ARG...]",
		Short:            "A self-sufficient runtime for containers",
		SilenceUsage:     true,
		SilenceErrors:    true,
		TraverseChildren: true,
		Args:             cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				fmt.Fprintf(c.Out, "%s version %s, build %s\n", c.Name, Version, GitCommit)
				return nil
			}
			if len(args) == 0 {
				cmd.SetOut(c.Out)
				return cmd.Help()
			}
			return StatusError{
				Status:     fmt.Sprintf("%s: unknown command: %s %s\n\nRun '%s --help' for more information", c.Name, c.Name, args[0], c.Name),
				StatusCode: 1,
			}
		},
		CompletionOptions:     cobra.CompletionOptions{DisableDefaultCmd: true},
		DisableFlagsInUseLine: true,
	}
	root.SetFlagErrorFunc(flagError)

	flags := root.Flags()
	flags.BoolVarP(&showVersion, "version", "v", false, "Print version information and quit")
	// Global flags go before the command, as with docker (-l, -D and -H
	// would clash with command flags if they were persistent).
	pf := root.Flags()
	pf.StringVarP(&c.host, "host", "H", "", "Daemon socket to connect to (env BERTH_HOST, DOCKER_HOST)")
	pf.StringVarP(&c.contextName, "context", "c", "", `Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "berth context use")`)
	pf.BoolVar(&c.tls.TLS, "tls", false, "Use TLS; implied by --tlsverify")
	pf.BoolVar(&c.tls.TLSVerify, "tlsverify", false, "Use TLS and verify the remote (env DOCKER_TLS_VERIFY)")
	pf.StringVar(&c.tls.CACert, "tlscacert", "", "Trust certs signed only by this CA (default DOCKER_CERT_PATH/ca.pem)")
	pf.StringVar(&c.tls.Cert, "tlscert", "", "Path to TLS certificate file (default DOCKER_CERT_PATH/cert.pem)")
	pf.StringVar(&c.tls.Key, "tlskey", "", "Path to TLS key file (default DOCKER_CERT_PATH/key.pem)")
	pf.StringP("log-level", "l", "info", `Set the logging level ("debug", "info", "warn", "error", "fatal")`)
	pf.BoolP("debug", "D", false, "Enable debug mode")

	root.AddCommand(
		newContainerCommand(c),
		newImageCommand(c),
		newVolumeCommand(c),
		newNetworkCommand(c),

		newRunCommand(c),
		newCreateCommand(c),
		newStartCommand(c),
		newStopCommand(c),
		newRestartCommand(c),
		newKillCommand(c),
		newWaitCommand(c),
		newRmCommand(c),
		newPsCommand(c),
		newInspectCommand(c),
		newLogsCommand(c),
		newAttachCommand(c),
		newExecCommand(c),
		newRenameCommand(c),
		newPauseCommand(c), newUnpauseCommand(c), newTopCommand(c), newStatsCommand(c), newUpdateCommand(c), newPortCommand(c),

		newImagesCommand(c),
		newRmiCommand(c),
		newImportCommand(c),
		newTagCommand(c),
		newCommitCommand(c), newDiffCommand(c), newExportCommand(c), newCpCommand(c),
		newSaveCommand(c), newLoadCommand(c),
		newHistoryCommand(c),
		newPullCommand(c), newPushCommand(c), newLoginCommand(c), newLogoutCommand(c),
		newBuildCommand(c), newBuilderCommand(c),

		newVersionCommand(c),
		newInfoCommand(c),
		newEventsCommand(c),
		newSystemCommand(c),
		newContextCommand(c),
	)
	for _, cmd := range root.Commands() {
		disableFlagsInUseLine(cmd)
	}
	setupHelp(root)
	return root
}

func disableFlagsInUseLine(cmd *cobra.Command) {
	cmd.DisableFlagsInUseLine = true
	for _, sub := range cmd.Commands() {
		disableFlagsInUseLine(sub)
	}
}

// newContainerCommand is `berth container ...`.
func newContainerCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "container",
		Short: "Manage containers",
		Args:  unknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { cmd.SetOut(c.Out); return cmd.Help() },
	}
	ls := newPsCommand(c)
	ls.Use = "ls [OPTIONS]"
	ls.Aliases = []string{"list", "ps"}
	insp := newContainerInspectCommand(c)
	rm := newRmCommand(c)
	rm.Aliases = []string{"remove"}
	cmd.AddCommand(
		newRunCommand(c), newCreateCommand(c), newStartCommand(c), newStopCommand(c),
		newRestartCommand(c), newKillCommand(c), newWaitCommand(c), rm, ls, insp,
		newLogsCommand(c), newAttachCommand(c), newExecCommand(c), newRenameCommand(c), newContainerPruneCommand(c),
		newPauseCommand(c), newUnpauseCommand(c), newTopCommand(c), newStatsCommand(c), newUpdateCommand(c), newPortCommand(c),
		newCommitCommand(c), newDiffCommand(c), newExportCommand(c), newCpCommand(c),
	)
	return cmd
}

// newImageCommand is `berth image ...`.
func newImageCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
		Args:  unknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { cmd.SetOut(c.Out); return cmd.Help() },
	}
	ls := newImagesCommand(c)
	ls.Use = "ls [OPTIONS] [REPOSITORY[:TAG]]"
	ls.Aliases = []string{"list", "images"}
	rm := newRmiCommand(c)
	rm.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
	rm.Aliases = []string{"remove", "rmi"}
	cmd.AddCommand(ls, rm, newImageInspectCommand(c), newImportCommand(c), newTagCommand(c), newHistoryCommand(c),
		newImagePruneCommand(c), newSaveCommand(c), newLoadCommand(c), newBuildCommand(c))
	cmd.AddCommand(newPullCommand(c), newPushCommand(c))
	return cmd
}

// unknownSubcommand is docker's answer to "berth container foo".
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return StatusError{
		Status: fmt.Sprintf("%s: unknown command: %s %s\n\nUsage:  %s\n\nRun '%s --help' for more information",
			cmd.Root().Name(), cmd.CommandPath(), args[0], cmd.CommandPath(), cmd.CommandPath()),
		StatusCode: 1,
	}
}

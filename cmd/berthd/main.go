// Command berthd is the berth daemon. The same binary also serves as the
// container init of berth's own runtime (`berthd init`, re-executed by the
// runtime inside the container's namespaces) and as the host's container
// monitor (`berthd monitor`, started by berthd): see docs/architecture.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/dockerinit"
	"github.com/berth-dev/berth/internal/monitor"
	"github.com/berth-dev/berth/internal/runtime/linux"
	"github.com/berth-dev/berth/internal/version"
	"github.com/berth-dev/berth/internal/wire"
)

func main() {
	// Re-exec entry points come first: they must not parse daemon flags
	// and must do as little as possible before their real work.
	if filepath.Base(os.Args[0]) == dockerinit.Name {
		dockerinit.Main() // --init's PID 1; never returns
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			linux.InitMain() // never returns
		case "monitor":
			os.Exit(monitor.Main(os.Args[2:], wire.MonitorRuntimes(flagValue(os.Args[2:], "exec-root", config.DefaultExecRoot))))
		}
	}
	os.Exit(run(os.Args[1:]))
}

// flagValue finds --name VALUE or --name=VALUE in args.
func flagValue(args []string, name, def string) string {
	for i, a := range args {
		switch {
		case a == "--"+name && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "--"+name+"="):
			return strings.TrimPrefix(a, "--"+name+"=")
		}
	}
	return def
}

func run(args []string) int {
	fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: berthd [OPTIONS]\n\nA self-sufficient runtime for containers.\n\nOptions:\n%s", fs.FlagUsages())
	}
	flags := config.NewFlags(fs)
	showVersion := fs.BoolP("version", "v", false, "Print version information and quit")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		fmt.Fprintf(os.Stderr, "berthd: %v\nSee 'berthd --help'.\n", err)
		return 125
	}
	if *showVersion {
		fmt.Printf("berthd version %s, build %s\n", version.Version, version.GitCommit)
		return 0
	}
	cfg, err := flags.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "berthd: %v\n", err)
		return 1
	}
	lvl, _ := logrus.ParseLevel(cfg.LogLevel)
	logrus.SetLevel(lvl)
	logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02T15:04:05.000000000Z07:00"})

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	if err := wire.Run(ctx, cfg); err != nil {
		logrus.WithError(err).Error("berthd exited")
		return 1
	}
	return 0
}

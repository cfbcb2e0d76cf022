package monitor

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Main is `berthd monitor [--exec-root DIR] [--data-root DIR]`: it logs to
// <exec-root>/monitor.log (stderr too, so runtime panics land there) and
// serves until SIGTERM or SIGINT. runtimes resolves CreateRequest.Runtime.
func Main(args []string, runtimes RuntimeFunc) int {
	fs := flag.NewFlagSet("berthd monitor", flag.ContinueOnError)
	execRoot := fs.String("exec-root", "/run/berth", "root of the monitor's socket and per-container state")
	dataRoot := fs.String("data-root", "/var/lib/berth", "berthd's data root")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Getenv(daemonizeEnv) != "" {
		return daemonize(args)
	}
	if err := os.MkdirAll(*execRoot, 0o711); err != nil {
		fmt.Fprintf(os.Stderr, "berthd monitor: %v\n", err)
		return 1
	}
	logf, err := os.OpenFile(filepath.Join(*execRoot, "monitor.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "berthd monitor: %v\n", err)
		return 1
	}
	defer logf.Close()
	unix.Dup3(int(logf.Fd()), 2, 0)
	os.Chdir("/")
	logger := slog.New(slog.NewTextHandler(logf, nil))

	ctx, cancel := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
	defer cancel()
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
	err = Serve(ctx, Config{ExecRoot: *execRoot, DataRoot: *dataRoot, Runtimes: runtimes, Logger: logger})
	if err != nil {
		logger.Error("monitor exited", "err", err)
		return 1
	}
	logger.Info("monitor stopped")
	return 0
}

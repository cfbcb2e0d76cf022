// Package dockerinit is the init process of `docker run --init`: PID 1 of
// the container, it starts the command, forwards the signals it gets to
// it, reaps every process that is reparented to it (orphans that would
// otherwise stay zombies), and exits with the command's status, as tini
// (Docker's docker-init) does.
//
// There is no separate binary: the engine bind-mounts the berthd binary
// read-only at /sbin/docker-init and runs `/sbin/docker-init -- CMD...`;
// berthd's main calls Main when its argv[0] is named docker-init, before
// anything else. The binary's pages are shared with the host's page
// cache; the process itself costs what a small Go program does (measured
// in the package test: about 2 MiB RSS).
//
// # Sequence
//
//  1. subscribe to every signal (before the child exists, so none is lost)
//  2. start CMD (PATH lookup as exec does); with a terminal on stdin, in
//     its own process group made the terminal's foreground group, so ^C
//     reaches it directly
//  3. loop: SIGCHLD -> wait4(-1, WNOHANG) until nothing is left; the
//     command's exit ends the loop. Any other signal -> kill(CMD, sig),
//     except the ones a process only gets from its own faults and the
//     terminal job-control ones (as tini)
//  4. exit with the command's status: its code, or 128+signal
package dockerinit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Name is the base name the init runs under (/sbin/docker-init).
const Name = "docker-init"

// Path is where the engine mounts it in the container.
const Path = "/sbin/docker-init"

// Main runs the init with the process's arguments and never returns.
func Main() {
	os.Exit(Run(os.Args[1:]))
}

// Run starts args (after an optional "--") and supervises it; it returns
// the exit status to exit with.
func Run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "docker-init: no command given")
		return 1
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Args = args
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0}
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "docker-init: exec %s failed: %v\n", args[0], err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	child := cmd.Process.Pid
	for sig := range sigs {
		s, _ := sig.(syscall.Signal)
		if s != syscall.SIGCHLD {
			if forwarded(s) {
				_ = syscall.Kill(child, s)
			}
			continue
		}
		if status, done := reap(child); done {
			return status
		}
	}
	return 1 // not reached: the channel is never closed
}

// reap collects every exited child; done reports whether child was one
// of them, with the status to exit with.
func reap(child int) (status int, done bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return status, done
		}
		if pid == child {
			done = true
			switch {
			case ws.Exited():
				status = ws.ExitStatus()
			case ws.Signaled():
				status = 128 + int(ws.Signal())
			}
		}
	}
}

// forwarded reports whether a signal the init got goes on to the command:
// not the fault signals (only a process's own faults raise them), not
// terminal job control, not the Go runtime's preemption signal.
func forwarded(s syscall.Signal) bool {
	switch s {
	case syscall.SIGFPE, syscall.SIGILL, syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGABRT,
		syscall.SIGTRAP, syscall.SIGSYS, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGURG:
		return false
	}
	return s > 0
}

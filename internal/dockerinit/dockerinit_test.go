package dockerinit

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as the init under test: with BERTH_DOCKERINIT_TEST set,
// the test binary is the init, running the rest of its arguments.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_DOCKERINIT_TEST") != "" {
		os.Exit(Run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func initCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
	cmd.Env = append(os.Environ(), "BERTH_DOCKERINIT_TEST=1")
	return cmd
}

func TestExitStatusPassesThrough(t *testing.T) {
	for cmdline, want := range map[string]int{"exit 0": 0, "exit 7": 7, "kill -9 $$": 137} {
		cmd := initCmd("sh", "-c", cmdline)
		_ = cmd.Run()
		if got := cmd.ProcessState.ExitCode(); got != want {
			t.Errorf("%q: exit %d, want %d", cmdline, got, want)
		}
	}
	cmd := initCmd("/no/such/binary")
	_ = cmd.Run()
	if got := cmd.ProcessState.ExitCode(); got != 127 {
		t.Errorf("missing binary: exit %d, want 127", got)
	}
}

// TestForwardsSignals: SIGTERM to the init reaches the command, which
// dies of it; the init exits 128+15.
func TestForwardsSignals(t *testing.T) {
	cmd := initCmd("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the init has started its child.
	deadline := time.Now().Add(5 * time.Second)
	for !childOf(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the init started no child")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("SIGTERM not forwarded")
	}
	if got := cmd.ProcessState.ExitCode(); got != 143 {
		t.Errorf("exit %d, want 143", got)
	}
}

// childOf reports whether some thread of pid has a child.
func childOf(pid int) bool {
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, tk := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + tk.Name() + "/children")
		if strings.TrimSpace(string(b)) != "" {
			return true
		}
	}
	return false
}

func TestForwarded(t *testing.T) {
	for _, s := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGWINCH, syscall.SIGPIPE} {
		if !forwarded(s) {
			t.Errorf("%v not forwarded", s)
		}
	}
	for _, s := range []syscall.Signal{syscall.SIGSEGV, syscall.SIGURG, syscall.SIGTTIN, 0} {
		if forwarded(s) {
			t.Errorf("%v forwarded", s)
		}
	}
}

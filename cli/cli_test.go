package cli

import (
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestResolveHost(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		flag string
		env  map[string]string
		want string
	}{
		{want: "unix:///run/berth.sock"},
		{env: map[string]string{"DOCKER_HOST": "tcp://d:2375"}, want: "tcp://d:2375"},
		{env: map[string]string{"DOCKER_HOST": "tcp://d:2375", "BERTH_HOST": "unix:///b.sock"}, want: "unix:///b.sock"},
		{flag: "tcp://flag:1", env: map[string]string{"DOCKER_HOST": "tcp://d:2375", "BERTH_HOST": "unix:///b.sock"}, want: "tcp://flag:1"},
		{env: map[string]string{"BERTH_HOST": "", "DOCKER_HOST": ""}, want: DefaultHost},
	}
	for _, tc := range tests {
		if got := ResolveHost(tc.flag, env(tc.env)); got != tc.want {
			t.Errorf("ResolveHost(%q, %v) = %q, want %q", tc.flag, tc.env, got, tc.want)
		}
	}
}

func TestHostFlagOverridesEnv(t *testing.T) {
	c, _, _ := newTestCLI("unix:///from/env.sock")
	root := NewRootCommand(c)
	root.SetArgs([]string{"-H", "tcp://127.0.0.1:1", "version", "--help"})
	root.SetOut(&strings.Builder{})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := c.Host(); got != "tcp://127.0.0.1:1" {
		t.Errorf("Host() = %q", got)
	}
}

func TestStartErrorCode(t *testing.T) {
	for msg, want := range map[string]int{
		`Error response from daemon: failed to create task: exec: "nope": executable file not found in $PATH`: 127,
		"Error response from daemon: exec /bin/x: no such file or directory":                                  127,
		"Error response from daemon: exec /etc/passwd: permission denied":                                     126,
		"Error response from daemon: exec /etc: is a directory":                                               126,
		"Error response from daemon: No such image: x:latest":                                                 125,
		"Cannot connect to the daemon":                                                                        125,
	} {
		if got := startErrorCode(errors.New(msg)); got != want {
			t.Errorf("startErrorCode(%q) = %d, want %d", msg, got, want)
		}
	}
}

func TestExitCode(t *testing.T) {
	if c, m := exitCode(nil); c != 0 || m != "" {
		t.Errorf("nil: %d %q", c, m)
	}
	if c, m := exitCode(errors.New("boom")); c != 1 || m != "boom" {
		t.Errorf("plain: %d %q", c, m)
	}
	if c, m := exitCode(StatusError{StatusCode: 42}); c != 42 || m != "" {
		t.Errorf("status: %d %q", c, m)
	}
	if c, m := exitCode(fmt.Errorf("wrapped: %w", StatusError{Status: "x", StatusCode: 125})); c != 125 || m != "x" {
		t.Errorf("wrapped status: %d %q", c, m)
	}
}

// TestCommandTree checks every command this CLI promises exists, with its
// docker flags.
func TestCommandTree(t *testing.T) {
	c, _, _ := newTestCLI("unix:///nonexistent.sock")
	root := NewRootCommand(c)
	want := map[string][]string{
		"run":               {"detach", "interactive", "tty", "rm", "name", "env", "env-file", "workdir", "user", "entrypoint", "hostname", "memory", "memory-swap", "cpus", "cpu-shares", "pids-limit", "privileged", "cap-add", "cap-drop", "read-only", "runtime", "log-driver", "log-opt", "label", "label-file", "network", "volume", "tmpfs", "security-opt", "init", "restart", "stop-signal", "stop-timeout", "group-add", "ulimit", "shm-size", "attach", "sig-proxy", "detach-keys", "platform", "cgroup-parent", "cgroupns", "pull", "quiet", "cidfile", "publish", "publish-all", "expose", "dns", "add-host", "device", "sysctl", "pid", "ipc", "health-cmd", "no-healthcheck", "mount"},
		"create":            {"name", "env", "memory", "volume", "restart", "platform", "attach", "interactive", "tty"},
		"start":             {"attach", "interactive", "detach-keys"},
		"stop":              {"timeout", "signal"},
		"restart":           {"timeout", "signal"},
		"kill":              {"signal"},
		"wait":              nil,
		"rm":                {"force", "volumes"},
		"ps":                {"all", "quiet", "last", "latest", "filter", "format", "no-trunc", "size"},
		"inspect":           {"format", "type", "size"},
		"logs":              {"follow", "tail", "timestamps", "since", "until", "details"},
		"attach":            {"no-stdin", "sig-proxy", "detach-keys"},
		"exec":              {"detach", "detach-keys", "env", "env-file", "interactive", "privileged", "tty", "user", "workdir"},
		"container exec":    {"detach", "interactive", "tty"},
		"rename":            nil,
		"events":            {"since", "until", "filter", "format"},
		"system events":     {"since", "until", "filter", "format"},
		"container prune":   {"force", "filter"},
		"container ls":      {"all", "quiet", "format"},
		"container ps":      {"all", "quiet", "format"},
		"container run":     {"detach", "rm"},
		"container inspect": {"format", "size"},
		"images":            {"all", "quiet", "filter", "format", "digests", "no-trunc"},
		"image ls":          {"all", "quiet", "filter", "format", "digests", "no-trunc"},
		"image inspect":     {"format"},
		"rmi":               {"force", "no-prune"},
		"image rm":          {"force", "no-prune"},
		"import":            {"change", "message", "platform"},
		"image import":      {"change", "message"},
		"tag":               nil,
		"image tag":         nil,
		"history":           {"human", "quiet", "no-trunc", "format"},
		"image history":     {"human", "quiet", "no-trunc", "format"},
		"version":           {"format"},
		"info":              {"format"},
	}
	shorthands := map[string]map[string]string{
		"run":     {"d": "detach", "i": "interactive", "t": "tty", "e": "env", "w": "workdir", "u": "user", "h": "hostname", "m": "memory", "l": "label", "v": "volume", "a": "attach", "c": "cpu-shares"},
		"ps":      {"a": "all", "q": "quiet", "n": "last", "l": "latest", "f": "filter", "s": "size"},
		"stop":    {"t": "timeout", "s": "signal"},
		"kill":    {"s": "signal"},
		"rm":      {"f": "force", "v": "volumes"},
		"logs":    {"f": "follow", "t": "timestamps", "n": "tail"},
		"inspect": {"f": "format", "s": "size"},
		"images":  {"a": "all", "q": "quiet", "f": "filter"},
		"import":  {"c": "change", "m": "message"},
		"start":   {"a": "attach", "i": "interactive"},
		"exec":    {"d": "detach", "e": "env", "i": "interactive", "t": "tty", "u": "user", "w": "workdir"},
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		cmd, rest, err := root.Find(strings.Fields(name))
		if err != nil || len(rest) != 0 || cmd == root {
			t.Errorf("command %q missing (found %q, rest %v, err %v)", name, cmd.CommandPath(), rest, err)
			continue
		}
		for _, f := range want[name] {
			if cmd.Flags().Lookup(f) == nil {
				t.Errorf("%s: flag --%s missing", name, f)
			}
		}
		for short, long := range shorthands[name] {
			f := cmd.Flags().ShorthandLookup(short)
			if f == nil || f.Name != long {
				t.Errorf("%s: -%s should be --%s, got %v", name, short, long, f)
			}
		}
	}
	// Global flags.
	for _, f := range []string{"host", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey"} {
		if root.Flags().Lookup(f) == nil {
			t.Errorf("global --%s missing", f)
		}
	}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.RunE == nil && cmd.Run == nil {
			t.Errorf("%s has no action", cmd.CommandPath())
		}
		for _, s := range cmd.Commands() {
			walk(s)
		}
	}
	walk(root)
}

// TestCLIDoesNotLinkDaemon keeps the CLI on the API side of the house.
func TestCLIDoesNotLinkDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/berth-dev/berth/cmd/berth").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"runtime", "storage", "layer", "image", "engine", "monitor", "cgroups", "network", "container", "apiserver"} {
			p := "github.com/berth-dev/berth/internal/" + banned
			if dep == p || strings.HasPrefix(dep, p+"/") {
				t.Errorf("berth links %s", dep)
			}
		}
	}
}

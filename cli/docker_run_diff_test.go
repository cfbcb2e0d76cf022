package cli

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRunFlowMatchesDockerCLI compares the request sequence, output and
// exit status of run/start/attach between the real docker CLI and berth,
// each against a fresh scripted Engine API.
func TestRunFlowMatchesDockerCLI(t *testing.T) {
	dockerBin, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed")
	}
	type script struct {
		stdout, stderr string
		exitCode       int
		startErr       string
		echoStdin      bool
		stdin          string
	}
	cases := []struct {
		args []string
		s    script
	}{
		{[]string{"run", "busybox", "echo", "hi"}, script{stdout: "hi\n", stderr: "warn\n", exitCode: 3}},
		{[]string{"run", "--rm", "busybox"}, script{stdout: "x\n"}},
		{[]string{"run", "-d", "busybox"}, script{}},
		{[]string{"run", "-a", "stdout", "busybox"}, script{stdout: "shown\n", exitCode: 1}},
		{[]string{"run", "-i", "busybox", "cat"}, script{echoStdin: true, stdin: "ping\n"}},
		{[]string{"run", "--sig-proxy=false", "busybox", "nope"}, script{startErr: `failed to create task: exec: "nope": executable file not found in $PATH`}},
		{[]string{"run", "busybox", "/etc"}, script{startErr: "exec /etc: permission denied"}},
		{[]string{"run", "--rm", "busybox"}, script{startErr: "cgroup: invalid argument"}},
		{[]string{"start", "-a", "web"}, script{stdout: "again\n", exitCode: 5}},
		{[]string{"start", "web", "other"}, script{}},
		{[]string{"attach", "web"}, script{stdout: "tail\n", exitCode: 2}},
		{[]string{"attach", "--no-stdin", "web"}, script{stdout: "tail\n", echoStdin: true}},
		{[]string{"attach", "web"}, script{echoStdin: true, stdin: "in\n"}},
		{[]string{"start", "-ai", "web"}, script{echoStdin: true, stdin: "typed\n", exitCode: 9}},
	}
	for _, tc := range cases {
		name := strings.Join(tc.args, " ")
		setup := func() *fakeEngine {
			return newFakeEngine(t, func(e *fakeEngine) {
				e.stdout, e.stderr, e.exitCode, e.startErr, e.echoStdin = tc.s.stdout, tc.s.stderr, tc.s.exitCode, tc.s.startErr, tc.s.echoStdin
				if tc.args[0] == "attach" {
					close(e.started) // already running
				}
			})
		}
		de := setup()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, dockerBin, append([]string{"-H", de.host}, tc.args...)...)
		cmd.Env = append(filteredEnv(), "DOCKER_CONFIG="+t.TempDir())
		cmd.Stdin = strings.NewReader(tc.s.stdin)
		var dout, derr strings.Builder
		cmd.Stdout, cmd.Stderr = &dout, &derr
		dcode := 0
		if err := cmd.Run(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				cancel()
				t.Fatalf("%s: %v", name, err)
			}
			dcode = ee.ExitCode()
		}
		cancel()

		be := setup()
		bcode, bout, berr := be.run(t, tc.s.stdin, tc.args...)
		wantErr := strings.ReplaceAll(derr.String(), "docker", "berth")
		if dout.String() != bout || wantErr != berr || dcode != bcode {
			t.Errorf("%s:\n--- docker (exit %d)\n%s%s--- berth (exit %d)\n%s%s", name, dcode, dout.String(), wantErr, bcode, bout, berr)
		}
		if dc, bc := strings.Join(de.callList(), "\n"), strings.Join(be.callList(), "\n"); dc != bc {
			t.Errorf("%s: calls differ\n--- docker\n%s\n--- berth\n%s", name, dc, bc)
		}
		dw, ds := de.observed()
		bw, bs := be.observed()
		if dw != bw {
			t.Errorf("%s: wait condition docker %q berth %q", name, dw, bw)
		}
		if ds != bs {
			t.Errorf("%s: stdin docker %q berth %q", name, ds, bs)
		}
	}
}

package cli

import (
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
)

// TestOutputMatchesDockerCLI is a differential test of rendering: the real
// docker CLI and berth run the same command against the same fake Engine
// API, and print the same stdout, stderr (with the program name swapped)
// and exit status.
func TestOutputMatchesDockerCLI(t *testing.T) {
	dockerBin, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed")
	}
	now := time.Now()
	e := newFakeEngine(t, func(e *fakeEngine) {
		e.containers = []container.Summary{
			{
				ID:      "4c0ffee000000000000000000000000000000000000000000000000000000001",
				Names:   []string{"/web"},
				Image:   "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				Command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
				Created: now.Add(-30 * time.Minute).Unix(),
				State:   "running",
				Status:  "Up 29 minutes",
				Labels:  map[string]string{"b": "2", "a": "1"},
				Ports: []container.PortSummary{
					{PrivatePort: 443, Type: "tcp"},
					{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				},
				SizeRw:     1234,
				SizeRootFs: 4_400_000,
				Mounts:     []container.MountPoint{{Type: "volume", Name: "0123456789abcdef0123", Source: "/var/lib/x", Destination: "/data", Driver: "local"}},
				NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
					"bridge": {}, // one: docker prints networks in map order
				}},
			},
			{
				ID:      "deadbeef00000000000000000000000000000000000000000000000000000002",
				Names:   []string{"/idle"},
				Image:   "sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef",
				Command: "sh",
				Created: now.Add(-3 * time.Hour).Unix(),
				State:   "exited",
				Status:  "Exited (0) 2 hours ago",
			},
		}
		e.images = []image.Summary{
			{ID: "sha256:aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111", RepoTags: []string{"busybox:latest", "localhost:5000/bb:1.0"}, RepoDigests: []string{"busybox@sha256:d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1"}, Created: now.Add(-50 * time.Hour).Unix(), Size: 4_400_000, Containers: -1, SharedSize: -1},
			{ID: "sha256:bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222", Created: now.Add(-20 * time.Minute).Unix(), Size: 999, Containers: -1, SharedSize: -1},
			{ID: "sha256:cccccccccccc3333333333333333333333333333333333333333333333333333", RepoDigests: []string{"alpine@sha256:d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2"}, Created: now.Add(-3 * time.Hour).Unix(), Size: 1234, Containers: -1, SharedSize: -1},
		}
		e.exitCode = 4
		e.exit()
	})

	cases := [][]string{
		{"ps"},
		{"ps", "-a", "-q"},
		{"ps", "--no-trunc"},
		{"ps", "-s"},
		{"ps", "--format", "json"},
		{"ps", "--format", `table {{.Names}}\t{{.Labels}}\t{{.Mounts}}\t{{.Networks}}\t{{.LocalVolumes}}\t{{.State}}`},
		{"ps", "--format", `{{.ID}} {{.Label "b"}} {{upper .Names}} {{json .Names}} {{.CreatedAt}}`},
		{"container", "ls", "--format", "table"},
		{"images"},
		{"images", "-q"},
		{"images", "--digests"},
		{"images", "--no-trunc"},
		{"images", "--format", "json"},
		{"images", "--format", `{{.Repository}}:{{.Tag}} {{.ID}}`},
		{"history", "busybox"},
		{"history", "--no-trunc", "busybox"},
		{"history", "-q", "busybox"},
		{"history", "--format", "json", "busybox"},
		{"inspect", "web"},
		{"inspect", "-f", "{{.State.Pid}} {{.Name}} {{json .Config.Image}} {{.State}}", "web"},
		{"inspect", "nosuch"},
		{"inspect", "web", "nosuch"},
		{"container", "inspect", "nosuch"},
		{"image", "inspect", "nosuch"},
		{"image", "inspect", "busybox"},
		{"stop", "a", "nosuch", "b"},
		{"kill", "a", "nosuch"},
		{"rm", "a", "nosuch"},
		{"rm", "-f", "nosuch"},
		{"rmi", "busybox", "nosuch"},
		{"restart", "a"},
		{"logs", "web"},
		{"wait", "web"},
		{"stop"},
		{"rename", "a"},
		{"ps", "--format", "{{.Nope"},
		{"images", "--format", "{{.Nope"},
		{"history", "--format", "{{.Nope", "busybox"},
		{"inspect", "-f", "{{.Nope", "web"},
		{"ps", "x"},
		{"images", "a", "b"},
		{"tag", "a"},
		{"info", "x"},
		{"import"},
		{"attach", "stopped"},
		{"start", "nosuch"},
		{"start", "a", "nosuch"},
		{"logs", "nosuch"},
		{"wait", "nosuch"},
		{"rename", "nosuch", "x"},
		{"history", "nosuch"},
		{"tag", "nosuch", "x"},
		{"image", "rm", "nosuch"},
		{"container", "prune", "-f"},
		{"version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"},
		{"info", "--format", "{{.ServerVersion}} {{.OSType}}"},
		{"inspect", "--type", "bogus", "web"},
		{"inspect", "--type", "image", "nosuch"},
		{"create", "nosuch"},
		{"create", "-q", "nosuch"},
		{"create", "--pull", "never", "nosuch"},
		{"create", "--pull", "bogus", "busybox"},
		{"run", "nosuch"},
		{"run", "-q", "nosuch"},
		{"run", "--pull", "never", "nosuch"},
		{"run", "--pull", "always", "busybox"},
		{"create", "-m", "12x", "busybox"},
		{"create", "--rm", "--restart", "always", "busybox"},
		{"rm", "--help"},
		{"stop", "--help"},
		{"logs", "--help"},
		{"attach", "--help"},
		{"container", "prune", "--help"},
		{"wait", "--help"},
		{"tag", "--help"},
		{"foo"},
		{"container", "prune"},
		{"container", "foo"},
		{"image", "foo"},
	}
	for _, args := range cases {
		name := strings.Join(args, " ")
		cmd := exec.Command(dockerBin, append([]string{"-H", e.host}, args...)...)
		cmd.Env = append(filteredEnv(), "DOCKER_CONFIG="+t.TempDir())
		var dout, derr strings.Builder
		cmd.Stdout, cmd.Stderr = &dout, &derr
		dcode := 0
		if err := cmd.Run(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("%s: %v", name, err)
			}
			dcode = ee.ExitCode()
		}
		bcode, bout, berr := e.run(t, "", args...)
		wantErr := strings.ReplaceAll(derr.String(), "docker", "berth")
		wantErr = strings.ReplaceAll(wantErr, "SRun '", "Run '") // a docker typo
		dstr := dout.String()
		if args[len(args)-1] == "--help" {
			dstr = strings.ReplaceAll(dstr, "docker", "berth")
		}
		if args[0] == "images" {
			// docker orders an image's names by map iteration (random).
			dstr, bout = sortedLines(dstr), sortedLines(bout)
		}
		if dstr != bout || wantErr != berr || dcode != bcode {
			t.Errorf("%s:\n--- docker (exit %d)\n%s%s--- berth (exit %d)\n%s%s", name, dcode, dstr, wantErr, bcode, bout, berr)
		}
	}
}

// sortedLines sorts the lines, keeping a table header first.
func sortedLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	body := lines
	if strings.HasPrefix(lines[0], "REPOSITORY") {
		body = lines[1:]
	}
	sort.Strings(body)
	return strings.Join(lines, "\n") + "\n"
}

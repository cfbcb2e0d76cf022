package e2e

import (
	"runtime"
	"strings"
	"testing"
)

// docker import --platform: linux (and the host's architecture) is
// recorded in the config; another OS gets dockerd's error, another
// architecture an error, and neither leaves an image.
func TestImportPlatform(t *testing.T) {
	d := StartDaemon(t)
	for _, p := range []string{"linux", "linux/" + runtime.GOARCH} {
		d.MustDocker("import", "--platform", p, rootfsTar, "plat:ok")
		if got := strings.TrimSpace(d.MustDocker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "plat:ok")); got != "linux/"+runtime.GOARCH {
			t.Fatalf("--platform %s: image is %s", p, got)
		}
		d.MustDocker("rmi", "plat:ok")
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	for p, msg := range map[string]string{
		"windows/amd64":                     "operating system is not supported",
		"linux/" + other:                    "is not supported",
		"linux/" + runtime.GOARCH + "/v9/x": "",
	} {
		r := d.Docker("", "import", "--platform", p, rootfsTar, "plat:bad")
		if r.Code == 0 || !strings.Contains(r.Stderr, msg) {
			t.Fatalf("--platform %s: want an error with %q, got %s", p, msg, r)
		}
	}
	if out := d.MustDocker("images", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("refused imports left images: %q", out)
	}
}

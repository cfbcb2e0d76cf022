package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDockerPy drives berthd with Debian's docker-py (python3-docker), as a
// Python user would: negotiate, run, read logs and exit code, list, remove.
func TestDockerPy(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import docker").Run(); err != nil {
		t.Skip("python3-docker is not installed")
	}
	d := StartDaemon(t)
	d.ImportBusybox()
	script := `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1], version="auto")
assert c.ping()
print("api", c.api.api_version)
out = c.containers.run("busybox", ["sh", "-c", "echo hello-py; exit 0"], remove=True)
print("out", out.decode().strip())
ct = c.containers.run("busybox", ["sh", "-c", "echo bye; exit 4"], detach=True, name="py1")
res = ct.wait()
print("exit", res["StatusCode"])
print("logs", ct.logs().decode().strip())
print("names", ",".join(x.name for x in c.containers.list(all=True)))
ct.remove()
print("images", ",".join(t for i in c.images.list() for t in i.tags))
try:
    c.containers.get("nosuch")
except docker.errors.NotFound as e:
    print("notfound ok")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, d.Host).CombinedOutput()
	if err != nil {
		t.Fatalf("docker-py: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{"out hello-py", "exit 4", "logs bye", "names py1", "images busybox:latest", "notfound ok"} {
		if !strings.Contains(got, want) {
			t.Errorf("docker-py output lacks %q:\n%s", want, got)
		}
	}
}

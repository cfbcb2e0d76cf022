package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/distribution/registrytest"
)

// Push an image to a real registry (Debian's docker-registry, plain HTTP
// on loopback: insecure by default), remove it, pull it back by tag and
// by digest, and run it.
func TestRegistryPushPull(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	d := StartDaemon(t)
	d.ImportBusybox()
	name := reg.Host + "/e2e/busybox"
	d.MustDocker("tag", "busybox", name+":v1")
	out := d.MustDocker("push", name+":v1")
	if !registrytest.Contains(out, "The push refers to repository ["+name+"]", "v1: digest: sha256:") {
		t.Fatalf("push output: %s", out)
	}
	dgst := out[strings.Index(out, "sha256:"):]
	dgst = dgst[:71]

	d.MustDocker("rmi", name+":v1")
	d.MustDocker("rmi", "busybox")
	if r := d.Docker("", "image", "inspect", name+":v1"); r.Code == 0 {
		t.Fatalf("image still there after rmi: %s", r)
	}

	out = d.MustDocker("pull", name+":v1")
	if !registrytest.Contains(out, "v1: Pulling from e2e/busybox", "Pull complete", "Digest: "+dgst, "Status: Downloaded newer image for "+name+":v1") {
		t.Fatalf("pull output: %s", out)
	}
	if got := d.MustDocker("run", "--rm", name+":v1", "echo", "pulled"); got != "pulled" {
		t.Fatalf("run pulled image: %q", got)
	}
	var digests []string
	_ = json.Unmarshal([]byte(d.MustDocker("image", "inspect", "-f", "{{json .RepoDigests}}", name+":v1")), &digests)
	if len(digests) != 1 || digests[0] != name+"@"+dgst {
		t.Fatalf("RepoDigests = %v, want [%s@%s]", digests, name, dgst)
	}
	// Pulling again changes nothing.
	if out := d.MustDocker("pull", name+":v1"); !strings.Contains(out, "Image is up to date for "+name+":v1") {
		t.Fatalf("second pull: %s", out)
	}

	d.MustDocker("rmi", name+":v1")
	if out := d.MustDocker("images", "-q"); out != "" {
		t.Fatalf("images left after rmi: %q", out)
	}
	out = d.MustDocker("pull", name+"@"+dgst)
	if !strings.Contains(out, "Status: Downloaded newer image for "+name+"@"+dgst) {
		t.Fatalf("pull by digest: %s", out)
	}
	if got := d.MustDocker("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"); got != name+" <none> "+dgst {
		t.Fatalf("images --digests: %q", got)
	}
	if got := d.MustDocker("run", "--rm", name+"@"+dgst, "echo", "by-digest"); got != "by-digest" {
		t.Fatalf("run by digest: %q", got)
	}

	// Errors a user sees.
	if r := d.Docker("", "pull", reg.Host+"/e2e/nothere:v1"); r.Code == 0 || !strings.Contains(r.Stderr, "manifest for "+reg.Host+"/e2e/nothere:v1 not found: manifest unknown") {
		t.Fatalf("pull of a missing image: %s", r)
	}
	if r := d.Docker("", "push", reg.Host+"/e2e/none:v1"); r.Code == 0 || !strings.Contains(r.Stderr, "An image does not exist locally with the tag: "+reg.Host+"/e2e/none") {
		t.Fatalf("push of a missing image: %s", r)
	}
}

// docker login against a TLS registry with htpasswd basic auth; push and
// pull need the stored credentials.
func TestRegistryLoginTLS(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{TLS: true, User: "alice", Password: "s3cret"})
	d := StartDaemon(t)
	d.ImportBusybox()
	name := reg.Host + "/private/busybox:latest"
	d.MustDocker("tag", "busybox", name)
	if r := d.Docker("", "push", name); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "no basic auth credentials") && !strings.Contains(r.Stdout+r.Stderr, "unauthorized") && !strings.Contains(r.Stdout+r.Stderr, "authentication required") {
		t.Fatalf("push without login: %s", r)
	}
	if r := d.Docker("", "login", "-u", "alice", "-p", "wrong", reg.Host); r.Code == 0 || !strings.Contains(r.Stderr, "401 Unauthorized") {
		t.Fatalf("login with a wrong password: %s", r)
	}
	if r := d.Docker("s3cret\n", "login", "-u", "alice", "--password-stdin", reg.Host); r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("login: %s", r)
	}
	b, err := os.ReadFile(filepath.Join(d.Root, "dockercfg", "config.json"))
	if err != nil || !strings.Contains(string(b), reg.Host) {
		t.Fatalf("docker config after login: %s %v", b, err)
	}
	d.MustDocker("push", name)
	d.MustDocker("rmi", name)
	d.MustDocker("pull", name)
	d.MustDocker("logout", reg.Host)
	d.MustDocker("rmi", name)
	if r := d.Docker("", "pull", name); r.Code == 0 {
		t.Fatalf("pull after logout succeeded: %s", r)
	}
}

// A Docker Hub name is pulled through --registry-mirror: the mirror on
// loopback serves library/busybox.
func TestRegistryMirror(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	d := StartDaemon(t, "--registry-mirror", reg.URL)
	d.ImportBusybox()
	d.MustDocker("tag", "busybox", reg.Host+"/library/busybox:latest")
	d.MustDocker("push", reg.Host+"/library/busybox:latest")
	d.MustDocker("rmi", reg.Host+"/library/busybox:latest", "busybox")
	out := d.MustDocker("pull", "busybox")
	if !strings.Contains(out, "Status: Downloaded newer image for busybox:latest") {
		t.Fatalf("pull through the mirror: %s", out)
	}
	if got := d.MustDocker("run", "--rm", "busybox", "echo", "mirrored"); got != "mirrored" {
		t.Fatalf("run: %q", got)
	}
	// run pulls a missing image through the mirror too.
	d.MustDocker("rmi", "busybox")
	r := d.Docker("", "run", "--rm", "busybox", "echo", "auto")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "auto" || !strings.Contains(r.Stderr, "Unable to find image 'busybox:latest' locally") {
		t.Fatalf("run pulling: %s", r)
	}
	_ = context.Background
}

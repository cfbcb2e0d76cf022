package e2e

import (
	"context"
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	id := d.MustDocker("image", "inspect", "-f", "{{.Id}}", "busybox")
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
	// Layers keep the tar they came from, so the image ID survives the
	// round trip through the registry.
	if got := d.MustDocker("image", "inspect", "-f", "{{.Id}}", name+":v1"); got != id {
		t.Errorf("image ID after push and pull: %s, want %s", got, id)
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
	d.MustDocker("rmi", "busybox")
	r = d.Berth("", "run", "--rm", "busybox", "echo", "berth-auto")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "berth-auto" || !strings.Contains(r.Stderr, "Unable to find image 'busybox:latest' locally") {
		t.Fatalf("berth run pulling: %s", r)
	}
}

// berth's own CLI: login, push, pull (drawing its own progress), logout.
func TestRegistryBerthCLI(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{User: "carol", Password: "pw"})
	d := StartDaemon(t)
	d.ImportBusybox()
	name := reg.Host + "/cli/busybox:v2"
	d.MustDocker("tag", "busybox", name)
	if r := d.Berth("pw\n", "login", "-u", "carol", "--password-stdin", reg.Host); r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("berth login: %s", r)
	}
	if r := d.Berth("", "push", name); r.Code != 0 || !strings.Contains(r.Stdout, "v2: digest: sha256:") {
		t.Fatalf("berth push: %s", r)
	}
	d.MustDocker("rmi", name, "busybox")
	r := d.Berth("", "pull", name)
	if r.Code != 0 || !registrytest.Contains(r.Stdout, "Pull complete", "Status: Downloaded newer image for "+name, "\n"+name+"\n") {
		t.Fatalf("berth pull: %s", r)
	}
	if r := d.Berth("", "logout", reg.Host); r.Code != 0 || !strings.Contains(r.Stdout, "Removing login credentials for "+reg.Host) {
		t.Fatalf("berth logout: %s", r)
	}
	d.MustDocker("rmi", name)
	if r := d.Berth("", "pull", name); r.Code == 0 {
		t.Fatalf("pull after logout: %s", r)
	}
}

// berthd killed with SIGKILL in the middle of a pull restarts into a
// consistent store: no image listed, no layer left; the pull then
// completes.
func TestRegistryPullCrash(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	var layers []registrytest.Layer
	// The last layer is the largest, so that a kill after the third is
	// registered lands well before the pull ends.
	for i, size := range []int{6 << 20, 6 << 20, 6 << 20, 24 << 20} {
		layers = append(layers, registrytest.RandomLayer("data"+string(rune('a'+i)), size))
	}
	if _, err := registrytest.PushImage(context.Background(), reg.URL, "crash/img", "v1", layers); err != nil {
		t.Fatal(err)
	}
	name := reg.Host + "/crash/img:v1"
	d := StartDaemon(t)
	layerdb := filepath.Join(d.DataRoot, "image", "overlay2", "layerdb", "sha256")
	entries := func() int {
		ents, _ := os.ReadDir(layerdb)
		return len(ents)
	}
	// Kill at three points: while downloading, after the first layer is
	// registered, after more are.
	for round, after := range []int{0, 1, 3} {
		pull := exec.Command("docker", "-H", d.Host, "pull", "-q", name)
		if err := pull.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if after == 0 {
				if ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "tmp", "pull")); len(ents) > 0 {
					break
				}
			} else if entries() >= after {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		d.Kill()
		_ = pull.Wait()
		d.Start()
		if out := d.MustDocker("images", "-q"); out != "" {
			t.Fatalf("round %d: half-pulled image listed after restart: %q", round, out)
		}
		if n := entries(); n != 0 {
			t.Fatalf("round %d: %d layers left after restart with no image", round, n)
		}
		ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "overlay2"))
		for _, e := range ents {
			if e.Name() != "l" {
				t.Fatalf("round %d: orphan snapshot %s left in overlay2/", round, e.Name())
			}
		}
	}
	// Then at random moments: each time the store holds the whole image
	// (the pull won the race) or nothing of it.
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for round := 0; round < 4; round++ {
		pull := exec.Command("docker", "-H", d.Host, "pull", "-q", name)
		if err := pull.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Intn(400)) * time.Millisecond)
		d.Kill()
		_ = pull.Wait()
		d.Start()
		out := d.MustDocker("images", "-q")
		switch n := entries(); {
		case out == "" && n == 0:
		case out != "" && n == 4:
			// Whole; killed between storing the config and tagging it, it
			// is there untagged (dockerd's store behaves the same).
			d.MustDocker(append([]string{"rmi", "-f"}, strings.Fields(out)...)...)
		default:
			t.Fatalf("random round %d: images %q with %d layers", round, out, n)
		}
	}
	d.MustDocker("pull", name)
	if got := d.MustDocker("image", "inspect", "-f", "{{len .RootFS.Layers}}", name); got != "4" {
		t.Fatalf("pulled image has %s layers", got)
	}
	if n := entries(); n != 4 {
		t.Fatalf("%d layers stored, want 4", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "tmp", "pull")); len(ents) != 0 {
		t.Errorf("blobs left after a complete pull: %d", len(ents))
	}
}

// docker pull -a pulls every tag of a repository; berth pull -a too.
func TestRegistryPullAllTags(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	for _, tag := range []string{"one", "two"} {
		if _, err := registrytest.PushImage(context.Background(), reg.URL, "all/img", tag, []registrytest.Layer{registrytest.RandomLayer(tag, 4096)}); err != nil {
			t.Fatal(err)
		}
	}
	d := StartDaemon(t)
	name := reg.Host + "/all/img"
	d.MustDocker("pull", "-a", name)
	if got := d.MustDocker("images", "--format", "{{.Tag}}", name); got != "one\ntwo" && got != "two\none" {
		t.Fatalf("tags after pull -a: %q", got)
	}
	d.MustDocker("rmi", name+":one", name+":two")
	if r := d.Berth("", "pull", "-a", name); r.Code != 0 {
		t.Fatalf("berth pull -a: %s", r)
	}
	if got := d.MustDocker("images", "-q", name); len(strings.Fields(got)) != 2 {
		t.Fatalf("images after berth pull -a: %q", got)
	}
}

// Pushing a layer the registry already holds in another repository
// mounts it from there instead of uploading it; so does pushing a pulled
// image elsewhere on its registry.
func TestRegistryCrossRepoMount(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	d := StartDaemon(t)
	d.ImportBusybox()
	a, b, c := reg.Host+"/mount/a:v1", reg.Host+"/mount/b:v1", reg.Host+"/mount/c:v1"
	d.MustDocker("tag", "busybox", a)
	d.MustDocker("tag", "busybox", b)
	if out := d.MustDocker("push", a); !strings.Contains(out, "Pushed") {
		t.Fatalf("first push: %s", out)
	}
	if out := d.MustDocker("push", b); !strings.Contains(out, "Mounted from mount/a") {
		t.Fatalf("second push did not mount: %s", out)
	}
	// After a restart the knowledge persists, and a pulled image's layers
	// are known too.
	d.MustDocker("rmi", a, b, "busybox")
	d.Stop()
	d.Start()
	d.MustDocker("pull", a)
	d.MustDocker("tag", a, c)
	if out := d.MustDocker("push", c); !strings.Contains(out, "Mounted from mount/") {
		t.Fatalf("push of a pulled image did not mount: %s", out)
	}
	d.MustDocker("rmi", a, c)
	out := d.MustDocker("pull", c)
	if !strings.Contains(out, "Downloaded newer image") {
		t.Fatalf("pull of the mounted image: %s", out)
	}
}

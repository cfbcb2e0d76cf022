package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostCanary is a host directory holding one file, canary, of secret
// content: what a container's symlinks point at in the docker cp race
// tests, to be neither read, changed nor written next to.
type hostCanary struct {
	dir    string // holds canary only
	secret string // canary's content
	// tag names what an escaped copy in would create: <tag>-in in dir,
	// or at the host's / through a symlink to / (removed at the end).
	tag string
}

func newHostCanary(t *testing.T, d *Daemon, secret string) *hostCanary {
	t.Helper()
	h := &hostCanary{dir: t.TempDir(), secret: secret, tag: filepath.Base(d.Root)}
	if err := os.WriteFile(filepath.Join(h.dir, "canary"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove("/" + h.tag + "-in") })
	return h
}

// swapLoop is a container's shell loop swapping dir/x, without end,
// between a directory with a canary of its own, a symlink to h.dir and
// a symlink to /.
func (h *hostCanary) swapLoop(dir string) string {
	return fmt.Sprintf(`cd %s; while :; do
		rm -rf x; mkdir x; echo ctr > x/canary
		rm -rf x; ln -s %s x
		rm -f x; ln -s / x
	done`, dir, h.dir)
}

// checkUntouched fails t if the canary changed, anything appeared next
// to it, or a copy in wrote /<tag>-in through the symlink to /.
func (h *hostCanary) checkUntouched(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(h.dir, "canary")); err != nil || string(b) != h.secret {
		t.Errorf("host canary changed: %v", err)
	}
	if ents, _ := os.ReadDir(h.dir); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files appeared in the host directory the container's symlink points to: %v", names)
	}
	if _, err := os.Lstat("/" + h.tag + "-in"); err == nil {
		t.Errorf("docker cp wrote /%s-in on the host through the symlink to /", h.tag)
	}
}

// pathStat decodes the X-Docker-Container-Path-Stat header.
func pathStat(h http.Header) (st struct {
	Name string
	Size int64
	Mode uint32
}, ok bool) {
	b, err := base64.StdEncoding.DecodeString(h.Get("X-Docker-Container-Path-Stat"))
	if err != nil || len(b) == 0 {
		return st, false
	}
	return st, json.Unmarshal(b, &st) == nil
}

// TestSecurityCpSymlinkRace is the CVE-2018-15664 class: a process in the
// container swaps a path component between a directory and symlinks to
// the host's / and to a host directory while docker cp (and the archive
// API it uses: HEAD stat, GET out, PUT in) and docker export run against
// it. Nothing on the host outside the container's rootfs may be read
// (a canary's content or size), written or created. A naive host-side
// reader of the same path is the control: it must escape, proving the
// race is live.
func TestSecurityCpSymlinkRace(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	canary := newHostCanary(t, d, "HOST-SECRET-"+strings.Repeat("s", 4321-len("HOST-SECRET-")))
	host, secret, tag := canary.dir, canary.secret, canary.tag
	d.MustDocker("run", "-d", "--name", "racer", "busybox", "sh", "-c", "mkdir -p /w; "+canary.swapLoop("/w"))
	merged := d.MustDocker("inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", "racer")

	// Control: a host-side reader that follows the container's symlinks
	// reads the canary.
	naive := 0
	for start := time.Now(); time.Since(start) < 5*time.Second && naive == 0; {
		if b, err := os.ReadFile(filepath.Join(merged, "w/x/canary")); err == nil && strings.HasPrefix(string(b), "HOST-SECRET") {
			naive++
		}
	}
	if naive == 0 {
		t.Fatalf("control: a naive reader of %s/w/x/canary never reached the host canary: the race is not live", merged)
	}

	hc := d.apiClient()
	base := "http://berth/containers/racer/archive?path="
	readPaths := []string{"/w/x/canary", "/w/x" + host + "/canary", "/w/x/canary", "/w/x/", "/w/x"}
	var leaks, calls, ok atomic.Int64
	leak := func(format string, args ...any) {
		leaks.Add(1)
		t.Errorf(format, args...)
	}
	checkStat := func(op string, h http.Header) {
		if st, found := pathStat(h); found && st.Size == int64(len(secret)) {
			leak("%s: stat of the host canary leaked: %+v", op, st)
		}
	}
	var wg sync.WaitGroup
	// HEAD alone first: a stat is the one archive call that does not
	// freeze the container, so it is hammered (a path-based Lstat leaked
	// the canary's size about once in 1500 calls here).
	deadline := time.Now().Add(4 * time.Second)
	var heads atomic.Int64
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				p := readPaths[i%len(readPaths)]
				req, _ := http.NewRequest(http.MethodHead, base+url.QueryEscape(p), nil)
				if resp, err := hc.Do(req); err == nil {
					checkStat("HEAD "+p, resp.Header)
					resp.Body.Close()
				}
				heads.Add(1)
			}
		}()
	}
	wg.Wait()
	deadline = time.Now().Add(8 * time.Second)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				p := readPaths[i%len(readPaths)]
				// HEAD: docker cp's stat of either end.
				if req, _ := http.NewRequest(http.MethodHead, base+url.QueryEscape(p), nil); req != nil {
					if resp, err := hc.Do(req); err == nil {
						checkStat("HEAD "+p, resp.Header)
						resp.Body.Close()
					}
				}
				// GET: copy out.
				if resp, err := hc.Get(base + url.QueryEscape(p)); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					checkStat("GET "+p, resp.Header)
					if bytes.Contains(b, []byte("HOST-SECRET")) {
						leak("GET %s: the host canary's content was copied out", p)
					}
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				}
				// PUT: copy in, into the swapped directory.
				var tb bytes.Buffer
				tw := tar.NewWriter(&tb)
				tw.WriteHeader(&tar.Header{Name: tag + "-in", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
				tw.Write([]byte("in\n"))
				tw.Close()
				req, _ := http.NewRequest(http.MethodPut, base+url.QueryEscape("/w/x"), &tb)
				req.Header.Set("Content-Type", "application/x-tar")
				if resp, err := hc.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				}
				calls.Add(3)
			}
		}()
	}
	// The docker CLI itself, in and out, meanwhile.
	src := filepath.Join(t.TempDir(), tag+"-in")
	os.WriteFile(src, []byte("cli\n"), 0o644)
	outDir := t.TempDir()
	for i := 0; time.Now().Before(deadline); i++ {
		d.Docker("", "cp", src, "racer:/w/x/")
		r := d.Docker("", "cp", "racer:/w/x/canary", "-")
		if strings.Contains(r.Stdout, "HOST-SECRET") {
			leak("docker cp racer:/w/x/canary -: the host canary's content was copied out")
		}
		d.Docker("", "cp", "racer:/w/x", filepath.Join(outDir, fmt.Sprint(i)))
		calls.Add(3)
	}
	wg.Wait()
	// docker export walks the whole tree of the running container.
	for i := 0; i < 5; i++ {
		r := d.Docker("", "export", "racer")
		if strings.Contains(r.Stdout, "HOST-SECRET") {
			leak("docker export: the host canary's content is in the archive")
		}
	}
	d.MustDocker("rm", "-f", "racer")

	canary.checkUntouched(t)
	filepath.WalkDir(outDir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "HOST-SECRET") {
				leak("docker cp out wrote the host canary's content to %s", p)
			}
		}
		return nil
	})
	t.Logf("%d HEADs, then %d archive calls (%d succeeded) against the swapping loop; %d leaks; the naive reader escaped", heads.Load(), calls.Load(), ok.Load(), leaks.Load())
}

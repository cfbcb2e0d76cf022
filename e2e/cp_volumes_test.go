package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
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

// hostMountsUnder returns the mount points of the test's (the host's)
// mount namespace at or under dir.
func hostMountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := fields[4]
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// noLeakedMounts fails if any mount sits below a container rootfs on the
// host: a rootfs is itself a mount (running, or during a call), but what
// docker cp binds into it lives in a private namespace only.
func noLeakedMounts(t *testing.T, d *Daemon, when string) {
	t.Helper()
	var bad []string
	for _, mp := range hostMountsUnder(t, d.Root) {
		if strings.HasSuffix(mp, "/merged") || !strings.Contains(mp, "/merged/") {
			continue
		}
		bad = append(bad, mp)
	}
	if len(bad) > 0 {
		t.Errorf("%s: mounts under a container rootfs on the host: %v", when, bad)
	}
}

func writeHostFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCpVolumes: docker cp in and out of paths under a container's
// volumes and binds reads and writes the volume (as dockerd does), for
// running and stopped containers, named, anonymous and nested mounts;
// read-only ones refuse copies in with dockerd's text; a tmpfs is not
// bound (dockerd's setupMounts skips it: the copy lands in the layer
// under it); nothing is ever mounted on the host.
func TestCpVolumes(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	host := t.TempDir()
	src := writeHostFile(t, host, "f", "copied-in\n")
	bind, robind, nested := t.TempDir(), t.TempDir(), t.TempDir()
	writeHostFile(t, bind, "fromhost", "host-side\n")

	d.MustDocker("run", "-d", "--name", "cpv", "-v", "vol:/data", "-v", "/anon", "-v", bind+":/b",
		"-v", "rovol:/ro:ro", "-v", robind+":/rob:ro", "-v", nested+":/data/sub", "--tmpfs", "/t",
		"busybox", "sleep", "1000")
	noLeakedMounts(t, d, "after run")

	// Copy in: the container (and another one on the same volume) sees it.
	for _, dest := range []string{"/data/", "/anon/", "/b/", "/data/sub/"} {
		if r := d.Docker("", "cp", src, "cpv:"+dest); r.Code != 0 {
			t.Fatalf("docker cp %s c:%s: %v", src, dest, r)
		}
		if got := d.MustDocker("exec", "cpv", "cat", dest+"f"); got != "copied-in" {
			t.Errorf("after docker cp into %s, the container reads %q", dest, got)
		}
		noLeakedMounts(t, d, "after cp into "+dest)
	}
	if got := d.MustDocker("run", "--rm", "-v", "vol:/v", "busybox", "cat", "/v/f"); got != "copied-in" {
		t.Errorf("the named volume holds %q", got)
	}
	for _, dir := range []string{bind, nested} {
		if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "copied-in\n" {
			t.Errorf("bind source %s: f = %q, %v", dir, b, err)
		}
	}
	// The nested bind took the copy, not the volume's directory under it.
	if r := d.Docker("", "run", "--rm", "-v", "vol:/v", "busybox", "cat", "/v/sub/f"); r.Code == 0 {
		t.Errorf("a copy into the nested bind /data/sub landed in the volume under it")
	}

	// Copy out and stat (HEAD) of what the container and the host wrote.
	d.MustDocker("exec", "cpv", "sh", "-c", "echo from-container > /data/out; echo anon > /anon/out")
	for p, want := range map[string]string{"/data/out": "from-container\n", "/anon/out": "anon\n", "/b/fromhost": "host-side\n", "/data/sub/f": "copied-in\n"} {
		r := d.Docker("", "cp", "cpv:"+p, "-")
		if r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Errorf("docker cp cpv:%s -: %v", p, r)
		}
		req, _ := http.NewRequest(http.MethodHead, "http://berth/containers/cpv/archive?path="+url.QueryEscape(p), nil)
		resp, err := d.apiClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if st, ok := pathStat(resp.Header); resp.StatusCode != http.StatusOK || !ok || st.Size != int64(len(want)) {
			t.Errorf("HEAD archive %s: %d %+v", p, resp.StatusCode, st)
		}
	}
	out := t.TempDir()
	d.MustDocker("cp", "cpv:/data", out)
	for _, name := range []string{"data/f", "data/out", "data/sub/f"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("docker cp cpv:/data %s: %v", out, err)
		}
	}

	// Read-only volume and bind: refused with dockerd's text, nothing written.
	for _, dest := range []string{"/ro/", "/rob/"} {
		r := d.Docker("", "cp", src, "cpv:"+dest)
		if r.Code == 0 || !strings.Contains(r.Stderr, "mounted volume is marked read-only") {
			t.Errorf("docker cp into read-only %s: %v", dest, r)
		}
	}
	if ents, _ := os.ReadDir(robind); len(ents) != 0 {
		t.Errorf("a copy wrote into the read-only bind's source: %v", ents)
	}
	// tmpfs: accepted, into the layer under the mount (as dockerd).
	if r := d.Docker("", "cp", src, "cpv:/t/"); r.Code != 0 {
		t.Errorf("docker cp into a tmpfs: %v", r)
	}
	if r := d.Docker("", "exec", "cpv", "cat", "/t/f"); r.Code == 0 {
		t.Errorf("a copy into a tmpfs mount is visible in the container (dockerd writes the layer under it)")
	}
	// The generated files are the container's, not the image's.
	if got, want := d.MustDocker("cp", "cpv:/etc/hostname", "-"), d.MustDocker("exec", "cpv", "cat", "/etc/hostname"); !strings.Contains(got, want) {
		t.Errorf("docker cp cpv:/etc/hostname - = %q, the container has %q", got, want)
	}

	// Mounts exist only in berthd's private view: none on the host while
	// a copy in is in progress (its tar still streaming).
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, "http://berth/containers/cpv/archive?path=/data", pr)
		req.Header.Set("Content-Type", "application/x-tar")
		resp, err := d.apiClient().Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		done <- err
	}()
	tw := tar.NewWriter(pw)
	tw.WriteHeader(&tar.Header{Name: "slow", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("s"))
	time.Sleep(300 * time.Millisecond)
	noLeakedMounts(t, d, "during a copy in")
	tw.Write([]byte("\n"))
	tw.Close()
	pw.Close()
	if err := <-done; err != nil {
		t.Errorf("slow PUT: %v", err)
	}

	// Stopped: the same through volumes mounted for the call.
	d.MustDocker("stop", "-t", "0", "cpv")
	writeHostFile(t, host, "g", "while-stopped\n")
	d.MustDocker("cp", filepath.Join(host, "g"), "cpv:/data/")
	d.MustDocker("cp", filepath.Join(host, "g"), "cpv:/b/")
	if got := d.MustDocker("cp", "cpv:/data/out", "-"); !strings.Contains(got, "from-container") {
		t.Errorf("docker cp out of a stopped container's volume: %q", got)
	}
	if r := d.Docker("", "cp", src, "cpv:/rob/"); r.Code == 0 || !strings.Contains(r.Stderr, "mounted volume is marked read-only") {
		t.Errorf("docker cp into a stopped container's read-only bind: %v", r)
	}
	noLeakedMounts(t, d, "after copies into a stopped container")
	d.MustDocker("start", "cpv")
	if got := d.MustDocker("exec", "cpv", "cat", "/data/g", "/b/g"); got != "while-stopped\nwhile-stopped" {
		t.Errorf("copied while stopped, read after start: %q", got)
	}

	// --volumes-from and a volume subpath (vol's sub/, made for the
	// nested bind) lead to the same volume.
	d.MustDocker("run", "-d", "--name", "cpfrom", "--volumes-from", "cpv", "--mount", "type=volume,src=vol,dst=/sp,volume-subpath=sub",
		"busybox", "sleep", "1000")
	d.MustDocker("cp", src, "cpfrom:/sp/")
	d.MustDocker("cp", filepath.Join(host, "g"), "cpfrom:/data/")
	if got := d.MustDocker("run", "--rm", "-v", "vol:/v", "busybox", "cat", "/v/sub/f", "/v/g"); got != "copied-in\nwhile-stopped" {
		t.Errorf("copies through --volumes-from and a subpath: the volume holds %q", got)
	}
	if r := d.Docker("", "cp", "cpfrom:/b/fromhost", "-"); !strings.Contains(r.Stdout, "host-side") {
		t.Errorf("docker cp out of a bind had through --volumes-from: %v", r)
	}

	// Never started: the mount point is made, the copy reaches the volume.
	d.MustDocker("create", "--name", "fresh", "-v", "vol2:/deep/data", "busybox", "true")
	d.MustDocker("cp", src, "fresh:/deep/data/")
	if got := d.MustDocker("run", "--rm", "-v", "vol2:/v", "busybox", "cat", "/v/f"); got != "copied-in" {
		t.Errorf("copy into a created container's volume: the volume holds %q", got)
	}

	// Nested read-only under writable: a tar reaching into it fails, the
	// bind source stays empty; --read-only takes writable volumes.
	// --tmpfs is no mount point to dockerd (--mount type=tmpfs is), both
	// checked on dockerd 20.10.
	d.MustDocker("run", "-d", "--name", "cpro", "--read-only", "-v", "vol3:/n", "-v", robind+":/n/ro:ro",
		"--tmpfs", "/t", "--mount", "type=tmpfs,dst=/mt", "busybox", "sleep", "1000")
	if r := d.Docker("", "cp", src, "cpro:/n/"); r.Code != 0 {
		t.Errorf("docker cp into a writable volume of a --read-only container: %v", r)
	}
	for _, dest := range []string{"/", "/t/"} {
		if r := d.Docker("", "cp", src, "cpro:"+dest); r.Code == 0 || !strings.Contains(r.Stderr, "container rootfs is marked read-only") {
			t.Errorf("docker cp into %s of a --read-only rootfs: %v", dest, r)
		}
	}
	if r := d.Docker("", "cp", src, "cpro:/mt/"); r.Code != 0 {
		t.Errorf("docker cp into a --mount tmpfs of a --read-only container: %v", r)
	}
	req, _ := http.NewRequest(http.MethodPut, "http://berth/containers/cpro/archive?path=/n",
		strings.NewReader(tarOf(t, map[string]string{"ro/x": "escape\n"})))
	req.Header.Set("Content-Type", "application/x-tar")
	if resp, err := d.apiClient().Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("a tar reaching into a nested read-only bind was extracted")
		}
	}
	if ents, _ := os.ReadDir(robind); len(ents) != 0 {
		t.Errorf("a copy wrote into the nested read-only bind's source: %v", ents)
	}
	d.MustDocker("rm", "-f", "cpv", "cpro", "fresh", "cpfrom")
	noLeakedMounts(t, d, "at the end")
}

// TestCpVolumeSymlinkEscape: a volume's path swapped for a symlink out of
// the rootfs leads nowhere on the host: neither a mount destination
// planted as a symlink to a host directory in a stopped container's
// layer, nor a process swapping a directory inside a running container's
// volume for symlinks to the host's / and to a host directory while
// docker cp (HEAD, GET, PUT) runs against it.
func TestCpVolumeSymlinkEscape(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	canary := newHostCanary(t, d, "HOST-SECRET-"+strings.Repeat("v", 2345))
	host, secret, tag := canary.dir, canary.secret, canary.tag
	src := writeHostFile(t, t.TempDir(), tag+"-in", "in\n")

	// The mount destination is a symlink to the host directory in the
	// layer (what an image or a stopped container's earlier run can do).
	d.MustDocker("create", "--name", "planted", "-v", "pvol:/data", "busybox", "true")
	upper := d.MustDocker("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "planted")
	if err := os.Symlink(host, filepath.Join(upper, "data")); err != nil {
		t.Fatal(err)
	}
	// As the runtime mounts it: at the symlink's target in the rootfs.
	if r := d.Docker("", "cp", src, "planted:/data/"); r.Code != 0 {
		t.Errorf("docker cp through a planted mount destination: %v", r)
	}
	if got := d.MustDocker("run", "--rm", "-v", "pvol:/v", "busybox", "cat", "/v/"+tag+"-in"); got != "in" {
		t.Errorf("the copy through a planted mount destination is not in the volume: %q", got)
	}
	if r := d.Docker("", "cp", "planted:/data/canary", "-"); strings.Contains(r.Stdout, "HOST-SECRET") {
		t.Errorf("docker cp out through a planted mount destination read the host canary")
	}
	noLeakedMounts(t, d, "after copies through a planted destination")
	d.MustDocker("rm", "-f", "planted")

	// A running container swaps a directory of its volume.
	d.MustDocker("run", "-d", "--name", "racer", "-v", "rvol:/data", "busybox", "sh", "-c", canary.swapLoop("/data"))
	hc := d.apiClient()
	base := "http://berth/containers/racer/archive?path="
	paths := []string{"/data/x/canary", "/data/x" + host + "/canary", "/data/x/"}
	var calls, leaks atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(4 * time.Second)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				p := paths[i%len(paths)]
				if req, _ := http.NewRequest(http.MethodHead, base+url.QueryEscape(p), nil); req != nil {
					if resp, err := hc.Do(req); err == nil {
						if st, ok := pathStat(resp.Header); ok && st.Size == int64(len(secret)) {
							leaks.Add(1)
							t.Errorf("HEAD %s: the host canary's stat leaked", p)
						}
						resp.Body.Close()
					}
				}
				if resp, err := hc.Get(base + url.QueryEscape(p)); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if bytes.Contains(b, []byte("HOST-SECRET")) {
						leaks.Add(1)
						t.Errorf("GET %s: the host canary was copied out", p)
					}
				}
				req, _ := http.NewRequest(http.MethodPut, base+url.QueryEscape("/data/x"), strings.NewReader(tarOf(t, map[string]string{tag + "-in": "in\n"})))
				req.Header.Set("Content-Type", "application/x-tar")
				if resp, err := hc.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				calls.Add(3)
			}
		}()
	}
	for time.Now().Before(deadline) {
		d.Docker("", "cp", src, "racer:/data/x/")
		if r := d.Docker("", "cp", "racer:/data/x/canary", "-"); strings.Contains(r.Stdout, "HOST-SECRET") {
			leaks.Add(1)
			t.Errorf("docker cp racer:/data/x/canary -: the host canary was copied out")
		}
		calls.Add(2)
	}
	wg.Wait()
	noLeakedMounts(t, d, "after the race")
	d.MustDocker("rm", "-f", "racer")

	canary.checkUntouched(t)
	t.Logf("%d archive calls against the swapping loop in a volume; %d leaks", calls.Load(), leaks.Load())
}

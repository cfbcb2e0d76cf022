package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tarBytes builds a tar from entries: name -> content; a name ending in
// "@sym" or "@hard" makes a link to the content instead.
func tarBytes(t *testing.T, ents ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e[0], Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e[1])), ModTime: time.Unix(1700000000, 0)}
		if n, ok := strings.CutSuffix(e[0], "@sym"); ok {
			h = &tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: e[1], Mode: 0o777}
		} else if n, ok := strings.CutSuffix(e[0], "@hard"); ok {
			h = &tar.Header{Name: n, Typeflag: tar.TypeLink, Linkname: e[1]}
		} else if strings.HasSuffix(e[0], "/") {
			h = &tar.Header{Name: e[0], Typeflag: tar.TypeDir, Mode: 0o755}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e[1]))
		}
	}
	tw.Close()
	return b.Bytes()
}

func (d *Daemon) raw(t *testing.T, method, path string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://berth"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := d.apiClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestCommitDiffExportCp(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "--name", "c1", "busybox", "sh", "-c", "echo hi > /newfile; rm /bin/ls; mkdir /d; echo y > /d/y; ln -s / /rootlink; ln -s ../../../../../../../tmp /uplink")

	if got := d.MustDocker("diff", "c1"); got != "C /bin\nD /bin/ls\nA /d\nA /d/y\nA /newfile\nA /rootlink\nA /uplink" {
		t.Fatalf("docker diff:\n%s", got)
	}
	id := d.MustDocker("commit", "-a", "Ann <a@b>", "-m", "first", "--change", "ENV A=1", "--change", `CMD ["cat", "/newfile"]`, "c1", "img:v1")
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("commit printed %q", id)
	}
	if got := d.MustDocker("inspect", "-f", "{{.Author}}|{{.Comment}}|{{.Config.Env}}|{{.Config.Cmd}}|{{len .RootFS.Layers}}", "img:v1"); got != "Ann <a@b>|first|[A=1]|[cat /newfile]|2" {
		t.Fatalf("inspect: %s", got)
	}
	if got := d.MustDocker("run", "--rm", "img:v1"); got != "hi" {
		t.Fatalf("run committed image: %q", got)
	}
	if r := d.Docker("", "run", "--rm", "img:v1", "ls", "/"); r.Code == 0 {
		t.Fatalf("deleted file came back: %s", r)
	}
	hist := d.MustDocker("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", "img:v1")
	lines := strings.Split(hist, "\n")
	bbID := d.MustDocker("inspect", "-f", "{{.ID}}", "busybox")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], id+"|sh -c echo hi") || !strings.HasSuffix(lines[0], "|first") || !strings.HasPrefix(lines[1], bbID+"|") {
		t.Fatalf("history:\n%s", hist)
	}
	// Berth's CLI: commit of an unchanged container adds an empty layer
	// entry only.
	d.MustDocker("create", "--name", "c2", "busybox")
	if r := d.Berth("", "commit", "c2", "img:empty"); r.Code != 0 {
		t.Fatalf("berth commit: %s", r)
	}
	if got := d.MustDocker("inspect", "-f", "{{len .RootFS.Layers}}", "img:empty"); got != "1" {
		t.Fatalf("empty commit layers: %s", got)
	}
	if r := d.Docker("", "commit", "nosuch"); r.Code == 0 || !strings.Contains(r.Stderr, "No such container: nosuch") {
		t.Fatalf("commit of a missing container: %s", r)
	}
	if r := d.Docker("", "commit", "c1", "Bad:Ref:x"); r.Code == 0 {
		t.Fatalf("commit with a bad reference: %s", r)
	}

	// export (a stopped container: its layer is mounted for the call)
	out := filepath.Join(d.Root, "exp.tar")
	d.MustDocker("export", "-o", out, "c1")
	names := tarNames(t, out)
	for _, want := range []string{"newfile", "d/y", "bin/sh"} {
		if !names[want] {
			t.Errorf("export lacks %s", want)
		}
	}
	if names["bin/ls"] {
		t.Errorf("export has the deleted bin/ls")
	}

	// cp out and in, both CLIs, through in-container symlinks
	for _, run := range []func(string, ...string) Result{d.Docker, d.Berth} {
		dir := t.TempDir()
		if r := run("", "cp", "c1:/d", dir); r.Code != 0 {
			t.Fatalf("cp out: %s", r)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "d", "y")); string(b) != "y\n" {
			t.Fatalf("cp out content: %q", b)
		}
		src := filepath.Join(dir, "in.txt")
		os.WriteFile(src, []byte("in\n"), 0o600)
		for _, dst := range []string{"c1:/rootlink/tmp/", "c1:/uplink/"} {
			if r := run("", "cp", src, dst); r.Code != 0 {
				t.Fatalf("cp in %s: %s", dst, r)
			}
		}
		if _, err := os.Stat("/tmp/in.txt"); err == nil {
			t.Fatal("cp through a container symlink wrote the host's /tmp/in.txt")
		}
		if r := run("", "cp", "c1:/tmp/in.txt", "-"); r.Code != 0 || !strings.Contains(r.Stdout, "in\n") {
			t.Fatalf("cp back: %s", r)
		}
		if r := run("", "cp", "c1:/nope", dir); r.Code == 0 || !strings.Contains(r.Stderr, "Could not find the file /nope in container c1") {
			t.Fatalf("cp of a missing file: %s", r)
		}
	}
	// A running container: cp freezes it for the copy, commit pauses it;
	// it runs on afterwards.
	d.MustDocker("run", "-d", "--name", "live", "busybox", "sh", "-c", "echo up > /up; sleep 300")
	for i := 0; i < 50 && d.Docker("", "cp", "live:/up", "-").Code != 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	src := filepath.Join(t.TempDir(), "live.txt")
	os.WriteFile(src, []byte("live\n"), 0o600)
	d.MustDocker("cp", src, "live:/tmp/")
	if r := d.Docker("", "cp", "live:/tmp/live.txt", "-"); r.Code != 0 || !strings.Contains(r.Stdout, "live\n") {
		t.Fatalf("cp from a running container: %s", r)
	}
	d.MustDocker("commit", "live", "img:live")
	if got := d.MustDocker("inspect", "-f", "{{.State.Status}}", "live"); got != "running" {
		t.Fatalf("after cp and commit the container is %s", got)
	}
	if got := d.MustDocker("run", "--rm", "img:live", "cat", "/up", "/tmp/live.txt"); got != "up\nlive" {
		t.Fatalf("committed running container: %q", got)
	}
	d.MustDocker("rm", "-f", "live")

	// Docker's container events for these operations.
	evs := d.MustDocker("events", "--since", "0", "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "type=container", "--format", "{{.Action}}")
	for _, a := range []string{"commit", "export", "archive-path", "extract-to-dir"} {
		if !strings.Contains(evs, a) {
			t.Errorf("no %s event in:\n%s", a, evs)
		}
	}

	// A HEAD stat carries the path stat header.
	req, _ := http.NewRequest(http.MethodHead, "http://berth/containers/c1/archive?path=/newfile", nil)
	resp, err := d.apiClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Docker-Container-Path-Stat") == "" {
		t.Fatalf("HEAD archive: %d %v", resp.StatusCode, resp.Header)
	}

	// Hostile tars for PUT archive: refused, nothing written outside.
	marker := "berth-e2e-escape-" + filepath.Base(d.Root)
	for name, body := range map[string][]byte{
		"dotdot":        tarBytes(t, [2]string{"../../../../../../tmp/" + marker, "x"}),
		"hardlink out":  tarBytes(t, [2]string{"h@hard", "../../../../../etc/passwd"}),
		"symlink chain": tarBytes(t, [2]string{"l@sym", "/tmp"}, [2]string{"l/" + marker, "x"}),
		"truncated":     tarBytes(t, [2]string{"f", strings.Repeat("x", 4096)})[:1200],
	} {
		code, msg := d.raw(t, http.MethodPut, "/containers/c1/archive?path=/", body)
		if _, err := os.Stat("/tmp/" + marker); err == nil {
			os.Remove("/tmp/" + marker)
			t.Fatalf("%s: wrote outside the container (status %d)", name, code)
		}
		if name != "symlink chain" && code != http.StatusBadRequest {
			t.Errorf("%s: status %d %s, want 400", name, code, msg)
		}
	}
}

// leftovers lists what image and layer writes left in <data-root>/tmp.
func leftovers(t *testing.T, d *Daemon) []string {
	ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "tmp"))
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "image-") || strings.HasPrefix(e.Name(), "layer-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// ociArchive is an OCI image layout (index.json and blobs only) of a
// one-layer image named oci/only:1, its layer of the given media type.
func ociArchive(t *testing.T, layerType string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	blob := func(data []byte) (string, int) {
		sum := sha256.Sum256(data)
		d := hex.EncodeToString(sum[:])
		tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + d, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
		return "sha256:" + d, len(data)
	}
	ld, ls := blob(tarBytes(t, [2]string{"hello", "oci"}))
	cd, cs := blob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + ld + `"]}}`))
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
		"layers": []any{map[string]any{"mediaType": layerType, "digest": ld, "size": ls}}})
	md, ms := blob(m)
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
		"annotations": map[string]string{"io.containerd.image.name": "docker.io/oci/only:1", "org.opencontainers.image.ref.name": "1"}}}})
	tw.WriteHeader(&tar.Header{Name: "index.json", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(idx))})
	tw.Write(idx)
	tw.Close()
	return b.Bytes()
}

func tarNames(t *testing.T, p string) map[string]bool {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(h.Name, "/")] = true
	}
}

func TestSaveLoadPrune(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "--name", "c1", "busybox", "sh", "-c", "echo hi > /f")
	d.MustDocker("commit", "--change", "LABEL keep=no", "c1", "app:1")
	ids := map[string]string{}
	for _, r := range []string{"busybox", "app:1"} {
		ids[r] = d.MustDocker("inspect", "-f", "{{.ID}}", r)
	}
	arch := filepath.Join(d.Root, "s.tar")
	d.MustDocker("save", "-o", arch, "busybox", "app:1")
	names := tarNames(t, arch)
	for _, want := range []string{"index.json", "oci-layout", "manifest.json", "repositories", "blobs/sha256/" + strings.TrimPrefix(ids["app:1"], "sha256:")} {
		if !names[want] {
			t.Errorf("archive lacks %s: %v", want, names)
		}
	}
	d.MustDocker("rm", "c1")
	d.MustDocker("rmi", "app:1", "busybox")
	if r := d.Berth("", "load", "-i", arch); r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: app:1") {
		t.Fatalf("berth load: %s", r)
	}
	for r, id := range ids {
		if got := d.MustDocker("inspect", "-f", "{{.ID}}", r); got != id {
			t.Fatalf("%s: ID %s after a round trip, was %s", r, got, id)
		}
	}
	// docker save | docker load through stdin, both CLIs.
	r := d.Berth("", "save", "app:1")
	if r.Code != 0 {
		t.Fatalf("berth save: %s", r)
	}
	if got := d.Docker(r.Stdout, "load"); got.Code != 0 || !strings.Contains(got.Stdout, "Loaded image: app:1") {
		t.Fatalf("docker load from stdin: %s", got)
	}
	if r := d.Docker("", "save", "nosuch:tag"); r.Code == 0 || !strings.Contains(r.Stderr, "No such image: nosuch:tag") {
		t.Fatalf("save of a missing image: %s", r)
	}

	// Bad archives: refused, nothing half stored, tmp left empty.
	before := d.MustDocker("images", "-aq", "--no-trunc")
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("0", 64) + `"]}}`)
	layer := tarBytes(t, [2]string{"x", "y"})
	sum := sha256.Sum256(cfg)
	cfgHex := hex.EncodeToString(sum[:])
	manifest := func(cfgName string, layers ...string) string {
		b, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"bad:1"}, "Layers": layers}})
		return string(b)
	}
	for name, body := range map[string][]byte{
		"diff id mismatch": tarBytes(t, [2]string{cfgHex + ".json", string(cfg)}, [2]string{"l.tar", string(layer)}, [2]string{"manifest.json", manifest(cfgHex+".json", "l.tar")}),
		"streamed diff id": tarBytes(t, [2]string{"manifest.json", manifest(cfgHex+".json", "l.tar")}, [2]string{cfgHex + ".json", string(cfg)}, [2]string{"l.tar", string(layer)}),
		"config digest":    tarBytes(t, [2]string{strings.Repeat("a", 64) + ".json", string(cfg)}, [2]string{"l.tar", string(layer)}, [2]string{"manifest.json", manifest(strings.Repeat("a", 64)+".json", "l.tar")}),
		"no manifest":      tarBytes(t, [2]string{"x", "y"}),
		"escaping entry":   tarBytes(t, [2]string{"../../evil", "y"}),
		"escaping layer":   tarBytes(t, [2]string{cfgHex + ".json", string(cfg)}, [2]string{"manifest.json", manifest(cfgHex+".json", "../../../../etc/passwd")}),
		"truncated layer":  tarBytes(t, [2]string{cfgHex + ".json", string(cfg)}, [2]string{"l.tar", string(tarBytes(t, [2]string{"f", strings.Repeat("z", 3000)})[:1500])}, [2]string{"manifest.json", manifest(cfgHex+".json", "l.tar")}),
	} {
		if r := d.Docker(string(body), "load"); r.Code == 0 {
			t.Errorf("%s: load succeeded: %s", name, r)
		}
		if left := leftovers(t, d); len(left) != 0 {
			t.Errorf("%s: left in tmp: %v", name, left)
		}
	}
	// A 3 MiB PAX header: written as a plain entry, then retyped 'x'
	// (Go's writer will not write one that large itself).
	rec := strings.Repeat("A", 3<<20)
	rec = fmt.Sprintf("%d comment=%s\n", len(rec)+len(" comment=\n")+7, rec)
	huge := tarBytes(t, [2]string{"paxhdr", rec}, [2]string{"x", "x"})
	huge[156] = 'x'
	copy(huge[148:156], "        ")
	chk := 0
	for _, c := range huge[:512] {
		chk += int(c)
	}
	copy(huge[148:156], fmt.Sprintf("%06o\x00 ", chk))
	for name, c := range map[string]struct {
		body []byte
		msg  string
	}{
		"huge header":        {huge, "header field too long"},
		"unknown media type": {ociArchive(t, "application/x-weird"), `unsupported layer media type "application/x-weird"`},
	} {
		if r := d.Docker(string(c.body), "load"); r.Code == 0 || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%s: %s", name, r)
		}
	}
	if r := d.Docker("", "save", "UPPER"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid reference format: repository name (library/UPPER) must be lowercase") {
		t.Errorf("save of a bad reference: %s", r)
	}
	if after := d.MustDocker("images", "-aq", "--no-trunc"); after != before {
		t.Fatalf("a bad load stored something:\n%s\nwas\n%s", after, before)
	}

	// An OCI layout without manifest.json loads, its name from the index.
	if r := d.Docker(string(ociArchive(t, "application/vnd.oci.image.layer.v1.tar")), "load"); r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: oci/only:1") {
		t.Fatalf("OCI layout load: %s", r)
	}
	d.MustDocker("rmi", "oci/only:1")

	// prune: dangling first, then -a with a label filter, then -a.
	d.MustDocker("tag", "app:1", "app:2")
	d.MustDocker("rmi", "app:1", "app:2")
	d.MustDocker("load", "-i", arch) // app:1 back
	d.MustDocker("create", "--name", "user", "busybox")
	d.MustDocker("run", "--name", "c2", "busybox", "true")
	d.MustDocker("commit", "c2") // dangling
	if r := d.Docker("", "image", "prune", "-f"); r.Code != 0 || !strings.Contains(r.Stdout, "deleted: sha256:") {
		t.Fatalf("image prune: %s", r)
	}
	if got := d.MustDocker("images", "-q", "--filter", "dangling=true"); got != "" {
		t.Fatalf("dangling left: %s", got)
	}
	d.MustDocker("image", "prune", "-af", "--filter", "label=keep=yes")
	if r := d.Docker("", "inspect", "app:1"); r.Code != 0 {
		t.Fatal("label filter did not keep app:1")
	}
	if r := d.Berth("", "image", "prune", "-af"); r.Code != 0 || !strings.Contains(r.Stdout, "untagged: app:1") {
		t.Fatalf("berth image prune -a: %s", r)
	}
	if r := d.Docker("", "inspect", "busybox"); r.Code != 0 {
		t.Fatal("prune -a removed an image a container uses")
	}
	if r := d.Docker("", "rmi", "busybox"); r.Code == 0 || !strings.Contains(r.Stderr, "container") {
		t.Fatalf("rmi of a used image: %s", r)
	}
}

// TestDockerdArchiveInterop loads berth's docker save output into
// Debian's dockerd and dockerd's into berth: image IDs stay the same.
func TestDockerdArchiveInterop(t *testing.T) {
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd not installed")
	}
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "--name", "c1", "busybox", "sh", "-c", "echo hi > /f; rm /bin/ls")
	d.MustDocker("commit", "c1", "berthimg:1")

	dk := startDockerd(t)
	arch := filepath.Join(d.Root, "b.tar")
	d.MustDocker("save", "-o", arch, "berthimg:1")
	if out, err := exec.Command("docker", "-H", dk, "load", "-i", arch).CombinedOutput(); err != nil {
		t.Fatalf("dockerd load of berth's archive: %v\n%s", err, out)
	}
	want := d.MustDocker("inspect", "-f", "{{.ID}}", "berthimg:1")
	if out, _ := exec.Command("docker", "-H", dk, "inspect", "-f", "{{.ID}}", "berthimg:1").Output(); strings.TrimSpace(string(out)) != want {
		t.Fatalf("dockerd sees %q, berth %q", out, want)
	}
	// dockerd's own image: import + ENV, saved in its format.
	if out, err := exec.Command("docker", "-H", dk, "import", "--change", "ENV X=1", rootfsTar, "dk/imp:1").CombinedOutput(); err != nil {
		t.Fatalf("dockerd import: %v\n%s", err, out)
	}
	dkArch := filepath.Join(d.Root, "dk.tar")
	if out, err := exec.Command("docker", "-H", dk, "save", "-o", dkArch, "dk/imp:1", "berthimg:1").CombinedOutput(); err != nil {
		t.Fatalf("dockerd save: %v\n%s", err, out)
	}
	dkID, _ := exec.Command("docker", "-H", dk, "inspect", "-f", "{{.ID}}", "dk/imp:1").Output()
	d.MustDocker("rm", "c1")
	d.MustDocker("rmi", "berthimg:1")
	if r := d.Berth("", "load", "-i", dkArch); r.Code != 0 {
		t.Fatalf("berth load of dockerd's archive: %s", r)
	}
	if got := d.MustDocker("inspect", "-f", "{{.ID}}", "dk/imp:1"); got != strings.TrimSpace(string(dkID)) {
		t.Fatalf("dk/imp:1 is %s in berth, %s in dockerd", got, dkID)
	}
	if got := d.MustDocker("inspect", "-f", "{{.ID}}", "berthimg:1"); got != want {
		t.Fatalf("berthimg:1 came back as %s, was %s", got, want)
	}
	if got := d.MustDocker("run", "--rm", "berthimg:1", "cat", "/f"); got != "hi" {
		t.Fatalf("run of reloaded image: %q", got)
	}
	// berth saves dockerd's layers byte for byte (tar split).
	if r := d.Docker("", "save", "-o", filepath.Join(d.Root, "again.tar"), "dk/imp:1"); r.Code != 0 {
		t.Fatalf("re-save: %s", r)
	}
}

// startDockerd starts Debian's dockerd on temp roots with its own socket
// and no networking of its own; it is stopped and its roots removed at
// the end of the test.
func startDockerd(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "berth-e2e-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "daemon.json"), []byte("{}\n"), 0o644)
	host := "unix://" + filepath.Join(root, "d.sock")
	log, _ := os.Create(filepath.Join(root, "log"))
	cmd := exec.Command("dockerd", "--data-root", filepath.Join(root, "data"), "--exec-root", filepath.Join(root, "exec"),
		"-H", host, "--pidfile", filepath.Join(root, "pid"), "--bridge=none", "--iptables=false",
		"--config-file", filepath.Join(root, "daemon.json"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
		exec.Command("sh", "-c", "grep "+root+" /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l").Run()
		os.RemoveAll(root)
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if exec.Command("docker", "-H", host, "version").Run() == nil {
			return host
		}
	}
	b, _ := os.ReadFile(filepath.Join(root, "log"))
	t.Fatalf("dockerd did not start:\n%s", b)
	return ""
}

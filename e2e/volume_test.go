package e2e

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// volumeImage writes busybox's rootfs plus /data (1234:5678, 0750) holding
// a setuid file owned by 1000:1001, a symlink and a subdirectory, and a
// symlink /escape pointing at an absolute host path, and imports it as
// voltest:latest with VOLUME /data.
func volumeImage(t *testing.T, d *Daemon, escapeTarget string) {
	t.Helper()
	out := filepath.Join(d.Root, "voltest.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(rootfsTar)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tw := tar.NewWriter(f)
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	now := time.Now()
	for _, h := range []*tar.Header{
		{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1234, Gid: 5678, ModTime: now},
		{Name: "data/sub/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 1000, Gid: 1000, ModTime: now},
		{Name: "data/file", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1000, Gid: 1001, Size: 5, ModTime: now},
		{Name: "data/link", Typeflag: tar.TypeSymlink, Linkname: "file", Uid: 1000, Gid: 1001, ModTime: now},
		{Name: "escape", Typeflag: tar.TypeSymlink, Linkname: escapeTarget, ModTime: now},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hello"))
		}
	}
	tw.Close()
	f.Close()
	d.MustDocker("import", "--change", `CMD ["sh"]`, "--change", "VOLUME /data", out, "voltest:latest")
}

func wantFail(t *testing.T, r Result, code int, msg string) {
	t.Helper()
	if r.Code != code || !strings.Contains(r.Stderr, msg) {
		t.Errorf("want exit %d with %q; got %s", code, msg, r)
	}
}

func isMountPoint(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

var anonName = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestVolumes drives named, anonymous and driver-option volumes through
// the real docker CLI.
func TestVolumes(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	escape := filepath.Join(d.Root, "escape-target")
	volumeImage(t, d, escape)

	t.Run("NamedLifecycle", func(t *testing.T) {
		if got := d.MustDocker("volume", "create", "--label", "tier=db", "--label", "x", "named1"); got != "named1" {
			t.Fatalf("create printed %q", got)
		}
		d.MustDocker("volume", "create", "other1")
		insp := d.MustDocker("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Mountpoint}} {{.Scope}} {{.Labels}} {{.CreatedAt}}", "named1")
		want := fmt.Sprintf("named1 local %s local map[tier:db x:]", filepath.Join(d.DataRoot, "volumes/named1/_data"))
		if !strings.HasPrefix(insp, want) {
			t.Fatalf("inspect: %q, want prefix %q", insp, want)
		}
		if got := d.MustDocker("volume", "ls", "-q", "--filter", "label=tier=db"); got != "named1" {
			t.Errorf("label filter: %q", got)
		}
		if got := d.MustDocker("volume", "ls", "-q", "--filter", "name=other"); got != "other1" {
			t.Errorf("name filter: %q", got)
		}
		if got := d.MustDocker("volume", "ls", "-q", "--filter", "driver=nope"); got != "" {
			t.Errorf("driver filter: %q", got)
		}
		id := d.MustDocker("run", "-d", "-v", "named1:/v", "busybox", "sh", "-c", "echo kept > /v/f; sleep 60")
		if got := d.MustDocker("volume", "ls", "-q", "--filter", "dangling=false"); got != "named1" {
			t.Errorf("dangling=false: %q", got)
		}
		if got := d.MustDocker("volume", "ls", "-q", "--filter", "dangling=true", "--filter", "name=1"); got != "other1" {
			t.Errorf("dangling=true: %q", got)
		}
		for _, args := range [][]string{{"volume", "rm", "named1"}, {"volume", "rm", "-f", "named1"}} {
			wantFail(t, d.Docker("", args...), 1, "remove named1: volume is in use - ["+id+"]")
		}
		d.MustDocker("rm", "-f", id)
		// A stopped container still holds it.
		cid := d.MustDocker("create", "-v", "named1:/v", "busybox")
		wantFail(t, d.Docker("", "volume", "rm", "named1"), 1, "volume is in use - ["+cid+"]")
		d.MustDocker("rm", cid)
		if got := d.MustDocker("run", "--rm", "-v", "named1:/v", "busybox", "cat", "/v/f"); got != "kept" {
			t.Errorf("data after rm -f of its container: %q", got)
		}
		d.MustDocker("volume", "rm", "named1", "other1")
		wantFail(t, d.Docker("", "volume", "inspect", "named1"), 1, "get named1: no such volume")
		if r := d.Docker("", "volume", "rm", "-f", "named1"); r.Code != 0 {
			t.Errorf("rm -f of a missing volume: %s", r)
		}
	})

	t.Run("CreateOnRunAndCopyUp", func(t *testing.T) {
		out := d.MustDocker("run", "--rm", "-v", "cu:/data", "voltest", "sh", "-c",
			"stat -c '%u:%g %a %n' /data /data/file /data/sub; readlink /data/link; cat /data/file")
		want := "1234:5678 750 /data\n1000:1001 4755 /data/file\n1000:1000 755 /data/sub\nfile\nhello"
		if out != want {
			t.Errorf("copy-up:\n%s\nwant\n%s", out, want)
		}
		// The host side too: owners kept, the symlink not followed.
		vol := filepath.Join(d.DataRoot, "volumes/cu/_data")
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(vol, "link"), &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFLNK || st.Uid != 1000 {
			t.Errorf("symlink in volume: %+v %v", st, err)
		}
		// Not empty any more: a second run does not copy again.
		d.MustDocker("run", "--rm", "-v", "cu:/data", "voltest", "rm", "/data/file")
		if r := d.Docker("", "run", "--rm", "-v", "cu:/data", "voltest", "test", "-e", "/data/file"); r.Code != 1 {
			t.Errorf("copy-up into a non-empty volume: %s", r)
		}
		if got := d.MustDocker("run", "--rm", "-v", "nc:/data:nocopy", "voltest", "ls", "-A", "/data"); got != "" {
			t.Errorf("nocopy: %q", got)
		}
		if got := d.MustDocker("run", "--rm", "--mount", "type=volume,src=nc2,dst=/data,volume-nocopy", "voltest", "ls", "-A", "/data"); got != "" {
			t.Errorf("volume-nocopy: %q", got)
		}
		d.MustDocker("volume", "rm", "cu", "nc", "nc2")
	})

	t.Run("Anonymous", func(t *testing.T) {
		d.MustDocker("volume", "create", "keepme")
		cid := d.MustDocker("create", "-v", "/anon", "-v", "keepme:/k", "voltest")
		mounts := d.MustDocker("inspect", "-f", `{{range .Mounts}}{{.Type}} {{.Destination}} {{.Name}} {{.Driver}} {{.RW}} "{{.Mode}}"{{"\n"}}{{end}}`, cid)
		var anon []string
		for _, l := range strings.Split(mounts, "\n") {
			f := strings.Fields(l)
			if len(f) != 6 || f[0] != "volume" || f[3] != "local" || f[4] != "true" {
				t.Fatalf("mount line %q in\n%s", l, mounts)
			}
			switch f[1] {
			case "/anon", "/data":
				if !anonName.MatchString(f[2]) || f[5] != `""` {
					t.Errorf("anonymous mount %q", l)
				}
				anon = append(anon, f[2])
			case "/k":
				if f[2] != "keepme" || f[5] != `"z"` {
					t.Errorf("named mount %q", l)
				}
			}
		}
		if len(anon) != 2 {
			t.Fatalf("anonymous volumes: %v\n%s", anon, mounts)
		}
		if got := d.MustDocker("volume", "inspect", "-f", "{{json .Labels}}", anon[0]); got != `{"com.docker.volume.anonymous":""}` {
			t.Errorf("anonymous label: %s", got)
		}
		d.MustDocker("rm", "-v", cid)
		for _, n := range anon {
			if r := d.Docker("", "volume", "inspect", n); r.Code == 0 {
				t.Errorf("rm -v left anonymous volume %s", n)
			}
		}
		d.MustDocker("volume", "inspect", "keepme")

		// --rm removes them too; plain rm keeps them for prune.
		before := d.MustDocker("volume", "ls", "-q")
		d.MustDocker("run", "--rm", "-v", "/x", "busybox", "true")
		if after := d.MustDocker("volume", "ls", "-q"); after != before {
			t.Errorf("--rm left volumes: %q -> %q", before, after)
		}
		cid = d.MustDocker("create", "-v", "/y", "busybox")
		d.MustDocker("rm", cid)
		left := d.MustDocker("volume", "ls", "-q", "--filter", "dangling=true")
		if len(strings.Fields(left)) != 2 { // keepme + the anonymous one
			t.Fatalf("dangling after plain rm: %q", left)
		}
		d.MustDocker("volume", "create", "--label", "p=1", "labelled")
		pr := d.MustDocker("volume", "prune", "-f")
		if !strings.Contains(pr, "Deleted Volumes:") || strings.Contains(pr, "keepme") || strings.Contains(pr, "labelled") {
			t.Errorf("prune (anonymous only): %s", pr)
		}
		pr = d.MustDocker("volume", "prune", "-af", "--filter", "label=p=1")
		if !strings.Contains(pr, "labelled") || strings.Contains(pr, "keepme") {
			t.Errorf("prune -a label=p=1: %s", pr)
		}
		pr = d.MustDocker("volume", "prune", "--all", "--force")
		if !strings.Contains(pr, "keepme") {
			t.Errorf("prune --all: %s", pr)
		}
		if got := d.MustDocker("volume", "ls", "-q"); got != "" {
			t.Errorf("after prune --all: %q", got)
		}
	})

	t.Run("VolumesFrom", func(t *testing.T) {
		src := d.MustDocker("run", "-d", "--name", "vfsrc", "-v", "vf:/shared", "-v", "/anonvf", "busybox", "sh", "-c", "echo s > /shared/f; echo a > /anonvf/g; sleep 60")
		defer d.Docker("", "rm", "-f", src)
		waitFor(t, func() bool {
			return d.Docker("", "run", "--rm", "-v", "vf:/s", "busybox", "test", "-e", "/s/f").Code == 0
		})
		if got := d.MustDocker("run", "--rm", "--volumes-from", "vfsrc", "busybox", "sh", "-c", "cat /shared/f /anonvf/g; echo w > /shared/w && echo wrote"); got != "s\na\nwrote" {
			t.Errorf("volumes-from: %q", got)
		}
		r := d.Docker("", "run", "--rm", "--volumes-from", "vfsrc:ro", "busybox", "touch", "/shared/z")
		wantFail(t, r, 1, "Read-only file system")
		wantFail(t, d.Docker("", "run", "--rm", "--volumes-from", "nosuch", "busybox", "true"), 125, "No such container: nosuch")
		// A --volumes-from user also holds the volume.
		user := d.MustDocker("create", "--volumes-from", "vfsrc", "busybox")
		d.MustDocker("rm", "-f", src)
		wantFail(t, d.Docker("", "volume", "rm", "vf"), 1, "volume is in use - ["+user+"]")
		d.MustDocker("rm", user)
		d.MustDocker("volume", "rm", "vf")
		// vfsrc went without -v: its anonymous volume stays for prune.
		if pr := d.MustDocker("volume", "prune", "-f"); len(regexp.MustCompile(`(?m)^[0-9a-f]{64}$`).FindAllString(pr, -1)) != 1 {
			t.Errorf("prune after rm without -v: %q", pr)
		}
	})

	t.Run("DriverOptions", func(t *testing.T) {
		d.MustDocker("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=4m", "--opt", "uid=1000", "--opt", "gid=1001", "tv")
		if got := d.MustDocker("volume", "inspect", "-f", "{{json .Options}}", "tv"); got != `{"device":"tmpfs","gid":"1001","o":"size=4m","type":"tmpfs","uid":"1000"}` {
			t.Errorf("options: %s", got)
		}
		data := filepath.Join(d.DataRoot, "volumes/tv/_data")
		if isMountPoint(t, data) {
			t.Fatal("tmpfs volume mounted before first use")
		}
		id := d.MustDocker("run", "-d", "-v", "tv:/t", "busybox", "sh", "-c", "stat -c '%u:%g' /t; df -k /t | tail -1; sleep 60")
		waitFor(t, func() bool { return strings.Contains(d.MustDocker("logs", id), "tmpfs") })
		logs := d.MustDocker("logs", id)
		if !strings.HasPrefix(logs, "1000:1001\ntmpfs") || !strings.Contains(logs, " 4096 ") {
			t.Errorf("tmpfs volume in the container: %q", logs)
		}
		if !isMountPoint(t, data) {
			t.Error("tmpfs volume not mounted while in use")
		}
		id2 := d.MustDocker("run", "-d", "-v", "tv:/t", "busybox", "sleep", "60")
		d.MustDocker("rm", "-f", id)
		if !isMountPoint(t, data) {
			t.Error("unmounted while a second user runs")
		}
		d.MustDocker("rm", "-f", id2)
		waitFor(t, func() bool { return !isMountPoint(t, data) })

		host := filepath.Join(d.Root, "bindvol")
		os.Mkdir(host, 0o755)
		os.WriteFile(filepath.Join(host, "h"), []byte("host"), 0o644)
		d.MustDocker("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device="+host, "bv")
		if got := d.MustDocker("run", "--rm", "-v", "bv:/b", "busybox", "sh", "-c", "cat /b/h; echo c > /b/c"); got != "host" {
			t.Errorf("bind volume: %q", got)
		}
		d.MustDocker("volume", "rm", "bv", "tv")
		if b, err := os.ReadFile(filepath.Join(host, "c")); err != nil || string(b) != "c\n" {
			t.Errorf("bind volume removal touched the host dir: %q %v", b, err)
		}

		d.MustDocker("volume", "create", "--opt", "uid=4321", "--opt", "gid=8765", "owned")
		if got := d.MustDocker("run", "--rm", "-v", "owned:/o", "busybox", "stat", "-c", "%u:%g", "/o"); got != "4321:8765" {
			t.Errorf("uid/gid volume root: %q", got)
		}
		d.MustDocker("volume", "rm", "owned")
	})

	t.Run("DeviceVolume", func(t *testing.T) {
		dev := loopExt4(t, d)
		d.MustDocker("volume", "create", "--opt", "type=ext4", "--opt", "device="+dev, "dv")
		d.MustDocker("run", "--rm", "-v", "dv:/d", "busybox", "sh", "-c", "echo on-device > /d/f")
		data := filepath.Join(d.DataRoot, "volumes/dv/_data")
		if isMountPoint(t, data) {
			t.Error("device volume still mounted after its last user")
		}
		if _, err := os.Stat(filepath.Join(data, "f")); !os.IsNotExist(err) {
			t.Errorf("file written to the device shows on the unmounted dir: %v", err)
		}
		if got := d.MustDocker("run", "--rm", "-v", "dv:/d", "busybox", "sh", "-c", "cat /d/f; grep ' /d ' /proc/mounts | cut -d' ' -f3"); got != "on-device\next4" {
			t.Errorf("device volume: %q", got)
		}
		d.MustDocker("volume", "rm", "dv")

		d.MustDocker("volume", "create", "--opt", "type=ext4", "--opt", "device=/dev/berth-missing", "mv")
		// 127: the docker CLI's code for a start error saying "no such file".
		wantFail(t, d.Docker("", "run", "--rm", "-v", "mv:/d", "busybox", "true"), 127,
			"error while mounting volume '"+filepath.Join(d.DataRoot, "volumes/mv/_data")+"': failed to mount local volume: mount /dev/berth-missing:"+filepath.Join(d.DataRoot, "volumes/mv/_data")+": no such file or directory")
		d.MustDocker("volume", "rm", "mv")
	})

	t.Run("BindMounts", func(t *testing.T) {
		missing := filepath.Join(d.Root, "made/by/v")
		d.MustDocker("run", "--rm", "-v", missing+":/m", "busybox", "touch", "/m/x")
		if _, err := os.Stat(filepath.Join(missing, "x")); err != nil {
			t.Errorf("-v with a missing host path: %v", err)
		}
		wantFail(t, d.Docker("", "run", "--rm", "--mount", "type=bind,src="+filepath.Join(d.Root, "nope")+",dst=/m", "busybox", "true"), 125,
			`invalid mount config for type "bind": bind source path does not exist: `+filepath.Join(d.Root, "nope"))
		file := filepath.Join(d.Root, "afile")
		os.WriteFile(file, []byte("file-bind"), 0o644)
		if got := d.MustDocker("run", "--rm", "-v", file+":/etc/afile:ro,Z", "busybox", "cat", "/etc/afile"); got != "file-bind" {
			t.Errorf("file bind: %q", got)
		}
		wantFail(t, d.Docker("", "run", "--rm", "-v", file+":/etc/afile:ro,z", "busybox", "sh", "-c", "echo x > /etc/afile"), 1, "Read-only file system")
		wantFail(t, d.Docker("", "run", "--rm", "-v", "rel/dir:/m", "busybox", "true"), 125,
			`create rel/dir: "rel/dir" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`)
		wantFail(t, d.Docker("", "run", "--rm", "--mount", "type=bind,src=rel,dst=/m", "busybox", "true"), 125,
			`invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`)
		mps := d.MustDocker("inspect", "-f", `{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}} {{.Mode}} {{.Propagation}};{{end}}`,
			d.MustDocker("create", "-v", file+":/f:ro,rslave", "--mount", "type=bind,src="+d.Root+",dst=/r,bind-recursive=disabled", "--tmpfs", "/t", "busybox"))
		want := fmt.Sprintf("bind %s /f false ro,rslave rslave;bind %s /r true  rprivate;tmpfs  /t true  ;", file, d.Root)
		if mps != want {
			t.Errorf("inspect Mounts:\n%q\nwant\n%q", mps, want)
		}
	})

	t.Run("Propagation", func(t *testing.T) {
		// The host's root is not shared here: make a shared mount of our own.
		shared := filepath.Join(d.Root, "shared")
		os.Mkdir(shared, 0o755)
		if err := syscall.Mount("tmpfs", shared, "tmpfs", 0, "size=1m"); err != nil {
			t.Skip(err)
		}
		defer syscall.Unmount(shared, syscall.MNT_DETACH)
		if err := syscall.Mount("", shared, "", syscall.MS_SHARED, ""); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, mode := range []string{"rshared", "shared", "rslave", "slave", "rprivate", "private"} {
			os.MkdirAll(filepath.Join(shared, mode), 0o755)
			ids[mode] = d.MustDocker("run", "-d", "-v", filepath.Join(shared, mode)+":/m:"+mode, "busybox", "sleep", "60")
		}
		for mode := range ids {
			sub := filepath.Join(shared, mode, "sub")
			os.Mkdir(sub, 0o755)
			if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
				t.Fatal(err)
			}
			defer syscall.Unmount(sub, syscall.MNT_DETACH)
		}
		for mode, id := range ids {
			seen := func() bool {
				return d.Docker("", "exec", id, "grep", "-q", " /m/sub ", "/proc/self/mountinfo").Code == 0
			}
			if strings.HasSuffix(mode, "private") {
				time.Sleep(100 * time.Millisecond)
				if seen() {
					t.Errorf("%s: a host mount propagated into the container", mode)
				}
				continue
			}
			deadline := time.Now().Add(5 * time.Second)
			for !seen() && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if !seen() {
				t.Errorf("%s: the host mount did not propagate", mode)
			}
			if got := d.MustDocker("inspect", "-f", "{{range .Mounts}}{{.Propagation}}{{end}}", id); got != mode {
				t.Errorf("inspect propagation %q, want %q", got, mode)
			}
		}
		for _, id := range ids {
			d.MustDocker("rm", "-f", id)
		}
	})

	t.Run("MountSyntax", func(t *testing.T) {
		d.MustDocker("run", "--rm", "-v", "sp:/v", "busybox", "sh", "-c", "mkdir -p /v/a/b; echo sub > /v/a/b/f")
		if got := d.MustDocker("run", "--rm", "--mount", "type=volume,src=sp,dst=/s,volume-subpath=a/b,readonly", "busybox", "sh", "-c", "cat /s/f; touch /s/x 2>&1 | grep -c Read-only"); got != "sub\n1" {
			t.Errorf("volume-subpath: %q", got)
		}
		wantFail(t, d.Docker("", "run", "--rm", "--mount", "type=volume,src=sp,dst=/s,volume-subpath=../../etc", "busybox", "true"), 125,
			`invalid mount config for type "volume": subpath must be a relative path within the volume`)
		wantFail(t, d.Docker("", "run", "--rm", "--mount", "type=volume,src=sp,dst=/s,volume-subpath=missing", "busybox", "true"), 127, "cannot access path")
		d.MustDocker("run", "--rm", "--mount", "type=volume,src=mo,dst=/o,volume-driver=local,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m", "busybox", "true")
		if got := d.MustDocker("volume", "inspect", "-f", "{{json .Labels}} {{json .Options}}", "mo"); got != `{"a":"b"} {"device":"tmpfs","o":"size=2m","type":"tmpfs"}` {
			t.Errorf("volume-label/volume-opt: %s", got)
		}
		if got := d.MustDocker("run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770", "busybox", "sh", "-c", "stat -c %a /t; df -k /t | tail -1 | awk '{print $2}'"); got != "1770\n1024" {
			t.Errorf("tmpfs-size/mode: %q", got)
		}
		if got := d.MustDocker("run", "--rm", "--tmpfs", "/t2:size=2m,mode=700", "busybox", "stat", "-c", "%a", "/t2"); got != "700" {
			t.Errorf("--tmpfs: %q", got)
		}
		// Nested targets: the parent is mounted first, the child on it.
		if got := d.MustDocker("run", "--rm", "-v", "nest2:/a/b", "-v", "nest1:/a", "busybox", "sh", "-c", "echo x > /a/b/f; ls /a"); got != "b" {
			t.Errorf("nested: %q", got)
		}
		if got := d.MustDocker("run", "--rm", "-v", "nest2:/n", "busybox", "cat", "/n/f"); got != "x" {
			t.Errorf("child volume content: %q", got)
		}
		d.MustDocker("volume", "rm", "sp", "mo", "nest1", "nest2")
	})

	t.Run("BindRecursive", func(t *testing.T) {
		// A host dir holding a tmpfs submount (with a marker file).
		dir := filepath.Join(d.Root, "rro")
		sub := filepath.Join(dir, "sub")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
		defer syscall.Unmount(sub, syscall.MNT_DETACH)
		if err := os.WriteFile(filepath.Join(sub, "marker"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		const probe = `touch /d/f 2>/dev/null; echo -n "top=$? "; touch /d/sub/f 2>/dev/null; echo -n "sub=$? "; test -e /d/sub/marker; echo "marker=$?"`
		bind := "type=bind,src=" + dir + ",dst=/d"
		for _, tc := range []struct{ args, want string }{
			{"--mount " + bind, "top=0 sub=0 marker=0"},
			{"--mount " + bind + ",readonly,bind-recursive=readonly,bind-propagation=rprivate", "top=1 sub=1 marker=0"},
			{"--mount " + bind + ",readonly", "top=1 sub=1 marker=0"}, // enabled: rro where supported
			{"-v " + dir + ":/d:ro", "top=1 sub=1 marker=0"},
			{"--mount " + bind + ",readonly,bind-recursive=writable", "top=1 sub=0 marker=0"},
			{"--mount " + bind + ",readonly,bind-recursive=disabled", "top=1 sub=1 marker=1"},
			// runc 1.1 lacks rro: the default falls back to ro as dockerd does.
			{"--runtime runc -v " + dir + ":/d:ro", "top=1 sub=0 marker=0"},
		} {
			if strings.Contains(tc.args, "runc") {
				if _, err := exec.LookPath("runc"); err != nil {
					continue
				}
			}
			args := append([]string{"run", "--rm"}, strings.Fields(tc.args)...)
			if got := d.MustDocker(append(args, "busybox", "sh", "-c", probe)...); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.args, got, tc.want)
			}
			os.Remove(filepath.Join(dir, "f"))
			os.Remove(filepath.Join(sub, "f"))
		}
		if _, err := exec.LookPath("runc"); err == nil {
			r := d.Docker("", "run", "--rm", "--runtime", "runc", "--mount", bind+",readonly,bind-recursive=readonly,bind-propagation=rprivate", "busybox", "true")
			if r.Code == 0 || !strings.Contains(r.Stderr, "recursive read-only bind at /d (bind-recursive=readonly) is not supported by runtime runc") {
				t.Errorf("bind-recursive=readonly under runc: %s", r)
			}
		}
	})

	t.Run("PsVolumeFilter", func(t *testing.T) {
		id := d.MustDocker("run", "-d", "-v", "psvol:/pv", "busybox", "sleep", "60")
		anon := d.MustDocker("run", "-d", "-v", "/anon", "busybox", "sleep", "60")
		stopped := d.MustDocker("create", "--mount", "type=volume,src=psvol,dst=/other", "busybox")
		defer func() {
			d.MustDocker("rm", "-f", "-v", id, anon, stopped)
			d.MustDocker("volume", "rm", "psvol")
		}()
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--filter", "volume=psvol"}, id},
			{[]string{"--filter", "volume=/pv"}, id},
			{[]string{"--filter", "volume=/anon"}, anon},
			{[]string{"--filter", "volume=nope"}, ""},
			{[]string{"-a", "--filter", "volume=psvol"}, stopped + "\n" + id},
			{[]string{"-a", "--filter", "volume=/other", "--filter", "volume=/anon"}, stopped + "\n" + anon},
		} {
			if got := d.MustDocker(append([]string{"ps", "-q", "--no-trunc"}, tc.args...)...); got != tc.want {
				t.Errorf("ps %q: %q, want %q", tc.args, got, tc.want)
			}
		}
	})

	t.Run("Safety", func(t *testing.T) {
		// /escape is a symlink to an absolute host path: the target is
		// resolved inside the rootfs.
		d.MustDocker("run", "--rm", "-v", "esc:/escape", "voltest", "sh", "-c", "echo in > /escape/f")
		if _, err := os.Stat(escape); !os.IsNotExist(err) {
			t.Errorf("a symlinked mount target reached the host: %v", err)
		}
		d.MustDocker("volume", "rm", "esc")
		wantFail(t, d.Docker("", "run", "--rm", "-v", "/tmp:/proc", "busybox", "true"), 125, `"/proc" cannot be mounted because it is not of type proc`)
		wantFail(t, d.Docker("", "run", "--rm", "-v", "/tmp:/proc/sys", "busybox", "true"), 125, `"/proc/sys" cannot be mounted because it is inside /proc`)
		wantFail(t, d.Docker("", "run", "--rm", "-v", d.DataRoot+":/x", "busybox", "true"), 125,
			`invalid mount config for type "bind": bind source path is the daemon's data root: `+d.DataRoot)
		wantFail(t, d.Docker("", "run", "--rm", "-v", "/tmp:/x", "--tmpfs", "/x", "busybox", "true"), 125, "Duplicate mount point: /x")
		wantFail(t, d.Docker("", "run", "--rm", "-v", "dup1:/x", "--mount", "type=volume,src=dup2,dst=/x", "busybox", "true"), 125, "Duplicate mount point: /x")
		wantFail(t, d.Docker("", "volume", "create", "a/b"), 1, `create a/b: "a/b" includes invalid characters for a local volume name`)
		wantFail(t, d.Docker("", "volume", "create", "-o", "foo=bar", "badopt"), 1, `create badopt: invalid option: "foo"`)
		wantFail(t, d.Docker("", "volume", "create", "-o", "type=tmpfs", "badopt"), 1, `create badopt: missing required option: "device"`)
		wantFail(t, d.Docker("", "volume", "create", "-d", "nope", "badopt"), 1, `create badopt: error looking up volume plugin nope: plugin "nope" not found`)
		if got := d.MustDocker("volume", "ls", "-q"); got != "" {
			t.Errorf("failed operations left volumes: %q", got)
			for _, l := range strings.Split(d.Log(), "\n") {
				if strings.Contains(l, "volume") && strings.Contains(l, "level=warn") {
					t.Log(l)
				}
			}
		}
		wantFail(t, d.Docker("", "volume", "ls", "--filter", "foo=bar"), 1, "invalid filter 'foo'")
	})

	t.Run("BerthCLI", func(t *testing.T) {
		berth := func(args ...string) string {
			t.Helper()
			r := d.Berth("", args...)
			if r.Code != 0 {
				t.Fatalf("berth %v: %s", args, r)
			}
			return r.Stdout
		}
		if got := berth("volume", "create", "--label", "a=b", "-o", "type=tmpfs", "-o", "device=tmpfs", "bc1"); got != "bc1\n" {
			t.Fatalf("berth volume create: %q", got)
		}
		berth("volume", "create", "bc2")
		for _, args := range [][]string{
			{"volume", "ls"}, {"volume", "ls", "-q", "--filter", "label=a=b"}, {"volume", "inspect", "bc1", "bc2"},
			{"volume", "inspect", "-f", "{{.Name}} {{.Options}}", "bc1"}, {"volume", "ls", "--format", "{{.Name}}:{{.Driver}}:{{.Labels}}"},
		} {
			if got, want := berth(args...), d.Docker("", args...).Stdout; got != want {
				t.Errorf("berth %v:\n%s\ndocker:\n%s", args, got, want)
			}
		}
		if got, want := berth("inspect", "--type", "volume", "bc2"), d.Docker("", "inspect", "--type", "volume", "bc2").Stdout; got != want {
			t.Errorf("berth inspect --type volume:\n%s\ndocker:\n%s", got, want)
		}
		r := d.Berth("", "volume", "rm", "bc1", "nosuch")
		if r.Code != 1 || r.Stdout != "bc1\n" || !strings.Contains(r.Stderr, "get nosuch: no such volume") {
			t.Errorf("berth volume rm: %s", r)
		}
		if got := berth("volume", "prune", "-af"); !strings.Contains(got, "Deleted Volumes:\nbc2\n") {
			t.Errorf("berth volume prune -af: %q", got)
		}
	})

	t.Run("API", func(t *testing.T) {
		check := func(method, path string, body any, status int, want string) {
			t.Helper()
			resp, b := d.call(t, method, path, body)
			if resp.StatusCode != status || !strings.Contains(string(b), want) {
				t.Errorf("%s %s: %d %s; want %d with %q", method, path, resp.StatusCode, b, status, want)
			}
		}
		check("POST", "/volumes/create", map[string]any{"Name": "api1", "Labels": map[string]string{"l": "v"}}, 201, `"Name":"api1"`)
		check("POST", "/volumes/create", map[string]any{"Name": "api1"}, 201, `"Labels":{"l":"v"}`)
		check("POST", "/volumes/create", map[string]any{"Name": "a b"}, 400, `includes invalid characters`)
		check("POST", "/volumes/create", map[string]any{"Name": "api2", "DriverOpts": map[string]string{"bogus": "1"}}, 400, `{"message":"create api2: invalid option: \"bogus\""}`)
		check("GET", "/volumes/api1", nil, 200, `"Scope":"local"`)
		check("GET", "/volumes/nope", nil, 404, `{"message":"get nope: no such volume"}`)
		check("GET", "/volumes?filters="+`{"name":{"api":true}}`, nil, 200, `"Volumes":[{`)
		cid := d.MustDocker("create", "-v", "api1:/a", "busybox")
		check("DELETE", "/volumes/api1?force=1", nil, 409, `{"message":"remove api1: volume is in use - [`+cid+`]"}`)
		d.MustDocker("rm", cid)
		// API 1.41 prunes every unused volume; 1.42+ only anonymous ones.
		check("POST", "/v1.44/volumes/prune", nil, 200, `"VolumesDeleted":[]`)
		check("POST", "/v1.41/volumes/prune", nil, 200, `"VolumesDeleted":["api1"]`)
		check("DELETE", "/volumes/api1", nil, 404, "no such volume")
		check("DELETE", "/volumes/api1?force=true", nil, 204, "")
	})

	t.Run("Events", func(t *testing.T) {
		since := time.Now().Add(-time.Second).Unix()
		d.MustDocker("volume", "create", "ev")
		d.MustDocker("run", "--rm", "-v", "ev:/e:ro", "busybox", "true")
		d.MustDocker("volume", "rm", "ev")
		out := d.MustDocker("events", "--since", strconv.FormatInt(since, 10), "--until", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
			"--filter", "type=volume", "--format", `{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "driver"}} {{index .Actor.Attributes "destination"}} {{index .Actor.Attributes "read/write"}}`)
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[1] == "ev" {
				got = append(got, strings.Join(append(f[:1:1], f[2:]...), " "))
			}
		}
		if strings.Join(got, ",") != "create local,mount local /e false,unmount local,destroy local" {
			t.Errorf("volume events: %v\n%s", got, out)
		}
	})
}

// loopExt4 makes a 64 MiB ext4 image on a loop device; cleanup detaches it.
func loopExt4(t *testing.T, d *Daemon) string {
	t.Helper()
	img := filepath.Join(d.Root, "ext4.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 20)
	f.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v %s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// TestVolumeSurvivesKill9 kills berthd with SIGKILL while a container
// writes to a named volume: after a restart the volume, its metadata and
// every line written are there.
func TestVolumeSurvivesKill9(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("volume", "create", "--label", "keep=yes", "kv")
	id := d.MustDocker("run", "-d", "-v", "kv:/d", "-v", "/anonk", "busybox", "sh", "-c",
		"i=0; while [ $i -lt 20000 ]; do echo $i >> /d/log; i=$((i+1)); done; dd if=/dev/zero of=/d/blob bs=1M count=16 2>/dev/null; sync; echo done > /d/status; sleep 60")
	waitFor(t, func() bool {
		fi, err := os.Stat(filepath.Join(d.DataRoot, "volumes/kv/_data/log"))
		return err == nil && fi.Size() > 1000
	})
	d.Kill()
	d.Start()
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(d.DataRoot, "volumes/kv/_data/status"))
		return string(b) == "done\n"
	})
	if got := d.MustDocker("volume", "inspect", "-f", "{{.Labels}}", "kv"); got != "map[keep:yes]" {
		t.Errorf("metadata after kill -9: %q", got)
	}
	wantFail(t, d.Docker("", "volume", "rm", "kv"), 1, "volume is in use - ["+id+"]")
	anon := d.MustDocker("inspect", "-f", `{{range .Mounts}}{{if eq .Destination "/anonk"}}{{.Name}}{{end}}{{end}}`, id)
	d.MustDocker("rm", "-f", id)
	out := d.MustDocker("run", "--rm", "-v", "kv:/d", "busybox", "sh", "-c", "wc -l < /d/log; tail -1 /d/log; wc -c < /d/blob")
	if out != "20000\n19999\n16777216" {
		t.Errorf("data after kill -9 and rm -f: %q", out)
	}
	// The anonymous volume outlived rm -f (no -v) and the restart.
	d.MustDocker("volume", "inspect", anon)
	d.MustDocker("volume", "rm", "kv", anon)
}

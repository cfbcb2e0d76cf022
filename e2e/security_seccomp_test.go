package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecuritySeccompMountAndMalformed: mount(2) is stopped by the default
// profile (without CAP_SYS_ADMIN) and by a profile that denies it even
// with CAP_SYS_ADMIN, and allowed unconfined; malformed profiles fail the
// run with a message naming the problem, and nothing runs.
func TestSecuritySeccompMountAndMalformed(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mount := "mkdir -p /m && mount -t tmpfs none /m && echo mounted"
	run := func(args ...string) Result {
		return d.Docker("", append(append([]string{"run", "--rm"}, args...), "busybox", "sh", "-c", mount)...)
	}
	if r := run(); strings.Contains(r.Stdout, "mounted") || !strings.Contains(r.Stderr, "ermission denied") && !strings.Contains(r.Stderr, "not permitted") {
		t.Errorf("mount under the default profile: %s", r)
	}
	if r := run("--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"); !strings.Contains(r.Stdout, "mounted") {
		t.Errorf("mount unconfined with CAP_SYS_ADMIN: %s", r)
	}
	// Docker's profile allows mount to CAP_SYS_ADMIN.
	if r := run("--cap-add", "SYS_ADMIN"); !strings.Contains(r.Stdout, "mounted") {
		t.Errorf("mount under the default profile with CAP_SYS_ADMIN: %s", r)
	}
	deny := write("deny-mount.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`)
	if r := run("--cap-add", "SYS_ADMIN", "--security-opt", "seccomp="+deny); strings.Contains(r.Stdout, "mounted") {
		t.Errorf("mount under a profile denying it, with CAP_SYS_ADMIN: %s", r)
	}

	for name, c := range map[string]struct{ body, msg string }{
		"unknown action":         {`{"defaultAction":"SCMP_ACT_BOGUS"}`, "SCMP_ACT_BOGUS"},
		"unknown rule action":    {`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_NOPE"}]}`, "SCMP_ACT_NOPE"},
		"unknown architecture":   {`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_PDP11"]}`, "SCMP_ARCH_PDP11"},
		"unknown operator":       {`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_SOMETIMES"}]}]}`, "SCMP_CMP_SOMETIMES"},
		"argument index too big": {`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}`, "6"},
	} {
		p := write(strings.ReplaceAll(name, " ", "-")+".json", c.body)
		r := d.Docker("", "run", "--name", "bad-"+strings.ReplaceAll(name, " ", "-"), "--security-opt", "seccomp="+p, "busybox", "echo", "ran")
		if r.Code == 0 || strings.Contains(r.Stdout, "ran") || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%s: want a failure naming %q, got %s", name, c.msg, r)
		}
	}
	// Not JSON at all: the docker CLI itself refuses to send it.
	if r := d.Docker("", "run", "--rm", "--security-opt", "seccomp="+write("garbage.json", "{not json"), "busybox", "true"); r.Code == 0 {
		t.Errorf("garbage profile: %s", r)
	}
	if out := d.MustDocker("ps", "-q"); out != "" {
		t.Errorf("containers running after refused profiles: %s", out)
	}
}

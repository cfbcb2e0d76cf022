package monitor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestEnsureStartsDetachedMonitor runs the monitor as a real separate
// process (this test binary re-executed by Ensure), as berthd does.
func TestEnsureStartsDetachedMonitor(t *testing.T) {
	execRoot := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Ensure(ctx, execRoot, t.TempDir(), self)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pidData, err := os.ReadFile(filepath.Join(execRoot, "monitor.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidData)))
	if err != nil || pid <= 0 {
		t.Fatalf("monitor.pid = %q", pidData)
	}
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
			if isZombie(pid) {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, syscall.WNOHANG, nil) // we are its subreaper
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	// Detached: a session of its own, not our child (unless this test
	// process is a subreaper, after in-process monitors ran).
	sid, _ := unix.Getsid(pid)
	if sid != pid {
		t.Errorf("monitor sid %d, want its own session %d", sid, pid)
	}
	subreaper, _ := isSubreaper()
	if ppid := parentOf(t, pid); ppid == os.Getpid() && !subreaper {
		t.Errorf("monitor %d is our child", pid)
	}
	// The intermediate child left no zombie behind.
	if kids := zombieChildren(t); len(kids) != 0 {
		t.Errorf("zombie children: %v", kids)
	}

	// A second Ensure finds the running monitor instead of starting one.
	c2, err := Ensure(ctx, execRoot, "", self)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if again, _ := os.ReadFile(filepath.Join(execRoot, "monitor.pid")); !bytes.Equal(again, pidData) {
		t.Errorf("monitor.pid changed: %q -> %q", pidData, again)
	}

	// It supervises containers.
	m := &testMonitor{execRoot: execRoot, client: c}
	m.create(t, "viaensure", ctrOpts{log: true}, "sh", "-c", "echo hi; exit 4")
	if err := c.Start(ctx, "viaensure"); err != nil {
		t.Fatal(err)
	}
	if ex := waitExit(t, c, "viaensure"); ex.Code != 4 {
		t.Errorf("exit %+v", ex)
	}
	logData, _ := os.ReadFile(filepath.Join(execRoot, "monitor.log"))
	if !bytes.Contains(logData, []byte("monitor serving")) || !bytes.Contains(logData, []byte("id=viaensure")) {
		t.Errorf("monitor.log:\n%s", logData)
	}
}

func isSubreaper() (bool, error) {
	var v int32
	err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafePointer(&v)), 0, 0, 0)
	return v != 0, err
}

func procStat(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// Fields after "(comm)": state ppid ...
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

func parentOf(t *testing.T, pid int) int {
	f := procStat(pid)
	if len(f) < 2 {
		t.Fatalf("no /proc/%d/stat", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func isZombie(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] == "Z"
}

func zombieChildren(t *testing.T) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(pid); len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, pid)
		}
	}
	return out
}

func unsafePointer(v *int32) unsafe.Pointer { return unsafe.Pointer(v) }

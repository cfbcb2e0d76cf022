package linux_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/linux"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

// The init joins the cgroup the parent made (v1 tasks files, the unified
// one by CLONE_INTO_CGROUP): the container's program is in it in every
// hierarchy.
func TestInitJoinsItsCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cgParent := "berth-test-join-" + strconv.Itoa(os.Getpid())
	spec := runtimetest.Spec(runtimetest.Rootfs(t), cgParent+"/c", "sleep", "10")
	bundle := t.TempDir()
	b, _ := json.Marshal(spec)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
	task, err := linux.New(linux.Options{}).Create(context.Background(), "join", runtime.CreateOpts{Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		task.Kill(context.Background(), 9, true)
		runtimetest.WaitExit(t, task.Pid())
		task.Delete(context.Background())
		runtimetest.RemoveCgroups(t, cgParent)
	}()
	if err := task.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(task.Pid()) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		if parts := strings.SplitN(l, ":", 3); len(parts) == 3 && !strings.HasSuffix(parts[2], cgParent+"/c") {
			t.Errorf("the program is outside its cgroup: %s", l)
		}
	}
}

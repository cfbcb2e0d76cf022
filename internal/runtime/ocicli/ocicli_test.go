package ocicli_test

import (
	"os/exec"
	"testing"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/ocicli"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

func TestRunc(t *testing.T) {
	bin, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc is not installed (apt-get install -y runc)")
	}
	// One --root for every runtime value, as the monitor's (one per
	// binary): a second value adopts the first one's containers.
	root := t.TempDir()
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
		return ocicli.New("runc", bin, root, nil)
	})
}

func TestCrun(t *testing.T) {
	bin, err := exec.LookPath("crun")
	if err != nil {
		t.Skip("crun is not installed (apt-get install -y crun)")
	}
	root := t.TempDir()
	newRuntime := func(t *testing.T) runtime.Runtime { return ocicli.New("crun", bin, root, nil) }
	if err := runtimetest.Probe(t, newRuntime(t)); err != nil {
		t.Skipf("crun cannot run a container on this host (crun 1.8 refuses hybrid cgroup hosts whose v2 hierarchy holds controllers): %v", err)
	}
	runtimetest.Run(t, newRuntime)
}

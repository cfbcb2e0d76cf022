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
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
		return ocicli.New("runc", bin, t.TempDir(), nil)
	})
}

func TestCrun(t *testing.T) {
	bin, err := exec.LookPath("crun")
	if err != nil {
		t.Skip("crun is not installed (apt-get install -y crun)")
	}
	newRuntime := func(t *testing.T) runtime.Runtime { return ocicli.New("crun", bin, t.TempDir(), nil) }
	if err := runtimetest.Probe(t, newRuntime(t)); err != nil {
		t.Skipf("crun cannot run a container on this host (crun 1.8 refuses hybrid cgroup hosts whose v2 hierarchy holds controllers): %v", err)
	}
	runtimetest.Run(t, newRuntime)
}

package linux_test

import (
	"os"
	"testing"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/linux"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

func TestMain(m *testing.M) {
	// The runtime re-executes this test binary as the container init.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		linux.InitMain()
	}
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime { return linux.New(linux.Options{}) })
}

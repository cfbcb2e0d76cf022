package wire

import (
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
)

// initBinary is the host path of --init's process: this very binary,
// which runs as docker-init when started under that name (see
// internal/dockerinit). Symlinks are resolved so that the bind mount
// names the real file.
func initBinary() string {
	p, err := os.Executable()
	if err == nil {
		if r, err2 := filepath.EvalSymlinks(p); err2 == nil {
			return r
		}
		return p
	}
	logrus.WithError(err).Warn("cannot find berthd's binary for --init")
	return "/proc/self/exe"
}

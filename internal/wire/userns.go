package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/config"
)

// prepareRemap readies the data root for --userns-remap, as dockerd does:
// the data root is made traversable (0711, it already is when berthd made
// it), and every directory above it must let others traverse (o+x), or
// the remapped root could not reach the containers' rootfs and files:
// start fails then, naming the directory. Below the data root, only the
// directories the containers use get the remapped root's group (0710):
// overlay2/, overlay2/<layer>/ of a remapped container, containers/ and
// containers/<id>/; image layers stay root's alone.
func prepareRemap(cfg *config.Config) error {
	if cfg.Remap.Empty() {
		return nil
	}
	uid, gid := cfg.Remap.Root()
	logrus.Infof("User namespaces: ID ranges will be mapped to subuid/subgid ranges of: %s:%s (root is %d:%d on the host)",
		cfg.Remap.User, cfg.Remap.Group, uid, gid)
	fi, err := os.Stat(cfg.DataRoot)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o011 != 0o011 {
		if err := os.Chmod(cfg.DataRoot, fi.Mode().Perm()|0o011); err != nil {
			return err
		}
	}
	for dir := filepath.Dir(cfg.DataRoot); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		ok := fi.Mode().Perm()&0o001 != 0 || int(st.Gid) == gid && fi.Mode().Perm()&0o010 != 0 || int(st.Uid) == uid
		if !ok {
			return fmt.Errorf("a directory above the data root (%s) restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories", dir)
		}
		if dir == "/" {
			return nil
		}
	}
}

// remapContainersDir lets the remapped root traverse <data-root>/containers.
func remapContainersDir(cfg *config.Config) error {
	if cfg.Remap.Empty() {
		return nil
	}
	_, gid := cfg.Remap.Root()
	return os.Chown(filepath.Join(cfg.DataRoot, "containers"), -1, gid)
}

// securityOptions are docker info's SecurityOptions: seccomp's, and
// "name=userns" when remapping, as dockerd lists them.
func securityOptions(seccomp string, cfg *config.Config) []string {
	opts := []string{seccomp}
	if !cfg.Remap.Empty() {
		opts = append(opts, "name=userns")
	}
	return opts
}

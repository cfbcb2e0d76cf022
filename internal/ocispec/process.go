package ocispec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// DefaultPathEnv is the PATH a container gets when its config sets none.
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Args returns the container's argv by Docker's rule: the entrypoint
// followed by the command, or the command alone when there is no entrypoint.
func Args(cfg *container.Config) ([]string, error) {
	args := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	if len(args) == 0 {
		return nil, errdefs.InvalidArgumentf("no command specified")
	}
	return args, nil
}

// Env returns the container's environment as dockerd builds it: PATH,
// HOSTNAME and (with a tty) TERM first, then the config's variables, which
// replace those of the same name or, given as a bare NAME, unset them. HOME
// is appended from home when the result has none (runc does the same).
func Env(cfg *container.Config, home string) []string {
	env := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + cfg.Hostname}
	if cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	env = replaceOrAppendEnv(env, cfg.Env)
	if home != "" && !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "HOME=") }) {
		env = append(env, "HOME="+home)
	}
	return env
}

func replaceOrAppendEnv(defaults, overrides []string) []string {
	index := make(map[string]int, len(defaults))
	for i, e := range defaults {
		k, _, _ := strings.Cut(e, "=")
		index[k] = i
	}
	removed := make(map[int]bool)
	for _, v := range overrides {
		k, _, hasValue := strings.Cut(v, "=")
		i, exists := index[k]
		switch {
		case !hasValue:
			if exists {
				removed[i] = true
				delete(index, k)
			}
		case exists:
			defaults[i] = v
		default:
			index[k] = len(defaults)
			defaults = append(defaults, v)
		}
	}
	out := defaults[:0]
	for i, e := range defaults {
		if !removed[i] {
			out = append(out, e)
		}
	}
	return out
}

// maxUserFile bounds how much of a container's /etc/passwd or /etc/group is
// read.
const maxUserFile = 16 << 20

// readRootfsFile reads name (absolute inside the container) from rootfs,
// resolving symlinks inside it. A missing file (or one that is not a
// regular file) reads as nil.
func readRootfsFile(rootfs, name string) ([]byte, error) {
	p, err := securejoin.SecureJoin(rootfs, name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscallNonblock, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(f, maxUserFile))
}

// resolveUser resolves spec ("", "name", "uid", "name:group", "uid:gid",
// ...) against the rootfs's /etc/passwd and /etc/group, as Docker does: the
// primary gid first among the additional gids, then the user's groups from
// /etc/group, then groupAdd. It also returns the user's home directory
// ("/root"-style from passwd; "/" when the user has no entry).
func resolveUser(rootfs, spec string, groupAdd []string) (specs.User, string, error) {
	var u specs.User
	passwd, err := readRootfsFile(rootfs, "/etc/passwd")
	if err != nil {
		return u, "", fmt.Errorf("read /etc/passwd of container: %w", err)
	}
	group, err := readRootfsFile(rootfs, "/etc/group")
	if err != nil {
		return u, "", fmt.Errorf("read /etc/group of container: %w", err)
	}
	var pr, gr io.Reader
	if passwd != nil {
		pr = bytes.NewReader(passwd)
	}
	if group != nil {
		gr = bytes.NewReader(group)
	}
	eu, err := user.GetExecUser(spec, &user.ExecUser{Home: "/"}, pr, gr)
	if err != nil {
		return u, "", errdefs.With(errdefs.InvalidArgument, err)
	}
	u.UID, u.GID = uint32(eu.Uid), uint32(eu.Gid)
	u.AdditionalGids = []uint32{u.GID}
	for _, g := range eu.Sgids {
		u.AdditionalGids = appendGid(u.AdditionalGids, uint32(g))
	}
	if len(groupAdd) > 0 {
		if group != nil {
			gr = bytes.NewReader(group)
		}
		add, err := user.GetAdditionalGroups(groupAdd, gr)
		if err != nil {
			return u, "", errdefs.With(errdefs.InvalidArgument, err)
		}
		slices.Sort(add)
		for _, g := range add {
			u.AdditionalGids = appendGid(u.AdditionalGids, uint32(g))
		}
	}
	return u, eu.Home, nil
}

func appendGid(gids []uint32, g uint32) []uint32 {
	if slices.Contains(gids, g) {
		return gids
	}
	return append(gids, g)
}

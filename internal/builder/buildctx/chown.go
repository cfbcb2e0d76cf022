package buildctx

import (
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Chown resolves a --chown value ("user", "user:group", "1000:1000",
// names looked up in rootfs's /etc/passwd and /etc/group) to ids.
//
// As dockerd's classic builder: a lone "user" stands for "user:user"
// (so a name needs a group of the same name; a number is both ids), the
// files are found by following symlinks inside the rootfs, and a missing
// name is "can't find uid for user foo: no such user: foo" (or "can't
// find gid for group bar: no such group: bar"), errdefs.InvalidArgument.
func Chown(rootfs, spec string) (uid, gid int, err error) {
	parts := strings.Split(spec, ":")
	if len(parts) > 2 || spec == "" {
		return 0, 0, errdefs.InvalidArgumentf("invalid chown string format: %s", spec)
	}
	userStr, groupStr := parts[0], parts[0]
	if len(parts) == 2 {
		groupStr = parts[1]
	}
	uid, err = lookupID(rootfs, userStr, "/etc/passwd", "uid for user", func(path string) (int, bool, error) {
		users, err := user.ParsePasswdFileFilter(path, func(u user.User) bool { return u.Name == userStr })
		if err != nil || len(users) == 0 {
			return 0, false, err
		}
		return users[0].Uid, true, nil
	}, "no such user: ")
	if err != nil {
		return 0, 0, err
	}
	gid, err = lookupID(rootfs, groupStr, "/etc/group", "gid for group", func(path string) (int, bool, error) {
		groups, err := user.ParseGroupFileFilter(path, func(g user.Group) bool { return g.Name == groupStr })
		if err != nil || len(groups) == 0 {
			return 0, false, err
		}
		return groups[0].Gid, true, nil
	}, "no such group: ")
	if err != nil {
		return 0, 0, err
	}
	return uid, gid, nil
}

func lookupID(rootfs, name, file, what string, find func(path string) (int, bool, error), missing string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		if id < 0 {
			return 0, errdefs.InvalidArgumentf("can't find %s %s: negative id", what, name)
		}
		return id, nil
	}
	p, err := securejoin.SecureJoin(rootfs, file)
	if err != nil {
		return 0, errdefs.InvalidArgumentf("can't resolve %s path in container rootfs: %w", file, err)
	}
	id, ok, err := find(p)
	if err != nil {
		// The rootfs's host path means nothing to the user.
		return 0, errdefs.InvalidArgumentf("can't find %s %s: %s", what, name, strings.ReplaceAll(err.Error(), p, file))
	}
	if !ok {
		return 0, errdefs.InvalidArgumentf("can't find %s %s: %s", what, name, missing+name)
	}
	return id, nil
}

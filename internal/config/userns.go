package config

import (
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/userns"
)

// Userns is daemon-wide user-namespace remapping (dockerd's
// --userns-remap): every container runs in a user namespace whose root is
// the first ID of the user's subordinate ranges, unless it asks for
// --userns=host.
type Userns struct {
	// UsernsRemap is "default" (user dockremap, which berthd does not
	// create), "user", "user:group", "uid" or "uid:gid" ("userns-remap").
	UsernsRemap string `json:"userns-remap,omitempty"`
	// Remap is UsernsRemap resolved by Validate from /etc/passwd,
	// /etc/group, /etc/subuid and /etc/subgid; empty without remapping.
	Remap userns.Remap `json:"-"`
	// usernsFiles replaces those files in tests.
	usernsFiles userns.Files
}

func registerUsernsFlags(fs *pflag.FlagSet, u *Userns) {
	fs.StringVar(&u.UsernsRemap, "userns-remap", "", "User/Group setting for user namespaces")
}

func usernsJSONKeys() []string { return []string{"userns-remap"} }

// validateUserns resolves the remapping; a missing user, group or range
// or a malformed subuid/subgid file stops the daemon, naming the file.
func (c *Config) validateUserns() error {
	if c.UsernsRemap == "" {
		return nil
	}
	if c.StorageDriver != "overlay2" {
		return errdefs.InvalidArgumentf("--userns-remap needs the overlay2 storage driver (it idmaps image layers); %s cannot remap", c.StorageDriver)
	}
	r, err := userns.Resolve(c.UsernsRemap, c.usernsFiles)
	if err != nil {
		return err
	}
	c.Remap = r
	return nil
}

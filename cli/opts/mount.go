package opts

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
)

// MountOpt is the repeatable --mount flag: comma-separated key=value
// fields (type, source, target, readonly, bind-propagation, volume-*,
// tmpfs-*), as docker parses them.
type MountOpt struct {
	values []mount.Mount
}

// Set parses one --mount value.
func (m *MountOpt) Set(value string) error {
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return err
	}
	mnt := mount.Mount{Type: mount.TypeVolume}
	volumeOpts := func() *mount.VolumeOptions {
		if mnt.VolumeOptions == nil {
			mnt.VolumeOptions = &mount.VolumeOptions{}
		}
		return mnt.VolumeOptions
	}
	driver := func() *mount.Driver {
		v := volumeOpts()
		if v.DriverConfig == nil {
			v.DriverConfig = &mount.Driver{}
		}
		return v.DriverConfig
	}
	tmpfs := func() *mount.TmpfsOptions {
		if mnt.TmpfsOptions == nil {
			mnt.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return mnt.TmpfsOptions
	}
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !hasValue {
			switch key {
			case "readonly", "ro", "volume-nocopy":
				val = "true" // a bare boolean means true
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch key {
		case "type":
			mnt.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			mnt.Source = val
			if strings.HasPrefix(val, "."+string(filepath.Separator)) || val == "." {
				if abs, err := filepath.Abs(val); err == nil {
					mnt.Source = abs
				}
			}
		case "target", "dst", "destination":
			mnt.Target = val
		case "readonly", "ro":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			mnt.ReadOnly = b
		case "bind-propagation":
			if mnt.BindOptions == nil {
				mnt.BindOptions = &mount.BindOptions{}
			}
			mnt.BindOptions.Propagation = mount.Propagation(strings.ToLower(val))
		case "volume-nocopy":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return fmt.Errorf("invalid value for volume-nocopy: %s", val)
			}
			volumeOpts().NoCopy = b
		case "volume-subpath":
			volumeOpts().Subpath = val
		case "volume-driver":
			driver().Name = val
		case "volume-label":
			v := volumeOpts()
			if v.Labels == nil {
				v.Labels = map[string]string{}
			}
			k, lv, _ := strings.Cut(val, "=")
			v.Labels[k] = lv
		case "volume-opt":
			d := driver()
			if d.Options == nil {
				d.Options = map[string]string{}
			}
			k, ov, _ := strings.Cut(val, "=")
			d.Options[k] = ov
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfs().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfs().Mode = os.FileMode(n)
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	if mnt.Type == "" {
		return errors.New("type is required") // docker's check, found by FuzzMountOpt
	}
	if mnt.Target == "" {
		return errors.New("target is required")
	}
	if mnt.Type != mount.TypeVolume && mnt.VolumeOptions != nil {
		return fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", mnt.Type)
	}
	if mnt.Type != mount.TypeBind && mnt.BindOptions != nil {
		return fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", mnt.Type)
	}
	if mnt.Type != mount.TypeTmpfs && mnt.TmpfsOptions != nil {
		return fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", mnt.Type)
	}
	m.values = append(m.values, mnt)
	return nil
}

func (m *MountOpt) String() string {
	var out []string
	for _, v := range m.values {
		out = append(out, fmt.Sprintf("%s:%s:%s", v.Type, v.Source, v.Target))
	}
	return strings.Join(out, ", ")
}

// Type is the name shown in --help.
func (m *MountOpt) Type() string { return "mount" }

// Value returns the mounts in order (nil when none).
func (m *MountOpt) Value() []mount.Mount { return m.values }

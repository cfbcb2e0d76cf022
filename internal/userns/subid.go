package userns

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// DefaultUser is the user "default" names, as dockerd's.
const DefaultUser = "dockremap"

// Files are the databases Resolve reads; the zero value means the host's.
type Files struct {
	Passwd, Group, Subuid, Subgid string
}

func (f Files) withDefaults() Files {
	if f.Passwd == "" {
		f.Passwd = "/etc/passwd"
	}
	if f.Group == "" {
		f.Group = "/etc/group"
	}
	if f.Subuid == "" {
		f.Subuid = "/etc/subuid"
	}
	if f.Subgid == "" {
		f.Subgid = "/etc/subgid"
	}
	return f
}

// Remap is a resolved --userns-remap setting.
type Remap struct {
	User, Group string // names, as dockerd reports them ("dockremap:dockremap")
	IDMap
}

// Resolve turns a --userns-remap value ("default", "user", "user:group",
// "uid", "uid:gid") into the user's subordinate ID maps, with dockerd's
// rules: the user (and group) must exist; its ranges are the lines of
// /etc/subuid and /etc/subgid naming it, or else its uid; several ranges
// are stacked from container ID 0 in file order. berth does not create
// the "default" user (dockerd runs useradd): a missing one is an error
// saying how to create it. Errors are InvalidArgument and name the file.
func Resolve(spec string, files Files) (Remap, error) {
	files = files.withDefaults()
	parts := strings.Split(spec, ":")
	if spec == "" || len(parts) > 2 || parts[0] == "" || (len(parts) == 2 && parts[1] == "") {
		return Remap{}, errdefs.InvalidArgumentf("invalid user/group specification in --userns-remap: %q", spec)
	}
	users, err := readColonFile(files.Passwd, 7)
	if err != nil {
		return Remap{}, err
	}
	groups, err := readColonFile(files.Group, 4)
	if err != nil {
		return Remap{}, err
	}
	var user []string // a passwd line
	if _, err := strconv.ParseUint(parts[0], 10, 32); err == nil {
		if user = findLine(users, 2, parts[0]); user == nil {
			return Remap{}, errdefs.InvalidArgumentf("userns-remap: uid %s has no entry in %s", parts[0], files.Passwd)
		}
	} else {
		name := parts[0]
		if name == "default" {
			name = DefaultUser
		}
		if user = findLine(users, 0, name); user == nil {
			if parts[0] == "default" {
				return Remap{}, errdefs.InvalidArgumentf("userns-remap default: user %q has no entry in %s; berthd does not create it: "+
					"run `useradd --system --no-create-home --shell /bin/false %s` and give it ranges in %s and %s (e.g. %s:100000:65536)",
					DefaultUser, files.Passwd, DefaultUser, files.Subuid, files.Subgid, DefaultUser)
			}
			return Remap{}, errdefs.InvalidArgumentf("userns-remap: user %q has no entry in %s", name, files.Passwd)
		}
	}
	r := Remap{User: user[0]}
	switch {
	case len(parts) == 2:
		col := 0
		if _, err := strconv.ParseUint(parts[1], 10, 32); err == nil {
			col = 2
		}
		g := findLine(groups, col, parts[1])
		if g == nil {
			return Remap{}, errdefs.InvalidArgumentf("userns-remap: group %q has no entry in %s", parts[1], files.Group)
		}
		r.Group = g[0]
	default:
		// No group given: the user's name (or, for a uid, the same gid)
		// must name one, as with dockerd.
		col, key := 0, user[0]
		if parts[0] == user[2] {
			col, key = 2, user[2]
		}
		g := findLine(groups, col, key)
		if g == nil {
			return Remap{}, errdefs.InvalidArgumentf("userns-remap: group %q has no entry in %s", key, files.Group)
		}
		r.Group = g[0]
	}
	if r.UIDs, err = subRanges(files.Subuid, user[0], user[2]); err != nil {
		return Remap{}, err
	}
	if r.GIDs, err = subRanges(files.Subgid, user[0], user[2]); err != nil {
		return Remap{}, err
	}
	if r.User == "root" || r.UIDs[0].HostID == 0 || r.GIDs[0].HostID == 0 {
		return Remap{}, errdefs.InvalidArgumentf("userns-remap: %s maps the container's root to the host's root; give it a subordinate range starting above 0", spec)
	}
	return r, nil
}

// subRanges reads the ranges of name (else of uid) in a subuid/subgid
// file and stacks them from container ID 0.
func subRanges(path, name, uid string) ([]Range, error) {
	lines, err := readSubID(path)
	if err != nil {
		return nil, err
	}
	pick := func(key string) []Range {
		var out []Range
		next := uint64(0)
		for _, l := range lines {
			if l.owner != key {
				continue
			}
			out = append(out, Range{ContainerID: uint32(next), HostID: l.start, Size: l.count})
			next += uint64(l.count)
		}
		return out
	}
	rs := pick(name)
	if len(rs) == 0 {
		rs = pick(uid)
	}
	if len(rs) == 0 {
		return nil, errdefs.InvalidArgumentf("userns-remap: no subordinate ID ranges found for user %q in %s", name, path)
	}
	var total uint64
	for _, r := range rs {
		total += uint64(r.Size)
	}
	if total > 1<<32-1 {
		return nil, errdefs.InvalidArgumentf("userns-remap: the ranges of %q in %s add up to more than 2^32-1 IDs", name, path)
	}
	return rs, nil
}

type subIDLine struct {
	owner        string
	start, count uint32
}

// readSubID parses a subuid/subgid file ("owner:start:count" lines, '#'
// comments). A malformed line is an error naming the file and line.
func readSubID(path string) ([]subIDLine, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.InvalidArgumentf("userns-remap: %s does not exist", path)
	}
	if err != nil {
		return nil, fmt.Errorf("userns-remap: %w", err)
	}
	defer f.Close()
	var out []subIDLine
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		text := strings.TrimSpace(s.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		p := strings.Split(text, ":")
		if len(p) != 3 || p[0] == "" {
			return nil, errdefs.InvalidArgumentf("userns-remap: %s line %d: %q is not owner:start:count", path, n, text)
		}
		start, err1 := strconv.ParseUint(p[1], 10, 32)
		count, err2 := strconv.ParseUint(p[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			return nil, errdefs.InvalidArgumentf("userns-remap: %s line %d: %q: start and count must be numbers, count > 0, within 32 bits", path, n, text)
		}
		out = append(out, subIDLine{owner: p[0], start: uint32(start), count: uint32(count)})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("userns-remap: read %s: %w", path, err)
	}
	return out, nil
}

// readColonFile reads /etc/passwd or /etc/group style lines with at least
// minFields fields (others are skipped, as libc does).
func readColonFile(path string, minFields int) ([][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("userns-remap: %w", err)
	}
	var out [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if f := strings.Split(l, ":"); len(f) >= minFields {
			out = append(out, f)
		}
	}
	return out, nil
}

func findLine(lines [][]string, col int, val string) []string {
	for _, l := range lines {
		if l[col] == val {
			return l
		}
	}
	return nil
}

package archive

import (
	"path"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// CleanPath turns a tar entry name into a slash-separated path relative to
// the layer root. The root itself is "". An absolute name is taken relative
// to the root; a name that climbs out of the root is InvalidArgument.
func CleanPath(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", errdefs.InvalidArgumentf("path %q contains a NUL byte", name)
	}
	// Absolute names are relative to the root ("/etc/passwd" == "etc/passwd"),
	// but "..": a layer saying "../x" or "a/../../x" is broken or hostile.
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errdefs.InvalidArgumentf("path %q escapes the layer root", name)
	}
	if rel == "." {
		return "", nil
	}
	return rel, nil
}

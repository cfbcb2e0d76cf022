package images

import (
	"encoding/json"
	"runtime"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// checkImportPlatform validates POST /images/create?fromSrc's platform
// ("os[/arch[/variant]]", or an OCI platform as JSON from API 1.48+).
// An imported image's config records linux and the host's architecture
// (image.Store.Import), so only those are accepted: another OS gets
// dockerd's error, another architecture an error of its own (dockerd
// would record it, but nothing here could run it).
func checkImportPlatform(p string) error {
	if p == "" {
		return nil
	}
	goos, arch, variant := p, "", ""
	if strings.HasPrefix(p, "{") {
		var v struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
		}
		if err := json.Unmarshal([]byte(p), &v); err != nil {
			return errdefs.InvalidArgumentf("invalid platform %q: %v", p, err)
		}
		goos, arch, variant = v.OS, v.Architecture, v.Variant
	} else {
		parts := strings.Split(p, "/")
		if len(parts) > 3 {
			return errdefs.InvalidArgumentf("%q: unknown operating system or architecture: invalid argument", p)
		}
		goos = parts[0]
		if len(parts) > 1 {
			arch = parts[1]
		}
		if len(parts) > 2 {
			variant = parts[2]
		}
	}
	if strings.ToLower(goos) != "linux" {
		return errdefs.InvalidArgumentf("operating system is not supported")
	}
	switch strings.ToLower(arch) {
	case "", runtime.GOARCH:
	case "x86_64", "x86-64":
		if runtime.GOARCH != "amd64" {
			return unsupportedArch(p)
		}
	case "aarch64":
		if runtime.GOARCH != "arm64" {
			return unsupportedArch(p)
		}
	default:
		return unsupportedArch(p)
	}
	if variant != "" && !(runtime.GOARCH == "arm64" && variant == "v8") {
		return unsupportedArch(p)
	}
	return nil
}

func unsupportedArch(p string) error {
	return errdefs.InvalidArgumentf("import: platform %q is not supported: images are imported as linux/%s", p, runtime.GOARCH)
}

package ocispec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzBuildSpec decodes a container create body as the API does and builds
// its spec: hostile configurations must be refused with an error, never
// crash the daemon. Seeds are bodies the docker CLI sends (testdata).
func FuzzBuildSpec(f *testing.F) {
	for _, s := range []string{
		`{"Image":"busybox","Cmd":["true"],"HostConfig":{}}`,
		`{"Image":"b","User":"1000:1000","Env":["A=B"],"WorkingDir":"/w","HostConfig":{"Binds":["/a:/b:ro"],"Tmpfs":{"/t":"size=1m,mode=1777"},"CapAdd":["ALL"],"CapDrop":["NET_RAW"],"Privileged":false,"ShmSize":-1}}`,
		`{"Image":"b","HostConfig":{"Memory":-5,"MemorySwap":-2,"NanoCpus":-1,"CpusetCpus":"0-999999","PidsLimit":-1,"Ulimits":[{"Name":"nofile","Soft":10,"Hard":5}],"Sysctls":{"kernel.x":"1","net.a":"b"},"SecurityOpt":["seccomp=unconfined","no-new-privileges=maybe"],"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"rel","CgroupPermissions":"rwmx"}]}}`,
		`{"Image":"b","User":"nobody:nogroup","HostConfig":{"ReadonlyRootfs":true,"MaskedPaths":["/proc/x"],"ReadonlyPaths":[],"GroupAdd":["abc","99999999999"],"OomScoreAdj":5000,"Mounts":[{"Type":"bind","Source":"relative","Target":"/x"},{"Type":"tmpfs","Target":"/"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req struct {
			container.Config
			HostConfig *container.HostConfig
		}
		if json.Unmarshal(body, &req) != nil {
			return
		}
		if req.HostConfig == nil {
			req.HostConfig = &container.HostConfig{}
		}
		rootfs := t.TempDir()
		os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
		os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"), 0o644)
		os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
		s, err := Build(Input{
			ID: "fuzz", Config: &req.Config, HostConfig: req.HostConfig, Rootfs: rootfs,
			HostDevices:  func() ([]specs.LinuxDevice, error) { return nil, nil },
			SysctlExists: func(string) bool { return true },
		})
		if err != nil {
			return
		}
		if s.Process == nil || s.Root == nil || s.Root.Path != rootfs {
			t.Fatalf("built spec without process or root: %+v", s)
		}
		for _, m := range s.Mounts {
			if !filepath.IsAbs(m.Destination) {
				t.Fatalf("mount destination %q not absolute", m.Destination)
			}
		}
	})
}

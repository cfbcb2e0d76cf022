package e2e

import (
	"archive/tar"
	"bytes"
	"testing"
)

// evilTar is a rootfs tar whose entry climbs out of the root.
func evilTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("owned\n")
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "../../../../../../tmp/berth-escape-" + t.Name(), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

package builder

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkCachedRebuild measures the builder's own cost of a fully
// cached ten-step rebuild (context extract, parse, checksums, cache and
// image lookups) against the in-memory backend: the part of
// `docker build` berth must keep well under dockerd's.
func BenchmarkCachedRebuild(b *testing.B) {
	for _, n := range []int{0, 200} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) { benchCachedRebuild(b, n) })
	}
}

func benchCachedRebuild(b *testing.B, benchFiles int) {
	t := &testing.T{}
	h := newHarness(t)
	files := df(
		"FROM busybox",
		"ENV APP=/app",
		"WORKDIR /app",
		"RUN echo deps",
		"LABEL a=b",
		"RUN echo build",
		"EXPOSE 8080",
		"USER 1000",
		"ENTRYPOINT [\"/app/run\"]",
		"CMD [\"--serve\"]",
	)
	for i := range benchFiles {
		files[fmt.Sprintf("src/f%03d.txt", i)] = strings.Repeat("x", 4096)
	}
	if _, out, err := h.build(files, Options{}); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	var tarBytes []byte
	{
		var sb strings.Builder
		r := contextTar(b, files)
		buf := make([]byte, 1<<16)
		for {
			n, err := r.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		tarBytes = []byte(sb.String())
	}
	b.ResetTimer()
	for range b.N {
		out := &recOutput{}
		if _, err := h.b.Build(context.Background(), strings.NewReader(string(tarBytes)), Options{}, out); err != nil {
			b.Fatal(err)
		}
		if c := strings.Count(out.buf.String(), "Using cache"); c != 9 {
			b.Fatalf("%d cache hits\n%s", c, out.buf.String())
		}
	}
}

package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	buildrouter "github.com/berth-dev/berth/internal/apiserver/router/build"
	"github.com/berth-dev/berth/internal/builder/buildctx"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// Config wires a Builder.
type Config struct {
	Backend Backend
	Cache   Cache
	// TmpDir is where build contexts are unpacked (<data-root>/builder/tmp);
	// a build writes nowhere else.
	TmpDir string
	// MemDir, if set (<data-root>/builder/mem), is where each build
	// mounts a tmpfs for its context, unmounted when the build ends. The
	// context moves to TmpDir once its files pass MemMax bytes (0 = 32
	// MiB); builds beyond MemSize/MemMax (0 = 256 MiB) at once, or
	// without the right to mount, use TmpDir only.
	MemDir  string
	MemSize int64
	MemMax  int64
}

// Builder runs classic builds. It holds no per-build state: concurrent
// builds are independent.
type Builder struct {
	cfg      Config
	cleanup  sync.WaitGroup // contexts being removed after their builds
	memDir   string         // cfg.MemDir once set up, else ""
	memSlots chan struct{}  // one per build with a tmpfs in memDir
	memOff   atomic.Bool    // a mount was refused: no more tries
}

// New returns a Builder. It empties cfg.TmpDir and cfg.MemDir of what
// builds a crash interrupted left (New runs once, before any build). A
// MemDir it cannot set up is left unused (the error says why; the
// Builder works).
func New(cfg Config) (*Builder, error) {
	if cfg.TmpDir != "" {
		_ = os.RemoveAll(cfg.TmpDir)
	}
	if cfg.MemSize <= 0 {
		cfg.MemSize = defaultMemSize
	}
	if cfg.MemMax <= 0 {
		cfg.MemMax = defaultMemMax
	}
	b := &Builder{cfg: cfg}
	if cfg.MemDir != "" {
		if err := b.setupMemDir(); err != nil {
			return b, fmt.Errorf("build: contexts unpack on disk only: %w", err)
		}
	}
	return b, nil
}

// wait waits for the removal of finished builds' contexts.
func (b *Builder) wait() { b.cleanup.Wait() }

// Build builds contextTar (the POST /build body) with opts, reporting to
// out, and returns the built image's ID (tagged with opts.Tags).
func (b *Builder) Build(ctx context.Context, contextTar io.Reader, opts Options, out Output) (id image.ID, err error) {
	// The body is read to its end before returning, whatever happens: a
	// full-duplex HTTP handler that returns with the request body unread
	// makes net/http's server panic on the connection's next read
	// ("invalid concurrent Body.Read call", golang/go#68560). After the
	// tar's end marker only padding is left.
	defer func() { _, _ = io.Copy(io.Discard, contextTar) }()
	pr := &progress{out: out, quiet: opts.Quiet}
	defer func() {
		if err != nil {
			pr.flush()
			pr.flushHeld()
		}
	}()
	tags, err := buildrouter.SanitizeTags(opts.Tags)
	if err != nil {
		return "", err
	}
	if err := checkPlatform(opts.Platform); err != nil {
		return "", err
	}
	if err := os.MkdirAll(b.cfg.TmpDir, 0o700); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	memDir, releaseMem := b.memSlot()
	bctx, err := buildctx.ExtractMem(ctx, contextTar, b.cfg.TmpDir, opts.Dockerfile,
		buildctx.MemOptions{Dir: memDir, Max: b.cfg.MemMax})
	if err != nil {
		releaseMem()
		return "", err
	}
	// Removing the unpacked context is not the client's wait.
	b.cleanup.Add(1)
	defer func() {
		go func() {
			defer b.cleanup.Done()
			_ = bctx.Close()
			releaseMem()
		}()
	}()
	dt, err := bctx.Dockerfile(opts.Dockerfile)
	if err != nil {
		return "", err
	}
	p, err := planBuild(dt, opts)
	if err != nil {
		return "", err
	}
	bd := newBuild(b.cfg, opts, p, pr, bctx)
	defer bd.release()
	id, err = bd.run(ctx)
	if err != nil {
		bd.removeMade(ctx)
		return "", err
	}
	pr.flush() // before the aux message
	if err := out.Aux(string(id)); err != nil {
		return "", err
	}
	if unused := bd.args.unused(); len(unused) > 0 {
		pr.printf("[Warning] One or more build-args %v were not consumed\n", unused)
	}
	pr.printf("Successfully built %s\n", shortID(string(id)))
	for _, t := range tags {
		if err := b.cfg.Backend.Tag(ctx, id, t); err != nil {
			return "", err
		}
		pr.printf("Successfully tagged %s\n", t)
	}
	if opts.Quiet {
		pr.mu.Lock()
		pr.held.Reset()
		pr.quiet = false
		pr.mu.Unlock()
		pr.printf("%s\n", id)
	}
	return id, pr.failed()
}

// checkPlatform accepts "" or "linux[/arch[/variant]]": berth builds
// linux images with local bases only, so the architecture is the base's.
func checkPlatform(p string) error {
	if p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	if len(parts) > 3 || parts[0] == "" {
		return errdefs.InvalidArgumentf("%q: unknown operating system or architecture: invalid argument", p)
	}
	if !strings.EqualFold(parts[0], "linux") {
		return errdefs.InvalidArgumentf("operating system is not supported")
	}
	return nil
}

// invalidf classifies builder errors as InvalidArgument unless they
// already carry a class.
func invalidf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if errdefs.ClassOf(err) != errdefs.Unknown {
		return err
	}
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	return errdefs.With(errdefs.InvalidArgument, err)
}

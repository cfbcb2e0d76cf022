package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/distribution/reference"
	units "github.com/docker/go-units"
	"github.com/moby/go-archive/compression"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/opts"
)

// buildOptions are `berth build`'s flags: docker's, for the classic
// builder (POST /build with version=1).
type buildOptions struct {
	context     string
	dockerfile  string
	tags        *opts.ListOpts
	buildArgs   *opts.ListOpts
	labels      *opts.ListOpts
	extraHosts  *opts.ListOpts
	ulimits     *opts.UlimitOpt
	memory      opts.MemBytes
	memorySwap  opts.MemSwapBytes
	shmSize     opts.MemBytes
	cpuShares   int64
	cpuPeriod   int64
	cpuQuota    int64
	cpuSetCPUs  string
	cpuSetMems  string
	cgroupPar   string
	isolation   string
	quiet       bool
	noCache     bool
	rm          bool
	forceRm     bool
	pull        bool
	compress    bool
	cacheFrom   []string
	securityOpt []string
	network     string
	target      string
	iidFile     string
	platform    string
	untrusted   bool
}

// newBuildCommand is `berth build` (also `image build`, `builder build`).
func newBuildCommand(c *CLI) *cobra.Command {
	o := &buildOptions{
		tags:       opts.NewListOpts(validateTag),
		buildArgs:  opts.NewListOpts(opts.ValidateEnv),
		labels:     opts.NewListOpts(opts.ValidateLabel),
		extraHosts: opts.NewListOpts(validateBuildExtraHost),
		ulimits:    opts.NewUlimitOpt(),
	}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | URL | -",
		Short: "Build an image from a Dockerfile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.context = args[0]
			return runBuild(cmd.Context(), c, o)
		},
	}
	flags := cmd.Flags()
	flags.VarP(o.tags, "tag", "t", `Name and optionally a tag in the "name:tag" format`)
	flags.Var(o.buildArgs, "build-arg", "Set build-time variables")
	flags.Var(o.ulimits, "ulimit", "Ulimit options")
	flags.StringVarP(&o.dockerfile, "file", "f", "", `Name of the Dockerfile (Default is "PATH/Dockerfile")`)
	flags.VarP(&o.memory, "memory", "m", "Memory limit")
	flags.Var(&o.memorySwap, "memory-swap", `Swap limit equal to memory plus swap: -1 to enable unlimited swap`)
	flags.Var(&o.shmSize, "shm-size", `Size of "/dev/shm"`)
	flags.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	flags.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit the CPU CFS (Completely Fair Scheduler) period")
	flags.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit the CPU CFS (Completely Fair Scheduler) quota")
	flags.StringVar(&o.cpuSetCPUs, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	flags.StringVar(&o.cpuSetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	flags.StringVar(&o.cgroupPar, "cgroup-parent", "", `Set the parent cgroup for the "RUN" instructions during build`)
	flags.StringVar(&o.isolation, "isolation", "", "Container isolation technology")
	flags.Var(o.labels, "label", "Set metadata for an image")
	flags.BoolVar(&o.noCache, "no-cache", false, "Do not use cache when building the image")
	flags.BoolVar(&o.rm, "rm", true, "Remove intermediate containers after a successful build")
	flags.BoolVar(&o.forceRm, "force-rm", false, "Always remove intermediate containers")
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	flags.BoolVar(&o.pull, "pull", false, "Always attempt to pull a newer version of the image")
	flags.StringSliceVar(&o.cacheFrom, "cache-from", nil, "Images to consider as cache sources")
	flags.BoolVar(&o.compress, "compress", false, "Compress the build context using gzip")
	flags.StringSliceVar(&o.securityOpt, "security-opt", nil, "Security options")
	flags.StringVar(&o.network, "network", "default", "Set the networking mode for the RUN instructions during build")
	flags.Var(o.extraHosts, "add-host", `Add a custom host-to-IP mapping ("host:ip")`)
	flags.StringVar(&o.target, "target", "", "Set the target build stage to build.")
	flags.StringVar(&o.iidFile, "iidfile", "", "Write the image ID to the file")
	flags.BoolVar(&o.untrusted, "disable-content-trust", true, "Skip image verification")
	flags.StringVar(&o.platform, "platform", c.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	return cmd
}

// validateTag checks that a -t value is an image reference.
func validateTag(s string) (string, error) {
	if _, err := reference.ParseNormalizedNamed(s); err != nil {
		return "", err
	}
	return s, nil
}

// validateBuildExtraHost accepts host:ip or host=ip and sends host:ip.
func validateBuildExtraHost(val string) (string, error) {
	name, ip, ok := strings.Cut(val, "=")
	if !ok {
		name, ip, ok = strings.Cut(val, ":")
	}
	if !ok || name == "" || ip == "" {
		return "", fmt.Errorf("bad format for add-host: %q", val)
	}
	return name + ":" + ip, nil
}

// sendProgress counts the context bytes read by the client and prints
// docker's "Sending build context to Docker daemon  4.608kB" line: on a
// terminal every 512 KiB (redrawn with \r), otherwise once at the end.
// The end is EOF, or the daemon's first output, whichever comes first: a
// daemon may start answering once it has read the tar's end marker, before
// the client's transport has seen EOF, and the line must still come first.
type sendProgress struct {
	in       io.Reader
	out      io.Writer
	terminal bool

	mu      sync.Mutex // Read runs on the transport's goroutine
	current int64
	last    int64
	done    bool
}

func (p *sendProgress) Read(b []byte) (int, error) {
	n, err := p.in.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current += int64(n)
	switch {
	case err != nil && n == 0:
		p.finishLocked()
	case p.terminal && !p.done && p.current-p.last > 512<<10:
		p.last = p.current
		p.print("")
	}
	return n, err
}

// finish prints the final line, once.
func (p *sendProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *sendProgress) finishLocked() {
	if !p.done {
		p.done = true
		p.print("\r\n")
	}
}

func (p *sendProgress) print(end string) {
	if !p.terminal && end == "" {
		return
	}
	line := "Sending build context to Docker daemon "
	if p.current > 0 {
		line += fmt.Sprintf("%8v\r", units.HumanSize(float64(p.current)))
	} else {
		line += "\r\n"
	}
	fmt.Fprint(p.out, line+end)
}

// afterProgress writes to w once the progress line is out.
type afterProgress struct {
	p *sendProgress
	w io.Writer
}

func (a afterProgress) Write(b []byte) (int, error) {
	a.p.finish()
	return a.w.Write(b)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func runBuild(ctx context.Context, c *CLI, o *buildOptions) error {
	if o.iidFile != "" {
		// Never leave the ID of an earlier build behind on failure.
		if err := os.Remove(o.iidFile); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("Removing image ID file: %w", err) //nolint:staticcheck // docker's text
		}
	}
	req, err := o.request()
	if err != nil {
		return err
	}
	bc, err := prepareBuildContext(c.In, o.context, o.dockerfile)
	if err != nil {
		return err
	}
	defer bc.body.Close()
	req.Dockerfile = bc.dockerfile

	body := bc.body
	if o.compress {
		if body, err = gzipStream(body); err != nil {
			return err
		}
	}

	// -q holds the output back: printed only if the build fails.
	var quietProg lockedBuffer // written by the transport's goroutine
	var quietBuild bytes.Buffer
	progBuf, buildBuf := io.Writer(c.Out), io.Writer(c.Out)
	if o.quiet {
		progBuf, buildBuf = &quietProg, &quietBuild
	}
	fd, isTerm := c.outFd()
	sent := &sendProgress{in: body, out: progBuf, terminal: isTerm}

	cl, err := c.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, err := cl.ImageBuild(ctx, sent, req)
	if err != nil {
		if o.quiet {
			fmt.Fprintf(c.Err, "%s", quietProg.String())
		}
		return err
	}
	defer res.Body.Close()

	var imageID string
	aux := func(m jsonstream.Message) {
		var r build.Result
		if err := json.Unmarshal(*m.Aux, &r); err != nil {
			fmt.Fprintf(c.Err, "Failed to parse aux message: %s", err)
			return
		}
		imageID = r.ID
	}
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, afterProgress{sent, buildBuf}, fd, isTerm, aux); err != nil {
		var jerr *jsonstream.Error
		if errors.As(err, &jerr) {
			code := jerr.Code
			if code == 0 {
				code = 1
			}
			if o.quiet {
				fmt.Fprintf(c.Err, "%s%s", quietProg.String(), quietBuild.String())
			}
			return StatusError{Status: jerr.Message, StatusCode: code}
		}
		return err
	}
	if o.quiet {
		// The daemon's quiet stream is just the ID line.
		out := quietBuild.String()
		fmt.Fprint(c.Out, out)
		if imageID == "" {
			imageID = strings.TrimSpace(out)
		}
	}
	if o.iidFile != "" {
		if imageID == "" {
			return fmt.Errorf("Server did not provide an image ID. Cannot write %s", o.iidFile) //nolint:staticcheck // docker's text
		}
		if err := os.WriteFile(o.iidFile, []byte(imageID), 0o666); err != nil {
			return err
		}
	}
	return nil
}

// request maps the flags to the API's build options (all but the context).
func (o *buildOptions) request() (client.ImageBuildOptions, error) {
	req := client.ImageBuildOptions{
		Version:        build.BuilderV1,
		Tags:           o.tags.GetAll(),
		SuppressOutput: o.quiet,
		NoCache:        o.noCache,
		Remove:         o.rm,
		ForceRemove:    o.forceRm,
		PullParent:     o.pull,
		CPUSetCPUs:     o.cpuSetCPUs,
		CPUSetMems:     o.cpuSetMems,
		CPUShares:      o.cpuShares,
		CPUQuota:       o.cpuQuota,
		CPUPeriod:      o.cpuPeriod,
		Memory:         o.memory.Value(),
		MemorySwap:     o.memorySwap.Value(),
		CgroupParent:   o.cgroupPar,
		ShmSize:        o.shmSize.Value(),
		Ulimits:        o.ulimits.GetList(),
		BuildArgs:      buildArgsMap(o.buildArgs.GetAll()),
		Labels:         opts.ConvertKVStringsToMap(o.labels.GetAll()),
		CacheFrom:      o.cacheFrom,
		SecurityOpt:    o.securityOpt,
		NetworkMode:    o.network,
		ExtraHosts:     o.extraHosts.GetAll(),
		Target:         o.target,
	}
	if o.isolation != "" {
		req.Isolation = container.Isolation(o.isolation)
	}
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return req, err
		}
		req.Platforms = []ocispec.Platform{p}
	}
	return req, nil
}

// buildArgsMap turns --build-arg values into the API's map: KEY=VAL sets
// VAL; a bare KEY (not in the CLI's environment: ValidateEnv already took
// it from there when it was) is nil, "use the Dockerfile's default".
func buildArgsMap(values []string) map[string]*string {
	m := make(map[string]*string, len(values))
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			m[k] = nil
			continue
		}
		m[k] = &val
	}
	return m
}

// gzipStream compresses the context for --compress.
func gzipStream(in io.ReadCloser) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		defer in.Close()
		zw, err := compression.CompressStream(pw, compression.Gzip)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		if _, err := io.Copy(zw, in); err != nil {
			zw.Close()
			pw.CloseWithError(fmt.Errorf("failed to compress context: %w", err))
			return
		}
		pw.CloseWithError(zw.Close())
	}()
	return pr, nil
}

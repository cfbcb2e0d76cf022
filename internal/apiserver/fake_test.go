package apiserver_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/apiserver/router/images"
	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

// fakeEngine is an in-memory container backend: enough state for the
// router tests to see real transitions and errors. It tests the router,
// not the engine.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer
	lastCreate containers.CreateRequest
	lastStop   containers.StopOptions
	lastKill   string
	lastRemove containers.RemoveOptions
	lastList   containers.ListOptions
	lastLogs   containers.LogsOptions
	lastResize [2]uint
	lastAttach containers.AttachOptions
	logsErr    error // returned by Logs after writing the log
	attachErr  error
	// attachBlock, when set, makes Attach wait for its context to end and
	// report the context's error on it.
	attachBlock chan error
	stdinDone   chan string // what Attach read from stdin, at EOF
	// renameGate, when set, holds Rename until closed (after signalling
	// renameStarted).
	renameGate, renameStarted chan struct{}
}

type fakeContainer struct {
	id, name string
	config   *container.Config
	state    container.ContainerState
	exitCode int
	waiters  []chan container.WaitResponse
	// stdinClosed: an attached client ended stdin (the fake runs `cat`)
	stdinClosed bool
	log         []logLine
}

type logLine struct {
	stream stdcopy.StdType
	at     time.Time
	text   string
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{containers: map[string]*fakeContainer{}, stdinDone: make(chan string, 1)}
}

func (f *fakeEngine) get(ref string) (*fakeContainer, error) {
	for _, c := range f.containers {
		if c.id == ref || c.name == ref || (len(ref) >= 4 && strings.HasPrefix(c.id, ref)) {
			return c, nil
		}
	}
	return nil, errdefs.NotFoundf("No such container: %s", ref)
}

func (f *fakeEngine) Create(ctx context.Context, req containers.CreateRequest) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCreate = req
	if req.Config.Image == "" {
		return container.CreateResponse{}, errdefs.InvalidArgumentf("config: image is required")
	}
	if req.Config.Image == "missing" {
		return container.CreateResponse{}, errdefs.NotFoundf("No such image: missing:latest")
	}
	sum := sha256.Sum256([]byte(fmt.Sprint(len(f.containers), req.Name)))
	id := hex.EncodeToString(sum[:])
	name := req.Name
	if name == "" {
		name = "fake_" + id[:6]
	}
	if _, err := f.get(name); err == nil {
		return container.CreateResponse{}, errdefs.Conflictf("Conflict. The container name %q is already in use", "/"+name)
	}
	f.containers[id] = &fakeContainer{id: id, name: name, config: req.Config, state: container.StateCreated}
	return container.CreateResponse{ID: id}, nil
}

func (f *fakeEngine) Start(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if c.state == container.StateRunning {
		return errdefs.NotModifiedf("container already started")
	}
	c.state = container.StateRunning
	now := time.Unix(1700000000, 500)
	c.log = append(c.log, logLine{stdcopy.Stdout, now, "hello\n"}, logLine{stdcopy.Stderr, now.Add(time.Second), "oops\n"})
	if c.stdinClosed {
		f.exit(c, 0) // `cat` whose stdin already ended
	}
	return nil
}

func (f *fakeEngine) exit(c *fakeContainer, code int) {
	c.state = container.StateExited
	c.exitCode = code
	for _, w := range c.waiters {
		w <- container.WaitResponse{StatusCode: int64(code)}
	}
	c.waiters = nil
}

func (f *fakeEngine) Stop(ctx context.Context, ref string, opts containers.StopOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastStop = opts
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if c.state != container.StateRunning {
		return errdefs.NotModifiedf("container already stopped")
	}
	f.exit(c, 143)
	return nil
}

func (f *fakeEngine) Restart(ctx context.Context, ref string, opts containers.StopOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastStop = opts
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if c.state == container.StateRunning {
		f.exit(c, 143)
	}
	c.state = container.StateRunning
	return nil
}

func (f *fakeEngine) Kill(ctx context.Context, ref, signal string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastKill = signal
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if signal == "BOGUS" {
		return errdefs.InvalidArgumentf("invalid signal: BOGUS")
	}
	if c.state != container.StateRunning {
		return errdefs.Conflictf("cannot kill container: %s: container %s is not running", ref, c.id)
	}
	f.exit(c, 137)
	return nil
}

func (f *fakeEngine) Wait(ctx context.Context, ref string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ref)
	if err != nil {
		return nil, err
	}
	ch := make(chan container.WaitResponse, 1)
	if c.state != container.StateRunning && cond == container.WaitConditionNotRunning {
		ch <- container.WaitResponse{StatusCode: int64(c.exitCode)}
		return ch, nil
	}
	c.waiters = append(c.waiters, ch)
	return ch, nil
}

func (f *fakeEngine) Remove(ctx context.Context, ref string, opts containers.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastRemove = opts
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if c.state == container.StateRunning && !opts.Force {
		return errdefs.Conflictf("cannot remove container %q: container is running: stop the container before removing or force remove", "/"+c.name)
	}
	delete(f.containers, c.id)
	return nil
}

func (f *fakeEngine) summary(c *fakeContainer) container.Summary {
	return container.Summary{
		ID: c.id, Names: []string{"/" + c.name}, Image: c.config.Image, ImageID: "sha256:" + strings.Repeat("a", 64),
		Command: strings.Join(c.config.Cmd, " "), Created: 1700000000, Ports: []container.PortSummary{},
		Labels: map[string]string{}, State: c.state, Status: string(c.state), Mounts: []container.MountPoint{},
		NetworkSettings: &container.NetworkSettingsSummary{},
		HostConfig: struct {
			NetworkMode string            `json:",omitempty"`
			Annotations map[string]string `json:",omitempty"`
		}{NetworkMode: "bridge", Annotations: map[string]string{"a": "b"}},
		ImageManifestDescriptor: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("d", 64)), Size: 100},
	}
}

func (f *fakeEngine) List(ctx context.Context, opts containers.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = opts
	if err := opts.Filters.Validate("name", "status"); err != nil {
		return nil, err
	}
	var out []container.Summary
	for _, c := range f.containers {
		if !opts.All && c.state != container.StateRunning {
			continue
		}
		if !opts.Filters.Match("name", c.name) {
			continue
		}
		out = append(out, f.summary(c))
	}
	return out, nil
}

func (f *fakeEngine) Inspect(ctx context.Context, ref string, size bool) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ref)
	if err != nil {
		return container.InspectResponse{}, err
	}
	resp := container.InspectResponse{
		ID: c.id, Created: "2023-11-14T22:13:20.000000001Z", Path: "/bin/sh", Args: []string{"-c", "true"},
		State: &container.State{
			Status: c.state, Running: c.state == container.StateRunning, Pid: 0, ExitCode: c.exitCode,
			StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z",
		},
		Image: "sha256:" + strings.Repeat("a", 64), Name: "/" + c.name, Driver: "overlay2", Platform: "linux",
		ExecIDs: nil, Mounts: []container.MountPoint{}, Config: c.config,
		HostConfig: &container.HostConfig{
			CgroupnsMode: container.CgroupnsModePrivate, LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{}},
			NetworkMode: "bridge", RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		},
		NetworkSettings:         &container.NetworkSettings{},
		ImageManifestDescriptor: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("d", 64)), Size: 100},
		Storage:                 &storage.Storage{RootFS: &storage.RootFSStorage{Snapshot: &storage.RootFSStorageSnapshot{Name: "overlayfs"}}},
	}
	if size {
		rw, root := int64(0), int64(1234)
		resp.SizeRw, resp.SizeRootFs = &rw, &root
	}
	return resp, nil
}

func (f *fakeEngine) Logs(ctx context.Context, ref string, opts containers.LogsOptions, w io.Writer) error {
	f.mu.Lock()
	f.lastLogs = opts
	c, err := f.get(ref)
	var lines []logLine
	if err == nil {
		lines = append(lines, c.log...)
	}
	logsErr := f.logsErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	stdout, stderr := stream.NewStdWriter(w, stdcopy.Stdout), stream.NewStdWriter(w, stdcopy.Stderr)
	for _, l := range lines {
		if !opts.Since.IsZero() && l.at.Before(opts.Since) {
			continue
		}
		text := l.text
		if opts.Timestamps {
			text = l.at.UTC().Format(time.RFC3339Nano) + " " + text
		}
		switch {
		case l.stream == stdcopy.Stdout && opts.Stdout:
			_, err = io.WriteString(stdout, text)
		case l.stream == stdcopy.Stderr && opts.Stderr:
			_, err = io.WriteString(stderr, text)
		}
		if err != nil {
			return err
		}
	}
	if logsErr != nil {
		return logsErr
	}
	if opts.Follow {
		<-ctx.Done()
	}
	return nil
}

func (f *fakeEngine) ContainerTTY(ctx context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ref)
	if err != nil {
		return false, err
	}
	return c.config.Tty, nil
}

// Attach echoes stdin lines upper-cased to stdout and, once the client
// half-closes stdin, says "bye" on stderr and returns.
func (f *fakeEngine) Attach(ctx context.Context, ref string, opts containers.AttachOptions) error {
	f.mu.Lock()
	f.lastAttach = opts
	_, err := f.get(ref)
	attachErr := f.attachErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if attachErr != nil {
		return attachErr
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	if f.attachBlock != nil {
		// A container that prints nothing: only the end of ctx ends it.
		<-ctx.Done()
		f.attachBlock <- ctx.Err()
		return nil
	}
	var got strings.Builder
	if opts.Stdin != nil {
		sc := bufio.NewScanner(opts.Stdin)
		for sc.Scan() {
			got.WriteString(sc.Text() + "\n")
			if opts.Stdout != nil {
				if _, err := io.WriteString(opts.Stdout, strings.ToUpper(sc.Text())+"\n"); err != nil {
					return err
				}
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		// Like the engine: a cancelled attach stops pumping output.
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	select {
	case f.stdinDone <- got.String():
	default:
	}
	if opts.Stdin != nil {
		// Like `cat`: the container exits when its stdin ends.
		f.mu.Lock()
		if c, err := f.get(ref); err == nil {
			c.stdinClosed = true
			if c.state == container.StateRunning {
				f.exit(c, 0)
			}
		}
		f.mu.Unlock()
	}
	if opts.Stderr != nil {
		_, err := io.WriteString(opts.Stderr, "bye\n")
		return err
	}
	return nil
}

func (f *fakeEngine) Resize(ctx context.Context, ref string, h, w uint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastResize = [2]uint{h, w}
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if !c.config.Tty {
		return errdefs.Conflictf("cannot resize: container %s has no TTY", c.id)
	}
	return nil
}

func (f *fakeEngine) Rename(ctx context.Context, ref, name string) error {
	if f.renameGate != nil {
		f.renameStarted <- struct{}{}
		<-f.renameGate // a slow operation in flight
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if _, err := f.get(name); err == nil {
		return errdefs.Conflictf("Conflict. The container name %q is already in use", "/"+name)
	}
	c.name = name
	return nil
}

func (f *fakeEngine) Prune(ctx context.Context, args filters.Args) (container.PruneReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := args.Validate("label", "until"); err != nil {
		return container.PruneReport{}, err
	}
	var rep container.PruneReport
	for id, c := range f.containers {
		if c.state != container.StateRunning {
			rep.ContainersDeleted = append(rep.ContainersDeleted, id)
			delete(f.containers, id)
		}
	}
	return rep, nil
}

// fakeImages is an in-memory image backend.
type fakeImages struct {
	mu         sync.Mutex
	tags       map[string]string // "repo:tag" -> id
	dangling   map[string]bool   // untagged image ids
	lastImport struct {
		repo, tag, message string
		changes            []string
		size               int
	}
	importErr   error // returned after the first progress line
	importEarly error // returned before any progress
}

func newFakeImages() *fakeImages {
	return &fakeImages{tags: map[string]string{"busybox:latest": "sha256:" + strings.Repeat("b", 64)}, dangling: map[string]bool{}}
}

func (f *fakeImages) resolve(ref string) (string, error) {
	if strings.HasPrefix(ref, "sha256:") {
		for _, id := range f.tags {
			if id == ref {
				return id, nil
			}
		}
	}
	if !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
		ref += ":latest"
	}
	if id, ok := f.tags[ref]; ok {
		return id, nil
	}
	return "", errdefs.NotFoundf("No such image: %s", ref)
}

func (f *fakeImages) Import(ctx context.Context, src io.Reader, repo, tag string, changes []string, message string, progress io.Writer) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.importEarly != nil {
		return "", f.importEarly
	}
	n, err := io.Copy(io.Discard, src)
	if err != nil {
		return "", err
	}
	f.lastImport.repo, f.lastImport.tag, f.lastImport.message, f.lastImport.changes, f.lastImport.size = repo, tag, message, changes, int(n)
	if err := stream.WriteStatus(progress, "", "Importing"); err != nil {
		return "", err
	}
	if f.importErr != nil {
		return "", f.importErr
	}
	sum := sha256.Sum256([]byte(fmt.Sprint(n, repo, tag)))
	id := "sha256:" + hex.EncodeToString(sum[:])
	if repo == "" {
		f.dangling[id] = true
	} else {
		ref := repo
		if tag != "" {
			ref += ":" + tag
		} else if !strings.Contains(repo[strings.LastIndex(repo, "/")+1:], ":") {
			ref += ":latest"
		}
		f.tags[ref] = id
	}
	if err := stream.WriteStatus(progress, "", id); err != nil {
		return "", err
	}
	return id, nil
}

func (f *fakeImages) List(ctx context.Context, opts images.ListOptions) ([]image.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byID := map[string][]string{}
	for id := range f.dangling {
		byID[id] = nil
	}
	for ref, id := range f.tags {
		byID[id] = append(byID[id], ref)
	}
	var out []image.Summary
	for id, refs := range byID {
		out = append(out, image.Summary{ID: id, RepoTags: refs, Created: 1700000000, Size: 4096, Labels: map[string]string{}, Containers: -1, SharedSize: -1})
	}
	return out, nil
}

func (f *fakeImages) Inspect(ctx context.Context, ref string) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, err := f.resolve(ref)
	if err != nil {
		return image.InspectResponse{}, err
	}
	var tags []string
	for r, i := range f.tags {
		if i == id {
			tags = append(tags, r)
		}
	}
	return image.InspectResponse{ID: id, RepoTags: tags, Created: "2023-11-14T22:13:20Z", Architecture: "amd64", Os: "linux", Size: 4096, RootFS: image.RootFS{Type: "layers", Layers: []string{"sha256:" + strings.Repeat("c", 64)}}}, nil
}

func (f *fakeImages) Delete(ctx context.Context, ref string, force, prune bool) ([]image.DeleteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, err := f.resolve(ref)
	if err != nil {
		return nil, err
	}
	if ref == "busybox" && !force {
		return nil, errdefs.Conflictf("conflict: unable to remove repository reference %q (must force) - container abc is using its referenced image", ref)
	}
	var out []image.DeleteResponse
	for r, i := range f.tags {
		if i == id {
			delete(f.tags, r)
			out = append(out, image.DeleteResponse{Untagged: r})
		}
	}
	out = append(out, image.DeleteResponse{Deleted: id})
	return out, nil
}

func (f *fakeImages) History(ctx context.Context, ref string) ([]image.HistoryResponseItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, err := f.resolve(ref)
	if err != nil {
		return nil, err
	}
	return []image.HistoryResponseItem{{ID: id, Created: 1700000000, CreatedBy: "Imported from -", Tags: []string{}, Size: 4096, Comment: ""}}, nil
}

func (f *fakeImages) Tag(ctx context.Context, ref, repo, tag string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, err := f.resolve(ref)
	if err != nil {
		return err
	}
	if repo == "" || strings.ToLower(repo) != repo {
		return errdefs.InvalidArgumentf("invalid reference format: repository name (%s) must be lowercase", repo)
	}
	if tag == "" {
		tag = "latest"
	}
	f.tags[repo+":"+tag] = id
	return nil
}

type fakeSystem struct{}

func (fakeSystem) Info(ctx context.Context) (system.Info, error) {
	return system.Info{
		ID: "BERT:H000", Containers: 0, Name: "berth-test", ServerVersion: "0.1.0-test", OperatingSystem: "Debian",
		OSType: "linux", Architecture: "x86_64", Driver: "overlay2", KernelVersion: "6.1.0", NCPU: 2, MemTotal: 1 << 30,
		LoggingDriver: "json-file", CgroupDriver: "cgroupfs", CgroupVersion: "1", DockerRootDir: "/var/lib/berth",
		DriverStatus: [][2]string{{"Backing Filesystem", "extfs"}}, CDISpecDirs: []string{}, GenericResources: []swarm.GenericResource{},
		Plugins: system.PluginsInfo{Volume: []string{"local"}, Network: []string{"bridge"}, Authorization: []string{}, Log: []string{"json-file"}},
		Labels:  []string{}, Runtimes: map[string]system.RuntimeWithStatus{"runc": {}}, DefaultRuntime: "runc",
		SecurityOptions: []string{}, Warnings: []string{},
	}, nil
}

func (fakeSystem) Version(ctx context.Context) (system.VersionResponse, error) {
	return system.VersionResponse{
		Platform: system.PlatformInfo{Name: "Berth"}, Version: "0.1.0-test", Os: "linux", Arch: "amd64",
		GoVersion: "go1.26", KernelVersion: "6.1.0", GitCommit: "0000000",
		Components: []system.ComponentVersion{{Name: "Engine", Version: "0.1.0-test", Details: map[string]string{"ApiVersion": "1.51", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"}}},
	}, nil
}

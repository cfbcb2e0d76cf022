package builder

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/builder/buildctx"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// defaultPath is the PATH a stage gets when its base sets none
// (oci.DefaultPathEnv for linux).
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// build is one Build call's state.
type build struct {
	cfg    Config
	opts   Options
	plan   *plan
	out    *progress
	bctx   *buildctx.Context
	lex    *shell.Lex
	args   *buildArgs // global: meta args and every stage's references
	step   int
	built  []*stageResult // by stage index; nil = not built
	cache  *prober
	mounts map[image.ID]string // read-only rootfs of COPY --from images
	undo   []func()
	made   []image.ID // images this build committed, oldest first
}

type stageResult struct {
	id image.ID // "" = a scratch stage with no steps
}

// stage is the dispatch state of the stage being built.
type stage struct {
	index  int
	id     image.ID // the current image ("" = scratch, nothing committed yet)
	config dockerspec.DockerOCIImageConfig
	author string
	cmdSet bool
	args   *buildArgs
	busted bool // a cache miss happened in this stage: no more lookups
}

func newBuild(cfg Config, opts Options, p *plan, out *progress, bctx *buildctx.Context) *build {
	return &build{
		cfg:    cfg,
		opts:   opts,
		plan:   p,
		out:    out,
		bctx:   bctx,
		lex:    shell.NewLex(p.escape),
		args:   p.args,
		built:  make([]*stageResult, len(p.stages)),
		cache:  newProber(cfg, opts),
		mounts: map[image.ID]string{},
	}
}

// made records an image the build committed.
func (bd *build) madeImage(id image.ID) { bd.made = append(bd.made, id) }

// removeMade deletes, newest first, the images a failed build made, so
// it leaves no dangling half images; the backend keeps any that are
// tagged, have children or are used.
func (bd *build) removeMade(ctx context.Context) {
	r, ok := bd.cfg.Backend.(ImageRemover)
	if !ok || !bd.opts.Remove {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for i := len(bd.made) - 1; i >= 0; i-- {
		_ = r.RemoveBuildImage(ctx, bd.made[i])
	}
}

func (bd *build) release() {
	for i := len(bd.undo) - 1; i >= 0; i-- {
		bd.undo[i]()
	}
	bd.undo = nil
}

func (bd *build) printStep(text string) {
	bd.out.hold() // until the step needs work (see progress)
	bd.step++
	bd.out.printf("Step %d/%d : %s\n", bd.step, bd.plan.steps, text)
}

func (bd *build) run(ctx context.Context) (image.ID, error) {
	for _, w := range bd.plan.warnings {
		bd.out.printf("[WARNING]: %s\n", w.Short)
	}
	for i := range bd.plan.metaArgs {
		bd.printStep(bd.plan.metaArgs[i].String())
	}
	for i := range bd.plan.stages {
		if !bd.plan.needed[i] || bd.built[i] != nil {
			continue
		}
		if err := bd.buildStage(ctx, i); err != nil {
			return "", err
		}
		if i == bd.plan.target {
			break
		}
	}
	// ARGs of stages the target did not need still consume their
	// --build-arg (dockerd builds those stages): no unused warning.
	for i, s := range bd.plan.stages {
		if bd.built[i] != nil {
			continue
		}
		for _, c := range s.Commands {
			if a, ok := c.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					bd.args.referenced[kv.Key] = true
				}
			}
		}
	}
	res := bd.built[bd.plan.target]
	if res == nil || res.id == "" {
		return "", errdefs.InvalidArgumentf("No image was generated. Is your Dockerfile empty?")
	}
	return res.id, bd.out.failed()
}

func (bd *build) buildStage(ctx context.Context, i int) error {
	s := &bd.plan.stages[i]
	bd.printStep(s.SourceCode)
	st := &stage{index: i, args: bd.args.forStage()}
	if err := bd.beginStage(ctx, st, s); err != nil {
		return err
	}
	// the base's triggers run before the FROM step's " ---> <id>", as in dockerd
	if err := bd.onBuildTriggers(ctx, st); err != nil {
		return err
	}
	bd.out.printf(" ---> %s\n", shortID(string(st.id)))
	for _, cmd := range s.Commands {
		if err := ctx.Err(); err != nil {
			bd.out.printf("Build cancelled\n")
			return fmt.Errorf("Build cancelled")
		}
		bd.printStep(fmt.Sprint(cmd))
		if err := bd.dispatch(ctx, st, cmd); err != nil {
			return err
		}
		bd.out.printf(" ---> %s\n", shortID(string(st.id)))
		if err := bd.out.failed(); err != nil {
			return err
		}
	}
	maps.Copy(bd.args.referenced, st.args.referenced)
	bd.built[i] = &stageResult{id: st.id}
	return nil
}

// beginStage resolves FROM: an earlier stage, scratch, or a local image.
func (bd *build) beginStage(ctx context.Context, st *stage, s *instructions.Stage) error {
	name, _, err := bd.lex.ProcessWord(s.BaseName, shell.EnvsFromSlice(bd.args.metaEnv()))
	if err != nil {
		return invalidf("%s", err)
	}
	if name == "" {
		return errdefs.InvalidArgumentf("base name (%s) should not be blank", s.BaseName)
	}
	if s.Platform != "" {
		if _, _, err := bd.lex.ProcessWord(s.Platform, shell.EnvsFromSlice(bd.args.metaEnv())); err != nil {
			return errdefs.InvalidArgumentf("failed to process arguments for platform %s: %v", s.Platform, err)
		}
	}
	var cfg dockerspec.DockerOCIImageConfig
	switch j, isStage := stageRef(bd.plan.stages, st.index, name, false); {
	case isStage:
		id, err := bd.stageImage(ctx, j)
		if err != nil {
			return err
		}
		st.id = id
		if id != "" {
			img, err := bd.cfg.Backend.Image(ctx, string(id))
			if err != nil {
				return err
			}
			cfg = cloneConfig(img.Config.Config)
		}
	case strings.EqualFold(name, "scratch"):
	default:
		// berth does not pull: the base must be local (opts.Pull only
		// checks that), and the backend's NotFound says which is missing.
		img, err := bd.cfg.Backend.Image(ctx, name)
		if err != nil {
			return notLocal(err)
		}
		st.id = img.ID
		cfg = cloneConfig(img.Config.Config)
	}
	// as in dockerd, a stage's author is not inherited: only its own
	// MAINTAINER sets one.
	if !slices.ContainsFunc(cfg.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		cfg.Env = append(cfg.Env, defaultPath)
	}
	st.config = cfg
	return nil
}

// notLocal says why a missing image is missing: where dockerd would
// pull it (and, offline, fail on the registry), a berth build only uses
// local images.
func notLocal(err error) error {
	if !errdefs.Is(err, errdefs.NotFound) {
		return err
	}
	return fmt.Errorf("%w: the image is not present locally and builds do not pull (docker pull or docker load it first)", err)
}

// stageImage returns stage j's image, building it now if the plan did
// not foresee the reference (a --from that expanded differently).
func (bd *build) stageImage(ctx context.Context, j int) (image.ID, error) {
	if bd.built[j] == nil {
		if err := bd.buildStage(ctx, j); err != nil {
			return "", err
		}
	}
	return bd.built[j].id, nil
}

// onBuildTriggers runs the base image's ONBUILD triggers right after
// FROM, as dockerd does.
func (bd *build) onBuildTriggers(ctx context.Context, st *stage) error {
	triggers := st.config.OnBuild
	if len(triggers) == 0 {
		return nil
	}
	st.config.OnBuild = nil
	s := ""
	if len(triggers) > 1 {
		s = "s"
	}
	bd.out.printf("# Executing %d build trigger%s\n", len(triggers), s)
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return invalidf("%s", withLine(err))
		}
		if len(res.AST.Children) != 1 {
			return errdefs.InvalidArgumentf("onbuild trigger should be a single expression")
		}
		cmd, err := instructions.ParseCommand(res.AST.Children[0])
		if err != nil {
			return invalidf("%s", err)
		}
		if err := bd.dispatch(ctx, st, cmd); err != nil {
			return err
		}
	}
	return nil
}

// env is what the stage's instructions expand with: ENV, then the
// declared ARGs ENV does not override.
func (st *stage) env() []string {
	return append(slices.Clone(st.config.Env), st.args.filtered(st.config.Env)...)
}

func (bd *build) dispatch(ctx context.Context, st *stage, cmd instructions.Command) error {
	env := shell.EnvsFromSlice(st.env())
	expand := func(word string) (string, error) {
		s, _, err := bd.lex.ProcessWord(word, env)
		return s, err
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(expand); err != nil {
			return invalidf("%s", err)
		}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		// heredoc bodies keep their quotes (buildkit's raw expansion)
		raw := shell.NewLex('\\')
		raw.SkipProcessQuotes = true
		if err := ex.ExpandRaw(func(word string) (string, error) {
			s, _, err := raw.ProcessWord(word, env)
			return s, err
		}); err != nil {
			return invalidf("%s", err)
		}
	}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		return bd.dispatchEnv(ctx, st, c)
	case *instructions.MaintainerCommand:
		st.author = c.Maintainer
		return bd.commitMeta(ctx, st, "MAINTAINER "+c.Maintainer)
	case *instructions.LabelCommand:
		return bd.dispatchLabel(ctx, st, c)
	case *instructions.AddCommand:
		return bd.dispatchAdd(ctx, st, c)
	case *instructions.CopyCommand:
		return bd.dispatchCopy(ctx, st, c)
	case *instructions.OnbuildCommand:
		st.config.OnBuild = append(st.config.OnBuild, c.Expression)
		return bd.commitMeta(ctx, st, "ONBUILD "+c.Expression)
	case *instructions.WorkdirCommand:
		return bd.dispatchWorkdir(ctx, st, c)
	case *instructions.RunCommand:
		return bd.dispatchRun(ctx, st, c)
	case *instructions.CmdCommand:
		return bd.dispatchCmd(ctx, st, c)
	case *instructions.HealthCheckCommand:
		return bd.dispatchHealthcheck(ctx, st, c)
	case *instructions.EntrypointCommand:
		return bd.dispatchEntrypoint(ctx, st, c)
	case *instructions.ExposeCommand:
		return bd.dispatchExpose(ctx, st, c, env)
	case *instructions.UserCommand:
		st.config.User = c.User
		return bd.commitMeta(ctx, st, "USER "+c.User)
	case *instructions.VolumeCommand:
		return bd.dispatchVolume(ctx, st, c)
	case *instructions.StopSignalCommand:
		return bd.dispatchStopSignal(ctx, st, c)
	case *instructions.ArgCommand:
		return bd.dispatchArg(ctx, st, c)
	case *instructions.ShellCommand:
		st.config.Shell = slices.Clone(c.Shell)
		return bd.commitMeta(ctx, st, fmt.Sprintf("SHELL %v", c.Shell))
	}
	return errdefs.NotImplementedf("unsupported command type: %T", cmd)
}

// shellOf is the stage's SHELL, or /bin/sh -c.
func shellOf(cfg *dockerspec.DockerOCIImageConfig) []string {
	if len(cfg.Shell) > 0 {
		return slices.Clone(cfg.Shell)
	}
	return []string{"/bin/sh", "-c"}
}

// commitMeta finishes a metadata-only step: its history entry is
// dockerd's "<shell> #(nop)  <comment>" and it adds no layer.
func (bd *build) commitMeta(ctx context.Context, st *stage, comment string) error {
	createdBy := strings.Join(append(shellOf(&st.config), "#(nop) ", comment), " ")
	key := stepKey(st, createdBy, "")
	if hit, err := bd.cache.probe(ctx, bd.out, st, key, createdBy); err != nil || hit {
		return err
	}
	parent := st.id
	id, err := bd.cfg.Backend.CommitConfig(ctx, bd.commitRequest(st, createdBy))
	if err != nil {
		return err
	}
	bd.madeImage(id)
	st.id = id
	return bd.cache.put(ctx, key, id, CacheEntry{Parent: parent, Description: comment})
}

func (bd *build) commitRequest(st *stage, createdBy string) CommitRequest {
	return CommitRequest{
		Parent:    st.id,
		Config:    cloneConfig(st.config),
		CreatedBy: createdBy,
		Author:    st.author,
	}
}

// cloneConfig deep-copies an image config so stages never share maps or
// slices.
func cloneConfig(c dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	n := c
	n.Env = slices.Clone(c.Env)
	n.Cmd = slices.Clone(c.Cmd)
	n.Entrypoint = slices.Clone(c.Entrypoint)
	n.OnBuild = slices.Clone(c.OnBuild)
	n.Shell = slices.Clone(c.Shell)
	n.ExposedPorts = maps.Clone(c.ExposedPorts)
	n.Volumes = maps.Clone(c.Volumes)
	n.Labels = maps.Clone(c.Labels)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		n.Healthcheck = &h
	}
	return n
}

// fromImageID resolves COPY --from: an earlier stage by name or index
// (built now if needed), or a local image.
func (bd *build) fromImageID(ctx context.Context, st *stage, from string) (image.ID, error) {
	if j, ok := stageRef(bd.plan.stages, st.index, from, false); ok {
		return bd.stageImage(ctx, j)
	}
	if n, err := strconv.Atoi(from); err == nil {
		switch {
		case n == st.index:
			return "", errdefs.InvalidArgumentf("invalid from flag value %s: refers to current build stage", from)
		case n < 0 || n > st.index:
			return "", errdefs.InvalidArgumentf("invalid from flag value %s: index out of bounds", from)
		}
		return bd.stageImage(ctx, n)
	}
	img, err := bd.cfg.Backend.Image(ctx, from)
	if err != nil {
		return "", fmt.Errorf("invalid from flag value %s: %w", from, notLocal(err))
	}
	return img.ID, nil
}

// rootfs returns image id's read-only rootfs ("" = an empty tree),
// mounted once per build.
func (bd *build) rootfs(ctx context.Context, id image.ID) (string, error) {
	if root, ok := bd.mounts[id]; ok {
		return root, nil
	}
	var root string
	if id == "" {
		dir, err := os.MkdirTemp(bd.cfg.TmpDir, "scratch-")
		if err != nil {
			return "", err
		}
		bd.undo = append(bd.undo, func() { os.RemoveAll(dir) })
		root = dir
	} else {
		path, release, err := bd.cfg.Backend.ReadOnlyRootfs(ctx, id)
		if err != nil {
			return "", err
		}
		bd.undo = append(bd.undo, release)
		root = path
	}
	bd.mounts[id] = root
	return root, nil
}

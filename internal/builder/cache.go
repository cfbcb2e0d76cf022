package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/berth-dev/berth/internal/image"
)

// cacheKeyVersion changes when what goes into a key changes, so old
// entries simply stop matching.
const cacheKeyVersion = "berth-classic-v1"

// stepKey is a step's build-cache key: the digest of its parent image,
// its history text after expansion (which holds the build args RUN
// sees, and for COPY/ADD the sources' checksum, --chown and the
// destination), the config the step leaves (ENTRYPOINT's effect on CMD,
// ...), the author, and extra (--chmod). Equal keys mean the step would
// make the same image, as dockerd's cache decides by comparing the
// parent's children's configs.
func stepKey(st *stage, createdBy, extra string) string {
	b, _ := json.Marshal(struct {
		V         string
		Parent    image.ID
		CreatedBy string
		Config    any
		Author    string
		Extra     string `json:",omitempty"`
	}{cacheKeyVersion, st.id, createdBy, st.config, st.author, extra})
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// prober answers cache lookups for one build.
type prober struct {
	cfg     Config
	noCache bool
	// cacheFrom are the --cache-from images found locally. When any are
	// given, as in dockerd, a hit only counts if the image is one of
	// them or an ancestor of one (its history and layers a prefix of
	// theirs), or a source is itself exactly the step's result.
	fromRefs []string
	from     []*image.Image
	loaded   bool
}

func newProber(cfg Config, opts Options) *prober {
	return &prober{cfg: cfg, noCache: opts.NoCache, fromRefs: opts.CacheFrom}
}

func (p *prober) sources(ctx context.Context) []*image.Image {
	if !p.loaded {
		p.loaded = true
		for _, ref := range p.fromRefs {
			if img, err := p.cfg.Backend.Image(ctx, ref); err == nil {
				p.from = append(p.from, img)
			}
		}
	}
	return p.from
}

// probe looks key up; on a hit it moves st to the cached image and
// prints dockerd's " ---> Using cache". The first miss in a stage ends
// lookups for the rest of it: everything after builds anew.
func (p *prober) probe(ctx context.Context, out *progress, st *stage, key, createdBy string) (hit bool, _ error) {
	defer func() {
		if !hit {
			out.flush() // the step has work to do: show it now
		}
	}()
	if p.noCache || st.busted {
		return false, nil
	}
	id, ok := p.cfg.Cache.Get(ctx, key)
	if ok {
		img, err := p.cfg.Backend.Image(ctx, string(id))
		if err != nil || (len(p.fromRefs) > 0 && !p.fromSource(ctx, img)) {
			ok = false
		}
	}
	if !ok && len(p.fromRefs) > 0 {
		id, ok = p.sourceStep(ctx, st, createdBy)
	}
	if !ok {
		st.busted = true
		return false, nil
	}
	out.printf(" ---> Using cache\n")
	st.id = id
	return true, nil
}

func (p *prober) put(ctx context.Context, key string, id image.ID, e CacheEntry) error {
	return p.cfg.Cache.Put(ctx, key, id, e)
}

// fromSource reports whether img is a --cache-from image or an ancestor
// of one.
func (p *prober) fromSource(ctx context.Context, img *image.Image) bool {
	for _, s := range p.sources(ctx) {
		if s.ID == img.ID || isAncestor(img, s) {
			return true
		}
	}
	return false
}

// sourceStep finds a --cache-from image that is exactly the result of
// this step on st's image: one more history entry, created by
// createdBy, with the config the step leaves.
func (p *prober) sourceStep(ctx context.Context, st *stage, createdBy string) (image.ID, bool) {
	srcs := p.sources(ctx)
	if len(srcs) == 0 {
		return "", false
	}
	var parent *image.Image
	if st.id != "" {
		img, err := p.cfg.Backend.Image(ctx, string(st.id))
		if err != nil {
			return "", false
		}
		parent = img
	}
	want, _ := json.Marshal(st.config)
	for _, s := range srcs {
		h := s.Config.History
		if len(h) == 0 || h[len(h)-1].CreatedBy != createdBy {
			continue
		}
		if parent != nil && !isAncestor(parent, s) || parent == nil && len(h) != 1 {
			continue
		}
		if parent != nil && len(parent.Config.History)+1 != len(h) {
			continue
		}
		if got, _ := json.Marshal(s.Config.Config); string(got) != string(want) {
			continue
		}
		return s.ID, true
	}
	return "", false
}

// isAncestor reports whether a's history and layers are a proper
// prefix of b's: a is what b was built on.
func isAncestor(a, b *image.Image) bool {
	ha, hb := a.Config.History, b.Config.History
	if len(ha) >= len(hb) {
		return false
	}
	for i := range ha {
		if ha[i].CreatedBy != hb[i].CreatedBy || ha[i].EmptyLayer != hb[i].EmptyLayer || ha[i].Comment != hb[i].Comment {
			return false
		}
	}
	la, lb := a.Config.RootFS.DiffIDs, b.Config.RootFS.DiffIDs
	return len(la) <= len(lb) && slices.Equal(la, lb[:len(la)])
}

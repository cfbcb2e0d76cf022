package format

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"

	"github.com/moby/moby/api/types/image"
)

// Default image list formats.
const (
	ImageTable        = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	ImageTableDigests = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	none              = "<none>"
)

// ImageHeader names the image columns.
var ImageHeader = map[string]string{
	"Repository":   "REPOSITORY",
	"Tag":          "TAG",
	"Digest":       "DIGEST",
	"ID":           "IMAGE ID",
	"CreatedSince": "CREATED",
	"CreatedAt":    "CREATED AT",
	"Size":         "SIZE",
	"Containers":   "CONTAINERS",
	"SharedSize":   "SHARED SIZE",
	"UniqueSize":   "UNIQUE SIZE",
}

// Image is one `images` row: an image under one of its names.
type Image struct {
	I      image.Summary
	Repo   string
	TagStr string
	Dgst   string
	Trunc  bool
}

// Header implements Row.
func (i Image) Header() map[string]string { return ImageHeader }

// ID is the image ID, 12 digits without "sha256:" unless --no-trunc.
func (i Image) ID() string {
	if i.Trunc {
		return TruncateID(i.I.ID)
	}
	return i.I.ID
}

// Repository is the repository name, or <none>.
func (i Image) Repository() string { return i.Repo }

// Tag is the tag, or <none>.
func (i Image) Tag() string { return i.TagStr }

// Digest is the repository digest, or <none>.
func (i Image) Digest() string { return i.Dgst }

// CreatedSince is how long ago the image was created.
func (i Image) CreatedSince() string {
	if i.I.Created == 0 {
		return "N/A"
	}
	return Since(time.Unix(i.I.Created, 0))
}

// CreatedAt is the creation time as a Go time string.
func (i Image) CreatedAt() string { return time.Unix(i.I.Created, 0).String() }

// Size is the image size, human readable.
func (i Image) Size() string { return Size(i.I.Size) }

// Containers counts the containers using the image, or N/A when unknown.
func (i Image) Containers() string {
	if i.I.Containers == -1 {
		return "N/A"
	}
	return strconv.FormatInt(i.I.Containers, 10)
}

// SharedSize is the size shared with other images, or N/A.
func (i Image) SharedSize() string {
	if i.I.SharedSize == -1 {
		return "N/A"
	}
	return Size(i.I.SharedSize)
}

// UniqueSize is Size minus SharedSize, or N/A.
func (i Image) UniqueSize() string {
	if i.I.SharedSize == -1 {
		return "N/A"
	}
	return Size(i.I.Size - i.I.SharedSize)
}

// MarshalJSON gives `--format json` every column.
func (i Image) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"VirtualSize":  units.HumanSize(float64(i.I.Size)),
		"Containers":   i.Containers(),
		"CreatedAt":    i.CreatedAt(),
		"CreatedSince": i.CreatedSince(),
		"Digest":       i.Digest(),
		"ID":           i.ID(),
		"Repository":   i.Repository(),
		"SharedSize":   i.SharedSize(),
		"Size":         i.Size(),
		"Tag":          i.Tag(),
		"UniqueSize":   i.UniqueSize(),
	})
}

// ImageRows expands images into rows: one per tag, one per digest of a
// repository without tags, and one <none>:<none> row for an untagged image.
// With digests the tag rows also carry the repository's digest.
func ImageRows(images []image.Summary, trunc, digests bool) []Row {
	var rows []Row
	for _, img := range images {
		repoDigest := map[string]string{}
		var digestRepos []string
		for _, rd := range img.RepoDigests {
			repo, d, ok := strings.Cut(rd, "@")
			if !ok || repo == none {
				continue
			}
			if _, seen := repoDigest[repo]; !seen {
				digestRepos = append(digestRepos, repo)
			}
			repoDigest[repo] = d
		}
		tagged := map[string]bool{}
		for _, rt := range img.RepoTags {
			repo, tag := splitRepoTag(rt)
			if repo == none {
				continue
			}
			tagged[repo] = true
			d := none
			if digests {
				if v, ok := repoDigest[repo]; ok {
					d = v
				}
			}
			rows = append(rows, Image{I: img, Repo: repo, TagStr: tag, Dgst: d, Trunc: trunc})
		}
		for _, repo := range digestRepos {
			if tagged[repo] {
				continue
			}
			d := "" // docker leaves it empty unless --digests
			if digests {
				d = repoDigest[repo]
			}
			rows = append(rows, Image{I: img, Repo: repo, TagStr: none, Dgst: d, Trunc: trunc})
			tagged[repo] = true
		}
		if len(tagged) == 0 {
			rows = append(rows, Image{I: img, Repo: none, TagStr: none, Dgst: none, Trunc: trunc})
		}
	}
	return rows
}

// splitRepoTag splits "registry:5000/name:tag" at the tag's colon.
func splitRepoTag(s string) (repo, tag string) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i+1:], "/") {
		return s, none
	}
	return s[:i], s[i+1:]
}

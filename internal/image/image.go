// Package image is berth's image store: content-addressed image configs,
// references (name:tag -> image ID) and the layers beneath them.
//
// This file holds the types other packages share; see doc.go for the
// on-disk layout.
package image

import (
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
)

// ID is an image ID: the digest of its config JSON ("sha256:<hex>").
type ID digest.Digest

// ChainID identifies a stack of layers (OCI image spec ChainID).
// "" is the empty stack.
type ChainID digest.Digest

// Image is one stored image.
type Image struct {
	ID       ID
	Config   dockerspec.DockerOCIImage // the image config as stored (architecture, os, config, rootfs, history)
	RepoTags []string                  // "busybox:latest", ...
	// TopLayer is the chain ID of the image's top layer: a container's
	// writable layer goes on top of it.
	TopLayer ChainID
	Size     int64 // sum of the layers' unpacked sizes
	Created  time.Time
	// Parent is the image it was committed or built from ("" = none).
	Parent ID
}

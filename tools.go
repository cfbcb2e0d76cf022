//go:build tools

// Package tools pins the module's dependencies while their users are being
// written, so concurrent work on the tree never races on go.mod.
package tools

import (
	_ "github.com/creack/pty"
	_ "github.com/cyphar/filepath-securejoin"
	_ "github.com/docker/go-connections/nat"
	_ "github.com/docker/go-units"
	_ "github.com/google/shlex"
	_ "github.com/moby/go-archive"
	_ "github.com/moby/moby/client"
	_ "github.com/moby/patternmatcher"
	_ "github.com/moby/sys/mountinfo"
	_ "github.com/moby/sys/signal"
	_ "github.com/moby/sys/user"
	_ "github.com/moby/term"
	_ "github.com/opencontainers/image-spec/specs-go/v1"
	_ "github.com/opencontainers/runtime-spec/specs-go"
	_ "github.com/sirupsen/logrus"
	_ "github.com/spf13/cobra"
	_ "github.com/vishvananda/netlink"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sys/unix"
	_ "gopkg.in/yaml.v3"
)
